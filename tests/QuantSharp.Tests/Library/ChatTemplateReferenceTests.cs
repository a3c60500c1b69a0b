// The Jinja engine renders the real Qwen3, Llama-3 and Gemma-3 chat templates exactly as @huggingface/jinja does.
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Templates;
using QuantSharp.Tests.Tokenizers;

namespace QuantSharp.Tests.Library;

/// <summary>
/// Expected strings come from the JS reference renderer (render-reference.mjs on @huggingface/jinja, installed by
/// .ci/install-jinja.sh), run here on the same template and variables: never written by hand.
/// </summary>
public class ChatTemplateReferenceTests
{
    private static string JinjaModules => Path.Combine(SharedData.RepoRoot, ".oracle", "jinja", "node_modules");

    private static string Script => Path.Combine(SharedData.RepoRoot, "tests", "QuantSharp.Tests", "Library", "render-reference.mjs");

    /// <summary>Conversations: system or not, one and several turns, generation prompt on and off, Qwen3 thinking.</summary>
    private static IEnumerable<(string Name, JsonObject Variables)> Conversations(string family)
    {
        JsonObject Msg(string role, string content) => new() { ["role"] = role, ["content"] = content };
        var convs = new List<(string, JsonArray)>
        {
            ("single user", [Msg("user", "Hello! Who are you?")]),
            ("system + user", [Msg("system", "You are a terse assistant."), Msg("user", "  Name three primes.\n")]),
            ("multi-turn", [Msg("user", "Hi"), Msg("assistant", "Hello, how can I help?"), Msg("user", "Tell me a joke about ünïcödé — and \"quotes\".")]),
            ("system multi-turn", [Msg("system", "Be kind."), Msg("user", "First question"), Msg("assistant", "First answer"), Msg("user", "Second question")]),
        };
        if (family == "qwen3")
            convs.Add(("thinking history", [Msg("user", "2+2?"), Msg("assistant", "<think>\nadd them\n</think>\n\n4"), Msg("user", "and 3+3?")]));
        foreach (var (name, messages) in convs)
            foreach (bool gen in new[] { true, false })
            {
                var v = new JsonObject { ["messages"] = messages.DeepClone(), ["add_generation_prompt"] = gen };
                AddSpecialTokens(family, v);
                yield return ($"{name}, add_generation_prompt={gen}", v);
                if (family == "qwen3" && gen)
                    foreach (bool think in new[] { true, false })
                    {
                        var t = (JsonObject)v.DeepClone();
                        t["enable_thinking"] = think;
                        yield return ($"{name}, enable_thinking={think}", t);
                    }
            }
    }

    private static void AddSpecialTokens(string family, JsonObject v)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(RealTokenizerFiles.Folder(family), "tokenizer_config.json")));
        foreach (var key in new[] { "bos_token", "eos_token" })
            if (doc.RootElement.TryGetProperty(key, out var t) && t.ValueKind == JsonValueKind.String) v[key] = t.GetString();
    }

    private static string Template(string family)
    {
        string config = Path.Combine(RealTokenizerFiles.Folder(family), "tokenizer_config.json");
        if (!File.Exists(config)) throw new FileNotFoundException($"{config} is missing; run .ci/install-tokenizers.sh", config);
        using var doc = JsonDocument.Parse(File.ReadAllText(config));
        return doc.RootElement.GetProperty("chat_template").GetString()!;
    }

    private static List<JsonNode?> RenderWithJs(JsonArray cases)
    {
        if (!Directory.Exists(Path.Combine(JinjaModules, "@huggingface", "jinja")))
            throw new DirectoryNotFoundException($"{JinjaModules}/@huggingface/jinja is missing; run .ci/install-jinja.sh");
        var psi = new ProcessStartInfo("node") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Script);
        psi.ArgumentList.Add(JinjaModules);
        using var p = Process.Start(psi)!;
        p.StandardInput.Write(cases.ToJsonString());
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"render-reference.mjs failed: {err}");
        return [.. JsonNode.Parse(stdout.Result)!.AsArray()];
    }

    [Theory]
    [InlineData("qwen3")]
    [InlineData("llama3")]
    [InlineData("gemma3")]
    public void RealTemplatesRenderLikeTheJsReference(string family)
    {
        string template = Template(family);
        var convs = Conversations(family).ToList();
        var cases = new JsonArray([.. convs.Select(c => (JsonNode)new JsonObject { ["template"] = template, ["variables"] = c.Variables.DeepClone() })]);
        var expected = RenderWithJs(cases);
        var compiled = new JinjaTemplate(template);
        for (int i = 0; i < convs.Count; i++)
        {
            Assert.True(expected[i] is JsonValue, $"{family} / {convs[i].Name}: the JS reference failed: {expected[i]?.ToJsonString()}");
            var vars = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(convs[i].Variables.ToJsonString())!
                .ToDictionary(kv => kv.Key, kv => (object?)kv.Value);
            string ours = compiled.Render(vars);
            Assert.True(expected[i]!.GetValue<string>() == ours, $"{family} / {convs[i].Name}:\nexpected {JsonSerializer.Serialize(expected[i]!.GetValue<string>())}\nactual   {JsonSerializer.Serialize(ours)}");
        }
    }

    [Fact]
    public void Gemma3RefusesNonAlternatingRolesAsTheTemplateSays()
    {
        var t = new JinjaTemplate(Template("gemma3"));
        var vars = new Dictionary<string, object?>
        {
            ["messages"] = new List<object?> { new Dictionary<string, object?> { ["role"] = "user", ["content"] = "a" }, new Dictionary<string, object?> { ["role"] = "user", ["content"] = "b" } },
            ["bos_token"] = "<bos>",
        };
        var ex = Assert.Throws<JinjaRaisedException>(() => t.Render(vars));
        Assert.Contains("alternate", ex.Message);
    }

    // Python and JS print booleans and lists differently ({{ true }} is "True" in transformers): the cases print text only.
    [Theory]
    [InlineData("{% for x in items %}{{ loop.index }}:{{ x | upper }}{% if not loop.last %}, {% endif %}{% endfor %}")]
    [InlineData("{% set ns = namespace(n=0) %}{% for x in items %}{% set ns.n = ns.n + x|length %}{% endfor %}{{ ns.n }}")]
    [InlineData("{{ items[::-1] | join('-') }} {{ items[1:] | tojson }} {{ 'a,b,,c'.split(',') | join('|') }} {{ '  x  '.strip() }}|{{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }}")]
    [InlineData("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', punct='?') }}")]
    [InlineData("{{ 'yes' if items | length > 2 else 'no' }} {{ 'in' if 'b' in items else 'out' }} {{ 'in' if 'bb' in items }} {{ 'def' if missing is defined else 'undef' }} {{ missing | default('dflt') }} {{ 'sub' if 'cc' in items[2] }}")]
    [InlineData("{%- for x in items -%}\n  {{ x }}\n{%- endfor %}\n{# comment #}\n{{ items | first }}{{ items | last }}{{ range(3) | list | length }}")]
    [InlineData("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}{{ {'x': [1, 2.5, none, true]} | tojson }}")]
    public void EngineFeaturesRenderLikeTheJsReference(string template)
    {
        var variables = new JsonObject { ["items"] = new JsonArray("a", "bb", "ccc") };
        var expected = RenderWithJs([new JsonObject { ["template"] = template, ["variables"] = variables }]);
        Assert.True(expected[0] is JsonValue, $"JS reference failed: {expected[0]?.ToJsonString()}");
        var vars = new Dictionary<string, object?> { ["items"] = new List<object?> { "a", "bb", "ccc" } };
        Assert.Equal(expected[0]!.GetValue<string>(), new JinjaTemplate(template).Render(vars));
    }

    [Fact]
    public void SyntaxErrorsNameTheLine()
    {
        var ex = Assert.Throws<JinjaException>(() => new JinjaTemplate("ok\n{% if x %}\nno end"));
        Assert.Contains("line 2", ex.Message);
        var unknown = Assert.Throws<JinjaException>(() => new JinjaTemplate("{{ x | frobnicate }}").Render(new Dictionary<string, object?> { ["x"] = 1L }));
        Assert.Contains("frobnicate", unknown.Message);
    }
}
