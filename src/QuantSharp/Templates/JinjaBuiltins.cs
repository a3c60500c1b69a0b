// The template engine's library: globals, operators, attribute/item access, string and dict methods, filters, tests.
using System.Globalization;
using System.Text;

namespace QuantSharp.Templates;

internal static class JinjaBuiltins
{
    /// <summary>Functions every template sees (transformers' chat-template globals).</summary>
    public static readonly IReadOnlyDictionary<string, object?> Globals = new Dictionary<string, object?>
    {
        ["raise_exception"] = (JinjaCallable)((args, _) => throw new JinjaRaisedException(args.Count > 0 ? JinjaValues.ToText(args[0]) : "the chat template raised an exception")),
        ["namespace"] = (JinjaCallable)((args, kwargs) =>
        {
            var values = new Dictionary<string, object?>();
            foreach (var a in args)
                if (a is Dictionary<string, object?> d) foreach (var kv in d) values[kv.Key] = kv.Value;
            foreach (var kv in kwargs) values[kv.Key] = kv.Value;
            return new JinjaNamespace(values);
        }),
        ["range"] = (JinjaCallable)((args, _) =>
        {
            long start = 0, stop, step = 1;
            if (args.Count == 1) stop = AsLong(args[0]);
            else { start = AsLong(args[0]); stop = AsLong(args[1]); if (args.Count > 2) step = AsLong(args[2]); }
            if (step == 0) throw new JinjaException("range() step must not be zero");
            var list = new List<object?>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step) list.Add(i);
            return list;
        }),
        ["dict"] = (JinjaCallable)((_, kwargs) => new Dictionary<string, object?>(kwargs)),
        ["strftime_now"] = (JinjaCallable)((args, _) => StrftimeNow(args.Count > 0 ? JinjaValues.ToText(args[0]) : "%Y-%m-%d")),
    };

    private static long AsLong(object? v) => v switch
    {
        long l => l,
        double d => (long)d,
        bool b => b ? 1 : 0,
        _ => throw new JinjaException($"expected an integer, got {JinjaValues.TypeName(v)}"),
    };

    private static string StrftimeNow(string format)
    {
        var now = DateTime.Now;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            char c = format[++i];
            sb.Append(c switch
            {
                'Y' => now.ToString("yyyy", CultureInfo.InvariantCulture),
                'm' => now.ToString("MM", CultureInfo.InvariantCulture),
                'd' => now.ToString("dd", CultureInfo.InvariantCulture),
                'B' => now.ToString("MMMM", CultureInfo.InvariantCulture),
                'b' => now.ToString("MMM", CultureInfo.InvariantCulture),
                'H' => now.ToString("HH", CultureInfo.InvariantCulture),
                'M' => now.ToString("mm", CultureInfo.InvariantCulture),
                'S' => now.ToString("ss", CultureInfo.InvariantCulture),
                '%' => "%",
                _ => "%" + c,
            });
        }
        return sb.ToString();
    }

    public static object? Attribute(object? target, string name, int line)
    {
        switch (target)
        {
            case Dictionary<string, object?> d:
                if (d.TryGetValue(name, out var v)) return v;
                return (object?)DictMethod(d, name) ?? Undefined.Value;
            case JinjaNamespace ns: return ns.Values.TryGetValue(name, out var nv) ? nv : Undefined.Value;
            case string s: return (object?)StringMethod(s, name, line) ?? Undefined.Value;
            case List<object?> l: return (object?)ListMethod(l, name) ?? (int.TryParse(name, out int idx) ? Item(l, (long)idx, line) : Undefined.Value);
            default: return Undefined.Value;
        }
    }

    public static object? Item(object? target, object? index, int line)
    {
        switch (target)
        {
            case List<object?> l when index is long or bool:
            {
                long i = AsLong(index);
                if (i < 0) i += l.Count;
                if (i < 0 || i >= l.Count) return Undefined.Value;
                return l[(int)i];
            }
            case string s when index is long:
            {
                long i = (long)index;
                if (i < 0) i += s.Length;
                return i < 0 || i >= s.Length ? Undefined.Value : s[(int)i].ToString();
            }
            case Dictionary<string, object?> d when index is string key:
                return d.TryGetValue(key, out var v) ? v : Undefined.Value;
            case JinjaNamespace ns when index is string nkey:
                return ns.Values.TryGetValue(nkey, out var nv) ? nv : Undefined.Value;
            case null or Undefined: return Undefined.Value;
            default: throw new JinjaException($"line {line}: cannot index {JinjaValues.TypeName(target)} with {JinjaValues.TypeName(index)}");
        }
    }

    public static object? Slice(object? target, object? start, object? stop, object? step, int line)
    {
        long st = step is null ? 1 : AsLong(step);
        if (st == 0) throw new JinjaException($"line {line}: slice step must not be zero");
        List<object?> items = target switch
        {
            List<object?> l => l,
            string s => [.. s.Select(c => (object?)c.ToString())],
            _ => throw new JinjaException($"line {line}: cannot slice {JinjaValues.TypeName(target)}"),
        };
        int n = items.Count;
        long Norm(object? v, long dflt)
        {
            if (v is null) return dflt;
            long x = AsLong(v);
            if (x < 0) x += n;
            return st > 0 ? Math.Clamp(x, 0, n) : Math.Clamp(x, -1, n - 1);
        }
        long a = Norm(start, st > 0 ? 0 : n - 1), b = Norm(stop, st > 0 ? n : -1);
        var result = new List<object?>();
        for (long i = a; st > 0 ? i < b : i > b; i += st) result.Add(items[(int)i]);
        return target is string ? string.Concat(result.Select(JinjaValues.ToText)) : result;
    }

    public static object? BinaryOp(string op, object? l, object? r, int line)
    {
        switch (op)
        {
            case "==": return JinjaValues.Equals(l, r);
            case "!=": return !JinjaValues.Equals(l, r);
            case "<": return JinjaValues.Compare(l, r, line) < 0;
            case ">": return JinjaValues.Compare(l, r, line) > 0;
            case "<=": return JinjaValues.Compare(l, r, line) <= 0;
            case ">=": return JinjaValues.Compare(l, r, line) >= 0;
            case "in": return Contains(r, l, line);
            case "not in": return !Contains(r, l, line);
            case "~": return JinjaValues.ToText(l) + JinjaValues.ToText(r);
            case "+":
                if (l is string ls && r is string rs) return ls + rs;
                if (l is List<object?> ll && r is List<object?> rl) return ll.Concat(rl).ToList();
                if (l is string || r is string)
                    throw new JinjaException($"line {line}: cannot add {JinjaValues.TypeName(l)} and {JinjaValues.TypeName(r)} (use ~ to concatenate text)");
                return Arithmetic(op, l, r, line);
            case "*":
                if (l is string s && r is long times) return times <= 0 ? "" : string.Concat(Enumerable.Repeat(s, (int)times));
                if (l is List<object?> list && r is long k) return Enumerable.Repeat(list, (int)Math.Max(0, k)).SelectMany(x => x).ToList();
                return Arithmetic(op, l, r, line);
            default: return Arithmetic(op, l, r, line);
        }
    }

    private static object Arithmetic(string op, object? l, object? r, int line)
    {
        if (l is long a && r is long b)
        {
            switch (op)
            {
                case "+": return a + b;
                case "-": return a - b;
                case "*": return a * b;
                case "//": if (b == 0) throw new JinjaException($"line {line}: division by zero"); return (long)Math.Floor((double)a / b);
                case "%": if (b == 0) throw new JinjaException($"line {line}: modulo by zero"); return ((a % b) + b) % b;
                case "**": if (b >= 0) return (long)Math.Pow(a, b); break;
            }
        }
        double x = JinjaValues.ToDouble(l, line), y = JinjaValues.ToDouble(r, line);
        return op switch
        {
            "+" => x + y,
            "-" => x - y,
            "*" => x * y,
            "/" => y == 0 ? throw new JinjaException($"line {line}: division by zero") : x / y,
            "//" => Math.Floor(x / y),
            "%" => x - y * Math.Floor(x / y),
            "**" => Math.Pow(x, y),
            _ => throw new JinjaException($"line {line}: unknown operator {op}"),
        };
    }

    private static bool Contains(object? container, object? item, int line) => container switch
    {
        string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal) : throw new JinjaException($"line {line}: 'in <string>' needs a string, got {JinjaValues.TypeName(item)}"),
        List<object?> l => l.Any(x => JinjaValues.Equals(x, item)),
        Dictionary<string, object?> d => item is string k && d.ContainsKey(k),
        JinjaNamespace ns => item is string k2 && ns.Values.ContainsKey(k2),
        null or Undefined => false,
        _ => throw new JinjaException($"line {line}: 'in' needs a string, list or mapping, got {JinjaValues.TypeName(container)}"),
    };

    private static string StripChars(object? chars) => chars is string c ? c : " \t\n\r\v\f";

    private static JinjaCallable? StringMethod(string s, string name, int line) => name switch
    {
        "startswith" => (a, _) => a.Count > 0 && (a[0] is List<object?> opts ? opts.Any(o => s.StartsWith(JinjaValues.ToText(o), StringComparison.Ordinal)) : s.StartsWith(JinjaValues.ToText(a[0]), StringComparison.Ordinal)),
        "endswith" => (a, _) => a.Count > 0 && (a[0] is List<object?> opts ? opts.Any(o => s.EndsWith(JinjaValues.ToText(o), StringComparison.Ordinal)) : s.EndsWith(JinjaValues.ToText(a[0]), StringComparison.Ordinal)),
        "strip" => (a, _) => a.Count > 0 && a[0] is string c ? s.Trim(c.ToCharArray()) : s.Trim(StripChars(null).ToCharArray()),
        "lstrip" => (a, _) => s.TrimStart(StripChars(a.Count > 0 ? a[0] : null).ToCharArray()),
        "rstrip" => (a, _) => s.TrimEnd(StripChars(a.Count > 0 ? a[0] : null).ToCharArray()),
        "upper" => (_, _) => s.ToUpperInvariant(),
        "lower" => (_, _) => s.ToLowerInvariant(),
        "title" => (_, _) => Title(s),
        "capitalize" => (_, _) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant(),
        "replace" => (a, _) => a.Count < 2 ? throw new JinjaException($"line {line}: replace() needs two arguments")
            : a.Count > 2 ? ReplaceCount(s, JinjaValues.ToText(a[0]), JinjaValues.ToText(a[1]), AsLong(a[2])) : s.Replace(JinjaValues.ToText(a[0]), JinjaValues.ToText(a[1]), StringComparison.Ordinal),
        "split" => (a, kw) => Split(s, a.Count > 0 ? a[0] : kw.GetValueOrDefault("sep"), a.Count > 1 ? AsLong(a[1]) : kw.TryGetValue("maxsplit", out var m) ? AsLong(m) : -1),
        "find" => (a, _) => (long)s.IndexOf(JinjaValues.ToText(a[0]), StringComparison.Ordinal),
        "count" => (a, _) => (long)CountOf(s, JinjaValues.ToText(a[0])),
        "join" => (a, _) => string.Join(s, JinjaValues.Iterate(a[0], line).Select(JinjaValues.ToText)),
        "isdigit" => (_, _) => s.Length > 0 && s.All(char.IsDigit),
        "isspace" => (_, _) => s.Length > 0 && s.All(char.IsWhiteSpace),
        "format" => (a, _) => PythonFormat(s, a),
        _ => null,
    };

    private static JinjaCallable? DictMethod(Dictionary<string, object?> d, string name) => name switch
    {
        "items" => (_, _) => d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
        "keys" => (_, _) => d.Keys.Cast<object?>().ToList(),
        "values" => (_, _) => d.Values.ToList(),
        "get" => (a, _) => a.Count > 0 && a[0] is string k && d.TryGetValue(k, out var v) ? v : a.Count > 1 ? a[1] : null,
        _ => null,
    };

    private static JinjaCallable? ListMethod(List<object?> l, string name) => name switch
    {
        "append" => (a, _) => { l.Add(a.Count > 0 ? a[0] : null); return null; },
        "index" => (a, _) => (long)l.FindIndex(x => JinjaValues.Equals(x, a.Count > 0 ? a[0] : null)),
        "count" => (a, _) => (long)l.Count(x => JinjaValues.Equals(x, a.Count > 0 ? a[0] : null)),
        _ => null,
    };

    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool start = true;
        foreach (char c in s)
        {
            sb.Append(start ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            start = !char.IsLetterOrDigit(c);
        }
        return sb.ToString();
    }

    private static string ReplaceCount(string s, string from, string to, long count)
    {
        if (count < 0) return s.Replace(from, to, StringComparison.Ordinal);
        var sb = new StringBuilder();
        int pos = 0;
        for (long k = 0; k < count; k++)
        {
            int at = s.IndexOf(from, pos, StringComparison.Ordinal);
            if (at < 0 || from.Length == 0) break;
            sb.Append(s, pos, at - pos).Append(to);
            pos = at + from.Length;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    private static int CountOf(string s, string sub)
    {
        if (sub.Length == 0) return s.Length + 1;
        int n = 0;
        for (int at = s.IndexOf(sub, StringComparison.Ordinal); at >= 0; at = s.IndexOf(sub, at + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    /// <summary>Python's str.split: by a separator (keeping empty parts), or by runs of whitespace.</summary>
    private static List<object?> Split(string s, object? sep, long maxSplit)
    {
        var parts = new List<object?>();
        if (sep is string sp && sp.Length > 0)
        {
            int pos = 0;
            while (maxSplit < 0 || parts.Count < maxSplit)
            {
                int at = s.IndexOf(sp, pos, StringComparison.Ordinal);
                if (at < 0) break;
                parts.Add(s[pos..at]);
                pos = at + sp.Length;
            }
            parts.Add(s[pos..]);
            return parts;
        }
        int i = 0;
        while (i < s.Length)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
            if (i >= s.Length) break;
            if (maxSplit >= 0 && parts.Count == maxSplit) { parts.Add(s[i..].TrimEnd()); break; }
            int j = i;
            while (j < s.Length && !char.IsWhiteSpace(s[j])) j++;
            parts.Add(s[i..j]);
            i = j;
        }
        return parts;
    }

    private static string PythonFormat(string s, List<object?> args)
    {
        var sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '{' && i + 1 < s.Length && s[i + 1] == '{') { sb.Append('{'); i++; continue; }
            if (s[i] == '}' && i + 1 < s.Length && s[i + 1] == '}') { sb.Append('}'); i++; continue; }
            if (s[i] != '{') { sb.Append(s[i]); continue; }
            int close = s.IndexOf('}', i);
            string field = s[(i + 1)..close];
            int idx = field.Length == 0 ? auto++ : int.Parse(field, CultureInfo.InvariantCulture);
            sb.Append(idx < args.Count ? JinjaValues.ToText(args[idx]) : "");
            i = close;
        }
        return sb.ToString();
    }

    public static bool Test(string name, object? v, List<object?> args, int line) => name switch
    {
        "defined" => v is not Undefined,
        "undefined" => v is Undefined,
        "none" => v is null,
        "string" => v is string,
        "number" => v is long or double,
        "integer" => v is long,
        "float" => v is double,
        "boolean" => v is bool,
        "true" => v is true,
        "false" => v is false,
        "mapping" => v is Dictionary<string, object?>,
        "iterable" => v is string or List<object?> or Dictionary<string, object?>,
        "sequence" => v is string or List<object?> or Dictionary<string, object?>,
        "callable" => v is JinjaCallable,
        "odd" => AsLong(v) % 2 != 0,
        "even" => AsLong(v) % 2 == 0,
        "divisibleby" => AsLong(v) % AsLong(args[0]) == 0,
        "eq" or "equalto" or "==" or "sameas" => JinjaValues.Equals(v, args[0]),
        "ne" or "!=" => !JinjaValues.Equals(v, args[0]),
        "lt" or "lessthan" => JinjaValues.Compare(v, args[0], line) < 0,
        "gt" or "greaterthan" => JinjaValues.Compare(v, args[0], line) > 0,
        "le" => JinjaValues.Compare(v, args[0], line) <= 0,
        "ge" => JinjaValues.Compare(v, args[0], line) >= 0,
        "in" => Contains(args[0], v, line),
        "lower" => v is string s && s == s.ToLowerInvariant(),
        "upper" => v is string u && u == u.ToUpperInvariant(),
        _ => throw new JinjaException($"line {line}: unknown test '{name}'"),
    };

    public static object? Filter(string name, object? v, List<object?> args, Dictionary<string, object?> kwargs, int line)
    {
        object? Arg(int i, string key, object? dflt = null) => i < args.Count ? args[i] : kwargs.TryGetValue(key, out var a) ? a : dflt;
        switch (name)
        {
            case "length" or "count":
                return v switch
                {
                    string s => (long)s.Length,
                    List<object?> l => (long)l.Count,
                    Dictionary<string, object?> d => (long)d.Count,
                    null or Undefined => 0L,
                    _ => throw new JinjaException($"line {line}: {JinjaValues.TypeName(v)} has no length"),
                };
            case "trim": return Arg(0, "chars") is string c ? JinjaValues.ToText(v).Trim(c.ToCharArray()) : JinjaValues.ToText(v).Trim();
            case "upper": return JinjaValues.ToText(v).ToUpperInvariant();
            case "lower": return JinjaValues.ToText(v).ToLowerInvariant();
            case "title": return Title(JinjaValues.ToText(v));
            case "capitalize": { var s = JinjaValues.ToText(v); return s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant(); }
            case "string": return JinjaValues.ToText(v);
            case "safe" or "e" or "escape" or "forceescape": return v is string ? v : JinjaValues.ToText(v);
            case "int": return v switch { long l => l, double d => (long)d, string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long p) => p, _ => Arg(0, "default", 0L) };
            case "float": return v switch { long l => (double)l, double d => d, string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double p) => p, _ => Arg(0, "default", 0.0) };
            case "abs": return v is long al ? Math.Abs(al) : (object)Math.Abs(JinjaValues.ToDouble(v, line));
            case "round":
            {
                int digits = (int)AsLong(Arg(0, "precision", 0L));
                return Math.Round(JinjaValues.ToDouble(v, line), digits, MidpointRounding.ToEven);
            }
            case "default" or "d":
            {
                bool boolean = JinjaValues.IsTrue(Arg(1, "boolean", false));
                return v is Undefined || (boolean && !JinjaValues.IsTrue(v)) ? Arg(0, "default_value", "") : v;
            }
            case "first": return JinjaValues.Iterate(v, line) is { Count: > 0 } fl ? fl[0] : Undefined.Value;
            case "last": return JinjaValues.Iterate(v, line) is { Count: > 0 } la ? la[^1] : Undefined.Value;
            case "list": return new List<object?>(JinjaValues.Iterate(v, line));
            case "reverse": return v is string rs ? new string(rs.Reverse().ToArray()) : Enumerable.Reverse(JinjaValues.Iterate(v, line)).ToList();
            case "unique":
            {
                var result = new List<object?>();
                foreach (var x in JinjaValues.Iterate(v, line)) if (!result.Any(y => JinjaValues.Equals(x, y))) result.Add(x);
                return result;
            }
            case "join":
            {
                string sep = JinjaValues.ToText(Arg(0, "d", ""));
                var items = JinjaValues.Iterate(v, line);
                if (Arg(1, "attribute") is string attr) items = items.Select(x => Attribute(x, attr, line)).ToList();
                return string.Join(sep, items.Select(JinjaValues.ToText));
            }
            case "items":
                return v is Dictionary<string, object?> d2 ? d2.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList()
                    : v is null or Undefined ? new List<object?>() : throw new JinjaException($"line {line}: items needs a mapping, got {JinjaValues.TypeName(v)}");
            case "dictsort":
                return v is Dictionary<string, object?> d3 ? d3.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList()
                    : throw new JinjaException($"line {line}: dictsort needs a mapping");
            case "tojson":
                return JinjaValues.ToJson(v, Arg(0, "indent") is long ind ? (int)ind : null, JinjaValues.IsTrue(Arg(1, "sort_keys", false)));
            case "replace":
                return args.Count > 2 ? ReplaceCount(JinjaValues.ToText(v), JinjaValues.ToText(args[0]), JinjaValues.ToText(args[1]), AsLong(args[2]))
                    : JinjaValues.ToText(v).Replace(JinjaValues.ToText(Arg(0, "old")), JinjaValues.ToText(Arg(1, "new")), StringComparison.Ordinal);
            case "indent":
            {
                int width = (int)AsLong(Arg(0, "width", 4L));
                bool first = JinjaValues.IsTrue(Arg(1, "first", false));
                bool blank = JinjaValues.IsTrue(Arg(2, "blank", false));
                string pad = new(' ', width);
                var lines = JinjaValues.ToText(v).Split('\n');
                for (int i = 0; i < lines.Length; i++)
                    if ((i > 0 || first) && (blank || lines[i].Length > 0)) lines[i] = pad + lines[i];
                return string.Join('\n', lines);
            }
            case "wordcount": return (long)Split(JinjaValues.ToText(v), null, -1).Count;
            case "map":
            {
                var items = JinjaValues.Iterate(v, line);
                if (kwargs.TryGetValue("attribute", out var attr))
                    return items.Select(x => Attribute(x, JinjaValues.ToText(attr), line) is Undefined && kwargs.TryGetValue("default", out var df) ? df : Attribute(x, JinjaValues.ToText(attr), line)).ToList();
                if (args.Count > 0 && args[0] is string filterName)
                    return items.Select(x => Filter(filterName, x, args.Skip(1).ToList(), [], line)).ToList();
                throw new JinjaException($"line {line}: map needs a filter name or attribute=");
            }
            case "select" or "reject" or "selectattr" or "rejectattr":
            {
                bool keep = name is "select" or "selectattr";
                bool byAttr = name.EndsWith("attr", StringComparison.Ordinal);
                var items = JinjaValues.Iterate(v, line);
                int at = byAttr ? 1 : 0;
                string? attr = byAttr ? JinjaValues.ToText(args[0]) : null;
                string? test = args.Count > at ? JinjaValues.ToText(args[at]) : null;
                var testArgs = args.Skip(at + 1).ToList();
                return items.Where(x =>
                {
                    var subject = attr is null ? x : Attribute(x, attr, line);
                    bool r = test is null ? JinjaValues.IsTrue(subject) : Test(test, subject, testArgs, line);
                    return r == keep;
                }).ToList();
            }
            case "sort":
            {
                var items = new List<object?>(JinjaValues.Iterate(v, line));
                bool reverse = JinjaValues.IsTrue(Arg(0, "reverse", false));
                string? attr = Arg(2, "attribute") as string;
                items.Sort((a, b) => JinjaValues.Compare(attr is null ? a : Attribute(a, attr, line), attr is null ? b : Attribute(b, attr, line), line));
                if (reverse) items.Reverse();
                return items;
            }
            case "batch" or "slice":
                throw new JinjaException($"line {line}: filter '{name}' is not implemented");
            default:
                throw new JinjaException($"line {line}: unknown filter '{name}'");
        }
    }
}
