// Runs llama.cpp's own quantizer (llama_model_quantize), the reference our quantizer is compared to.
using System.Text;

namespace QuantSharp.LlamaCpp;

/// <summary>llama_ftype values (llama.h b8390) for the quantization targets we compare against.</summary>
public enum LlamaFileType
{
    /// <summary>All F32.</summary>
    AllF32 = 0,
    /// <summary>Mostly F16.</summary>
    MostlyF16 = 1,
    /// <summary>Mostly Q4_0.</summary>
    MostlyQ4_0 = 2,
    /// <summary>Mostly Q4_1.</summary>
    MostlyQ4_1 = 3,
    /// <summary>Mostly Q8_0.</summary>
    MostlyQ8_0 = 7,
    /// <summary>Mostly Q5_0.</summary>
    MostlyQ5_0 = 8,
    /// <summary>Mostly Q5_1.</summary>
    MostlyQ5_1 = 9,
    /// <summary>Mostly Q2_K.</summary>
    MostlyQ2_K = 10,
    /// <summary>Q3_K small.</summary>
    MostlyQ3_K_S = 11,
    /// <summary>Q3_K medium.</summary>
    MostlyQ3_K_M = 12,
    /// <summary>Q3_K large.</summary>
    MostlyQ3_K_L = 13,
    /// <summary>Q4_K small.</summary>
    MostlyQ4_K_S = 14,
    /// <summary>Q4_K medium.</summary>
    MostlyQ4_K_M = 15,
    /// <summary>Q5_K small.</summary>
    MostlyQ5_K_S = 16,
    /// <summary>Q5_K medium.</summary>
    MostlyQ5_K_M = 17,
    /// <summary>Mostly Q6_K.</summary>
    MostlyQ6_K = 18,
    /// <summary>Q2_K small (llama.cpp requires an importance matrix).</summary>
    MostlyQ2_K_S = 21,
    /// <summary>Mostly IQ4_NL.</summary>
    MostlyIQ4_NL = 25,
    /// <summary>Mostly IQ4_XS.</summary>
    MostlyIQ4_XS = 30,
    /// <summary>Mostly BF16.</summary>
    MostlyBF16 = 32,
}

/// <summary>llama.cpp's quantizer.</summary>
public static unsafe class LlamaCppQuantizer
{
    /// <summary>
    /// Quantizes <paramref name="inputPath"/> into <paramref name="outputPath"/> with llama.cpp's
    /// defaults for everything but the target type and thread count.
    /// </summary>
    public static void Quantize(string inputPath, string outputPath, LlamaFileType fileType, int threads = 0, bool pure = false)
    {
        LlamaCppLibrary.EnsureLoaded();
        var p = LlamaNative.llama_model_quantize_default_params();
        p.FType = (int)fileType;
        p.NThread = threads;
        p.Pure = (byte)(pure ? 1 : 0);
        var input = Encoding.UTF8.GetBytes(Path.GetFullPath(inputPath) + "\0");
        var output = Encoding.UTF8.GetBytes(Path.GetFullPath(outputPath) + "\0");
        uint rc;
        fixed (byte* i = input)
        fixed (byte* o = output)
            rc = LlamaNative.llama_model_quantize(i, o, &p);
        if (rc != 0) throw new InvalidOperationException($"llama_model_quantize({inputPath} → {outputPath}, {fileType}) failed with {rc}");
    }
}
