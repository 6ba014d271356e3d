#!/usr/bin/env python3
"""The S-ViLM video encoder on one GPU, svilm vs PyTorch eager, side by side: one markdown table.

svilm's side is a Google Benchmark JSON file written by svilm_bench_gpu
(--benchmark_format=json, or --benchmark_out=F --benchmark_out_format=json); its context holds
`svilm_presets`, the presets as svilm reports them, and this script builds the PyTorch model
(tests/reference/svilm_ref.py, SPEC initialisation) from those, so both sides run one config.

Cases (Google Benchmark names; base preset, 224x224, tubelet as in the preset):

  BM_GpuVideoEncoderForward/frames:F/batch:B/math:K
      inference: no Gumbel noise, hard assignment, LN(mean tokens) -> video_proj -> L2;
      PyTorch under torch.inference_mode()
  BM_GpuVideoEncoderTrain/frames:F/batch:B/math:K
      forward WITH Gumbel noise (fixed tensors (B, M, L) per grouping block, drawn once), then
      backward of L = sum(tokens * Gt) + sum(groups * Gg) + sum(pooled * Gp) with fixed random
      Gt (B, L, C), Gg (B, M, C), Gp (B, C): tokens = last layer's video tokens, groups = the
      last grouping block's output, pooled = LN(mean tokens); parameter gradients only (no
      optimiser step; gradients set to None before each iteration, PyTorch's default)

  F in {8, 32}, B = 16 at 8 frames and 4 at 32; K: 0 fp32 (TF32 off for cuBLAS and cuDNN),
  1 tf32 (both on), 2 bf16 (Forward: model and clip cast to bfloat16; Train: autocast to
  bfloat16 with fp32 master weights).

PyTorch side: attention through torch.nn.functional.scaled_dot_product_attention (svilm_ref's
USE_SDPA switch, same semantics: key mask, scale head_dim^-1/2; the explicit-math path of
svilm_ref only where SDPA is missing, i.e. torch < 2.0, reported in the output). The encoder's
forward is the reference's loop over its own modules without the dictionary of every layer's
output that VideoEncoder.forward returns (that dictionary would keep all layers' activations
alive at inference); --smoke checks it against VideoEncoder.forward. Timing: CUDA events around
each iteration, 3 warm-up iterations, median of --iterations. Memory: each case starts after
gc + empty_cache + reset_peak_memory_stats, before its model is built, so peak MiB
(max_memory_allocated) counts weights, inputs, gradients, activations and workspaces.
FLOPs: svilm's count (its `tflops` counter x its time) when the JSON has the case, else
SPEC's GEMM + attention count (video_flops below, the formula of svilm/model/flops.hpp;
Forward adds video_proj, Train is 3x the encoder forward).

Usage:

    python3 benchmarks/gpu/compare_torch_gpu.py --svilm-json bench_gpu.json --out compare.json \\
        [--iterations 10] [--filter REGEX]
    python3 benchmarks/gpu/compare_torch_gpu.py --torch-only --presets-json P.json --out t.json
    /usr/bin/python3 benchmarks/gpu/compare_torch_gpu.py --device cpu --smoke --torch-only \\
        --presets-json benchmarks/gpu/presets.json --out /tmp/smoke.json     # CPU check

--presets-json takes either a presets object ({"tiny": {...}, "base": {...}}) or any svilm
Google Benchmark JSON (svilm_bench_gpu's `svilm_presets`, svilm_bench_model's `config.NAME`).
--smoke runs the tiny preset at its own frame size, 4 frames, batch 1 (and checks the lean
forward against the reference's); the table is printed last on stdout, progress on stderr.
"""

import argparse
import copy
import gc
import json
import math
import os
import re
import statistics
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REF_DIR = os.path.join(HERE, "..", "..", "tests", "reference")

MATH = {0: "fp32", 1: "tf32", 2: "bf16"}
KINDS = {"BM_GpuVideoEncoderForward": "forward", "BM_GpuVideoEncoderTrain": "train"}
GPU_SHAPES = [(8, 16), (32, 4)]  # (frames, batch)
SMOKE_SHAPES = [(4, 1)]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def default_cases(shapes):
    return ["%s/frames:%d/batch:%d/math:%d" % (name, f, b, k)
            for name in KINDS for f, b in shapes for k in MATH]


def parse_case(name):
    """'BM_GpuVideoEncoderTrain/frames:8/batch:16/math:2[/manual_time]' -> (kind, F, B, K)."""
    parts = name.split("/")
    if parts[0] not in KINDS:
        return None
    args = dict(p.split(":", 1) for p in parts[1:] if ":" in p)
    try:
        return KINDS[parts[0]], int(args["frames"]), int(args["batch"]), int(args["math"])
    except (KeyError, ValueError):
        return None


def case_key(name):
    """The case name without Google Benchmark's suffixes (/manual_time, /real_time, aggregates)."""
    parts = [p for p in name.split("/") if p not in ("manual_time", "real_time", "process_time")]
    return "/".join(parts)


# --------------------------------------------------------------------------- svilm's JSON
def _maybe_json(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def presets_from(data, source):
    """The presets {name: config} from a presets object or a Google Benchmark JSON."""
    if isinstance(data, dict) and "context" in data and "benchmarks" in data:
        ctx = data["context"]
        if "svilm_presets" in ctx:
            p = _maybe_json(ctx["svilm_presets"])
        else:  # svilm_bench_model's form: one key per preset
            p = {k[len("config."):]: v for k, v in ctx.items() if k.startswith("config.")}
        if not p:
            raise SystemExit("%s: its context has neither `svilm_presets` nor `config.NAME` keys"
                             % source)
    else:
        p = data
    if not isinstance(p, dict):
        raise SystemExit("%s: presets are not a JSON object" % source)
    if "video" in p:  # a single config: take it as `base`
        p = {"base": p}
    p = {k: _maybe_json(v) for k, v in p.items()}
    for k, v in p.items():
        if not isinstance(v, dict) or "video" not in v:
            raise SystemExit("%s: preset %r is not a config with a `video` section" % (source, k))
    return p


def svilm_results(data):
    """{case: {ms, clips_per_s, tflops, peak_mib, flops, error}} from svilm_bench_gpu's JSON.

    With repetitions the median aggregate wins; without aggregates, the median of the runs."""
    runs, medians = {}, {}
    for b in data.get("benchmarks", []):
        name = case_key(b.get("run_name") or b["name"])
        if parse_case(name) is None:
            continue
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = b
            continue
        runs.setdefault(name, []).append(b)
    out = {}
    for name in list(runs) + [n for n in medians if n not in runs]:
        rows = [medians[name]] if name in medians else runs[name]
        errs = [r for r in rows if r.get("error_occurred")]
        if errs:
            out[name] = {"error": errs[0].get("error_message", "error")}
            continue
        unit = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[rows[0].get("time_unit", "ns")]
        sec = statistics.median(r["real_time"] * unit for r in rows)
        med = lambda key: (statistics.median(r[key] for r in rows)
                           if all(key in r for r in rows) else None)
        tflops = med("tflops")
        out[name] = {"ms": sec * 1e3, "clips_per_s": med("clips_per_s"), "tflops": tflops,
                     "peak_mib": med("peak_mib"),
                     "flops": tflops * 1e12 * sec if tflops else None}
    return out


# --------------------------------------------------------------------------- FLOPs
def video_flops(v, batch):
    """Forward FLOPs (2 per multiply-add) of the video encoder's matrix products, for `batch`
    clips; svilm/model/flops.hpp's video_encoder_flops, term by term. L video tokens, M group
    tokens, S = L + M, C width, H = mlp_hidden, P = 3 t p^2 the tubelet size:
      patch        2 L C P
      each layer   2 S C (3C + C + 2H)  (qkv, out, MLP)  +  4 S^2 C  (QK^T and AV)
      each group.  8 M C^2 (cross q, out; assign q, out) + 8 L C^2 (cross k, v; assign k, v)
                   + 8 M L C (cross QK^T, AV; assign logits, A V) + 32 M C^2 (two ratio-4 MLPs)
                   + 2 M C^2 (token mixing M -> C/2 -> M)"""
    L = (v["frames"] // v["tubelet"]) * (v["image_size"] // v["patch_size"]) ** 2
    M, C, H = v["num_group_tokens"], v["width"], v["mlp_hidden"]
    S = L + M
    patch = 2 * L * C * 3 * v["tubelet"] * v["patch_size"] ** 2
    layer = 2 * S * C * (3 * C + C + 2 * H) + 4 * S * S * C
    grouping = (2 * M * C * C * 4 + 2 * L * C * C * 4 + 4 * M * L * C * 2
                + 2 * M * C * 4 * C * 2 * 2 + 2 * C * M * (C // 2) * 2)
    return batch * (patch + v["depth"] * layer + len(v["grouping_after"]) * grouping)


def own_flops(kind, cfg, batch):
    if kind == "forward":
        return video_flops(cfg["video"], batch) + 2 * batch * cfg["video"]["width"] * cfg["embed_dim"]
    return 3 * video_flops(cfg["video"], batch)


# --------------------------------------------------------------------------- PyTorch side
class Runner:
    def __init__(self, args):
        import torch
        sys.path.insert(0, os.path.abspath(REF_DIR))
        import svilm_ref
        self.torch, self.ref = torch, svilm_ref
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        if self.cuda and not torch.cuda.is_available():
            raise SystemExit("--device cuda but torch.cuda.is_available() is False (use --device cpu --smoke)")
        self.sdpa = hasattr(torch.nn.functional, "scaled_dot_product_attention")
        # svilm_ref's own switch: SDPA with its key mask, default scale head_dim^-1/2
        svilm_ref.USE_SDPA = self.sdpa
        if not self.sdpa:
            log("note: torch %s has no scaled_dot_product_attention; explicit-math attention"
                % torch.__version__)
        self.warmup, self.iterations = args.warmup, args.iterations
        self._built = {}

    # the reference encoder's forward (VideoEncoder.forward) without its dict of intermediates
    def encode(self, enc, clips, gumbel, tau):
        torch = self.torch
        x = enc.patch_embed(clips)
        B, L, C = x.shape
        x = x + enc.pos_embed_spatial.repeat(enc.num_t, 1)
        x = x + enc.pos_embed_temporal.repeat_interleave(enc.num_s, dim=0)
        g = enc.group_token.unsqueeze(0).expand(B, -1, -1)
        k = 0
        for i, blk in enumerate(enc.blocks):
            z = blk(torch.cat([x, g], dim=1))
            x, g = z[:, :L], z[:, L:]
            if (i + 1) in enc.grouping_after:
                g, _ = enc.grouping[k](x, g, None if gumbel is None else gumbel[k], tau, "hard")
                k += 1
        return x, g, enc.norm(x.mean(dim=1))

    def set_math(self, k):
        torch = self.torch
        tf32 = k == 1
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32

    def build(self, cfg, seed=0):
        """A fresh copy of the SPEC-initialised reference model's video encoder and video_proj
        (fp32, on the CPU; built once per config, seeded, so every math mode gets the same
        weights)."""
        key = json.dumps(cfg, sort_keys=True)
        if key not in self._built:
            self.torch.manual_seed(seed)
            model = self.ref.build_model(cfg)
            self._built = {key: (model.video, model.video_proj)}  # the text encoder is dropped
        return copy.deepcopy(self._built[key])

    def memory_reset(self):
        gc.collect()
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats()

    def time_steps(self, step):
        torch = self.torch
        for _ in range(self.warmup):
            step()
        times, last = [], None
        if self.cuda:
            torch.cuda.synchronize()
            events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                      for _ in range(self.iterations)]
            for start, end in events:
                start.record()
                last = step()
                end.record()
            torch.cuda.synchronize()
            times = [s.elapsed_time(e) * 1e-3 for s, e in events]
        else:
            for _ in range(self.iterations):
                t0 = time.perf_counter()
                last = step()
                times.append(time.perf_counter() - t0)
        return times, last

    def run_case(self, kind, cfg, frames, batch, mathk):
        """Returns {seconds, times_s, peak_mib}; raises on errors (OOM included)."""
        torch = self.torch
        dev = self.device
        cfg = json.loads(json.dumps(cfg))
        v = cfg["video"]
        v["frames"] = frames
        L = (frames // v["tubelet"]) * (v["image_size"] // v["patch_size"]) ** 2
        M, C, S = v["num_group_tokens"], v["width"], v["image_size"]
        self.set_math(mathk)
        bf16 = mathk == 2
        enc, proj = self.build(cfg)
        gen = torch.Generator(device="cpu").manual_seed(1)
        clip = torch.randn(batch, frames, 3, S, S, generator=gen)
        if kind == "forward":
            if bf16:
                enc, proj = enc.to(torch.bfloat16), proj.to(torch.bfloat16)
                clip = clip.to(torch.bfloat16)
            enc, proj, clip = enc.to(dev).eval(), proj.to(dev).eval(), clip.to(dev)
            l2 = self.ref.l2_normalize

            def step():
                with torch.inference_mode():
                    _, _, pooled = self.encode(enc, clip, None, cfg["gumbel_tau"])
                    return l2(proj(pooled))
        else:
            del proj
            enc = enc.to(dev).train()
            noise = []
            for _ in v["grouping_after"]:
                u = torch.rand(batch, M, L, generator=gen).clamp(1e-6, 1 - 1e-6)
                noise.append((-torch.log(-torch.log(u))).to(dev))
            gt = torch.randn(batch, L, C, generator=gen).to(dev)
            gg = torch.randn(batch, M, C, generator=gen).to(dev)
            gp = torch.randn(batch, C, generator=gen).to(dev)
            clip = clip.to(dev)
            params = list(enc.parameters())

            def step():
                for p in params:
                    p.grad = None
                with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=bf16):
                    tokens, groups, pooled = self.encode(enc, clip, noise, cfg["gumbel_tau"])
                loss = ((tokens.float() * gt).sum() + (groups.float() * gg).sum()
                        + (pooled.float() * gp).sum())
                loss.backward()
                return loss.detach()
        times, last = self.time_steps(step)
        peak = torch.cuda.max_memory_allocated() / 2 ** 20 if self.cuda else None
        res = {"seconds": statistics.median(times), "times_s": times, "peak_mib": peak}
        # sanity, read after the timing: the output, and which parameters got gradients
        if kind == "forward":
            res["embedding_shape"] = list(last.shape)
            res["embedding_norm_mean"] = last.float().norm(dim=-1).mean().item()
        else:
            res["loss"] = last.item()
            res["params_with_grad"] = sum(p.grad is not None for p in params)
            res["params"] = len(params)
            res["grads_finite"] = all(bool(torch.isfinite(p.grad).all())
                                      for p in params if p.grad is not None)
        return res

    def check_lean_forward(self, cfg, frames, batch):
        """--smoke: the script's encoder forward equals svilm_ref's VideoEncoder.forward."""
        torch = self.torch
        cfg = json.loads(json.dumps(cfg))
        v = cfg["video"]
        v["frames"] = frames
        L = (frames // v["tubelet"]) * (v["image_size"] // v["patch_size"]) ** 2
        enc, _ = self.build(cfg)
        gen = torch.Generator(device="cpu").manual_seed(1)
        clip = torch.randn(batch, frames, 3, v["image_size"], v["image_size"], generator=gen)
        noise = [-torch.log(-torch.log(torch.rand(batch, v["num_group_tokens"], L, generator=gen)
                                       .clamp(1e-6, 1 - 1e-6))) for _ in v["grouping_after"]]
        worst = 0.0
        for nz in (None, noise):
            with torch.no_grad():
                ref = enc(clip, nz, cfg["gumbel_tau"])
                mine = self.encode(enc, clip, nz, cfg["gumbel_tau"])
            for a, b in zip(mine, (ref["_tokens"], ref["_groups_last"], ref["_video_pooled"])):
                if a.shape != b.shape:
                    raise SystemExit("lean forward: shape %s vs reference %s" % (a.shape, b.shape))
                worst = max(worst, (a - b).abs().max().item())
        if worst > 0:
            raise SystemExit("lean forward differs from VideoEncoder.forward by %g" % worst)
        log("smoke: lean forward == svilm_ref VideoEncoder.forward (bitwise, with and without noise)")


def is_oom(exc, torch):
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


# --------------------------------------------------------------------------- table
def fmt(x, pattern):
    return "-" if x is None else pattern % x


def table(rows):
    lines = ["| case | svilm ms | PyTorch eager ms | ratio PyTorch/svilm (>1: svilm faster) "
             "| svilm clips/s | svilm TFLOP/s | peak MiB svilm / PyTorch |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, t = r["svilm"] or {}, r["torch"]
        s_ms = s.get("error") and "error" or fmt(s.get("ms"), "%.2f")
        t_ms = t.get("status") if t.get("status") != "ok" else fmt(t.get("ms"), "%.2f")
        lines.append("| `%s` | %s | %s | %s | %s | %s | %s / %s |" % (
            r["case"], s_ms, t_ms, fmt(r.get("ratio"), "%.2fx"),
            fmt(s.get("clips_per_s"), "%.1f"), fmt(s.get("tflops"), "%.1f"),
            fmt(s.get("peak_mib"), "%.0f"), fmt(t.get("peak_mib"), "%.0f")))
    return "\n".join(lines)


# --------------------------------------------------------------------------- driver
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--svilm-json", help="svilm_bench_gpu's Google Benchmark JSON")
    ap.add_argument("--out", required=True, help="write all numbers here (JSON)")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--filter", default="", help="regex (re.search) on the case names")
    ap.add_argument("--torch-only", action="store_true", help="no svilm JSON: PyTorch alone")
    ap.add_argument("--presets-json", help="presets object or a svilm benchmark JSON")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny preset, 4 frames, batch 1 (a CPU-sized check of the whole path)")
    args = ap.parse_args()
    if args.iterations < 1 or args.warmup < 0:
        ap.error("--iterations >= 1 and --warmup >= 0")

    svilm_data, svilm = None, {}
    if args.svilm_json:
        with open(args.svilm_json) as f:
            svilm_data = json.load(f)
        svilm = svilm_results(svilm_data)
    elif not args.torch_only:
        ap.error("--svilm-json is required (or --torch-only with --presets-json)")
    if args.presets_json:
        with open(args.presets_json) as f:
            presets = presets_from(json.load(f), args.presets_json)
    elif svilm_data is not None:
        presets = presets_from(svilm_data, args.svilm_json)
    else:
        raise SystemExit("--torch-only needs --presets-json: a presets object {\"base\": {...}} or a "
                         "svilm benchmark JSON whose context holds svilm_presets / config.NAME")
    preset_name = "tiny" if args.smoke else "base"
    if preset_name not in presets:
        raise SystemExit("the presets have no %r (they have %s)" % (preset_name, sorted(presets)))
    cfg = presets[preset_name]
    if not args.smoke:
        cfg = json.loads(json.dumps(cfg))
        cfg["video"]["image_size"] = 224

    if svilm:
        cases = list(svilm)
    else:
        cases = default_cases(SMOKE_SHAPES if args.smoke else GPU_SHAPES)
    if args.svilm_json and not svilm:
        raise SystemExit("%s has no BM_GpuVideoEncoder{Forward,Train} case" % args.svilm_json)
    pattern = re.compile(args.filter)
    cases = [c for c in cases if pattern.search(c)]
    if not cases:
        raise SystemExit("no case matches --filter " + repr(args.filter))

    runner = Runner(args)
    torch = runner.torch
    if args.smoke:
        runner.check_lean_forward(cfg, *SMOKE_SHAPES[0])

    rows = []
    for case in cases:
        kind, frames, batch, mathk = parse_case(case)
        if mathk not in MATH:
            log("%s: unknown math mode %d, skipped" % (case, mathk))
            continue
        s = svilm.get(case)
        flops = s.get("flops") if s else None
        flops_source = "svilm" if flops else "formula"
        if not flops:
            c2 = json.loads(json.dumps(cfg))
            c2["video"]["frames"] = frames
            flops = own_flops(kind, c2, batch)
        log("%s: PyTorch %s ..." % (case, MATH[mathk]))
        runner.memory_reset()
        t = {"status": "ok"}
        failure = None
        try:
            res = runner.run_case(kind, cfg, frames, batch, mathk)
            t.update(res)
            t["ms"] = res["seconds"] * 1e3
            t["clips_per_s"] = batch / res["seconds"]
            t["tflops"] = flops / res["seconds"] * 1e-12
        except Exception as exc:  # noqa: BLE001 -- one case's failure must not end the run
            if is_oom(exc, torch):
                t["status"] = "OOM"
                if runner.cuda:
                    t["peak_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
            else:
                t["status"] = "error"
                t["error"] = "%s: %s" % (type(exc).__name__, exc)
                failure = traceback.format_exc()
        runner.memory_reset()  # frees the case's model, inputs and gradients
        if failure:
            log(failure)
        ratio = t["ms"] / s["ms"] if t["status"] == "ok" and s and s.get("ms") else None
        rows.append({"case": case, "kind": kind, "frames": frames, "batch": batch,
                     "math": MATH[mathk], "flops": flops, "flops_source": flops_source,
                     "svilm": s, "torch": t, "ratio": ratio})
        log("%s: PyTorch %s, svilm %s" % (
            case, t["status"] != "ok" and t["status"] or "%.2f ms" % t["ms"],
            fmt(s and s.get("ms"), "%.2f ms")))

    bad = [r["case"] for r in rows if r["torch"]["status"] != "ok"
           or (r["kind"] == "train" and (r["torch"]["params_with_grad"] != r["torch"]["params"]
                                         or not r["torch"]["grads_finite"]
                                         or not math.isfinite(r["torch"]["loss"])))
           or (r["kind"] == "forward" and abs(r["torch"]["embedding_norm_mean"] - 1) > 1e-2)]
    for case in bad:
        log("warning: %s: PyTorch failed or its sanity check did not hold (see --out)" % case)
    info = {"torch": torch.__version__, "device": str(runner.device),
            "device_name": torch.cuda.get_device_name() if runner.cuda else "cpu",
            "cuda": torch.version.cuda, "attention": "sdpa" if runner.sdpa else "explicit math",
            "iterations": args.iterations, "warmup": args.warmup, "preset": preset_name,
            "config": cfg, "smoke": args.smoke, "svilm_json": args.svilm_json,
            "svilm_context": (svilm_data or {}).get("context")}
    with open(args.out, "w") as f:
        json.dump({"info": info, "cases": rows}, f, indent=1)
    log("wrote " + args.out)
    print("PyTorch %s on %s, attention %s, median of %d after %d warm-up; %s preset" % (
        info["torch"], info["device_name"], info["attention"], args.iterations, args.warmup,
        preset_name))
    print()
    print(table(rows))
    if args.smoke and bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
