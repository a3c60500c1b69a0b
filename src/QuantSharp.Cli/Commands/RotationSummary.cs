// How `inspect` and `quantize` print a rotation record (docs/rotations.md): the same words in both.
using System.Globalization;
using QuantSharp.Models.Llama;

namespace QuantSharp.Cli.Commands;

/// <summary>Short lines describing a <see cref="RotationRecord"/> for the console.</summary>
internal static class RotationSummary
{
    /// <summary>The run's settings: seed, norm folding, whether the head was untied.</summary>
    public static string Settings(RotationRecord r) => string.Create(CultureInfo.InvariantCulture,
        $"seed {r.Seed}, norms {(r.NormsFolded ? "folded" : "kept")}, head {(r.HeadUntied ? "untied" : "as the source")}");

    /// <summary>One matrix: kind, construction, order and seed of its signs.</summary>
    public static string Matrix(RotationMatrixRecord m) => string.Create(CultureInfo.InvariantCulture,
        $"{m.Kind}, {m.Construction}, order {m.Size}, seed {m.Seed}");

}
