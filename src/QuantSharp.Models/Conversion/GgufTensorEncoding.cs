// How the GGUF exporter stores each 2-D weight: its type, and who encodes block-quantized rows.
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Models.Conversion;

/// <summary>Encodes whole rows of fp32 values into a block-quantized type (ggml layout).</summary>
/// <param name="tensorName">GGUF name of the tensor being encoded (e.g. "blk.0.attn_q.weight"), so that per-tensor
/// data such as an importance-matrix entry can be looked up.</param>
/// <param name="matrix">Which matrix of the tensor: 0 for a 2-D weight, the expert for a stacked [experts, rows, columns]
/// one (each expert has its own slice of an importance matrix, as in llama-quantize).</param>
/// <param name="type">Target type.</param>
/// <param name="rows">Row-major values, a whole number of rows.</param>
/// <param name="rowLength">Values per row.</param>
/// <param name="destination">Encoded bytes of all rows.</param>
public delegate void BlockRowEncoder(string tensorName, int matrix, GgmlType type, ReadOnlySpan<float> rows, int rowLength, Span<byte> destination);

/// <summary>
/// The exporter's choice for 2-D weights: <see cref="TypeFor"/> picks a type per GGUF tensor name
/// and source view (float types are converted directly; block types go through <see cref="Encoder"/>),
/// <see cref="FileType"/> is llama.cpp's general.file_type for the whole file.
/// </summary>
/// <remarks>
/// <see cref="LayerTensors"/>, when set, supplies the already encoded bytes of decoder layers'
/// linear weights (in the source file's row order; the exporter applies the q/k RoPE row
/// permutation) instead of encoding the model's weights: a layer-streaming quantizer produces
/// them one layer at a time, in the order the file is written.
/// </remarks>
/// <para><see cref="LayerVectors"/>, when set, supplies each decoder layer's norms, biases and q/k norms (in the
/// model's in-memory convention) instead of the model's: a layer-streaming run whose transforms changed them.</para>
/// <para><see cref="LayerRouters"/>, when set, supplies each mixture-of-experts layer's router as the run used it (a
/// rotation changes it); where it returns null the model's router is written.</para>
public sealed record GgufTensorEncoding(Func<string, long[], GgmlType> TypeFor, BlockRowEncoder? Encoder, uint FileType, LayerTensorSource? LayerTensors = null,
    LayerVectorSource? LayerVectors = null, LayerRouterSource? LayerRouters = null);

/// <summary>The router [experts, hidden] (row-major fp32) of decoder layer <paramref name="layer"/>, or null for the model's own.</summary>
public delegate float[]? LayerRouterSource(int layer);

/// <summary>The vector of <paramref name="role"/> (a norm, bias or q/k norm) of decoder layer <paramref name="layer"/>.</summary>
public delegate float[] LayerVectorSource(int layer, Architectures.TensorRole role);

/// <summary>
/// The encoded bytes (whole rows of <c>type</c>, source row order) of linear <paramref name="linear"/> in decoder layer
/// <paramref name="layer"/>; for a mixture of experts, of expert <paramref name="expert"/>'s gate/up/down (−1 for a dense linear).
/// </summary>
public delegate (GgmlType Type, ReadOnlyMemory<byte> Bytes) LayerTensorSource(int layer, Llama.LlamaLinear linear, int expert);
