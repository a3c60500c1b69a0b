// Errors of the chat-template engine: a template it cannot parse or run, or one that calls raise_exception.
namespace QuantSharp.Templates;

/// <summary>A chat template that cannot be parsed or rendered; the message names the template line.</summary>
public class JinjaException : FormatException
{
    /// <summary>Creates the error.</summary>
    /// <param name="message">What went wrong, with the line.</param>
    public JinjaException(string message) : base(message) { }
}

/// <summary>The template itself refused the input (<c>raise_exception("…")</c>), e.g. roles that do not alternate.</summary>
public sealed class JinjaRaisedException : JinjaException
{
    /// <summary>Creates the error with the template's message.</summary>
    /// <param name="message">The template's message.</param>
    public JinjaRaisedException(string message) : base(message) { }
}
