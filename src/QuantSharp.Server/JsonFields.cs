// Typed, range-checked reads of optional request fields; every failure names the field (pure functions, no I/O).
using System.Text.Json;

namespace QuantSharp.Server;

/// <summary>
/// Reads fields of a JSON request object with the checks the OpenAI API applies: a field that is absent or
/// <c>null</c> gives null (the default applies); a field of the wrong type or out of range raises a 400
/// <see cref="ApiException"/> whose param is the field's name.
/// </summary>
public static class JsonFields
{
    /// <summary>The field's value, or null when absent or JSON null.</summary>
    /// <param name="obj">The request object.</param>
    /// <param name="name">Field name.</param>
    public static JsonElement? Get(JsonElement obj, string name)
        => obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    /// <summary>An optional integer in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    /// <param name="obj">The request object.</param>
    /// <param name="name">Field name (also the error's param).</param>
    /// <param name="min">Smallest accepted value.</param>
    /// <param name="max">Largest accepted value.</param>
    public static long? Integer(JsonElement obj, string name, long min, long max)
    {
        if (Get(obj, name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x))
            throw ApiException.Invalid($"'{name}' must be an integer, got {Describe(v)}", name);
        if (x < min || x > max) throw ApiException.Invalid($"'{name}' must be between {min} and {max}, got {x}", name);
        return x;
    }

    /// <summary>An optional finite number in [<paramref name="min"/>, <paramref name="max"/>] (open at the bottom when <paramref name="minExclusive"/>).</summary>
    /// <param name="obj">The request object.</param>
    /// <param name="name">Field name (also the error's param).</param>
    /// <param name="min">Lower bound.</param>
    /// <param name="max">Upper bound (inclusive).</param>
    /// <param name="minExclusive">The lower bound itself is refused.</param>
    public static double? Number(JsonElement obj, string name, double min, double max, bool minExclusive = false)
    {
        if (Get(obj, name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double x) || !double.IsFinite(x))
            throw ApiException.Invalid($"'{name}' must be a number, got {Describe(v)}", name);
        if (x < min || x > max || (minExclusive && x == min))
            throw ApiException.Invalid($"'{name}' must be {(minExclusive ? "greater than" : "at least")} {min} and at most {max}, got {x}", name);
        return x;
    }

    /// <summary>An optional boolean.</summary>
    /// <param name="obj">The request object.</param>
    /// <param name="name">Field name (also the error's param).</param>
    public static bool? Boolean(JsonElement obj, string name)
    {
        if (Get(obj, name) is not { } v) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiException.Invalid($"'{name}' must be a boolean, got {Describe(v)}", name),
        };
    }

    /// <summary>An optional string.</summary>
    /// <param name="obj">The request object.</param>
    /// <param name="name">Field name (also the error's param).</param>
    /// <param name="param">The error's param when it differs from <paramref name="name"/> (nested fields).</param>
    public static string? String(JsonElement obj, string name, string? param = null)
    {
        if (Get(obj, name) is not { } v) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw ApiException.Invalid($"'{param ?? name}' must be a string, got {Describe(v)}", param ?? name);
    }

    /// <summary>An optional object.</summary>
    /// <param name="obj">The request object.</param>
    /// <param name="name">Field name (also the error's param).</param>
    public static JsonElement? Object(JsonElement obj, string name)
    {
        if (Get(obj, name) is not { } v) return null;
        return v.ValueKind == JsonValueKind.Object ? v : throw ApiException.Invalid($"'{name}' must be an object, got {Describe(v)}", name);
    }

    /// <summary>The JSON kind of a value in words, for error messages.</summary>
    /// <param name="v">The value.</param>
    public static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {v.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => v.ValueKind.ToString(),
    };
}
