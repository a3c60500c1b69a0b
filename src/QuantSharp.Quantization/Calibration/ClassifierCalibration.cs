// The classifier (output.weight, or the token embedding it is tied to) rounded with calibration: GPTQ or importance-weighted.
using QuantSharp.Core.Tensors;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.BlockFormats;
using QuantSharp.Quantization.Gptq;
using QuantSharp.Quantization.Streaming;

namespace QuantSharp.Quantization.Calibration;

/// <summary>
/// Quantizes the model's classifier with statistics of its inputs — the final-normed hidden states of the
/// full-precision model on the calibration set — instead of plain round-to-nearest. llama-imatrix collects nothing for
/// it by default (and never for a tied embedding, which llama.cpp's graph reads as token_embd.weight), yet on a small
/// model the classifier is the largest single source of the quantized model's KL divergence: on sotu-llama-30m pure
/// Q3_K, raising the tied embedding alone to Q8_0 halves it (docs/gptq.md). With <see cref="MixRounding.Gptq"/> the rows
/// are rounded by GPTQ's error feedback into the planned type (rows are independent given H, so they go in slices of
/// <see cref="SliceRows"/>, no more weights than the largest decoder linear, to stay within the layer-streaming run's
/// memory); with <see cref="MixRounding.Importance"/> by ggml's quantizer weighted
/// by the mean squares (what llama-imatrix --process-output gives an untied classifier). A tied embedding keeps one
/// tensor: the rounding chosen for the classifier is also what the token lookup reads.
/// </summary>
public static class ClassifierCalibration
{
    /// <summary>
    /// Classifier rows quantized per GPTQ call (each call factorises its own copy of H): as many as hold the weights of the
    /// model's largest decoder linear, at least one. GPTQ's working copies of a slice (its weights in double, the rounded
    /// values in double, the dequantized floats: 24 bytes a weight, with the fp32 slice 28) are then no larger than a
    /// layer's, so the classifier does not raise the run's peak: on sotu-llama-30m one slice of all 8192 rows took 104 MiB
    /// more anonymous memory than the layers ever did (docs/gptq.md). The bytes do not depend on the slicing: every row is
    /// rounded from its own weights and H alone.
    /// </summary>
    public static int SliceRows(LlamaModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        long most = 1;
        foreach (var l in model.Layers)
            foreach (var linear in LlamaLinearExtensions.All)
            {
                var t = l.Experts is { } ex && linear is LlamaLinear.Gate or LlamaLinear.Up or LlamaLinear.Down ? ex.For(linear).Item2[0] : l.Weight(linear);
                most = Math.Max(most, t.Rows * t.Columns);
            }
        return (int)Math.Clamp(most / Math.Max(1, model.Output.Columns), 1, int.MaxValue);
    }

    /// <summary>The GGUF name of the classifier: output.weight, or token_embd.weight when tied.</summary>
    public static string TensorName(LlamaModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Output.Name == model.TokenEmbedding.Name ? LlamaGgufNames.TokenEmbedding : LlamaGgufNames.Output;
    }

    /// <summary>
    /// Runs the full-precision <paramref name="model"/> over <paramref name="calibration"/> and accumulates the classifier's
    /// inputs, the final-normed hidden states (Σ x xᵀ when <paramref name="hessian"/>, and Σ x² per column); the classifier
    /// itself is not multiplied (<see cref="InferenceSession.ForwardHidden"/>).
    /// </summary>
    /// <param name="model">The full-precision model the statistics come from.</param>
    /// <param name="calibration">The calibration segments.</param>
    /// <param name="hessian">Whether to accumulate Σ x xᵀ (GPTQ) or only Σ x².</param>
    /// <param name="cancellationToken">Checked between segments.</param>
    /// <param name="rotateRows">For a classifier of a rotated model (final norm folded into it, R1 applied): the rows are
    /// taken RMS-normalised without the final norm's weights and rotated in place by this (rows, count) before they are
    /// accumulated, so that the statistics are those of the rotated classifier's inputs.</param>
    /// <param name="sampleMemory">Called once with the forward's buffers live (after the last segment), for a run that
    /// measures its peak memory; null: not called.</param>
    public static LinearInputStatistics Collect(LlamaModel model, CalibrationSet calibration, bool hessian, CancellationToken cancellationToken = default,
        Action<float[], int>? rotateRows = null, Action? sampleMemory = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(calibration);
        int dim = model.Parameters.Dim;
        var stats = new LinearInputStatistics(dim, hessian);
        int n = calibration.MaxLength;
        var session = new InferenceSession(model, n, maxBatch: Math.Min(n, 512));
        var hidden = new float[(long)n * dim];
        foreach (var sequence in calibration.Sequences)
        {
            cancellationToken.ThrowIfCancellationRequested();
            session.Reset();
            session.ForwardHidden(sequence, hidden, finalNormWeights: rotateRows is null);
            rotateRows?.Invoke(hidden, sequence.Length);
            stats.Add(hidden.AsSpan(0, sequence.Length * dim), sequence.Length);
        }
        sampleMemory?.Invoke();
        // The session (KV cache, scratch) and the hidden states are what the sample measures: live until here.
        GC.KeepAlive(session);
        GC.KeepAlive(hidden);
        stats.ReleaseScratch();
        return stats;
    }

    /// <summary>
    /// The classifier encoded as <paramref name="type"/>: GPTQ rows when <paramref name="rounding"/> is
    /// <see cref="MixRounding.Gptq"/> and GPTQ has the type's grid, else ggml's quantizer weighted by the mean squares
    /// (<see cref="MixRounding.Importance"/>, or GPTQ's fallback); null for a float type or plain round-to-nearest (the
    /// exporter's own encoding then applies).
    /// </summary>
    /// <param name="model">The model whose classifier is encoded.</param>
    /// <param name="type">The classifier's planned type.</param>
    /// <param name="statistics">Its inputs' statistics (<see cref="Collect"/>).</param>
    /// <param name="rounding">GPTQ, importance-weighted, or round-to-nearest (null returned).</param>
    /// <param name="damping">GPTQ's dampening.</param>
    /// <param name="warn">Receives GPTQ's warnings.</param>
    /// <param name="sampleMemory">Called after each slice of rows with its buffers live, for a run that measures its
    /// peak memory; null: not called.</param>
    public static byte[]? Encode(LlamaModel model, GgmlType type, LinearInputStatistics statistics, MixRounding rounding, double damping = 0.01,
        Action<string>? warn = null, Action? sampleMemory = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(statistics);
        if (rounding == MixRounding.RoundToNearest || GgmlTypeInfo.Of(type).CoreType is not { } dtype || !GgmlTypeInfo.Of(type).IsBlockQuantized) return null;
        string name = TensorName(model);
        var view = model.Output;
        int rows = checked((int)view.Rows), cols = checked((int)view.Columns);
        if (statistics.Columns != cols || statistics.Count == 0)
            throw new InvalidOperationException($"{name}: statistics of {statistics.Columns} columns over {statistics.Count} tokens for a classifier of {cols} columns");
        long rowBytes = GgmlTypeInfo.Of(type).RowByteSize(cols);
        var data = new byte[checked(rowBytes * rows)];
        bool gptq = rounding == MixRounding.Gptq && GptqBlockQuantizer.Supports(dtype);
        double[]? h = gptq ? statistics.Hessian() : null;
        float[]? importance = null;
        if (!gptq)
        {
            var ms = statistics.MeanSquares();
            importance = new float[cols];
            for (int c = 0; c < cols; c++) importance[c] = (float)ms[c];
        }
        int sliceRows = SliceRows(model);
        var slice = new float[(long)Math.Min(rows, sliceRows) * cols];
        for (int r0 = 0; r0 < rows; r0 += sliceRows)
        {
            int n = Math.Min(sliceRows, rows - r0);
            var w = slice.AsSpan(0, n * cols);
            for (int r = 0; r < n; r++) FloatConversion.ToFloat32(view.DType, view.RowBytes(r0 + r), w.Slice(r * cols, cols));
            var dst = data.AsSpan(checked((int)(r0 * rowBytes)), checked((int)(n * rowBytes)));
            if (gptq)
            {
                // QuantizeInPlace factorises its Hessian in place: each slice gets a copy.
                var result = GptqBlockQuantizer.QuantizeInPlace(w, n, cols, (double[])h!.Clone(), new GptqBlockOptions { Type = dtype, Damping = damping },
                    warn is null ? null : m => warn($"{name}: {m}"));
                result.Data.CopyTo(dst);
            }
            else BlockQuantizer.QuantizeRows(dtype, w, cols, dst, importance, $"tensor '{name}'");
            sampleMemory?.Invoke();
        }
        GC.KeepAlive(slice);
        GC.KeepAlive(h);
        return data;
    }
}
