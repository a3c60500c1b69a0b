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
    public static void RmsNormRows(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> dst, int rows, int dim)
    {
        for (int r = 0; r < rows; r++)
            VectorOps.RmsNorm(x.Slice(r * dim, dim), weight, eps, dst.Slice(r * dim, dim));
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
    public static void ApplyRope(Span<float> buf, int tokens, int heads, int headDim, bool interleaved,
        ReadOnlySpan<float> cosTable, ReadOnlySpan<float> sinTable, ReadOnlySpan<int> positions)
    {
        int half = headDim / 2, width = heads * headDim;
        for (int t = 0; t < tokens; t++)
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
