#!/usr/bin/python3
"""PyTorch reference fixtures for svilm's op tests.

Implements the contract in tests/reference/FIXTURES.md: for every case it draws the
inputs and a random upstream gradient `dy`, computes the forward output with plain
float32 torch ops and the gradients with autograd (`y.backward(dy)`), and writes
everything to one safetensors file, `tests/data/op_fixtures.safetensors`.

The safetensors format is written by hand (no `safetensors` package): an 8-byte
little-endian header length N, N bytes of JSON header (sorted keys, no spaces,
space-padded to a multiple of 8), then the tensor bytes in sorted key order.

Run (from anywhere) with Debian's python3 and python3-torch:

    /usr/bin/python3 tests/reference/make_op_fixtures.py [--out PATH]
    /usr/bin/python3 tests/reference/make_op_fixtures.py --verify PATH

The output is deterministic: fixed seed, one thread, deterministic algorithms.
Running the script twice gives byte-identical files.

Draw order on the generator (the contract leaves it open): cases in the order of the
FIXTURES.md table, and within a case the inputs in the order the table lists them,
`dy` last.
"""

import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

SEED = 20240101
GEN = None  # torch.Generator, created in main()


def randn(*shape):
    return torch.randn(*shape, generator=GEN, dtype=torch.float32)


def rand(*shape):
    return torch.rand(*shape, generator=GEN, dtype=torch.float32)


def leaf(t):
    return t.clone().requires_grad_(True)


# --------------------------------------------------------------------------- cases
# Each returns {tensor_name: tensor}; the case name is prefixed by the caller.

def case_matmul():
    a, b, dy = randn(7, 9), randn(9, 11), randn(7, 11)
    ta, tb = leaf(a), leaf(b)
    y = ta @ tb
    y.backward(dy)
    return dict(a=a, b=b, dy=dy, y=y, da=ta.grad, db=tb.grad)


def case_linear():
    x, w, bias, dy = randn(2, 5, 16), randn(24, 16), randn(24), randn(2, 5, 24)
    tx, tw, tb = leaf(x), leaf(w), leaf(bias)
    y = tx @ tw.T + tb
    y.backward(dy)
    return dict(x=x, weight=w, bias=bias, dy=dy, y=y,
                dx=tx.grad, dweight=tw.grad, dbias=tb.grad)


def case_layer_norm():
    x = 3.0 * randn(6, 32) + 1.5
    w, bias, dy = randn(32), randn(32), randn(6, 32)
    tx, tw, tb = leaf(x), leaf(w), leaf(bias)
    y = F.layer_norm(tx, (32,), tw, tb, eps=1e-6)
    y.backward(dy)
    return dict(x=x, weight=w, bias=bias, dy=dy, y=y,
                dx=tx.grad, dweight=tw.grad, dbias=tb.grad)


def case_gelu():
    x, dy = 3.0 * randn(4, 50), randn(4, 50)
    tx = leaf(x)
    y = F.gelu(tx, approximate="none")
    y.backward(dy)
    return dict(x=x, dy=dy, y=y, dx=tx.grad)


def case_softmax():
    x = randn(3, 4, 10)
    mask = torch.zeros(3, 10)
    mask[1, 7:10] = -math.inf
    mask[2, [0, 5]] = -math.inf
    dy = randn(3, 4, 10)
    tx = leaf(x)
    y = torch.softmax(tx + mask[:, None, :], dim=-1)
    y.backward(dy)
    return dict(x=x, mask=mask, dy=dy, y=y, dx=tx.grad)


def attention(q, k, v, key_mask, heads):
    """Explicit multi-head attention core on (B, N, H*d) tensors."""
    B, Nq, C = q.shape
    Nk, d = k.shape[1], C // heads
    qh = q.reshape(B, Nq, heads, d).transpose(1, 2)  # (B, H, Nq, d)
    kh = k.reshape(B, Nk, heads, d).transpose(1, 2)
    vh = v.reshape(B, Nk, heads, d).transpose(1, 2)
    s = (qh @ kh.transpose(-2, -1)) / math.sqrt(d)  # (B, H, Nq, Nk)
    s = s.masked_fill(key_mask[:, None, None, :] == 0, -math.inf)
    p = torch.softmax(s, dim=-1)
    o = p @ vh  # (B, H, Nq, d)
    return o.transpose(1, 2).reshape(B, Nq, C)


def case_attention():
    q, k, v = randn(2, 7, 24), randn(2, 9, 24), randn(2, 9, 24)
    key_mask = torch.ones(2, 9)
    key_mask[1, 6:9] = 0.0
    dy = randn(2, 7, 24)
    tq, tk, tv = leaf(q), leaf(k), leaf(v)
    y = attention(tq, tk, tv, key_mask, heads=3)
    y.backward(dy)
    return dict(q=q, k=k, v=v, key_mask=key_mask, dy=dy, y=y,
                dq=tq.grad, dk=tk.grad, dv=tv.grad)


def case_embedding():
    w = randn(20, 8)
    ids = torch.randint(0, 20, (3, 5), generator=GEN, dtype=torch.int64)
    ids[2, 4] = ids[0, 0]  # guarantee repeated ids (gradient accumulation)
    ids[1, 2] = ids[0, 0]
    ids[2, 0] = ids[1, 4]
    dy = randn(3, 5, 8)
    tw = leaf(w)
    y = F.embedding(ids, tw)
    y.backward(dy)
    return dict(weight=w, ids=ids, dy=dy, y=y, dweight=tw.grad)


def case_mean_pool():
    x, dy = randn(2, 6, 5, 4), randn(2, 6, 4)
    tx = leaf(x)
    y = tx.mean(dim=2)
    y.backward(dy)
    return dict(x=x, dy=dy, y=y, dx=tx.grad)


def case_l2_normalize():
    x = randn(5, 16)
    x[3] *= 1e-3
    dy = randn(5, 16)
    tx = leaf(x)
    y = F.normalize(tx, dim=-1, eps=1e-12)
    y.backward(dy)
    return dict(x=x, dy=dy, y=y, dx=tx.grad)


def case_cross_entropy():
    logits = randn(6, 10)
    targets = torch.randint(0, 10, (6,), generator=GEN, dtype=torch.int64)
    dy = randn(())
    tl = leaf(logits)
    loss = F.cross_entropy(tl, targets)
    loss.backward(dy)
    return dict(logits=logits, targets=targets, dy=dy, loss=loss, dlogits=tl.grad)


def case_gumbel_assign():
    logits = randn(2, 4, 10)
    u = rand(2, 4, 10).clamp(1e-10, 1.0 - 1e-7)  # keep U strictly inside (0, 1)
    noise = -torch.log(-torch.log(u))
    dy = randn(2, 4, 10)
    tl = leaf(logits)
    tau = 1.0
    y_soft = torch.softmax((tl + noise) / tau, dim=1)  # over the group axis M
    index = y_soft.argmax(dim=1, keepdim=True)
    y_hard = torch.zeros_like(y_soft).scatter_(1, index, 1.0)
    y = y_hard - y_soft.detach() + y_soft  # straight-through
    y.backward(dy)
    soft_map = torch.softmax(logits, dim=1)
    # The contract stores y_hard as the value of y (exact one-hot, not y's rounding).
    return dict(logits=logits, noise=noise, dy=dy, y_hard=y_hard, y_soft=y_soft,
                soft_map=soft_map, dlogits=tl.grad)


def case_assign_normalize():
    y, dy = rand(2, 4, 10) + 0.1, randn(2, 4, 10)
    ty = leaf(y)
    a = ty / (ty.sum(dim=-1, keepdim=True) + 1.0)
    a.backward(dy)
    return dict(y=y, dy=dy, a=a, dy_in=ty.grad)


def case_residual_add():
    a, b, dy = randn(3, 7), randn(3, 7), randn(3, 7)
    ta, tb = leaf(a), leaf(b)
    y = ta + tb
    y.backward(dy)
    return dict(a=a, b=b, dy=dy, y=y, da=ta.grad, db=tb.grad)


def case_column_affine():
    x, shift, scale, dy = randn(5, 6), randn(6), randn(6), randn(5, 6)
    tx = leaf(x)
    y = (tx + shift) * scale
    y.backward(dy)
    return dict(x=x, shift=shift, scale=scale, dy=dy, y=y, dx=tx.grad)


# Gumbel noise at a temperature other than 1 (docs/model.md §2.1 step 4 and §11 "Randomness":
# y_soft = softmax over the group axis of (logits + G) / tau, with G = -log(-log U)). With
# tau = 1 the formula cannot tell "(logits + G) / tau" from "logits / tau + G", so these two
# cases use TAU and check, before writing, that the other order would give visibly different
# soft values and, for the hard case, a different argmax for some tokens.
TAU = 0.6


def gumbel(*shape):
    u = rand(*shape).clamp(1e-10, 1.0 - 1e-7)  # keep U strictly inside (0, 1)
    return -torch.log(-torch.log(u))


def check_tau_sensitive(case, logits, noise, tau, y_soft, need_argmax_flips):
    """Refuse to write a fixture that cannot tell (l + G) / tau from l / tau + G."""
    other = torch.softmax(logits / tau + noise, dim=1)
    soft_gap = (other - y_soft.detach()).abs().max().item()
    flips = int((other.argmax(dim=1) != y_soft.detach().argmax(dim=1)).sum())
    top2 = y_soft.detach().topk(2, dim=1).values
    margin = (top2[:, 0] - top2[:, 1]).min().item()
    print("%s: tau %g, max |soft difference| of the other order %.3f, argmax flips %d of %d, "
          "smallest top-2 margin %.2e" % (case, tau, soft_gap, flips, y_soft[:, 0].numel(), margin))
    assert soft_gap > 0.05, "%s: the other noise order barely changes y_soft" % case
    assert flips >= need_argmax_flips, "%s: the other noise order changes no argmax" % case
    # The C++ test compares y_hard exactly: no token may be a near-tie between two groups.
    assert margin > 1e-3, "%s: near-tie in y_soft, the exact one-hot comparison would be fragile" % case


def case_gumbel_assign_tau():
    logits, noise, dy = randn(2, 5, 12), gumbel(2, 5, 12), randn(2, 5, 12)
    tau = torch.tensor(TAU, dtype=torch.float32)
    tl = leaf(logits)
    y_soft = torch.softmax((tl + noise) / tau, dim=1)  # over the group axis M
    index = y_soft.argmax(dim=1, keepdim=True)
    y_hard = torch.zeros_like(y_soft).scatter_(1, index, 1.0)
    y = y_hard - y_soft.detach() + y_soft  # straight-through
    y.backward(dy)
    check_tau_sensitive("gumbel_assign_tau", logits, noise, tau, y_soft, need_argmax_flips=3)
    return dict(logits=logits, noise=noise, dy=dy, tau=tau, y_hard=y_hard, y_soft=y_soft,
                dlogits=tl.grad)


def case_group_softmax_tau():
    logits, noise, dy = randn(3, 4, 9), gumbel(3, 4, 9), randn(3, 4, 9)
    tau = torch.tensor(TAU, dtype=torch.float32)
    tl = leaf(logits)
    y = torch.softmax((tl + noise) / tau, dim=1)  # soft assignment, no straight-through
    y.backward(dy)
    check_tau_sensitive("group_softmax_tau", logits, noise, tau, y, need_argmax_flips=0)
    return dict(logits=logits, noise=noise, dy=dy, tau=tau, y=y, dlogits=tl.grad)


CASES = [  # table order of FIXTURES.md == draw order
    ("matmul", case_matmul),
    ("linear", case_linear),
    ("layer_norm", case_layer_norm),
    ("gelu", case_gelu),
    ("softmax", case_softmax),
    ("attention", case_attention),
    ("embedding", case_embedding),
    ("mean_pool", case_mean_pool),
    ("l2_normalize", case_l2_normalize),
    ("cross_entropy", case_cross_entropy),
    ("gumbel_assign", case_gumbel_assign),
    ("assign_normalize", case_assign_normalize),
    ("residual_add", case_residual_add),
    ("gumbel_assign_tau", case_gumbel_assign_tau),  # appended last: earlier draws unchanged
    ("group_softmax_tau", case_group_softmax_tau),
    ("column_affine", case_column_affine),  # appended last: earlier draws unchanged
]


# --------------------------------------------------------------------------- writer

DTYPES = {torch.float32: ("F32", "<f4"), torch.int64: ("I64", "<i8")}


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous()
        name, np_dtype = DTYPES[t.dtype]
        data = t.numpy().astype(np_dtype, copy=False).tobytes()
        header[key] = {"dtype": name, "shape": list(t.shape),
                       "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for blob in blobs:
            f.write(blob)


# --------------------------------------------------------------------------- checker

def verify(path):
    """Independent re-read: header sanity, contiguous offsets, sizes match shapes."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    assert n % 8 == 0 and 8 + n <= len(raw), "bad header length"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    itemsize = {"F32": 4, "I64": 8}
    pos = 0
    for key in sorted(header):
        e = header[key]
        b, end = e["data_offsets"]
        count = 1
        for s in e["shape"]:
            count *= s
        assert b == pos, "%s: offsets not contiguous" % key
        assert end - b == count * itemsize[e["dtype"]], "%s: size != prod(shape)*itemsize" % key
        pos = end
    assert 8 + n + pos == len(raw), "trailing or missing bytes"
    print("OK: %d tensors, %d data bytes" % (len(header), pos))


# --------------------------------------------------------------------------- main

def main():
    global GEN
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "data", "op_fixtures.safetensors")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.normpath(default_out))
    ap.add_argument("--verify", metavar="PATH", help="check an existing file and exit")
    args = ap.parse_args()
    if args.verify:
        verify(args.verify)
        return

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    GEN = torch.Generator().manual_seed(SEED)

    tensors = {}
    for case, fn in CASES:
        for name, t in fn().items():
            tensors["%s.%s" % (case, name)] = t
    metadata = {"generator": "make_op_fixtures.py", "seed": str(SEED),
                "torch": torch.__version__}
    write_safetensors(args.out, tensors, metadata)

    for key in sorted(tensors):
        t = tensors[key]
        print("%-28s %-4s %s" % (key, DTYPES[t.dtype][0], list(t.shape)))
    print("wrote %s (%d bytes, %d tensors)" % (args.out, os.path.getsize(args.out), len(tensors)))


if __name__ == "__main__":
    sys.exit(main())
