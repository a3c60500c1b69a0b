// The error a contradictory or invalid QuantizeRequest raises, naming the option at fault.
namespace QuantSharp;

/// <summary>
/// A <see cref="QuantizeRequest"/> that cannot run as given. Raised before any work starts (no file is read
/// beyond existence checks, nothing is written). <see cref="Exception.Message"/> starts with the command-line
/// option and the request property at fault, e.g. <c>--act-order (ActOrder): …</c>, so the CLI and the
/// library report the same words.
/// </summary>
public sealed class QuantizeRequestException : ArgumentException
{
    /// <summary>Creates the error for one option.</summary>
    /// <param name="option">The command-line option, e.g. <c>--act-order</c>.</param>
    /// <param name="property">The <see cref="QuantizeRequest"/> property, e.g. <c>ActOrder</c>.</param>
    /// <param name="reason">What is wrong and what to do instead.</param>
    public QuantizeRequestException(string option, string property, string reason)
        : base($"{option} ({property}): {reason}")
    {
        Option = option;
        Property = property;
    }

    /// <summary>The command-line option at fault (e.g. <c>--mse</c>).</summary>
    public string Option { get; }

    /// <summary>The <see cref="QuantizeRequest"/> property at fault (e.g. <c>Mse</c>).</summary>
    public string Property { get; }
}
