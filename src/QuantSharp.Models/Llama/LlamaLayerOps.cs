// The per-token pieces of a Llama decoder layer (RMSNorm rows, RoPE) shared by inference and calibration.
using QuantSharp.Core.Kernels;

namespace QuantSharp.Models.Llama;

/// <summary>
/// Row-wise RMSNorm and rotary embeddings exactly as the inference session computes them, so that
/// the calibration forward (independent sequences, each from position 0) and
/// <see cref="InferenceSession"/> produce bit-identical values for the same inputs.
/// </summary>
public static class LlamaLayerOps
{
    /// <summary>RMSNorm of each of <paramref name="rows"/> rows of width <paramref name="dim"/>.</summary>
    /// <remarks>A batch of <see cref="RowChunks.MinRows"/> rows or more is split over the worker pool by whole rows (same bits).</remarks>
    public static unsafe void RmsNormRows(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> dst, int rows, int dim)
    {
        int chunks = RowChunks.Count(rows);
        if (chunks == 1)
        {
            for (int r = 0; r < rows; r++)
                VectorOps.RmsNorm(x.Slice(r * dim, dim), weight, eps, dst.Slice(r * dim, dim));
            return;
        }
        if (x.Length < (long)rows * dim || dst.Length < (long)rows * dim)
            throw new ArgumentException($"RmsNormRows: {rows} rows of {dim} need {(long)rows * dim} elements; x has {x.Length}, dst {dst.Length}");
        fixed (float* px = x, pw = weight, pd = dst)
        {
            float* xs = px, ws = pw, ds = pd;
            int wl = weight.Length;
            WorkerPool.Run(chunks, KernelOptions.EffectiveThreads, c =>
            {
                var (r0, r1) = RowChunks.Range(c, chunks, rows);
                for (int r = r0; r < r1; r++)
                    VectorOps.RmsNorm(new ReadOnlySpan<float>(xs + (nint)r * dim, dim), new ReadOnlySpan<float>(ws, wl), eps, new Span<float>(ds + (nint)r * dim, dim));
            });
        }
    }

    /// <summary>cos/sin tables [position, headDim/2] for positions 0…<paramref name="positions"/>−1.</summary>
    public static (float[] Cos, float[] Sin) RopeTables(LlamaHyperParameters hp, int positions)
    {
        var invFreq = hp.RopeInverseFrequencies();
        int half = hp.HeadDim / 2;
        var cos = new float[positions * half];
        var sin = new float[positions * half];
        for (int p = 0; p < positions; p++)
            for (int i = 0; i < half; i++)
            {
                double theta = p * (double)invFreq[i];
                cos[p * half + i] = (float)Math.Cos(theta);
                sin[p * half + i] = (float)Math.Sin(theta);
            }
        return (cos, sin);
    }

    /// <summary>
    /// Rotates <paramref name="tokens"/> rows of <paramref name="heads"/> heads in place, row t at
    /// position <paramref name="positions"/>[t].
    /// </summary>
    /// <remarks>A batch of <see cref="RowChunks.MinRows"/> tokens or more is split over the worker pool by whole tokens (same bits).</remarks>
    public static unsafe void ApplyRope(Span<float> buf, int tokens, int heads, int headDim, bool interleaved,
        ReadOnlySpan<float> cosTable, ReadOnlySpan<float> sinTable, ReadOnlySpan<int> positions)
    {
        int chunks = RowChunks.Count(tokens);
        if (chunks == 1)
        {
            RopeTokens(buf, 0, tokens, heads, headDim, interleaved, cosTable, sinTable, positions);
            return;
        }
        int width = heads * headDim;
        if (buf.Length < (long)tokens * width || positions.Length < tokens)
            throw new ArgumentException($"ApplyRope: {tokens} tokens of {width} need {(long)tokens * width} elements and {tokens} positions; got {buf.Length} and {positions.Length}");
        fixed (float* pb = buf, pc = cosTable, ps = sinTable)
        fixed (int* pp = positions)
        {
            float* b = pb, cs = pc, sn = ps;
            int* pos = pp;
            int bl = buf.Length, cl = cosTable.Length, sl = sinTable.Length, pl = positions.Length;
            WorkerPool.Run(chunks, KernelOptions.EffectiveThreads, c =>
            {
                var (t0, t1) = RowChunks.Range(c, chunks, tokens);
                RopeTokens(new Span<float>(b, bl), t0, t1, heads, headDim, interleaved,
                    new ReadOnlySpan<float>(cs, cl), new ReadOnlySpan<float>(sn, sl), new ReadOnlySpan<int>(pos, pl));
            });
        }
    }

    /// <summary>RoPE of tokens [<paramref name="t0"/>, <paramref name="t1"/>).</summary>
    private static void RopeTokens(Span<float> buf, int t0, int t1, int heads, int headDim, bool interleaved,
        ReadOnlySpan<float> cosTable, ReadOnlySpan<float> sinTable, ReadOnlySpan<int> positions)
    {
        int half = headDim / 2, width = heads * headDim;
        for (int t = t0; t < t1; t++)
        {
            int pos = positions[t];
            var cos = cosTable.Slice(pos * half, half);
            var sin = sinTable.Slice(pos * half, half);
            for (int h = 0; h < heads; h++)
            {
                var v = buf.Slice(t * width + h * headDim, headDim);
                for (int i = 0; i < half; i++)
                {
                    int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
                    float x0 = v[a], x1 = v[b];
                    v[a] = x0 * cos[i] - x1 * sin[i];
                    v[b] = x0 * sin[i] + x1 * cos[i];
                }
            }
        }
    }
}
