// Rows and importance vectors for the block-format tests: seeded synthetic rows and real model weights.
using QuantSharp.Formats.Llama2c;
using QuantSharp.Formats.Safetensors;

namespace QuantSharp.Tests.Quantization;

/// <summary>A named batch of rows of equal length, with the importance vectors to try on it.</summary>
public sealed record RowSet(string Name, float[] Values, int RowLength)
{
    /// <summary>Number of rows.</summary>
    public int Rows => Values.Length / RowLength;
}

/// <summary>
/// Test inputs. Synthetic rows cover the shapes that stress the scale searches (heavy tails,
/// outliers, zero and constant blocks, tiny magnitudes); real rows come from the shared models.
/// </summary>
public static class BlockTestData
{
    /// <summary>Row length of the synthetic rows (a multiple of every block size, 256 included).</summary>
    public const int SyntheticRowLength = 512;

    /// <summary>Synthetic rows, several distributions, deterministic for a seed.</summary>
    public static IEnumerable<RowSet> Synthetic(int seed = 1234, int rowsPerKind = 48)
    {
        var rng = new Random(seed);
        string[] kinds = ["normal", "uniform", "laplace", "student-t2", "cauchy", "outliers", "sparse", "zero-blocks", "constant", "tiny", "mixed-scales", "all-negative", "quantized-grid"];
        foreach (var kind in kinds)
        {
            var v = new float[rowsPerKind * SyntheticRowLength];
            for (int r = 0; r < rowsPerKind; r++)
            {
                var row = v.AsSpan(r * SyntheticRowLength, SyntheticRowLength);
                FillRow(kind, row, rng, r);
            }
            yield return new RowSet("random " + kind, v, SyntheticRowLength);
        }
    }

    private static void FillRow(string kind, Span<float> row, Random rng, int r)
    {
        float scale = (float)Math.Pow(10, rng.NextDouble() * 4 - 3); // 1e-3 … 10
        for (int i = 0; i < row.Length; i++)
        {
            row[i] = kind switch
            {
                "normal" => (float)(Normal(rng) * scale),
                "uniform" => (float)((rng.NextDouble() * 2 - 1) * scale),
                "laplace" => (float)(Laplace(rng) * scale),
                "student-t2" => (float)(Normal(rng) / Math.Sqrt((Square(Normal(rng)) + Square(Normal(rng))) / 2) * scale),
                "cauchy" => (float)Math.Clamp(Math.Tan(Math.PI * (rng.NextDouble() - 0.5)) * scale, -1e4, 1e4),
                "outliers" => (float)(Normal(rng) * scale * (rng.NextDouble() < 0.01 ? 50 : 1)),
                "sparse" => rng.NextDouble() < 0.8 ? 0f : (float)(Normal(rng) * scale),
                "zero-blocks" => (i / 32) % 3 == r % 3 ? 0f : (float)(Normal(rng) * scale),
                "constant" => (r % 4) switch { 0 => 0f, 1 => scale, 2 => -scale, _ => (i / 32) % 2 == 0 ? scale : -0.5f * scale },
                "tiny" => (float)(Normal(rng) * (r % 3 == 0 ? 1e-8 : r % 3 == 1 ? 1e-14 : 1e-5)),
                "mixed-scales" => (float)(Normal(rng) * Math.Pow(10, (i / 32) % 7 - 4)),
                "all-negative" => (float)(-Math.Abs(Normal(rng)) * scale - scale),
                "quantized-grid" => (rng.Next(16) - 8) * scale / 8,
                _ => throw new ArgumentException(kind),
            };
        }
    }

    /// <summary>Rows of real weights: sotu-llama-30m layers 0 and 7 (bf16 → fp32) and stories260K (fp32).</summary>
    public static IEnumerable<RowSet> Real(int blockSize)
    {
        string sotu = SharedData.Model("sotu-llama-30m");
        using (var model = SafetensorsModel.Open(sotu))
        {
            foreach (int layer in new[] { 0, 7 })
            {
                foreach (var part in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" })
                {
                    string name = $"model.layers.{layer}.{part}.weight";
                    var t = model.Get(name);
                    yield return new RowSet("sotu " + name, t.ToFloat32(), checked((int)t.Columns));
                }
            }
        }
        using var stories = new Llama2cCheckpoint(SharedData.Model("stories260K", "stories260K.bin"));
        foreach (var name in stories.TensorNames)
        {
            var t = stories.Get(name);
            if (t.Shape.Length != 2 || t.Columns % blockSize != 0) continue; // llama.cpp would fall back to another type
            yield return new RowSet("stories260K " + name, t.ToFloat32(), checked((int)t.Columns));
        }
    }

    /// <summary>Random positive importance, spread over three decades.</summary>
    public static float[] RandomImportance(int n, int seed)
    {
        var rng = new Random(seed);
        var w = new float[n];
        for (int i = 0; i < n; i++) w[i] = (float)Math.Pow(10, rng.NextDouble() * 3 - 1.5);
        return w;
    }

    /// <summary>
    /// Importance as llama-imatrix computes it: the mean of a² per input column over activations a,
    /// here random activations with per-channel scales (a few outlier channels, some nearly dead).
    /// </summary>
    public static float[] ActivationImportance(int n, int seed, int samples = 64)
    {
        var rng = new Random(seed);
        var channelScale = new double[n];
        for (int c = 0; c < n; c++)
        {
            double u = rng.NextDouble();
            channelScale[c] = u < 0.02 ? 20 : u < 0.05 ? 1e-3 : Math.Exp(Normal(rng) * 0.5);
        }
        var sum = new double[n];
        for (int s = 0; s < samples; s++)
        {
            for (int c = 0; c < n; c++) sum[c] += Square(Normal(rng) * channelScale[c]);
        }
        var w = new float[n];
        for (int c = 0; c < n; c++) w[c] = (float)(sum[c] / samples);
        return w;
    }

    private static double Square(double v) => v * v;

    private static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private static double Laplace(Random rng)
    {
        double u = rng.NextDouble() - 0.5;
        return -Math.Sign(u) * Math.Log(1 - 2 * Math.Abs(u));
    }
}
