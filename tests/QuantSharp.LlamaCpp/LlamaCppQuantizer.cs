// Runs llama.cpp's own quantizer (llama_model_quantize), the reference our quantizer is compared to.
using System.Text;

namespace QuantSharp.LlamaCpp;

/// <summary>llama_ftype values (llama.h b8390) for the quantization targets we compare against.</summary>
public enum LlamaFileType
{
    /// <summary>All F32.</summary>
    AllF32 = 0,
    /// <summary>Mostly F16.</summary>
    MostlyF16 = 1,
    /// <summary>Mostly Q4_0.</summary>
    MostlyQ4_0 = 2,
    /// <summary>Mostly Q4_1.</summary>
    MostlyQ4_1 = 3,
    /// <summary>Mostly Q8_0.</summary>
    MostlyQ8_0 = 7,
    /// <summary>Mostly Q5_0.</summary>
    MostlyQ5_0 = 8,
    /// <summary>Mostly Q5_1.</summary>
    MostlyQ5_1 = 9,
    /// <summary>Mostly Q2_K.</summary>
    MostlyQ2_K = 10,
    /// <summary>Q3_K small.</summary>
    MostlyQ3_K_S = 11,
    /// <summary>Q3_K medium.</summary>
    MostlyQ3_K_M = 12,
    /// <summary>Q3_K large.</summary>
    MostlyQ3_K_L = 13,
    /// <summary>Q4_K small.</summary>
    MostlyQ4_K_S = 14,
    /// <summary>Q4_K medium.</summary>
    MostlyQ4_K_M = 15,
    /// <summary>Q5_K small.</summary>
    MostlyQ5_K_S = 16,
    /// <summary>Q5_K medium.</summary>
    MostlyQ5_K_M = 17,
    /// <summary>Mostly Q6_K.</summary>
    MostlyQ6_K = 18,
    /// <summary>Q2_K small (llama.cpp requires an importance matrix).</summary>
    MostlyQ2_K_S = 21,
    /// <summary>Mostly IQ4_NL.</summary>
    MostlyIQ4_NL = 25,
    /// <summary>Mostly IQ4_XS.</summary>
    MostlyIQ4_XS = 30,
    /// <summary>Mostly BF16.</summary>
    MostlyBF16 = 32,
}

/// <summary>llama.cpp's quantizer.</summary>
public static unsafe class LlamaCppQuantizer
{
    /// <summary>
    /// Quantizes <paramref name="inputPath"/> into <paramref name="outputPath"/> with llama.cpp's
    /// defaults for everything but the target type and thread count.
    /// </summary>
    public static void Quantize(string inputPath, string outputPath, LlamaFileType fileType, int threads = 0, bool pure = false,
        LlamaQuantizeOverrides? overrides = null)
    {
        LlamaCppLibrary.EnsureLoaded();
        var p = LlamaNative.llama_model_quantize_default_params();
        p.FType = (int)fileType;
        p.NThread = threads;
        p.Pure = (byte)(pure ? 1 : 0);
        if (overrides?.TokenEmbeddingType is { } te) p.TokenEmbeddingType = te;
        if (overrides?.OutputTensorType is { } ot) p.OutputTensorType = ot;
        var input = Encoding.UTF8.GetBytes(Path.GetFullPath(inputPath) + "\0");
        var output = Encoding.UTF8.GetBytes(Path.GetFullPath(outputPath) + "\0");
        using var tensorTypes = overrides is { TensorTypes.Count: > 0 } ? new NativeTensorTypes(overrides.TensorTypes) : null;
        if (tensorTypes != null) p.TensorTypes = tensorTypes.Vector;
        uint rc;
        fixed (byte* i = input)
        fixed (byte* o = output)
            rc = LlamaNative.llama_model_quantize(i, o, &p);
        if (rc != 0) throw new InvalidOperationException($"llama_model_quantize({inputPath} → {outputPath}, {fileType}) failed with {rc}");
    }

    /// <summary>
    /// llama-quantize's --tensor-type list as the library reads it: a <c>std::vector&lt;tensor_quantization&gt;</c>
    /// (struct { std::string name; ggml_type quant; }, 40 bytes) laid out as libstdc++'s x86-64 ABI does — vector =
    /// { begin, end, end of storage }, string = { data pointer, length, 16-byte local buffer or capacity }. llama.cpp only
    /// reads it (through a const reference), so memory we own and free afterwards is safe.
    /// </summary>
    private sealed class NativeTensorTypes : IDisposable
    {
        private const int EntryBytes = 40, LocalCapacity = 15;
        private readonly List<IntPtr> _blocks = [];

        public NativeTensorTypes(IReadOnlyList<(string Pattern, int GgmlType)> entries)
        {
            byte* items = (byte*)Alloc(entries.Count * EntryBytes);
            for (int k = 0; k < entries.Count; k++)
            {
                byte* e = items + k * EntryBytes;
                var text = Encoding.UTF8.GetBytes(entries[k].Pattern);
                byte* data = text.Length <= LocalCapacity ? e + 16 : (byte*)Alloc(text.Length + 1);
                text.CopyTo(new Span<byte>(data, text.Length));
                data[text.Length] = 0;
                *(byte**)e = data;
                *(long*)(e + 8) = text.Length;
                if (text.Length > LocalCapacity) *(long*)(e + 16) = text.Length;
                *(int*)(e + 32) = entries[k].GgmlType;
            }
            var vector = (IntPtr*)Alloc(3 * sizeof(IntPtr));
            vector[0] = (IntPtr)items;
            vector[1] = vector[2] = (IntPtr)(items + entries.Count * EntryBytes);
            Vector = (IntPtr)vector;
        }

        public IntPtr Vector { get; }

        private IntPtr Alloc(int bytes)
        {
            var ptr = (IntPtr)System.Runtime.InteropServices.NativeMemory.AllocZeroed((nuint)Math.Max(bytes, 1));
            _blocks.Add(ptr);
            return ptr;
        }

        public void Dispose()
        {
            foreach (var b in _blocks) System.Runtime.InteropServices.NativeMemory.Free((void*)b);
            _blocks.Clear();
        }
    }
}

/// <summary>llama-quantize's --tensor-type (pattern, ggml type id) list, --token-embedding-type and --output-tensor-type.</summary>
public sealed record LlamaQuantizeOverrides(IReadOnlyList<(string Pattern, int GgmlType)> TensorTypes, int? TokenEmbeddingType = null, int? OutputTensorType = null);
