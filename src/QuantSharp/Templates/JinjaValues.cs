// Value semantics of the template engine, following Python/Jinja: truthiness, equality, printing, JSON, iteration.
using System.Collections;
using System.Globalization;
using System.Text;

namespace QuantSharp.Templates;

/// <summary>An undefined variable or attribute: falsy, prints as nothing, <c>is defined</c> is false.</summary>
internal sealed class Undefined
{
    public static readonly Undefined Value = new();
    private Undefined() { }
    public override string ToString() => "";
}

/// <summary>A mutable attribute bag made by <c>namespace(...)</c>, assignable from inside loops.</summary>
internal sealed class JinjaNamespace(Dictionary<string, object?> values)
{
    public Dictionary<string, object?> Values { get; } = values;
}

/// <summary>A function value: globals (range, namespace, raise_exception), bound string/dict methods, macros.</summary>
internal delegate object? JinjaCallable(List<object?> args, Dictionary<string, object?> kwargs);

internal static class JinjaValues
{
    public static bool IsTrue(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        ICollection c => c.Count > 0,
        _ => true,
    };

    public static bool IsNumber(object? v) => v is long or double;

    public static double ToDouble(object? v, int line) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new JinjaException($"line {line}: expected a number, got {TypeName(v)}"),
    };

    public static string TypeName(object? v) => v switch
    {
        null => "none",
        Undefined => "undefined",
        string => "string",
        long => "integer",
        double => "float",
        bool => "boolean",
        List<object?> => "list",
        Dictionary<string, object?> => "dict",
        JinjaNamespace => "namespace",
        JinjaCallable => "function",
        _ => v.GetType().Name,
    };

    public static new bool Equals(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a, 0) == ToDouble(b, 0);
        if (a is bool ab && IsNumber(b)) return (ab ? 1 : 0) == ToDouble(b, 0);
        if (b is bool bb && IsNumber(a)) return (bb ? 1 : 0) == ToDouble(a, 0);
        if (a is List<object?> la && b is List<object?> lb) return la.Count == lb.Count && la.Zip(lb).All(p => Equals(p.First, p.Second));
        if (a is Dictionary<string, object?> da && b is Dictionary<string, object?> db)
            return da.Count == db.Count && da.All(kv => db.TryGetValue(kv.Key, out var o) && Equals(kv.Value, o));
        return object.Equals(a, b);
    }

    public static int Compare(object? a, object? b, int line)
    {
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a, line).CompareTo(ToDouble(b, line));
        if (a is string sa && b is string sb) return string.CompareOrdinal(sa, sb);
        throw new JinjaException($"line {line}: cannot compare {TypeName(a)} with {TypeName(b)}");
    }

    /// <summary>How {{ value }} prints (Python's str()).</summary>
    public static string ToText(object? v) => v switch
    {
        null => "None",
        Undefined => "",
        string s => s,
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatDouble(d),
        _ => Repr(v),
    };

    /// <summary>Python's repr() of a value (lists and dicts print their items this way).</summary>
    public static string Repr(object? v) => v switch
    {
        string s => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'").Replace("\n", "\\n") + "'",
        List<object?> l => "[" + string.Join(", ", l.Select(Repr)) + "]",
        Dictionary<string, object?> d => "{" + string.Join(", ", d.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}",
        JinjaNamespace => "<Namespace>",
        JinjaCallable => "<function>",
        _ => ToText(v),
    };

    public static string FormatDouble(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == Math.Floor(d) && Math.Abs(d) < 1e16) return d.ToString("0.0", CultureInfo.InvariantCulture);
        return d.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>Python's json.dumps (ensure_ascii=False, as transformers' tojson), with its default separators.</summary>
    public static string ToJson(object? v, int? indent = null, bool sortKeys = false)
    {
        var sb = new StringBuilder();
        WriteJson(sb, v, indent, 0, sortKeys);
        return sb.ToString();
    }

    private static void WriteJson(StringBuilder sb, object? v, int? indent, int depth, bool sortKeys)
    {
        switch (v)
        {
            case null or Undefined: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(FormatDouble(d)); break;
            case string s: WriteJsonString(sb, s); break;
            case List<object?> list:
                WriteJsonItems(sb, '[', ']', list.Count, indent, depth, i => WriteJson(sb, list[i], indent, depth + 1, sortKeys));
                break;
            case Dictionary<string, object?> dict:
            {
                var entries = sortKeys ? dict.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList() : dict.ToList();
                WriteJsonItems(sb, '{', '}', entries.Count, indent, depth, i =>
                {
                    WriteJsonString(sb, entries[i].Key);
                    sb.Append(": ");
                    WriteJson(sb, entries[i].Value, indent, depth + 1, sortKeys);
                });
                break;
            }
            default: WriteJsonString(sb, ToText(v)); break;
        }
    }

    private static void WriteJsonItems(StringBuilder sb, char open, char close, int count, int? indent, int depth, Action<int> item)
    {
        sb.Append(open);
        if (count == 0) { sb.Append(close); return; }
        for (int i = 0; i < count; i++)
        {
            if (i > 0) sb.Append(indent is null ? ", " : ",");
            if (indent is { } n) sb.Append('\n').Append(' ', n * (depth + 1));
            item(i);
        }
        if (indent is { } m) sb.Append('\n').Append(' ', m * depth);
        sb.Append(close);
    }

    private static void WriteJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>The items a for loop or filter walks: list items, dict keys, string characters.</summary>
    public static List<object?> Iterate(object? v, int line) => v switch
    {
        List<object?> l => l,
        Dictionary<string, object?> d => [.. d.Keys],
        string s => [.. s.Select(c => (object?)c.ToString())],
        null or Undefined => [],
        _ => throw new JinjaException($"line {line}: {TypeName(v)} is not iterable"),
    };

    /// <summary>Converts .NET values handed to the template (strings, numbers, lists, dictionaries, JSON) into template values.</summary>
    public static object? FromClr(object? v) => v switch
    {
        null => null,
        string or bool or long or double or Undefined or JinjaNamespace or JinjaCallable => v,
        int i => (long)i,
        float f => (double)f,
        decimal m => (double)m,
        System.Text.Json.JsonElement e => FromJson(e),
        IDictionary<string, object?> d => d.ToDictionary(kv => kv.Key, kv => FromClr(kv.Value)),
        IEnumerable e => e.Cast<object?>().Select(FromClr).ToList(),
        _ => v.ToString(),
    };

    private static object? FromJson(System.Text.Json.JsonElement e) => e.ValueKind switch
    {
        System.Text.Json.JsonValueKind.String => e.GetString(),
        System.Text.Json.JsonValueKind.Number => e.TryGetInt64(out long l) ? l : e.GetDouble(),
        System.Text.Json.JsonValueKind.True => true,
        System.Text.Json.JsonValueKind.False => false,
        System.Text.Json.JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        System.Text.Json.JsonValueKind.Object => e.EnumerateObject().ToDictionary(p => p.Name, p => FromJson(p.Value)),
        _ => null,
    };
}
