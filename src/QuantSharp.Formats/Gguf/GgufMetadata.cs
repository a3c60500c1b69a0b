// GGUF key/value metadata: ordered, typed, with getters that say exactly what was wrong.
namespace QuantSharp.Formats.Gguf;

/// <summary>
/// The key → value metadata of a GGUF file. Keys keep insertion (file) order, which the writer
/// preserves so output is deterministic. Getters are strict about the stored type: asking for a
/// uint32 where the file holds an int32 is an error, because llama.cpp is equally strict.
/// </summary>
public sealed class GgufMetadata
{
    private readonly List<string> _order = [];
    private readonly Dictionary<string, GgufValue> _values = new(StringComparer.Ordinal);

    /// <summary>Creates empty metadata; <paramref name="origin"/> names it in error messages (usually a file path).</summary>
    public GgufMetadata(string origin = "GGUF metadata") => Origin = origin;

    /// <summary>Where the metadata comes from, for error messages.</summary>
    public string Origin { get; }

    /// <summary>Number of keys.</summary>
    public int Count => _order.Count;

    /// <summary>Keys in order.</summary>
    public IReadOnlyList<string> Keys => _order;

    /// <summary>Key/value pairs in order.</summary>
    public IEnumerable<KeyValuePair<string, GgufValue>> Entries => _order.Select(k => new KeyValuePair<string, GgufValue>(k, _values[k]));

    /// <summary>Whether <paramref name="key"/> is present.</summary>
    public bool ContainsKey(string key) => _values.ContainsKey(key);

    /// <summary>The value of <paramref name="key"/>; throws <see cref="KeyNotFoundException"/> naming the origin when absent.</summary>
    public GgufValue this[string key]
        => _values.TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"{Origin}: metadata key '{key}' is missing");

    /// <summary>The value of <paramref name="key"/>, if present.</summary>
    public bool TryGetValue(string key, out GgufValue value)
    {
        if (_values.TryGetValue(key, out var v)) { value = v; return true; }
        value = null!;
        return false;
    }

    /// <summary>Sets <paramref name="key"/>; an existing key keeps its position.</summary>
    public GgufMetadata Set(string key, GgufValue value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (!_values.ContainsKey(key)) _order.Add(key);
        _values[key] = value;
        return this;
    }

    /// <summary>Removes <paramref name="key"/>; returns whether it was present.</summary>
    public bool Remove(string key)
    {
        if (!_values.Remove(key)) return false;
        _order.Remove(key);
        return true;
    }

    /// <summary>Sets a scalar whose GGUF type is chosen by <typeparamref name="T"/> (uint → UInt32, string → String, …).</summary>
    public GgufMetadata Set<T>(string key, T value) where T : notnull => Set(key, GgufValue.From(value));

    /// <summary>Sets a string.</summary>
    public GgufMetadata SetString(string key, string value) => Set(key, GgufValue.String(value));
    /// <summary>Sets a uint32.</summary>
    public GgufMetadata SetUInt32(string key, uint value) => Set(key, GgufValue.UInt32(value));
    /// <summary>Sets an int32.</summary>
    public GgufMetadata SetInt32(string key, int value) => Set(key, GgufValue.Int32(value));
    /// <summary>Sets a float32.</summary>
    public GgufMetadata SetFloat32(string key, float value) => Set(key, GgufValue.Float32(value));
    /// <summary>Sets a bool.</summary>
    public GgufMetadata SetBool(string key, bool value) => Set(key, GgufValue.Bool(value));
    /// <summary>Sets a uint64.</summary>
    public GgufMetadata SetUInt64(string key, ulong value) => Set(key, GgufValue.UInt64(value));

    /// <summary>Sets an array whose element type is chosen by <typeparamref name="T"/>.</summary>
    public GgufMetadata SetArray<T>(string key, T[] items) => Set(key, GgufValue.Array(GgufArray.Of(items)));

    /// <summary>The value of <paramref name="key"/> as <typeparamref name="T"/>, which must be the stored type's .NET type exactly.</summary>
    public T Get<T>(string key) where T : notnull
    {
        var v = this[key];
        if (v.Value is T t) return t;
        throw WrongType(key, v, GgufValueTypeInfo.FromClrType(typeof(T))?.ToString() ?? typeof(T).Name);
    }

    /// <summary>The value of <paramref name="key"/> as <typeparamref name="T"/>; false when absent, throws when present with another type.</summary>
    public bool TryGet<T>(string key, out T value) where T : notnull
    {
        if (!_values.ContainsKey(key)) { value = default!; return false; }
        value = Get<T>(key);
        return true;
    }

    /// <summary>A string value.</summary>
    public string GetString(string key) => Get<string>(key);
    /// <summary>A uint32 value.</summary>
    public uint GetUInt32(string key) => Get<uint>(key);
    /// <summary>An int32 value.</summary>
    public int GetInt32(string key) => Get<int>(key);
    /// <summary>A uint64 value.</summary>
    public ulong GetUInt64(string key) => Get<ulong>(key);
    /// <summary>An int64 value.</summary>
    public long GetInt64(string key) => Get<long>(key);
    /// <summary>A float32 value.</summary>
    public float GetFloat32(string key) => Get<float>(key);
    /// <summary>A float64 value.</summary>
    public double GetFloat64(string key) => Get<double>(key);
    /// <summary>A bool value.</summary>
    public bool GetBool(string key) => Get<bool>(key);

    /// <summary>
    /// An integer of any integer type (converters disagree on uint32 vs int32 for ids and counts;
    /// this accepts both). Throws when the value is not an integer or does not fit a long.
    /// </summary>
    public long GetInteger(string key)
    {
        var v = this[key];
        return v.AsInteger() ?? throw WrongType(key, v, "an integer");
    }

    /// <summary>Like <see cref="GetInteger"/>, false when absent.</summary>
    public bool TryGetInteger(string key, out long value)
    {
        if (!_values.ContainsKey(key)) { value = 0; return false; }
        value = GetInteger(key);
        return true;
    }

    /// <summary>An array's elements as <typeparamref name="T"/>[] (string for string arrays, GgufArray for nested ones).</summary>
    public T[] GetArray<T>(string key)
    {
        var v = this[key];
        if (v.Value is GgufArray a && a.Items is T[] items) return items;
        var expected = $"an array of {GgufValueTypeInfo.FromClrType(typeof(T))?.ToString() ?? typeof(T).Name}";
        throw WrongType(key, v, expected);
    }

    /// <summary>Like <see cref="GetArray{T}"/>, false when absent.</summary>
    public bool TryGetArray<T>(string key, out T[] items)
    {
        if (!_values.ContainsKey(key)) { items = []; return false; }
        items = GetArray<T>(key);
        return true;
    }

    private InvalidDataException WrongType(string key, GgufValue v, string expected)
    {
        var actual = v.Value is GgufArray a ? $"an array of {a.ElementType} ({a.Count} elements)" : v.Type.ToString();
        return new InvalidDataException($"{Origin}: metadata key '{key}' should be {expected} but is {actual}");
    }
}
