// The C structs of llama.h at build b8390, field for field, for P/Invoke by value.
// Source: include/llama.h of ggml-org/llama.cpp tag b8390 (from node-llama-cpp 3.18.1's
// llama/gitRelease.bundle, the exact source the binaries were built from). A wrong layout is
// silent memory corruption, so LlamaNativeLayoutTests checks sizes and every default value.
using System.Runtime.InteropServices;

namespace QuantSharp.LlamaCpp;

/// <summary>struct llama_model_params (72 bytes on x86-64).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LlamaModelParams
{
    /// <summary>ggml_backend_dev_t* devices (NULL-terminated; NULL = all).</summary>
    public IntPtr Devices;
    /// <summary>const llama_model_tensor_buft_override* tensor_buft_overrides.</summary>
    public IntPtr TensorBuftOverrides;
    /// <summary>int32 n_gpu_layers.</summary>
    public int NGpuLayers;
    /// <summary>enum llama_split_mode split_mode.</summary>
    public int SplitMode;
    /// <summary>int32 main_gpu.</summary>
    public int MainGpu;
    /// <summary>const float* tensor_split.</summary>
    public IntPtr TensorSplit;
    /// <summary>llama_progress_callback progress_callback.</summary>
    public IntPtr ProgressCallback;
    /// <summary>void* progress_callback_user_data.</summary>
    public IntPtr ProgressCallbackUserData;
    /// <summary>const llama_model_kv_override* kv_overrides.</summary>
    public IntPtr KvOverrides;
    /// <summary>bool vocab_only.</summary>
    public byte VocabOnly;
    /// <summary>bool use_mmap.</summary>
    public byte UseMmap;
    /// <summary>bool use_direct_io.</summary>
    public byte UseDirectIo;
    /// <summary>bool use_mlock.</summary>
    public byte UseMlock;
    /// <summary>bool check_tensors.</summary>
    public byte CheckTensors;
    /// <summary>bool use_extra_bufts.</summary>
    public byte UseExtraBufts;
    /// <summary>bool no_host.</summary>
    public byte NoHost;
    /// <summary>bool no_alloc.</summary>
    public byte NoAlloc;
}

/// <summary>struct llama_context_params (136 bytes on x86-64).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LlamaContextParams
{
    /// <summary>uint32 n_ctx (0 = from model).</summary>
    public uint NCtx;
    /// <summary>uint32 n_batch: most tokens one llama_decode call accepts.</summary>
    public uint NBatch;
    /// <summary>uint32 n_ubatch: physical batch size.</summary>
    public uint NUbatch;
    /// <summary>uint32 n_seq_max.</summary>
    public uint NSeqMax;
    /// <summary>int32 n_threads (generation).</summary>
    public int NThreads;
    /// <summary>int32 n_threads_batch (prompt processing).</summary>
    public int NThreadsBatch;
    /// <summary>enum llama_rope_scaling_type.</summary>
    public int RopeScalingType;
    /// <summary>enum llama_pooling_type.</summary>
    public int PoolingType;
    /// <summary>enum llama_attention_type.</summary>
    public int AttentionType;
    /// <summary>enum llama_flash_attn_type (-1 auto, 0 off, 1 on).</summary>
    public int FlashAttnType;
    /// <summary>float rope_freq_base.</summary>
    public float RopeFreqBase;
    /// <summary>float rope_freq_scale.</summary>
    public float RopeFreqScale;
    /// <summary>float yarn_ext_factor.</summary>
    public float YarnExtFactor;
    /// <summary>float yarn_attn_factor.</summary>
    public float YarnAttnFactor;
    /// <summary>float yarn_beta_fast.</summary>
    public float YarnBetaFast;
    /// <summary>float yarn_beta_slow.</summary>
    public float YarnBetaSlow;
    /// <summary>uint32 yarn_orig_ctx.</summary>
    public uint YarnOrigCtx;
    /// <summary>float defrag_thold (deprecated).</summary>
    public float DefragThold;
    /// <summary>ggml_backend_sched_eval_callback cb_eval.</summary>
    public IntPtr CbEval;
    /// <summary>void* cb_eval_user_data.</summary>
    public IntPtr CbEvalUserData;
    /// <summary>enum ggml_type type_k.</summary>
    public int TypeK;
    /// <summary>enum ggml_type type_v.</summary>
    public int TypeV;
    /// <summary>ggml_abort_callback abort_callback.</summary>
    public IntPtr AbortCallback;
    /// <summary>void* abort_callback_data.</summary>
    public IntPtr AbortCallbackData;
    /// <summary>bool embeddings.</summary>
    public byte Embeddings;
    /// <summary>bool offload_kqv.</summary>
    public byte OffloadKqv;
    /// <summary>bool no_perf.</summary>
    public byte NoPerf;
    /// <summary>bool op_offload.</summary>
    public byte OpOffload;
    /// <summary>bool swa_full.</summary>
    public byte SwaFull;
    /// <summary>bool kv_unified.</summary>
    public byte KvUnified;
    /// <summary>struct llama_sampler_seq_config* samplers.</summary>
    public IntPtr Samplers;
    /// <summary>size_t n_samplers.</summary>
    public nuint NSamplers;
}

/// <summary>struct llama_batch (56 bytes on x86-64).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct LlamaBatch
{
    /// <summary>int32 n_tokens.</summary>
    public int NTokens;
    /// <summary>llama_token* token.</summary>
    public int* Token;
    /// <summary>float* embd.</summary>
    public float* Embd;
    /// <summary>llama_pos* pos.</summary>
    public int* Pos;
    /// <summary>int32* n_seq_id.</summary>
    public int* NSeqId;
    /// <summary>llama_seq_id** seq_id.</summary>
    public int** SeqId;
    /// <summary>int8* logits: non-zero where the token's logits are wanted.</summary>
    public sbyte* Logits;
}

/// <summary>llama_model_quantize_params (56 bytes on x86-64).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LlamaModelQuantizeParams
{
    /// <summary>int32 nthread (&lt;= 0: hardware concurrency).</summary>
    public int NThread;
    /// <summary>enum llama_ftype ftype.</summary>
    public int FType;
    /// <summary>enum ggml_type output_tensor_type (GGML_TYPE_COUNT = default).</summary>
    public int OutputTensorType;
    /// <summary>enum ggml_type token_embedding_type (GGML_TYPE_COUNT = default).</summary>
    public int TokenEmbeddingType;
    /// <summary>bool allow_requantize.</summary>
    public byte AllowRequantize;
    /// <summary>bool quantize_output_tensor.</summary>
    public byte QuantizeOutputTensor;
    /// <summary>bool only_copy.</summary>
    public byte OnlyCopy;
    /// <summary>bool pure.</summary>
    public byte Pure;
    /// <summary>bool keep_split.</summary>
    public byte KeepSplit;
    /// <summary>bool dry_run.</summary>
    public byte DryRun;
    /// <summary>void* imatrix.</summary>
    public IntPtr Imatrix;
    /// <summary>void* kv_overrides.</summary>
    public IntPtr KvOverrides;
    /// <summary>void* tensor_types.</summary>
    public IntPtr TensorTypes;
    /// <summary>void* prune_layers.</summary>
    public IntPtr PruneLayers;
}
