#!/usr/bin/env python3
"""Plain-Python reference of the BERT uncased tokenizer (basic + WordPiece).

Mirrors google-research/bert ``tokenization.py`` (FullTokenizer with
do_lower_case=True) step by step, stdlib only, so the C++ tokenizer can be
checked against it:

1. clean text: drop U+0000, U+FFFD and control characters (category Cc/Cf,
   except TAB/LF/CR); every whitespace character (space, TAB, LF, CR or
   category Zs) becomes a single space;
2. put spaces around every CJK ideograph (the code-point ranges of
   ``_is_chinese_char``; kana and hangul are *not* included);
3. split on whitespace with Python's ``str.split()`` (note: this also splits on
   U+2028/U+2029 and U+001C..U+001F, U+0085; the latter are already removed as
   control characters by step 1, so only U+2028 LINE SEPARATOR and U+2029
   PARAGRAPH SEPARATOR matter);
4. per token: ``str.lower()`` (full Unicode lower-case mapping), NFD, drop
   category Mn (combining marks), then split off every punctuation character as
   its own token (ASCII 33-47, 58-64, 91-96, 123-126, or category P*);
5. WordPiece per token: tokens longer than 100 code points -> [UNK]; otherwise
   greedy longest-match-first over the vocab, continuation pieces prefixed
   with "##"; if any position has no match the whole token -> [UNK].

Version notes (the "original" changed over time; this file pins one choice):

* control characters = categories Cc and Cf, as in google-research/bert master
  (its first release and HuggingFace's BertTokenizer drop every category C*,
  i.e. also Co private-use and Cn unassigned; captions never contain those);
* words longer than 100 code points -> [UNK], as in HuggingFace and the first
  google-research release (google-research master uses 200);
* no NFC pass before splitting (newer HuggingFace versions add one) and no
  special-token passthrough: "[CLS]" in the text is split like any other word;
* the Unicode tables are those of this Python's ``unicodedata`` (3.11: Unicode
  14.0); lower-casing is ``str.lower()`` (full mapping, e.g. U+0130 "I with dot"
  -> "i" + U+0307, whose mark is then dropped).

``encode`` adds [CLS] ... [SEP], truncates the pieces to max_len - 2 (so [SEP]
is always kept), pads with [PAD] (id 0) and returns the attention mask.

CLI:
    wordpiece_reference.py --text "a man's café"          # pieces and ids
    wordpiece_reference.py --benchmark 100000              # captions/s
    wordpiece_reference.py --benchmark 100000 --write-captions /tmp/caps.txt
    wordpiece_reference.py --check-cases tests/data/tokenizer_cases.tsv
"""
import argparse
import os
import random
import sys
import time
import unicodedata

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_VOCAB = os.path.join(REPO_ROOT, "data", "vocab", "bert-base-uncased-vocab.txt")

UNK, CLS, SEP, PAD = "[UNK]", "[CLS]", "[SEP]", "[PAD]"
MAX_INPUT_CHARS_PER_WORD = 100


# ---------------------------------------------------------------- char classes
def is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


CONTROL_CATEGORIES = ("Cc", "Cf")


def is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch) in CONTROL_CATEGORIES


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or
            0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F or
            0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


# ------------------------------------------------------------- basic tokenizer
def clean_text(text):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or is_control(ch):
            continue
        out.append(" " if is_whitespace(ch) else ch)
    return "".join(out)


def space_cjk(text):
    out = []
    for ch in text:
        if is_cjk(ord(ch)):
            out.append(" ")
            out.append(ch)
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def strip_accents(token):
    return "".join(ch for ch in unicodedata.normalize("NFD", token)
                   if unicodedata.category(ch) != "Mn")


def split_on_punc(token):
    out = []
    start_new = True
    for ch in token:
        if is_punctuation(ch):
            out.append(ch)
            start_new = True
        else:
            if start_new:
                out.append("")
            start_new = False
            out[-1] += ch
    return out


def basic_tokenize(text):
    text = space_cjk(clean_text(text))
    split = []
    for tok in text.strip().split():
        tok = strip_accents(tok.lower())
        split.extend(split_on_punc(tok))
    return " ".join(split).strip().split()


# ------------------------------------------------------------------- WordPiece
def load_vocab(path=DEFAULT_VOCAB):
    vocab = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.strip()] = i
    return vocab


def wordpiece(token, vocab):
    if len(token) > MAX_INPUT_CHARS_PER_WORD:
        return [UNK]
    pieces = []
    start = 0
    n = len(token)
    while start < n:
        end = n
        cur = None
        while start < end:
            sub = token[start:end]
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return [UNK]
        pieces.append(cur)
        start = end
    return pieces


_VOCAB = None


def _default_vocab():
    global _VOCAB
    if _VOCAB is None:
        _VOCAB = load_vocab(DEFAULT_VOCAB)
    return _VOCAB


def tokenize(text, vocab=None):
    """Text -> list of WordPiece strings (no [CLS]/[SEP])."""
    vocab = _default_vocab() if vocab is None else vocab
    out = []
    for tok in basic_tokenize(text):
        out.extend(wordpiece(tok, vocab))
    return out


def encode(text, max_len=32, vocab=None):
    """Text -> (ids, mask), each of length max_len: [CLS] pieces [SEP] [PAD]..."""
    vocab = _default_vocab() if vocab is None else vocab
    if max_len < 2:
        raise ValueError("max_len must be >= 2")
    pieces = tokenize(text, vocab)[:max_len - 2]
    ids = [vocab[CLS]] + [vocab[p] for p in pieces] + [vocab[SEP]]
    mask = [1] * len(ids)
    pad = max_len - len(ids)
    return ids + [vocab[PAD]] * pad, mask + [0] * pad


# ------------------------------------------------------------- test-case files
def unescape(s):
    """Undo tokenizer_cases.tsv escapes: \\\\ \\t \\n \\r \\uXXXX."""
    out = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = s[i + 1]
        if nxt == "\\":
            out.append("\\"); i += 2
        elif nxt == "t":
            out.append("\t"); i += 2
        elif nxt == "n":
            out.append("\n"); i += 2
        elif nxt == "r":
            out.append("\r"); i += 2
        elif nxt == "u":
            out.append(chr(int(s[i + 2:i + 6], 16))); i += 6
        else:
            raise ValueError("bad escape in %r" % s)
    return "".join(out)


def escape(s):
    out = []
    for ch in s:
        cp = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif cp <= 0xFFFF and (unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp", "Mn")
                               or cp == 0xFFFD) and ch != " ":
            out.append("\\u%04X" % cp)
        else:
            out.append(ch)
    return "".join(out)


def read_cases(path):
    cases = []
    with open(path, encoding="utf-8", newline="\n") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            cap, exp = line.split("\t")
            cases.append((unescape(cap), exp.split(" ") if exp else []))
    return cases


# ------------------------------------------------------------------- benchmark
_SUBJ = ["a man", "a woman", "two girls", "a young boy", "the chef", "people", "a dog",
         "a little girl", "an old man", "a group of friends", "the crowd", "a cat",
         "a reporter", "someone", "a soccer player", "kids"]
_VERB = ["is slicing", "are dancing in", "runs across", "is talking about", "cooks",
         "is playing", "watch", "is driving", "jumps over", "is explaining", "sings",
         "is riding", "throws", "is peeling", "walks along", "is painting"]
_OBJ = ["a red tomato", "the grass", "a wooden board", "the kitchen", "a frisbee",
        "the guitar", "a show", "a car on the highway", "the fence", "strawberries",
        "a bicycle", "the ball", "potatoes", "the beach", "a blue wall", "the news"]
_TAIL = ["", " on a wooden board", " in a room", " while laughing", ", then smiles.",
         " at night", " in front of the camera", " with a knife", "!", " ...",
         " near the café", " for 3.5 minutes", " (slow motion)", " and the man's dog"]


def synthetic_captions(n, seed=0):
    rng = random.Random(seed)
    return ["%s %s %s%s" % (rng.choice(_SUBJ), rng.choice(_VERB), rng.choice(_OBJ),
                            rng.choice(_TAIL)) for _ in range(n)]


def benchmark(n, vocab, max_len=32):
    caps = synthetic_captions(n)
    t0 = time.perf_counter()
    total = 0
    for c in caps:
        ids, _ = encode(c, max_len, vocab)
        total += ids[1]
    dt = time.perf_counter() - t0
    return n / dt, dt, total


def main(argv=None):
    ap = argparse.ArgumentParser(description="BERT uncased WordPiece reference")
    ap.add_argument("--vocab", default=DEFAULT_VOCAB)
    ap.add_argument("--text", help="tokenize this text and print pieces and ids")
    ap.add_argument("--max-len", type=int, default=32)
    ap.add_argument("--benchmark", type=int, metavar="N",
                    help="encode N synthetic captions (max_len 32) and print captions/s")
    ap.add_argument("--write-captions", metavar="PATH",
                    help="with --benchmark N: also write the N synthetic captions, one per line "
                         "(so a C++ benchmark can tokenize the same corpus)")
    ap.add_argument("--check-cases", metavar="TSV", help="verify a tokenizer_cases.tsv file")
    args = ap.parse_args(argv)

    vocab = load_vocab(args.vocab)
    rc = 0
    if args.text is not None:
        pieces = tokenize(args.text, vocab)
        ids, mask = encode(args.text, args.max_len, vocab)
        print("pieces:", " ".join(pieces))
        print("piece_ids:", " ".join(str(vocab[p]) for p in pieces))
        print("ids:", " ".join(map(str, ids)))
        print("mask:", " ".join(map(str, mask)))
    if args.check_cases:
        bad = 0
        cases = read_cases(args.check_cases)
        for cap, exp in cases:
            got = tokenize(cap, vocab)
            if got != exp:
                bad += 1
                print("MISMATCH %r: got %r expected %r" % (cap, got, exp))
        print("%d cases, %d mismatches" % (len(cases), bad))
        rc = 1 if bad else 0
    if args.benchmark and args.write_captions:
        with open(args.write_captions, "w", encoding="utf-8", newline="\n") as f:
            for c in synthetic_captions(args.benchmark):
                f.write(c + "\n")
    if args.benchmark:
        rate, dt, _ = benchmark(args.benchmark, vocab, args.max_len)
        print("benchmark: %d captions in %.3f s = %.0f captions/s (python %s, max_len %d)"
              % (args.benchmark, dt, rate, sys.version.split()[0], args.max_len))
    return rc


if __name__ == "__main__":
    sys.exit(main())
