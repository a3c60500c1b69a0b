// UnicodeNfc: known compositions (expected values from Python's unicodedata.normalize("NFC", …), Unicode 14) and properties.
using System.Text;
using QuantSharp.Formats.Tokenizers;

namespace QuantSharp.Tests.Tokenizers;

public sealed class UnicodeNfcTests
{
    [Theory]
    [InlineData("Cafe\u0301", "Caf\u00E9")]
    [InlineData("q\u0307\u0323", "q\u0323\u0307")] // marks reordered by class, neither composes with q
    [InlineData("a\u0323\u0302", "\u1EAD")] // dot below (220) then circumflex (230): both compose
    [InlineData("e\u0302\u0323", "\u1EC7")] // the same marks in non-canonical order
    [InlineData("o\u031B\u0300", "\u1EDD")]
    [InlineData("A\u0308\u0304", "\u01DE")] // a composite composes again
    [InlineData("\u1100\u1161\u11A8", "\uAC01")] // Hangul L V T
    [InlineData("\u1112\u1161\u11AB\u1100\u1173\u11AF", "\uD55C\uAE00")]
    [InlineData("\u0915\u093C", "\u0915\u093C")] // U+0958 is a composition exclusion
    [InlineData("\u212B\u2126", "\u00C5\u03A9")] // singletons decompose for good
    [InlineData("\U0001D15E", "\U0001D157\U0001D165")] // outside the BMP, excluded
    [InlineData("\u0301a", "\u0301a")] // a leading mark composes with nothing
    [InlineData("\uFB01 \u00B2", "\uFB01 \u00B2")] // compatibility characters are left alone (that is NFKC)
    [InlineData("x\uD800y\uDC00", "x\uD800y\uDC00")] // lone surrogates pass through
    [InlineData("", "")]
    public void KnownAnswers(string input, string expected) => Assert.Equal(expected, UnicodeNfc.Normalize(input));

    [Fact]
    public void TextWithoutCombiningRangeCharactersIsReturnedAsIs()
    {
        const string text = "plain ASCII and Latin-1: café, naïve, ÅØ";
        Assert.False(UnicodeNfc.MayChange(text));
        Assert.Same(text, UnicodeNfc.Normalize(text));
    }

    [Fact]
    public void StressTextNormalizesIdempotentlyAndTheNfdLineComposes()
    {
        string once = UnicodeNfc.Normalize(UnicodeStressText.Text);
        Assert.Equal(once, UnicodeNfc.Normalize(once));
        string nfd = UnicodeNfc.Normalize(UnicodeStressText.Nfd);
        Assert.StartsWith("Café naïve résumé Ångström façade São Paulo Zürich crème brûlée Việt Nam ệ ờ ự. ÉCOLE Ü ñ Ñ", nfd);
        Assert.DoesNotContain('\u0301', nfd);
    }

    [Fact]
    public void EveryHangulSyllableComposesFromItsJamo()
    {
        // Hangul syllables decompose algorithmically: all 11,172 must compose back.
        var sb = new StringBuilder();
        for (int s = 0xAC00; s <= 0xD7A3; s++)
        {
            int index = s - 0xAC00;
            sb.Clear().Append((char)(0x1100 + index / 588)).Append((char)(0x1161 + index % 588 / 28));
            if (index % 28 != 0) sb.Append((char)(0x11A7 + index % 28));
            Assert.Equal(((char)s).ToString(), UnicodeNfc.Normalize(sb.ToString()));
        }
    }
}
