#!/usr/bin/env python3
"""Tables 1-4 in miniature from the metrics files scripts/downstream.sh writes.

Reads RUN/seed<S>/<model>/<task>.json for every seed folder and the models untrained,
contrastive and svilm, and prints each table's cells as the mean over the seeds with the
sample standard deviation ("mean ± sd"; a single seed prints the value alone), one row per
model and a chance row. Every number is from the held-out colour-shape pairs' test split.

Usage: python3 scripts/downstream_table.py RUN [--seeds N] [--markdown]

With --seeds N only seed0 .. seed<N-1> are read (scripts/downstream.sh passes its own count, so
an earlier run's extra seed folders are left out); a cell averaging fewer runs than seeds says
how many ("(n=2)").
"""
import json
import statistics
import sys
from pathlib import Path

MODELS = [("untrained", "untrained"), ("contrastive", "contrastive only"), ("svilm", "S-ViLM (all three)")]


def load(run, count):
    seeds = sorted(p for p in Path(run).glob("seed*") if p.is_dir())
    if count is not None:
        seeds = [Path(run) / f"seed{s}" for s in range(count) if (Path(run) / f"seed{s}").is_dir()]
    if not seeds:
        sys.exit(f"downstream_table.py: no seed* folder in {run}")
    data = {}
    for seed in seeds:
        for model, _ in MODELS:
            folder = seed / model
            for path in folder.glob("*.json"):
                data.setdefault((model, path.stem), []).append(json.loads(path.read_text()))
    return data, len(seeds)


SEEDS = 1  # set by main: the runs a full cell averages


def cell(values, digits=1):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = statistics.fmean(values)
    text = f"{mean:.{digits}f}" if len(values) == 1 else f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"
    return text if len(values) == SEEDS else f"{text} (n={len(values)})"


def fixed(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def get(runs, *keys):
    out = []
    for r in runs:
        for k in keys:
            r = r.get(k) if isinstance(r, dict) else None
        out.append(r)
    return out


class Table:
    def __init__(self, title, columns, markdown):
        self.title, self.columns, self.markdown, self.rows = title, columns, markdown, []

    def add(self, name, cells):
        self.rows.append([name] + cells)

    def print(self):
        print(f"\n{self.title}")
        header = ["model"] + self.columns
        if self.markdown:
            print("| " + " | ".join(header) + " |")
            print("|" + "|".join(["---"] + ["---:"] * len(self.columns)) + "|")
            for row in self.rows:
                print("| " + " | ".join(row) + " |")
            return
        widths = [max(len(r[i]) for r in self.rows + [header]) for i in range(len(header))]
        print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
        for row in self.rows:
            print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))


def main():
    global SEEDS
    argv = sys.argv[1:]
    count = None
    if "--seeds" in argv:
        k = argv.index("--seeds")
        count = int(argv[k + 1])
        del argv[k:k + 2]
    markdown = "--markdown" in argv
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    data, seeds = load(args[0], count)
    SEEDS = seeds
    print(f"{seeds} pre-training seed{'s' if seeds > 1 else ''}; cells: mean" + (" ± sd over the seeds" if seeds > 1 else ""))

    t = Table("Table 1: text-to-video retrieval (MSR-VTT 1k-A format), held-out pairs",
              ["zero-shot R@1", "R@5", "R@10", "MdR", "fine-tuned R@1", "R@5", "R@10", "MdR"], markdown)
    any_run = next((v for (m, task), v in data.items() if task == "retrieval"), None)
    if any_run:
        t.add("chance", [fixed(get(any_run[:1], "zero_shot", "chance", k)[0]) for k in ("r1", "r5", "r10", "median_rank")] * 2)
    for model, name in MODELS:
        runs = data.get((model, "retrieval"), [])
        t.add(name, [cell(get(runs, phase, "t2v", k)) for phase in ("zero_shot", "fine_tuned")
                     for k in ("r1", "r5", "r10", "median_rank")])
    t.print()

    t = Table("Table 2: video QA top-1 % (MSRVTT-QA format), held-out pairs; frozen encoders, MLP head over [v, q, v*q]",
              ["all", "colour", "shape", "motion", "count"], markdown)
    any_run = next((v for (m, task), v in data.items() if task == "qa"), None)
    if any_run:
        t.add("chance (uniform over answers)", [fixed(get(any_run[:1], "chance")[0]), "-", "-", "-", "-"])
    for model, name in MODELS:
        runs = data.get((model, "qa"), [])
        t.add(name, [cell(get(runs, "test", "accuracy"))] +
              [cell(get(runs, "test", "per_type", k)) for k in ("colour", "shape", "motion", "count")])
    t.print()

    t = Table("Table 3: action recognition top-1 % (UCF101 format, 7 motions), held-out pairs",
              ["zero-shot", "linear probe", "fine-tuned"], markdown)
    any_run = next((v for (m, task), v in data.items() if task == "classify"), None)
    if any_run:
        t.add("chance", [fixed(get(any_run[:1], "chance")[0])] * 3)
    for model, name in MODELS:
        t.add(name, [cell(get(data.get((model, "classify"), []), "top1")),
                     cell(get(data.get((model, "probe"), []), "top1")),
                     cell(get(data.get((model, "action"), []), "test", "top1"))])
    t.print()

    t = Table("Table 4: temporal action localisation mAP % (ActivityNet v1.3 format), held-out pairs",
              ["mAP@0.5", "@0.75", "@0.95", "average"], markdown)
    keys = ("0.5", "0.75", "0.95", "average")
    any_run = next((v for (m, task), v in data.items() if task == "localize"), None)
    if any_run:
        t.add("chance (random window scores)", [cell(get(any_run, "chance", k)) for k in keys])
    for model, name in MODELS:
        runs = data.get((model, "localize"), [])
        t.add(name, [cell(get(runs, "map", k)) for k in keys])
    t.print()


if __name__ == "__main__":
    main()
