// Benchmark entry point: the first argument picks the suite; the rest is passed to it.
using BenchmarkDotNet.Running;
using QuantSharp.Bench.Kernels;

var rest = args.Skip(1).ToArray();
switch (args.FirstOrDefault())
{
    case "kernels":
        // BenchmarkDotNet over the kernel micro-benchmarks (filters etc. via the remaining args).
        BenchmarkSwitcher.FromTypes([typeof(GemvBenchmarks), typeof(GemmBenchmarks)]).Run(rest);
        return 0;
    case "gflops":
        return GflopsRunner.Run(rest);
    case "gptq":
        return GptqBenchmark.Run(rest);
    case "qgemv":
        return QuantGemvRunner.Run(rest);
    case "attention":
        return AttentionRunner.Run(rest);
    case "qgemm":
        return QuantGemmRunner.Run(rest);
    case "e2e":
        return QuantSharp.Bench.EndToEnd.EndToEndBenchmark.Run(rest);
    case "random-model":
        return QuantSharp.Bench.EndToEnd.RandomModelWriter.Run(rest);
    case "imatrix":
        return QuantSharp.Bench.EndToEnd.ImatrixBenchmark.Run(rest);
    case "quantize-time":
        return QuantSharp.Bench.Quantization.QuantizeTimeBenchmark.Run(rest);
    case "calib":
        return QuantSharp.Bench.Calibration.CalibrationRunBenchmark.Run(rest);
    case "gptq-run":
        return QuantSharp.Bench.Calibration.GptqRunBenchmark.Run(rest);
    case "method-stages":
        return QuantSharp.Bench.Quantization.MethodStagesBenchmark.Run(rest);
    case "profile":
        return QuantSharp.Bench.EndToEnd.ProfileLoop.Run(rest);
    case "quality":
        return QuantSharp.Bench.Quality.QualityBenchmark.Run(rest);
    case "kld":
        return QuantSharp.Bench.Quality.LlamaCppKldBenchmark.Run(rest);
    default:
        Console.Error.WriteLine("usage: QuantSharp.Bench <suite> [args]\n  kernels   BenchmarkDotNet kernel micro-benchmarks\n  gflops    quick GFLOP/s and GB/s table for MatMul [--isa X] [--threads 1,2] [--m 512]\n  gptq      GPTQ timing: Cholesky of H⁻¹ vs column sweep, GFLOP/s vs GEMM [--model DIR] [--threads 1,2]\n  qgemv     GEMV per GGUF block type: ours vs dequantizing path vs ggml vec_dot [--types Q4_1,Q2_K] [--k 2048] [--n 2048]\n  qgemm     prefill-sized products on block-quantized weights: int8 GEMM vs fp32 dequantizing GEMM [--types Q4_0] [--shapes 2048x2048] [--m 32,512] [--threads 1]\n  attention the prefill attention kernel over one KV head's causal blocks [--prompt 512] [--head-dim 64] [--queries 2] [--block 8] [--kv f16|f32] [--window W] [--isa X] [--rounds 31]\n  e2e       prefill/decode tokens/s vs llama.cpp [--model DIR|GGUF] [--types f32,f16,q4_0,q8_0,q4_k_m,q2_k,...] [--threads 1,2] [--runs 5] [--prompt 512] [--gen 128] [--files DIR] [--kv f16|f32]\n  random-model  writes a random-weight Llama checkpoint (default Llama-3.2-1B shapes, vocab 8192) to a temp folder [--out DIR] [--hidden 2048] [--layers 16] [--heads 32] [--kv-heads 8] [--ffn 8192] [--vocab 8192] [--experts 8 --experts-used 2 --expert-ffn F]\n  imatrix   imatrix collection time vs llama.cpp's eval callback [--model DIR|GGUF] [--type f32|f16] [--threads 1,2] [--runs 3] [--chunks 10] [--ctx 512]\n  quantize-time  whole-model quantization time vs llama_model_quantize [--runs 3] [--threads 2]\n  calib     layer-streaming calibration run: phases and peak memory [--model DIR] [--calib FILE] [--nsamples 128] [--seqlen 512] [--original] [--hessian] [--memory]\n  gptq-run  whole GPTQ run (hf-gptq): phases, FLOPs, GFLOP/s vs our GEMM peak [--model DIR] [--nsamples 32] [--seqlen 512] [--bits 4] [--threads 2] [--runs 3]\n  method-stages  each method's time by stage (load, rotation, forwards, statistics, AWQ, GPTQ, quantize, write) and peak memory, in process as `quantize --measure-memory` [--model DIR] [--methods rtn,awq,gptq,awq+gptq,rotate+gptq,rotate+awq+gptq] [--type Q4_K_M | --format hf-gptq] [--nsamples 16] [--seqlen 256] [--threads 2] [--runs 1] [--no-memory]\n  profile   our prefill or decode alone in a loop, for perf: --model FILE.gguf [--phase decode|prefill] [--threads 1] [--seconds 20]\n  quality   every named mix: llama.cpp's vs our quantizer, with our imatrix; PPL, KLD, same-top % by both engines [--chunks 8] [--imatrix-chunks 100] [--types Q4_K_M,Q8_0] [--out FILE] [--keep DIR] [--cpp-f16-cache] [--pure]\n  kld       mean KLD of GGUF files vs a base, measured by llama.cpp (F32 cache) --base F32.gguf --files a.gguf,b.gguf [--chunks 44] [--ctx 512] [--logits FILE]");
        return 2;
}
