// ggml IQ4_NL: 32 weights per block, fp16 scale, 4-bit indices into a fixed non-uniform grid.
using QuantSharp.Core.Tensors;

namespace QuantSharp.Quantization.BlockFormats;

/// <summary>
/// IQ4_NL (block_iq4_nl: fp16 d, 16 bytes of nibbles, weight j low and j + 16 high; x ≈ d·grid[q]).
/// What ggml_quantize_chunk does (quantize_iq4_nl, scale search with ntry = 7), with or without importance.
/// </summary>
public sealed class Iq4NlFormat : BlockFormatBase, IBlockGrid
{
    private const int Qk = NonLinear4Bit.BlockSize;

    /// <inheritdoc/>
    public override DType Type => DType.IQ4_NL;

    void IBlockGrid.QuantizeBlock(ReadOnlySpan<float> x, Span<byte> block, ReadOnlySpan<float> importance) =>
        QuantizeRowUnchecked(x, block, importance);

    float IBlockGrid.RoundElement(Span<byte> block, int index, float value)
    {
        var values = NonLinear4Bit.Values;
        float d = (float)BitConverter.UInt16BitsToHalf((ushort)(block[0] | (block[1] << 8)));
        int l = GridRounding.NearestInTable(value, d, values);
        ref byte b = ref block[2 + (index & 15)];
        b = index < 16 ? (byte)((b & 0xF0) | l) : (byte)((b & 0x0F) | (l << 4));
        return d * values[l];
    }

    internal override void QuantizeRowUnchecked(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance)
    {
        var values = NonLinear4Bit.Values;
        Span<float> weight = stackalloc float[Qk];
        Span<byte> levels = stackalloc byte[Qk];
        int blocks = row.Length / Qk;
        if (NonLinear4BitLanes.IsSupported)
        {
            QuantizeRowLanes(row, destination, importance);
            return;
        }
        for (int b = 0; b < blocks; b++)
        {
            var x = row.Slice(b * Qk, Qk);
            var y = destination.Slice(b * 18, 18);
            var qw = importance.IsEmpty ? default : importance.Slice(b * Qk, Qk);
            // A single-block "super-block": sigma² is taken over these 32 values.
            float sigma2 = NonLinear4Bit.SigmaSquared(x);
            float d = NonLinear4Bit.BlockScale(x, qw, sigma2, weight, levels);
            GgmlScalar.WriteFp16(y, d);
            // Levels are re-picked against the final scale (fp32, not the stored fp16), as ggml does.
            float id = d != 0 ? 1 / d : 0;
            for (int j = 0; j < Qk; j++) levels[j] = (byte)GgmlScalar.BestIndex(values, id * x[j]);
            for (int j = 0; j < 16; j++) y[2 + j] = (byte)(levels[j] | (levels[j + 16] << 4));
        }
    }

    /// <summary>The loop above, eight blocks per scale search and the levels picked a vector at a time (same bytes).</summary>
    private static void QuantizeRowLanes(ReadOnlySpan<float> row, Span<byte> destination, ReadOnlySpan<float> importance)
    {
        const int Group = NonLinear4BitLanes.Lanes * Qk;
        Span<float> weights = stackalloc float[Group];
        Span<float> xt = stackalloc float[Group];
        Span<float> wt = stackalloc float[Group];
        Span<float> scales = stackalloc float[NonLinear4BitLanes.Lanes];
        Span<byte> levels = stackalloc byte[Qk];
        int blocks = row.Length / Qk;
        for (int b0 = 0; b0 < blocks; b0 += NonLinear4BitLanes.Lanes)
        {
            int count = Math.Min(NonLinear4BitLanes.Lanes, blocks - b0);
            var xs = row.Slice(b0 * Qk, count * Qk);
            for (int k = 0; k < count; k++)
            {
                var x = xs.Slice(k * Qk, Qk);
                var qw = importance.IsEmpty ? default : importance.Slice((b0 + k) * Qk, Qk);
                // A single-block "super-block": sigma² is taken over these 32 values.
                float sigma2 = qw.IsEmpty ? 0f : NonLinear4Bit.SigmaSquared(x);
                NonLinear4Bit.Weights(x, qw, sigma2, weights.Slice(k * Qk, Qk));
            }
            KQuantLaneSearch.Transpose(xs, Qk, count, xt);
            KQuantLaneSearch.Transpose(weights, Qk, count, wt);
            NonLinear4BitLanes.BlockScales(xt, wt, count, scales);
            for (int k = 0; k < count; k++)
            {
                var y = destination.Slice((b0 + k) * 18, 18);
                float d = scales[k];
                GgmlScalar.WriteFp16(y, d);
                // Levels are re-picked against the final scale (fp32, not the stored fp16), as ggml does.
                NonLinear4BitLanes.PickLevels(xs.Slice(k * Qk, Qk), d != 0 ? 1 / d : 0, levels);
                for (int j = 0; j < 16; j++) y[2 + j] = (byte)(levels[j] | (levels[j + 16] << 4));
            }
        }
    }
}
