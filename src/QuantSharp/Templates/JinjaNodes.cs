// The syntax tree of a parsed template: statements (text, output, if, for, set, macro) and expressions.
namespace QuantSharp.Templates;

internal abstract record Node(int Line);

internal sealed record TextNode(int Line, string Text) : Node(Line);
internal sealed record OutputNode(int Line, Expr Value) : Node(Line);
internal sealed record IfNode(int Line, Expr Test, List<Node> Then, List<Node> Else) : Node(Line);
internal sealed record ForNode(int Line, List<string> Targets, Expr Iterable, Expr? Filter, List<Node> Body, List<Node> Else) : Node(Line);
internal sealed record SetNode(int Line, Expr Target, Expr? Value, List<Node>? Body) : Node(Line);
internal sealed record MacroNode(int Line, string Name, List<(string Name, Expr? Default)> Parameters, List<Node> Body) : Node(Line);
internal sealed record BreakNode(int Line) : Node(Line);
internal sealed record ContinueNode(int Line) : Node(Line);
internal sealed record FilterBlockNode(int Line, FilterExpr Filter, List<Node> Body) : Node(Line);

internal abstract record Expr(int Line);

internal sealed record Literal(int Line, object? Value) : Expr(Line);
internal sealed record Name(int Line, string Id) : Expr(Line);
internal sealed record ListExpr(int Line, List<Expr> Items, bool IsTuple) : Expr(Line);
internal sealed record DictExpr(int Line, List<(Expr Key, Expr Value)> Items) : Expr(Line);
internal sealed record GetAttr(int Line, Expr Target, string Attribute) : Expr(Line);
internal sealed record GetItem(int Line, Expr Target, Expr Index) : Expr(Line);
internal sealed record SliceExpr(int Line, Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr(Line);
internal sealed record CallExpr(int Line, Expr Callee, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr(Line);
internal sealed record FilterExpr(int Line, Expr? Target, string Filter, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr(Line);
internal sealed record TestExpr(int Line, Expr Target, string Test, List<Expr> Args, bool Negated) : Expr(Line);
internal sealed record Unary(int Line, string Op, Expr Operand) : Expr(Line);
internal sealed record Binary(int Line, string Op, Expr Left, Expr Right) : Expr(Line);
internal sealed record Conditional(int Line, Expr Test, Expr Then, Expr? Else) : Expr(Line);
