// Runs a parsed chat template against a context: scopes, loops, macros, and the Jinja semantics of each node.
using System.Text;

namespace QuantSharp.Templates;

/// <summary>
/// A compiled Jinja template (the subset Hugging Face chat templates use: if/elif/else, for with loop.* and else,
/// set (incl. namespace attributes and blocks), macros, filters, tests, slicing, string/dict methods,
/// namespace(), range(), raise_exception()). Parse once, render many times; rendering is thread-safe.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly List<Node> _body;

    /// <summary>Parses <paramref name="source"/>; throws <see cref="JinjaException"/> with the line of a syntax error.</summary>
    /// <param name="source">Template text.</param>
    public JinjaTemplate(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        _body = JinjaParser.Parse(source);
    }

    /// <summary>
    /// Renders with the given variables (strings, numbers, booleans, lists, dictionaries with string keys, JSON elements).
    /// Throws <see cref="JinjaRaisedException"/> when the template calls raise_exception, <see cref="JinjaException"/> on
    /// other errors.
    /// </summary>
    /// <param name="variables">Top-level variables, e.g. messages, add_generation_prompt, bos_token.</param>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var globals = new Dictionary<string, object?>(JinjaBuiltins.Globals);
        foreach (var kv in variables) globals[kv.Key] = JinjaValues.FromClr(kv.Value);
        var run = new Run(new Scope(globals, null));
        var sb = new StringBuilder();
        run.Execute(_body, sb);
        return sb.ToString();
    }

    /// <summary>Variables of one block level; lookups fall back to the outer scope.</summary>
    internal sealed class Scope(Dictionary<string, object?> vars, Scope? outer)
    {
        public Dictionary<string, object?> Vars { get; } = vars;
        public Scope? Outer { get; } = outer;

        public object? Get(string name)
        {
            for (var s = this; s != null; s = s.Outer)
                if (s.Vars.TryGetValue(name, out var v)) return v;
            return Undefined.Value;
        }
    }

    private enum Flow { Normal, Break, Continue }

    /// <summary>One rendering (the scope chain is per call).</summary>
    private sealed class Run(Scope root)
    {
        private Scope _scope = root;

        public Flow Execute(List<Node> nodes, StringBuilder output)
        {
            foreach (var node in nodes)
            {
                var flow = Execute(node, output);
                if (flow != Flow.Normal) return flow;
            }
            return Flow.Normal;
        }

        private Flow Execute(Node node, StringBuilder output)
        {
            switch (node)
            {
                case TextNode t: output.Append(t.Text); return Flow.Normal;
                case OutputNode o: output.Append(JinjaValues.ToText(Eval(o.Value))); return Flow.Normal;
                case IfNode i: return Execute(JinjaValues.IsTrue(Eval(i.Test)) ? i.Then : i.Else, output);
                case ForNode f: ExecuteFor(f, output); return Flow.Normal;
                case SetNode s: ExecuteSet(s); return Flow.Normal;
                case MacroNode m: _scope.Vars[m.Name] = MakeMacro(m); return Flow.Normal;
                case BreakNode: return Flow.Break;
                case ContinueNode: return Flow.Continue;
                case FilterBlockNode fb:
                {
                    var inner = new StringBuilder();
                    Execute(fb.Body, inner);
                    output.Append(JinjaValues.ToText(ApplyFilter(fb.Filter, inner.ToString())));
                    return Flow.Normal;
                }
                default: throw new JinjaException($"line {node.Line}: cannot execute {node.GetType().Name}");
            }
        }

        private void ExecuteFor(ForNode f, StringBuilder output)
        {
            var source = Eval(f.Iterable);
            var items = source is Dictionary<string, object?> d && f.Targets.Count == 2
                ? d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList()
                : JinjaValues.Iterate(source, f.Line);
            var outer = _scope;
            if (f.Filter != null)
            {
                var kept = new List<object?>();
                foreach (var item in items)
                {
                    _scope = new Scope([], outer);
                    Bind(f.Targets, item, f.Line);
                    if (JinjaValues.IsTrue(Eval(f.Filter))) kept.Add(item);
                }
                _scope = outer;
                items = kept;
            }
            if (items.Count == 0) { Execute(f.Else, output); return; }
            try
            {
                for (int i = 0; i < items.Count; i++)
                {
                    _scope = new Scope([], outer);
                    Bind(f.Targets, items[i], f.Line);
                    _scope.Vars["loop"] = LoopObject(items, i);
                    if (Execute(f.Body, output) == Flow.Break) break;
                }
            }
            finally { _scope = outer; }
        }

        private static Dictionary<string, object?> LoopObject(List<object?> items, int i)
        {
            int n = items.Count;
            return new Dictionary<string, object?>
            {
                ["index"] = (long)(i + 1), ["index0"] = (long)i, ["revindex"] = (long)(n - i), ["revindex0"] = (long)(n - i - 1),
                ["first"] = i == 0, ["last"] = i == n - 1, ["length"] = (long)n,
                ["previtem"] = i > 0 ? items[i - 1] : Undefined.Value, ["nextitem"] = i + 1 < n ? items[i + 1] : Undefined.Value,
                ["cycle"] = (JinjaCallable)((args, _) => args.Count == 0 ? Undefined.Value : args[i % args.Count]),
            };
        }

        private void Bind(List<string> targets, object? item, int line)
        {
            if (targets.Count == 1) { _scope.Vars[targets[0]] = item; return; }
            var parts = JinjaValues.Iterate(item, line);
            if (parts.Count != targets.Count) throw new JinjaException($"line {line}: cannot unpack {parts.Count} values into {targets.Count} names");
            for (int k = 0; k < targets.Count; k++) _scope.Vars[targets[k]] = parts[k];
        }

        private void ExecuteSet(SetNode s)
        {
            object? value;
            if (s.Body != null)
            {
                var sb = new StringBuilder();
                Execute(s.Body, sb);
                value = sb.ToString();
            }
            else value = Eval(s.Value!);
            switch (s.Target)
            {
                case Name n: _scope.Vars[n.Id] = value; break;
                case GetAttr { Target: Name ns } ga:
                    if (_scope.Get(ns.Id) is JinjaNamespace bag) bag.Values[ga.Attribute] = value;
                    else throw new JinjaException($"line {s.Line}: can only set attributes of a namespace(), '{ns.Id}' is {JinjaValues.TypeName(_scope.Get(ns.Id))}");
                    break;
                case ListExpr l:
                {
                    var parts = JinjaValues.Iterate(value, s.Line);
                    if (parts.Count != l.Items.Count) throw new JinjaException($"line {s.Line}: cannot unpack {parts.Count} values into {l.Items.Count} names");
                    for (int k = 0; k < parts.Count; k++) _scope.Vars[((Name)l.Items[k]).Id] = parts[k];
                    break;
                }
                default: throw new JinjaException($"line {s.Line}: cannot assign to this target");
            }
        }

        private JinjaCallable MakeMacro(MacroNode m)
        {
            var defining = _scope;
            return (args, kwargs) =>
            {
                var vars = new Dictionary<string, object?>();
                for (int k = 0; k < m.Parameters.Count; k++)
                {
                    var (name, def) = m.Parameters[k];
                    vars[name] = k < args.Count ? args[k] : kwargs.TryGetValue(name, out var kv) ? kv : def is null ? Undefined.Value : Eval(def);
                }
                var saved = _scope;
                _scope = new Scope(vars, defining);
                try
                {
                    var sb = new StringBuilder();
                    Execute(m.Body, sb);
                    return sb.ToString();
                }
                finally { _scope = saved; }
            };
        }

        public object? Eval(Expr e)
        {
            switch (e)
            {
                case Literal l: return l.Value;
                case Name n: return _scope.Get(n.Id);
                case ListExpr l: return l.Items.Select(Eval).ToList();
                case DictExpr d:
                {
                    var dict = new Dictionary<string, object?>();
                    foreach (var (k, v) in d.Items) dict[JinjaValues.ToText(Eval(k))] = Eval(v);
                    return dict;
                }
                case GetAttr g: return JinjaBuiltins.Attribute(Eval(g.Target), g.Attribute, g.Line);
                case GetItem g: return JinjaBuiltins.Item(Eval(g.Target), Eval(g.Index), g.Line);
                case SliceExpr s:
                    return JinjaBuiltins.Slice(Eval(s.Target), s.Start is null ? null : Eval(s.Start), s.Stop is null ? null : Eval(s.Stop), s.Step is null ? null : Eval(s.Step), s.Line);
                case CallExpr c:
                {
                    var callee = Eval(c.Callee);
                    if (callee is not JinjaCallable f)
                        throw new JinjaException($"line {c.Line}: {Describe(c.Callee)} is {JinjaValues.TypeName(callee)}, not a function");
                    var kwargs = c.Kwargs.ToDictionary(kv => kv.Name, kv => Eval(kv.Value));
                    return f(c.Args.Select(Eval).ToList(), kwargs);
                }
                case FilterExpr f: return ApplyFilter(f, Eval(f.Target!));
                case TestExpr t:
                {
                    bool r = JinjaBuiltins.Test(t.Test, Eval(t.Target), t.Args.Select(Eval).ToList(), t.Line);
                    return t.Negated ? !r : r;
                }
                case Unary u:
                {
                    var v = Eval(u.Operand);
                    if (u.Op == "not") return !JinjaValues.IsTrue(v);
                    return v is long l ? -l : (object)-JinjaValues.ToDouble(v, u.Line);
                }
                case Binary b:
                {
                    if (b.Op == "and") { var l = Eval(b.Left); return JinjaValues.IsTrue(l) ? Eval(b.Right) : l; }
                    if (b.Op == "or") { var l = Eval(b.Left); return JinjaValues.IsTrue(l) ? l : Eval(b.Right); }
                    return JinjaBuiltins.BinaryOp(b.Op, Eval(b.Left), Eval(b.Right), b.Line);
                }
                case Conditional c:
                    return JinjaValues.IsTrue(Eval(c.Test)) ? Eval(c.Then) : c.Else is null ? Undefined.Value : Eval(c.Else);
                default: throw new JinjaException($"line {e.Line}: cannot evaluate {e.GetType().Name}");
            }
        }

        private object? ApplyFilter(FilterExpr f, object? value)
        {
            var args = f.Args.Select(Eval).ToList();
            var kwargs = f.Kwargs.ToDictionary(kv => kv.Name, kv => Eval(kv.Value));
            return JinjaBuiltins.Filter(f.Filter, value, args, kwargs, f.Line);
        }

        private static string Describe(Expr e) => e switch
        {
            Name n => $"'{n.Id}'",
            GetAttr g => $"'{g.Attribute}'",
            _ => "the called value",
        };
    }
}
