// Hook for seeing the activations that enter each weight multiplication of the forward pass (calibration).
namespace QuantSharp.Models;

/// <summary>
/// Receives, during <see cref="InferenceSession.Forward"/>, the input rows of every multiplication by
/// a weight matrix, before the multiplication, named by the weight's GGUF tensor name
/// ("blk.0.attn_q.weight", …, "output.weight", or "token_embd.weight" for a classifier tied to the
/// embedding). q, k and v share one input and are reported once each, as llama.cpp evaluates them.
/// Called on the thread that runs Forward; the span is only valid during the call.
/// </summary>
public interface IMatMulObserver
{
    /// <summary>One multiplication's input.</summary>
    /// <param name="weightName">GGUF name of the weight.</param>
    /// <param name="input">[rows, columns] activations, row-major.</param>
    /// <param name="rows">Tokens in the batch.</param>
    /// <param name="columns">Input width (the weight's row length).</param>
    void OnMatMulInput(string weightName, ReadOnlySpan<float> input, int rows, int columns);

    /// <summary>
    /// The input rows of one expert of a stacked expert tensor (llama.cpp's MUL_MAT_ID): only the tokens routed
    /// to <paramref name="expert"/>, one row per (token, top-k slot) that chose it. Experts that receive no token
    /// in a batch are not reported.
    /// </summary>
    /// <param name="weightName">GGUF name of the stacked tensor ("blk.0.ffn_gate_exps.weight").</param>
    /// <param name="expert">Expert index.</param>
    /// <param name="experts">Number of experts in the tensor.</param>
    /// <param name="input">[rows, columns] activations, row-major.</param>
    /// <param name="rows">Rows routed to the expert.</param>
    /// <param name="columns">Input width.</param>
    void OnExpertMatMulInput(string weightName, int expert, int experts, ReadOnlySpan<float> input, int rows, int columns);
}
