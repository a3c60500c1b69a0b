// One linear layer quantized onto an integer grid with per-group scales and zero points (GPTQ or RTN).
namespace QuantSharp.Quantization.Gptq;

/// <summary>
/// A weight W [<see cref="Rows"/> = out features, <see cref="Cols"/> = in features] (row-major, as
/// nn.Linear.weight) quantized to <see cref="Bits"/>-bit integers with one scale and zero point per
/// (group, row). Column c belongs to group <see cref="GroupIndex"/>[c] (AutoGPTQ's g_idx; with
/// act-order the groups are not contiguous). Dequantized value = scale · (q − zero).
/// This is the shape both the GPTQ and the round-to-nearest quantizers produce and the Hugging Face
/// GPTQ exporter packs.
/// </summary>
public sealed class GptqLayerResult
{
    /// <summary>Output features (rows of W).</summary>
    public required int Rows { get; init; }

    /// <summary>Input features (columns of W).</summary>
    public required int Cols { get; init; }

    /// <summary>Bits per value, 2–8.</summary>
    public required int Bits { get; init; }

    /// <summary>Columns per group (0: one group per row).</summary>
    public required int GroupSize { get; init; }

    /// <summary>Number of groups (scale/zero rows).</summary>
    public int Groups => Scales.Length / Rows;

    /// <summary>[Rows·Cols] unsigned grid values 0…2^Bits−1, row-major, original column order.</summary>
    public required int[] QuantizedValues { get; init; }

    /// <summary>[Groups·Rows], group-major: scale of (group g, row r) at g·Rows + r.</summary>
    public required float[] Scales { get; init; }

    /// <summary>[Groups·Rows], group-major, unsigned zero points (symmetric grids: 2^(Bits−1)).</summary>
    public required int[] Zeros { get; init; }

    /// <summary>[Cols] group of each column.</summary>
    public required int[] GroupIndex { get; init; }

    /// <summary>[Rows·Cols] the fp32 weights the quantized layer stands for: Scales·(q − Zeros).</summary>
    public required float[] Dequantized { get; init; }

    /// <summary>Wall time GPTQ spent preparing and factorising H (dampening, Cholesky, triangular inverse); zero for RTN.</summary>
    public TimeSpan FactorTime { get; init; }

    /// <summary>Wall time of GPTQ's column sweep (rounding, error feedback, lazy block updates); zero for RTN.</summary>
    public TimeSpan SweepTime { get; init; }
}
