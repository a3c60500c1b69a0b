// Test tensors for the grid and block-format property tests: varied synthetic distributions and real weight rows.
using CsCheck;
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Safetensors;

namespace QuantSharp.Tests.Quantization.Grids;

/// <summary>A named row-major test tensor.</summary>
public sealed record TestTensor(string Name, float[] Values, int Rows, int Columns)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Name} [{Rows}×{Columns}]";
}

/// <summary>
/// Generators of tensors whose values stress quantizers: Gaussian, uniform, heavy tails (Student-t₂,
/// Cauchy), a few large outliers, all-positive and all-negative, sparse, constant, all-zero, integer
/// valued (exact ties), tiny (normal floats down to 1e-35) and subnormal, huge (up to 1e30), and
/// per-row mixed magnitudes. Magnitudes are drawn over 12 decades.
/// </summary>
public static class GridTensorData
{
    /// <summary>Every distribution name.</summary>
    public static readonly string[] Kinds =
        ["normal", "uniform", "student-t2", "cauchy", "outliers", "positive", "negative", "sparse", "constant", "zeros", "integers", "tiny", "subnormal", "huge", "mixed-rows"];

    /// <summary>Kinds whose values are all normal fp32 numbers well inside the range (for closed-form checks).</summary>
    public static bool IsOrdinary(string kind) => kind is not ("subnormal" or "huge" or "tiny");

    /// <summary>Fills <paramref name="values"/> with <paramref name="kind"/> at magnitude <paramref name="scale"/>.</summary>
    public static void Fill(string kind, double scale, Random rng, Span<float> values, int columns)
    {
        for (int i = 0; i < values.Length; i++)
        {
            double v = kind switch
            {
                "normal" => Normal(rng),
                "uniform" => rng.NextDouble() * 2 - 1,
                "student-t2" => Normal(rng) / Math.Sqrt((Square(Normal(rng)) + Square(Normal(rng))) / 2),
                "cauchy" => Math.Clamp(Math.Tan(Math.PI * (rng.NextDouble() - 0.5)), -1e4, 1e4),
                "outliers" => Normal(rng) * (rng.NextDouble() < 0.01 ? 100 : 1),
                "positive" => Math.Abs(Normal(rng)) + 0.01,
                "negative" => -Math.Abs(Normal(rng)) - 0.5,
                "sparse" => rng.NextDouble() < 0.85 ? 0 : Normal(rng),
                "constant" => 0.75,
                "zeros" => 0,
                "integers" => rng.Next(-8, 8),
                "tiny" => Normal(rng) * 1e-30,
                "subnormal" => Normal(rng) * 1e-42,
                "huge" => Normal(rng) * 1e28,
                "mixed-rows" => Normal(rng) * Math.Pow(10, (i / Math.Max(1, columns)) % 9 - 5),
                _ => throw new ArgumentException(kind),
            };
            double s = kind is "tiny" or "subnormal" or "huge" or "mixed-rows" ? 1 : scale;
            values[i] = (float)(v * s);
        }
    }

    /// <summary>CsCheck generator of random tensors (1–6 rows, 1–300 columns).</summary>
    public static Gen<TestTensor> Random(int maxColumns = 300) =>
        Gen.Select(Gen.Int[0, Kinds.Length - 1], Gen.Int[1, 6], Gen.Int[1, maxColumns], Gen.Double[-6, 6], Gen.Int)
           .Select((kind, rows, columns, log10, seed) =>
           {
               var rng = new Random(seed);
               var v = new float[rows * columns];
               Fill(Kinds[kind], Math.Pow(10, log10), rng, v, columns);
               return new TestTensor(Kinds[kind], v, rows, columns);
           });

    /// <summary>Random tensors whose row length is a multiple of <paramref name="multiple"/> (block formats).</summary>
    public static Gen<TestTensor> RandomBlocks(int multiple, int maxBlocks) =>
        Gen.Select(Gen.Int[0, Kinds.Length - 1], Gen.Int[1, 3], Gen.Int[1, maxBlocks], Gen.Double[-6, 6], Gen.Int)
           .Select((kind, rows, blocks, log10, seed) =>
           {
               var rng = new Random(seed);
               int columns = blocks * multiple;
               var v = new float[rows * columns];
               Fill(Kinds[kind], Math.Pow(10, log10), rng, v, columns);
               return new TestTensor(Kinds[kind], v, rows, columns);
           });

    /// <summary>
    /// Real weights: the first <paramref name="rows"/> rows of every projection of sotu-llama-30m
    /// layers 0 and 5 and the token embedding (bf16, widened to fp32).
    /// </summary>
    public static IEnumerable<TestTensor> Real(int rows = 16)
    {
        using var model = SafetensorsModel.Open(SharedData.Model("sotu-llama-30m"));
        var names = new List<string> { "model.embed_tokens.weight" };
        foreach (int layer in new[] { 0, 5 })
            foreach (var part in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" })
                names.Add($"model.layers.{layer}.{part}.weight");
        foreach (var name in names)
        {
            var t = model.Get(name);
            int columns = checked((int)t.Columns);
            int take = (int)Math.Min(rows, t.Rows);
            var v = new float[take * columns];
            for (int r = 0; r < take; r++) FloatConversion.ToFloat32(t.DType, t.RowBytes(r), v.AsSpan(r * columns, columns));
            yield return new TestTensor("sotu " + name, v, take, columns);
        }
    }

    private static double Square(double v) => v * v;

    private static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
