// The GPTQ grid of a checkpoint module that holds several of the engine's linears (Phi-3's qkv_proj, gate_up_proj).
using QuantSharp.Quantization.Gptq;

namespace QuantSharp.Quantization.Export;

/// <summary>
/// Joins the GPTQ results of linears that read the same input into the one module a checkpoint stores
/// them in, their rows concatenated in order. GPTQ treats rows independently given the Hessian of the
/// shared input, so per-part rows stacked are exactly what GPTQ on the fused module gives — provided the
/// parts share the column order and groups (g_idx): with act-order the permutation follows the shared
/// Hessian's diagonal, so it is the same; a combination where it is not is refused, never written.
/// </summary>
internal static class GptqFusedModule
{
    /// <summary>The parts' grids as one [Σ rows, cols] grid; <paramref name="module"/> names it in errors.</summary>
    public static GptqLayerResult Join(IReadOnlyList<GptqLayerResult> parts, string module)
    {
        if (parts.Count == 1) return parts[0];
        var first = parts[0];
        foreach (var p in parts)
        {
            if (p.Cols != first.Cols || p.Bits != first.Bits || p.GroupSize != first.GroupSize || p.Groups != first.Groups)
                throw new NotSupportedException($"{module}: its parts were quantized with different shapes or grids ([{p.Rows}, {p.Cols}] {p.Bits}-bit, {p.Groups} groups vs [{first.Rows}, {first.Cols}] {first.Bits}-bit, {first.Groups} groups); they cannot be stored as one module");
            if (!p.GroupIndex.AsSpan().SequenceEqual(first.GroupIndex))
                throw new NotSupportedException($"{module}: its parts have different column groups (g_idx, e.g. act-order permutations from different statistics); one fused module cannot hold them exactly");
        }
        int rows = parts.Sum(p => p.Rows), cols = first.Cols, groups = first.Groups;
        var values = new int[(long)rows * cols];
        var dequantized = new float[(long)rows * cols];
        var scales = new float[(long)groups * rows];
        var zeros = new int[(long)groups * rows];
        int row = 0;
        foreach (var p in parts)
        {
            // Row-major [rows, cols] arrays stack; group-major [groups, rows] arrays interleave per group.
            p.QuantizedValues.CopyTo(values, (long)row * cols);
            p.Dequantized.CopyTo(dequantized, (long)row * cols);
            for (int g = 0; g < groups; g++)
            {
                Array.Copy(p.Scales, (long)g * p.Rows, scales, (long)g * rows + row, p.Rows);
                Array.Copy(p.Zeros, (long)g * p.Rows, zeros, (long)g * rows + row, p.Rows);
            }
            row += p.Rows;
        }
        return new GptqLayerResult
        {
            Rows = rows, Cols = cols, Bits = first.Bits, GroupSize = first.GroupSize,
            QuantizedValues = values, Scales = scales, Zeros = zeros, GroupIndex = first.GroupIndex, Dequantized = dequantized,
        };
    }
}
