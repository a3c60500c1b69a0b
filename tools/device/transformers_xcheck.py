"""Cross-check of QuantSharp's engine against Hugging Face transformers (run on the lent GPU machine, not in CI).

Inputs (a folder, argument 1), written by QuantSharp on the development machine:
  fx/<arch>/            HF checkpoint of each architecture fixture (random weights, fp32), fx/<arch>.ours.bin our logits
  rot/<arch>/           the same fixture rotated by `quantsharp rotate` (R1 + R2, seed 1): must compute fx/<arch>'s function
  q/hf-gptq/, q/hf-awq/ our GPTQ (asym 4-bit g128, checkpoint_format gptq) and AWQ (GEMM) exports of the Llama fixture,
                        q/<fmt>.ours.bin our engine's logits reading that folder
  tokens512.txt, tokens8192.txt  the 80 token ids fed to every model (fixtures at vocabulary 512 use the first)
Logits files are float32 [80, vocab]; ours come from a 48-token prefill then 32 one-token decode steps.

transformers runs each model in float64 on the CPU with eager attention (the reference), whole sequence at once.
The quantized folders are dequantized here from the packing described by AutoGPTQ/GPTQModel (qweight [in/8, out] with
eight 4-bit rows per int32, low bits first; qzeros [groups, out/8] stored minus one in checkpoint_format "gptq"; g_idx)
and by AutoAWQ's GEMM layout (qweight [in, out/8] and qzeros [groups, out/8] with the column order 0,2,4,6,1,3,5,7
inside each int32), then loaded into the plain float architecture. Prints max |Δlogit| / logit range per model and
writes the table to $OUT/xcheck.json.
"""
import json
import os
import sys
import time

import torch
import transformers
from safetensors.torch import load_file

ROOT = sys.argv[1]
torch.set_grad_enabled(False)
results = []


def tokens(vocab):
    with open(os.path.join(ROOT, f"tokens{512 if vocab == 512 else 8192}.txt")) as f:
        return [int(t) for t in f.read().split()]


# transformers 5 validates config types strictly; the fixtures' JSON writes whole-number floats as integers.
FLOAT_FIELDS = ("router_jitter_noise", "attention_dropout", "rope_theta", "rms_norm_eps", "router_aux_loss_coef",
                "embd_pdrop", "resid_pdrop", "initializer_range")


def config_of(folder):
    d = json.load(open(os.path.join(folder, "config.json")))
    d.pop("quantization_config", None)
    for k in FLOAT_FIELDS:
        if isinstance(d.get(k), int):
            d[k] = float(d[k])
    if not isinstance(d.get("pad_token_id"), int) or d["pad_token_id"] >= d["vocab_size"]:
        d["pad_token_id"] = None  # Phi-3's default 32000 does not fit the fixtures' 512-token vocabulary
    model_type = d.pop("model_type")
    return transformers.AutoConfig.for_model(model_type, **d)


def load_float(folder, state=None, dtype=torch.float64):
    """A float checkpoint through from_pretrained (which maps per-expert tensors onto transformers' fused experts), or a
    dequantized state dict loaded into the plain architecture."""
    config = config_of(folder)
    if state is None:
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, config=config, dtype=dtype, attn_implementation="eager")
        return model.eval()
    torch.set_default_dtype(torch.float64)
    try:
        model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    finally:
        torch.set_default_dtype(torch.float32)
    model = model.to(torch.float64)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (m == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise RuntimeError(f"{folder}: missing {missing}, unexpected {unexpected}")
    if config.tie_word_embeddings:
        model.tie_weights()
    return model.eval()


def logits(model, ids):
    out = model(torch.tensor([ids], device=model.device)).logits[0].cpu()
    return out.to(torch.float64)


def compare(name, reference, ours_file, note):
    ours = torch.frombuffer(bytearray(open(ours_file, "rb").read()), dtype=torch.float32).to(torch.float64)
    ours = ours.view(reference.shape)
    rng = (reference.max() - reference.min()).item()
    worst = (reference - ours).abs().max().item()
    same_top = (reference.argmax(-1) == ours.argmax(-1)).double().mean().item()
    results.append({"model": name, "what": note, "max_abs_diff": worst, "logit_range": rng, "relative": worst / rng, "same_top_token": same_top})
    print(f"{name:24s} {note:44s} max|Δ| {worst:.3e}  range {rng:8.3f}  rel {worst / rng:.2e}  top-1 {same_top:.4f}", flush=True)


def unpack_int4(packed):
    """int32 tensor → its eight 4-bit fields along a new last axis (field i = bits 4i..4i+3)."""
    shifts = torch.arange(0, 32, 4, dtype=torch.int32)
    return (packed.unsqueeze(-1) >> shifts) & 0xF


def dequant_gptq(sd, prefix, version):
    qweight, qzeros, scales, g_idx = (sd[prefix + s] for s in ("qweight", "qzeros", "scales", "g_idx"))
    in_features = qweight.shape[0] * 8
    q = unpack_int4(qweight).permute(0, 2, 1).reshape(in_features, -1)  # row 8r+i = field i of row r
    z = unpack_int4(qzeros).reshape(qzeros.shape[0], -1)  # column 8c+i = field i of column c
    if version == "gptq":
        z = z + 1
    g = g_idx.long()
    w = (q.double() - z[g].double()) * scales[g].double()  # [in, out]
    return w.t().contiguous()


AWQ_REVERSE = [0, 4, 1, 5, 2, 6, 3, 7]


def dequant_awq(sd, prefix, group):
    qweight, qzeros, scales = (sd[prefix + s] for s in ("qweight", "qzeros", "scales"))
    q = unpack_int4(qweight)[:, :, AWQ_REVERSE].reshape(qweight.shape[0], -1)
    z = unpack_int4(qzeros)[:, :, AWQ_REVERSE].reshape(qzeros.shape[0], -1)
    g = torch.arange(q.shape[0]) // group
    w = (q.double() - z[g].double()) * scales[g].double()  # [in, out]
    return w.t().contiguous()


def quantized_state(folder):
    sd = load_file(os.path.join(folder, "model.safetensors"))
    config = json.load(open(os.path.join(folder, "config.json")))
    qc = config.get("quantization_config") or json.load(open(os.path.join(folder, "quantize_config.json")))
    state = {}
    for k, v in sd.items():
        if k.endswith(".qweight"):
            p = k[: -len("qweight")]
            if qc["quant_method"] == "awq":
                state[p + "weight"] = dequant_awq(sd, p, qc["group_size"])
            else:
                state[p + "weight"] = dequant_gptq(sd, p, qc.get("checkpoint_format", "gptq"))
        elif k.endswith((".qzeros", ".scales", ".g_idx")):
            continue
        else:
            state[k] = v.to(torch.float64)
    return state


def main():
    print(f"transformers {transformers.__version__}, torch {torch.__version__}", flush=True)
    t0 = time.time()
    for arch in sorted(os.listdir(os.path.join(ROOT, "fx"))):
        folder = os.path.join(ROOT, "fx", arch)
        if not os.path.isdir(folder):
            continue
        try:
            # transformers 5 runs mixture-of-experts layers through grouped matrix products without float64: fp32 there.
            dtype = torch.float32 if arch in ("mixtral", "qwen3_moe") else torch.float64
            model = load_float(folder, dtype=dtype)
            ids = tokens(model.config.vocab_size)
            ref = logits(model, ids)
            compare(arch, ref, folder + ".ours.bin", f"transformers {str(dtype)[6:]} vs our engine")
            rot = os.path.join(ROOT, "rot", arch)
            if os.path.isdir(rot):
                compare(arch, logits(load_float(rot, dtype=dtype), ids), folder + ".ours.bin", "transformers(rotated) vs our engine(original)")
        except Exception as e:  # report and go on: one architecture's failure must not hide the others
            results.append({"model": arch, "error": repr(e)})
            print(f"{arch}: ERROR {e!r}", flush=True)
    for fmt in ("hf-gptq", "hf-awq"):
        folder = os.path.join(ROOT, "q", fmt)
        if not os.path.isdir(folder):
            continue
        try:
            model = load_float(folder, quantized_state(folder))
            compare("llama " + fmt, logits(model, tokens(model.config.vocab_size)), folder + ".ours.bin", "dequantized here, transformers vs our loader")
        except Exception as e:
            results.append({"model": fmt, "error": repr(e)})
            print(f"{fmt}: ERROR {e!r}", flush=True)
    out = os.environ.get("OUT", ".")
    with open(os.path.join(out, "xcheck.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "torch": torch.__version__, "seconds": time.time() - t0, "results": results}, f, indent=1)


main()
