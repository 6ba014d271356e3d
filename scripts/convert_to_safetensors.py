#!/usr/bin/env python3
"""Convert a PyTorch checkpoint (.pth, .pt, .bin) to safetensors, which svilm reads.

Usage:
    python3 scripts/convert_to_safetensors.py IN.pth OUT.safetensors

Needs PyTorch (Debian: python3-torch, run with /usr/bin/python3). The checkpoint is loaded
with ``torch.load(..., weights_only=True)``, which unpickles tensors and plain containers only,
never arbitrary objects, so a checkpoint from an unknown source cannot run code here.

What is converted: a state_dict (a mapping of names to tensors), or one nested under
"state_dict" or "model" (as training scripts save it, next to optimizer states and counters,
which are left out). Every value of that mapping must be a tensor.

What is written, without the ``safetensors`` package: an 8-byte little-endian header length,
the header (compact UTF-8 JSON: each name's dtype, shape and data offsets, and
``"__metadata__": {"format": "pt"}`` as Hugging Face writes it), padded with spaces to a
multiple of 8 bytes, then every tensor's bytes, contiguous, in C order. As in the reference
writer, tensors are laid out by decreasing element size and then by name, so each one starts at
a multiple of its element size. Tensors that share storage (tied weights) are written once per
name. The output appears atomically (a temporary file renamed into place).
"""
import json
import os
import struct
import sys

HEADER_LIMIT = 100_000_000  # what readers accept (Hugging Face's reference reader)


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


def state_dict_of(checkpoint, path):
    """The mapping of names to tensors inside a loaded checkpoint."""
    import torch
    while isinstance(checkpoint, dict) and not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        nested = [k for k in ("state_dict", "model") if isinstance(checkpoint.get(k), dict)]
        if not nested:
            bad = [k for k, v in checkpoint.items() if not isinstance(v, torch.Tensor)]
            raise SystemExit("%s: entries %s are not tensors, and there is no 'state_dict' or 'model' mapping to "
                             "convert instead" % (path, ", ".join(repr(k) for k in bad[:5])))
        checkpoint = checkpoint[nested[0]]
    if not isinstance(checkpoint, dict):
        raise SystemExit("%s: holds a %s, not a state_dict" % (path, type(checkpoint).__name__))
    return checkpoint


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
        if not isinstance(name, str) or name == "__metadata__":
            raise SystemExit("%s: %r cannot name a safetensors tensor" % (path, name))
        if tensor.dtype not in names:
            raise SystemExit("%s: tensor '%s' has dtype %s, which safetensors has no name for" % (path, name, tensor.dtype))
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
        raise SystemExit("%s: the header would take %d bytes, more than the %d readers accept"
                         % (path, len(text), HEADER_LIMIT))
    return [struct.pack("<Q", len(text)), text] + blobs, len(entries)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    source, target = sys.argv[1], sys.argv[2]
    if sys.byteorder != "little":
        raise SystemExit("safetensors data is little-endian; this host is not")
    try:
        import torch
    except ImportError:
        raise SystemExit("PyTorch is needed (Debian: apt-get install python3-torch, then run /usr/bin/python3)")
    try:
        checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds: unpickling, zip, I/O
        raise SystemExit("%s: torch.load(weights_only=True) failed (it loads tensors and plain containers only; "
                         "PyTorch 1.13 also refuses floats outside tensors): %s" % (source, e))
    parts, count = safetensors_image(state_dict_of(checkpoint, source), source)
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
    print("%s: %d tensors, %d bytes" % (target, count, sum(len(p) for p in parts)))


if __name__ == "__main__":
    main()
