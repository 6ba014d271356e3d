#!/usr/bin/env python3
"""scripts/convert_weights.py end to end: small random checkpoints in every layout it takes are
converted and loaded by `svilm init --preset tiny --vit/--bert`, whose report and model file are
checked; checkpoints it must refuse are refused with their reason.

Usage: /usr/bin/python3 tests/scripts/convert_weights_test.py SVILM_PROGRAM WORK_DIR
Exit status 77 (ctest's SKIP_RETURN_CODE) when PyTorch is not installed.
"""
import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "convert_weights.py")

# svilm init --preset tiny (svilm/model/config.hpp): video width 96, 4 blocks, MLP 384, patch 16,
# 64x64 frames (a 4x4 grid); text width 96, 2 layers, MLP 384, bert-base-uncased's vocabulary.
C, VIT_DEPTH, HIDDEN, PATCH, GRID = 96, 4, 384, 16, 4
TEXT_DEPTH, VOCAB, POSITIONS = 2, 30522, 40

failures = []


def check(condition, what):
    print(("ok: " if condition else "FAIL: ") + what)
    if not condition:
        failures.append(what)


def rand(torch, *shape):
    return torch.randn(*shape) * 0.02


def vit_hf(torch, prefix, extra):
    sd = {prefix + "embeddings.cls_token": rand(torch, 1, 1, C),
          prefix + "embeddings.position_embeddings": rand(torch, 1, 1 + GRID * GRID, C),
          prefix + "embeddings.patch_embeddings.projection.weight": rand(torch, C, 3, PATCH, PATCH),
          prefix + "embeddings.patch_embeddings.projection.bias": rand(torch, C),
          prefix + "layernorm.weight": 1 + rand(torch, C), prefix + "layernorm.bias": rand(torch, C)}
    for i in range(VIT_DEPTH):
        layer = prefix + "encoder.layer.%d." % i
        for which in ("query", "key", "value"):
            sd[layer + "attention.attention.%s.weight" % which] = rand(torch, C, C)
            sd[layer + "attention.attention.%s.bias" % which] = rand(torch, C)
        sd[layer + "attention.output.dense.weight"] = rand(torch, C, C)
        sd[layer + "attention.output.dense.bias"] = rand(torch, C)
        sd[layer + "intermediate.dense.weight"] = rand(torch, HIDDEN, C)
        sd[layer + "intermediate.dense.bias"] = rand(torch, HIDDEN)
        sd[layer + "output.dense.weight"] = rand(torch, C, HIDDEN)
        sd[layer + "output.dense.bias"] = rand(torch, C)
        for norm in ("layernorm_before", "layernorm_after"):
            sd[layer + norm + ".weight"] = 1 + rand(torch, C)
            sd[layer + norm + ".bias"] = rand(torch, C)
    sd.update(extra)
    return sd


def vit_timm(torch):
    sd = {"cls_token": rand(torch, 1, 1, C), "pos_embed": rand(torch, 1, 1 + GRID * GRID, C),
          "patch_embed.proj.weight": rand(torch, C, 3, PATCH, PATCH), "patch_embed.proj.bias": rand(torch, C),
          "norm.weight": 1 + rand(torch, C), "norm.bias": rand(torch, C),
          "head.weight": rand(torch, 1000, C), "head.bias": rand(torch, 1000)}
    for i in range(VIT_DEPTH):
        b = "blocks.%d." % i
        sd.update({b + "norm1.weight": 1 + rand(torch, C), b + "norm1.bias": rand(torch, C),
                   b + "norm2.weight": 1 + rand(torch, C), b + "norm2.bias": rand(torch, C),
                   b + "attn.qkv.weight": rand(torch, 3 * C, C), b + "attn.qkv.bias": rand(torch, 3 * C),
                   b + "attn.proj.weight": rand(torch, C, C), b + "attn.proj.bias": rand(torch, C),
                   b + "mlp.fc1.weight": rand(torch, HIDDEN, C), b + "mlp.fc1.bias": rand(torch, HIDDEN),
                   b + "mlp.fc2.weight": rand(torch, C, HIDDEN), b + "mlp.fc2.bias": rand(torch, C)})
    return sd


def bert(torch, prefix, legacy_norms, extra, vocab=VOCAB):
    weight, bias = ("gamma", "beta") if legacy_norms else ("weight", "bias")
    sd = {prefix + "embeddings.word_embeddings.weight": rand(torch, vocab, C),
          prefix + "embeddings.position_embeddings.weight": rand(torch, POSITIONS, C),
          prefix + "embeddings.token_type_embeddings.weight": rand(torch, 2, C),
          prefix + "embeddings.LayerNorm." + weight: 1 + rand(torch, C),
          prefix + "embeddings.LayerNorm." + bias: rand(torch, C),
          prefix + "embeddings.position_ids": torch.arange(POSITIONS).reshape(1, -1)}
    for i in range(TEXT_DEPTH):
        layer = prefix + "encoder.layer.%d." % i
        for which in ("query", "key", "value"):
            sd[layer + "attention.self.%s.weight" % which] = rand(torch, C, C)
            sd[layer + "attention.self.%s.bias" % which] = rand(torch, C)
        sd[layer + "attention.output.dense.weight"] = rand(torch, C, C)
        sd[layer + "attention.output.dense.bias"] = rand(torch, C)
        sd[layer + "intermediate.dense.weight"] = rand(torch, HIDDEN, C)
        sd[layer + "intermediate.dense.bias"] = rand(torch, HIDDEN)
        sd[layer + "output.dense.weight"] = rand(torch, C, HIDDEN)
        sd[layer + "output.dense.bias"] = rand(torch, C)
        for norm in ("attention.output.LayerNorm.", "output.LayerNorm."):
            sd[layer + norm + weight] = 1 + rand(torch, C)
            sd[layer + norm + bias] = rand(torch, C)
    sd[prefix + "pooler.dense.weight"] = rand(torch, C, C)
    sd[prefix + "pooler.dense.bias"] = rand(torch, C)
    sd.update(extra)
    return sd


def mlm_head(torch):
    return {"cls.predictions.bias": rand(torch, VOCAB), "cls.predictions.transform.dense.weight": rand(torch, C, C),
            "cls.predictions.transform.dense.bias": rand(torch, C),
            "cls.predictions.transform.LayerNorm.weight": 1 + rand(torch, C),
            "cls.predictions.transform.LayerNorm.bias": rand(torch, C),
            "cls.predictions.decoder.weight": rand(torch, VOCAB, C)}


def save(torch, cw, obj, path):
    """The checkpoint as a training script or a hub would save it, by the file's extension."""
    if path.endswith(".safetensors"):
        cw.write_atomically(path, cw.safetensors_image(obj, path))
    elif path.endswith(".pt"):
        torch.save(obj, path, _use_new_zipfile_serialization=False)  # PyTorch's legacy pickle format
    else:
        torch.save(obj, path)


def run(cmd):
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print("$ " + " ".join(cmd) + "\n" + result.stdout.rstrip())
    return result.returncode, result.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("svilm")
    parser.add_argument("work")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("SKIPPED: PyTorch is not installed (Debian: apt-get install python3-torch)")
        return 77
    sys.path.insert(0, os.path.dirname(SCRIPT))
    import convert_weights as cw

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    torch.manual_seed(0)
    w = lambda name: os.path.join(args.work, name)  # noqa: E731

    def strip(sd, prefix):
        return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}

    vit_model = vit_hf(torch, "", {"pooler.dense.weight": rand(torch, C, C), "pooler.dense.bias": rand(torch, C)})
    vit_classifier = vit_hf(torch, "vit.", {"classifier.weight": rand(torch, 10, C), "classifier.bias": rand(torch, 10)})
    timm = vit_timm(torch)
    bert_model = bert(torch, "", False, {})
    bert_pretraining = bert(torch, "bert.", True, dict(mlm_head(torch), **{
        "cls.seq_relationship.weight": rand(torch, 2, C), "cls.seq_relationship.bias": rand(torch, 2)}))
    bert_mlm = bert(torch, "bert.", False, mlm_head(torch))
    # (file, what is saved, the flag of svilm init, the naming the script reports, the tensors it drops,
    #  the tensors a BERT-style state dict holds by svilm's names, for checking the model's values)
    cases = [
        ("vit_model.bin", vit_model, "vit", "Hugging Face ViTModel", 3, vit_model),
        ("vit_classifier.safetensors", vit_classifier, "vit", "Hugging Face ViTForImageClassification", 3,
         strip(vit_classifier, "vit.")),
        # as a training script saves it: under "model", names with DistributedDataParallel's prefix
        ("vit_timm.pth", {"model": {"module." + k: v for k, v in timm.items()}, "epoch": 3}, "vit",
         "timm VisionTransformer", 3, timm),
        ("bert_model.bin", bert_model, "bert", "Hugging Face BertModel", 3, bert_model),
        ("bert_pretraining.pt", {"state_dict": bert_pretraining}, "bert", "Hugging Face BertForPreTraining", 11,
         strip(bert_pretraining, "bert.")),
        ("bert_mlm.safetensors", bert_mlm, "bert", "Hugging Face BertForMaskedLM", 9, strip(bert_mlm, "bert.")),
    ]
    for name, obj, flag, naming, dropped, source in cases:
        path, out, model = w(name), w(name.split(".")[0] + ".converted.safetensors"), w(name.split(".")[0] + ".model.safetensors")
        save(torch, cw, obj, path)
        status, output = run([sys.executable, SCRIPT, path, out])
        check(status == 0, "%s converts" % name)
        check("(%s naming)" % naming in output, "%s is recognised as %s" % (name, naming))
        check("dropped %d tensor(s) svilm does not use" % dropped in output, "%s: %d unused tensors dropped" % (name, dropped))
        check("fits svilm init --preset tiny\n" in output and "load it with: svilm init --preset tiny --%s %s" % (flag, out)
              in output, "%s: the script names the preset it fits and the command" % name)
        status, output = run([args.svilm, "init", "--preset", "tiny", "--" + flag, out, "--out", model])
        # every tensor of the converted file fills a parameter: 53 of the video encoder (the patch
        # embedding, the spatial positions, 4 blocks of 12, the final norm), all 37 of the text encoder
        loaded = {"vit": "53 tensors loaded", "bert": "37 tensors loaded, 0 parameters keep their initialisation"}[flag]
        check(status == 0 and "%s: %s" % (out, loaded) in output and "0 file tensors unused" in output,
              "%s: svilm init --%s fills the encoder's parameters from it" % (name, flag))
        if status != 0:
            continue
        # the model file holds the checkpoint's values under svilm's names
        written = cw.read_safetensors(model)
        if flag == "vit":
            timm_naming = "blocks.0.attn.qkv.weight" in source
            qkv = source["blocks.3.attn.qkv.weight"] if timm_naming else torch.cat(
                [source["encoder.layer.3.attention.attention.%s.weight" % x] for x in ("query", "key", "value")])
            norm = source["norm.weight" if timm_naming else "layernorm.weight"]
            patch = source["patch_embed.proj.weight" if timm_naming else "embeddings.patch_embeddings.projection.weight"]
            pos = source["pos_embed" if timm_naming else "embeddings.position_embeddings"]
            same = (torch.equal(written["video.blocks.3.attn.qkv.weight"], qkv)
                    and torch.equal(written["video.norm.weight"], norm)
                    and torch.allclose(written["video.patch_embed.proj.weight"][:, :, 1], patch / 2)
                    and torch.equal(written["video.pos_embed_spatial"].reshape(-1), pos[0, 1:].reshape(-1)))
        else:
            norm = source.get("encoder.layer.1.output.LayerNorm.weight", source.get("encoder.layer.1.output.LayerNorm.gamma"))
            same = (torch.equal(written["text.encoder.layer.1.output.LayerNorm.weight"], norm)
                    and torch.equal(written["text.encoder.layer.0.attention.self.key.weight"],
                                    source["encoder.layer.0.attention.self.key.weight"])
                    and torch.equal(written["text.embeddings.position_embeddings.weight"],
                                    source["embeddings.position_embeddings.weight"][:32]))
        check(same, "%s: the model file holds the checkpoint's weights under svilm's names" % name)

    # refused, each with its reason, and nothing written
    bad_vit = dict(timm)
    bad_vit["blocks.2.mlp.fc1.weight"] = rand(torch, HIDDEN + 1, C)
    distilled = dict(timm, dist_token=rand(torch, 1, 1, C))
    gap = dict(vit_timm(torch))
    del gap["blocks.1.norm1.bias"]
    import argparse as pickled  # an object torch.load(weights_only=True) must not unpickle
    refusals = [
        ("resnet.pth", {"conv1.weight": rand(torch, 64, 3, 7, 7), "fc.weight": rand(torch, 1000, 2048)}, "neither a ViT"),
        ("cased.bin", bert(torch, "", False, {}, vocab=28996), "a vocabulary of 28996 tokens"),
        ("bad_block.pth", bad_vit, "tensor 'blocks.2.mlp.fc1.weight' has shape (385, 96)"),
        ("deit.pth", distilled, "'dist_token': a distilled DeiT"),
        ("gap.pth", gap, "lacks 'blocks.1.norm1.bias'"),
        ("pickled.pth", {"model": timm, "args": pickled.Namespace(lr=1)}, "torch.load(weights_only=True) failed"),
    ]
    for name, obj, reason in refusals:
        path, out = w(name), w(name + ".safetensors")
        save(torch, cw, obj, path)
        status, output = run([sys.executable, SCRIPT, path, out])
        check(status == 1 and "convert_weights: refused: " + path in output and reason in output and not os.path.exists(out),
              "%s is refused: %s" % (name, reason))

    # an existing output is kept unless --overwrite
    existing = w("vit_model.converted.safetensors")
    before = os.path.getmtime(existing)
    status, output = run([sys.executable, SCRIPT, w("vit_model.bin"), existing])
    check(status == 2 and "exists: choose another name, or pass --overwrite" in output and os.path.getmtime(existing) == before,
          "an existing output is not replaced without --overwrite")
    status, output = run([sys.executable, SCRIPT, "--overwrite", w("vit_model.bin"), existing])
    check(status == 0 and "wrote " + existing in output, "--overwrite replaces it")

    # --raw: any state dict, every tensor unchanged
    raw_in = w("raw.pth")
    save(torch, cw, {"model": {"w": torch.arange(6.0).reshape(2, 3), "ids": torch.tensor([1, 2])}}, raw_in)
    status, output = run([sys.executable, SCRIPT, "--raw", raw_in, w("raw.safetensors")])
    raw = cw.read_safetensors(w("raw.safetensors")) if status == 0 else {}
    check(status == 0 and sorted(raw) == ["ids", "w"] and torch.equal(raw["w"], torch.arange(6.0).reshape(2, 3)),
          "--raw converts any state dict unchanged")

    if failures:
        print("%d check(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
