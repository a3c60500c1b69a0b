// The stream a tensor-data callback writes into: forward-only, counted, capped at the tensor's size.
namespace QuantSharp.Formats.Gguf;

/// <summary>
/// Passes writes through to the output while counting them, so that a callback that writes too
/// much fails at once (instead of shifting every later tensor) and one that writes too little is
/// caught by the writer afterwards. Disposing it does not close the output.
/// </summary>
internal sealed class BoundedWriteStream(Stream inner, string tensorName, long limit, CancellationToken cancellationToken) : Stream
{
    /// <summary>Bytes written so far.</summary>
    public long Written { get; private set; }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => Written;
    public override long Position { get => Written; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (buffer.Length > limit - Written)
            throw new InvalidOperationException($"tensor '{tensorName}': the data callback wrote more than the tensor's {limit} bytes");
        inner.Write(buffer);
        Written += buffer.Length;
    }

    public override void WriteByte(byte value) => Write([value]);
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
