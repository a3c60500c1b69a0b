// Parses template tokens into the syntax tree, with Jinja's operator precedence.
namespace QuantSharp.Templates;

/// <summary>Recursive-descent parser of the Jinja subset chat templates use.</summary>
internal sealed class JinjaParser
{
    private readonly List<JinjaToken> _t;
    private int _p;

    private JinjaParser(List<JinjaToken> tokens) => _t = tokens;

    public static List<Node> Parse(string template)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(template));
        var body = parser.ParseBlock(out string? end);
        if (end != null) throw new JinjaException($"line {parser.Peek.Line}: unexpected {{% {end} %}}");
        return body;
    }

    private JinjaToken Peek => _t[_p];
    private JinjaToken Next() => _t[_p++];

    private bool IsOp(string op) => Peek.Kind == TokenKind.Op && Peek.Value == op;
    private bool IsName(string name) => Peek.Kind == TokenKind.Name && Peek.Value == name;

    private void ExpectOp(string op)
    {
        if (!IsOp(op)) throw Error($"expected '{op}'");
        _p++;
    }

    private void Expect(TokenKind kind)
    {
        if (Peek.Kind != kind) throw Error($"expected {kind}");
        _p++;
    }

    private string ExpectName()
    {
        if (Peek.Kind != TokenKind.Name) throw Error("expected a name");
        return Next().Value;
    }

    private JinjaException Error(string what) =>
        new($"line {Peek.Line}: {what}, found {(Peek.Kind is TokenKind.End ? "end of template" : $"'{Peek.Value}' ({Peek.Kind})")}");

    /// <summary>Parses nodes until an end-like statement ({% endX %}, else, elif) or the end; returns its keyword.</summary>
    private List<Node> ParseBlock(out string? end, params string[] enders)
    {
        var nodes = new List<Node>();
        while (true)
        {
            var t = Peek;
            switch (t.Kind)
            {
                case TokenKind.End:
                    end = null;
                    return nodes;
                case TokenKind.Text:
                    _p++;
                    nodes.Add(new TextNode(t.Line, t.Value));
                    break;
                case TokenKind.ExprOpen:
                    _p++;
                    nodes.Add(new OutputNode(t.Line, ParseExpression()));
                    Expect(TokenKind.ExprClose);
                    break;
                case TokenKind.StmtOpen:
                    var kw = _t[_p + 1];
                    if (kw.Kind == TokenKind.Name && Array.IndexOf(enders, kw.Value) >= 0)
                    {
                        _p += 2;
                        end = kw.Value;
                        return nodes;
                    }
                    _p++;
                    nodes.Add(ParseStatement());
                    break;
                default:
                    throw Error("unexpected token");
            }
        }
    }

    private Node ParseStatement()
    {
        int line = Peek.Line;
        string kw = ExpectName();
        switch (kw)
        {
            case "if": return ParseIf(line);
            case "for":
            {
                var targets = new List<string> { ExpectName() };
                while (IsOp(",")) { _p++; targets.Add(ExpectName()); }
                if (!IsName("in")) throw Error("expected 'in'");
                _p++;
                var iterable = ParseTernaryFree();
                Expr? filter = null;
                if (IsName("if")) { _p++; filter = ParseTernaryFree(); }
                Expect(TokenKind.StmtClose);
                var body = ParseBlock(out var end, "endfor", "else");
                var elseBody = new List<Node>();
                if (end == "else") { Expect(TokenKind.StmtClose); elseBody = ParseBlock(out end, "endfor"); }
                if (end != "endfor") throw new JinjaException($"line {line}: {{% for %}} without {{% endfor %}}");
                Expect(TokenKind.StmtClose);
                return new ForNode(line, targets, iterable, filter, body, elseBody);
            }
            case "set":
            {
                Expr target = new Name(Peek.Line, ExpectName());
                if (IsOp(".")) { _p++; target = new GetAttr(line, target, ExpectName()); }
                else if (IsOp(","))
                {
                    var items = new List<Expr> { target };
                    while (IsOp(",")) { _p++; items.Add(new Name(Peek.Line, ExpectName())); }
                    target = new ListExpr(line, items, true);
                }
                if (IsOp("="))
                {
                    _p++;
                    var value = ParseExpression();
                    Expect(TokenKind.StmtClose);
                    return new SetNode(line, target, value, null);
                }
                Expect(TokenKind.StmtClose);
                var body = ParseBlock(out var end, "endset");
                if (end != "endset") throw new JinjaException($"line {line}: {{% set %}} block without {{% endset %}}");
                Expect(TokenKind.StmtClose);
                return new SetNode(line, target, null, body);
            }
            case "macro":
            {
                string name = ExpectName();
                var parameters = new List<(string, Expr?)>();
                ExpectOp("(");
                while (!IsOp(")"))
                {
                    string p = ExpectName();
                    Expr? def = null;
                    if (IsOp("=")) { _p++; def = ParseExpression(); }
                    parameters.Add((p, def));
                    if (!IsOp(")")) ExpectOp(",");
                }
                _p++;
                Expect(TokenKind.StmtClose);
                var body = ParseBlock(out var end, "endmacro");
                if (end != "endmacro") throw new JinjaException($"line {line}: {{% macro %}} without {{% endmacro %}}");
                Expect(TokenKind.StmtClose);
                return new MacroNode(line, name, parameters, body);
            }
            case "filter":
            {
                var f = ParseFilterCall(line, null);
                Expect(TokenKind.StmtClose);
                var body = ParseBlock(out var end, "endfilter");
                if (end != "endfilter") throw new JinjaException($"line {line}: {{% filter %}} without {{% endfilter %}}");
                Expect(TokenKind.StmtClose);
                return new FilterBlockNode(line, f, body);
            }
            case "break": Expect(TokenKind.StmtClose); return new BreakNode(line);
            case "continue": Expect(TokenKind.StmtClose); return new ContinueNode(line);
            default:
                throw new JinjaException($"line {line}: unknown statement '{kw}'");
        }
    }

    private IfNode ParseIf(int line)
    {
        var test = ParseExpression();
        Expect(TokenKind.StmtClose);
        var then = ParseBlock(out var end, "elif", "else", "endif");
        var elseBody = new List<Node>();
        if (end == "elif")
        {
            elseBody.Add(ParseIf(Peek.Line));
            return new IfNode(line, test, then, elseBody);
        }
        if (end == "else")
        {
            Expect(TokenKind.StmtClose);
            elseBody = ParseBlock(out end, "endif");
        }
        if (end != "endif") throw new JinjaException($"line {line}: {{% if %}} without {{% endif %}}");
        Expect(TokenKind.StmtClose);
        return new IfNode(line, test, then, elseBody);
    }

    // Precedence (low → high): ternary, or, and, not, comparison/in/is, ~, + -, * / // %, unary -, **, postfix, primary.
    private Expr ParseExpression()
    {
        var e = ParseTernaryFree();
        if (IsName("if"))
        {
            int line = Next().Line;
            var test = ParseTernaryFree();
            Expr? otherwise = null;
            if (IsName("else")) { _p++; otherwise = ParseExpression(); }
            return new Conditional(line, test, e, otherwise);
        }
        return e;
    }

    private Expr ParseTernaryFree() => ParseOr();

    private Expr ParseOr()
    {
        var e = ParseAnd();
        while (IsName("or")) { int l = Next().Line; e = new Binary(l, "or", e, ParseAnd()); }
        return e;
    }

    private Expr ParseAnd()
    {
        var e = ParseNot();
        while (IsName("and")) { int l = Next().Line; e = new Binary(l, "and", e, ParseNot()); }
        return e;
    }

    private Expr ParseNot()
    {
        if (IsName("not")) { int l = Next().Line; return new Unary(l, "not", ParseNot()); }
        return ParseComparison();
    }

    private Expr ParseComparison()
    {
        var e = ParseConcat();
        while (true)
        {
            int l = Peek.Line;
            if (Peek.Kind == TokenKind.Op && Peek.Value is "==" or "!=" or "<" or ">" or "<=" or ">=")
            {
                string op = Next().Value;
                e = new Binary(l, op, e, ParseConcat());
            }
            else if (IsName("in")) { _p++; e = new Binary(l, "in", e, ParseConcat()); }
            else if (IsName("not") && _t[_p + 1].Kind == TokenKind.Name && _t[_p + 1].Value == "in") { _p += 2; e = new Binary(l, "not in", e, ParseConcat()); }
            else if (IsName("is"))
            {
                _p++;
                bool negated = false;
                if (IsName("not")) { _p++; negated = true; }
                string test = Peek.Kind == TokenKind.Name ? Next().Value : throw Error("expected a test name");
                var args = new List<Expr>();
                if (IsOp("(")) { _p++; while (!IsOp(")")) { args.Add(ParseExpression()); if (!IsOp(")")) ExpectOp(","); } _p++; }
                else if (Peek.Kind is TokenKind.String or TokenKind.Integer or TokenKind.Float || (Peek.Kind == TokenKind.Name && Peek.Value is not ("and" or "or" or "else" or "if" or "in" or "is" or "not")))
                    args.Add(ParsePrimaryWithPostfix());
                e = new TestExpr(l, e, test, args, negated);
            }
            else return e;
        }
    }

    private Expr ParseConcat()
    {
        var e = ParseAdditive();
        while (IsOp("~")) { int l = Next().Line; e = new Binary(l, "~", e, ParseAdditive()); }
        return e;
    }

    private Expr ParseAdditive()
    {
        var e = ParseMultiplicative();
        while (IsOp("+") || IsOp("-")) { var t = Next(); e = new Binary(t.Line, t.Value, e, ParseMultiplicative()); }
        return e;
    }

    private Expr ParseMultiplicative()
    {
        var e = ParseUnary();
        while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) { var t = Next(); e = new Binary(t.Line, t.Value, e, ParseUnary()); }
        return e;
    }

    private Expr ParseUnary()
    {
        if (IsOp("-")) { int l = Next().Line; return new Unary(l, "-", ParseUnary()); }
        if (IsOp("+")) { _p++; return ParseUnary(); }
        return ParsePower();
    }

    private Expr ParsePower()
    {
        var e = ParsePrimaryWithPostfix();
        if (IsOp("**")) { int l = Next().Line; e = new Binary(l, "**", e, ParseUnary()); }
        return e;
    }

    private Expr ParsePrimaryWithPostfix()
    {
        var e = ParsePrimary();
        while (true)
        {
            int l = Peek.Line;
            if (IsOp(".")) { _p++; e = new GetAttr(l, e, Peek.Kind is TokenKind.Name or TokenKind.Integer ? Next().Value : throw Error("expected an attribute name")); }
            else if (IsOp("[")) { _p++; e = ParseSubscript(l, e); }
            else if (IsOp("("))
            {
                _p++;
                var (args, kwargs) = ParseArguments();
                e = new CallExpr(l, e, args, kwargs);
            }
            else if (IsOp("|")) { _p++; e = ParseFilterCall(l, e); }
            else return e;
        }
    }

    private FilterExpr ParseFilterCall(int line, Expr? target)
    {
        string name = ExpectName();
        while (IsOp(".")) { _p++; name += "." + ExpectName(); }
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        if (IsOp("(")) { _p++; (args, kwargs) = ParseArguments(); }
        return new FilterExpr(line, target, name, args, kwargs);
    }

    /// <summary>Arguments after '(' up to and including ')'.</summary>
    private (List<Expr>, List<(string, Expr)>) ParseArguments()
    {
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        while (!IsOp(")"))
        {
            if (Peek.Kind == TokenKind.Name && _t[_p + 1].Kind == TokenKind.Op && _t[_p + 1].Value == "=")
            {
                string k = Next().Value;
                _p++;
                kwargs.Add((k, ParseExpression()));
            }
            else args.Add(ParseExpression());
            if (!IsOp(")")) ExpectOp(",");
        }
        _p++;
        return (args, kwargs);
    }

    private Expr ParseSubscript(int line, Expr target)
    {
        Expr? start = null, stop = null, step = null;
        if (!IsOp(":")) start = ParseExpression();
        if (IsOp("]")) { _p++; return new GetItem(line, target, start ?? throw Error("empty subscript")); }
        ExpectOp(":");
        if (!IsOp(":") && !IsOp("]")) stop = ParseExpression();
        if (IsOp(":")) { _p++; if (!IsOp("]")) step = ParseExpression(); }
        ExpectOp("]");
        return new SliceExpr(line, target, start, stop, step);
    }

    private Expr ParsePrimary()
    {
        var t = Next();
        switch (t.Kind)
        {
            case TokenKind.String:
            {
                string s = t.Value;
                // Adjacent string literals concatenate, as in Python.
                while (Peek.Kind == TokenKind.String) s += Next().Value;
                return new Literal(t.Line, s);
            }
            case TokenKind.Integer:
            case TokenKind.Float:
                return new Literal(t.Line, JinjaLexer.ParseNumber(t));
            case TokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new Literal(t.Line, true),
                    "false" or "False" => new Literal(t.Line, false),
                    "none" or "None" => new Literal(t.Line, null),
                    _ => new Name(t.Line, t.Value),
                };
            case TokenKind.Op when t.Value == "(":
            {
                if (IsOp(")")) { _p++; return new ListExpr(t.Line, [], true); }
                var first = ParseExpression();
                if (IsOp(")")) { _p++; return first; }
                var items = new List<Expr> { first };
                while (IsOp(",")) { _p++; if (IsOp(")")) break; items.Add(ParseExpression()); }
                ExpectOp(")");
                return new ListExpr(t.Line, items, true);
            }
            case TokenKind.Op when t.Value == "[":
            {
                var items = new List<Expr>();
                while (!IsOp("]")) { items.Add(ParseExpression()); if (!IsOp("]")) ExpectOp(","); }
                _p++;
                return new ListExpr(t.Line, items, false);
            }
            case TokenKind.Op when t.Value == "{":
            {
                var items = new List<(Expr, Expr)>();
                while (!IsOp("}"))
                {
                    var k = ParseExpression();
                    ExpectOp(":");
                    items.Add((k, ParseExpression()));
                    if (!IsOp("}")) ExpectOp(",");
                }
                _p++;
                return new DictExpr(t.Line, items);
            }
            default:
                _p--;
                throw Error("expected an expression");
        }
    }
}
