#!/usr/bin/python3
"""Markdown table comparing svilm's Google Benchmark results with PyTorch's.

    /usr/bin/python3 benchmarks/ratio_table.py --ours ours.json --torch torch.json

--ours: JSON from our benchmark executable (--benchmark_format=json or
--benchmark_out=...). When it holds aggregates (--benchmark_repetitions), the
`median` aggregate is used; otherwise the iteration entry (median of them if a name
repeats). --torch: JSON from benchmarks/compare_torch.py.

Columns: ours and PyTorch as "ms per call (GFLOP/s or GB/s)"; ratios are speed
ratios reference_time / our_time ("1.42x" = ours is 1.42 times faster). The
OpenBLAS column compares BM_Gemm/<shape> against our BM_OpenBlasSgemm/<shape>
baseline and is "-" for every other row. Rows follow the order of --ours; the
baseline rows (BM_OpenBlasSgemm, BM_EigenGemm) are listed too unless
--skip-baselines is given. Anything without a match shows "-".
"""

import argparse
import json
import re
import statistics
import sys

UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
BASELINE_PREFIXES = ("BM_OpenBlasSgemm/", "BM_EigenGemm/")
# Google Benchmark appends these option components to names; they are not shape.
OPTION_COMPONENT = re.compile(
    r"^(real_time|process_time|manual_time|threads:\d+|iterations:\d+|repeats:\d+|"
    r"min_time:[\d.]+s?|min_warmup_time:[\d.]+s?)$")
# user counter -> factor to GFLOP/s or GB/s
FLOP_COUNTERS = {"GFLOP/s": 1.0, "GFLOPS": 1.0, "gflops": 1.0, "FLOP/s": 1e-9, "flops": 1e-9}
BYTE_COUNTERS = {"GB/s": 1.0, "gbps": 1.0, "bytes_per_second": 1e-9}


def join_key(name):
    """Drop Google Benchmark option components such as /real_time or /threads:2."""
    parts = name.split("/")
    return "/".join([parts[0]] + [p for p in parts[1:] if not OPTION_COMPONENT.match(p)])


def rate_of(entry):
    """(value, unit) from our user counters, or (None, None)."""
    for counters, unit in ((FLOP_COUNTERS, "GFLOP/s"), (BYTE_COUNTERS, "GB/s")):
        for key, factor in counters.items():
            if isinstance(entry.get(key), (int, float)):
                return entry[key] * factor, unit
    return None, None


def load_ours(path):
    """Ordered {join_key: {"seconds", "rate", "unit"}} from Google Benchmark JSON."""
    with open(path) as f:
        entries = json.load(f).get("benchmarks", [])
    has_agg = any(e.get("run_type") == "aggregate" for e in entries)
    grouped = {}  # insertion order = order of first appearance
    for e in entries:
        if e.get("error_occurred"):
            continue
        if has_agg:
            if e.get("run_type") != "aggregate" or e.get("aggregate_name") != "median":
                continue
            name = e["name"]
            if name.endswith("_median"):
                name = name[: -len("_median")]
        else:
            name = e["name"]
        seconds = e["real_time"] * UNIT_SECONDS[e.get("time_unit", "ns")]
        rate, unit = rate_of(e)
        grouped.setdefault(join_key(name), []).append((seconds, rate, unit))
    out = {}
    for key, runs in grouped.items():
        runs.sort(key=lambda r: r[0])
        seconds = statistics.median(r[0] for r in runs)
        rates = [r[1] for r in runs if r[1] is not None]
        out[key] = {"seconds": seconds,
                    "rate": statistics.median(rates) if rates else None,
                    "unit": next((r[2] for r in runs if r[2]), None)}
    return out


def load_torch(path):
    with open(path) as f:
        entries = json.load(f).get("benchmarks", [])
    out = {}
    for e in entries:
        if e.get("gflops") is not None:
            rate, unit = e["gflops"], "GFLOP/s"
        elif e.get("gbps") is not None:
            rate, unit = e["gbps"], "GB/s"
        else:
            rate, unit = None, None
        out[join_key(e["name"])] = {"seconds": e["seconds"], "rate": rate, "unit": unit}
    return out


def fmt_ms(seconds):
    ms = seconds * 1e3
    return "%.3f" % ms if ms < 10 else ("%.2f" % ms if ms < 100 else "%.1f" % ms)


def fmt_cell(r):
    if r is None:
        return "-"
    s = fmt_ms(r["seconds"]) + " ms"
    if r["rate"] is not None:
        s += " (%.1f %s)" % (r["rate"], r["unit"])
    return s


def fmt_ratio(reference, ours):
    if reference is None or ours is None or ours["seconds"] <= 0:
        return "-"
    return "%.2fx" % (reference["seconds"] / ours["seconds"])


def table(ours, torch, skip_baselines=False):
    lines = ["| op | shape | ours | PyTorch | ours vs PyTorch | ours vs OpenBLAS |",
             "|---|---|---|---|---|---|"]
    for key, r in ours.items():
        if skip_baselines and key.startswith(BASELINE_PREFIXES):
            continue
        op, _, shape = key.partition("/")
        op = op[3:] if op.startswith("BM_") else op
        t = torch.get(key)
        blas = "-"
        if key.startswith("BM_Gemm/"):
            blas = fmt_ratio(ours.get("BM_OpenBlasSgemm/" + shape), r)
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            op, shape.replace("/", " ") or "-", fmt_cell(r), fmt_cell(t),
            fmt_ratio(t, r), blas))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description="Markdown table: svilm vs PyTorch vs OpenBLAS.")
    ap.add_argument("--ours", required=True, help="Google Benchmark JSON")
    ap.add_argument("--torch", required=True, help="compare_torch.py JSON")
    ap.add_argument("--skip-baselines", action="store_true",
                    help="omit the BM_OpenBlasSgemm / BM_EigenGemm rows")
    args = ap.parse_args()
    print(table(load_ours(args.ours), load_torch(args.torch), args.skip_baselines))


if __name__ == "__main__":
    sys.exit(main())
