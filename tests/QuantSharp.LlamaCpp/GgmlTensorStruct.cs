// struct ggml_tensor of ggml.h b8390, field for field, to read the tensors an eval callback is given.
using System.Runtime.InteropServices;

namespace QuantSharp.LlamaCpp;

/// <summary>
/// struct ggml_tensor (336 bytes on x86-64; ggml_tensor_overhead() adds the 32-byte ggml_object).
/// Source: ggml/include/ggml.h at b8390 (GGML_MAX_DIMS 4, GGML_MAX_OP_PARAMS 64, GGML_MAX_SRC 10,
/// GGML_MAX_NAME 64). Pointers to other tensors are kept as addresses.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct GgmlTensorStruct
{
    /// <summary>enum ggml_op value of GGML_OP_MUL_MAT at b8390.</summary>
    public const int OpMulMat = 29;
    /// <summary>enum ggml_op value of GGML_OP_MUL_MAT_ID at b8390.</summary>
    public const int OpMulMatId = 30;
    /// <summary>GGML_TYPE_F32.</summary>
    public const int TypeF32 = 0;

    /// <summary>enum ggml_type type.</summary>
    public int Type;
    /// <summary>struct ggml_backend_buffer* buffer.</summary>
    public IntPtr Buffer;
    /// <summary>int64 ne[4]: elements per dimension, innermost first.</summary>
    public fixed long Ne[4];
    /// <summary>size_t nb[4]: strides in bytes.</summary>
    public fixed ulong Nb[4];
    /// <summary>enum ggml_op op.</summary>
    public int Op;
    /// <summary>int32 op_params[16].</summary>
    public fixed int OpParams[16];
    /// <summary>int32 flags.</summary>
    public int Flags;
    /// <summary>struct ggml_tensor* src[10] (addresses).</summary>
    public fixed ulong Src[10];
    /// <summary>struct ggml_tensor* view_src.</summary>
    public IntPtr ViewSrc;
    /// <summary>size_t view_offs.</summary>
    public nuint ViewOffs;
    /// <summary>void* data.</summary>
    public IntPtr Data;
    /// <summary>char name[64].</summary>
    public fixed byte Name[64];
    /// <summary>void* extra.</summary>
    public IntPtr Extra;
    /// <summary>char padding[8].</summary>
    public fixed byte Padding[8];

    /// <summary>The tensor's name (up to the terminating NUL).</summary>
    public string NameString
    {
        get
        {
            fixed (byte* p = Name)
            {
                int n = 0;
                while (n < 64 && p[n] != 0) n++;
                return System.Text.Encoding.UTF8.GetString(p, n);
            }
        }
    }

    /// <summary>Source tensor <paramref name="i"/>, or null.</summary>
    public GgmlTensorStruct* Source(int i) => (GgmlTensorStruct*)Src[i];
}
