#!/usr/bin/python3
"""The S-ViLM model, svilm vs the PyTorch reference model, side by side: one markdown table.

Each case runs in its own process on both sides, so that the peak resident memory of the
process (getrusage ru_maxrss) belongs to that case alone:

  ours:  svilm_bench_model --benchmark_filter=^CASE$ (Google Benchmark, median of --repetitions)
  torch: this script with --torch-case CASE, timing tests/reference/svilm_ref.py's model on the
         same config (the presets svilm_bench_model reports in its context), input shapes and
         thread count (median of --repetitions after a warm-up)

Cases (names are the Google Benchmark names):
  BM_VideoEncoderForward/preset:P/frames:F  video encoder + video_proj + L2, inference (no
                                            noise; PyTorch under torch.no_grad), 1 clip 224x224
  BM_VideoEncoderTrain/preset:P/frames:F    video encoder forward with Gumbel noise + backward
                                            from random gradients on tokens, groups and pooled
  BM_TextEncoderForward/preset:2            text encoder + text_proj + L2, 32 x 32 tokens
  BM_TrainStepTiny                          whole tiny model, batch 8 at 64x64, all three
                                            losses, backward, clipping, AdamW
  BM_VideoEncoderForwardAt/.../precision:P  the inference cases at an inference precision, P 1:
  BM_TextEncoderForwardAt/.../precision:P   bf16 (PyTorch: CPU autocast to bfloat16), 2: int8
                                            (PyTorch: quantize_dynamic of every nn.Linear with
                                            per-channel weight scales, on the quantised engine
                                            that is faster here, onednn or qnnpack)

PyTorch's bf16 on a CPU without bf16 instructions takes minutes per case: a PyTorch run longer
than --torch-timeout seconds is reported as "over N s".

Usage (PyTorch at its best: 2 threads, passive OpenMP waiting, set by the script):

    /usr/bin/python3 benchmarks/compare_model.py --ours build/release/benchmarks/svilm_bench_model \
        --threads 2 [--filter 'Video.*preset:2'] [--repetitions 3]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

PRESET_INDEX = ["tiny", "small", "base"]

CASES = [
    "BM_VideoEncoderForward/preset:0/frames:8",
    "BM_VideoEncoderForward/preset:1/frames:8",
    "BM_VideoEncoderForward/preset:2/frames:8",
    "BM_VideoEncoderForward/preset:2/frames:16",
    "BM_VideoEncoderTrain/preset:0/frames:8",
    "BM_VideoEncoderTrain/preset:1/frames:8",
    "BM_VideoEncoderTrain/preset:2/frames:8",
    "BM_VideoEncoderTrain/preset:2/frames:16",
    "BM_TextEncoderForward/preset:2",
    "BM_TrainStepTiny",
    "BM_VideoEncoderForwardAt/preset:2/frames:8/precision:1",
    "BM_VideoEncoderForwardAt/preset:2/frames:8/precision:2",
    "BM_VideoEncoderForwardAt/preset:2/frames:16/precision:1",
    "BM_VideoEncoderForwardAt/preset:2/frames:16/precision:2",
    "BM_TextEncoderForwardAt/preset:2/precision:1",
    "BM_TextEncoderForwardAt/preset:2/precision:2",
]

PRECISIONS = ["fp32", "bf16", "int8"]


def parse_case(case):
    parts = dict(p.split(":") for p in case.split("/")[1:])
    return case.split("/")[0], {k: int(v) for k, v in parts.items()}


# --------------------------------------------------------------------------- PyTorch side
def torch_case(case, repetitions, presets, engine):
    import resource
    import torch
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
    import svilm_ref

    torch.manual_seed(0)
    name, args = parse_case(case)
    # svilm's presets as its benchmark reported them: one definition, in C++
    if name == "BM_TrainStepTiny":
        cfg = presets["tiny"]
    else:
        cfg = presets[PRESET_INDEX[args["preset"]]]
        if "frames" in args:
            cfg["video"]["image_size"], cfg["video"]["frames"] = 224, args["frames"]
    model = svilm_ref.build_model(cfg)
    v = cfg["video"]
    num_t = v["frames"] // v["tubelet"]
    L = num_t * (v["image_size"] // v["patch_size"]) ** 2
    M = v["num_group_tokens"]

    def gumbel(B):
        u = torch.rand(B, M, L).clamp(1e-6, 1 - 1e-6)
        return [-torch.log(-torch.log(u)) for _ in v["grouping_after"]]

    precision = PRECISIONS[args.get("precision", 0)]
    name = {"BM_VideoEncoderForwardAt": "BM_VideoEncoderForward", "BM_TextEncoderForwardAt": "BM_TextEncoderForward"}.get(name, name)
    if precision == "int8":
        torch.backends.quantized.engine = engine
        model = torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8)
    if name == "BM_VideoEncoderForward":
        clip = torch.randn(1, v["frames"], 3, v["image_size"], v["image_size"])

        def step():
            with torch.no_grad():
                out = model.video(clip, None)
                svilm_ref.l2_normalize(model.video_proj(out["_video_pooled"]))
    elif name == "BM_VideoEncoderTrain":
        clip = torch.randn(1, v["frames"], 3, v["image_size"], v["image_size"])
        noise = gumbel(1)
        C = v["width"]
        dt, dg, dp = torch.randn(1, L, C), torch.randn(1, M, C), torch.randn(1, C)

        def step():
            model.zero_grad(set_to_none=False)
            out = model.video(clip, noise)
            loss = ((out["_tokens"] * dt).sum() + (out["_groups_last"] * dg).sum()
                    + (out["_video_pooled"] * dp).sum())
            loss.backward()
    elif name == "BM_TextEncoderForward":
        ids = torch.randint(0, cfg["text"]["vocab_size"], (32, 32))
        mask = torch.ones(32, 32, dtype=torch.long)

        def step():
            with torch.no_grad():
                model.encode_text(ids, mask)
    elif name == "BM_TrainStepTiny":
        B, K, N = 8, cfg["num_nouns"], 16
        video = torch.randn(B, v["frames"], 3, v["image_size"], v["image_size"])
        mask = torch.zeros(B, num_t)
        for i in range(B):
            mask[i, 1 + i % 2] = 1
        ids = torch.randint(0, cfg["text"]["vocab_size"], (B, N))
        pids = torch.randint(0, cfg["text"]["vocab_size"], (B * K, N))
        ones, pones = torch.ones(B, N, dtype=torch.long), torch.ones(B * K, N, dtype=torch.long)
        valid = torch.ones(B, K)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)

        def step():
            opt.zero_grad()
            out = model(video, mask, ids, ones, pids, pones, valid, gumbel(B))
            out["loss.total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    else:
        raise SystemExit("unknown case " + case)

    if precision == "bf16":
        plain_step = step

        def step():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                plain_step()

    step()  # warm-up
    times = []
    for _ in range(repetitions):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"seconds": statistics.median(times), "peak_mib": peak, "engine": engine if precision == "int8" else "",
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


# --------------------------------------------------------------------------- driver
def run_torch_engine(case, args, presets, coretype, engine):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    try:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-case", case, "--torch-engine", engine,
                              "--repetitions", str(args.repetitions), "--torch-presets", json.dumps(presets)],
                             env=env, check=True, capture_output=True, text=True, timeout=args.torch_timeout)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "peak_mib": None, "engine": engine}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_torch(case, args, presets, coretype=None):
    """PyTorch on the case; for int8, on each quantised engine, keeping the faster."""
    engines = ["onednn", "qnnpack"] if case.endswith("precision:2") else ["onednn"]
    runs = [run_torch_engine(case, args, presets, coretype, e) for e in engines]
    timed = [r for r in runs if r["seconds"] is not None]
    return min(timed, key=lambda r: r["seconds"]) if timed else runs[0]


def torch_cells(ref, ours, args):
    if ref["seconds"] is None:
        return "over %d s | over %.0fx" % (args.torch_timeout, args.torch_timeout / ours["seconds"])
    engine = " (%s)" % ref["engine"] if ref.get("engine") else ""
    return "%.1f ms%s | %.2fx" % (ref["seconds"] * 1e3, engine, ref["seconds"] / ours["seconds"])


def run_ours(case, args):
    # the same environment as PyTorch's side (svilm's own threads sleep when idle whatever
    # OMP_WAIT_POLICY says; PyTorch's OpenMP threads need it on a shared machine)
    env = dict(os.environ, SVILM_NUM_THREADS=str(args.threads), OMP_WAIT_POLICY="PASSIVE")
    pattern = "^" + case + "/real_time$"
    out = subprocess.run([args.ours, "--benchmark_filter=" + pattern, "--benchmark_format=json",
                          "--benchmark_repetitions=%d" % args.repetitions,
                          "--benchmark_report_aggregates_only=true"],
                         env=env, check=True, capture_output=True, text=True)
    data = json.loads(out.stdout)
    rows = [b for b in data["benchmarks"] if b.get("aggregate_name") == "median"] or data["benchmarks"]
    if not rows:
        raise SystemExit("svilm_bench_model ran no case for " + pattern)
    row = rows[0]
    unit = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[row.get("time_unit", "ns")]
    return {"seconds": row["real_time"] * unit, "peak_mib": row.get("peak_RSS_MB"),
            "gflops": row.get("GFLOP/s"),
            "saved_mib": row.get("saved_MB"), "context": data.get("context", {})}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", help="path of svilm_bench_model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--filter", default="", help="a regular expression: only the cases it matches (re.search)")
    ap.add_argument("--torch-coretype", default="",
                    help="also time PyTorch with OPENBLAS_CORETYPE set to this (e.g. SkylakeX)")
    ap.add_argument("--torch-timeout", type=int, default=600,
                    help="seconds a PyTorch case may take (warm-up and repetitions) before it is reported as over")
    ap.add_argument("--torch-case", help=argparse.SUPPRESS)
    ap.add_argument("--torch-engine", default="onednn", help=argparse.SUPPRESS)
    ap.add_argument("--torch-presets", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_case:
        torch_case(args.torch_case, args.repetitions, json.loads(args.torch_presets), args.torch_engine)
        return
    if not args.ours:
        ap.error("--ours is required")
    extra = " | PyTorch, OPENBLAS_CORETYPE=%s | speed-up" % args.torch_coretype if args.torch_coretype else ""
    print("| case | precision | svilm | PyTorch | speed-up%s | svilm GFLOP/s | peak RSS svilm / PyTorch |" % extra)
    print("|---|---|---:|---:|---:|" + ("---:|---:|" if extra else "") + "---:|---:|")
    rows = 0
    for case in CASES:
        if not re.search(args.filter, case):
            continue
        rows += 1
        ours = run_ours(case, args)
        presets = {n: json.loads(ours["context"]["config." + n]) for n in PRESET_INDEX}
        ref = run_torch(case, args, presets)
        cells = torch_cells(ref, ours, args)
        if extra:
            cells += " | " + torch_cells(run_torch(case, args, presets, args.torch_coretype), ours, args)
        precision = PRECISIONS[parse_case(case)[1].get("precision", 0)]
        torch_peak = "%.0f" % ref["peak_mib"] if ref["peak_mib"] else "?"
        print("| `%s` | %s | %.1f ms | %s | %.0f | %.0f / %s MiB |" % (
            case, precision, ours["seconds"] * 1e3, cells, ours["gflops"] or 0, ours["peak_mib"] or 0, torch_peak),
            flush=True)
    if rows == 0:
        raise SystemExit("no case matches --filter " + repr(args.filter))
    print("\nthreads %d, PyTorch %s, svilm GEMM: %s, svilm int8 GEMM: %s" % (
        args.threads, ref.get("torch", "?"), ours["context"].get("gemm", "?"), ours["context"].get("int8_gemm", "?")))


if __name__ == "__main__":
    main()
