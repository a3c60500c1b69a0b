// Shared pieces of the k-quant tests: ggml type ids and names, test rows and importance vectors,
// real weights, ggml's own quantize/dequantize (Q8_K called directly), and a parallel row helper.
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Safetensors;
using QuantSharp.LlamaCpp;
using QuantSharp.Quantization.BlockFormats;

namespace QuantSharp.Tests.Quantization;

/// <summary>Test data and oracle plumbing for the k-quant formats.</summary>
internal static unsafe class KQuantTestSupport
{
    /// <summary>The k-quant types, in ggml order.</summary>
    public static readonly DType[] Types = [DType.Q2_K, DType.Q3_K, DType.Q4_K, DType.Q5_K, DType.Q6_K, DType.Q8_K];

    /// <summary>ggml's enum ggml_type value.</summary>
    public static int GgmlId(DType t) => t switch
    {
        DType.Q2_K => 10, DType.Q3_K => 11, DType.Q4_K => 12, DType.Q5_K => 13, DType.Q6_K => 14, DType.Q8_K => 15,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>The suffix of ggml's dequantize_row_* / quantize_row_*_ref.</summary>
    public static string GgmlName(DType t) => t switch
    {
        DType.Q2_K => "q2_K", DType.Q3_K => "q3_K", DType.Q4_K => "q4_K", DType.Q5_K => "q5_K", DType.Q6_K => "q6_K", DType.Q8_K => "q8_K",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>
    /// ggml's bytes for <paramref name="rows"/> rows. Q8_K is not handled by ggml_quantize_chunk (it
    /// aborts), so its reference quantizer is called directly, on a zeroed buffer as the oracle uses.
    /// </summary>
    public static byte[] GgmlQuantize(DType t, float[] data, int rows, int rowLength, float[]? importance)
    {
        if (t != DType.Q8_K) return GgmlQuantOracle.Quantize(GgmlId(t), data, rows, rowLength, importance);
        var f = (delegate* unmanaged<float*, void*, long, void>)LlamaCppLibrary.GgmlBaseExport("quantize_row_q8_K_ref");
        var dst = new byte[(long)data.Length / 256 * 292];
        fixed (float* s = data)
        fixed (byte* d = dst)
            f(s, d, data.Length);
        return dst;
    }

    /// <summary>ggml's dequantization of <paramref name="count"/> values.</summary>
    public static float[] GgmlDequantize(DType t, ReadOnlySpan<byte> data, int count) => GgmlQuantOracle.Dequantize(GgmlName(t), data, count);

    /// <summary>
    /// Quantizes rows in parallel. Rows are independent, so the result does not depend on scheduling.
    /// Kept here (not in the library) until the shared multi-row quantizer lands.
    /// </summary>
    public static byte[] QuantizeRows(DType t, float[] data, int rowLength, float[]? importance)
    {
        var format = BlockFormatRegistry.Get(t);
        int rows = data.Length / rowLength;
        int rowBytes = rowLength / 256 * format.BlockBytes;
        var dst = new byte[(long)rows * rowBytes];
        Parallel.For(0, rows, r => format.QuantizeRow(data.AsSpan(r * rowLength, rowLength), dst.AsSpan(r * rowBytes, rowBytes), importance));
        return dst;
    }

    /// <summary>Names of the row shapes <see cref="RandomRows"/> cycles through.</summary>
    public static readonly string[] Distributions =
        ["gaussian", "uniform", "heavy-tail", "zeros", "constant", "tiny", "huge", "positive", "negative", "outliers", "sparse", "zero-sub-blocks", "bf16-like", "small-integers"];

    /// <summary>
    /// Rows of <paramref name="rowLength"/> values cycling through <see cref="Distributions"/>, each row
    /// with its own random scale: the searches' edge cases (all-zero groups, constant groups, one sign,
    /// ties from integer-valued inputs, extreme magnitudes) next to ordinary weights.
    /// </summary>
    public static float[] RandomRows(int seed, int rows, int rowLength)
    {
        var rng = new Random(seed);
        var data = new float[rows * rowLength];
        for (int r = 0; r < rows; r++)
        {
            float scale = MathF.Exp((float)(rng.NextDouble() * 8 - 6));
            FillRow(Distributions[r % Distributions.Length], scale, rng, data.AsSpan(r * rowLength, rowLength));
        }
        return data;
    }

    /// <summary>Fills <paramref name="row"/> with values of shape <paramref name="kind"/> (one of <see cref="Distributions"/>) and magnitude about <paramref name="scale"/>.</summary>
    public static void FillRow(string kind, float scale, Random rng, Span<float> row)
    {
        for (int i = 0; i < row.Length; i++)
        {
            float g = Gaussian(rng);
            row[i] = kind switch
            {
                "gaussian" => scale * g,
                "uniform" => scale * (float)(rng.NextDouble() * 2 - 1),
                "heavy-tail" => scale * g / MathF.Max(0.05f, MathF.Abs(Gaussian(rng))),
                "zeros" => 0f,
                "constant" => scale,
                "tiny" => 1e-20f * g,
                "huge" => 1e4f * g,
                "positive" => scale * MathF.Abs(g),
                "negative" => -scale * MathF.Abs(g),
                "outliers" => scale * (rng.Next(64) == 0 ? 40 * g : g),
                "sparse" => rng.Next(8) == 0 ? scale * g : 0f,
                "zero-sub-blocks" => (i / 16) % 3 == 0 ? 0f : (i / 16) % 3 == 1 ? scale : scale * g,
                "bf16-like" => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(scale * g) & unchecked((int)0xFFFF0000)),
                _ => rng.Next(-8, 8),
            };
        }
    }

    /// <summary>Positive random importance: log-normal, spanning a few decades.</summary>
    public static float[] RandomImportance(int seed, int length)
    {
        var rng = new Random(seed);
        var w = new float[length];
        for (int i = 0; i < length; i++) w[i] = MathF.Exp(2 * Gaussian(rng));
        return w;
    }

    /// <summary>
    /// Importance as llama-imatrix computes it: the mean of x² over activations, here 128 random
    /// activation vectors whose channels have log-normal scales (a few loud channels, as in real models).
    /// </summary>
    public static float[] RealisticImportance(int seed, int length)
    {
        var rng = new Random(seed);
        var channelScale = new float[length];
        for (int i = 0; i < length; i++) channelScale[i] = MathF.Exp(1.2f * Gaussian(rng));
        var w = new float[length];
        const int samples = 128;
        for (int s = 0; s < samples; s++)
            for (int i = 0; i < length; i++)
            {
                float a = channelScale[i] * Gaussian(rng);
                w[i] += a * a;
            }
        for (int i = 0; i < length; i++) w[i] /= samples;
        return w;
    }

    /// <summary>The sotu-llama-30m model folder.</summary>
    public static string SotuFolder => SharedData.Model("sotu-llama-30m");

    /// <summary>Every 2-D weight of the model whose rows hold whole 256-blocks, as F32 (name, rows, row length).</summary>
    public static IEnumerable<(string Name, float[] Data, int RowLength)> SotuMatrices(Func<string, bool>? filter = null)
    {
        var model = SafetensorsModel.Open(SotuFolder);
        foreach (var name in model.TensorNames)
        {
            if (filter != null && !filter(name)) continue;
            var t = model.Get(name);
            if (t.Shape.Length != 2 || t.Columns % 256 != 0) continue;
            yield return (name, t.ToFloat32(), (int)t.Columns);
        }
    }

    private static float Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }
}
