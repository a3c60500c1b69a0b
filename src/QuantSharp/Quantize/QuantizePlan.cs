// A validated QuantizeRequest resolved into the engine's settings (internal: the request is the public contract).
using QuantSharp.Core.Tensors;
using QuantSharp.Quantization.Awq;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Recipes;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Quantization.Transforms;

namespace QuantSharp;

/// <summary>What <see cref="QuantizeRequest.Resolve"/> decided: a mix, or a method with its quantizer and output.</summary>
internal sealed record QuantizePlan
{
    /// <summary>The named mix (when <see cref="Method"/> is null, or with <see cref="MixRounding"/>).</summary>
    public LlamaCppFileType FileType { get; init; }

    /// <summary>The layer-streaming method, or null for a mix.</summary>
    public QuantizeMethod? Method { get; init; }

    /// <summary>"rtn", "gptq", "awq" or "awq+gptq", with "rotate+" before it when <see cref="Rotation"/> is set (for messages).</summary>
    public string MethodName { get; init; } = "";

    /// <summary>The GGUF block type of --format gguf:T, or null for hf-gptq.</summary>
    public DType? GgufType { get; init; }

    /// <summary>"hf-gptq" or "hf-awq" for a Hugging Face folder output, null for GGUF.</summary>
    public string? HfFormat { get; init; }

    /// <summary>The integer grid (hf-gptq, hf-awq).</summary>
    public GptqOptions Grid { get; init; } = new();

    /// <summary>The per-linear quantizer of a method run.</summary>
    public ILinearQuantizer? Quantizer { get; init; }

    /// <summary>The layer transforms that run before the quantizer (AWQ), in order.</summary>
    public IReadOnlyList<ILayerTransform> Transforms { get; init; } = [];

    /// <summary>A method into a named mix (<see cref="FileType"/>): how each linear is rounded (the quantizer needs the model's plan, so the runner builds it).</summary>
    public MixRounding? MixRounding { get; init; }

    /// <summary>Rotate the model (each decoder layer as the method's run reaches it) with these settings; null: no rotation.</summary>
    public RotationOptions? Rotation { get; init; }

    /// <summary>Per-tensor type changes to the named mix (<c>--tensor-type</c>, …); null: the mix as llama.cpp plans it.</summary>
    public TensorTypeOverrides? Overrides { get; init; }

    /// <summary>A method into a named mix: AWQ's settings when the method is awq or awq+gptq.</summary>
    public AwqOptions? MixAwq { get; init; }
}
