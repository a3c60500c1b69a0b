// Where the calibration hidden states live between decoder layers: a managed array, or a temporary file.
using Microsoft.Win32.SafeHandles;
using System.Runtime.InteropServices;

using QuantSharp.Core.IO;

namespace QuantSharp.Quantization.Streaming;

/// <summary>Where <see cref="LayerStreamingQuantizer"/> keeps the calibration hidden states between layers.</summary>
public enum ActivationStorage
{
    /// <summary>A temporary file (deleted on close): memory holds one chunk of sequences, not all of them.</summary>
    Disk,
    /// <summary>One fp32 array in memory.</summary>
    Memory,
}

/// <summary>Hidden states [tokens, width] of every calibration sequence, read and overwritten sequence by sequence.</summary>
internal abstract class ActivationStore : IDisposable
{
    private readonly long[] _offsets; // in floats

    protected ActivationStore(IReadOnlyList<int[]> sequences, int width)
    {
        Width = width;
        _offsets = new long[sequences.Count + 1];
        for (int i = 0; i < sequences.Count; i++) _offsets[i + 1] = _offsets[i] + (long)sequences[i].Length * width;
    }

    public int Width { get; }

    public long TotalFloats => _offsets[^1];

    protected long Offset(int seq) => _offsets[seq];

    protected int Length(int seq) => checked((int)(_offsets[seq + 1] - _offsets[seq]));

    public abstract void Read(int seq, Span<float> destination);

    public abstract void Write(int seq, ReadOnlySpan<float> source);

    public abstract void Dispose();

    public static ActivationStore Create(ActivationStorage kind, IReadOnlyList<int[]> sequences, int width, string? directory)
        => kind == ActivationStorage.Memory ? new MemoryStore(sequences, width) : new FileStore(sequences, width, directory);

    private sealed class MemoryStore(IReadOnlyList<int[]> sequences, int width) : ActivationStore(sequences, width)
    {
        private float[]? _data = new float[sequences.Sum(s => (long)s.Length) * width];

        public override void Read(int seq, Span<float> destination)
            => Data.AsSpan(checked((int)Offset(seq)), Length(seq)).CopyTo(destination);

        public override void Write(int seq, ReadOnlySpan<float> source)
            => source[..Length(seq)].CopyTo(Data.AsSpan(checked((int)Offset(seq)), Length(seq)));

        private float[] Data => _data ?? throw new ObjectDisposedException(nameof(ActivationStore));

        public override void Dispose() => _data = null;
    }

    private sealed class FileStore : ActivationStore
    {
        private readonly SafeFileHandle _handle;

        public FileStore(IReadOnlyList<int[]> sequences, int width, string? directory) : base(sequences, width)
        {
            string dir = directory ?? Path.GetTempPath();
            // The pid in the name lets a later run remove what a killed one left (where unlinking early is impossible).
            string path = Path.Combine(dir, $"quantsharp-activations-{Environment.ProcessId}-{Guid.NewGuid():N}.tmp");
            AtomicFile.SweepStaleIn(dir, "quantsharp-activations-");
            _handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None,
                (OperatingSystem.IsWindows() ? FileOptions.DeleteOnClose : FileOptions.None) | FileOptions.RandomAccess, TotalFloats * sizeof(float));
            // Unlinked at once on Unix: the open handle keeps the data, and nothing is left even after kill -9.
            if (!OperatingSystem.IsWindows()) File.Delete(path);
        }

        public override void Read(int seq, Span<float> destination)
        {
            var bytes = MemoryMarshal.AsBytes(destination[..Length(seq)]);
            long at = Offset(seq) * sizeof(float);
            while (bytes.Length > 0)
            {
                int n = RandomAccess.Read(_handle, bytes, at);
                if (n <= 0) throw new IOException("the calibration activation file ended early");
                bytes = bytes[n..];
                at += n;
            }
        }

        public override void Write(int seq, ReadOnlySpan<float> source)
            => RandomAccess.Write(_handle, MemoryMarshal.AsBytes(source[..Length(seq)]), Offset(seq) * sizeof(float));

        public override void Dispose() => _handle.Dispose();
    }
}
