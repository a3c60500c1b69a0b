// One chunk of the calibration tokens (whole sequences laid end to end): the unit a layer transform's forward runs on.
namespace QuantSharp.Quantization.Streaming;

/// <summary>
/// Sequences <see cref="FirstSequence"/> … <see cref="FirstSequence"/> + <see cref="Sequences"/> − 1 of the calibration
/// set, whose tokens are <see cref="FirstToken"/> … <see cref="FirstToken"/> + <see cref="Tokens"/> − 1 of all of them.
/// Chunks hold whole sequences (causal attention needs a token's whole prefix), so a token's values do not depend on
/// how the tokens are chunked.
/// </summary>
/// <param name="FirstSequence">Index of the chunk's first sequence.</param>
/// <param name="Sequences">Number of sequences in the chunk.</param>
/// <param name="FirstToken">Index of the chunk's first token among all calibration tokens.</param>
/// <param name="Tokens">Number of tokens in the chunk (rows of its buffers).</param>
public readonly record struct CalibrationChunk(int FirstSequence, int Sequences, int FirstToken, int Tokens);
