// The math of one decoder layer, written once: the inference session and the calibration runner both call it.
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Architectures;
using QuantSharp.Models.Llama;

namespace QuantSharp.Models;

/// <summary>
/// The steps of a decoder layer as the model's <see cref="Architectures.ModelArchitecture"/> defines them:
/// norm → q/k/v (bias, per-head q/k norm, RoPE) → [attention, supplied by the caller] → output
/// projection + residual → norm → gate/up + activation → down projection + residual. The inference
/// session (KV-cache attention) and the calibration runner (causal attention inside each calibration
/// sequence, with observers between the steps, and with quantized replacements of the linears) differ
/// only in the attention between <see cref="QueryKeyValue"/> and <see cref="AttentionOutput"/>, in the
/// weight views they pass and in what they observe — never in these operations, so both produce
/// bit-identical values for the same inputs. Rows are tokens; every buffer is [tokens, width].
/// </summary>
public sealed class DecoderLayerForward
{
    private readonly LlamaHyperParameters _hp;
    private readonly float[] _cos, _sin;     // [position, headDim/2]
    private readonly float[]? _localCos, _localSin; // the sliding-window layers' own RoPE (Gemma 3), or null

    /// <summary>Prepares the RoPE tables for positions 0 … <paramref name="positions"/> − 1.</summary>
    public DecoderLayerForward(LlamaHyperParameters hp, int positions)
    {
        _hp = hp;
        Positions = positions;
        (_cos, _sin) = LlamaLayerOps.RopeTables(hp, positions);
        if (hp.RopeLocalTheta is not null) (_localCos, _localSin) = LlamaLayerOps.RopeTables(hp.LocalRope(), positions);
    }

    /// <summary>Scales embedding rows in place where the architecture does (Gemma: ×√hidden).</summary>
    public void ScaleEmbeddings(Span<float> x)
    {
        if (_hp.EmbeddingScale is { } s) System.Numerics.Tensors.TensorPrimitives.Multiply(x, s, x);
    }

    /// <summary>How many positions the RoPE tables cover.</summary>
    public int Positions { get; }

    /// <summary>Norm before attention: <paramref name="xn"/> = norm(<paramref name="x"/>).</summary>
    public void AttentionNorm(ReadOnlySpan<float> x, LlamaLayerWeights w, Span<float> xn, int n)
        => LlamaLayerOps.RmsNormRows(x, w.AttentionNorm, _hp.RmsNormEps, xn, n, _hp.Dim);

    /// <summary>
    /// Queries, keys and values of <paramref name="n"/> tokens at <paramref name="positions"/>: the three
    /// projections, their biases, per-head q/k norms and RoPE, as the architecture has them.
    /// </summary>
    public void QueryKeyValue(int layer, ReadOnlySpan<float> xn, int n, LlamaLayerWeights w, TensorView wq, TensorView wk, TensorView wv,
        Span<float> q, Span<float> k, Span<float> v, ReadOnlySpan<int> positions)
    {
        int qDim = _hp.QDim, kvDim = _hp.KvDim;
        q = q[..(n * qDim)];
        k = k[..(n * kvDim)];
        v = v[..(n * kvDim)];
        MatMul.MultiplyShared(xn, n, wq, q, wk, k, wv, v);
        if (w.QBias is { } bq) AddRows(q, bq, n);
        if (w.KBias is { } bk) AddRows(k, bk, n);
        if (w.VBias is { } bv) AddRows(v, bv, n);
        // Qwen3 normalises each head of q and k (over head_dim) before the rotation.
        if (w.QNorm is { } nq) LlamaLayerOps.RmsNormRows(q, nq, _hp.RmsNormEps, q, n * _hp.NumHeads, _hp.HeadDim);
        if (w.KNorm is { } nk) LlamaLayerOps.RmsNormRows(k, nk, _hp.RmsNormEps, k, n * _hp.NumKvHeads, _hp.HeadDim);
        bool interleaved = _hp.RopeLayout == RopeLayout.Interleaved;
        bool local = _hp.UsesLocalRope(layer);
        var cos = local ? _localCos : _cos;
        var sin = local ? _localSin : _sin;
        LlamaLayerOps.ApplyRope(q, n, _hp.NumHeads, _hp.HeadDim, interleaved, cos, sin, positions);
        LlamaLayerOps.ApplyRope(k, n, _hp.NumKvHeads, _hp.HeadDim, interleaved, cos, sin, positions);
    }

    /// <summary>Output projection of the attention result and the residual add: <paramref name="x"/> += [norm](attn·Woᵀ).</summary>
    public void AttentionOutput(ReadOnlySpan<float> attention, int n, LlamaLayerWeights w, TensorView wo, Span<float> scratch, Span<float> x)
        => ProjectAndAdd(attention[..(n * _hp.QDim)], n, wo, w.AttentionPostNorm, scratch, x);

    /// <summary>Norm before the MLP: <paramref name="xn"/> = norm(<paramref name="x"/>).</summary>
    public void MlpNorm(ReadOnlySpan<float> x, LlamaLayerWeights w, Span<float> xn, int n)
        => LlamaLayerOps.RmsNormRows(x, w.FfnNorm, _hp.RmsNormEps, xn, n, _hp.Dim);

    /// <summary>The MLP's hidden activations: <paramref name="gate"/> = act(xn·Wgateᵀ) · (xn·Wupᵀ).</summary>
    public void MlpHidden(ReadOnlySpan<float> xn, int n, TensorView wGate, TensorView wUp, Span<float> gate, Span<float> up)
    {
        int h = _hp.HiddenDim;
        gate = gate[..(n * h)];
        up = up[..(n * h)];
        MatMul.MultiplyShared(xn[..(n * _hp.Dim)], n, wGate, gate, wUp, up);
        Activate(gate, up, n);
    }

    /// <summary>gate = act(gate) · up (<paramref name="rows"/> rows), with the architecture's activation.</summary>
    /// <remarks>
    /// A prefill batch is split over the worker pool in pieces of whole multiples of 256 elements from the start, so
    /// SiluMul's own 256-element pieces fall on the same elements whatever the split (same bits on any thread count).
    /// </remarks>
    private unsafe void Activate(Span<float> gate, ReadOnlySpan<float> up, int rows)
    {
        bool gelu = _hp.Architecture.Activation == Architectures.Activation.GeluTanh;
        int chunks = RowChunks.Count(rows);
        if (chunks == 1)
        {
            if (gelu) GeluTanhMul(gate, up);
            else VectorOps.SiluMul(gate, up, gate);
            return;
        }
        int total = gate.Length;
        fixed (float* pg = gate, pu = up)
        {
            float* g = pg, u = pu;
            WorkerPool.Run(chunks, KernelOptions.EffectiveThreads, c =>
            {
                var (start, end) = RowChunks.Range(c, chunks, total, granule: 256);
                int len = end - start;
                if (len <= 0) return;
                var gs = new Span<float>(g + start, len);
                var us = new ReadOnlySpan<float>(u + start, len);
                if (gelu) GeluTanhMul(gs, us);
                else VectorOps.SiluMul(gs, us, gs);
            });
        }
    }

    /// <summary>Down projection and the residual add: <paramref name="x"/> += [norm](hidden·Wdownᵀ).</summary>
    public void MlpOutput(ReadOnlySpan<float> hidden, int n, LlamaLayerWeights w, TensorView wDown, Span<float> scratch, Span<float> x)
        => ProjectAndAdd(hidden[..(n * _hp.HiddenDim)], n, wDown, w.FfnPostNorm, scratch, x);

    /// <summary>
    /// A mixture-of-experts MLP and the residual add: per token a softmax over the router's logits picks the
    /// top-k experts (ties to the lower index), their weights renormalised to sum to one where the model does;
    /// each expert runs on the tokens routed to it only (decode reads only the routed experts' weights); each
    /// token's output is Σ weight·expert(x) in top-k order, so it does not depend on which other tokens share
    /// the batch. <paramref name="routed"/>, when given, sees each expert's input rows (calibration statistics).
    /// <paramref name="only"/>, when given, restricts the work to the experts it accepts, skips their down
    /// projections and leaves <paramref name="x"/> unchanged: a statistics pass over a batch of experts (the calibration runner bounds
    /// its memory by collecting a few experts' Hessians at a time).
    /// </summary>
    public void MixtureOfExperts(ReadOnlySpan<float> xn, int n, ExpertWeights experts, Span<float> x, ExpertObserver? routed = null,
        Predicate<int>? only = null)
    {
        int dim = _hp.Dim, e = experts.Count, k = _hp.ExpertsPerToken, h = _hp.ExpertHiddenDim;
        var m = _moe ??= new MoeScratch();
        m.Ensure(n, dim, e, k, h);
        var logits = m.Logits.AsSpan(0, n * e);
        MatMul.Multiply(xn[..(n * dim)], n, experts.Router, logits);
        var counts = m.Counts.AsSpan(0, e);
        counts.Clear();
        for (int t = 0; t < n; t++)
        {
            var p = logits.Slice(t * e, e);
            VectorOps.Softmax(p);
            float sum = 0;
            for (int j = 0; j < k; j++)
            {
                int best = -1;
                for (int c = 0; c < e; c++)
                {
                    bool taken = false;
                    for (int i = 0; i < j; i++) taken |= m.Choice[t * k + i] == c;
                    if (!taken && (best < 0 || p[c] > p[best])) best = c;
                }
                m.Choice[t * k + j] = best;
                m.Weight[t * k + j] = p[best];
                sum += p[best];
                counts[best]++;
            }
            if (_hp.NormalizeTopK)
                for (int j = 0; j < k; j++) m.Weight[t * k + j] /= sum;
        }
        var outRows = m.Out.AsSpan(0, n * k * dim);
        if (n == 1 && routed is null && only is null) DecodeExperts(xn[..dim], experts, m, outRows);
        else ExpertByExpert(xn, n, experts, m, outRows, routed, only);
        if (only != null) return;
        for (int t = 0; t < n; t++)
        {
            var xr = x.Slice(t * dim, dim);
            var acc = m.Acc.AsSpan(0, dim);
            acc.Clear();
            for (int j = 0; j < k; j++) VectorOps.Axpy(m.Weight[t * k + j], outRows.Slice((t * k + j) * dim, dim), acc);
            VectorOps.Add(xr, acc, xr);
        }
    }

    /// <summary>Each routed expert on the rows routed to it, in expert order (prefill, calibration and statistics passes).</summary>
    private void ExpertByExpert(ReadOnlySpan<float> xn, int n, ExpertWeights experts, MoeScratch m, Span<float> outRows,
        ExpertObserver? routed, Predicate<int>? only)
    {
        int dim = _hp.Dim, e = experts.Count, k = _hp.ExpertsPerToken, h = _hp.ExpertHiddenDim;
        var counts = m.Counts.AsSpan(0, e);
        for (int c = 0; c < e; c++)
        {
            if (counts[c] == 0 || (only != null && !only(c))) continue;
            int rows = 0;
            for (int t = 0; t < n; t++)
                for (int j = 0; j < k; j++)
                    if (m.Choice[t * k + j] == c)
                    {
                        xn.Slice(t * dim, dim).CopyTo(m.In.AsSpan(rows * dim, dim));
                        m.Slot[rows++] = t * k + j;
                    }
            var input = m.In.AsSpan(0, rows * dim);
            routed?.Invoke(c, LinearInputGroup.MlpInput, input, rows, dim);
            var gate = m.Gate.AsSpan(0, rows * h);
            var up = m.Up.AsSpan(0, rows * h);
            MatMul.MultiplyShared(input, rows, experts.Gate[c], gate, experts.Up[c], up);
            Activate(gate, up, rows);
            routed?.Invoke(c, LinearInputGroup.MlpHidden, gate, rows, h);
            if (only != null) continue; // a statistics pass: the expert outputs are not needed
            var y = m.Y.AsSpan(0, rows * dim);
            MatMul.Multiply(gate, rows, experts.Down[c], y);
            for (int r = 0; r < rows; r++) y.Slice(r * dim, dim).CopyTo(outRows.Slice(m.Slot[r] * dim, dim));
        }
    }

    /// <summary>
    /// One token's k routed experts (decode): their gate and up projections as one batch (one int8 quantization
    /// of the token, one parallel call), the activations, then their down projections as another, into
    /// <paramref name="outRows"/>[j] for the j-th choice. The same arithmetic per expert as the per-expert loop, so the
    /// same bits; the batching only saves starting and joining the workers 3k − 2 times per layer.
    /// </summary>
    private void DecodeExperts(ReadOnlySpan<float> token, ExpertWeights experts, MoeScratch m, Span<float> outRows)
    {
        int k = _hp.ExpertsPerToken, h = _hp.ExpertHiddenDim, dim = _hp.Dim;
        var views = m.Views;
        for (int j = 0; j < k; j++)
        {
            views[2 * j] = experts.Gate[m.Choice[j]];
            views[2 * j + 1] = experts.Up[m.Choice[j]];
        }
        var hidden = m.Hidden.AsSpan(0, 2 * k * h); // [gate_j | up_j] per choice
        MatMul.MultiplyBatch(token, 0, 1, views.AsSpan(0, 2 * k), hidden, h);
        for (int j = 0; j < k; j++)
        {
            Activate(hidden.Slice(2 * j * h, h), hidden.Slice((2 * j + 1) * h, h), 1);
            views[j] = experts.Down[m.Choice[j]];
        }
        MatMul.MultiplyBatch(hidden, 2 * h, 1, views.AsSpan(0, k), outRows, dim);
    }

    /// <summary>Receives the input rows of one expert's linears: <paramref name="group"/> MlpInput (gate/up) or MlpHidden (down).</summary>
    public delegate void ExpertObserver(int expert, LinearInputGroup group, ReadOnlySpan<float> rows, int count, int width);

    private MoeScratch? _moe;

    /// <summary>Buffers of the mixture-of-experts step, grown on demand and reused (one forward at a time per instance).</summary>
    private sealed class MoeScratch
    {
        public float[] Logits = [], In = [], Gate = [], Up = [], Y = [], Out = [], Acc = [], Weight = [];
        public int[] Choice = [], Slot = [], Counts = [];
        public float[] Hidden = [];
        public Core.Tensors.TensorView[] Views = [];

        public void Ensure(int n, int dim, int experts, int k, int hidden)
        {
            static void Grow<T>(ref T[] a, long size) { if (a.Length < size) a = new T[size]; }
            Grow(ref Logits, (long)n * experts);
            Grow(ref In, (long)n * k * dim);
            Grow(ref Gate, (long)n * k * hidden);
            Grow(ref Up, (long)n * k * hidden);
            Grow(ref Y, (long)n * k * dim);
            Grow(ref Out, (long)n * k * dim);
            Grow(ref Acc, dim);
            Grow(ref Weight, n * k);
            Grow(ref Choice, n * k);
            Grow(ref Slot, n * k);
            Grow(ref Counts, experts);
            Grow(ref Hidden, 2L * k * hidden);
            Grow(ref Views, 2 * k);
        }
    }

    private void ProjectAndAdd(ReadOnlySpan<float> input, int n, TensorView w, float[]? postNorm, Span<float> scratch, Span<float> x)
    {
        int dim = _hp.Dim;
        var y = scratch[..(n * dim)];
        MatMul.Multiply(input, n, w, y);
        if (postNorm != null) LlamaLayerOps.RmsNormRows(y, postNorm, _hp.RmsNormEps, y, n, dim);
        AddResidual(x[..(n * dim)], y, n);
    }

    /// <summary><paramref name="x"/> += <paramref name="y"/>; a prefill batch split over the worker pool by rows (additions are exact per element, so any split gives the same bits).</summary>
    private unsafe void AddResidual(Span<float> x, ReadOnlySpan<float> y, int n)
    {
        int chunks = RowChunks.Count(n);
        if (chunks == 1)
        {
            VectorOps.Add(x, y, x);
            return;
        }
        int dim = x.Length / n;
        fixed (float* px = x, py = y)
        {
            float* xs = px, ys = py;
            WorkerPool.Run(chunks, KernelOptions.EffectiveThreads, c =>
            {
                var (r0, r1) = RowChunks.Range(c, chunks, n);
                var xr = new Span<float>(xs + (nint)r0 * dim, (r1 - r0) * dim);
                VectorOps.Add(xr, new ReadOnlySpan<float>(ys + (nint)r0 * dim, (r1 - r0) * dim), xr);
            });
        }
    }

    // transformers' gelu_pytorch_tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), times up.
    private static void GeluTanhMul(Span<float> gate, ReadOnlySpan<float> up)
    {
        const float c = 0.7978845608028654f; // √(2/π)
        for (int i = 0; i < gate.Length; i++)
        {
            float x = gate[i];
            gate[i] = 0.5f * x * (1f + MathF.Tanh(c * (x + 0.044715f * x * x * x))) * up[i];
        }
    }

    private static void AddRows(Span<float> rows, ReadOnlySpan<float> bias, int n)
    {
        int width = bias.Length;
        for (int t = 0; t < n; t++)
        {
            var r = rows.Slice(t * width, width);
            VectorOps.Add(r, bias, r);
        }
    }
}
