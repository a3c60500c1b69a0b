// llama-imatrix rebuilt on libllama: collection through the eval callback, and its GGUF writer through ggml's gguf API.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace QuantSharp.LlamaCpp;

/// <summary>
/// What tools/imatrix/imatrix.cpp of b8390 does, driven from .NET: a context whose cb_eval sees
/// every GGML_OP_MUL_MAT whose weight is named "blk.*" (or "output.weight" with processOutput) and
/// has at least 16 F32 input rows, adding x² per column in float and the row count per call, over
/// n_ctx-token chunks each decoded from an empty cache with BOS written over the first token.
/// One chunk per decode (llama-imatrix packs n_batch / n_ctx chunks as parallel sequences into one
/// batch; the sums are the same).
/// </summary>
public static unsafe class LlamaCppImatrix
{
    /// <summary>
    /// Per-weight statistics as llama-imatrix keeps them (Stats.values in float, Stats.counts), plus
    /// the same sums of the same activations added in double (to measure what float summation alone changes).
    /// </summary>
    public sealed record Collected(IReadOnlyDictionary<string, (float[] Sums, long[] Counts)> Entries, IReadOnlyDictionary<string, double[]> DoubleSums,
        int ChunkCount, int ChunkSize, double Seconds);

    private sealed class State(bool processOutput)
    {
        public readonly bool ProcessOutput = processOutput;
        public readonly Dictionary<string, (float[] Sums, long[] Counts)> Stats = new(StringComparer.Ordinal);
        public readonly Dictionary<string, double[]> DoubleSums = new(StringComparer.Ordinal);
        public Exception? Failure;
    }

    /// <summary>
    /// Collects over <paramref name="tokens"/> (tokenized with add_special, as common_tokenize does).
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="tokens">The whole text's tokens.</param>
    /// <param name="nCtx">Chunk length.</param>
    /// <param name="maxChunks">At most this many chunks.</param>
    /// <param name="processOutput">Also collect output.weight.</param>
    /// <param name="threads">Threads for llama.cpp.</param>
    /// <param name="exactAttention">F32 KV cache and no flash attention, instead of llama-imatrix's defaults
    /// (F16 cache, flash attention chosen automatically), which round the attention output to fp16 precision.</param>
    public static Collected Collect(LlamaCppModel model, ReadOnlySpan<int> tokens, int nCtx, int? maxChunks, bool processOutput, int threads, bool exactAttention = false)
    {
        if (tokens.Length < 2 * nCtx) throw new ArgumentException($"{tokens.Length} tokens; llama-imatrix needs at least {2 * nCtx}");
        int chunks = Math.Min(maxChunks ?? int.MaxValue, tokens.Length / nCtx);
        bool addBos = LlamaNative.llama_vocab_get_add_bos(model.Vocab) != 0;
        int bos = model.BosToken;

        var state = new State(processOutput);
        var handle = GCHandle.Alloc(state);
        var p = LlamaNative.llama_context_default_params();
        p.NCtx = (uint)nCtx;
        p.NBatch = (uint)nCtx;
        p.NUbatch = Math.Min(512u, (uint)nCtx);
        p.NSeqMax = 1;
        p.NThreads = threads;
        p.NThreadsBatch = threads;
        if (exactAttention)
        {
            p.TypeK = 0;
            p.TypeV = 0;
            p.FlashAttnType = 0;
        }
        p.CbEval = (IntPtr)(delegate* unmanaged[Cdecl]<GgmlTensorStruct*, byte, IntPtr, byte>)&Callback;
        p.CbEvalUserData = GCHandle.ToIntPtr(handle);
        IntPtr ctx = LlamaNative.llama_init_from_model(model.Handle, p);
        if (ctx == IntPtr.Zero)
        {
            handle.Free();
            throw new InvalidOperationException($"llama.cpp could not create an imatrix context for '{model.Path}'");
        }
        var batch = LlamaNative.llama_batch_init(nCtx, 0, 1);
        try
        {
            var clock = Stopwatch.StartNew();
            for (int c = 0; c < chunks; c++)
            {
                LlamaNative.llama_memory_clear(LlamaNative.llama_get_memory(ctx), 1);
                for (int k = 0; k < nCtx; k++)
                {
                    batch.Token[k] = k == 0 && addBos ? bos : tokens[c * nCtx + k];
                    batch.Pos[k] = k;
                    batch.NSeqId[k] = 1;
                    batch.SeqId[k][0] = 0;
                    // llama-imatrix asks for every output (for output.weight and its perplexity).
                    batch.Logits[k] = 1;
                }
                batch.NTokens = nCtx;
                int rc = LlamaNative.llama_decode(ctx, batch);
                if (state.Failure != null) throw new InvalidOperationException("the imatrix eval callback failed", state.Failure);
                if (rc != 0) throw new InvalidOperationException($"llama_decode returned {rc} on chunk {c}");
                LlamaNative.llama_synchronize(ctx);
            }
            double seconds = clock.Elapsed.TotalSeconds;
            long maxCount = state.Stats.Values.Count == 0 ? 0 : state.Stats.Values.Max(s => s.Counts.Max());
            return new Collected(state.Stats, state.DoubleSums, (int)(maxCount / nCtx), nCtx, seconds);
        }
        finally
        {
            LlamaNative.llama_batch_free(batch);
            LlamaNative.llama_free(ctx);
            handle.Free();
        }
    }

    // IMatrixCollector::collect_imatrix: dense GGML_OP_MUL_MAT, and GGML_OP_MUL_MAT_ID of stacked experts (a sum and a
    // count per expert, from the rows routed to it; every indirect multiplication is collected, whatever its size).
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte Callback(GgmlTensorStruct* t, byte ask, IntPtr userData)
    {
        var state = (State)GCHandle.FromIntPtr(userData).Target!;
        try
        {
            var src0 = t->Source(0);
            var src1 = t->Source(1);
            if (ask != 0)
            {
                if (t->Op == GgmlTensorStruct.OpMulMatId) return 1;
                if (t->Op != GgmlTensorStruct.OpMulMat) return 0;
                if (src1->Ne[1] < 16 || src1->Type != GgmlTensorStruct.TypeF32) return 0;
                string w = FilterName(src0->NameString);
                return (byte)(w.StartsWith("blk.", StringComparison.Ordinal) || (state.ProcessOutput && w == "output.weight") ? 1 : 0);
            }
            if (t->Op == GgmlTensorStruct.OpMulMatId)
            {
                CollectExperts(state, FilterName(src0->NameString), src0, src1, t->Source(2));
                return 1;
            }
            string name = FilterName(src0->NameString);
            long nMat = src0->Ne[2] * src0->Ne[3];
            long cols = src1->Ne[0];
            if (!state.Stats.TryGetValue(name, out var e))
            {
                state.Stats[name] = e = (new float[cols * nMat], new long[1]);
                state.DoubleSums[name] = new double[cols * nMat];
            }
            else if (e.Sums.Length != cols * nMat)
                throw new InvalidOperationException($"inconsistent size for {name}");
            var d = state.DoubleSums[name];
            if (src1->Nb[0] != 4) throw new NotSupportedException("non-contiguous rows");
            byte* data = (byte*)src1->Data;
            for (long i3 = 0; i3 < src1->Ne[3]; i3++)
                for (long i2 = 0; i2 < src1->Ne[2]; i2++)
                {
                    long matId = (i3 % src0->Ne[3]) * src0->Ne[2] + (i2 % src0->Ne[2]);
                    long start = matId * cols;
                    for (long row = 0; row < src1->Ne[1]; row++)
                    {
                        float* x = (float*)(data + row * (long)src1->Nb[1] + i2 * (long)src1->Nb[2] + i3 * (long)src1->Nb[3]);
                        for (long j = 0; j < cols; j++)
                        {
                            e.Sums[start + j] += x[j] * x[j];
                            d[start + j] += (double)x[j] * x[j];
                        }
                    }
                }
            e.Counts[0] += src1->Ne[1] * src1->Ne[2] * src1->Ne[3] / nMat;
            return 1;
        }
        catch (Exception ex)
        {
            state.Failure ??= ex;
            return 0;
        }
    }

    // ids [n_ids, tokens] (int32, possibly not contiguous) pick the expert of each (slot, token); src1 [cols, ne1, tokens]
    // holds the row of slot idx at i11 = idx % ne1 (ne1 = 1 for gate/up, whose input is shared by the slots).
    private static void CollectExperts(State state, string name, GgmlTensorStruct* src0, GgmlTensorStruct* src1, GgmlTensorStruct* ids)
    {
        long nAs = src0->Ne[2], cols = src1->Ne[0], nIds = ids->Ne[0];
        if (src1->Type != GgmlTensorStruct.TypeF32 || src1->Nb[0] != 4) throw new NotSupportedException($"{name}: expert input is not contiguous f32");
        if (!state.Stats.TryGetValue(name, out var e))
        {
            state.Stats[name] = e = (new float[cols * nAs], new long[nAs]);
            state.DoubleSums[name] = new double[cols * nAs];
        }
        else if (e.Sums.Length != cols * nAs || e.Counts.Length != nAs)
            throw new InvalidOperationException($"inconsistent size for {name}");
        var d = state.DoubleSums[name];
        byte* data = (byte*)src1->Data, idData = (byte*)ids->Data;
        // The same order as llama-imatrix: experts, then slots, then tokens (the float sums depend on it).
        for (long ex = 0; ex < nAs; ex++)
        {
            long start = ex * cols;
            for (long idx = 0; idx < nIds; idx++)
                for (long row = 0; row < src1->Ne[2]; row++)
                {
                    int cur = *(int*)(idData + row * (long)ids->Nb[1] + idx * (long)ids->Nb[0]);
                    if (cur < 0 || cur >= nAs) throw new InvalidOperationException($"{name}: expert id {cur} of {nAs}");
                    if (cur != ex) continue;
                    float* x = (float*)(data + idx % src1->Ne[1] * (long)src1->Nb[1] + row * (long)src1->Nb[2]);
                    e.Counts[ex]++;
                    for (long j = 0; j < cols; j++)
                    {
                        e.Sums[start + j] += x[j] * x[j];
                        d[start + j] += (double)x[j] * x[j];
                    }
                }
        }
    }

    // filter_tensor_name: "CUDA0#blk.0.attn_k.weight#0" → "blk.0.attn_k.weight".
    private static string FilterName(string name)
    {
        int p = name.IndexOf('#');
        if (p < 0) return name;
        int q = name.IndexOf('#', p + 1);
        return q < 0 ? name[(p + 1)..] : name[(p + 1)..q];
    }

    /// <summary>
    /// Writes statistics as IMatrixCollector::save_imatrix does: ggml tensors "&lt;name&gt;.in_sum2"
    /// [columns, matrices] and "&lt;name&gt;.counts" [1, matrices] added in sorted name order to a
    /// gguf_context with general.type, imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size,
    /// then gguf_write_to_file.
    /// </summary>
    public static void WriteGguf(string path, IReadOnlyDictionary<string, (float[] Sums, long[] Counts)> entries, int chunkCount, int chunkSize, IReadOnlyList<string> datasets)
    {
        LlamaCppLibrary.EnsureLoaded();
        var names = entries.Keys.OrderBy(n => n, StringComparer.Ordinal).ToArray();
        nuint overhead = GgufNative.TensorOverhead();
        nuint size = 0;
        foreach (var n in names)
        {
            size += Pad(overhead + (nuint)(4 * entries[n].Sums.Length));
            size += Pad(overhead + (nuint)(4 * entries[n].Counts.Length));
        }
        IntPtr ctx = GgufNative.GgmlInit(size);
        IntPtr gguf = GgufNative.InitEmpty();
        try
        {
            GgufNative.SetString(gguf, "general.type", "imatrix");
            GgufNative.SetStringArray(gguf, "imatrix.datasets", datasets);
            GgufNative.SetUInt32(gguf, "imatrix.chunk_count", (uint)chunkCount);
            GgufNative.SetUInt32(gguf, "imatrix.chunk_size", (uint)chunkSize);
            foreach (var n in names)
            {
                var (sums, counts) = entries[n];
                int nmat = counts.Length;
                var s = GgufNative.NewTensor2D(ctx, GgmlTensorStruct.TypeF32, sums.Length / nmat, nmat);
                var c = GgufNative.NewTensor2D(ctx, GgmlTensorStruct.TypeF32, 1, nmat);
                GgufNative.SetName(s, n + ".in_sum2");
                GgufNative.SetName(c, n + ".counts");
                sums.AsSpan().CopyTo(new Span<float>((void*)s->Data, sums.Length));
                for (int j = 0; j < nmat; j++) ((float*)c->Data)[j] = counts[j];
                GgufNative.AddTensor(gguf, s);
                GgufNative.AddTensor(gguf, c);
            }
            if (!GgufNative.WriteToFile(gguf, path)) throw new IOException($"gguf_write_to_file failed for {path}");
        }
        finally
        {
            GgufNative.Free(gguf);
            GgufNative.GgmlFree(ctx);
        }

        static nuint Pad(nuint x) => (x + 15) / 16 * 16; // GGML_MEM_ALIGN on 64-bit
    }

    /// <summary>An imatrix GGUF as ggml's reader sees it: metadata (key → (gguf type, value)), tensors in file order.</summary>
    public sealed record GgmlView(IReadOnlyList<(string Key, int Type, object Value)> Metadata, IReadOnlyList<(string Name, int Type, long[] Ne, float[] Data)> Tensors);

    /// <summary>
    /// Loads <paramref name="path"/> with gguf_init_from_file (no_alloc false, as llama-quantize's
    /// load_imatrix does) and returns its keys and F32 tensors; null when ggml rejects the file.
    /// </summary>
    public static GgmlView? ReadWithGgml(string path)
    {
        LlamaCppLibrary.EnsureLoaded();
        IntPtr gguf = GgufNative.InitFromFile(path, noAlloc: false, out IntPtr ctx);
        if (gguf == IntPtr.Zero) return null;
        try
        {
            var md = new List<(string, int, object)>();
            for (long i = 0; i < GgufNative.KeyCount(gguf); i++)
            {
                string key = GgufNative.Key(gguf, i);
                int type = GgufNative.KeyType(gguf, i);
                object value = type switch
                {
                    GgufNative.GgufTypeUInt32 => GgufNative.UInt32(gguf, i),
                    GgufNative.GgufTypeString => GgufNative.String(gguf, i),
                    GgufNative.GgufTypeArray when GgufNative.ArrayType(gguf, i) == GgufNative.GgufTypeString
                        => Enumerable.Range(0, (int)GgufNative.ArrayLength(gguf, i)).Select(j => GgufNative.ArrayString(gguf, i, j)).ToArray(),
                    _ => $"(gguf type {type})",
                };
                md.Add((key, type, value));
            }
            var tensors = new List<(string, int, long[], float[])>();
            for (var t = GgufNative.FirstTensor(ctx); t != null; t = GgufNative.NextTensor(ctx, t))
            {
                // With no_alloc false ggml first creates one I8 tensor holding the whole data section.
                if (t->NameString == "GGUF tensor data binary blob") continue;
                long[] ne = [t->Ne[0], t->Ne[1], t->Ne[2], t->Ne[3]];
                long count = ne[0] * ne[1] * ne[2] * ne[3];
                float[] data = t->Type == GgmlTensorStruct.TypeF32 ? new ReadOnlySpan<float>((void*)t->Data, (int)count).ToArray() : [];
                tensors.Add((t->NameString, t->Type, ne, data));
            }
            return new GgmlView(md, tensors);
        }
        finally
        {
            GgufNative.Free(gguf);
            if (ctx != IntPtr.Zero) GgufNative.GgmlFree(ctx);
        }
    }
}
