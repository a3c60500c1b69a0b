// Moves a vocabulary between TokenizerData and llama.cpp's tokenizer.ggml.* metadata keys.
using QuantSharp.Formats.Tokenizers;
using N = QuantSharp.Formats.Gguf.LlamaGgufNames;

namespace QuantSharp.Formats.Gguf;

/// <summary>
/// Writes and reads the tokenizer.ggml.* keys. Ids are written as uint32 and token types as an
/// int32 array, as llama.cpp's own converter does; optional parts are written only when present.
/// </summary>
public static class GgufTokenizerMetadata
{
    /// <summary>Adds <paramref name="data"/>'s keys to the writer's metadata.</summary>
    public static void Write(GgufWriter writer, TokenizerData data) => Write(writer.Metadata, data);

    /// <summary>Adds <paramref name="data"/>'s keys to <paramref name="metadata"/>, replacing existing tokenizer keys.</summary>
    public static void Write(GgufMetadata metadata, TokenizerData data)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(data);
        int n = data.Tokens.Count;
        if (data.Scores != null && data.Scores.Count != n)
            throw new ArgumentException($"tokenizer has {n} tokens but {data.Scores.Count} scores", nameof(data));
        if (data.TokenTypes.Count != n)
            throw new ArgumentException($"tokenizer has {n} tokens but {data.TokenTypes.Count} token types", nameof(data));
        foreach (var (id, what) in new[] { (data.BosId, "BOS"), (data.EosId, "EOS"), (data.UnknownId, "unknown"), (data.PaddingId, "padding") })
            if (id is { } v && (v < 0 || v >= n))
                throw new ArgumentException($"{what} token id {v} is outside the vocabulary of {n} tokens", nameof(data));

        metadata.SetString(N.TokenizerModel, data.Model);
        if (data.Pre != null) metadata.SetString(N.TokenizerPre, data.Pre);
        metadata.SetArray(N.TokenizerTokens, data.Tokens.ToArray());
        if (data.Scores != null) metadata.SetArray(N.TokenizerScores, data.Scores.ToArray());
        metadata.SetArray(N.TokenizerTokenType, data.TokenTypes.Select(t => (int)t).ToArray());
        if (data.Merges != null) metadata.SetArray(N.TokenizerMerges, data.Merges.ToArray());
        if (data.BosId is { } bos) metadata.SetUInt32(N.TokenizerBosId, (uint)bos);
        if (data.EosId is { } eos) metadata.SetUInt32(N.TokenizerEosId, (uint)eos);
        if (data.UnknownId is { } unk) metadata.SetUInt32(N.TokenizerUnknownId, (uint)unk);
        if (data.PaddingId is { } pad) metadata.SetUInt32(N.TokenizerPaddingId, (uint)pad);
        metadata.SetBool(N.TokenizerAddBos, data.AddBos);
        metadata.SetBool(N.TokenizerAddEos, data.AddEos);
        metadata.SetBool(N.TokenizerAddSpacePrefix, data.AddSpacePrefix);
    }

    /// <summary>
    /// Reads the vocabulary from <paramref name="metadata"/>. Missing token types count as Normal;
    /// missing add_* flags take llama.cpp's defaults for the model ("llama": add BOS and a space
    /// prefix; "gpt2" with the Llama-3 pre-tokenizer: add BOS; others: neither). Errors name the origin and key.
    /// </summary>
    public static TokenizerData Read(GgufMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        string model = metadata.ContainsKey(N.TokenizerModel)
            ? metadata.GetString(N.TokenizerModel)
            : throw new InvalidDataException($"{metadata.Origin}: metadata key '{N.TokenizerModel}' is missing; the file has no tokenizer");
        var tokens = metadata.ContainsKey(N.TokenizerTokens)
            ? metadata.GetArray<string>(N.TokenizerTokens)
            : throw new InvalidDataException($"{metadata.Origin}: metadata key '{N.TokenizerTokens}' is missing");
        int n = tokens.Length;

        float[]? scores = null;
        if (metadata.TryGetArray<float>(N.TokenizerScores, out var s))
        {
            if (s.Length != n) throw new InvalidDataException($"{metadata.Origin}: '{N.TokenizerScores}' has {s.Length} entries for {n} tokens");
            scores = s;
        }

        GgufTokenType[] types;
        if (metadata.TryGetArray<int>(N.TokenizerTokenType, out var tt))
        {
            if (tt.Length != n) throw new InvalidDataException($"{metadata.Origin}: '{N.TokenizerTokenType}' has {tt.Length} entries for {n} tokens");
            types = new GgufTokenType[n];
            for (int i = 0; i < n; i++)
            {
                if (tt[i] is < 0 or > (int)GgufTokenType.Byte)
                    throw new InvalidDataException($"{metadata.Origin}: '{N.TokenizerTokenType}'[{i}] is {tt[i]}; expected 0..6");
                types[i] = (GgufTokenType)tt[i];
            }
        }
        else
        {
            types = Enumerable.Repeat(GgufTokenType.Normal, n).ToArray();
        }

        string[]? merges = metadata.TryGetArray<string>(N.TokenizerMerges, out var m) ? m : null;
        string? pre = metadata.TryGet<string>(N.TokenizerPre, out var p) ? p : null;

        int? Id(string key)
        {
            if (!metadata.TryGetInteger(key, out long v)) return null;
            if (v < 0 || v >= n) throw new InvalidDataException($"{metadata.Origin}: '{key}' is {v}, outside the vocabulary of {n} tokens");
            return (int)v;
        }

        bool spm = model == "llama";
        // llama.cpp b8390 also adds BOS by default for the Llama-3 pre-tokenizers (checked against the library).
        bool bosByDefault = spm || model == "gpt2" && pre is "llama-bpe" or "llama3";
        bool Flag(string key, bool fallback) => metadata.TryGet<bool>(key, out var b) ? b : fallback;

        return new TokenizerData(
            model, pre, tokens, scores, types, merges,
            Id(N.TokenizerBosId), Id(N.TokenizerEosId), Id(N.TokenizerUnknownId), Id(N.TokenizerPaddingId),
            Flag(N.TokenizerAddBos, bosByDefault), Flag(N.TokenizerAddEos, false), Flag(N.TokenizerAddSpacePrefix, spm));
    }
}
