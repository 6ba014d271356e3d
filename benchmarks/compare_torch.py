#!/usr/bin/python3
"""Time PyTorch on the same ops and shapes as svilm's Google Benchmark executable.

Case names match ours exactly (e.g. `BM_Gemm/M:1568/K:768/N:768`) so that
benchmarks/ratio_table.py can join the two JSON files.

Run with the same thread count as our benchmark, and with a passive OpenMP wait
policy (otherwise PyTorch's OpenMP threads spin and fight OpenBLAS's threads for
the cores):

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 benchmarks/compare_torch.py \
        --threads 2 --out torch.json

The script sets OMP_WAIT_POLICY=PASSIVE and OMP_NUM_THREADS / OPENBLAS_NUM_THREADS
= N itself (only if they are not already set) before importing torch.

Timing: one warm-up call, then the op is repeated until at least --min-time seconds
and at least 3 iterations have run; each iteration is timed separately and the
median is reported. Inputs are float32, random, on CPU.
"""

import argparse
import json
import os
import sys


def _parse_args():
    ap = argparse.ArgumentParser(description="Time PyTorch on svilm's benchmark cases.")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="output JSON path (default: stdout)")
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds per case")
    ap.add_argument("--filter", default="", help="only run cases whose name contains this")
    return ap.parse_args()


ARGS = _parse_args()
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", str(ARGS.threads))
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(ARGS.threads))

import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def measure(fn, setup=None, min_time=0.5, min_iters=3):
    """Median seconds per call of fn(state); setup() (untimed) builds state per call."""
    state = setup() if setup else None
    fn(state)  # warm-up
    times, total = [], 0.0
    while total < min_time or len(times) < min_iters:
        state = setup() if setup else None
        t0 = time.perf_counter()
        fn(state)
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
    return statistics.median(times)


# --------------------------------------------------------------------------- cases
# Each returns (fn, setup, flops or None, bytes or None).

def gemm(M, K, N):
    a, b, c = torch.randn(M, K), torch.randn(K, N), torch.empty(M, N)

    def fn(_):
        torch.mm(a, b, out=c)
    return fn, None, 2.0 * M * N * K, None


def attention_core(q, k, v, B, H, N, d):
    qh = q.reshape(B, N, H, d).transpose(1, 2)
    kh = k.reshape(B, N, H, d).transpose(1, 2)
    vh = v.reshape(B, N, H, d).transpose(1, 2)
    p = torch.softmax((qh @ kh.transpose(-2, -1)) * d ** -0.5, dim=-1)
    return (p @ vh).transpose(1, 2).reshape(B, N, H * d)


def attention(B, H, N, d):
    q, k, v = (torch.randn(B, N, H * d) for _ in range(3))

    def fn(_):
        with torch.no_grad():
            attention_core(q, k, v, B, H, N, d)
    return fn, None, 4.0 * B * H * N * N * d, None


def attention_backward(B, H, N, d):
    # Only the backward is timed: setup() runs the forward (building the autograd
    # graph) outside the timed region for every iteration, fn() runs y.backward(dy).
    q, k, v = (torch.randn(B, N, H * d).requires_grad_(True) for _ in range(3))
    dy = torch.randn(B, N, H * d)

    def setup():
        for t in (q, k, v):
            t.grad = None
        return attention_core(q, k, v, B, H, N, d)

    def fn(y):
        y.backward(dy)
    return fn, setup, 8.0 * B * H * N * N * d, None


def mha_block(N, C, H):
    # eval() + no_grad + need_weights=False lets torch 1.13 take its fused inference
    # fast path, i.e. what a PyTorch user gets for this call.
    mha = torch.nn.MultiheadAttention(C, H, batch_first=True).eval()
    x = torch.randn(1, N, C)

    def fn(_):
        with torch.no_grad():
            mha(x, x, x, need_weights=False)
    flops = 4.0 * H * N * N * (C // H) + 2.0 * N * C * 3 * C + 2.0 * N * C * C
    return fn, None, flops, None


def layer_norm(R, C):
    x, w, b = torch.randn(R, C), torch.randn(C), torch.randn(C)

    def fn(_):
        with torch.no_grad():
            F.layer_norm(x, (C,), w, b, eps=1e-6)
    return fn, None, None, 2.0 * R * C * 4


def gelu(R, C):
    x = torch.randn(R, C)

    def fn(_):
        with torch.no_grad():
            F.gelu(x, approximate="none")
    return fn, None, None, 2.0 * R * C * 4


def softmax(R, N):
    x = torch.randn(R, N)

    def fn(_):
        with torch.no_grad():
            torch.softmax(x, dim=-1)
    return fn, None, None, 2.0 * R * N * 4


CASES = [
    ("BM_Gemm/M:1568/K:768/N:768", lambda: gemm(1568, 768, 768)),
    ("BM_Gemm/M:1568/K:768/N:2304", lambda: gemm(1568, 768, 2304)),
    ("BM_Gemm/M:1568/K:768/N:3072", lambda: gemm(1568, 768, 3072)),
    ("BM_Gemm/M:1568/K:3072/N:768", lambda: gemm(1568, 3072, 768)),
    ("BM_Attention/B:1/H:12/N:1568/d:64", lambda: attention(1, 12, 1568, 64)),
    ("BM_Attention/B:1/H:12/N:3136/d:64", lambda: attention(1, 12, 3136, 64)),
    ("BM_AttentionBackward/B:1/H:12/N:1568/d:64", lambda: attention_backward(1, 12, 1568, 64)),
    ("BM_MhaBlock/N:1568/C:768/H:12", lambda: mha_block(1568, 768, 12)),
    ("BM_LayerNorm/R:1568/C:768", lambda: layer_norm(1568, 768)),
    ("BM_Gelu/R:1568/C:3072", lambda: gelu(1568, 3072)),
    ("BM_Softmax/R:1568/N:1568", lambda: softmax(1568, 1568)),
]


def main():
    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(0)
    results = []
    for name, make in CASES:
        if ARGS.filter not in name:
            continue
        fn, setup, flops, nbytes = make()
        sec = measure(fn, setup, min_time=ARGS.min_time)
        row = {"name": name, "seconds": sec,
               "gflops": flops / sec / 1e9 if flops else None,
               "gbps": nbytes / sec / 1e9 if nbytes else None}
        results.append(row)
        rate = ("%.1f GFLOP/s" % row["gflops"]) if flops else ("%.1f GB/s" % row["gbps"])
        print("%-45s %9.3f ms  %s" % (name, sec * 1e3, rate), file=sys.stderr)
        del fn, setup
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    out = {"context": {"torch": torch.__version__,
                       "threads": ARGS.threads,
                       "torch_num_threads": torch.get_num_threads(),
                       "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                       "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                       "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                       "min_time_s": ARGS.min_time,
                       "peak_rss_mib": peak_kib / 1024.0},
           "benchmarks": results}
    text = json.dumps(out, indent=2) + "\n"
    if ARGS.out:
        with open(ARGS.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
