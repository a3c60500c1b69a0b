// The library's entry point: load a model once, then generate, evaluate, chat; quantize from a request.
using QuantSharp.Core.Kernels;
using QuantSharp.Evaluation;
using QuantSharp.Formats.Tokenizers;
using QuantSharp.Models.Llama;

namespace QuantSharp;

/// <summary>
/// A loaded language model (Hugging Face folder, GGUF file, llama2.c checkpoint, HF GPTQ folder) with its tokenizer
/// and its own <see cref="ExecutionOptions"/>. Read-only once loaded: every call creates its own inference state, so
/// one instance serves concurrent callers. Dispose to unmap the weights.
/// </summary>
/// <example>
/// <code>
/// using var model = QuantSharpModel.Load("stories260K.bin");
/// Console.WriteLine(model.Generate("Once upon a time", new GenerationOptions { MaxTokens = 16 }).Text);
/// </code>
/// </example>
public sealed class QuantSharpModel : IDisposable
{
    private readonly LlamaModel _model;
    private readonly Lazy<ChatTemplateInfo?> _chatTemplate;

    private QuantSharpModel(LlamaModel model, string path, ExecutionOptions execution)
    {
        _model = model;
        Path = path;
        Execution = execution;
        _chatTemplate = new Lazy<ChatTemplateInfo?>(() => ChatTemplateInfo.Find(model, path));
    }

    /// <summary>
    /// Loads a model from <paramref name="path"/>: a Hugging Face folder (config.json, safetensors, tokenizer.json), a
    /// .gguf file or a llama2.c .bin checkpoint (tokenizer tok*.bin beside it or <paramref name="tokenizerPath"/>).
    /// Weights are memory-mapped, not copied. Bad files raise <see cref="InvalidDataException"/> or
    /// <see cref="NotSupportedException"/> naming the file and field.
    /// </summary>
    /// <param name="path">Model file or folder.</param>
    /// <param name="execution">Threads and ISA for everything this model runs; null: the process defaults.</param>
    /// <param name="tokenizerPath">Tokenizer file when it is not beside the model.</param>
    public static QuantSharpModel Load(string path, ExecutionOptions? execution = null, string? tokenizerPath = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        execution ??= ExecutionOptions.Default;
        execution.Validate();
        var model = LlamaModel.Load(path, tokenizerPath);
        return new QuantSharpModel(model, System.IO.Path.GetFullPath(path), execution);
    }

    /// <summary>
    /// Quantizes the model named in <paramref name="request"/>. The request is validated first
    /// (<see cref="QuantizeRequestException"/> naming the option, before any file is read or written); the output is
    /// written to a temporary name and renamed when complete, and removed when cancelled.
    /// </summary>
    /// <param name="request">What to quantize, how, and where to write it.</param>
    /// <param name="progress">Receives (done, total) steps; null: none.</param>
    /// <param name="cancellationToken">Cancels the run (throws <see cref="OperationCanceledException"/>, leaves no output).</param>
    public static QuantizeResult Quantize(QuantizeRequest request, IProgress<QuantizeProgress>? progress = null, CancellationToken cancellationToken = default)
        => QuantizeRunner.Run(request, progress, cancellationToken);

    /// <summary>Full path the model was loaded from.</summary>
    public string Path { get; }

    /// <summary>Threads and ISA this model's generations and evaluations run with.</summary>
    public ExecutionOptions Execution { get; }

    /// <summary>Architecture name (e.g. <c>llama</c>, <c>qwen3</c>).</summary>
    public string Architecture => _model.Parameters.Architecture.Name;

    /// <summary>Source format (e.g. <c>gguf</c>, <c>hf-safetensors</c>, <c>llama2c</c>).</summary>
    public string Format => _model.Format;

    /// <summary>Training context length in tokens.</summary>
    public int ContextLength => _model.Parameters.ContextLength;

    /// <summary>Vocabulary size.</summary>
    public int VocabSize => _model.Parameters.VocabSize;

    /// <summary>The model's tokenizer (never null: loading fails for models without one is not done, see <see cref="Tokenize"/>).</summary>
    internal ITextTokenizer Tokenizer => _model.Tokenizer ?? throw new InvalidDataException($"{_model.Origin}: the model has no tokenizer; load it with a tokenizerPath");

    /// <summary>The chat template the model ships (tokenizer_config.json <c>chat_template</c> or GGUF <c>tokenizer.chat_template</c>), or null.</summary>
    public string? ChatTemplate => _chatTemplate.Value?.Template;

    /// <summary>The engine model (for code that needs the lower layers).</summary>
    internal LlamaModel Engine => _model;

    internal ChatTemplateInfo? ChatTemplateInfo => _chatTemplate.Value;

    /// <summary>Token ids of <paramref name="text"/>, with BOS when the tokenizer adds one by default (as <c>quantsharp run</c>).</summary>
    /// <param name="text">Text to encode.</param>
    /// <param name="addBos">Prepend BOS; null: the tokenizer's default.</param>
    public int[] Tokenize(string text, bool? addBos = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tok = Tokenizer;
        return tok.Encode(text, addBos: addBos ?? tok.ToTokenizerData().AddBos);
    }

    /// <summary>Text of token ids.</summary>
    /// <param name="tokens">Token ids.</param>
    public string Detokenize(IReadOnlyList<int> tokens) => Tokenizer.Decode([.. tokens]);

    /// <summary>
    /// Continues <paramref name="prompt"/> (encoded as <c>quantsharp run -p</c> does: BOS by the tokenizer's default).
    /// The same prompt, options and seed give the same tokens as <c>quantsharp run</c>.
    /// </summary>
    /// <param name="prompt">Prompt text.</param>
    /// <param name="options">Length, sampling and stop settings; null: 64 greedy tokens.</param>
    /// <param name="cancellationToken">Checked before every token.</param>
    public GenerationResult Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
        => Generate(PromptTokens(prompt), options, cancellationToken);

    /// <summary>Continues a prompt given as token ids.</summary>
    /// <param name="promptTokens">Prompt ids (BOS included if wanted).</param>
    /// <param name="options">Length, sampling and stop settings; null: 64 greedy tokens.</param>
    /// <param name="cancellationToken">Checked before every token.</param>
    public GenerationResult Generate(IReadOnlyList<int> promptTokens, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var loop = new GenerationLoop(_model, Execution, [.. promptTokens], options ?? new GenerationOptions());
        foreach (var _ in loop.Run(cancellationToken)) { }
        return new GenerationResult { Text = loop.Text, Tokens = [.. loop.Tokens], PromptTokens = promptTokens.Count, FinishReason = loop.FinishReason };
    }

    /// <summary>Streams the continuation of <paramref name="prompt"/> piece by piece as tokens are generated.</summary>
    /// <param name="prompt">Prompt text.</param>
    /// <param name="options">Length, sampling and stop settings; null: 64 greedy tokens.</param>
    /// <param name="cancellationToken">Checked before every token.</param>
    public IEnumerable<string> GenerateStreaming(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
        => new GenerationLoop(_model, Execution, PromptTokens(prompt), options ?? new GenerationOptions()).Run(cancellationToken);

    /// <summary>A generation loop over <paramref name="prompt"/> encoded as <see cref="Generate(string, GenerationOptions?, CancellationToken)"/> does (for the server: counts while streaming).</summary>
    internal GenerationLoop StartGeneration(string prompt, GenerationOptions options) => new(_model, Execution, PromptTokens(prompt), options);

    /// <summary>
    /// Perplexity of the model on <paramref name="text"/>.
    /// <see cref="PerplexityStyle.Gptq"/>: non-overlapping windows, every token scored;
    /// <see cref="PerplexityStyle.LlamaCpp"/>: second half of each window, BOS per window (as llama-perplexity).
    /// </summary>
    /// <param name="text">Evaluation text.</param>
    /// <param name="contextLength">Window length in tokens (≥ 2).</param>
    /// <param name="style">Scoring convention.</param>
    /// <param name="maxWindows">Evaluate at most this many windows; null: all.</param>
    /// <param name="progress">Receives (done, total) windows.</param>
    public PerplexityResult Perplexity(string text, int contextLength = 512, PerplexityStyle style = PerplexityStyle.Gptq, int? maxWindows = null, IProgress<(int Done, int Total)>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (contextLength < 2) throw new ArgumentOutOfRangeException(nameof(contextLength), contextLength, "contextLength must be at least 2");
        if (!Enum.IsDefined(style)) throw new ArgumentOutOfRangeException(nameof(style), style, "not a PerplexityStyle");
        var tok = Tokenizer;
        bool llamacpp = style == PerplexityStyle.LlamaCpp;
        bool addBos = llamacpp && tok.ToTokenizerData().AddBos;
        int[] tokens = tok.Encode(text, addBos: addBos);
        using var scope = KernelOptions.Use(Execution);
        return new PerplexityEvaluator(new SessionLogitsProvider(_model, contextLength)) { Progress = progress }
            .Evaluate(tokens, contextLength, style, addBos ? tok.BosId : null, maxWindows);
    }

    /// <summary>
    /// KL-divergence of this model against <paramref name="baseModel"/> on <paramref name="text"/>, llama.cpp style
    /// (second half of each window, BOS per window), as <c>quantsharp kld --base</c>.
    /// </summary>
    /// <param name="baseModel">The reference model (e.g. the unquantized one); must share the vocabulary.</param>
    /// <param name="text">Evaluation text (tokenized with the base model's tokenizer).</param>
    /// <param name="contextLength">Window length in tokens (≥ 2).</param>
    /// <param name="maxWindows">Evaluate at most this many windows; null: all.</param>
    public KlDivergenceResult Kld(QuantSharpModel baseModel, string text, int contextLength = 512, int? maxWindows = null)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentNullException.ThrowIfNull(text);
        if (contextLength < 2) throw new ArgumentOutOfRangeException(nameof(contextLength), contextLength, "contextLength must be at least 2");
        if (baseModel.VocabSize != VocabSize)
            throw new ArgumentException($"{baseModel.Path} has {baseModel.VocabSize} tokens, {Path} has {VocabSize}: KLD needs one vocabulary", nameof(baseModel));
        var tok = baseModel.Tokenizer;
        var data = tok.ToTokenizerData();
        int[] tokens = tok.Encode(text, addBos: data.AddBos);
        string temp = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"quantsharp-base-{Environment.ProcessId}-{Guid.NewGuid():N}.qslogits");
        try
        {
            using (KernelOptions.Use(baseModel.Execution))
                SavedLogits.Save(temp, new SessionLogitsProvider(baseModel._model, contextLength), tokens, contextLength, data.AddBos ? tok.BosId : null, maxWindows);
            using var saved = SavedLogits.Open(temp);
            using var scope = KernelOptions.Use(Execution);
            return new KlDivergenceEvaluator(new SessionLogitsProvider(_model, saved.ContextLength)).Evaluate(saved);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>
    /// A Microsoft.Extensions.AI chat client over this model: prompts rendered with the model's chat template
    /// (or <paramref name="options"/>' template), streaming and not, safe for concurrent callers.
    /// </summary>
    /// <param name="options">Template override and defaults; null: the model's template.</param>
    public QuantSharpChatClient AsChatClient(QuantSharpChatClientOptions? options = null) => new(this, options);

    /// <summary>Unmaps the weights; generations still running on another thread must have finished.</summary>
    public void Dispose() => _model.Dispose();

    private int[] PromptTokens(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var tok = Tokenizer;
        int[] ids = Tokenize(prompt);
        // As `quantsharp run`: an empty prompt starts from BOS.
        if (ids.Length == 0) ids = tok.BosId is { } b ? [b] : throw new ArgumentException("the prompt is empty and the tokenizer has no BOS token", nameof(prompt));
        return ids;
    }
}
