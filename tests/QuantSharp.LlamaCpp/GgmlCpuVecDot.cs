// ggml-cpu's per-type dot kernels (ggml_get_type_traits_cpu), for benchmarking our integer kernels against them.
using System.Runtime.InteropServices;

namespace QuantSharp.LlamaCpp;

/// <summary>
/// The vec_dot and activation quantizer (from_float) that ggml's CPU backend uses for a weight type,
/// taken from the libggml-cpu-&lt;arch&gt;.so variant ggml chose for this CPU. A matrix-vector
/// product is then what ggml_compute_forward_mul_mat does on one thread: quantize the activation
/// row to vec_dot_type once, one vec_dot per weight row.
/// </summary>
public sealed unsafe class GgmlCpuVecDot
{
    [StructLayout(LayoutKind.Sequential)]
    private struct TypeTraitsCpu
    {
        public IntPtr FromFloat;
        public IntPtr VecDot;
        public int VecDotType;
        public long Rows;
    }

    private readonly delegate* unmanaged<float*, void*, long, void> _fromFloat;
    private readonly delegate* unmanaged<int, float*, nuint, void*, nuint, void*, nuint, int, void> _vecDot;

    private GgmlCpuVecDot(int type, TypeTraitsCpu t, string variant)
    {
        WeightType = type;
        VecDotType = t.VecDotType;
        Variant = variant;
        _fromFloat = (delegate* unmanaged<float*, void*, long, void>)t.FromFloat;
        _vecDot = (delegate* unmanaged<int, float*, nuint, void*, nuint, void*, nuint, int, void>)t.VecDot;
    }

    /// <summary>ggml type id of the weights.</summary>
    public int WeightType { get; }
    /// <summary>ggml type id the activations are quantized to (Q8_0, Q8_1 or Q8_K).</summary>
    public int VecDotType { get; }
    /// <summary>File name of the CPU backend variant the kernels come from.</summary>
    public string Variant { get; }

    /// <summary>
    /// The kernels for ggml type <paramref name="ggmlType"/> from the CPU backend ggml loaded (found
    /// in this process's memory map, since ggml_backend_load_all picks the variant at run time).
    /// </summary>
    public static GgmlCpuVecDot For(int ggmlType)
    {
        LlamaCppLibrary.EnsureLoaded();
        string path = File.ReadLines("/proc/self/maps")
            .Select(l => l.IndexOf('/') is int i and >= 0 ? l[i..] : "")
            .FirstOrDefault(p => Path.GetFileName(p).StartsWith("libggml-cpu-", StringComparison.Ordinal))
            ?? throw new DllNotFoundException("no libggml-cpu-*.so is mapped after loading llama.cpp");
        IntPtr lib = NativeLibrary.Load(path);
        ((delegate* unmanaged<void>)NativeLibrary.GetExport(lib, "ggml_cpu_init"))();
        var traits = ((delegate* unmanaged<int, TypeTraitsCpu*>)NativeLibrary.GetExport(lib, "ggml_get_type_traits_cpu"))(ggmlType);
        if (traits == null || traits->VecDot == IntPtr.Zero)
            throw new NotSupportedException($"{Path.GetFileName(path)} has no vec_dot for ggml type {ggmlType}");
        return new GgmlCpuVecDot(ggmlType, *traits, Path.GetFileName(path));
    }

    /// <summary>Bytes of <paramref name="k"/> activations in <see cref="VecDotType"/>.</summary>
    public long ActivationBytes(int k)
    {
        var rowSize = (delegate* unmanaged<int, long, nuint>)LlamaCppLibrary.GgmlBaseExport("ggml_row_size");
        return (long)rowSize(VecDotType, k);
    }

    /// <summary>
    /// y[r] = weight row r · x for <paramref name="n"/> rows of <paramref name="rowBytes"/> bytes,
    /// quantizing x into <paramref name="scratch"/> (<see cref="ActivationBytes"/> long) first.
    /// </summary>
    public void Gemv(byte* w, long rowBytes, int n, int k, float* x, byte* scratch, float* y)
    {
        _fromFloat(x, scratch, k);
        for (int r = 0; r < n; r++) _vecDot(k, y + r, 0, w + r * rowBytes, 0, scratch, 0, 1);
    }
}
