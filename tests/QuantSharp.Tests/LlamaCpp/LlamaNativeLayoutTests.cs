// Checks our copies of llama.h's structs against the library itself: sizes and every default value.
using System.Runtime.CompilerServices;
using QuantSharp.LlamaCpp;

namespace QuantSharp.Tests.LlamaCpp;

[Trait("Category", "Oracle")]
public sealed class LlamaNativeLayoutTests
{
    [Fact]
    public void Struct_sizes_match_the_x64_C_layout()
    {
        Assert.Equal(72, Unsafe.SizeOf<LlamaModelParams>());
        Assert.Equal(136, Unsafe.SizeOf<LlamaContextParams>());
        Assert.Equal(56, Unsafe.SizeOf<LlamaBatch>());
        Assert.Equal(56, Unsafe.SizeOf<LlamaModelQuantizeParams>());
    }

    // The defaults below are those of llama_*_default_params in b8390's sources; a field read at
    // the wrong offset would show a different value.
    [OracleFact]
    public void Default_params_read_back_as_b8390_defines_them()
    {
        LlamaCppLibrary.EnsureLoaded();
        var m = LlamaNative.llama_model_default_params();
        Assert.Equal((IntPtr.Zero, IntPtr.Zero, -1, 1, 0), (m.Devices, m.TensorBuftOverrides, m.NGpuLayers, m.SplitMode, m.MainGpu));
        Assert.Equal((IntPtr.Zero, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero), (m.TensorSplit, m.ProgressCallback, m.ProgressCallbackUserData, m.KvOverrides));
        Assert.Equal(new byte[] { 0, 1, 0, 0, 0, 1, 0, 0 }, new[] { m.VocabOnly, m.UseMmap, m.UseDirectIo, m.UseMlock, m.CheckTensors, m.UseExtraBufts, m.NoHost, m.NoAlloc });

        var c = LlamaNative.llama_context_default_params();
        Assert.Equal((512u, 2048u, 512u, 1u, 4, 4), (c.NCtx, c.NBatch, c.NUbatch, c.NSeqMax, c.NThreads, c.NThreadsBatch));
        Assert.Equal((-1, -1, -1, -1), (c.RopeScalingType, c.PoolingType, c.AttentionType, c.FlashAttnType));
        Assert.Equal((0f, 0f, -1f, -1f, -1f, -1f, 0u, -1f), (c.RopeFreqBase, c.RopeFreqScale, c.YarnExtFactor, c.YarnAttnFactor, c.YarnBetaFast, c.YarnBetaSlow, c.YarnOrigCtx, c.DefragThold));
        Assert.Equal((IntPtr.Zero, IntPtr.Zero, 1, 1, IntPtr.Zero, IntPtr.Zero), (c.CbEval, c.CbEvalUserData, c.TypeK, c.TypeV, c.AbortCallback, c.AbortCallbackData));
        Assert.Equal(new byte[] { 0, 1, 1, 1, 1, 0 }, new[] { c.Embeddings, c.OffloadKqv, c.NoPerf, c.OpOffload, c.SwaFull, c.KvUnified });
        Assert.Equal((IntPtr.Zero, (nuint)0), (c.Samplers, c.NSamplers));

        var q = LlamaNative.llama_model_quantize_default_params();
        Assert.Equal((0, 9, 41, 41), (q.NThread, q.FType, q.OutputTensorType, q.TokenEmbeddingType));
        Assert.Equal(new byte[] { 0, 1, 0, 0, 0, 0 }, new[] { q.AllowRequantize, q.QuantizeOutputTensor, q.OnlyCopy, q.Pure, q.KeepSplit, q.DryRun });
        Assert.Equal((IntPtr.Zero, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero), (q.Imatrix, q.KvOverrides, q.TensorTypes, q.PruneLayers));
    }
}
