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
    case "e2e":
        return QuantSharp.Bench.EndToEnd.EndToEndBenchmark.Run(rest);
    case "profile":
        return QuantSharp.Bench.EndToEnd.ProfileLoop.Run(rest);
    default:
        Console.Error.WriteLine("usage: QuantSharp.Bench <suite> [args]\n  kernels   BenchmarkDotNet kernel micro-benchmarks\n  gflops    quick GFLOP/s and GB/s table for MatMul [--isa X] [--threads 1,2] [--m 512]\n  e2e       prefill/decode tokens/s vs llama.cpp [--model DIR|GGUF] [--types f32,f16,q4_0,q8_0,q4_k_m,q2_k,...] [--threads 1,2] [--runs 5] [--prompt 512] [--gen 128] [--files DIR]\n  profile   our prefill or decode alone in a loop, for perf: --model FILE.gguf [--phase decode|prefill] [--threads 1] [--seconds 20]");
        return 2;
}
