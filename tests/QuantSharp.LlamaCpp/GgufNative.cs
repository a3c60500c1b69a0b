// ggml's own GGUF reader and writer (gguf.h / ggml.h of b8390 in libggml-base), called through function pointers.
using System.Runtime.InteropServices;
using System.Text;

namespace QuantSharp.LlamaCpp;

/// <summary>struct ggml_init_params (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GgmlInitParams
{
    /// <summary>size_t mem_size.</summary>
    public nuint MemSize;
    /// <summary>void* mem_buffer (NULL: allocated by ggml).</summary>
    public IntPtr MemBuffer;
    /// <summary>bool no_alloc.</summary>
    public byte NoAlloc;
}

/// <summary>struct gguf_init_params (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GgufInitParams
{
    /// <summary>bool no_alloc.</summary>
    public byte NoAlloc;
    /// <summary>struct ggml_context** ctx (where the tensors are created; may be NULL).</summary>
    public IntPtr Ctx;
}

/// <summary>
/// The gguf_* and ggml_* functions an imatrix needs, resolved from libggml-base. These are the
/// calls llama-imatrix makes to save its GGUF and llama-quantize makes to load it.
/// </summary>
public static unsafe class GgufNative
{
    /// <summary>GGUF_TYPE_UINT32.</summary>
    public const int GgufTypeUInt32 = 4;
    /// <summary>GGUF_TYPE_STRING.</summary>
    public const int GgufTypeString = 8;
    /// <summary>GGUF_TYPE_ARRAY.</summary>
    public const int GgufTypeArray = 9;

    /// <summary>gguf_init_empty.</summary>
    public static IntPtr InitEmpty() => ((delegate* unmanaged<IntPtr>)LlamaCppLibrary.GgmlBaseExport("gguf_init_empty"))();

    /// <summary>gguf_init_from_file; NULL when ggml rejects the file.</summary>
    public static IntPtr InitFromFile(string path, bool noAlloc, out IntPtr ggmlContext)
    {
        var f = (delegate* unmanaged<byte*, GgufInitParams, IntPtr>)LlamaCppLibrary.GgmlBaseExport("gguf_init_from_file");
        IntPtr ctx = 0;
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        IntPtr result;
        fixed (byte* b = bytes) result = f(b, new GgufInitParams { NoAlloc = (byte)(noAlloc ? 1 : 0), Ctx = (IntPtr)(&ctx) });
        ggmlContext = ctx;
        return result;
    }

    /// <summary>gguf_free.</summary>
    public static void Free(IntPtr gguf) => ((delegate* unmanaged<IntPtr, void>)LlamaCppLibrary.GgmlBaseExport("gguf_free"))(gguf);
    /// <summary>gguf_get_n_kv.</summary>
    public static long KeyCount(IntPtr gguf) => ((delegate* unmanaged<IntPtr, long>)LlamaCppLibrary.GgmlBaseExport("gguf_get_n_kv"))(gguf);
    /// <summary>gguf_get_key.</summary>
    public static string Key(IntPtr gguf, long id) => Str(((delegate* unmanaged<IntPtr, long, byte*>)LlamaCppLibrary.GgmlBaseExport("gguf_get_key"))(gguf, id));
    /// <summary>gguf_find_key (-1 when absent).</summary>
    public static long FindKey(IntPtr gguf, string key)
    {
        var bytes = Encoding.UTF8.GetBytes(key + "\0");
        fixed (byte* b = bytes) return ((delegate* unmanaged<IntPtr, byte*, long>)LlamaCppLibrary.GgmlBaseExport("gguf_find_key"))(gguf, b);
    }
    /// <summary>gguf_get_kv_type.</summary>
    public static int KeyType(IntPtr gguf, long id) => ((delegate* unmanaged<IntPtr, long, int>)LlamaCppLibrary.GgmlBaseExport("gguf_get_kv_type"))(gguf, id);
    /// <summary>gguf_get_arr_type.</summary>
    public static int ArrayType(IntPtr gguf, long id) => ((delegate* unmanaged<IntPtr, long, int>)LlamaCppLibrary.GgmlBaseExport("gguf_get_arr_type"))(gguf, id);
    /// <summary>gguf_get_arr_n.</summary>
    public static long ArrayLength(IntPtr gguf, long id) => (long)((delegate* unmanaged<IntPtr, long, nuint>)LlamaCppLibrary.GgmlBaseExport("gguf_get_arr_n"))(gguf, id);
    /// <summary>gguf_get_arr_str.</summary>
    public static string ArrayString(IntPtr gguf, long id, long i) => Str(((delegate* unmanaged<IntPtr, long, nuint, byte*>)LlamaCppLibrary.GgmlBaseExport("gguf_get_arr_str"))(gguf, id, (nuint)i));
    /// <summary>gguf_get_val_u32.</summary>
    public static uint UInt32(IntPtr gguf, long id) => ((delegate* unmanaged<IntPtr, long, uint>)LlamaCppLibrary.GgmlBaseExport("gguf_get_val_u32"))(gguf, id);
    /// <summary>gguf_get_val_str.</summary>
    public static string String(IntPtr gguf, long id) => Str(((delegate* unmanaged<IntPtr, long, byte*>)LlamaCppLibrary.GgmlBaseExport("gguf_get_val_str"))(gguf, id));
    /// <summary>gguf_get_n_tensors.</summary>
    public static long TensorCount(IntPtr gguf) => ((delegate* unmanaged<IntPtr, long>)LlamaCppLibrary.GgmlBaseExport("gguf_get_n_tensors"))(gguf);
    /// <summary>gguf_get_tensor_name.</summary>
    public static string TensorName(IntPtr gguf, long id) => Str(((delegate* unmanaged<IntPtr, long, byte*>)LlamaCppLibrary.GgmlBaseExport("gguf_get_tensor_name"))(gguf, id));
    /// <summary>gguf_get_tensor_type.</summary>
    public static int TensorType(IntPtr gguf, long id) => ((delegate* unmanaged<IntPtr, long, int>)LlamaCppLibrary.GgmlBaseExport("gguf_get_tensor_type"))(gguf, id);

    /// <summary>gguf_set_val_str.</summary>
    public static void SetString(IntPtr gguf, string key, string value)
    {
        var k = Encoding.UTF8.GetBytes(key + "\0");
        var v = Encoding.UTF8.GetBytes(value + "\0");
        fixed (byte* kp = k) fixed (byte* vp = v) ((delegate* unmanaged<IntPtr, byte*, byte*, void>)LlamaCppLibrary.GgmlBaseExport("gguf_set_val_str"))(gguf, kp, vp);
    }

    /// <summary>gguf_set_val_u32.</summary>
    public static void SetUInt32(IntPtr gguf, string key, uint value)
    {
        var k = Encoding.UTF8.GetBytes(key + "\0");
        fixed (byte* kp = k) ((delegate* unmanaged<IntPtr, byte*, uint, void>)LlamaCppLibrary.GgmlBaseExport("gguf_set_val_u32"))(gguf, kp, value);
    }

    /// <summary>gguf_set_arr_str.</summary>
    public static void SetStringArray(IntPtr gguf, string key, IReadOnlyList<string> values)
    {
        var k = Encoding.UTF8.GetBytes(key + "\0");
        var handles = values.Select(v => GCHandle.Alloc(Encoding.UTF8.GetBytes(v + "\0"), GCHandleType.Pinned)).ToArray();
        try
        {
            var ptrs = handles.Select(h => h.AddrOfPinnedObject()).ToArray();
            fixed (byte* kp = k) fixed (IntPtr* pp = ptrs)
                ((delegate* unmanaged<IntPtr, byte*, IntPtr*, nuint, void>)LlamaCppLibrary.GgmlBaseExport("gguf_set_arr_str"))(gguf, kp, pp, (nuint)ptrs.Length);
        }
        finally { foreach (var h in handles) h.Free(); }
    }

    /// <summary>gguf_add_tensor (the tensor's data must stay alive until writing).</summary>
    public static void AddTensor(IntPtr gguf, GgmlTensorStruct* tensor) => ((delegate* unmanaged<IntPtr, GgmlTensorStruct*, void>)LlamaCppLibrary.GgmlBaseExport("gguf_add_tensor"))(gguf, tensor);

    /// <summary>gguf_write_to_file; false on failure.</summary>
    public static bool WriteToFile(IntPtr gguf, string path)
    {
        var b = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = b) return ((delegate* unmanaged<IntPtr, byte*, byte, byte>)LlamaCppLibrary.GgmlBaseExport("gguf_write_to_file"))(gguf, p, 0) != 0;
    }

    /// <summary>ggml_init.</summary>
    public static IntPtr GgmlInit(nuint memSize) => ((delegate* unmanaged<GgmlInitParams, IntPtr>)LlamaCppLibrary.GgmlBaseExport("ggml_init"))(new GgmlInitParams { MemSize = memSize });
    /// <summary>ggml_free.</summary>
    public static void GgmlFree(IntPtr ctx) => ((delegate* unmanaged<IntPtr, void>)LlamaCppLibrary.GgmlBaseExport("ggml_free"))(ctx);
    /// <summary>ggml_tensor_overhead: sizeof(ggml_object) + sizeof(ggml_tensor).</summary>
    public static nuint TensorOverhead() => ((delegate* unmanaged<nuint>)LlamaCppLibrary.GgmlBaseExport("ggml_tensor_overhead"))();
    /// <summary>ggml_new_tensor_2d.</summary>
    public static GgmlTensorStruct* NewTensor2D(IntPtr ctx, int type, long ne0, long ne1)
        => ((delegate* unmanaged<IntPtr, int, long, long, GgmlTensorStruct*>)LlamaCppLibrary.GgmlBaseExport("ggml_new_tensor_2d"))(ctx, type, ne0, ne1);
    /// <summary>ggml_set_name.</summary>
    public static void SetName(GgmlTensorStruct* t, string name)
    {
        var b = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* p = b) ((delegate* unmanaged<GgmlTensorStruct*, byte*, GgmlTensorStruct*>)LlamaCppLibrary.GgmlBaseExport("ggml_set_name"))(t, p);
    }
    /// <summary>ggml_get_first_tensor.</summary>
    public static GgmlTensorStruct* FirstTensor(IntPtr ctx) => ((delegate* unmanaged<IntPtr, GgmlTensorStruct*>)LlamaCppLibrary.GgmlBaseExport("ggml_get_first_tensor"))(ctx);
    /// <summary>ggml_get_next_tensor.</summary>
    public static GgmlTensorStruct* NextTensor(IntPtr ctx, GgmlTensorStruct* t) => ((delegate* unmanaged<IntPtr, GgmlTensorStruct*, GgmlTensorStruct*>)LlamaCppLibrary.GgmlBaseExport("ggml_get_next_tensor"))(ctx, t);

    private static string Str(byte* p) => p == null ? "" : Marshal.PtrToStringUTF8((IntPtr)p) ?? "";
}
