// A llama.cpp named mix (Q4_K_M, …) inside the layer-streaming runner: each linear in its planned type, GPTQ where it can.
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Gptq;

namespace QuantSharp.Quantization.Streaming;

/// <summary>How <see cref="MixGgufLinearQuantizer"/> rounds each linear into its planned type.</summary>
public enum MixRounding
{
    /// <summary>ggml's reference quantizer, no importance (the data-free counterpart; AWQ's candidate rounding).</summary>
    RoundToNearest,
    /// <summary>ggml's quantizer weighted by the calibration's mean x² per input column (an importance matrix, as llama-imatrix's).</summary>
    Importance,
    /// <summary>GPTQ's error feedback into the planned type where <see cref="GptqBlockQuantizer.Supports"/> it; <see cref="Importance"/> elsewhere.</summary>
    Gptq,
}

/// <summary>
/// Quantizes each decoder-layer linear into the type a llama.cpp mix planned for its tensor
/// (<see cref="Recipes.LlamaCppMixRecipe.LinearTypes"/>), so a calibrated run writes the mix's exact tensor types: with
/// <see cref="MixRounding.Gptq"/> a Q4_K_M file has GPTQ-rounded Q4_K, Q6_K (and for other mixes Q2_K…Q8_0, IQ4_NL)
/// tensors, while a type GPTQ does not round into (Q4_1, Q5_0, Q5_1, IQ4_XS, F16) gets llama.cpp's quantizer with the
/// run's importance matrix (the mean squares of the same calibration inputs), as llama-quantize --imatrix would.
/// </summary>
public sealed class MixGgufLinearQuantizer : ILinearQuantizer
{
    private readonly IReadOnlyList<GgmlType[]> _types;
    private readonly GptqBlockOptions _gptq;
    private readonly Action<string>? _warn;
    private MixGgufLinearQuantizer? _withoutData;

    /// <summary>Creates the quantizer.</summary>
    /// <param name="types">Planned type per [layer][(int)<see cref="LlamaLinear"/>] (block types that fit the rows, or F16).</param>
    /// <param name="rounding">How to round.</param>
    /// <param name="damping">GPTQ's dampening (fraction of the mean Hessian diagonal).</param>
    /// <param name="warn">Receives GPTQ's warnings (a Hessian damped further).</param>
    public MixGgufLinearQuantizer(IReadOnlyList<GgmlType[]> types, MixRounding rounding, double damping = 0.01, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(types);
        if (!Enum.IsDefined(rounding)) throw new ArgumentOutOfRangeException(nameof(rounding), rounding, "not a mix rounding");
        foreach (var layer in types)
            foreach (var t in layer ?? throw new ArgumentException("a layer has no planned types", nameof(types)))
                if (t != GgmlType.F16 && GgmlTypeInfo.Of(t).CoreType is null)
                    throw new ArgumentException($"planned type {t} has no quantizer", nameof(types));
        _types = types;
        Rounding = rounding;
        _gptq = new GptqBlockOptions { Damping = damping };
        _gptq.Validate();
        _warn = warn;
    }

    /// <summary>How linears are rounded.</summary>
    public MixRounding Rounding { get; }

    /// <inheritdoc/>
    public string Name => Rounding switch { MixRounding.Gptq => "gptq", MixRounding.Importance => "rtn+imatrix", _ => "rtn" };

    /// <inheritdoc/>
    public StatisticsNeeds Needs => Rounding switch
    {
        MixRounding.Gptq => StatisticsNeeds.Hessian,
        MixRounding.Importance => StatisticsNeeds.MeanSquares,
        _ => StatisticsNeeds.None,
    };

    /// <inheritdoc/>
    public ILinearQuantizer WithoutData => Rounding == MixRounding.RoundToNearest ? this
        : _withoutData ??= new MixGgufLinearQuantizer(_types, MixRounding.RoundToNearest, _gptq.Damping, _warn);

    /// <summary>The planned type of <paramref name="linear"/> in <paramref name="layer"/> (F16 where no block fits).</summary>
    public DType TypeOf(int layer, LlamaLinear linear)
    {
        if ((uint)layer >= (uint)_types.Count) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"the plan has {_types.Count} layers");
        var t = _types[layer][(int)linear];
        return t == GgmlType.F16 ? DType.F16 : GgmlTypeInfo.Of(t).CoreType!.Value;
    }

    /// <summary>The type the plan gives <paramref name="input"/>'s linear, checked against its row length.</summary>
    private DType PlannedType(LinearQuantizationInput input)
    {
        var type = TypeOf(input.Layer, input.Kind);
        if (type != DType.F16 && input.Cols % DTypeInfo.BlockSize(type) != 0)
            throw new InvalidOperationException($"layer {input.Layer} {input.Name}: planned {type} does not fit rows of {input.Cols} values (the plan was made for another model)");
        return type;
    }

    /// <inheritdoc/>
    public void RoundTrip(LinearQuantizationInput input, float[] dequantized)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (Rounding != MixRounding.RoundToNearest)
        {
            Quantize(input).Dequantized.AsSpan().CopyTo(dequantized);
            return;
        }
        var type = PlannedType(input);
        RtnGgufLinearQuantizer.RoundTripInto(type, input, dequantized);
    }

    /// <inheritdoc/>
    public QuantizedLinear Quantize(LinearQuantizationInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var type = PlannedType(input);
        var stats = input.Statistics;
        if (Rounding != MixRounding.RoundToNearest && stats is null)
            throw new InvalidOperationException($"layer {input.Layer} {input.Name}: the {Name} mix quantizer needs calibration statistics (--calib FILE)");
        if (Rounding == MixRounding.Gptq && GptqBlockQuantizer.Supports(type))
        {
            // The last linear of a group takes the accumulator's Hessian over instead of copying it.
            var h = input.LastUseOfStatistics ? stats!.TakeHessian() : stats!.Hessian();
            GptqBlockResult result;
            try
            {
                result = GptqBlockQuantizer.QuantizeInPlace(input.Weight, input.Rows, input.Cols, h, _gptq with { Type = type },
                    _warn is null ? null : m => _warn($"{input.Name}: {m}"));
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"layer {input.Layer} {input.Name}: {e.Message}", e);
            }
            return new QuantizedLinear
            {
                Dequantized = result.Dequantized, GgufType = type, GgufBytes = result.Data, FactorTime = result.FactorTime, SweepTime = result.SweepTime,
            };
        }
        float[] importance = [];
        if (Rounding != MixRounding.RoundToNearest && type != DType.F16)
        {
            // llama-imatrix's entry: Σx²/n per input column of this linear's calibration inputs.
            var ms = stats!.MeanSquares();
            importance = new float[ms.Length];
            for (int i = 0; i < ms.Length; i++) importance[i] = (float)ms[i];
        }
        return RtnGgufLinearQuantizer.Encode(type, input, importance);
    }
}
