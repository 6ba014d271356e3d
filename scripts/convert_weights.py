#!/usr/bin/env python3
"""Convert an image ViT or a BERT checkpoint to the safetensors file `svilm init --vit/--bert` reads.

Usage:
    /usr/bin/python3 scripts/convert_weights.py [--overwrite] IN OUT.safetensors
    /usr/bin/python3 scripts/convert_weights.py --raw [--overwrite] IN OUT.safetensors

An existing OUT is replaced only with --overwrite. Exit status: 0 written, 1 refused or failed,
2 a usage error.

IN is a PyTorch checkpoint (.bin, .pth, .pt) or a safetensors file of one of:
  - a ViT in Hugging Face naming: ViTModel, or ViTForImageClassification (keys under "vit.");
  - a ViT in timm naming: VisionTransformer (vit_base_patch16_224 and its relatives);
  - a BERT in Hugging Face naming: BertModel, or BertForPreTraining / BertForMaskedLM (keys
    under "bert."), TensorFlow-era LayerNorm names (gamma / beta) included.
A checkpoint saved by a training script works too: the state_dict may sit under "state_dict",
"model" or "module", and its names may start with "module." (DistributedDataParallel).

The script finds which model and naming it is, checks that the tensors form one consistent
network (each block's shapes follow from the width, the MLP width and the patch size; the
blocks are numbered 0..L-1; BERT's vocabulary is bert-base-uncased's 30522 tokens, which svilm
tokenizes with), prints what it found, and writes:
  - ViT: Hugging Face names without the "vit." prefix (ViTModel's) or timm names, as found,
    without the class token, the classification head, the pooler and the mask token;
  - BERT: BertModel names (no "bert." prefix, LayerNorm weight / bias), without the pooler,
    the pre-training heads ("cls.") and the position_ids buffer.
svilm maps these names to its own (svilm/io/pretrained.hpp, docs/weights.md). Other widths and
depths than ViT-B/16's and BERT-base's are converted too (svilm init loads them into a preset of
the same sizes); anything else is refused with the reason. Floating tensors keep their dtype.

--raw converts any state_dict unchanged (every tensor, any name or dtype), for other uses of
safetensors, such as PyTorch reference models' outputs.

Needs PyTorch (Debian: python3-torch, run with /usr/bin/python3). PyTorch checkpoints are loaded
with ``torch.load(..., weights_only=True)``, which unpickles tensors and plain containers only,
never arbitrary objects, so a checkpoint from an unknown source cannot run code here.

What is written, without the ``safetensors`` package: an 8-byte little-endian header length,
the header (compact UTF-8 JSON: each name's dtype, shape and data offsets, and
``"__metadata__": {"format": "pt"}`` as Hugging Face writes it), padded with spaces to a
multiple of 8 bytes, then every tensor's bytes, contiguous, in C order. As in the reference
writer, tensors are laid out by decreasing element size and then by name, so each one starts at
a multiple of its element size. Tensors that share storage (tied weights) are written once per
name. The output appears atomically (a temporary file renamed into place).
"""
import importlib.util
import json
import math
import os
import re
import struct
import sys

HEADER_LIMIT = 100_000_000  # what readers accept (Hugging Face's reference reader)
BERT_UNCASED_VOCABULARY = 30522  # data/vocab/bert-base-uncased-vocab.txt, svilm's tokenizer


class Refused(Exception):
    """The input is not something this script converts; the message says why."""


def dtype_names(torch):
    names = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
             torch.uint8: "U8", torch.bool: "BOOL"}
    # Newer PyTorch releases only (float8 since 2.1, wide unsigned integers since 2.3).
    for attr, name in (("float8_e4m3fn", "F8_E4M3"), ("float8_e5m2", "F8_E5M2"), ("uint16", "U16"),
                       ("uint32", "U32"), ("uint64", "U64")):
        if hasattr(torch, attr):
            names[getattr(torch, attr)] = name
    return names


# ---------------------------------------------------------------------------------------------
# Reading

def read_safetensors(path):
    """A safetensors file's tensors, by name (the header checked as far as this script needs)."""
    import torch
    by_name = {v: k for k, v in dtype_names(torch).items()}
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise Refused("%s: %d bytes, too short for a safetensors file" % (path, len(data)))
    (length,) = struct.unpack("<Q", data[:8])
    if length > HEADER_LIMIT or 8 + length > len(data):
        raise Refused("%s: a header of %d bytes does not fit the file's %d: not a safetensors file" % (path, length, len(data)))
    try:
        header = json.loads(data[8:8 + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Refused("%s: the safetensors header is not JSON: %s" % (path, e))
    body = memoryview(data)[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = by_name.get(entry.get("dtype"))
        if dtype is None:
            raise Refused("%s: tensor '%s' has dtype %s, which this PyTorch cannot hold" % (path, name, entry.get("dtype")))
        begin, end = entry["data_offsets"]
        shape = entry["shape"]
        if not 0 <= begin <= end <= len(body):
            raise Refused("%s: tensor '%s' lies outside the file" % (path, name))
        raw = bytes(body[begin:end])
        count = math.prod(shape)
        flat = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        if flat.numel() != count:
            raise Refused("%s: tensor '%s' holds %d elements, its shape %s says %d" % (path, name, flat.numel(), shape, count))
        tensors[name] = flat.reshape(shape)
    return tensors


def state_dict_of(checkpoint, path):
    """The mapping of names to tensors inside a loaded checkpoint (nested under "state_dict",
    "model" or "module" by training scripts, next to optimizer states and counters)."""
    import torch
    while isinstance(checkpoint, dict) and not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        nested = [k for k in ("state_dict", "model", "module") if isinstance(checkpoint.get(k), dict)]
        if not nested:
            bad = [k for k, v in checkpoint.items() if not isinstance(v, torch.Tensor)]
            raise Refused("%s: entries %s are not tensors, and there is no 'state_dict', 'model' or 'module' mapping "
                          "to convert instead" % (path, ", ".join(repr(k) for k in bad[:5])))
        checkpoint = checkpoint[nested[0]]
    if not isinstance(checkpoint, dict):
        raise Refused("%s: holds a %s, not a state_dict" % (path, type(checkpoint).__name__))
    for name in checkpoint:
        if not isinstance(name, str) or name == "__metadata__":
            raise Refused("%s: %r cannot name a safetensors tensor" % (path, name))
    return checkpoint


def load(path):
    """The state_dict in a checkpoint file, by its content (safetensors or PyTorch)."""
    import torch
    if not os.path.isfile(path):
        raise Refused("%s: no such file" % path)
    with open(path, "rb") as f:
        start = f.read(9)
    # safetensors: a little-endian length then '{'; PyTorch: a zip archive or a pickle
    if len(start) == 9 and start[8:9] == b"{":
        return read_safetensors(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds: unpickling, zip, I/O
        raise Refused("%s: torch.load(weights_only=True) failed (it loads tensors and plain containers only; "
                      "PyTorch 1.13 also refuses floats outside tensors): %s" % (path, e))
    return state_dict_of(checkpoint, path)


def strip_module_prefix(state_dict):
    """Names without DistributedDataParallel's "module." prefix, when every name has it."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return state_dict


# ---------------------------------------------------------------------------------------------
# Recognising and checking the models

def shape_of(state_dict, key, path):
    if key not in state_dict:
        raise Refused("%s: lacks '%s'" % (path, key))
    return tuple(state_dict[key].shape)


def text_of(shape):
    return "(" + ", ".join(str(n) for n in shape) + ")"


class Checker:
    """Collects the expected shapes of a model's tensors and refuses the first that differs."""

    def __init__(self, state_dict, path, what):
        self.sd, self.path, self.what = state_dict, path, what
        self.expected = {}

    def expect(self, key, shape):
        if key not in self.sd:
            raise Refused("%s: a %s lacks '%s'" % (self.path, self.what, key))
        got = shape_of(self.sd, key, self.path)
        if got != tuple(shape):
            raise Refused("%s: tensor '%s' has shape %s, a %s of these sizes has %s"
                          % (self.path, key, text_of(got), self.what, text_of(shape)))
        if not self.sd[key].is_floating_point():
            raise Refused("%s: tensor '%s' has dtype %s, weights need a floating dtype" % (self.path, key, self.sd[key].dtype))
        self.expected[key] = True


def layer_count(state_dict, pattern, path, what):
    """The number of numbered layers (keys matching `pattern`'s group 1), checked to be 0..L-1."""
    found = sorted({int(m.group(1)) for k in state_dict for m in [re.match(pattern, k)] if m})
    if not found:
        raise Refused("%s: a %s without layers" % (path, what))
    if found != list(range(len(found))):
        raise Refused("%s: the %s's layers are numbered %s, not 0..%d" % (path, what, found, len(found) - 1))
    return len(found)


def refuse_unknown(state_dict, known, path, what):
    unknown = sorted(k for k in state_dict if k not in known)
    if unknown:
        shown = ", ".join(unknown[:6]) + (", ..." if len(unknown) > 6 else "")
        raise Refused("%s: %d tensor(s) a %s does not have: %s (another architecture, or a variant svilm cannot load)"
                      % (path, len(unknown), what, shown))


def vit_hf(sd, path):
    """Hugging Face ViTModel / ViTForImageClassification."""
    prefix = "vit." if "vit.embeddings.patch_embeddings.projection.weight" in sd else ""
    what = "Hugging Face ViT"
    patch = shape_of(sd, prefix + "embeddings.patch_embeddings.projection.weight", path)
    if len(patch) != 4 or patch[1] != 3 or patch[2] != patch[3]:
        raise Refused("%s: the patch embedding has shape %s, not (width, 3, p, p)" % (path, text_of(patch)))
    C, p = patch[0], patch[2]
    depth = layer_count(sd, re.escape(prefix) + r"encoder\.layer\.(\d+)\.", path, what)
    hidden = shape_of(sd, prefix + "encoder.layer.0.intermediate.dense.weight", path)[0] if \
        prefix + "encoder.layer.0.intermediate.dense.weight" in sd else 0
    c = Checker(sd, path, what)
    c.expect(prefix + "embeddings.patch_embeddings.projection.weight", (C, 3, p, p))
    c.expect(prefix + "embeddings.patch_embeddings.projection.bias", (C,))
    positions = shape_of(sd, prefix + "embeddings.position_embeddings", path)
    c.expect(prefix + "embeddings.position_embeddings", (1, positions[1] if len(positions) == 3 else -1, C))
    c.expect(prefix + "embeddings.cls_token", (1, 1, C))
    for i in range(depth):
        layer = prefix + "encoder.layer.%d." % i
        for which in ("query", "key", "value"):
            c.expect(layer + "attention.attention.%s.weight" % which, (C, C))
            c.expect(layer + "attention.attention.%s.bias" % which, (C,))
        c.expect(layer + "attention.output.dense.weight", (C, C))
        c.expect(layer + "attention.output.dense.bias", (C,))
        c.expect(layer + "intermediate.dense.weight", (hidden, C))
        c.expect(layer + "intermediate.dense.bias", (hidden,))
        c.expect(layer + "output.dense.weight", (C, hidden))
        c.expect(layer + "output.dense.bias", (C,))
        for norm in ("layernorm_before", "layernorm_after"):
            c.expect(layer + norm + ".weight", (C,))
            c.expect(layer + norm + ".bias", (C,))
    c.expect(prefix + "layernorm.weight", (C,))
    c.expect(prefix + "layernorm.bias", (C,))
    # unused by svilm: the class token (S-ViLM has none), the heads, the masked-image token
    dropped = [k for k in sd if k == prefix + "embeddings.cls_token" or k.startswith("classifier.")
               or k.startswith(prefix + "pooler.") or k == prefix + "embeddings.mask_token"]
    refuse_unknown(sd, set(c.expected) | set(dropped), path, what)
    kept = {k[len(prefix):]: v for k, v in sd.items() if k not in dropped}
    naming = "ViTForImageClassification" if prefix or any(k.startswith("classifier.") for k in sd) else "ViTModel"
    preset, lines = vit_summary("Hugging Face " + naming, C, depth, p, hidden, positions[1] - 1)
    return kept, dropped, lines, preset


def vit_timm(sd, path):
    """timm VisionTransformer (vit_base_patch16_224 and relatives with a class token)."""
    what = "timm VisionTransformer"
    for key, why in (("dist_token", "a distilled DeiT (its distillation token adds a position row svilm has no place for)"),
                     ("reg_token", "a ViT with register tokens (their rows in the position table have no place in svilm)")):
        if key in sd:
            raise Refused("%s: '%s': %s" % (path, key, why))
    if "cls_token" not in sd:
        raise Refused("%s: no 'cls_token': a timm ViT without a class token (its position table has no class row, "
                      "svilm's loader expects one)" % path)
    patch = shape_of(sd, "patch_embed.proj.weight", path)
    if len(patch) != 4 or patch[1] != 3 or patch[2] != patch[3]:
        raise Refused("%s: the patch embedding has shape %s, not (width, 3, p, p)" % (path, text_of(patch)))
    C, p = patch[0], patch[2]
    depth = layer_count(sd, r"blocks\.(\d+)\.", path, what)
    hidden = shape_of(sd, "blocks.0.mlp.fc1.weight", path)[0] if "blocks.0.mlp.fc1.weight" in sd else 0
    c = Checker(sd, path, what)
    c.expect("patch_embed.proj.weight", (C, 3, p, p))
    c.expect("patch_embed.proj.bias", (C,))
    c.expect("cls_token", (1, 1, C))
    positions = shape_of(sd, "pos_embed", path)
    c.expect("pos_embed", (1, positions[1] if len(positions) == 3 else -1, C))
    for i in range(depth):
        block = "blocks.%d." % i
        for norm in ("norm1", "norm2"):
            c.expect(block + norm + ".weight", (C,))
            c.expect(block + norm + ".bias", (C,))
        c.expect(block + "attn.qkv.weight", (3 * C, C))
        c.expect(block + "attn.qkv.bias", (3 * C,))
        c.expect(block + "attn.proj.weight", (C, C))
        c.expect(block + "attn.proj.bias", (C,))
        c.expect(block + "mlp.fc1.weight", (hidden, C))
        c.expect(block + "mlp.fc1.bias", (hidden,))
        c.expect(block + "mlp.fc2.weight", (C, hidden))
        c.expect(block + "mlp.fc2.bias", (C,))
    notes = []
    if "norm.weight" in sd:
        c.expect("norm.weight", (C,))
        c.expect("norm.bias", (C,))
    else:
        # global-average-pooled timm models normalise after pooling (fc_norm) instead
        notes.append("no final 'norm' (a pooled model's fc_norm is not the same LayerNorm): svilm's video.norm keeps "
                     "its initialisation")
    dropped = [k for k in sd if k == "cls_token" or k.startswith("head.") or k.startswith("fc_norm.")
               or k.startswith("pre_logits.")]
    refuse_unknown(sd, set(c.expected) | set(dropped), path, what)
    kept = {k: v for k, v in sd.items() if k not in dropped}
    preset, lines = vit_summary("timm VisionTransformer", C, depth, p, hidden, positions[1] - 1)
    return kept, dropped, lines + notes, preset


# The sizes of svilm's presets (svilm/model/config.hpp) that a checkpoint must match to load:
# video (width, MLP, patch, image size, layers), text (width, MLP, layers).
PRESETS = {"tiny": ((96, 384, 16, 64, 4), (96, 384, 2)),
           "small": ((384, 1536, 16, 224, 12), (384, 1536, 6)),
           "base": ((768, 3072, 16, 224, 12), (768, 3072, 12))}


def preset_note(sizes, depth, side):
    """Which `svilm init --preset` the sizes fit: (preset or None, a line saying so)."""
    for name, both in PRESETS.items():
        want = both[side]
        if tuple(sizes) == want[:-1]:
            if depth == want[-1]:
                return name, "fits svilm init --preset %s" % name
            return name, ("fits svilm init --preset %s but for depth: the checkpoint's %d layers, the preset's %d "
                          "(svilm init fills %s and reports the rest)"
                          % (name, depth, want[-1], "the first %d" % want[-1] if depth > want[-1] else "those it has"))
    return None, ("fits no svilm preset (%s): only a model of exactly these sizes loads it"
                  % ", ".join("%s width %d" % (n, both[side][0]) for n, both in PRESETS.items()))


def vit_summary(naming, C, depth, p, hidden, spatial):
    grid = math.isqrt(spatial)
    if grid * grid != spatial:
        raise Refused("the position table holds %d patch positions, not a square grid" % spatial)
    preset, note = preset_note((C, hidden, p, grid * p), depth, 0)
    return preset, ["ViT (%s naming): width %d, %d layers, patch %d, MLP %d, %d positions (%dx%d grid: %dx%d images)"
                    % (naming, C, depth, p, hidden, spatial, grid, grid, grid * p, grid * p), note]


def bert(sd, path):
    """Hugging Face BertModel / BertForPreTraining / BertForMaskedLM."""
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in sd else ""
    what = "BERT"
    # TensorFlow-era LayerNorm names become PyTorch's
    renamed = {}
    for k, v in sd.items():
        if "LayerNorm" in k and k.endswith(".gamma"):
            k = k[:-len("gamma")] + "weight"
        elif "LayerNorm" in k and k.endswith(".beta"):
            k = k[:-len("beta")] + "bias"
        renamed[k] = v
    sd = renamed
    words = shape_of(sd, prefix + "embeddings.word_embeddings.weight", path)
    if len(words) != 2:
        raise Refused("%s: the word embeddings have shape %s, not (vocabulary, width)" % (path, text_of(words)))
    vocab, C = words
    if vocab != BERT_UNCASED_VOCABULARY:
        raise Refused("%s: a vocabulary of %d tokens: svilm tokenizes with bert-base-uncased's %d "
                      "(data/vocab/bert-base-uncased-vocab.txt), so a cased or multilingual BERT does not fit"
                      % (path, vocab, BERT_UNCASED_VOCABULARY))
    depth = layer_count(sd, re.escape(prefix) + r"encoder\.layer\.(\d+)\.", path, what)
    first = prefix + "encoder.layer.0.intermediate.dense.weight"
    hidden = shape_of(sd, first, path)[0] if first in sd else 0
    positions = shape_of(sd, prefix + "embeddings.position_embeddings.weight", path)
    c = Checker(sd, path, what)
    c.expect(prefix + "embeddings.word_embeddings.weight", (vocab, C))
    c.expect(prefix + "embeddings.position_embeddings.weight", (positions[0], C))
    c.expect(prefix + "embeddings.token_type_embeddings.weight", (2, C))
    c.expect(prefix + "embeddings.LayerNorm.weight", (C,))
    c.expect(prefix + "embeddings.LayerNorm.bias", (C,))
    for i in range(depth):
        layer = prefix + "encoder.layer.%d." % i
        for which in ("query", "key", "value"):
            c.expect(layer + "attention.self.%s.weight" % which, (C, C))
            c.expect(layer + "attention.self.%s.bias" % which, (C,))
        c.expect(layer + "attention.output.dense.weight", (C, C))
        c.expect(layer + "attention.output.dense.bias", (C,))
        c.expect(layer + "attention.output.LayerNorm.weight", (C,))
        c.expect(layer + "attention.output.LayerNorm.bias", (C,))
        c.expect(layer + "intermediate.dense.weight", (hidden, C))
        c.expect(layer + "intermediate.dense.bias", (hidden,))
        c.expect(layer + "output.dense.weight", (C, hidden))
        c.expect(layer + "output.dense.bias", (C,))
        c.expect(layer + "output.LayerNorm.weight", (C,))
        c.expect(layer + "output.LayerNorm.bias", (C,))
    # unused by svilm: the pooler, the pre-training heads, the position ids buffer
    dropped = [k for k in sd if k.startswith(prefix + "pooler.") or k.startswith("cls.")
               or k == prefix + "embeddings.position_ids"]
    refuse_unknown(sd, set(c.expected) | set(dropped), path, what)
    kept = {k[len(prefix):]: v for k, v in sd.items() if k not in dropped}
    if prefix:
        naming = "BertForPreTraining" if any(k.startswith("cls.seq_relationship.") for k in sd) else \
            "BertForMaskedLM" if any(k.startswith("cls.") for k in sd) else "a BERT with a 'bert.' prefix"
    else:
        naming = "BertModel"
    preset, note = preset_note((C, hidden), depth, 1)
    if positions[0] < 32:
        raise Refused("%s: %d positions: svilm's text encoder reads 32 tokens" % (path, positions[0]))
    lines = ["BERT (Hugging Face %s naming): width %d, %d layers, MLP %d, %d positions, vocabulary %d"
             % (naming, C, depth, hidden, positions[0], vocab), note]
    return kept, dropped, lines, preset


def recognise(sd, path):
    """(kept tensors, dropped names, lines describing the model, the preset it fits or None, 'vit' or 'bert')."""
    if "vit.embeddings.patch_embeddings.projection.weight" in sd or "embeddings.patch_embeddings.projection.weight" in sd:
        return vit_hf(sd, path) + ("vit",)
    if "patch_embed.proj.weight" in sd:
        return vit_timm(sd, path) + ("vit",)
    if "bert.embeddings.word_embeddings.weight" in sd or "embeddings.word_embeddings.weight" in sd:
        return bert(sd, path) + ("bert",)
    shown = ", ".join(sorted(sd)[:5]) + (", ..." if len(sd) > 5 else "")
    raise Refused("%s: neither a ViT (Hugging Face 'embeddings.patch_embeddings.projection.weight', timm "
                  "'patch_embed.proj.weight') nor a BERT ('embeddings.word_embeddings.weight'); its tensors: %s"
                  % (path, shown or "none"))


# ---------------------------------------------------------------------------------------------
# Writing

def tensor_bytes(tensor):
    """The tensor's elements as little-endian bytes in C order."""
    import torch
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes()


def safetensors_image(state_dict, path):
    import torch
    names = dtype_names(torch)
    entries = []
    for name, tensor in state_dict.items():
        if tensor.dtype not in names:
            raise Refused("%s: tensor '%s' has dtype %s, which safetensors has no name for" % (path, name, tensor.dtype))
        entries.append((name, tensor))
    entries.sort(key=lambda e: (-e[1].element_size(), e[0]))
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, tensor in entries:
        blob = tensor_bytes(tensor)
        header[name] = {"dtype": names[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    if len(text) > HEADER_LIMIT:
        raise Refused("%s: the header would take %d bytes, more than the %d readers accept" % (path, len(text), HEADER_LIMIT))
    return [struct.pack("<Q", len(text)), text] + blobs


def write_atomically(target, parts):
    temp = "%s.tmp%d" % (target, os.getpid())
    try:
        with open(temp, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def main(argv):
    args = argv[1:]
    raw, overwrite = "--raw" in args, "--overwrite" in args
    args = [a for a in args if a not in ("--raw", "--overwrite")]
    if len(args) != 2 or any(a.startswith("-") for a in args):
        print(__doc__, file=sys.stderr)
        return 2
    source, target = args
    if sys.byteorder != "little":
        print("convert_weights: safetensors data is little-endian; this host is not", file=sys.stderr)
        return 1
    if importlib.util.find_spec("torch") is None:
        print("convert_weights: PyTorch is needed (Debian: apt-get install python3-torch, then run /usr/bin/python3)",
              file=sys.stderr)
        return 1
    if os.path.abspath(source) == os.path.abspath(target):
        print("convert_weights: %s: the output would replace the input" % target, file=sys.stderr)
        return 2
    if os.path.exists(target) and not overwrite:
        print("convert_weights: %s exists: choose another name, or pass --overwrite" % target, file=sys.stderr)
        return 2
    try:
        sd = load(source)
        if raw:
            kept = sd
            print("%s: %d tensors, converted unchanged (--raw)" % (source, len(sd)))
        else:
            sd = strip_module_prefix(sd)
            kept, dropped, lines, preset, kind = recognise(sd, source)
            print("%s: %s" % (source, lines[0]))
            for line in lines[1:]:
                print("  %s" % line)
            if dropped:
                print("  dropped %d tensor(s) svilm does not use: %s" % (len(dropped), ", ".join(sorted(dropped))))
        parts = safetensors_image(kept, source)
    except Refused as e:
        print("convert_weights: refused: %s" % e, file=sys.stderr)
        return 1
    try:
        write_atomically(target, parts)
    except OSError as e:
        print("convert_weights: cannot write %s: %s" % (target, e), file=sys.stderr)
        return 1
    print("wrote %s: %d tensors, %d bytes" % (target, len(kept), sum(len(p) for p in parts)))
    if not raw:
        print("load it with: svilm init --preset %s --%s %s --out MODEL.safetensors" % (preset or "PRESET", kind, target))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
