#!/usr/bin/env python3
"""Data-parallel scaling model for pre-training the `base` preset on 8-GPU nodes.

step time = compute (local batch x seconds per clip) + exposed gradient sum, where the sum is
NCCL's ring all-reduce of the float32 gradients: 2 (N - 1) / N x bytes / bus bandwidth, plus
2 (N - 1) hops of latency. Inside one node the ring runs over NVLink; across nodes its slowest
link is one GPU's network port. The overlap svilm gives (the video encoder's sums during the text
encoder's backward) is not counted: the table is the upper bound on communication.

Every input is an argument with its default printed, so the assumptions are on the page:

  python3 benchmarks/scaling_model.py                       # the README's table
  python3 benchmarks/scaling_model.py --clip-seconds 0.02   # your measured seconds per clip
"""
import argparse

BASE_PARAMETERS = 238_341_090  # `svilm info --preset base`
BASE_TRAIN_FLOP = 3 * (964.1e9 + 3 * 5.5e9)  # forward + backward (2x): video 964.1 GFLOP, 3 texts of 32 tokens


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip-seconds", type=float, default=None,
                   help="training time per clip on one GPU (default: FLOP / --achieved-tflops)")
    p.add_argument("--achieved-tflops", type=float, default=200.0,
                   help="sustained TFLOP/s of one GPU (default 200: about 40%% of an H100 SXM's dense TF32 peak)")
    p.add_argument("--local-batch", type=int, default=16, help="clips per GPU per step")
    p.add_argument("--nvlink-busbw", type=float, default=360.0, help="all-reduce bus bandwidth inside a node, GB/s")
    p.add_argument("--network-busbw", type=float, default=45.0,
                   help="all-reduce bus bandwidth across nodes, GB/s (one 400 Gb/s port per GPU at about 90%%)")
    p.add_argument("--hop-latency-us", type=float, default=10.0, help="latency of one ring hop across nodes, us")
    p.add_argument("--clips", type=float, default=3.3e6, help="clips in an epoch (the paper's VideoCC + ActivityNet)")
    a = p.parse_args()

    clip_seconds = a.clip_seconds if a.clip_seconds else BASE_TRAIN_FLOP / (a.achieved_tflops * 1e12)
    grad_bytes = 4 * BASE_PARAMETERS
    compute = a.local_batch * clip_seconds
    print(f"base: {BASE_PARAMETERS / 1e6:.1f} M parameters, {grad_bytes / 1e6:.0f} MB of float32 gradients; "
          f"{BASE_TRAIN_FLOP / 1e12:.2f} TFLOP per training clip")
    print(f"compute per step: {a.local_batch} clips x {1e3 * clip_seconds:.1f} ms = {1e3 * compute:.0f} ms")
    print()
    print("| GPUs | nodes | global batch | gradient sum | step | communication | clips/s | epoch of "
          f"{a.clips / 1e6:.1f} M clips |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for gpus in (8, 64, 512):
        nodes = max(1, gpus // 8)
        busbw = a.nvlink_busbw if nodes == 1 else a.network_busbw
        latency = 2 * (gpus - 1) * (a.hop_latency_us * 1e-6 if nodes > 1 else 2e-6)
        comm = 2 * (gpus - 1) / gpus * grad_bytes / (busbw * 1e9) + latency
        step = compute + comm
        rate = gpus * a.local_batch / step
        epoch = a.clips / rate
        epoch_text = f"{epoch / 3600:.1f} h" if epoch >= 3600 else f"{epoch / 60:.1f} min"
        print(f"| {gpus} | {nodes} | {gpus * a.local_batch} | {1e3 * comm:.1f} ms | {1e3 * step:.0f} ms | "
              f"{100 * comm / step:.0f}% | {rate:,.0f} | {epoch_text} |")


if __name__ == "__main__":
    main()
