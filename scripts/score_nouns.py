#!/usr/bin/env python3
"""Phrase-level precision and recall of svilm's noun phrases against a hand-annotated caption set.

    python3 scripts/score_nouns.py SVILM_PROGRAM GOLD.tsv [--show-misses]

GOLD.tsv holds `style<TAB>caption<TAB>phrase|phrase|...` lines (tests/data/nouns/, annotated by
hand following docs/noun_annotation.md); `#` lines are comments. The program's `nouns` command
extracts every phrase of each caption (`--max 0`). Phrases are compared as sets per caption,
lower-cased and with accents folded (BERT's uncased tokenizer folds them before the text encoder
sees a prompt, so "résumé" and "resume" are the same prompt). Reported: over all phrases,
precision = right / predicted and recall = right / annotated; captions whose phrase set is
exactly right; the same for the first two phrases of each (the model's default number of noun
prompts per caption), and per caption style.
"""
import argparse
import subprocess
import sys
import unicodedata
from collections import defaultdict


def fold(phrase):
    decomposed = unicodedata.normalize("NFD", phrase.lower())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").strip()


def read_gold(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 3:
                sys.exit(f"{path}:{number}: expected style<TAB>caption<TAB>phrases, found {len(fields)} fields")
            style, caption, phrases = fields
            rows.append((style, caption, [p for p in phrases.split("|") if p]))
    return rows


def extract(program, captions):
    result = subprocess.run([program, "nouns", "--captions", "-", "--max", "0"], input="\n".join(captions) + "\n",
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{program} nouns failed ({result.returncode}): {result.stderr.strip()}")
    lines = result.stdout.rstrip("\n").split("\n") if captions else []
    if len(lines) != len(captions):
        sys.exit(f"{program} nouns printed {len(lines)} lines for {len(captions)} captions")
    return [[p for p in line.split("\t", 1)[1].split("|") if p] if "\t" in line else [] for line in lines]


class Tally:
    def __init__(self):
        self.predicted = self.annotated = self.right = self.exact = self.captions = 0

    def add(self, ours, gold):
        ours, gold = [fold(p) for p in ours], [fold(p) for p in gold]
        self.captions += 1
        self.predicted += len(set(ours))
        self.annotated += len(set(gold))
        self.right += len(set(ours) & set(gold))
        self.exact += set(ours) == set(gold)

    def line(self, name):
        precision = self.right / self.predicted if self.predicted else 1.0
        recall = self.right / self.annotated if self.annotated else 1.0
        return (f"{name:<22} {self.captions:4d} captions  precision {precision:.3f}  recall {recall:.3f}  "
                f"exactly right {self.exact}/{self.captions}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("program", help="the svilm program (build/.../examples/svilm)")
    parser.add_argument("gold", help="an annotated caption file")
    parser.add_argument("--show-misses", action="store_true", help="print every caption not exactly right")
    args = parser.parse_args()
    rows = read_gold(args.gold)
    predictions = extract(args.program, [caption for _, caption, _ in rows])
    every, first_two = Tally(), Tally()
    by_style = defaultdict(Tally)
    for (style, caption, gold), ours in zip(rows, predictions):
        every.add(ours, gold)
        first_two.add(ours[:2], gold[:2])
        by_style[style].add(ours, gold)
        if args.show_misses and {fold(p) for p in ours} != {fold(p) for p in gold}:
            print(f"  {caption}\n      ours: {' | '.join(ours)}\n      gold: {' | '.join(gold)}")
    print(every.line("all phrases"))
    print(first_two.line("first two phrases"))
    for style in sorted(by_style):
        print(by_style[style].line("  style " + style))


if __name__ == "__main__":
    main()
