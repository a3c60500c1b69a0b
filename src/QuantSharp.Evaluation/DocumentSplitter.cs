// Splits a text into documents at lines that hold only <|endoftext|>.
namespace QuantSharp.Evaluation;

/// <summary>Splits evaluation texts whose documents are separated by &lt;|endoftext|&gt; (TinyStories style).</summary>
public static class DocumentSplitter
{
    /// <summary>The documents, each trimmed; empty ones dropped.</summary>
    public static List<string> Split(string text)
    {
        var docs = new List<string>();
        foreach (var part in text.Replace("\r\n", "\n").Split("<|endoftext|>"))
        {
            var d = part.Trim();
            if (d.Length > 0) docs.Add(d);
        }
        return docs;
    }
}
