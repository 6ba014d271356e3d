#!/usr/bin/env python3
"""Seeds for svilm_fuzz_safetensors: small valid safetensors files, written by hand (no
safetensors or torch package), covering every dtype, metadata, empty and scalar tensors, JSON
escapes in names and a padded header.

Usage: python3 tests/fuzz/make_safetensors_seeds.py OUTPUT_DIR
"""
import json
import os
import struct
import sys

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4,
         "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}


def safetensors(tensors, metadata=None, header_text=None):
    """tensors: [(name, dtype, shape)], data bytes counting 0, 1, 2, ... in offset order."""
    header, offset = {}, 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        count = 1
        for e in shape:
            count *= e
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + count * SIZES[dtype]]}
        offset += count * SIZES[dtype]
    text = header_text if header_text is not None else json.dumps(header, separators=(",", ":"))
    raw = text.encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(i % 251 for i in range(offset))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "empty": safetensors([]),
        "metadata": safetensors([("w", "F32", [2, 2])], {"format": "pt", "note": "caf\u00e9"}),
        "every_dtype": safetensors([(d.lower(), d, [3]) for d in SIZES]),
        "empty_and_scalar": safetensors([("e", "F32", [0, 4]), ("s", "F64", []), ("b", "BOOL", [2, 1])]),
        "escaped_name": safetensors([], header_text='{"\\u0061\\n":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'),
        "names_out_of_order": safetensors([("z", "I16", [2]), ("a", "U32", [1])]),
    }
    for name, blob in seeds.items():
        with open(os.path.join(out, name + ".safetensors"), "wb") as f:
            f.write(blob)
    print("%d seeds in %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
