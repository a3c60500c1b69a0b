// config.json parsing: transformers-5 rope_parameters, older top-level rope keys, Llama-3 scaling, bad values.
using System.Text.Json;
using QuantSharp.Formats.HuggingFace;
using QuantSharp.Models.Llama;

namespace QuantSharp.Tests.Formats;

public sealed class HfConfigTests
{
    private static HfConfig Parse(string json) => HfConfig.Parse("config.json", JsonDocument.Parse(json).RootElement);

    private const string Base = """
        "model_type":"llama","architectures":["LlamaForCausalLM"],"hidden_size":512,"intermediate_size":1536,
        "num_hidden_layers":8,"num_attention_heads":8,"num_key_value_heads":4,"vocab_size":8192,"rms_norm_eps":1e-5,
        "max_position_embeddings":1024
        """;

    [Fact]
    public void ReadsTransformers5RopeParameters()
    {
        var c = Parse("{" + Base + ""","rope_parameters":{"rope_theta":500000.0,"rope_type":"default"},"tie_word_embeddings":true}""");
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.Null(c.RopeScaling);
        Assert.Equal(64, c.HeadDim);
        Assert.True(c.TieWordEmbeddings);
    }

    [Fact]
    public void ReadsOlderTopLevelRopeThetaAndLlama3Scaling()
    {
        var c = Parse("{" + Base + ""","rope_theta":500000.0,"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}}""");
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.Equal("llama3", c.RopeScaling!.Type);
        Assert.Equal(8.0, c.RopeScaling.Factor);
        Assert.False(c.TieWordEmbeddings);
        var hp = LlamaHyperParameters.FromHf(c);
        var inv = hp.RopeInverseFrequencies();
        // Highest frequency (short wavelength) untouched; lowest divided by the factor.
        Assert.Equal(1.0f, inv[0]);
        Assert.Equal((float)(Math.Pow(500000.0, -62.0 / 64) / 8.0), inv[31], 6);
    }

    [Fact]
    public void ReadsTheRealSotuConfig()
    {
        var c = HfConfig.Load(Path.Combine(SharedData.Models, "sotu-llama-30m"));
        Assert.Equal(512, c.HiddenSize);
        Assert.Equal(4, c.NumKvHeads);
        Assert.Equal(10000.0, c.RopeTheta);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(0, c.BosTokenId);
    }

    [Theory]
    [InlineData(""","num_attention_heads":7""", "not a multiple")]
    [InlineData(""","hidden_size":-3""", "must be positive")]
    [InlineData(""","rms_norm_eps":"x" """, "must be a number")]
    public void BadValuesAreNamed(string overrideJson, string expected)
    {
        // JsonElement.TryGetProperty matches the last definition of a repeated key, so the override wins.
        var ex = Assert.Throws<InvalidDataException>(() => Parse("{" + Base + overrideJson + "}"));
        Assert.Contains(expected, ex.Message);
        Assert.Contains("config.json", ex.Message);
    }

    [Fact]
    public void UnknownArchitectureIsRejected()
    {
        var c = Parse("{" + Base.Replace("\"llama\"", "\"gpt2\"").Replace("LlamaForCausalLM", "GPT2LMHeadModel") + "}");
        var ex = Assert.Throws<NotSupportedException>(() => LlamaHyperParameters.FromHf(c));
        Assert.Contains("GPT2LMHeadModel", ex.Message);
    }
}
