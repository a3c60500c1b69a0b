// AWQ (activation-aware weight quantization) as a layer transform: scale search per linear group, folding, clipping.
using System.Globalization;
using QuantSharp.Core.Tensors;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Streaming;
using QuantSharp.Quantization.Transforms;

namespace QuantSharp.Quantization.Awq;

/// <summary>
/// AWQ on one decoder layer, as AutoAWQ does it:
/// <list type="number">
/// <item>reference: the original layer on its calibration inputs — the attention module's output (o_proj's), o_proj's
/// input, the MLP's output and down_proj's input;</item>
/// <item>for each group of linears sharing an input — q/k/v after the attention norm (error measured on the attention
/// output), v→o when v_proj and o_proj have the same shape (no grouped-query attention: AutoAWQ's rule), gate/up after
/// the MLP norm (error on the MLP output), up→down — scales s(α) from the input's mean |x| (<see cref="AwqScaling.Scales"/>)
/// for α on a grid; each candidate rounds W·diag(s) with the target grid, divides by s and runs the module; the α of
/// least mean squared error wins (α = 0 is plain rounding, so AWQ never loses to it on this objective). All searches use
/// the original weights and inputs;</item>
/// <item>the chosen scales are folded: 1/s into the norm's γ (or the previous linear's rows and bias), s into the
/// linears' columns — the full-precision function is unchanged up to float rounding;</item>
/// <item>clipping (optional): <see cref="AwqClipping"/> on every linear but q/k (their errors pass through the q·k
/// product, which a per-linear objective does not see — AutoAWQ skips them too), with the inputs divided by the scales.</item>
/// </list>
/// The rounding itself is left to the run's quantizer (RTN or GPTQ), which then sees the transformed weights.
/// Memory: the calibration tokens are streamed in the run's chunks — the original layer's values go to per-token storage
/// (<see cref="LayerCalibrationValues"/>, a temporary file by default) and every candidate reads them back chunk by chunk —
/// so the heap holds chunk-sized buffers and one layer's weight-sized scratch, not per-token buffers (docs/awq.md).
/// Deterministic: the forward, the grid and every reduction have a fixed order for any thread count and chunk size.
/// </summary>
public sealed class AwqLayerTransform : ILayerTransform
{
    private readonly ILinearQuantizer _grid;
    private readonly int _groupSize;

    /// <summary>Creates the transform.</summary>
    /// <param name="options">Grid, scaling formula, clipping.</param>
    /// <param name="grid">
    /// Rounds candidates onto the target grid; must need no statistics (the run quantizer's <see cref="ILinearQuantizer.WithoutData"/>:
    /// RTN on GPTQ's grid, or the GGUF block type).
    /// </param>
    /// <param name="groupSize">Columns per scale of the target grid (the clipping group; 0 or a non-divisor: whole rows).</param>
    public AwqLayerTransform(AwqOptions options, ILinearQuantizer grid, int groupSize)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(grid);
        options.Validate();
        if (grid.Needs != StatisticsNeeds.None)
            throw new ArgumentException($"AWQ rounds its candidates with a grid that needs no statistics; the {grid.Name} quantizer needs {grid.Needs}");
        Options = options;
        _grid = grid;
        _groupSize = groupSize;
    }

    /// <summary>The settings.</summary>
    public AwqOptions Options { get; }

    /// <inheritdoc/>
    public string Name => "awq";

    /// <inheritdoc/>
    public bool NeedsCalibration => true;

    /// <inheritdoc/>
    public void ThrowIfUnsupported(LlamaModel model)
    {
        if (model.Parameters.ExpertCount > 0)
            throw new NotSupportedException($"{model.Origin}: AWQ on a mixture of experts ({model.Parameters.Architecture.Name}) is not implemented");
    }

    /// <inheritdoc/>
    public void Apply(LayerTransformContext context)
    {
        var t = context.Tensors;
        var f = context.Calibration ?? throw new InvalidOperationException($"layer {context.Layer}: AWQ needs calibration data (--calib FILE)");
        if (t.Router != null) throw new NotSupportedException($"layer {context.Layer}: AWQ on a mixture of experts is not implemented");
        var hp = context.Parameters;
        var ct = context.CancellationToken;
        int dim = hp.Dim;
        using var pinned = new PinnedLayerWeights(t);
        var w = pinned.Weights;

        // 1. The original layer over every chunk of tokens: the searched groups' inputs and the modules' reference outputs
        // go to per-token storage (a temporary file by default), the inputs' mean |x| is summed on the way. Only chunk-sized
        // buffers are on the heap — five, each reused as soon as its value is stored — and each candidate below reads the
        // values back chunk by chunk.
        using var sXnA = f.CreateValues(dim);
        using var sAttn = f.CreateValues(hp.QDim);
        using var sYAttn = f.CreateValues(dim);
        using var sXnM = f.CreateValues(dim);
        using var sHidden = f.CreateValues(hp.HiddenDim);
        using var sYMlp = f.CreateValues(dim);
        var dA = f.Buffer(dim);               // the residual stream; then every candidate's output
        var dB = f.Buffer(dim);               // the attention norm's output, then the MLP norm's (q/k/v's, gate/up's input)
        var dC = f.Buffer(dim);               // the reference outputs (attention module's, MLP's)
        var attn = f.Buffer(hp.QDim);         // o_proj's input (v→o's input; q/k/v candidates' attention)
        var hidden = f.Buffer(hp.HiddenDim);  // down_proj's input (up→down's input; gate/up candidates' hidden)
        var meanXnA = new double[dim];
        var meanAttn = new double[hp.QDim];
        var meanXnM = new double[dim];
        var meanHidden = new double[hp.HiddenDim];
        foreach (var c in f.Chunks)
        {
            ct.ThrowIfCancellationRequested();
            int n = c.Tokens;
            f.ReadInput(c, dA);
            f.AttentionNorm(c, dA, w, dB);
            sXnA.Write(c, dB.AsSpan(0, n * dim));
            AwqScaling.AddAbsolute(dB, n, meanXnA);
            f.Attention(c, dB, w, w.Wq, w.Wk, w.Wv, attn);
            sAttn.Write(c, attn.AsSpan(0, n * hp.QDim));
            AwqScaling.AddAbsolute(attn, n, meanAttn);
            f.Project(c, attn, w.Wo, dC);
            sYAttn.Write(c, dC.AsSpan(0, n * dim));
            f.AttentionOutput(c, attn, w, w.Wo, dA);
            f.MlpNorm(c, dA, w, dB);
            sXnM.Write(c, dB.AsSpan(0, n * dim));
            AwqScaling.AddAbsolute(dB, n, meanXnM);
            f.MlpHidden(c, dB, w.WGate, w.WUp, hidden);
            sHidden.Write(c, hidden.AsSpan(0, n * hp.HiddenDim));
            AwqScaling.AddAbsolute(hidden, n, meanHidden);
            f.Project(c, hidden, w.WDown, dC);
            sYMlp.Write(c, dC.AsSpan(0, n * dim));
        }
        foreach (var mean in (double[][])[meanXnA, meanAttn, meanXnM, meanHidden])
            for (int j = 0; j < mean.Length; j++) mean[j] /= f.Tokens;

        // 2. Scale searches on the original weights, each group reading its input into its buffer above and the reference
        // into dC chunk by chunk; dA takes the candidate's output.
        var output = dA;
        var scratch = new AwqScratch();
        var notes = new List<string>();
        var qkv = Search(context, scratch, "q/k/v", meanXnA, [t.Q, t.K, t.V], [LlamaLinear.Q, LlamaLinear.K, LlamaLinear.V], sXnA, dB, sYAttn, dC, output, (c, v) =>
        {
            f.Attention(c, dB, w, v[0], v[1], v[2], attn);
            f.Project(c, attn, w.Wo, output);
        }, notes);
        // AutoAWQ scales v→o only when v_proj and o_proj have the same shape: with grouped-query attention one value
        // channel feeds several heads' o_proj columns, which would need one scale for all of them.
        bool vo = t.V.Rows == t.O.Rows && t.V.Cols == t.O.Cols;
        var voScales = vo ? Search(context, scratch, "v→o", meanAttn, [t.O], [LlamaLinear.O], sAttn, attn, sYAttn, dC, output, (c, v) => f.Project(c, attn, v[0], output), notes) : null;
        if (!vo) notes.Add($"v→o skipped (v_proj [{t.V.Rows}, {t.V.Cols}] ≠ o_proj [{t.O.Rows}, {t.O.Cols}])");
        var gateUp = Search(context, scratch, "gate/up", meanXnM, [t.Gate!, t.Up!], [LlamaLinear.Gate, LlamaLinear.Up], sXnM, dB, sYMlp, dC, output, (c, v) =>
        {
            f.MlpHidden(c, dB, v[0], v[1], hidden);
            f.Project(c, hidden, w.WDown, output);
        }, notes);
        var upDown = Search(context, scratch, "up→down", meanHidden, [t.Down!], [LlamaLinear.Down], sHidden, hidden, sYMlp, dC, output, (c, v) => f.Project(c, hidden, v[0], output), notes);

        // 3. Fold: 1/s into the producer, s into the readers.
        AwqScaling.Divide(t.AttentionNorm, qkv);
        AwqScaling.ScaleColumns([t.Q, t.K, t.V], qkv);
        if (voScales != null)
        {
            AwqScaling.DivideRows(t.V, voScales);
            if (t.Vectors.TryGetValue(Models.Architectures.TensorRole.VBias, out var vBias)) AwqScaling.Divide(vBias, voScales);
            AwqScaling.ScaleColumns([t.O], voScales);
        }
        AwqScaling.Divide(t.FfnNorm, gateUp);
        AwqScaling.ScaleColumns([t.Gate!, t.Up!], gateUp);
        AwqScaling.DivideRows(t.Up!, upDown);
        AwqScaling.ScaleColumns([t.Down!], upDown);

        // 4. Clipping, with each linear's input divided by its scales (what the scaled weights now read): the inputs' group
        // Gram matrices are summed chunk by chunk from the stored values, one linear's at a time.
        if (Options.Clip)
        {
            int clipped = 0, groups = 0;
            float[]? gram = null;
            void Clip(FloatMatrix m, LlamaLinear kind, LayerCalibrationValues input, float[] buffer, float[]? scales, bool sameInputAsBefore)
            {
                ct.ThrowIfCancellationRequested();
                int gs = _groupSize > 0 && m.Cols % _groupSize == 0 ? _groupSize : m.Cols;
                // up_proj reads what gate_proj reads (the MLP norm's output over the gate/up scales, same width): the same Gram.
                if (!sameInputAsBefore || gram == null)
                {
                    gram = null; // the previous linear's Gram is garbage before the next one is allocated
                    gram = new float[(long)m.Cols * gs];
                    foreach (var c in f.Chunks)
                    {
                        ct.ThrowIfCancellationRequested();
                        input.Read(c, buffer.AsSpan(0, c.Tokens * m.Cols));
                        if (scales != null) DivideColumns(buffer.AsSpan(0, c.Tokens * m.Cols), m.Cols, scales);
                        AwqClipping.AddGroupGram(buffer, c.Tokens, m.Cols, gs, gram);
                    }
                    AwqClipping.FinishGroupGram(gram, f.Tokens);
                }
                var clampedCopy = scratch.Rent(m.Values.Length);
                var rounded = scratch.Rent(m.Values.Length);
                var maxima = AwqClipping.SearchMaxima(m, gram, gs, (v, q) => RoundTrip(context.Layer, kind, m, v, q), Options.ClipGrid, Options.MaxShrink,
                    clampedCopy, rounded);
                scratch.Return(clampedCopy);
                scratch.Return(rounded);
                int g = m.Cols / gs;
                for (int r = 0; r < m.Rows; r++)
                    for (int k = 0; k < g; k++)
                    {
                        float org = 0;
                        foreach (float v in m.Row(r).Slice(k * gs, gs)) org = Math.Max(org, Math.Abs(v));
                        if (maxima[r * g + k] < org) clipped++;
                    }
                groups += m.Rows * g;
                AwqClipping.Apply(m, maxima, gs);
            }
            Clip(t.V, LlamaLinear.V, sXnA, dB, qkv, false);
            Clip(t.O, LlamaLinear.O, sAttn, attn, voScales, false);
            Clip(t.Gate!, LlamaLinear.Gate, sXnM, dB, gateUp, false);
            Clip(t.Up!, LlamaLinear.Up, sXnM, dB, gateUp, true);
            Clip(t.Down!, LlamaLinear.Down, sHidden, hidden, upDown, false);
            notes.Add($"clipped {clipped} of {groups} (row, group) ranges of v/o/gate/up/down");
        }
        context.Log?.Invoke($"layer {context.Layer} awq: {string.Join("; ", notes)}");
    }

    // The α of least output error for one group; returns its scales and notes α and the errors. The error of a candidate
    // is summed over the chunks in token order onto one double, as over all tokens at once: the chunking changes no bit.
    private float[] Search(LayerTransformContext context, AwqScratch scratch, string what, double[] xMean, FloatMatrix[] linears, LlamaLinear[] kinds,
        LayerCalibrationValues inputs, float[] input, LayerCalibrationValues references, float[] reference, float[] output,
        Action<CalibrationChunk, TensorView[]> module, List<string> notes)
    {
        var f = context.Calibration!;
        int cols = linears[0].Cols, width = references.Width;
        var wMean = Options.DuoScaling ? AwqScaling.NormalizedWeightMean(linears, _groupSize) : null;
        var scales = new float[cols];
        if (Options.FixedAlpha is { } fixedAlpha)
        {
            AwqScaling.Scales(xMean, wMean, fixedAlpha, scales);
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"{what} α {fixedAlpha:0.00} (fixed)"));
            return scales;
        }
        float[]? best = null;
        double bestErr = double.PositiveInfinity, firstErr = double.NaN;
        int bestI = -1;
        // One scaled copy and one rounded candidate per linear for the whole grid, from the layer's shared scratch: a
        // candidate is garbage the moment its error is known, and per-α arrays (weight-sized, on the large-object heap)
        // piled up faster than the collector returned them — AWQ's peak was 6–7× the other methods'.
        var scaledCopies = new float[linears.Length][];
        var pins = new PinnedMatrix[linears.Length];
        var views = new TensorView[linears.Length];
        // With one chunk the group's input and reference stay in the buffers for the whole grid (nothing to re-read).
        bool oneChunk = f.Chunks.Count == 1;
        if (oneChunk)
        {
            int n = f.Chunks[0].Tokens;
            inputs.Read(f.Chunks[0], input.AsSpan(0, n * inputs.Width));
            references.Read(f.Chunks[0], reference.AsSpan(0, n * width));
        }
        try
        {
            for (int k = 0; k < linears.Length; k++)
            {
                scaledCopies[k] = scratch.Rent(linears[k].Values.Length);
                pins[k] = new PinnedMatrix(linears[k].Name, scratch.Rent(linears[k].Values.Length), linears[k].Rows, linears[k].Cols, pinInPlace: true);
                views[k] = pins[k].View;
            }
            for (int i = 0; i < Options.Grid; i++)
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                double alpha = (double)i / Options.Grid;
                AwqScaling.Scales(xMean, wMean, alpha, scales);
                for (int k = 0; k < linears.Length; k++)
                {
                    var m = linears[k];
                    var scaled = scaledCopies[k];
                    m.Values.CopyTo(scaled, 0);
                    AwqScaling.ScaleColumns([m with { Values = scaled }], scales);
                    var q = pins[k].Data;
                    RoundTrip(context.Layer, kinds[k], m, scaled, q);
                    DivideColumns(q, m.Cols, scales);
                }
                double sum = 0;
                foreach (var c in f.Chunks)
                {
                    context.CancellationToken.ThrowIfCancellationRequested();
                    int n = c.Tokens;
                    if (!oneChunk)
                    {
                        inputs.Read(c, input.AsSpan(0, n * inputs.Width));
                        references.Read(c, reference.AsSpan(0, n * width));
                    }
                    module(c, views);
                    sum = AwqScaling.AddSquaredError(reference.AsSpan(0, n * width), output.AsSpan(0, n * width), sum);
                }
                double err = sum / ((double)f.Tokens * width);
                if (i == 0) firstErr = err;
                if (err < bestErr)
                {
                    bestErr = err;
                    bestI = i;
                    best = (float[])scales.Clone();
                }
            }
        }
        finally
        {
            foreach (var p in pins)
                if (p != null)
                {
                    p.Dispose();
                    scratch.Return(p.Data);
                }
            foreach (var a in scaledCopies)
                if (a != null) scratch.Return(a);
        }
        if (best == null) throw new InvalidDataException($"layer {context.Layer} {what}: every AWQ candidate gave a non-finite output error");
        notes.Add(string.Create(CultureInfo.InvariantCulture, $"{what} α {(double)bestI / Options.Grid:0.00} (mse {bestErr:E3}, α=0 {firstErr:E3})"));
        return best;
    }

    // The target grid's rounding of a [rows, cols] matrix (values: the candidate, not kept) into dequantized.
    private void RoundTrip(int layer, LlamaLinear kind, FloatMatrix like, float[] values, float[] dequantized) => _grid.RoundTrip(new LinearQuantizationInput
    {
        Layer = layer, Kind = kind, Name = like.Name, Rows = like.Rows, Cols = like.Cols, Weight = values,
    }, dequantized);

    private static void DivideColumns(Span<float> x, int width, ReadOnlySpan<float> scales)
    {
        for (int r = 0, rows = x.Length / width; r < rows; r++)
        {
            var row = x.Slice(r * width, width);
            for (int j = 0; j < width; j++) row[j] /= scales[j];
        }
    }
}
