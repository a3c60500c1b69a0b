// A llama.cpp model loaded on the CPU, with its vocabulary: the oracle's entry point.
using System.Text;

namespace QuantSharp.LlamaCpp;

/// <summary>
/// A GGUF model loaded by llama.cpp with no GPU offload and mmap on. Owns the native model;
/// contexts created from it keep it alive and must be disposed first.
/// </summary>
public sealed unsafe class LlamaCppModel : IDisposable
{
    private IntPtr _model;

    private LlamaCppModel(IntPtr model, string path)
    {
        _model = model;
        Path = path;
        Vocab = LlamaNative.llama_model_get_vocab(model);
        VocabSize = LlamaNative.llama_vocab_n_tokens(Vocab);
        EmbeddingSize = LlamaNative.llama_model_n_embd(model);
        LayerCount = LlamaNative.llama_model_n_layer(model);
        TrainContextLength = LlamaNative.llama_model_n_ctx_train(model);
        BosToken = LlamaNative.llama_vocab_bos(Vocab);
        EosToken = LlamaNative.llama_vocab_eos(Vocab);
    }

    /// <summary>Loads <paramref name="path"/>; throws <see cref="InvalidOperationException"/> when llama.cpp refuses it.</summary>
    /// <param name="path">The GGUF file.</param>
    /// <param name="vocabOnly">
    /// Load only the hyperparameters and the vocabulary (llama_model_params.vocab_only): enough to
    /// tokenize, and a GGUF without tensors loads. Such a model cannot create a context.
    /// </param>
    public static LlamaCppModel Load(string path, bool vocabOnly = false)
    {
        LlamaCppLibrary.EnsureLoaded();
        var p = LlamaNative.llama_model_default_params();
        p.NGpuLayers = 0;
        p.UseMmap = 1;
        p.VocabOnly = (byte)(vocabOnly ? 1 : 0);
        var bytes = Encoding.UTF8.GetBytes(System.IO.Path.GetFullPath(path) + "\0");
        IntPtr model;
        fixed (byte* b = bytes) model = LlamaNative.llama_model_load_from_file(b, p);
        if (model == IntPtr.Zero)
            throw new InvalidOperationException($"llama.cpp {LlamaCppLibrary.Build} could not load '{path}' ; its log ended with:\n{LlamaCppLibrary.RecentLog}");
        return new LlamaCppModel(model, path);
    }

    /// <summary>The file loaded.</summary>
    public string Path { get; }
    /// <summary>Number of tokens in the vocabulary (= logits per position).</summary>
    public int VocabSize { get; }
    /// <summary>Hidden size.</summary>
    public int EmbeddingSize { get; }
    /// <summary>Number of transformer blocks.</summary>
    public int LayerCount { get; }
    /// <summary>Context length the model was trained with.</summary>
    public int TrainContextLength { get; }
    /// <summary>BOS id, or -1.</summary>
    public int BosToken { get; }
    /// <summary>EOS id, or -1.</summary>
    public int EosToken { get; }

    internal IntPtr Vocab { get; }

    internal IntPtr Handle => _model != IntPtr.Zero ? _model : throw new ObjectDisposedException(nameof(LlamaCppModel));

    /// <summary>Number of parameters.</summary>
    public ulong ParameterCount => LlamaNative.llama_model_n_params(Handle);

    /// <summary>llama.cpp's one-line description (e.g. "llama ?B all F32").</summary>
    public string Description
    {
        get
        {
            var buf = new byte[256];
            fixed (byte* b = buf)
            {
                int n = LlamaNative.llama_model_desc(Handle, b, (nuint)buf.Length);
                return n <= 0 ? "" : Encoding.UTF8.GetString(buf, 0, Math.Min(n, buf.Length - 1));
            }
        }
    }

    /// <summary>Whether tokenizing with addSpecial prepends BOS (tokenizer.ggml.add_bos_token, or llama.cpp's default for the vocabulary).</summary>
    public bool AddsBos => LlamaNative.llama_vocab_get_add_bos(VocabChecked) != 0;

    /// <summary>Whether <paramref name="token"/> ends generation (EOS, EOT, …).</summary>
    public bool IsEndOfGeneration(int token) => LlamaNative.llama_vocab_is_eog(VocabChecked, token) != 0;

    /// <summary>
    /// The token's llama_token_attr flags as llama.cpp uses them, after its load-time overrides
    /// (1 unknown, 2 unused, 4 normal, 8 control, 16 user-defined, 32 byte, 64 normalized, 128 lstrip, 256 rstrip, 512 single word).
    /// </summary>
    public int TokenAttributes(int token) => LlamaNative.llama_vocab_get_attr(VocabChecked, token);

    /// <summary>Tokenizes <paramref name="text"/> as llama.cpp does.</summary>
    /// <param name="text">Text to encode.</param>
    /// <param name="addSpecial">Add BOS/EOS where the model's metadata asks for them.</param>
    /// <param name="parseSpecial">Recognise special tokens written in the text (e.g. "&lt;s&gt;").</param>
    public int[] Tokenize(string text, bool addSpecial, bool parseSpecial)
    {
        var utf8 = Encoding.UTF8.GetBytes(text);
        var tokens = new int[utf8.Length + 8];
        fixed (byte* t = utf8)
        {
            while (true)
            {
                int n;
                fixed (int* o = tokens)
                    n = LlamaNative.llama_tokenize(VocabChecked, t, utf8.Length, o, tokens.Length, (byte)(addSpecial ? 1 : 0), (byte)(parseSpecial ? 1 : 0));
                if (n == int.MinValue) throw new InvalidOperationException("llama_tokenize: token count overflows int32");
                if (n >= 0) return tokens[..n];
                tokens = new int[-n];
            }
        }
    }

    /// <summary>The bytes a token stands for (special tokens rendered when <paramref name="special"/>).</summary>
    public byte[] TokenToPieceBytes(int token, bool special = true)
    {
        var buf = new byte[64];
        while (true)
        {
            int n;
            fixed (byte* b = buf) n = LlamaNative.llama_token_to_piece(VocabChecked, token, b, buf.Length, 0, (byte)(special ? 1 : 0));
            if (n >= 0) return buf[..n];
            buf = new byte[-n];
        }
    }

    /// <summary>A token's text (invalid UTF-8, e.g. a lone byte token, becomes U+FFFD).</summary>
    public string TokenToPiece(int token, bool special = true) => Encoding.UTF8.GetString(TokenToPieceBytes(token, special));

    /// <summary>Creates an inference context; see <see cref="LlamaCppContext"/>.</summary>
    public LlamaCppContext CreateContext(int contextLength = 512, int batchSize = 512, int threads = 4, bool f32Cache = false)
        => new(this, contextLength, batchSize, threads, f32Cache);

    private IntPtr VocabChecked => _model != IntPtr.Zero ? Vocab : throw new ObjectDisposedException(nameof(LlamaCppModel));

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_model == IntPtr.Zero) return;
        LlamaNative.llama_model_free(_model);
        _model = IntPtr.Zero;
    }
}
