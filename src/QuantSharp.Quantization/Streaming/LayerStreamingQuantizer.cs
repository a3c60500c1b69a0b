// Quantizes a Llama model one decoder layer at a time, running the calibration hidden states through each layer.
using System.Diagnostics;
using QuantSharp.Core.Kernels;
using QuantSharp.Core.Tensors;
using QuantSharp.Models;
using QuantSharp.Models.Architectures;
using QuantSharp.Models.Llama;
using QuantSharp.Quantization.Calibration;
using QuantSharp.Quantization.Reporting;
using QuantSharp.Quantization.Transforms;

namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// The layer-streaming runner of data-aware quantization. For each decoder layer in turn it reads
/// that layer's weights from the (memory-mapped) model, runs the calibration hidden states through
/// it while collecting statistics of every linear layer's inputs, quantizes the linear layers with
/// the pluggable <see cref="ILinearQuantizer"/>, and yields the quantized layer for the caller to
/// write before the next layer starts. Memory holds one layer (its fp32 weights and their
/// quantized replacements, one Hessian at a time), one chunk of calibration sequences and — with
/// <see cref="ActivationStorage.Memory"/> — the hidden states; never the whole model.
/// <para>Sequential mode (default, GPTQ's): inside a layer the order is AutoGPTQ's true_sequential —
/// q, k, v share their input and are quantized together; then the attention output is recomputed
/// with the quantized q/k/v before o_proj's statistics are collected; then gate/up from the
/// residual stream after the quantized o_proj; then down_proj from silu(gate)·up of the quantized
/// gate/up. The layer's output, computed with all its quantized weights, is the next layer's input.
/// With <see cref="LayerStreamingOptions.OriginalActivations"/> every statistic comes from one
/// forward of the original layer and the next layer receives the original layer's output.</para>
/// <para>Each calibration sequence is evaluated on its own from position 0 (causal attention inside
/// it), with the inference session's RMSNorm and RoPE code. Deterministic for any thread count.</para>
/// </summary>
public sealed class LayerStreamingQuantizer
{
    private readonly LlamaModel _model;
    private readonly LlamaHyperParameters _hp;
    private readonly ILinearQuantizer _quantizer;
    private readonly CalibrationSet? _calibration;
    private readonly LayerStreamingOptions _options;
    private readonly List<(int First, int Count, int Tokens)> _chunks = [];
    private int _progressDone, _progressTotal;

    /// <summary>Prepares a run; nothing is computed until <see cref="Run"/> is enumerated.</summary>
    /// <param name="model">The model (its weights stay mapped; layers are read one at a time).</param>
    /// <param name="quantizer">Quantizes each linear layer.</param>
    /// <param name="calibration">Calibration sequences; null when the quantizer needs no statistics.</param>
    /// <param name="options">Mode, storage, chunking, progress.</param>
    public LayerStreamingQuantizer(LlamaModel model, ILinearQuantizer quantizer, CalibrationSet? calibration, LayerStreamingOptions? options = null)
    {
        _model = model;
        _hp = model.Parameters;
        _quantizer = quantizer;
        _calibration = calibration;
        _options = options ?? new LayerStreamingOptions();
        if (_options.ChunkTokens < 1) throw new ArgumentOutOfRangeException(nameof(options), "chunk size must be positive");
        if (calibration == null && quantizer.Needs != StatisticsNeeds.None)
            throw new ArgumentException($"the {quantizer.Name} quantizer with these settings needs calibration data (--calib)");
        // A model whose decoder layers a transform has yet to rotate (LayerwiseRotation.Open) is quantized only with that
        // transform first: without it the layers would be read unrotated under a rotated embedding.
        if (LayerwiseRotation.PendingLayerTransform(model) is { } pending && (_options.Transforms.Count == 0 || _options.Transforms[0] != pending))
            throw new ArgumentException($"{model.Origin}: the model's decoder layers are rotated by its rotation's layer transform, which must be the run's first transform (LayerStreamingOptions.Transforms)", nameof(options));
        foreach (var t in _options.Transforms)
        {
            if (calibration == null && t.NeedsCalibration)
                throw new ArgumentException($"the {t.Name} transform needs calibration data (--calib)");
            t.ThrowIfUnsupported(model);
        }
        if (calibration != null)
        {
            if (calibration.MaxLength > _hp.ContextLength)
                throw new ArgumentException($"calibration sequences of {calibration.MaxLength} tokens exceed the model's context of {_hp.ContextLength}");
            foreach (var s in calibration.Sequences)
                foreach (int t in s)
                    if ((uint)t >= (uint)_hp.VocabSize) throw new ArgumentException($"calibration token id {t} is outside the vocabulary [0, {_hp.VocabSize})");
            int cap = Math.Max(_options.ChunkTokens, calibration.MaxLength);
            var seqs = calibration.Sequences;
            int first = 0, tokens = 0;
            for (int i = 0; i < seqs.Count; i++)
            {
                if (tokens + seqs[i].Length > cap) { _chunks.Add((first, i - first, tokens)); first = i; tokens = 0; }
                tokens += seqs[i].Length;
            }
            _chunks.Add((first, seqs.Count - first, tokens));
        }
        Report.CalibrationTokens = calibration?.TotalTokens ?? 0;
        Report.ActivationBytes = Report.CalibrationTokens * _hp.Dim * sizeof(float);
        long p = (long)_hp.VocabSize * _hp.Dim * (_hp.TiedEmbeddings ? 1 : 2) + _hp.Dim;
        long mlp = _hp.ExpertCount > 0 ? _hp.ExpertCount * (3L * _hp.ExpertHiddenDim * _hp.Dim + _hp.Dim) : 3L * _hp.HiddenDim * _hp.Dim;
        p += (long)_hp.NumLayers * (2L * _hp.Dim + 2L * _hp.QDim * _hp.Dim + 2L * _hp.KvDim * _hp.Dim + mlp);
        Report.ModelFp32Bytes = p * sizeof(float);
    }

    /// <summary>Timings and memory of the run so far.</summary>
    public StreamingRunReport Report { get; } = new();

    private bool Sequential => !_options.OriginalActivations;

    /// <summary>
    /// Quantizes the layers in order, yielding each as soon as it is done; the temporary activation
    /// storage is released when the enumeration ends or is disposed (also on cancellation).
    /// </summary>
    public IEnumerable<QuantizedDecoderLayer> Run(CancellationToken cancellationToken = default) => new LayerSequence(this, cancellationToken);

    // Sets up the run (statistics, activation stores, embedding) before the first layer.
    private (ActivationStore? Store, ChunkBuffers? Buffers, ActivationStore? Hidden) Start(CancellationToken cancellationToken)
    {
        _progressTotal = 0;
        for (int l = 0; l < _hp.NumLayers; l++) _progressTotal += StepsOf(l);
        _progressDone = 0;
        _options.Progress?.Report((0, _progressTotal));
        // Unless a stage before the first layer started it (BeginMemoryMeasurement).
        if (_options.MeasurePeakMemory && !Report.MemoryMeasured) StartMemoryMeasurement();
        if (_calibration == null) return (null, null, null);
        var sw = Stopwatch.StartNew();
        var store = ActivationStore.Create(_options.Storage, _calibration.Sequences, _hp.Dim, _options.TemporaryDirectory);
        ActivationStore? hidden = null;
        try
        {
            var buffers = new ChunkBuffers(_hp, _chunks.Max(c => c.Tokens), _calibration.MaxLength);
            Embed(store, buffers, cancellationToken);
            // Sequential mode keeps a dense MLP's hidden activations silu(gate)·up of the quantized gate/up from down_proj's
            // statistics pass for the pass that computes the layer output, instead of recomputing gate and up there (two of
            // the three MLP products, the same bits). Only on disk: one file for the run, reused by every layer (a fresh
            // file per layer costs ~6× as much per byte written); in memory it would be hidden/dim times the activations.
            // It is ffn/dim (3-4×) the size of the activation file, so it is only made where it leaves the temporary
            // directory's file system at least half free: otherwise the run recomputes, as before (the same bits).
            if (Sequential && _options.Storage == ActivationStorage.Disk && _model.Layers.Any(layer => layer.Experts == null)
                && HiddenFileFits(_calibration.Sequences.Sum(s => (long)s.Length) * _hp.HiddenDim * sizeof(float), _options.TemporaryDirectory))
                hidden = ActivationStore.Create(ActivationStorage.Disk, _calibration.Sequences, _hp.HiddenDim, _options.TemporaryDirectory);
            Report.Embedding += sw.Elapsed;
            return (store, buffers, hidden);
        }
        catch
        {
            hidden?.Dispose();
            store.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The run as a sequence. Not a C# iterator: an iterator keeps the layer it yielded last in its
    /// Current until the next yield, so the previous layer's results (levels and weights, tens of MB)
    /// would stay alive while the next layer is computed; this enumerator lets go of it first.
    /// </summary>
    private sealed class LayerSequence(LayerStreamingQuantizer owner, CancellationToken ct) : IEnumerable<QuantizedDecoderLayer>
    {
        public IEnumerator<QuantizedDecoderLayer> GetEnumerator() => new LayerRun(owner, ct);

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>
    /// Whether a <paramref name="bytes"/>-byte file of MLP hidden activations fits in the temporary directory with at least as
    /// much space left free. False where the free space cannot be read: the file is an optimisation, never required.
    /// </summary>
    internal static bool HiddenFileFits(long bytes, string? directory)
    {
        try
        {
            long free = new DriveInfo(Path.GetFullPath(directory ?? Path.GetTempPath())).AvailableFreeSpace;
            return bytes <= free / 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return false;
        }
    }

    private sealed class LayerRun(LayerStreamingQuantizer owner, CancellationToken ct) : IEnumerator<QuantizedDecoderLayer>
    {
        private ActivationStore? _store, _hidden;
        private ChunkBuffers? _buffers;
        private int _next = -1; // -1: not started; NumLayers: done
        private QuantizedDecoderLayer? _current;

        public QuantizedDecoderLayer Current => _current ?? throw new InvalidOperationException("the enumeration has not started or has ended");

        object System.Collections.IEnumerator.Current => Current;

        public bool MoveNext()
        {
            _current = null; // let the previous layer go before computing the next
            long start = Stopwatch.GetTimestamp();
            try
            {
                if (_next < 0)
                {
                    (_store, _buffers, _hidden) = owner.Start(ct);
                    _next = 0;
                }
                if (_next >= owner._hp.NumLayers)
                {
                    Dispose();
                    return false;
                }
                ct.ThrowIfCancellationRequested();
                // One fstat per layer: a model file rewritten during a long run is named instead of crashing on SIGBUS.
                owner._model.Source.ThrowIfChanged();
                _current = owner.ProcessLayer(_next, _store, _buffers, _hidden, ct);
                _next++;
                return true;
            }
            catch
            {
                _next = owner._hp.NumLayers;
                Dispose();
                throw;
            }
            finally
            {
                owner.Report.Elapsed += Stopwatch.GetElapsedTime(start);
            }
        }

        public void Reset() => throw new NotSupportedException("a quantization run cannot be restarted; call Run again");

        public void Dispose()
        {
            _store?.Dispose();
            _store = null;
            _hidden?.Dispose();
            _hidden = null;
            _buffers = null;
        }
    }

    private void Embed(ActivationStore store, ChunkBuffers b, CancellationToken ct)
    {
        var emb = _model.TokenEmbedding;
        int dim = _hp.Dim;
        var seqs = _calibration!.Sequences;
        for (int s = 0; s < seqs.Count; s++)
        {
            ct.ThrowIfCancellationRequested();
            var x = b.X.AsSpan(0, seqs[s].Length * dim);
            for (int i = 0; i < seqs[s].Length; i++)
                FloatConversion.ToFloat32(emb.DType, emb.RowBytes(seqs[s][i]), x.Slice(i * dim, dim));
            b.Layer.ScaleEmbeddings(x);
            store.Write(s, x);
        }
    }

    // Progress steps of layer l: its calibration passes (one step per chunk) and its quantized linears.
    private int StepsOf(int l)
    {
        int transforms = _options.Transforms.Count;
        if (_model.Layers[l].Experts is not { } ex)
            return (_calibration == null ? 0 : Sequential ? 5 : 1) * _chunks.Count + LlamaLinearExtensions.All.Length + transforms;
        int batches = (ex.Count + ExpertsPerPass(ex) - 1) / ExpertsPerPass(ex);
        int passes = _calibration == null ? 0 : (Sequential ? 3 : 1) + batches * (Sequential ? 2 : 1) + 1;
        return passes * _chunks.Count + 4 + 3 * ex.Count + transforms;
    }

    // Experts whose statistics one pass collects: the budget over the largest per-expert statistics (a Hessian of
    // dim² or expert_hidden² doubles; mean squares are tiny), at least one.
    private int ExpertsPerPass(ExpertWeights ex)
    {
        if (_options.ExpertsPerPass is { } n) return Math.Clamp(n, 1, ex.Count);
        if (!CollectsHessians) return ex.Count;
        long width = Math.Max(_hp.Dim, _hp.ExpertHiddenDim);
        long perExpert = width * width * sizeof(double) * (Sequential ? 1 : 2);
        return (int)Math.Clamp(_options.ExpertStatisticsBudgetBytes / perExpert, 1, ex.Count);
    }

    private LinearInputGroup GroupOf(LlamaLinear k) => _hp.Architecture.InputOf(k);

    // The quantizer's need, or a report's: the output error of each linear is computed from its inputs' Σ x xᵀ.
    private bool CollectsHessians => _quantizer.Needs == StatisticsNeeds.Hessian || (_options.TensorQuantized != null && _calibration != null);

    // Only a run that measures its memory forces collections: they keep the heap at its live size so the peak means
    // something, at the cost of a blocking collection per pass and per linear.
    private void CollectForMeasurement(GCCollectionMode mode, bool compacting = true)
    {
        if (!_options.MeasurePeakMemory) return;
        long start = Stopwatch.GetTimestamp();
        Report.ForcedCollections++;
        GC.Collect(2, mode, blocking: true, compacting);
        Report.MeasurementCollections += Stopwatch.GetElapsedTime(start);
    }

    private void StartMemoryMeasurement()
    {
        Report.MemoryMeasured = true;
        // Start from live memory only (tokenizing the calibration text leaves much garbage), so the peak reflects the run;
        // this once the memory also goes back to the OS (an aggressive collection, ~50 ms).
        CollectForMeasurement(GCCollectionMode.Aggressive);
        MemoryProbe.ResetKernelPeak();
        Report.KernelPeakResets++;
        SampleMemory();
        Report.BaselineAnonymousBytes = Report.Memory.PeakAnonymousBytes;
        Report.BaselineManagedBytes = Report.Memory.PeakManagedBytes;
    }

    /// <summary>
    /// With <see cref="LayerStreamingOptions.MeasurePeakMemory"/>: starts the measurement now (baseline, Linux's peak-RSS
    /// counter restarted) instead of at the first layer, so that a stage the caller runs before the layers — the
    /// classifier's calibration forward and rounding — counts in <see cref="StreamingRunReport.Memory"/>'s peaks; sample it
    /// with <see cref="SampleMemoryNow"/>. Once per run; without the option, nothing. Its time counts in the runner's
    /// <see cref="StreamingRunReport.Elapsed"/> and <see cref="StreamingRunReport.MeasurementCollections"/>.
    /// </summary>
    public void BeginMemoryMeasurement()
    {
        if (!_options.MeasurePeakMemory || Report.MemoryMeasured) return;
        long start = Stopwatch.GetTimestamp();
        StartMemoryMeasurement();
        Report.Elapsed += Stopwatch.GetElapsedTime(start);
    }

    /// <summary>
    /// With <see cref="LayerStreamingOptions.MeasurePeakMemory"/> and the measurement started
    /// (<see cref="BeginMemoryMeasurement"/>): a forced collection, then a sample of the memory figures — what the run's
    /// own sample points do, for a stage outside the layers; the caller keeps its buffers alive across the call. Its time
    /// counts as the runner's (<see cref="StreamingRunReport.Elapsed"/>, <see cref="StreamingRunReport.MeasurementCollections"/>).
    /// </summary>
    public void SampleMemoryNow()
    {
        if (!_options.MeasurePeakMemory || !Report.MemoryMeasured) return;
        long start = Stopwatch.GetTimestamp();
        CollectForMeasurement(GCCollectionMode.Forced);
        SampleMemory();
        Report.Elapsed += Stopwatch.GetElapsedTime(start);
    }

    private void SampleMemory()
    {
        if (_options.MeasurePeakMemory) Report.Memory.Sample();
    }

    // A result in a GGUF float type (F32, F16, BF16): kept in a float type, not quantized.
    private static bool StoredAsFloat(QuantizedLinear r) => r.GgufType is { } t && DTypeInfo.IsFloat(t);

    // A report's record of one quantized linear (errors rounded as the log prints them).
    private static TensorQuantizationRecord Measure(int l, LlamaLinear k, int expert, string name, int rows, int cols, float[] original, double[]? gram,
        QuantizedLinear r, TimeSpan elapsed)
    {
        string type;
        double bits;
        if (r.GgufType is { } t && r.GgufBytes is { } bytes)
        {
            type = t.ToString();
            bits = 8.0 * bytes.Length / ((double)rows * cols);
        }
        else if (r.Grid is { } g)
        {
            // AutoGPTQ's tensors: packed levels, an fp16 scale and a packed zero point per (group, row), an int32 g_idx per column.
            type = g.GroupSize > 0 ? $"int{g.Bits} g{g.GroupSize}" : $"int{g.Bits} per-row";
            bits = g.Bits + (double)g.Groups * (16 + g.Bits) / cols + 32.0 / rows;
        }
        else
        {
            type = "fp32";
            bits = 32;
        }
        return new TensorQuantizationRecord
        {
            Name = name, Kind = TensorKinds.Of(k), Layer = l, Expert = expert < 0 ? null : expert, Type = type, Rows = rows, Columns = cols,
            BitsPerWeight = bits,
            WeightError = QuantizationErrors.Rounded(QuantizationErrors.RelativeWeightError(original, r.Dequantized)),
            OutputError = gram is null ? null : QuantizationErrors.Rounded(QuantizationErrors.RelativeOutputError(original, r.Dequantized, rows, cols, gram)),
            Seconds = elapsed.TotalSeconds,
        };
    }

    private int GroupWidth(LinearInputGroup g) => g switch
    {
        LinearInputGroup.AttentionOutput => _hp.QDim,
        LinearInputGroup.MlpHidden => _hp.HiddenDim,
        _ => _hp.Dim,
    };

    // hidden: where a dense layer's MLP hidden activations are kept between down_proj's two passes (sequential mode), or null.
    private QuantizedDecoderLayer ProcessLayer(int l, ActivationStore? store, ChunkBuffers? b, ActivationStore? hidden, CancellationToken ct)
    {
        // Transforms first (transforms → quantizer → layer result): the rest of the layer's work reads the transformed
        // weights and norms through the same LlamaLayerWeights shape as a layer read from the file.
        using var transformed = Transform(l, store, ct);
        var lw = transformed?.Weights ?? _model.Layers[l];
        var state = new LayerState(lw);
        var results = new QuantizedLinear?[LlamaLinearExtensions.All.Length];
        QuantizedLinear[][]? expertResults = null;
        bool hessian = CollectsHessians;
        bool moe = lw.Experts != null;
        // Statistics are created just before the pass that fills them, so that in sequential mode at
        // most one group's Hessian (down_proj's is the largest) exists at a time.
        void Collect(params LinearInputGroup[] groups)
        {
            foreach (var g in groups) state.Stats[(int)g] = new LinearInputStatistics(GroupWidth(g), hessian);
        }

        void Quantize(params LlamaLinear[] kinds)
        {
            foreach (var k in kinds)
            {
                ct.ThrowIfCancellationRequested();
                results[(int)k] = QuantizeOne(l, k, state, lw, lastUse: k == kinds[^1]);
                Step();
            }
            // A group's statistics (the big Hessian of down_proj included) are dropped as soon as its layers are done.
            state.Stats[(int)GroupOf(kinds[^1])] = null;
        }

        try
        {
            if (store == null)
            {
                foreach (var k in LlamaLinearExtensions.All)
                    if (!moe || k is LlamaLinear.Q or LlamaLinear.K or LlamaLinear.V or LlamaLinear.O) Quantize(k);
                if (moe) expertResults = QuantizeExperts(l, null, null, state, ct);
            }
            else if (!Sequential)
            {
                if (moe)
                {
                    // The MLP's statistics come per expert (ProcessExperts); the first pass stops at the residual after attention.
                    Collect(LinearInputGroup.AttentionInput, LinearInputGroup.AttentionOutput);
                    Pass(l, store, b!, state, firstStep: 1, lastStep: 3, writeAfter: 3, observeAll: true, null, null, ct);
                }
                else
                {
                    Collect(LinearInputGroup.AttentionInput, LinearInputGroup.AttentionOutput, LinearInputGroup.MlpInput, LinearInputGroup.MlpHidden);
                    Pass(l, store, b!, state, firstStep: 1, lastStep: 6, writeAfter: 6, observeAll: true, null, null, ct);
                }
                Quantize(LlamaLinear.Q, LlamaLinear.K, LlamaLinear.V);
                Quantize(LlamaLinear.O);
                if (moe) expertResults = QuantizeExperts(l, store, b, state, ct);
                else
                {
                    Quantize(LlamaLinear.Gate, LlamaLinear.Up);
                    Quantize(LlamaLinear.Down);
                }
            }
            else
            {
                Collect(LinearInputGroup.AttentionInput);
                Pass(l, store, b!, state, firstStep: 1, lastStep: 1, writeAfter: 0, observeAll: false, null, null, ct);
                Quantize(LlamaLinear.Q, LlamaLinear.K, LlamaLinear.V);
                Collect(LinearInputGroup.AttentionOutput);
                // The attention output of the quantized q/k/v is kept (o_proj's input), so that the next
                // pass does not recompute q/k/v and attention.
                using (var attention = ActivationStore.Create(_options.Storage, _calibration!.Sequences, _hp.QDim, _options.TemporaryDirectory))
                {
                    Pass(l, store, b!, state, firstStep: 1, lastStep: 2, writeAfter: 0, observeAll: false, attention, null, ct);
                    Quantize(LlamaLinear.O);
                    // The residual stream after the quantized attention replaces the layer input in the store.
                    if (!moe) Collect(LinearInputGroup.MlpInput);
                    Pass(l, store, b!, state, firstStep: 3, lastStep: moe ? 3 : 4, writeAfter: 3, observeAll: false, attention, null, ct);
                }
                if (moe) expertResults = QuantizeExperts(l, store, b, state, ct);
                else
                {
                    Quantize(LlamaLinear.Gate, LlamaLinear.Up);
                    Collect(LinearInputGroup.MlpHidden);
                    // With a hidden store the statistics pass keeps silu(gate)·up and the output pass only runs down_proj.
                    Pass(l, store, b!, state, firstStep: 4, lastStep: 5, writeAfter: 0, observeAll: false, null, hidden, ct);
                    Quantize(LlamaLinear.Down);
                    Pass(l, store, b!, state, firstStep: hidden is null ? 4 : 6, lastStep: 6, writeAfter: 6, observeAll: false, null, hidden, ct);
                }
            }
        }
        finally
        {
            foreach (var m in state.Dequantized) m?.Dispose();
            foreach (var m in state.ExpertDequantized) m.Dispose();
        }
        CollectForMeasurement(GCCollectionMode.Default, compacting: false);
        var vectors = new Dictionary<TensorRole, float[]>
        {
            [TensorRole.AttentionNorm] = lw.AttentionNorm,
            [TensorRole.FfnNorm] = lw.FfnNorm,
        };
        foreach (var role in _hp.Architecture.OptionalLayerTensors) vectors[role] = lw.Vector(role)!;
        return new QuantizedDecoderLayer
        {
            Index = l, Linears = results, Experts = expertResults, Vectors = vectors, Router = transformed?.Tensors.Router?.Values,
        };
    }

    /// <summary>
    /// Runs the layer transforms on an fp32 copy of layer <paramref name="l"/> (null when there are none). They see the
    /// layer's calibration inputs — the store's contents, i.e. in sequential mode the output of the quantized layers
    /// before — read chunk by chunk in the run's chunks (<see cref="LayerCalibrationForward"/>): a transform's memory is
    /// bounded by the chunk size, like the passes', not by the number of calibration tokens.
    /// </summary>
    private PinnedLayerWeights? Transform(int l, ActivationStore? store, CancellationToken ct)
    {
        if (_options.Transforms.Count == 0) return null;
        var sw = Stopwatch.StartNew();
        var tensors = DecoderLayerTensors.From(_model, l, _hp.Architecture.HfNaming);
        LayerCalibrationForward? forward = null;
        // Only a transform that reads the calibration inputs gets them (a rotation does not: no copy of the activations).
        if (store != null && _options.Transforms.Any(t => t.NeedsCalibration))
        {
            // The transform reads the inputs chunk by chunk from the store, in the run's own chunks: no copy of all tokens.
            forward = new LayerCalibrationForward(_hp, l, store, _calibration!.Sequences, _chunks, _options.Storage, _options.TemporaryDirectory);
        }
        var context = new LayerTransformContext
        {
            Layer = l, Parameters = _hp, Tensors = tensors, Calibration = forward, Log = _options.Log, CancellationToken = ct,
        };
        foreach (var t in _options.Transforms)
        {
            ct.ThrowIfCancellationRequested();
            long start = Stopwatch.GetTimestamp();
            t.Apply(context);
            Report.AddTransformTime(t.Name, Stopwatch.GetElapsedTime(start));
            Step();
        }
        Report.Transforms += sw.Elapsed;
        SampleMemory();
        return new PinnedLayerWeights(tensors, _model.Layers[l]);
    }

    /// <summary>
    /// The experts of a mixture-of-experts layer, whose store holds the residual stream after the (quantized,
    /// in sequential mode) attention. Experts go in batches (<see cref="ExpertsPerPass"/>): per batch a pass
    /// collects each expert's gate/up statistics from the tokens routed to it, gate and up are quantized, a
    /// second pass (sequential mode) collects down's statistics from the quantized gate/up, down is quantized.
    /// A last pass runs the whole mixture (quantized experts in sequential mode, original ones otherwise) and
    /// stores the layer's output. Without calibration (store null) every expert is quantized from its weights alone.
    /// </summary>
    private QuantizedLinear[][] QuantizeExperts(int l, ActivationStore? store, ChunkBuffers? b, LayerState state, CancellationToken ct)
    {
        var original = state.Weights.Experts!;
        int count = original.Count;
        var results = new[] { new QuantizedLinear[count], new QuantizedLinear[count], new QuantizedLinear[count] };
        // The experts the forward continues with: replaced one by one by their quantized weights in sequential mode.
        var current = new ExpertWeights
        {
            Router = original.Router, Gate = (TensorView[])original.Gate.Clone(), Up = (TensorView[])original.Up.Clone(),
            Down = (TensorView[])original.Down.Clone(),
        };
        void QuantizeBatch(int first, int end, LlamaLinear kind, LinearInputStatistics?[] stats)
        {
            for (int e = first; e < end; e++)
            {
                ct.ThrowIfCancellationRequested();
                var (r, view) = QuantizeExpert(l, kind, e, original, stats[e], lastUse: kind != LlamaLinear.Gate, state);
                results[kind - LlamaLinear.Gate][e] = r;
                if (Sequential) current.For(kind).Views[e] = view;
                Step();
            }
        }

        if (store == null)
        {
            var none = new LinearInputStatistics?[count];
            QuantizeBatch(0, count, LlamaLinear.Gate, none);
            QuantizeBatch(0, count, LlamaLinear.Up, none);
            QuantizeBatch(0, count, LlamaLinear.Down, none);
            return results;
        }
        bool hessian = CollectsHessians;
        int batch = ExpertsPerPass(original);
        for (int first = 0; first < count; first += batch)
        {
            int end = Math.Min(count, first + batch);
            var input = new LinearInputStatistics?[count];
            var hidden = new LinearInputStatistics?[count];
            for (int e = first; e < end; e++)
            {
                input[e] = new LinearInputStatistics(_hp.Dim, hessian);
                if (!Sequential) hidden[e] = new LinearInputStatistics(_hp.ExpertHiddenDim, hessian);
            }
            // Original-activation mode collects both groups from the original experts in one pass.
            ExpertPass(l, store, b!, state, original, input, Sequential ? null : hidden, first, end, ct);
            QuantizeBatch(first, end, LlamaLinear.Gate, input);
            QuantizeBatch(first, end, LlamaLinear.Up, input);
            Array.Clear(input);
            if (Sequential)
            {
                for (int e = first; e < end; e++) hidden[e] = new LinearInputStatistics(_hp.ExpertHiddenDim, hessian);
                ExpertPass(l, store, b!, state, current, null, hidden, first, end, ct);
            }
            QuantizeBatch(first, end, LlamaLinear.Down, hidden);
        }
        ExpertPass(l, store, b!, state, Sequential ? current : original, null, null, 0, count, ct);
        return results;
    }

    // One pass of the MLP over the calibration chunks: statistics of experts [first, end) (input: gate/up's,
    // hidden: down's) from their routed tokens; with neither, the whole mixture and the layer output stored back.
    private void ExpertPass(int l, ActivationStore store, ChunkBuffers b, LayerState st, ExpertWeights experts,
        LinearInputStatistics?[]? input, LinearInputStatistics?[]? hidden, int first, int end, CancellationToken ct)
    {
        int dim = _hp.Dim;
        var seqs = _calibration!.Sequences;
        bool output = input == null && hidden == null;
        var fwd = new Stopwatch();
        DecoderLayerForward.ExpertObserver observe = (e, group, rows, n, width) =>
        {
            var stats = group == LinearInputGroup.MlpInput ? input : hidden;
            if (stats?[e] is not { } s) return;
            fwd.Stop();
            var sw = Stopwatch.StartNew();
            s.Add(rows, n);
            _options.Observer?.ObserveExpertInput(l, e, group, rows, n, width);
            Report.Statistics += sw.Elapsed;
            fwd.Start();
        };
        foreach (var (c0, count, n) in _chunks)
        {
            ct.ThrowIfCancellationRequested();
            fwd.Restart();
            var x = b.X.AsSpan(0, n * dim);
            for (int s = 0, off = 0; s < count; off += seqs[c0 + s].Length, s++)
                store.Read(c0 + s, x.Slice(off * dim, seqs[c0 + s].Length * dim));
            var xn = b.Xn.AsSpan(0, n * dim);
            b.Layer.MlpNorm(x, st.Weights, xn, n);
            if (output) b.Layer.MixtureOfExperts(xn, n, experts, x);
            else b.Layer.MixtureOfExperts(xn, n, experts, x, observe, e => e >= first && e < end);
            if (output) WriteBack(store, seqs, c0, count, x, dim);
            fwd.Stop();
            Report.Forward += fwd.Elapsed;
            SampleMemory();
            Step();
        }
        foreach (var s in (input ?? []).Concat(hidden ?? [])) s?.ReleaseScratch();
        CollectForMeasurement(GCCollectionMode.Forced);
    }

    // One expert's gate/up/down; an expert that no calibration token reached is quantized without data, with a warning.
    private (QuantizedLinear Result, TensorView View) QuantizeExpert(int l, LlamaLinear kind, int expert, ExpertWeights experts,
        LinearInputStatistics? stats, bool lastUse, LayerState state)
    {
        var (_, views) = experts.For(kind);
        var view = views[expert];
        var quantizer = _quantizer;
        if (stats is { Count: 0 })
        {
            quantizer = _quantizer.WithoutData;
            stats = null;
            if (kind == LlamaLinear.Gate)
            {
                Report.ExpertsWithoutData.Add((l, expert));
                _options.Warn?.Invoke($"layer {l} expert {expert}: no calibration token was routed to it; its gate/up/down ({view.Name}, …) are quantized without data ({quantizer.Name})");
            }
        }
        else if (stats == null && quantizer.Needs != StatisticsNeeds.None)
        {
            quantizer = _quantizer.WithoutData;
        }
        var r = QuantizeWith(quantizer, l, kind, expert, view, stats, lastUse);
        var pinned = new PinnedMatrix(view.Name, r.Dequantized, (int)view.Rows, (int)view.Columns, pinInPlace: true);
        state.ExpertDequantized.Add(pinned);
        return (r, pinned.View);
    }

    private QuantizedLinear QuantizeOne(int l, LlamaLinear k, LayerState state, LlamaLayerWeights lw, bool lastUse)
    {
        var view = lw.Weight(k);
        var r = QuantizeWith(_quantizer, l, k, -1, view, state.Stats[(int)GroupOf(k)], lastUse);
        // The forward continues with the quantizer's own array, pinned for MatMul until the layer is done.
        state.Dequantized[(int)k] = new PinnedMatrix(view.Name, r.Dequantized, (int)view.Rows, (int)view.Columns, pinInPlace: true);
        state.Views[(int)k] = state.Dequantized[(int)k]!.View;
        return r;
    }

    private QuantizedLinear QuantizeWith(ILinearQuantizer quantizer, int l, LlamaLinear k, int expert, TensorView view, LinearInputStatistics? stats, bool lastUse)
    {
        int rows = checked((int)view.Rows), cols = checked((int)view.Columns);
        // A report compares with the weights as read and the inputs' Σ x xᵀ, both taken before the quantizer may change
        // them in place (outside the timed span: the report's own work).
        float[]? original = null;
        double[]? gram = null;
        if (_options.TensorQuantized != null)
        {
            original = view.ToFloat32();
            if (stats is { HasHessian: true, Count: > 0 }) gram = stats.Hessian();
        }
        var sw = Stopwatch.StartNew();
        var input = new LinearQuantizationInput
        {
            Layer = l, Kind = k, Expert = expert, Name = view.Name, Rows = rows, Cols = cols, Weight = original is null ? view.ToFloat32() : (float[])original.Clone(),
            Statistics = stats, LastUseOfStatistics = lastUse,
        };
        var r = quantizer.Quantize(input);
        if (r.Dequantized.Length != (long)rows * cols)
            throw new InvalidOperationException($"{view.Name}: the {quantizer.Name} quantizer returned {r.Dequantized.Length} weights, expected {rows}×{cols}");
        // A weight no scale of the format can hold (finite in bf16, say 3.4e38) gives Inf/NaN weights here; refuse it by
        // name rather than let NaN reach the next linear's statistics and the file.
        int bad = FiniteCheck.FirstNonFinite(r.Dequantized);
        if (bad >= 0)
            throw new InvalidDataException($"layer {l} {view.Name}: the {quantizer.Name} quantizer produced a non-finite weight (row {bad / cols}); a weight of this tensor is too large for the format's fp16 scales");
        var elapsed = sw.Elapsed;
        Report.Quantization += elapsed;
        Report.Factorisation += r.FactorTime;
        Report.Sweep += r.SweepTime;
        // A linear stored in a float type (--method rotate into gguf:F16, a mix's F16 fallback) was not quantized: it is not
        // a record, and the GGUF export lists it with the other float weights (its rounding to F16 is no quantization error).
        if (_options.TensorQuantized is { } onTensor && !StoredAsFloat(r)) onTensor(Measure(l, k, expert, view.Name, rows, cols, original!, gram, r, elapsed));
        SampleMemory();
        // When measuring memory: the quantizer's working arrays (cols² doubles and rows·cols ones) are dead now and sit
        // on the large-object heap, which only a full collection reclaims: collect before the next linear.
        // Not an aggressive collection: that one hands the memory back to the OS (~50 ms each) only for
        // the next linear to fault it in again, which made up a fifth of a GPTQ run.
        CollectForMeasurement(GCCollectionMode.Forced);
        return r;
    }

    private void Step()
    {
        _progressDone++;
        _options.Progress?.Report((_progressDone, _progressTotal));
    }

    // Steps: 1 attention RMSNorm, 2 q/k/v + RoPE + attention, 3 o_proj + residual, 4 MLP RMSNorm,
    // 5 gate/up + SiLU, 6 down_proj + residual. firstStep 1: the store holds the layer input;
    // 3: the layer input, and attention holds step 2's output; 4: the store holds the residual
    // stream after attention (step 3's output); 6: that residual stream, and hiddenStore holds step 5's output.
    // With firstStep 1 and a store in attention, step 2's output is written there; with step 5 computed and
    // a store in hiddenStore, step 5's output is written there. writeAfter: the step whose residual stream is stored back.
    private void Pass(int l, ActivationStore store, ChunkBuffers b, LayerState st, int firstStep, int lastStep, int writeAfter, bool observeAll,
        ActivationStore? attention, ActivationStore? hiddenStore, CancellationToken ct)
    {
        var lw = st.Weights;
        int dim = _hp.Dim, qDim = _hp.QDim, kvDim = _hp.KvDim, hidden = _hp.HiddenDim;
        var seqs = _calibration!.Sequences;
        var views = st.Views;
        foreach (var (first, count, n) in _chunks)
        {
            ct.ThrowIfCancellationRequested();
            var fwd = Stopwatch.StartNew();
            var x = b.X.AsSpan(0, n * dim);
            b.Layout(seqs, first, count);
            for (int s = 0, off = 0; s < count; off += seqs[first + s].Length, s++)
                store.Read(first + s, x.Slice(off * dim, seqs[first + s].Length * dim));
            var xn = b.Xn.AsSpan(0, n * dim);
            var layer = b.Layer;
            if (firstStep <= 3)
            {
                if (firstStep == 1) layer.AttentionNorm(x, lw, xn, n);
                if (firstStep == 1 && (observeAll || lastStep == 1)) Observe(l, LinearInputGroup.AttentionInput, st, xn, n, dim, fwd);
                if (firstStep == 3)
                {
                    for (int s = 0, off = 0; s < count; off += seqs[first + s].Length, s++)
                        attention!.Read(first + s, b.Attn.AsSpan(off * qDim, seqs[first + s].Length * qDim));
                }
                else if (lastStep >= 2)
                {
                    layer.QueryKeyValue(l, xn, n, lw, views[(int)LlamaLinear.Q], views[(int)LlamaLinear.K], views[(int)LlamaLinear.V],
                        b.Q, b.K, b.V, b.Positions.AsSpan(0, n));
                    if (_options.Observer != null && (observeAll || lastStep == 2))
                    {
                        fwd.Stop();
                        var sw = Stopwatch.StartNew();
                        _options.Observer.ObserveKeyValue(l, b.K.AsSpan(0, n * kvDim), b.V.AsSpan(0, n * kvDim), n, kvDim);
                        Report.Statistics += sw.Elapsed;
                        fwd.Start();
                    }
                    Attention(l, b, n);
                    if (observeAll || lastStep == 2) Observe(l, LinearInputGroup.AttentionOutput, st, b.Attn.AsSpan(0, n * qDim), n, qDim, fwd);
                    if (attention != null) WriteBack(attention, seqs, first, count, b.Attn.AsSpan(0, n * qDim), qDim);
                }
                if (lastStep >= 3) layer.AttentionOutput(b.Attn, n, lw, views[(int)LlamaLinear.O], b.Proj, x);
                if (writeAfter == 3) WriteBack(store, seqs, first, count, x, dim);
            }
            if (lastStep >= 4 && firstStep <= 4)
            {
                layer.MlpNorm(x, lw, xn, n);
                if (observeAll || lastStep == 4) Observe(l, LinearInputGroup.MlpInput, st, xn, n, dim, fwd);
            }
            if (firstStep == 6)
            {
                for (int s = 0, off = 0; s < count; off += seqs[first + s].Length, s++)
                    hiddenStore!.Read(first + s, b.Gate.AsSpan(off * hidden, seqs[first + s].Length * hidden));
            }
            else if (lastStep >= 5)
            {
                layer.MlpHidden(xn, n, views[(int)LlamaLinear.Gate], views[(int)LlamaLinear.Up], b.Gate, b.Up);
                if (observeAll || lastStep == 5) Observe(l, LinearInputGroup.MlpHidden, st, b.Gate.AsSpan(0, n * hidden), n, hidden, fwd);
                if (hiddenStore != null) WriteBack(hiddenStore, seqs, first, count, b.Gate.AsSpan(0, n * hidden), hidden);
            }
            if (lastStep >= 6) layer.MlpOutput(b.Gate, n, lw, views[(int)LlamaLinear.Down], b.Proj, x);
            if (writeAfter == 6) WriteBack(store, seqs, first, count, x, dim);
            Report.Forward += fwd.Elapsed;
            SampleMemory();
            Step();
        }
        foreach (var st2 in st.Stats) st2?.ReleaseScratch();
        // When measuring memory, one collection per pass keeps the heap near its live size (per-layer temporaries are
        // large and short-lived); otherwise the GC's own budget decides.
        CollectForMeasurement(GCCollectionMode.Forced);
    }

    private static void WriteBack(ActivationStore store, IReadOnlyList<int[]> seqs, int first, int count, ReadOnlySpan<float> x, int dim)
    {
        for (int s = 0, off = 0; s < count; off += seqs[first + s].Length, s++)
            store.Write(first + s, x.Slice(off * dim, seqs[first + s].Length * dim));
    }

    private void Observe(int l, LinearInputGroup g, LayerState st, ReadOnlySpan<float> x, int rows, int width, Stopwatch forward)
    {
        forward.Stop();
        var sw = Stopwatch.StartNew();
        st.Stats[(int)g]?.Add(x, rows);
        _options.Observer?.ObserveLinearInput(l, g, x, rows, width);
        Report.Statistics += sw.Elapsed;
        forward.Start();
    }

    // Causal attention inside each sequence of the chunk (shared with the layer transforms' forward).
    private void Attention(int layer, ChunkBuffers b, int n) => CausalAttention.Run(_hp, layer, b.Q, b.K, b.V, b.Attn, b.SeqStart, n, b.MaxSequence);

    private sealed class LayerState(LlamaLayerWeights weights)
    {
        public LlamaLayerWeights Weights { get; } = weights;
        // A mixture-of-experts layer has no dense gate/up/down: their slots stay empty.
        public TensorView[] Views { get; } = LlamaLinearExtensions.All
            .Select(k => weights.Experts != null && k is LlamaLinear.Gate or LlamaLinear.Up or LlamaLinear.Down ? default : weights.Weight(k)).ToArray();
        public List<PinnedMatrix> ExpertDequantized { get; } = [];
        public PinnedMatrix?[] Dequantized { get; } = new PinnedMatrix?[LlamaLinearExtensions.All.Length];
        public LinearInputStatistics?[] Stats { get; } = new LinearInputStatistics?[4];
    }

    private sealed class ChunkBuffers
    {
        public ChunkBuffers(LlamaHyperParameters hp, int tokens, int maxSequence)
        {
            X = new float[tokens * hp.Dim];
            Xn = new float[tokens * hp.Dim];
            Q = new float[tokens * hp.QDim];
            K = new float[tokens * hp.KvDim];
            V = new float[tokens * hp.KvDim];
            Attn = new float[tokens * hp.QDim];
            Proj = new float[tokens * hp.Dim];
            Gate = new float[tokens * hp.HiddenDim];
            Up = new float[tokens * hp.HiddenDim];
            SeqStart = new int[tokens];
            Positions = new int[tokens];
            MaxSequence = maxSequence;
            Layer = new DecoderLayerForward(hp, maxSequence);
        }

        public float[] X { get; }
        public float[] Xn { get; }
        public float[] Q { get; }
        public float[] K { get; }
        public float[] V { get; }
        public float[] Attn { get; }
        public float[] Proj { get; }
        public float[] Gate { get; }
        public float[] Up { get; }
        public int[] SeqStart { get; }
        public int MaxSequence { get; }
        public int[] Positions { get; }
        // The layer math shared with the inference session (RoPE tables for positions 0 … MaxSequence − 1).
        public DecoderLayerForward Layer { get; }

        // SeqStart[t] = index (within the chunk) of the first token of t's sequence.
        public void Layout(IReadOnlyList<int[]> seqs, int first, int count)
        {
            for (int s = 0, off = 0; s < count; s++)
            {
                int len = seqs[first + s].Length;
                for (int i = 0; i < len; i++)
                {
                    SeqStart[off + i] = off;
                    Positions[off + i] = i; // each calibration sequence starts at position 0
                }
                off += len;
            }
        }
    }
}
