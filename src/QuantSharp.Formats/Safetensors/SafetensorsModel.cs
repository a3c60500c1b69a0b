// A Hugging Face weights folder: one model.safetensors, or shards listed by model.safetensors.index.json.
using System.Text.Json;
using QuantSharp.Core.Tensors;

namespace QuantSharp.Formats.Safetensors;

/// <summary>
/// All safetensors weights of a Hugging Face model folder as one <see cref="IWeightSource"/>.
/// Shards are opened (mapped) once each; the index is checked against what the shards contain.
/// </summary>
public sealed class SafetensorsModel : IWeightSource
{
    private readonly List<SafetensorsFile> _shards = new();
    private readonly Dictionary<string, SafetensorsFile> _byName = new(StringComparer.Ordinal);
    private readonly List<string> _names = new();

    private SafetensorsModel(string origin) => Origin = origin;

    /// <inheritdoc/>
    public string Origin { get; }

    /// <summary>The shard files, in the order they were opened.</summary>
    public IReadOnlyList<string> ShardPaths => _shards.ConvertAll(s => s.Origin);

    /// <inheritdoc/>
    public IReadOnlyList<string> TensorNames => _names;

    /// <inheritdoc/>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <inheritdoc/>
    public TensorView Get(string name)
    {
        if (!_byName.TryGetValue(name, out var shard))
            throw new KeyNotFoundException($"{Origin}: the model has no tensor named '{name}'");
        return shard.Get(name);
    }

    /// <summary>Whether <paramref name="folder"/> holds safetensors weights.</summary>
    public static bool IsModelFolder(string folder) =>
        File.Exists(Path.Combine(folder, "model.safetensors.index.json")) || File.Exists(Path.Combine(folder, "model.safetensors"));

    /// <summary>Opens a folder (index or single file) or a single .safetensors file.</summary>
    public static SafetensorsModel Open(string path)
    {
        var model = new SafetensorsModel(path);
        try
        {
            if (File.Exists(path))
            {
                model.AddShard(new SafetensorsFile(path));
                return model;
            }
            if (!Directory.Exists(path)) throw new FileNotFoundException($"{path}: no such file or folder");
            string index = Path.Combine(path, "model.safetensors.index.json");
            if (File.Exists(index))
            {
                var map = ReadIndex(index);
                var shardNames = new SortedSet<string>(map.Values, StringComparer.Ordinal);
                foreach (var shardName in shardNames)
                {
                    if (shardName.Contains('/') || shardName.Contains('\\') || shardName.Contains(".."))
                        throw new InvalidDataException($"{index}: shard name '{shardName}' must be a plain file name");
                    string shardPath = Path.Combine(path, shardName);
                    if (!File.Exists(shardPath)) throw new FileNotFoundException($"{index}: shard '{shardName}' is listed but missing", shardPath);
                    model.AddShard(new SafetensorsFile(shardPath));
                }
                foreach (var (tensor, shardName) in map)
                    if (!model._byName.TryGetValue(tensor, out var s) || Path.GetFileName(s.Origin) != shardName)
                        throw new InvalidDataException($"{index}: tensor '{tensor}' is mapped to '{shardName}' but that shard does not contain it");
                return model;
            }
            string single = Path.Combine(path, "model.safetensors");
            if (File.Exists(single))
            {
                model.AddShard(new SafetensorsFile(single));
                return model;
            }
            throw new FileNotFoundException($"{path}: no model.safetensors or model.safetensors.index.json in this folder");
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadIndex(string index)
    {
        {
            using var doc = StrictJson.ParseFile(index);
            if (!doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{index}: missing object 'weight_map'");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{index}: weight_map['{p.Name}'] is not a string");
                map[p.Name] = p.Value.GetString()!;
            }
            return map;
        }
    }

    private void AddShard(SafetensorsFile shard)
    {
        _shards.Add(shard);
        foreach (var name in shard.TensorNames)
        {
            if (_byName.TryGetValue(name, out var other))
                throw new InvalidDataException($"{Origin}: tensor '{name}' appears in both {other.Origin} and {shard.Origin}");
            _byName[name] = shard;
            _names.Add(name);
        }
    }

    /// <inheritdoc/>
    public void ThrowIfChanged()
    {
        foreach (var s in _shards) s.ThrowIfChanged();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var s in _shards) s.Dispose();
        _shards.Clear();
    }
}
