// One linear module of a GPTQ or AWQ checkpoint, unpacked: integer grid values, zero points, fp16 scales, column groups.
namespace QuantSharp.Formats.Gptq;

/// <summary>
/// The integer grid a GPTQ (<see cref="GptqPacking"/>) or AWQ (<see cref="Awq.AwqPacking"/>) checkpoint stores for one
/// linear module W [<see cref="Rows"/> = out, <see cref="Cols"/> = in], independent of how it was packed: weight
/// [o, c] = <see cref="Scales"/>[g, o] · (<see cref="Values"/>[o, c] − <see cref="Zeros"/>[g, o]) with
/// g = <see cref="GroupIndex"/>[c]. What the loader dequantizes and what the GGUF import maps onto ggml blocks.
/// </summary>
public sealed class PackedModuleGrid
{
    /// <summary>Output features.</summary>
    public required int Rows { get; init; }

    /// <summary>Input features.</summary>
    public required int Cols { get; init; }

    /// <summary>Bits per value.</summary>
    public required int Bits { get; init; }

    /// <summary>Scale/zero rows (groups).</summary>
    public required int Groups { get; init; }

    /// <summary>[Rows·Cols] row-major grid values 0…2^Bits−1.</summary>
    public required int[] Values { get; init; }

    /// <summary>[Groups·Rows] group-major zero points (as the loaders use them: GPTQ v1's stored "− 1" already added back).</summary>
    public required int[] Zeros { get; init; }

    /// <summary>[Groups·Rows] group-major scales, the stored fp16 values widened to fp32.</summary>
    public required float[] Scales { get; init; }

    /// <summary>[Cols] the group of each input column (g_idx; contiguous c / group_size where the format has none).</summary>
    public required int[] GroupIndex { get; init; }

    /// <summary>
    /// The fp32 weights [Rows·Cols]: scale · (q − zero), exact (an fp16 scale times an integer below 2^9 fits fp32's
    /// mantissa). <paramref name="where"/> names the module in the error for a non-finite result.
    /// </summary>
    public float[] Dequantize(string where)
    {
        var w = new float[(long)Rows * Cols];
        for (int o = 0; o < Rows; o++)
            for (int c = 0; c < Cols; c++)
            {
                int g = GroupIndex[c];
                float s = Scales[(long)g * Rows + o];
                float v = s * (Values[(long)o * Cols + c] - Zeros[(long)g * Rows + o]);
                if (!float.IsFinite(v)) throw new InvalidDataException($"{where} dequantizes to a non-finite value at [{o}, {c}] (scale {s})");
                w[(long)o * Cols + c] = v;
            }
        return w;
    }
}
