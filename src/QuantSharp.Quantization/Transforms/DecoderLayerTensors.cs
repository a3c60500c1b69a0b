// A mutable fp32 copy of one decoder layer's tensors, grouped by how they touch the residual stream.
using QuantSharp.Models.Architectures;
using QuantSharp.Models.Llama;

namespace QuantSharp.Quantization.Transforms;

/// <summary>
/// One decoder layer as fp32 arrays that transforms edit in place: the two norms, the attention linears, a dense
/// MLP or a mixture of experts (router + every expert), and the small vectors (q/k/v biases, q/k norms).
/// Tensor names are the Hugging Face names of the layer's architecture, so that a writer can store it as is.
/// </summary>
public sealed class DecoderLayerTensors
{
    /// <summary>The layer index.</summary>
    public required int Index { get; init; }
    /// <summary>RMSNorm γ before attention.</summary>
    public required float[] AttentionNorm { get; init; }
    /// <summary>RMSNorm γ before the MLP.</summary>
    public required float[] FfnNorm { get; init; }
    /// <summary>q_proj, k_proj, v_proj, o_proj.</summary>
    public required FloatMatrix Q { get; init; }
    /// <inheritdoc cref="Q"/>
    public required FloatMatrix K { get; init; }
    /// <inheritdoc cref="Q"/>
    public required FloatMatrix V { get; init; }
    /// <inheritdoc cref="Q"/>
    public required FloatMatrix O { get; init; }
    /// <summary>Dense MLP (null in a mixture-of-experts layer).</summary>
    public FloatMatrix? Gate { get; init; }
    /// <inheritdoc cref="Gate"/>
    public FloatMatrix? Up { get; init; }
    /// <inheritdoc cref="Gate"/>
    public FloatMatrix? Down { get; init; }
    /// <summary>Mixture of experts: the router (reads the MLP norm's output like gate/up).</summary>
    public FloatMatrix? Router { get; init; }
    /// <summary>Mixture of experts: each expert's gate, up and down.</summary>
    public FloatMatrix[] ExpertGate { get; init; } = [];
    /// <inheritdoc cref="ExpertGate"/>
    public FloatMatrix[] ExpertUp { get; init; } = [];
    /// <inheritdoc cref="ExpertGate"/>
    public FloatMatrix[] ExpertDown { get; init; } = [];
    /// <summary>The optional small vectors (q/k/v biases, q/k norms) by role.</summary>
    public Dictionary<TensorRole, float[]> Vectors { get; init; } = [];

    /// <summary>The linears that read the attention norm's output.</summary>
    public IEnumerable<FloatMatrix> AttentionReaders => [Q, K, V];

    /// <summary>The linears that read the MLP norm's output (gate/up, or router and every expert's gate/up).</summary>
    public IEnumerable<FloatMatrix> MlpReaders => Router is null ? [Gate!, Up!] : [Router, .. ExpertGate, .. ExpertUp];

    /// <summary>The linears that write into the residual stream (o_proj, down_proj or every expert's down).</summary>
    public IEnumerable<FloatMatrix> ResidualWriters => Router is null ? [O, Down!] : [O, .. ExpertDown];

    /// <summary>
    /// Every tensor of the layer with its Hugging Face name, in a fixed order (norms as vectors, linears as matrices),
    /// each file tensor once: linears stored fused (Phi-3's <c>qkv_proj</c>, <c>gate_up_proj</c>) are joined here, their
    /// parts' rows concatenated in the naming's order (<see cref="TensorNaming.FusedParts"/>), as the source stores them.
    /// </summary>
    public IEnumerable<(string Name, float[] Values, long[] Shape)> Tensors(TensorNaming names)
    {
        int i = Index;
        (string, float[], long[]) M(FloatMatrix m) => (m.Name, m.Values, [m.Rows, m.Cols]);
        yield return (names.AttentionNorm(i), AttentionNorm, [AttentionNorm.Length]);
        foreach (var role in (TensorRole[])[TensorRole.Q, TensorRole.K, TensorRole.V, TensorRole.O])
            if (names.IsFirstPart(role)) yield return Joined(names, role);
        foreach (var (role, v) in Vectors.OrderBy(e => e.Key)) yield return (names.Name(role, i), v, [v.Length]);
        yield return (names.FfnNorm(i), FfnNorm, [FfnNorm.Length]);
        if (Router is null)
        {
            foreach (var role in (TensorRole[])[TensorRole.Gate, TensorRole.Up, TensorRole.Down])
                if (names.IsFirstPart(role)) yield return Joined(names, role);
            yield break;
        }
        yield return M(Router);
        for (int e = 0; e < ExpertGate.Length; e++)
        {
            yield return M(ExpertGate[e]);
            yield return M(ExpertUp[e]);
            yield return M(ExpertDown[e]);
        }
    }

    /// <summary>The dense linear of <paramref name="role"/>.</summary>
    public FloatMatrix Linear(TensorRole role) => role switch
    {
        TensorRole.Q => Q,
        TensorRole.K => K,
        TensorRole.V => V,
        TensorRole.O => O,
        TensorRole.Gate => Gate ?? throw new InvalidOperationException($"layer {Index} is a mixture of experts: no dense gate_proj"),
        TensorRole.Up => Up ?? throw new InvalidOperationException($"layer {Index} is a mixture of experts: no dense up_proj"),
        TensorRole.Down => Down ?? throw new InvalidOperationException($"layer {Index} is a mixture of experts: no dense down_proj"),
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "not a dense linear of a decoder layer"),
    };

    // The file tensor that holds role: the matrix itself, or its fused parts' rows concatenated (a new array; the
    // parts read the same columns, so only the row counts add up).
    private (string Name, float[] Values, long[] Shape) Joined(TensorNaming names, TensorRole role)
    {
        var parts = names.FusedParts(role);
        var first = Linear(role);
        if (parts.Count == 1) return (first.Name, first.Values, [first.Rows, first.Cols]);
        var matrices = parts.Select(Linear).ToArray();
        foreach (var m in matrices)
            if (m.Cols != first.Cols || m.Name != first.Name)
                throw new InvalidOperationException($"layer {Index}: '{m.Name}' ({m.Rows}×{m.Cols}) cannot be fused into '{first.Name}' ({first.Cols} columns)");
        var values = new float[matrices.Sum(m => (long)m.Values.Length)];
        int at = 0;
        foreach (var m in matrices)
        {
            m.Values.CopyTo(values, at);
            at += m.Values.Length;
        }
        return (first.Name, values, [matrices.Sum(m => (long)m.Rows), first.Cols]);
    }

    /// <summary>An fp32 copy of layer <paramref name="index"/> of <paramref name="model"/>, named in <paramref name="names"/>.</summary>
    public static DecoderLayerTensors From(LlamaModel model, int index, TensorNaming names)
    {
        var l = model.Layers[index];
        var arch = model.Parameters.Architecture;
        FloatMatrix Copy(Core.Tensors.TensorView v, TensorRole role, int expert = 0) =>
            FloatMatrix.From(v) with { Name = names.Name(role, index, expert) };
        FloatMatrix[] Experts(TensorRole role, Core.Tensors.TensorView[] views) => [.. views.Select((v, e) => Copy(v, role, e))];
        var vectors = new Dictionary<TensorRole, float[]>();
        foreach (var role in arch.OptionalLayerTensors) vectors[role] = (float[])l.Vector(role)!.Clone();
        return new DecoderLayerTensors
        {
            Index = index,
            AttentionNorm = (float[])l.AttentionNorm.Clone(),
            FfnNorm = (float[])l.FfnNorm.Clone(),
            Q = Copy(l.Wq, TensorRole.Q),
            K = Copy(l.Wk, TensorRole.K),
            V = Copy(l.Wv, TensorRole.V),
            O = Copy(l.Wo, TensorRole.O),
            Gate = l.Experts is null ? Copy(l.WGate, TensorRole.Gate) : null,
            Up = l.Experts is null ? Copy(l.WUp, TensorRole.Up) : null,
            Down = l.Experts is null ? Copy(l.WDown, TensorRole.Down) : null,
            Router = l.Experts is { } x ? Copy(x.Router, TensorRole.Router) : null,
            ExpertGate = l.Experts is { } g ? Experts(TensorRole.ExpertGate, g.Gate) : [],
            ExpertUp = l.Experts is { } u ? Experts(TensorRole.ExpertUp, u.Up) : [],
            ExpertDown = l.Experts is { } d ? Experts(TensorRole.ExpertDown, d.Down) : [],
            Vectors = vectors,
        };
    }
}
