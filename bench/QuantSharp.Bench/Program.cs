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
    case "calib":
        return QuantSharp.Bench.Calibration.CalibrationRunBenchmark.Run(rest);
    default:
        Console.Error.WriteLine("usage: QuantSharp.Bench <suite> [args]\n  kernels   BenchmarkDotNet kernel micro-benchmarks\n  gflops    quick GFLOP/s and GB/s table for MatMul [--isa X] [--threads 1,2] [--m 512]\n  e2e       prefill/decode tokens/s vs llama.cpp [--model DIR|GGUF] [--types f32,f16] [--threads 1,2] [--runs 5] [--prompt 512] [--gen 128]\n  calib     layer-streaming calibration run: phases and peak memory [--model DIR] [--calib FILE] [--nsamples 128] [--seqlen 512] [--original] [--hessian] [--memory]");
        return 2;
}
