// The activations a group of linear layers reads: the names under which calibration observes them.
namespace QuantSharp.Models.Architectures;

/// <summary>
/// Which activations a group of linear layers reads (the layers of a group share their input). The
/// calibration runner, its observers and the quantizers key statistics by this name.
/// </summary>
public enum LinearInputGroup
{
    /// <summary>Norm output before attention: input of q_proj, k_proj, v_proj.</summary>
    AttentionInput,
    /// <summary>Attention result: input of o_proj.</summary>
    AttentionOutput,
    /// <summary>Norm output before the MLP: input of gate_proj and up_proj.</summary>
    MlpInput,
    /// <summary>act(gate)·up: input of down_proj.</summary>
    MlpHidden,
}
