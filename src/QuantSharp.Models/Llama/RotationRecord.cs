// The settings of a rotation fused into a model's weights, as written into every output of a rotated run and read back.
using System.Globalization;
using System.Text.Json.Nodes;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Models.Llama;

/// <summary>
/// What a rotation (docs/rotations.md) did to a model: the seed, R1 and R2 (null when turned off), whether the
/// RMSNorms were folded into their readers (always, so far) and whether the head had to be untied. Written by every
/// output of a rotated run so that a file says how it was made, without timestamps or paths (same run, same bytes):
/// <list type="bullet">
/// <item>GGUF: metadata keys under <c>quantsharp.rotation.</c> (<see cref="WriteGguf"/>; llama.cpp ignores keys it
/// does not know);</item>
/// <item>Hugging Face folders (float, GPTQ, AWQ): the object <c>quantsharp_rotation</c> in config.json
/// (<see cref="ToJson"/>; transformers keeps unknown config keys as attributes and uses none of them).</item>
/// </list>
/// A model loaded from such a file carries it (<see cref="LlamaModel.Rotation"/>), so converting or quantizing a
/// rotated folder writes it again.
/// </summary>
public sealed record RotationRecord
{
    /// <summary>The config.json key of the Hugging Face outputs.</summary>
    public const string ConfigKey = "quantsharp_rotation";
    /// <summary>The prefix of the GGUF metadata keys.</summary>
    public const string GgufPrefix = "quantsharp.rotation.";

    /// <summary>The seed given to the rotation (R1's; R2 uses a stream derived from it, <see cref="RotationMatrixRecord.Seed"/>).</summary>
    public required ulong Seed { get; init; }
    /// <summary>R1, the residual stream's rotation.</summary>
    public required RotationMatrixRecord Residual { get; init; }
    /// <summary>R2, each value head's rotation; null when turned off (<c>--no-r2</c>).</summary>
    public RotationMatrixRecord? ValueHead { get; init; }
    /// <summary>Whether the RMSNorms' γ were folded into the linears that read them (the norms are all ones).</summary>
    public bool NormsFolded { get; init; } = true;
    /// <summary>Whether a tied head was written as its own tensor (the final norm's γ was not all ones).</summary>
    public bool HeadUntied { get; init; }

    /// <summary>The object written as config.json's <see cref="ConfigKey"/>.</summary>
    public JsonObject ToJson() => new()
    {
        ["seed"] = Seed,
        ["norms_folded"] = NormsFolded,
        ["head_untied"] = HeadUntied,
        ["r1"] = Matrix(Residual),
        ["r2"] = ValueHead is { } r2 ? Matrix(r2) : null,
    };

    private static JsonObject Matrix(RotationMatrixRecord m) => new()
    {
        ["size"] = m.Size,
        ["kind"] = m.Kind,
        ["construction"] = m.Construction,
        ["seed"] = m.Seed,
    };

    /// <summary>Reads config.json's <see cref="ConfigKey"/> object; null when <paramref name="config"/> has none.</summary>
    /// <param name="config">The parsed config.json.</param>
    /// <param name="origin">The file, for messages.</param>
    public static RotationRecord? FromConfig(JsonObject config, string origin)
    {
        if (!config.TryGetPropertyValue(ConfigKey, out var node) || node is null) return null;
        string where = $"{origin}: {ConfigKey}";
        try
        {
            var o = node.AsObject();
            RotationMatrixRecord M(JsonNode? n, string name)
            {
                var m = n?.AsObject() ?? throw new InvalidDataException($"{where}.{name} is missing");
                return new RotationMatrixRecord(Required(m, "size", where).GetValue<int>(), Required(m, "kind", where).GetValue<string>(),
                    Required(m, "construction", where).GetValue<string>(), Required(m, "seed", where).GetValue<ulong>());
            }
            return new RotationRecord
            {
                Seed = Required(o, "seed", where).GetValue<ulong>(),
                NormsFolded = Required(o, "norms_folded", where).GetValue<bool>(),
                HeadUntied = Required(o, "head_untied", where).GetValue<bool>(),
                Residual = M(o["r1"], "r1"),
                ValueHead = o["r2"] is null ? null : M(o["r2"], "r2"),
            };
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{where}: not a rotation record as QuantSharp writes it ({e.Message})", e);
        }
    }

    private static JsonNode Required(JsonObject o, string key, string where) =>
        o[key] ?? throw new InvalidDataException($"{where}.{key} is missing");

    /// <summary>Writes the <see cref="GgufPrefix"/> keys into <paramref name="md"/>, in a fixed order.</summary>
    public void WriteGguf(GgufMetadata md)
    {
        ArgumentNullException.ThrowIfNull(md);
        md.SetUInt64(GgufPrefix + "seed", Seed);
        md.SetBool(GgufPrefix + "norms_folded", NormsFolded);
        md.SetBool(GgufPrefix + "head_untied", HeadUntied);
        WriteMatrix(md, "r1", Residual);
        md.SetBool(GgufPrefix + "r2.enabled", ValueHead is not null);
        if (ValueHead is { } r2) WriteMatrix(md, "r2", r2);
    }

    private static void WriteMatrix(GgufMetadata md, string name, RotationMatrixRecord m)
    {
        md.SetUInt32($"{GgufPrefix}{name}.size", checked((uint)m.Size));
        md.SetString($"{GgufPrefix}{name}.kind", m.Kind);
        md.SetString($"{GgufPrefix}{name}.construction", m.Construction);
        md.SetUInt64($"{GgufPrefix}{name}.seed", m.Seed);
    }

    /// <summary>Reads the <see cref="GgufPrefix"/> keys; null when <paramref name="md"/> has none.</summary>
    /// <param name="md">A GGUF file's metadata.</param>
    /// <param name="origin">The file, for messages.</param>
    public static RotationRecord? FromGguf(GgufMetadata md, string origin)
    {
        ArgumentNullException.ThrowIfNull(md);
        if (!md.ContainsKey(GgufPrefix + "seed")) return null;
        try
        {
            RotationMatrixRecord M(string name) => new(checked((int)md.GetUInt32($"{GgufPrefix}{name}.size")), md.GetString($"{GgufPrefix}{name}.kind"),
                md.GetString($"{GgufPrefix}{name}.construction"), md.GetUInt64($"{GgufPrefix}{name}.seed"));
            return new RotationRecord
            {
                Seed = md.GetUInt64(GgufPrefix + "seed"),
                NormsFolded = md.GetBool(GgufPrefix + "norms_folded"),
                HeadUntied = md.GetBool(GgufPrefix + "head_untied"),
                Residual = M("r1"),
                ValueHead = md.GetBool(GgufPrefix + "r2.enabled") ? M("r2") : null,
            };
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidCastException or InvalidDataException or OverflowException)
        {
            throw new InvalidDataException($"{origin}: the {GgufPrefix}* metadata is incomplete or mistyped ({e.Message})", e);
        }
    }

    /// <summary>One line for logs and <c>inspect</c>.</summary>
    public override string ToString()
    {
        var c = CultureInfo.InvariantCulture;
        string r2 = ValueHead is { } v ? string.Create(c, $"R2 {v.Kind} {v.Construction} (order {v.Size}, seed {v.Seed})") : "R2 off";
        return string.Create(c, $"seed {Seed}; R1 {Residual.Kind} {Residual.Construction} (order {Residual.Size}); {r2}; norms {(NormsFolded ? "folded" : "kept")}; head {(HeadUntied ? "untied" : "as the source")}");
    }
}
