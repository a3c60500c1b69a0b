// Raw P/Invoke declarations for the parts of libllama / libggml b8390 the oracle uses.
// Library names are logical ("llama", "ggml"); LlamaCppLibrary's resolver maps them to the
// versioned files. C bool parameters and results are declared as byte so nothing is marshalled.
using System.Runtime.InteropServices;

namespace QuantSharp.LlamaCpp;

/// <summary>Direct bindings; use <see cref="LlamaCppModel"/> and <see cref="LlamaCppContext"/> instead.</summary>
public static unsafe class LlamaNative
{
    /// <summary>Logical name of libllama.</summary>
    public const string Llama = "llama";
    /// <summary>Logical name of libggml (backend registry).</summary>
    public const string Ggml = "ggml";

    /// <summary>ggml_backend_load_all_from_path: loads the best CPU variant (and any other backends) found in a folder.</summary>
    [DllImport(Ggml, ExactSpelling = true)] public static extern void ggml_backend_load_all_from_path(byte* dirPath);
    /// <summary>ggml_backend_dev_count.</summary>
    [DllImport(Ggml, ExactSpelling = true)] public static extern nuint ggml_backend_dev_count();

    /// <summary>llama_backend_init.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern void llama_backend_init();
    /// <summary>llama_log_set (also sets ggml's logger).</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern void llama_log_set(delegate* unmanaged[Cdecl]<int, byte*, void*, void> callback, void* userData);

    /// <summary>llama_model_default_params.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern LlamaModelParams llama_model_default_params();
    /// <summary>llama_context_default_params.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern LlamaContextParams llama_context_default_params();
    /// <summary>llama_model_quantize_default_params.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern LlamaModelQuantizeParams llama_model_quantize_default_params();

    /// <summary>llama_model_load_from_file; NULL on failure.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern IntPtr llama_model_load_from_file(byte* path, LlamaModelParams parameters);
    /// <summary>llama_model_free.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern void llama_model_free(IntPtr model);
    /// <summary>llama_model_get_vocab.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern IntPtr llama_model_get_vocab(IntPtr model);
    /// <summary>llama_model_n_embd.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern int llama_model_n_embd(IntPtr model);
    /// <summary>llama_model_n_layer.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern int llama_model_n_layer(IntPtr model);
    /// <summary>llama_model_n_ctx_train.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern int llama_model_n_ctx_train(IntPtr model);
    /// <summary>llama_model_n_params.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern ulong llama_model_n_params(IntPtr model);
    /// <summary>llama_model_desc.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern int llama_model_desc(IntPtr model, byte* buf, nuint bufSize);

    /// <summary>llama_vocab_n_tokens.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern int llama_vocab_n_tokens(IntPtr vocab);
    /// <summary>llama_vocab_bos.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern int llama_vocab_bos(IntPtr vocab);
    /// <summary>llama_vocab_eos.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern int llama_vocab_eos(IntPtr vocab);
    /// <summary>llama_vocab_get_add_bos: whether tokenizing with add_special prepends BOS.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern byte llama_vocab_get_add_bos(IntPtr vocab);
    /// <summary>llama_vocab_get_attr: the token's llama_token_attr flags (after llama.cpp's own overrides).</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern int llama_vocab_get_attr(IntPtr vocab, int token);
    /// <summary>llama_vocab_is_eog.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern byte llama_vocab_is_eog(IntPtr vocab, int token);
    /// <summary>llama_tokenize: count on success, minus the needed count when the buffer is too small.</summary>
    [DllImport(Llama, ExactSpelling = true)]
    public static extern int llama_tokenize(IntPtr vocab, byte* text, int textLen, int* tokens, int nTokensMax, byte addSpecial, byte parseSpecial);
    /// <summary>llama_token_to_piece: byte count, or minus the needed size when the buffer is too small.</summary>
    [DllImport(Llama, ExactSpelling = true)]
    public static extern int llama_token_to_piece(IntPtr vocab, int token, byte* buf, int length, int lstrip, byte special);

    /// <summary>llama_init_from_model; NULL on failure.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern IntPtr llama_init_from_model(IntPtr model, LlamaContextParams parameters);
    /// <summary>llama_free (context).</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern void llama_free(IntPtr context);
    /// <summary>llama_n_ctx.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern uint llama_n_ctx(IntPtr context);
    /// <summary>llama_n_batch.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern uint llama_n_batch(IntPtr context);
    /// <summary>llama_get_memory.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern IntPtr llama_get_memory(IntPtr context);
    /// <summary>llama_memory_clear: drops every sequence; data=true also zeroes the buffers.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern void llama_memory_clear(IntPtr memory, byte data);
    /// <summary>llama_batch_init.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern LlamaBatch llama_batch_init(int nTokens, int embd, int nSeqMax);
    /// <summary>llama_batch_free.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern void llama_batch_free(LlamaBatch batch);
    /// <summary>llama_decode: 0 success, 1 no KV slot, 2 aborted, negative error.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern int llama_decode(IntPtr context, LlamaBatch batch);
    /// <summary>llama_get_logits: rows for the outputs of the last decode, in batch order.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern float* llama_get_logits(IntPtr context);
    /// <summary>llama_get_logits_ith: the logits row of output i of the last decode (negative counts from the end).</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern float* llama_get_logits_ith(IntPtr context, int i);
    /// <summary>llama_synchronize.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern void llama_synchronize(IntPtr context);

    /// <summary>llama_model_quantize: 0 on success.</summary>
    [DllImport(Llama, ExactSpelling = true)] public static extern uint llama_model_quantize(byte* inPath, byte* outPath, LlamaModelQuantizeParams* parameters);
}
