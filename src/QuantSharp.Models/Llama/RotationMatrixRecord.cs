// One orthogonal matrix of a rotation fused into a model (R1 or R2), as a rotation record names it.
namespace QuantSharp.Models.Llama;

/// <summary>
/// One orthogonal matrix of a rotation (R1 of the residual stream, R2 of each value head): its order, what it is and
/// the seed of its random signs.
/// </summary>
/// <param name="Size">The order n (hidden for R1, head_dim for R2).</param>
/// <param name="Kind">"randomized_hadamard" (D·H/√n) or "random_orthogonal" (the Q of a seeded Gaussian's QR).</param>
/// <param name="Construction">The Hadamard matrix H: "sylvester 2^k" or "paley M x sylvester 2^k" (M·2^k = n);
/// "qr_gaussian" for the fallback.</param>
/// <param name="Seed">The seed of its random signs (and of the fallback's Gaussian matrix).</param>
public sealed record RotationMatrixRecord(int Size, string Kind, string Construction, ulong Seed);
