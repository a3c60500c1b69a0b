// One decoder layer's calibration inputs in memory and its forward over them, for transforms that measure output error.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Models;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// The residual stream entering one decoder layer for every calibration token (sequences end to end, each from position
/// 0) and the steps of <see cref="DecoderLayerForward"/> over all of them, with any weights the caller passes: a
/// transform runs the original layer once for reference outputs and candidate (scaled, rounded) weights against them.
/// The same code as the inference session and the runner, so a transform's "unchanged function" is checked against the
/// real forward. Holds tokens·(3·hidden + q, k, v widths) floats of scratch; results do not depend on the thread count.
/// </summary>
public sealed class LayerCalibrationForward
{
    private readonly LlamaHyperParameters _hp;
    private readonly DecoderLayerForward _forward;
    private readonly int[] _sequenceStart, _positions;
    private readonly int _maxSequence;
    private readonly float[] _q, _k, _v, _up, _proj;

    /// <summary>Wraps <paramref name="input"/> [tokens, dim] of the calibration sequences whose lengths are <paramref name="sequenceLengths"/>.</summary>
    public LayerCalibrationForward(LlamaHyperParameters hp, int layer, float[] input, IReadOnlyList<int> sequenceLengths)
    {
        _hp = hp;
        Layer = layer;
        Tokens = sequenceLengths.Sum();
        if (input.Length != (long)Tokens * hp.Dim) throw new ArgumentException($"{input.Length} inputs do not fill {Tokens} tokens of width {hp.Dim}");
        Input = input;
        _sequenceStart = new int[Tokens];
        _positions = new int[Tokens];
        for (int s = 0, off = 0; s < sequenceLengths.Count; off += sequenceLengths[s], s++)
            for (int i = 0; i < sequenceLengths[s]; i++)
            {
                _sequenceStart[off + i] = off;
                _positions[off + i] = i;
            }
        _maxSequence = sequenceLengths.Max();
        _forward = new DecoderLayerForward(hp, _maxSequence);
        _q = new float[(long)Tokens * hp.QDim];
        _k = new float[(long)Tokens * hp.KvDim];
        _v = new float[(long)Tokens * hp.KvDim];
        _up = new float[(long)Tokens * hp.HiddenDim];
        _proj = new float[(long)Tokens * hp.Dim];
    }

    /// <summary>Decoder layer index.</summary>
    public int Layer { get; }

    /// <summary>Calibration tokens (rows of every buffer).</summary>
    public int Tokens { get; }

    /// <summary>The layer's input [tokens, dim] (not to be modified).</summary>
    public float[] Input { get; }

    /// <summary>A buffer of <paramref name="width"/> floats per token.</summary>
    public float[] Buffer(int width) => new float[(long)Tokens * width];

    /// <summary><paramref name="xn"/> [tokens, dim] = the attention norm of <paramref name="x"/> with <paramref name="w"/>'s γ.</summary>
    public void AttentionNorm(ReadOnlySpan<float> x, LlamaLayerWeights w, Span<float> xn) => _forward.AttentionNorm(x, w, xn, Tokens);

    /// <summary>
    /// <paramref name="attention"/> [tokens, q width] = causal attention of the queries, keys and values of
    /// <paramref name="xn"/> through <paramref name="wq"/>/<paramref name="wk"/>/<paramref name="wv"/> (biases, q/k norms
    /// from <paramref name="w"/>), RoPE at each token's position in its sequence: o_proj's input.
    /// </summary>
    public void Attention(ReadOnlySpan<float> xn, LlamaLayerWeights w, TensorView wq, TensorView wk, TensorView wv, float[] attention)
    {
        _forward.QueryKeyValue(Layer, xn, Tokens, w, wq, wk, wv, _q, _k, _v, _positions);
        CausalAttention.Run(_hp, Layer, _q, _k, _v, attention, _sequenceStart, Tokens, _maxSequence);
    }

    /// <summary><paramref name="y"/> [tokens, rows of w] = <paramref name="input"/>·Wᵀ.</summary>
    public void Project(ReadOnlySpan<float> input, TensorView weight, Span<float> y) => MatMul.Multiply(input, Tokens, weight, y);

    /// <summary><paramref name="x"/> += [post-norm](attention·Woᵀ): the residual stream after attention.</summary>
    public void AttentionOutput(ReadOnlySpan<float> attention, LlamaLayerWeights w, TensorView wo, Span<float> x)
        => _forward.AttentionOutput(attention, Tokens, w, wo, _proj, x);

    /// <summary><paramref name="xn"/> = the MLP norm of <paramref name="x"/> with <paramref name="w"/>'s γ.</summary>
    public void MlpNorm(ReadOnlySpan<float> x, LlamaLayerWeights w, Span<float> xn) => _forward.MlpNorm(x, w, xn, Tokens);

    /// <summary><paramref name="hidden"/> [tokens, hidden] = act(xn·Wgateᵀ)·(xn·Wupᵀ): down_proj's input.</summary>
    public void MlpHidden(ReadOnlySpan<float> xn, TensorView gate, TensorView up, Span<float> hidden) => _forward.MlpHidden(xn, Tokens, gate, up, hidden, _up);
}
