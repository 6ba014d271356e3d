#!/usr/bin/python3
"""Independent PyTorch reference of the S-ViLM model, and the model fixtures of the C++ tests.

Implements `docs/model.md` sections 2, 2.1, 3, 4, 5 and 11 from the specification alone, and
writes the files that `tests/reference/MODEL_FIXTURES.md` defines into `tests/data/`:

    svilm_tiny_fixture.safetensors   weights, inputs, Gumbel noise, every intermediate, losses,
                                     gradients, inference-mode outputs, a 5-step AdamW run (F64)
    ckpt_vit_timm.safetensors        small random timm ViT checkpoint               (F32)
    ckpt_vit_hf.safetensors          small random Hugging Face ViT checkpoint       (F32)
    ckpt_bert_hf.safetensors         small random Hugging Face BERT checkpoint      (F32)
    ckpt_expected.safetensors        what the model holds after loading each one    (F32)
    qa_head_fixture.safetensors      the video QA answer head (docs/model.md §8): weights,
                                     inputs, features, logits, losses, gradients    (F64)

Run with Debian's python3 and python3-torch (torch 1.13; nothing else):

    /usr/bin/python3 tests/reference/svilm_ref.py [--out-dir DIR]   # write the files
    /usr/bin/python3 tests/reference/svilm_ref.py --verify          # self-checks (gradchecks,
                                                                     # one-hot maps, nonzero grads)
                                                                     # and a byte comparison of the
                                                                     # files in DIR with a rebuild
    /usr/bin/python3 tests/reference/svilm_ref.py --only qa_head_fixture.safetensors
                                                                     # write (or --verify) one file

Importable: `import svilm_ref; m = svilm_ref.build_model(svilm_ref.BASE_CONFIG)`; the module's
`state_dict()` keys are docs/model.md §11's parameter names; `svilm_forward(m, ...)` (also `m(...)`) runs
the model and the three losses.

Deterministic: one thread, `torch.use_deterministic_algorithms(True)`, fixed seeds; two runs
write byte-identical files. The safetensors format is written by hand (8-byte little-endian
header length, JSON header with sorted keys and no spaces, space-padded to a multiple of 8,
tensor bytes in sorted key order), with the config as JSON in `__metadata__["config"]`.

Decisions
---------
Details that neither docs/model.md nor MODEL_FIXTURES.md fixes, with the reading taken here:

D1  Straight-through forward value. The forward value of the hard assignment is exactly
    `y_hard` (a custom autograd function returns the one-hot and passes the incoming gradient
    unchanged to `y_soft`), not the floating-point evaluation of `y_hard - y_soft.detach() +
    y_soft` (which can differ from the one-hot by an ulp). Gradients are identical.
D2  Gumbel temperature only in training: training uses `softmax((logits + G) / tau)`; inference
    uses the plain `softmax(logits)` (no tau) both for the argmax and for the straight-through
    gradient. With tau = 1 (the fixture) the two readings coincide.
D3  Scales: the grouping block's cross-attention (step 3) scales scores by head_dim^-1/2 (like
    the self-attention); the assignment divides by sqrt(C). All scales are applied as a
    division by sqrt(.) of the scores.
D4  Grouping MLPs (pre-assignment MLP and `mlp_channels`) have hidden width 4C regardless of
    `video.mlp_hidden`; token mixing `mlp_inter` is Linear(M, C/2) -> GELU -> Linear(C/2, M)
    applied along the group axis with a residual (docs/model.md §2.1 step 2). `C/2` is integer division.
D5  Order of additions where rounding could differ: video token = (patch + pos_spatial[s]) +
    pos_temporal[n_t]; text embedding = LN((word + position) + token_type[0]).
D6  `token_type_embeddings` has 2 rows (BERT's type_vocab_size, config key
    `text.type_vocab_size`, default 2); only row 0 is ever used, so row 1's gradient is zero.
D7  `logit_scale` and `grounding_logit_scale` are 0-dimensional tensors (shape ()).
D8  Temporal loss: p is computed as `softmax([cos_f, cos_b] / tau_t)[0]` (mathematically the
    docs/model.md formula, overflow-free). The centre denominators `sum_t m` and `sum_t (1 - m)` are
    clamped at >= 1 so that a sample without scene change gives finite (excluded) values
    instead of 0/0; its p is still reported in `out.temporal_p`. The loss is the mean of
    (p - m)^2 over the valid samples' N_t entries (n_valid * N_t terms); 0 if none.
D9  Grounding loss: s(i,k,j) = sum_m a_{j,m} sim with a = softmax_m(sim / tau_a) and sim =
    <n_ik, g_jm>; the CE logits are s * min(exp(grounding_logit_scale), 100); mean over valid
    (i,k) only (rows selected, not weighted by 0); 0 when no noun is valid. Every prompt row is
    encoded, also invalid ones.
D10 Disabled losses are returned as 0 and not computed; the total is the sum of the enabled
    terms. The contrastive logits are rows = videos, columns = captions; the CE is taken over
    rows for video->text and over the transposed matrix for text->video.
D11 Groups: `out.group_embed` comes from the output of the LAST grouping block. If layers
    follow the last grouping block (not the case in any preset), those layers still update the
    group tokens, but the embedding uses the grouping block's output.
D12 Fixture random draws: one `torch.Generator` seeded 20241126, float64 draws. Order:
    (1) the weights, parameter names in sorted (byte) order, each one `randn` of its shape
    (logit scales are set, not drawn); (2) `input.clips`; (3) `input.caption_ids` (randint
    [5, 50) of shape (3, 10), then CLS/SEP/PAD are written over it); (4) `input.prompt_ids`
    (same, (6, 10)); (5) `gumbel.0`, `gumbel.1`, `gumbel.2`, each from `rand` U in [0,1)
    mapped to 1e-6 + (1 - 2e-6) U. LayerNorm weights = 1 + 0.1 randn; every bias (LayerNorm
    biases included) = 0.1 randn; everything else = 0.25 randn.
D13 Checkpoint draws: one `torch.Generator` seeded 20241127, float32 draws, files in the order
    timm, hf, bert, keys in sorted order within a file; LayerNorm weights 1 + 0.1 randn,
    everything else (LayerNorm biases too) 0.25 randn. The Hugging Face ViT `classifier` is
    (10, C) like the timm head. BERT's `token_type_embeddings` has 2 rows, `cls.predictions.bias`
    has vocab_size entries, `cls.predictions.transform.dense` is (C, C).
D14 Checkpoint mapping (`ckpt_expected`): patch weight inflated as (w[:, :, None] / t)
    repeated t times along the new axis; HF q/k/v concatenated along the output axis for
    weights and biases; `bert.*` maps to `text.*` by prefix, keeping the first `max_length`
    rows of `position_embeddings`; `bert.pooler.*` and `cls.*` are skipped.
D15 Every file's `__metadata__` has `config` (the fixture config, JSON with sorted keys and no
    spaces), `generator` ("svilm_ref.py"), `seed` and `torch` (the version string).
D16 The cut-and-paste sampler (`draw_cut_and_paste`, not used by the fixture, whose values are
    fixed by the contract) draws the derangement by rejection (torch.randperm until no fixed
    point), then for each i: d_i, then s_i, with torch.randint on the caller's generator.
D17 `build_model` applies docs/model.md §2's default init (trunc-normal std 0.02 cut at +-2 std for
    Linear, patch, embedding weights, the spatial position table and the group tokens; biases
    0; LN 1/0; temporal positions 0; logit scales log(1/0.07)) using torch's global RNG.
D18 AdamW: `torch.optim.AdamW(foreach=False)`, two parameter groups (decay, no decay) in that
    order; each step: zero_grad, forward, backward, step.
D19 Video QA head (docs/model.md §8, §13): x = cat([v, q, v * q], -1) (B, 3D), logits =
    fc2(GELU(fc1(x))), fc1 Linear(3D, hidden), fc2 Linear(hidden, answers), exact GELU, no
    dropout, keys `qa_head.fc{1,2}.{weight,bias}`. Its training loss is
    `F.cross_entropy(logits, labels, ignore_index=-1)`: a question whose answer is outside the
    vocabulary (label -1) is left out of the sum and of the mean.
D20 QA fixture draws: one `torch.Generator` seeded 20250302, float64: the head's parameters in
    sorted name order (biases 0.1 randn, weights 0.5 randn), then `input.v`, `input.q` (B, D)
    and `input.dy` (B, K), each randn. Labels are fixed: [3, -1, 0, 4, -1] and, every question
    answerable, [3, 1, 0, 4, 2].
"""

import argparse
import hashlib
import io
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import stateless

# Use torch>=2.0's fused attention when available and asked for; the explicit math is the
# default so that torch 1.13 works and so the fixture does not depend on a kernel choice.
USE_SDPA = False

FIXTURE_CONFIG = {
    "video": {"image_size": 16, "patch_size": 8, "frames": 8, "tubelet": 2, "width": 16,
              "depth": 4, "heads": 2, "mlp_hidden": 64, "num_group_tokens": 4,
              "grouping_after": [2, 3, 4], "layer_norm_eps": 1e-6},
    "text": {"vocab_size": 50, "max_length": 10, "width": 16, "depth": 2, "heads": 2,
             "mlp_hidden": 64, "layer_norm_eps": 1e-12},
    "embed_dim": 16, "num_nouns": 2, "tau_temporal": 0.1, "tau_assign": 0.1, "gumbel_tau": 1.0,
}

# the model description's `base` preset (ViT-B/16 video side, bert-base text side); 32 frames as in the paper.
BASE_CONFIG = {
    "video": {"image_size": 224, "patch_size": 16, "frames": 32, "tubelet": 2, "width": 768,
              "depth": 12, "heads": 12, "mlp_hidden": 3072, "num_group_tokens": 32,
              "grouping_after": [6, 9, 12], "layer_norm_eps": 1e-6},
    "text": {"vocab_size": 30522, "max_length": 32, "width": 768, "depth": 12, "heads": 12,
             "mlp_hidden": 3072, "layer_norm_eps": 1e-12},
    "embed_dim": 256, "num_nouns": 2, "tau_temporal": 0.1, "tau_assign": 0.1, "gumbel_tau": 1.0,
}

# the video QA head's fixture (tests/data/qa_head_fixture.safetensors); "batch" is the number of
# questions in it
QA_FIXTURE_CONFIG = {"embed_dim": 4, "hidden": 8, "answers": 5, "batch": 5}
QA_FIXTURE_FILE = "qa_head_fixture.safetensors"
QA_SEED = 20250302
QA_TARGETS = [3, -1, 0, 4, -1]      # rows 1 and 4: answers outside the vocabulary
QA_TARGETS_ALL = [3, 1, 0, 4, 2]    # every question answerable

ALL_LOSSES = ("contrastive", "temporal", "grounding")
FIXTURE_SEED = 20241126
CKPT_SEED = 20241127
LOGIT_SCALE_INIT = math.log(1.0 / 0.07)


# =========================================================================== small functions

def l2_normalize(x):
    """x / max(||x||, 1e-12) along the last axis (docs/model.md §11)."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def cosine(a, b):
    """a.b / (max(||a||, 1e-8) max(||b||, 1e-8)) along the last axis (docs/model.md §11)."""
    na = a.norm(dim=-1).clamp_min(1e-8)
    nb = b.norm(dim=-1).clamp_min(1e-8)
    return (a * b).sum(-1) / (na * nb)


def gelu(x):
    return F.gelu(x)  # exact erf form


def multi_head_attention(q, k, v, heads, key_mask=None):
    """Softmax attention on (B, N, H*d) tensors; key_mask (B, Nk), 1 keep / 0 padded (-inf)."""
    B, Nq, C = q.shape
    Nk = k.shape[1]
    d = C // heads
    qh = q.reshape(B, Nq, heads, d).transpose(1, 2)  # (B, H, Nq, d)
    kh = k.reshape(B, Nk, heads, d).transpose(1, 2)
    vh = v.reshape(B, Nk, heads, d).transpose(1, 2)
    if USE_SDPA and hasattr(F, "scaled_dot_product_attention"):
        mask = None if key_mask is None else (key_mask[:, None, None, :] > 0)
        o = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask)
    else:
        s = (qh @ kh.transpose(-2, -1)) / math.sqrt(d)  # (B, H, Nq, Nk)
        if key_mask is not None:
            s = s.masked_fill(key_mask[:, None, None, :] == 0, -math.inf)
        o = torch.softmax(s, dim=-1) @ vh
    return o.transpose(1, 2).reshape(B, Nq, C)


class StraightThrough(torch.autograd.Function):
    """Forward: exactly y_hard. Backward: the gradient goes to y_soft unchanged (Decision D1)."""

    @staticmethod
    def forward(ctx, y_soft, y_hard):
        return y_hard.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad, None


# =========================================================================== modules

class Mlp(nn.Module):
    def __init__(self, d_in, hidden, d_out=None):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, d_in if d_out is None else d_out)

    def forward(self, x):
        return self.fc2(gelu(self.fc1(x)))


class PatchEmbed(nn.Module):
    """Tubelet embedding, a Conv3d with kernel = stride = (t, p, p), computed as unfold + GEMM.

    `proj` is an nn.Conv3d only as the holder of `weight` (C, 3, t, p, p) and `bias` (C).
    Input (B, T, 3, H, W); output (B, L, C) with l = n_t * N_s + row * (W/p) + col; a tubelet is
    flattened in Conv3d order (c, dt, dy, dx).
    """

    def __init__(self, width, patch, tubelet):
        super().__init__()
        self.patch, self.tubelet = patch, tubelet
        self.proj = nn.Conv3d(3, width, (tubelet, patch, patch), stride=(tubelet, patch, patch))

    def forward(self, clips):
        B, T, Cin, H, W = clips.shape
        t, p = self.tubelet, self.patch
        Nt, Hp, Wp = T // t, H // p, W // p
        x = clips.reshape(B, Nt, t, Cin, Hp, p, Wp, p)
        x = x.permute(0, 1, 4, 6, 3, 2, 5, 7)  # (B, Nt, row, col, c, dt, dy, dx)
        x = x.reshape(B, Nt * Hp * Wp, Cin * t * p * p)
        w = self.proj.weight.reshape(self.proj.weight.shape[0], -1)
        return x @ w.t() + self.proj.bias


class Attention(nn.Module):
    """Self-attention with a fused qkv Linear(C, 3C), split [q | k | v]."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = self.qkv(x).split(x.shape[-1], dim=-1)
        return self.proj(multi_head_attention(q, k, v, self.heads))


class Block(nn.Module):
    """Pre-norm ViT block."""

    def __init__(self, dim, heads, mlp_hidden, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CrossAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, query, key):
        o = multi_head_attention(self.q_proj(query), self.k_proj(key), self.v_proj(key),
                                 self.heads)
        return self.proj(o)


class CrossAttnBlock(nn.Module):
    """Post-norm cross-attention block: h = g + MHA(g, x, x); g = LN(h + MLP(LN(h)))."""

    def __init__(self, dim, heads, eps):
        super().__init__()
        self.attn = CrossAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, 4 * dim)
        self.norm_post = nn.LayerNorm(dim, eps=eps)

    def forward(self, g, x):
        h = g + self.attn(g, x)
        return self.norm_post(h + self.mlp(self.norm2(h)))


class AssignAttention(nn.Module):
    """Single-head assignment attention with hard (straight-through) Gumbel assignment.

    assign_mode:
      "hard"   docs/model.md: forward one-hot, backward through y_soft (StraightThrough).
      "soft"   y = y_soft (for gradchecks of the differentiable parts only).
      "frozen" y = y_hard0 + (y_soft - y_soft0) with (y_hard0, y_soft0) constants given in
               `frozen`: equal in value and derivative to "hard" at the point where the
               constants were taken, and smooth, so numerical gradchecks see the ST gradient.
    """

    def __init__(self, dim):
        super().__init__()
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, g, x, noise=None, tau=1.0, assign_mode="hard", frozen=None):
        C = g.shape[-1]
        logits = (self.q_proj(g) @ self.k_proj(x).transpose(-2, -1)) / math.sqrt(C)  # (B, M, L)
        soft = torch.softmax(logits, dim=1)  # over groups; also the visualisation map
        if noise is not None:
            y_soft = torch.softmax((logits + noise) / tau, dim=1)
        else:
            y_soft = soft  # inference: plain softmax, no noise, no tau (Decision D2)
        index = y_soft.detach().argmax(dim=1, keepdim=True)  # ties -> lowest group index
        y_hard = torch.zeros_like(y_soft).scatter_(1, index, 1.0)
        if assign_mode == "hard":
            y = StraightThrough.apply(y_soft, y_hard)
        elif assign_mode == "soft":
            y = y_soft
        elif assign_mode == "frozen":
            y_hard0, y_soft0 = frozen
            y = y_hard0 + (y_soft - y_soft0)
        else:
            raise ValueError(assign_mode)
        a = y / (y.sum(dim=-1, keepdim=True) + 1.0)  # per group over tokens, eps = 1
        out = self.proj(a @ self.v_proj(x))
        return out, {"soft": soft, "hard": y_hard, "y_soft": y_soft}


class GroupingBlock(nn.Module):
    """docs/model.md §2.1: updates the group tokens from the video tokens; video tokens are unchanged."""

    def __init__(self, dim, num_groups, heads, eps):
        super().__init__()
        self.norm_tokens = nn.LayerNorm(dim, eps=eps)
        self.mlp_inter = Mlp(num_groups, dim // 2, num_groups)  # token mixing M -> C/2 -> M
        self.norm_x = nn.LayerNorm(dim, eps=eps)
        self.pre_assign_attn = CrossAttnBlock(dim, heads, eps)
        self.assign = AssignAttention(dim)
        self.norm_new_x = nn.LayerNorm(dim, eps=eps)
        self.mlp_channels = Mlp(dim, 4 * dim)

    def forward(self, x, g, noise=None, tau=1.0, assign_mode="hard", frozen=None):
        x = self.norm_x(x)
        g = self.norm_tokens(g)
        g = g + self.mlp_inter(g.transpose(1, 2)).transpose(1, 2)
        g = self.pre_assign_attn(g, x)
        out, info = self.assign(g, x, noise, tau, assign_mode, frozen)
        g = out + g
        g = g + self.mlp_channels(self.norm_new_x(g))
        return g, info


class VideoEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v = cfg["video"]
        C, eps = v["width"], v["layer_norm_eps"]
        self.heads = v["heads"]
        self.num_t = v["frames"] // v["tubelet"]
        self.num_s = (v["image_size"] // v["patch_size"]) ** 2
        self.grouping_after = list(v["grouping_after"])  # 1-based layer numbers
        self.patch_embed = PatchEmbed(C, v["patch_size"], v["tubelet"])
        self.pos_embed_spatial = nn.Parameter(torch.zeros(self.num_s, C))
        self.pos_embed_temporal = nn.Parameter(torch.zeros(self.num_t, C))
        self.group_token = nn.Parameter(torch.zeros(v["num_group_tokens"], C))
        self.blocks = nn.ModuleList(
            [Block(C, v["heads"], v["mlp_hidden"], eps) for _ in range(v["depth"])])
        self.grouping = nn.ModuleList(
            [GroupingBlock(C, v["num_group_tokens"], v["heads"], eps)
             for _ in self.grouping_after])
        self.norm = nn.LayerNorm(C, eps=eps)

    def forward(self, clips, gumbel=None, tau=1.0, assign_mode="hard", frozen=None):
        """clips (B, T, 3, H, W); gumbel: list of (B, M, L) per grouping block, or None."""
        res = {}
        x = self.patch_embed(clips)
        B, L, C = x.shape
        x = x + self.pos_embed_spatial.repeat(self.num_t, 1)
        x = x + self.pos_embed_temporal.repeat_interleave(self.num_s, dim=0)
        res["video.embed_tokens"] = x
        g = self.group_token.unsqueeze(0).expand(B, -1, -1)
        k = 0
        for i, blk in enumerate(self.blocks):
            z = blk(torch.cat([x, g], dim=1))  # joint attention over [video ; groups]
            x, g = z[:, :L], z[:, L:]
            res["video.layer.%d.x" % i] = x
            res["video.layer.%d.groups" % i] = g
            if (i + 1) in self.grouping_after:
                g, info = self.grouping[k](
                    x, g, None if gumbel is None else gumbel[k], tau, assign_mode,
                    None if frozen is None else frozen[k])
                res["video.grouping.%d.groups" % k] = g
                res["video.grouping.%d.soft" % k] = info["soft"]
                res["video.grouping.%d.hard" % k] = info["hard"]
                res["_y_soft.%d" % k] = info["y_soft"]
                res["_groups_last"] = g
                k += 1
        res["_tokens"] = x  # (B, L, C) last-layer video tokens
        res["out.video_tokens"] = x.reshape(B, self.num_t, self.num_s, C)
        res["_video_pooled"] = self.norm(x.mean(dim=1))
        return res


class BertEmbeddings(nn.Module):
    def __init__(self, vocab, max_len, type_vocab, dim, eps):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)
        self.position_embeddings = nn.Embedding(max_len, dim)
        self.token_type_embeddings = nn.Embedding(type_vocab, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)

    def forward(self, ids):
        n = ids.shape[1]
        e = self.word_embeddings(ids) + self.position_embeddings.weight[:n]
        e = e + self.token_type_embeddings.weight[0]  # segment ids all 0
        return self.LayerNorm(e)


class BertSelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)

    def forward(self, h, mask):
        return multi_head_attention(self.query(h), self.key(h), self.value(h), self.heads, mask)


class BertSelfOutput(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)


class BertAttention(nn.Module):
    def __init__(self, dim, heads, eps):
        super().__init__()
        self.self = BertSelfAttention(dim, heads)
        self.output = BertSelfOutput(dim, eps)


class BertIntermediate(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.dense = nn.Linear(dim, hidden)


class BertOutput(nn.Module):
    def __init__(self, dim, hidden, eps):
        super().__init__()
        self.dense = nn.Linear(hidden, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=eps)


class BertLayer(nn.Module):
    """Post-norm BERT layer."""

    def __init__(self, dim, heads, hidden, eps):
        super().__init__()
        self.attention = BertAttention(dim, heads, eps)
        self.intermediate = BertIntermediate(dim, hidden)
        self.output = BertOutput(dim, hidden, eps)

    def forward(self, h, mask):
        a = self.attention.self(h, mask)
        h = self.attention.output.LayerNorm(self.attention.output.dense(a) + h)
        i = gelu(self.intermediate.dense(h))
        return self.output.LayerNorm(self.output.dense(i) + h)


class BertEncoder(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layer = nn.ModuleList(layers)


class TextEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        t = cfg["text"]
        C, eps = t["width"], t["layer_norm_eps"]
        self.embeddings = BertEmbeddings(t["vocab_size"], t["max_length"],
                                         t.get("type_vocab_size", 2), C, eps)
        self.encoder = BertEncoder(
            [BertLayer(C, t["heads"], t["mlp_hidden"], eps) for _ in range(t["depth"])])

    def forward(self, ids, mask):
        """ids, mask (N, len); returns the list of every layer's hidden states (N, len, C)."""
        h = self.embeddings(ids)
        states = []
        for layer in self.encoder.layer:
            h = layer(h, mask)
            states.append(h)
        return states


class SViLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D = cfg["embed_dim"]
        Cv, Ct = cfg["video"]["width"], cfg["text"]["width"]
        self.logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))
        self.grounding_logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))
        self.video = VideoEncoder(cfg)
        self.text = TextEncoder(cfg)
        self.video_proj = nn.Linear(Cv, D)
        self.text_proj = nn.Linear(Ct, D)
        self.temporal_proj = nn.Linear(Cv, D)
        self.group_proj = nn.Linear(Cv, D)

    def encode_text(self, ids, mask):
        states = self.text(ids, mask)
        return l2_normalize(self.text_proj(states[-1][:, 0])), states

    def forward(self, *args, **kwargs):
        return svilm_forward(self, *args, **kwargs)


class QaHead(nn.Module):
    """Video QA answer head (docs/model.md §8, §13): logits = fc2(GELU(fc1([v, q, v * q]))).

    v and q are the pooled video and question embeddings (B, D); fc1 is Linear(3D, hidden), fc2
    Linear(hidden, answers), exact erf GELU, no dropout. Under a parent module attribute
    `qa_head` the state_dict keys are `qa_head.fc1.{weight,bias}`, `qa_head.fc2.{weight,bias}`.
    """

    def __init__(self, embed_dim, hidden, answers):
        super().__init__()
        self.fc1 = nn.Linear(3 * embed_dim, hidden)
        self.fc2 = nn.Linear(hidden, answers)

    def forward(self, v, q):
        """Returns (logits (B, answers), features [v, q, v * q] (B, 3D))."""
        x = torch.cat([v, q, v * q], dim=-1)
        return self.fc2(gelu(self.fc1(x))), x


class QaModel(nn.Module):
    """Holds the head as `qa_head`, so that state_dict keys carry the C++ prefix."""

    def __init__(self, cfg):
        super().__init__()
        self.qa_head = QaHead(cfg["embed_dim"], cfg["hidden"], cfg["answers"])


def qa_loss(logits, targets):
    """Mean cross-entropy over the questions whose label is not -1 (answer outside the
    vocabulary), Decision D19."""
    return F.cross_entropy(logits, targets, ignore_index=-1, reduction="mean")


def spec_init_(model):
    """docs/model.md §2 / 11 default random init (Decision D17)."""
    tn = lambda p: nn.init.trunc_normal_(p, std=0.02, a=-0.04, b=0.04)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv3d)):
                tn(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                tn(m.weight)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        tn(model.video.pos_embed_spatial)
        tn(model.video.group_token)
        model.video.pos_embed_temporal.zero_()
        model.logit_scale.fill_(LOGIT_SCALE_INIT)
        model.grounding_logit_scale.fill_(LOGIT_SCALE_INIT)
    return model


def build_model(config_dict):
    """The model of docs/model.md for a config shaped like FIXTURE_CONFIG / BASE_CONFIG, initialised as docs/model.md §11 says."""
    return spec_init_(SViLM(config_dict))


# =========================================================================== losses (docs/model.md §5)

def contrastive_loss(v, c, logit_scale):
    """Symmetric InfoNCE; v, c (B, D) L2-normalised. Returns (loss, logits)."""
    scale = logit_scale.exp().clamp(max=100.0)
    logits = scale * (v @ c.t())  # rows: videos, columns: captions
    target = torch.arange(v.shape[0])
    loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
    return loss, logits


def temporal_grouping_loss(z, mask, tau):
    """z (B, N_t, D), mask (B, N_t) in {0, 1}. Returns (loss, p) (Decision D8)."""
    m = mask.to(z.dtype)
    n_fg, n_bg = m.sum(1), (1.0 - m).sum(1)
    f = (m[..., None] * z).sum(1) / n_fg.clamp_min(1.0)[:, None]
    b = ((1.0 - m)[..., None] * z).sum(1) / n_bg.clamp_min(1.0)[:, None]
    cf = cosine(z, f[:, None, :])
    cb = cosine(z, b[:, None, :])
    p = torch.softmax(torch.stack([cf, cb], dim=-1) / tau, dim=-1)[..., 0]
    valid = (n_fg > 0) & (n_bg > 0)  # samples with a scene change
    if bool(valid.any()):
        loss = ((p - m) ** 2)[valid].mean()
    else:
        loss = z.new_zeros(())
    return loss, p


def grounding_loss(n, g, noun_valid, logit_scale, tau_a):
    """n (B, K, D) noun embeddings, g (B, M, D) group embeddings, noun_valid (B, K).

    Returns (loss, s) with s (B, K, B) = s(i, k, j) (Decision D9).
    """
    B, K, D = n.shape
    M = g.shape[1]
    sim = (n.reshape(B * K, D) @ g.reshape(B * M, D).t()).reshape(B, K, B, M)
    a = torch.softmax(sim / tau_a, dim=-1)
    s = (a * sim).sum(-1)
    scale = logit_scale.exp().clamp(max=100.0)
    logits = (scale * s).reshape(B * K, B)
    target = torch.arange(B).repeat_interleave(K)
    valid = noun_valid.reshape(B * K) > 0.5
    if bool(valid.any()):
        loss = F.cross_entropy(logits[valid], target[valid])
    else:
        loss = n.new_zeros(())
    return loss, s


# =========================================================================== forward

def svilm_forward(model, blended, mask, caption_ids, caption_mask, prompt_ids=None,
                  prompt_mask=None, noun_valid=None, gumbel=None, losses=ALL_LOSSES,
                  assign_mode="hard", frozen=None):
    """Run the model and the enabled losses.

    blended (B, T, 3, H, W) cut-and-paste clips (normalised); mask (B, N_t); caption ids / mask
    (B, len); prompt ids / mask (B*K, len), row i*K + k; noun_valid (B, K); gumbel: list of
    (B, M, L) noise tensors, one per grouping block (training), or None (inference).
    Returns a dict: the MODEL_FIXTURES.md output keys, plus `loss.*`.
    """
    cfg = model.cfg
    out = model.video(blended, gumbel, cfg["gumbel_tau"], assign_mode, frozen)
    out["out.video_embed"] = l2_normalize(model.video_proj(out["_video_pooled"]))
    z = l2_normalize(model.temporal_proj(out["out.video_tokens"].mean(dim=2)))
    out["out.temporal_embed"] = z
    out["out.group_embed"] = l2_normalize(model.group_proj(out["_groups_last"]))
    c, states = model.encode_text(caption_ids, caption_mask)
    out["out.text_embed"] = c
    for i, h in enumerate(states):
        out["text.layer.%d" % i] = h
    zero = blended.new_zeros(())
    total = zero
    l_c = l_t = l_g = zero
    if "contrastive" in losses:
        l_c, out["out.contrastive_logits"] = contrastive_loss(
            out["out.video_embed"], c, model.logit_scale)
        total = total + l_c
    if "temporal" in losses:
        l_t, out["out.temporal_p"] = temporal_grouping_loss(z, mask, cfg["tau_temporal"])
        total = total + l_t
    if "grounding" in losses:
        B, K = noun_valid.shape
        n, _ = model.encode_text(prompt_ids, prompt_mask)
        n = n.reshape(B, K, -1)
        out["out.noun_embed"] = n
        l_g, out["out.grounding_scores"] = grounding_loss(
            n, out["out.group_embed"], noun_valid, model.grounding_logit_scale,
            cfg["tau_assign"])
        total = total + l_g
    out["loss.contrastive"], out["loss.temporal"], out["loss.grounding"] = l_c, l_t, l_g
    out["loss.total"] = total
    return out


# =========================================================================== cut-and-paste (docs/model.md §4)

def cut_and_paste(clips, tubelet, background, fg_start, fg_end):
    """Blend: frames [t*s, t*(e+1)) from clip i, all others from clip background[i].

    Returns (blended (B, T, 3, H, W), mask (B, N_t))."""
    B, T = clips.shape[:2]
    nt = T // tubelet
    blended = clips[torch.as_tensor(background)].clone()
    mask = torch.zeros(B, nt, dtype=clips.dtype)
    for i in range(B):
        s, e = int(fg_start[i]), int(fg_end[i])
        blended[i, tubelet * s:tubelet * (e + 1)] = clips[i, tubelet * s:tubelet * (e + 1)]
        mask[i, s:e + 1] = 1.0
    return blended, mask


def draw_cut_and_paste(batch, num_t, gen):
    """docs/model.md §4's draw on `gen` (Decision D16): derangement, then d_i, s_i for i = 0..B-1."""
    assert batch >= 2 and num_t >= 2
    while True:
        perm = torch.randperm(batch, generator=gen)
        if not bool((perm == torch.arange(batch)).any()):
            break
    lo = -(-num_t // 4)
    hi = min(-(-3 * num_t // 4), num_t - 1)
    starts, ends = [], []
    for _ in range(batch):
        d = int(torch.randint(lo, hi + 1, (1,), generator=gen))
        s = int(torch.randint(0, num_t - d + 1, (1,), generator=gen))
        starts.append(s)
        ends.append(s + d - 1)
    return perm.tolist(), starts, ends


# =========================================================================== safetensors

DTYPES = {torch.float64: ("F64", "<f8", 8), torch.float32: ("F32", "<f4", 4),
          torch.int64: ("I64", "<i8", 8)}


def safetensors_bytes(tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous()
        name, np_dtype, _ = DTYPES[t.dtype]
        data = t.numpy().astype(np_dtype, copy=False).tobytes()
        header[key] = {"dtype": name, "shape": list(t.shape),
                       "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(blobs)


def read_safetensors(raw):
    """Independent re-read: checks the layout and returns ({key: tensor}, metadata)."""
    (n,) = struct.unpack_from("<Q", raw, 0)
    assert n % 8 == 0 and 8 + n <= len(raw), "bad header length"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    inv = {v[0]: (k, v[2]) for k, v in DTYPES.items()}
    out, pos = {}, 0
    for key in sorted(header):
        e = header[key]
        b, end = e["data_offsets"]
        dtype, size = inv[e["dtype"]]
        count = 1
        for s in e["shape"]:
            count *= s
        assert b == pos and end - b == count * size, key
        buf = bytearray(raw[8 + n + b:8 + n + end])
        out[key] = torch.frombuffer(buf, dtype=dtype).reshape(e["shape"]) if count else \
            torch.zeros(e["shape"], dtype=dtype)
        pos = end
    assert 8 + n + pos == len(raw), "trailing or missing bytes"
    return out, meta


def metadata(seed, config=FIXTURE_CONFIG):
    return {"config": json.dumps(config, sort_keys=True, separators=(",", ":")),
            "generator": "svilm_ref.py", "seed": str(seed), "torch": torch.__version__}


# =========================================================================== model fixture

def layer_norm_param_names(model):
    names = set()
    for mname, m in model.named_modules():
        if isinstance(m, nn.LayerNorm):
            names.add(mname + ".weight")
            names.add(mname + ".bias")
    return names


def fixture_weights_(model, gen):
    """MODEL_FIXTURES.md weights (Decision D12 for the draw order)."""
    ln = layer_norm_param_names(model)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in sorted(params):
            p = params[name]
            if name in ("logit_scale", "grounding_logit_scale"):
                p.fill_(LOGIT_SCALE_INIT)
                continue
            r = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if name.endswith(".bias"):
                p.copy_(0.1 * r)
            elif name in ln:
                p.copy_(1.0 + 0.1 * r)
            else:
                p.copy_(0.25 * r)


def id_rows(gen, lengths, max_len):
    ids = torch.randint(5, 50, (len(lengths), max_len), generator=gen, dtype=torch.int64)
    mask = torch.zeros(len(lengths), max_len, dtype=torch.int64)
    for r, n in enumerate(lengths):
        ids[r, 0] = 1
        ids[r, n - 1] = 2
        ids[r, n:] = 0
        mask[r, :n] = 1
    return ids, mask


def fixture_inputs(gen, cfg):
    v = cfg["video"]
    B, K = 3, cfg["num_nouns"]
    L = (v["frames"] // v["tubelet"]) * (v["image_size"] // v["patch_size"]) ** 2
    M = v["num_group_tokens"]
    inp = {}
    clips = torch.randn(B, v["frames"], 3, v["image_size"], v["image_size"], generator=gen,
                        dtype=torch.float64)
    background, fg_start, fg_end = [1, 2, 0], [1, 0, 2], [2, 2, 2]
    blended, mask = cut_and_paste(clips, v["tubelet"], background, fg_start, fg_end)
    inp["input.clips"] = clips
    inp["input.background"] = torch.tensor(background, dtype=torch.int64)
    inp["input.fg_start"] = torch.tensor(fg_start, dtype=torch.int64)
    inp["input.fg_end"] = torch.tensor(fg_end, dtype=torch.int64)
    inp["input.blended"] = blended
    inp["input.mask"] = mask
    inp["input.caption_ids"], inp["input.caption_mask"] = id_rows(
        gen, [10, 6, 4], cfg["text"]["max_length"])
    inp["input.prompt_ids"], inp["input.prompt_mask"] = id_rows(
        gen, [7, 5, 6, 2, 2, 2], cfg["text"]["max_length"])
    inp["input.noun_valid"] = torch.tensor([[1, 1], [1, 0], [0, 0]], dtype=torch.float64)
    assert inp["input.noun_valid"].shape == (B, K)
    for k in range(len(v["grouping_after"])):
        u = torch.rand(B, M, L, generator=gen, dtype=torch.float64)
        u = 1e-6 + (1.0 - 2e-6) * u
        inp["gumbel.%d" % k] = -torch.log(-torch.log(u))
    return inp


def run_inputs(inp, gumbel=True):
    args = dict(blended=inp["input.blended"], mask=inp["input.mask"],
                caption_ids=inp["input.caption_ids"], caption_mask=inp["input.caption_mask"],
                prompt_ids=inp["input.prompt_ids"], prompt_mask=inp["input.prompt_mask"],
                noun_valid=inp["input.noun_valid"])
    if gumbel:
        k = 0
        noise = []
        while "gumbel.%d" % k in inp:
            noise.append(inp["gumbel.%d" % k])
            k += 1
        args["gumbel"] = noise
    return args


NO_DECAY_EXTRA = ("video.pos_embed_spatial", "video.pos_embed_temporal", "video.group_token",
                  "logit_scale", "grounding_logit_scale")


def adamw_groups(model):
    ln = layer_norm_param_names(model)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if (name.endswith(".bias") or name in ln or name.startswith("text.embeddings.")
                or name in NO_DECAY_EXTRA):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": 0.05},
            {"params": no_decay, "weight_decay": 0.0}]


ADAMW_FINAL = ("video.patch_embed.proj.weight", "video.group_token", "logit_scale",
               "text.embeddings.word_embeddings.weight", "video.grouping.2.assign.q_proj.weight")


def make_fixture_model():
    gen = torch.Generator().manual_seed(FIXTURE_SEED)
    model = SViLM(FIXTURE_CONFIG).double()
    fixture_weights_(model, gen)
    inp = fixture_inputs(gen, FIXTURE_CONFIG)
    return model, inp


def model_fixture_tensors():
    model, inp = make_fixture_model()
    tensors = {}
    for name, p in model.state_dict().items():
        tensors["weight." + name] = p.clone()
    tensors.update(inp)

    # Training-mode forward and gradients.
    model.zero_grad()
    out = svilm_forward(model, **run_inputs(inp))
    out["loss.total"].backward()
    for key, val in out.items():
        if not key.startswith("_"):
            tensors[key] = val.detach().clone()
    for name, p in model.named_parameters():
        tensors["grad." + name] = p.grad.detach().clone()

    # Inference mode: no noise.
    with torch.no_grad():
        ev = svilm_forward(model, **run_inputs(inp, gumbel=False))
    for k in range(len(FIXTURE_CONFIG["video"]["grouping_after"])):
        tensors["eval.video.grouping.%d.hard" % k] = ev["video.grouping.%d.hard" % k].clone()
    tensors["eval.out.group_embed"] = ev["out.group_embed"].clone()
    tensors["eval.out.video_embed"] = ev["out.video_embed"].clone()

    # AdamW run from the fixture weights.
    adam_model, _ = make_fixture_model()
    opt = torch.optim.AdamW(adamw_groups(adam_model), lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.05, amsgrad=False, foreach=False)
    totals, terms = [], []
    for step in range(6):
        opt.zero_grad()
        o = svilm_forward(adam_model, **run_inputs(inp))
        totals.append(o["loss.total"].detach().clone())
        terms.append(torch.stack([o["loss.contrastive"], o["loss.temporal"],
                                  o["loss.grounding"]]).detach().clone())
        if step < 5:
            o["loss.total"].backward()
            opt.step()
    tensors["adamw.loss_total"] = torch.stack(totals)
    tensors["adamw.loss_terms"] = torch.stack(terms)
    params = dict(adam_model.named_parameters())
    for name in ADAMW_FINAL:
        tensors["adamw.final." + name] = params[name].detach().clone()

    for key, t in tensors.items():
        assert t.dtype in (torch.float64, torch.int64), key
    return tensors


# =========================================================================== checkpoints

def _ckpt_draw(gen, shapes):
    """shapes: {key: shape}; LayerNorm weights are the keys marked by `_is_ln_weight`."""
    out = {}
    for key in sorted(shapes):
        r = torch.randn(shapes[key], generator=gen, dtype=torch.float32)
        out[key] = 1.0 + 0.1 * r if _is_ln_weight(key) else 0.25 * r
    return out


def _is_ln_weight(key):
    if not key.endswith(".weight"):
        return False
    mod = key[:-len(".weight")].split(".")[-1]
    return mod in ("norm", "norm1", "norm2", "layernorm", "layernorm_before",
                   "layernorm_after", "LayerNorm")


def timm_shapes(cfg):
    v = cfg["video"]
    C, H, p = v["width"], v["mlp_hidden"], v["patch_size"]
    ns = (v["image_size"] // p) ** 2
    s = {"cls_token": (1, 1, C), "pos_embed": (1, 1 + ns, C),
         "patch_embed.proj.weight": (C, 3, p, p), "patch_embed.proj.bias": (C,),
         "norm.weight": (C,), "norm.bias": (C,), "head.weight": (10, C), "head.bias": (10,)}
    for i in range(v["depth"]):
        b = "blocks.%d." % i
        for n in ("norm1", "norm2"):
            s[b + n + ".weight"] = (C,)
            s[b + n + ".bias"] = (C,)
        s[b + "attn.qkv.weight"], s[b + "attn.qkv.bias"] = (3 * C, C), (3 * C,)
        s[b + "attn.proj.weight"], s[b + "attn.proj.bias"] = (C, C), (C,)
        s[b + "mlp.fc1.weight"], s[b + "mlp.fc1.bias"] = (H, C), (H,)
        s[b + "mlp.fc2.weight"], s[b + "mlp.fc2.bias"] = (C, H), (C,)
    return s


def hf_vit_shapes(cfg):
    v = cfg["video"]
    C, H, p = v["width"], v["mlp_hidden"], v["patch_size"]
    ns = (v["image_size"] // p) ** 2
    e = "vit.embeddings."
    s = {e + "cls_token": (1, 1, C), e + "position_embeddings": (1, 1 + ns, C),
         e + "patch_embeddings.projection.weight": (C, 3, p, p),
         e + "patch_embeddings.projection.bias": (C,),
         "vit.layernorm.weight": (C,), "vit.layernorm.bias": (C,),
         "classifier.weight": (10, C), "classifier.bias": (10,)}
    for i in range(v["depth"]):
        b = "vit.encoder.layer.%d." % i
        for n in ("layernorm_before", "layernorm_after"):
            s[b + n + ".weight"] = (C,)
            s[b + n + ".bias"] = (C,)
        for n in ("query", "key", "value"):
            s[b + "attention.attention." + n + ".weight"] = (C, C)
            s[b + "attention.attention." + n + ".bias"] = (C,)
        s[b + "attention.output.dense.weight"] = (C, C)
        s[b + "attention.output.dense.bias"] = (C,)
        s[b + "intermediate.dense.weight"], s[b + "intermediate.dense.bias"] = (H, C), (H,)
        s[b + "output.dense.weight"], s[b + "output.dense.bias"] = (C, H), (C,)
    return s


def hf_bert_shapes(cfg):
    t = cfg["text"]
    C, H, V = t["width"], t["mlp_hidden"], t["vocab_size"]
    e = "bert.embeddings."
    s = {e + "word_embeddings.weight": (V, C), e + "position_embeddings.weight": (10, C),
         e + "token_type_embeddings.weight": (t.get("type_vocab_size", 2), C),
         e + "LayerNorm.weight": (C,), e + "LayerNorm.bias": (C,),
         "bert.pooler.dense.weight": (C, C), "bert.pooler.dense.bias": (C,),
         "cls.predictions.bias": (V,),
         "cls.predictions.transform.dense.weight": (C, C),
         "cls.predictions.transform.dense.bias": (C,),
         "cls.predictions.transform.LayerNorm.weight": (C,),
         "cls.predictions.transform.LayerNorm.bias": (C,)}
    for i in range(t["depth"]):
        b = "bert.encoder.layer.%d." % i
        for n in ("query", "key", "value"):
            s[b + "attention.self." + n + ".weight"] = (C, C)
            s[b + "attention.self." + n + ".bias"] = (C,)
        s[b + "attention.output.dense.weight"] = (C, C)
        s[b + "attention.output.dense.bias"] = (C,)
        s[b + "attention.output.LayerNorm.weight"] = (C,)
        s[b + "attention.output.LayerNorm.bias"] = (C,)
        s[b + "intermediate.dense.weight"], s[b + "intermediate.dense.bias"] = (H, C), (H,)
        s[b + "output.dense.weight"], s[b + "output.dense.bias"] = (C, H), (C,)
        s[b + "output.LayerNorm.weight"] = (C,)
        s[b + "output.LayerNorm.bias"] = (C,)
    return s


def inflate_patch(w, tubelet):
    """(C, 3, p, p) -> (C, 3, t, p, p): w[:, :, None] / t repeated over t."""
    return (w[:, :, None] / tubelet).repeat(1, 1, tubelet, 1, 1)


def convert_timm(sd, cfg):
    t = cfg["video"]["tubelet"]
    out = {"video.patch_embed.proj.weight": inflate_patch(sd["patch_embed.proj.weight"], t),
           "video.patch_embed.proj.bias": sd["patch_embed.proj.bias"].clone(),
           "video.pos_embed_spatial": sd["pos_embed"][0, 1:].clone(),
           "video.norm.weight": sd["norm.weight"].clone(),
           "video.norm.bias": sd["norm.bias"].clone()}
    for key, val in sd.items():
        if key.startswith("blocks."):
            out["video." + key] = val.clone()
    return out


def convert_hf_vit(sd, cfg):
    t = cfg["video"]["tubelet"]
    e = "vit.embeddings."
    out = {"video.patch_embed.proj.weight":
           inflate_patch(sd[e + "patch_embeddings.projection.weight"], t),
           "video.patch_embed.proj.bias": sd[e + "patch_embeddings.projection.bias"].clone(),
           "video.pos_embed_spatial": sd[e + "position_embeddings"][0, 1:].clone(),
           "video.norm.weight": sd["vit.layernorm.weight"].clone(),
           "video.norm.bias": sd["vit.layernorm.bias"].clone()}
    for i in range(cfg["video"]["depth"]):
        b, o = "vit.encoder.layer.%d." % i, "video.blocks.%d." % i
        for x in ("weight", "bias"):
            out[o + "norm1." + x] = sd[b + "layernorm_before." + x].clone()
            out[o + "norm2." + x] = sd[b + "layernorm_after." + x].clone()
            out[o + "attn.qkv." + x] = torch.cat(
                [sd[b + "attention.attention.%s.%s" % (n, x)] for n in ("query", "key", "value")],
                dim=0)
            out[o + "attn.proj." + x] = sd[b + "attention.output.dense." + x].clone()
            out[o + "mlp.fc1." + x] = sd[b + "intermediate.dense." + x].clone()
            out[o + "mlp.fc2." + x] = sd[b + "output.dense." + x].clone()
    return out


def convert_hf_bert(sd, cfg):
    n = cfg["text"]["max_length"]
    out = {}
    for key, val in sd.items():
        if key.startswith("bert.embeddings.") or key.startswith("bert.encoder."):
            name = "text." + key[len("bert."):]
            out[name] = val[:n].clone() if name.endswith("position_embeddings.weight") \
                else val.clone()
    return out


def checkpoint_tensors():
    gen = torch.Generator().manual_seed(CKPT_SEED)
    timm = _ckpt_draw(gen, timm_shapes(FIXTURE_CONFIG))
    hf = _ckpt_draw(gen, hf_vit_shapes(FIXTURE_CONFIG))
    bert = _ckpt_draw(gen, hf_bert_shapes(FIXTURE_CONFIG))
    expected = {}
    for prefix, conv in (("timm.", convert_timm(timm, FIXTURE_CONFIG)),
                         ("hf.", convert_hf_vit(hf, FIXTURE_CONFIG)),
                         ("bert.", convert_hf_bert(bert, FIXTURE_CONFIG))):
        for k, v in conv.items():
            expected[prefix + k] = v
    return {"ckpt_vit_timm.safetensors": timm, "ckpt_vit_hf.safetensors": hf,
            "ckpt_bert_hf.safetensors": bert, "ckpt_expected.safetensors": expected}


# =========================================================================== video QA head

def make_qa_fixture_model():
    """The head with the fixture weights and its inputs (Decision D20 for the draws)."""
    cfg = QA_FIXTURE_CONFIG
    gen = torch.Generator().manual_seed(QA_SEED)
    model = QaModel(cfg).double()
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in sorted(params):
            r = torch.randn(params[name].shape, generator=gen, dtype=torch.float64)
            params[name].copy_((0.1 if name.endswith(".bias") else 0.5) * r)
    B, D, K = cfg["batch"], cfg["embed_dim"], cfg["answers"]
    inp = {"input.v": torch.randn(B, D, generator=gen, dtype=torch.float64),
           "input.q": torch.randn(B, D, generator=gen, dtype=torch.float64),
           "input.dy": torch.randn(B, K, generator=gen, dtype=torch.float64),
           "input.targets": torch.tensor(QA_TARGETS, dtype=torch.int64),
           "input.targets_all": torch.tensor(QA_TARGETS_ALL, dtype=torch.int64)}
    return model, inp


def qa_fixture_tensors():
    model, inp = make_qa_fixture_model()
    tensors = {"weight." + name: p.detach().clone() for name, p in model.state_dict().items()}
    tensors.update(inp)
    # three backward passes from the same forward values: the loss with two questions left out,
    # the loss over all questions, and an upstream gradient dy on the logits
    for tag, upstream in (("", "targets"), ("_all", "targets_all"), ("dy", None)):
        model.zero_grad()
        v = inp["input.v"].clone().requires_grad_(True)
        q = inp["input.q"].clone().requires_grad_(True)
        logits, features = model.qa_head(v, q)
        logits.retain_grad()
        if upstream is None:
            logits.backward(inp["input.dy"])
            prefix = "dy_grad."
        else:
            loss = qa_loss(logits, inp["input." + upstream])
            loss.backward()
            tensors["loss" + tag] = loss.detach().clone()
            tensors["grad%s.logits" % tag] = logits.grad.detach().clone()
            prefix = "grad%s." % tag
        tensors[prefix + "v"] = v.grad.detach().clone()
        tensors[prefix + "q"] = q.grad.detach().clone()
        for name, p in model.named_parameters():
            tensors[prefix + name] = p.grad.detach().clone()
        tensors["out.logits"] = logits.detach().clone()
        tensors["out.features"] = features.detach().clone()
    for key, t in tensors.items():
        assert t.dtype in (torch.float64, torch.int64), key
    return tensors


CKPT_FILES = ("ckpt_vit_timm.safetensors", "ckpt_vit_hf.safetensors", "ckpt_bert_hf.safetensors",
              "ckpt_expected.safetensors")


def all_files(only=None):
    """{file name: bytes} of every fixture file, or of those named in `only` (only the files
    asked for are computed)."""
    groups = [(("svilm_tiny_fixture.safetensors",),
               lambda: {"svilm_tiny_fixture.safetensors":
                        safetensors_bytes(model_fixture_tensors(), metadata(FIXTURE_SEED))}),
              (CKPT_FILES, lambda: {name: safetensors_bytes(tensors, metadata(CKPT_SEED))
                                    for name, tensors in checkpoint_tensors().items()}),
              ((QA_FIXTURE_FILE,),
               lambda: {QA_FIXTURE_FILE: safetensors_bytes(
                   qa_fixture_tensors(), metadata(QA_SEED, QA_FIXTURE_CONFIG))})]
    known = [name for names, _ in groups for name in names]
    unknown = sorted(set(only or ()) - set(known))
    assert not unknown, "no fixture file named %s (files: %s)" % (unknown, ", ".join(known))
    files = {}
    for names, make in groups:
        if not only or set(names) & set(only):
            files.update(make())
    assert set(files) == set(known) or only, sorted(files)
    return {name: data for name, data in files.items() if not only or name in only}


def file_config(name):
    """The config a fixture file's metadata carries."""
    return QA_FIXTURE_CONFIG if name == QA_FIXTURE_FILE else FIXTURE_CONFIG


# =========================================================================== self-checks

def spec_parameter_names(cfg):
    """docs/model.md §11's parameter list, expanded for a config."""
    names = ["logit_scale", "grounding_logit_scale", "video.patch_embed.proj.weight",
             "video.patch_embed.proj.bias", "video.pos_embed_spatial", "video.pos_embed_temporal",
             "video.group_token", "video.norm.weight", "video.norm.bias"]
    wb = ("weight", "bias")
    for i in range(cfg["video"]["depth"]):
        b = "video.blocks.%d." % i
        names += [b + "%s.%s" % (n, x) for n in ("norm1", "norm2") for x in wb]
        names += [b + "attn.%s.%s" % (n, x) for n in ("qkv", "proj") for x in wb]
        names += [b + "mlp.%s.%s" % (n, x) for n in ("fc1", "fc2") for x in wb]
    for k in range(len(cfg["video"]["grouping_after"])):
        g = "video.grouping.%d." % k
        names += [g + "%s.%s" % (n, x) for n in ("norm_tokens", "norm_x", "norm_new_x")
                  for x in wb]
        names += [g + "mlp_inter.%s.%s" % (n, x) for n in ("fc1", "fc2") for x in wb]
        names += [g + "pre_assign_attn.attn.%s.%s" % (n, x)
                  for n in ("q_proj", "k_proj", "v_proj", "proj") for x in wb]
        names += [g + "pre_assign_attn.%s.%s" % (n, x) for n in ("norm2", "norm_post")
                  for x in wb]
        names += [g + "pre_assign_attn.mlp.%s.%s" % (n, x) for n in ("fc1", "fc2") for x in wb]
        names += [g + "assign.%s.%s" % (n, x) for n in ("q_proj", "k_proj", "v_proj", "proj")
                  for x in wb]
        names += [g + "mlp_channels.%s.%s" % (n, x) for n in ("fc1", "fc2") for x in wb]
    names += ["text.embeddings.%s.weight" % n for n in
              ("word_embeddings", "position_embeddings", "token_type_embeddings")]
    names += ["text.embeddings.LayerNorm.%s" % x for x in wb]
    for i in range(cfg["text"]["depth"]):
        b = "text.encoder.layer.%d." % i
        names += [b + "attention.self.%s.%s" % (n, x) for n in ("query", "key", "value")
                  for x in wb]
        names += [b + "attention.output.%s.%s" % (n, x) for n in ("dense", "LayerNorm")
                  for x in wb]
        names += [b + "intermediate.dense.%s" % x for x in wb]
        names += [b + "output.%s.%s" % (n, x) for n in ("dense", "LayerNorm") for x in wb]
    names += ["%s.%s" % (n, x) for n in ("video_proj", "text_proj", "temporal_proj", "group_proj")
              for x in wb]
    return names


def _gradcheck(name, fn, inputs):
    ok = torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)
    assert ok, name
    print("  gradcheck %-44s OK (%d inputs, %d elements)"
          % (name, len(inputs), sum(t.numel() for t in inputs)))


def check_grouping_block():
    gen = torch.Generator().manual_seed(7)
    B, M, L, C, heads = 2, 3, 6, 8, 2
    blk = GroupingBlock(C, M, heads, 1e-6).double()
    with torch.no_grad():
        for name, p in blk.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.copy_(1.0 + 0.1 * r if ("norm" in name and name.endswith("weight")) else 0.5 * r)
    x = torch.randn(B, L, C, generator=gen, dtype=torch.float64)
    g = torch.randn(B, M, C, generator=gen, dtype=torch.float64)
    noise = -torch.log(-torch.log(torch.rand(B, M, L, generator=gen, dtype=torch.float64)
                                  .clamp(1e-6, 1 - 1e-6)))
    names = [n for n, _ in blk.named_parameters()]
    base = [p.detach().clone() for p in blk.parameters()]

    def call(mode, frozen=None, nz=noise):
        def f(x_, g_, *ps):
            out, info = stateless.functional_call(
                blk, dict(zip(names, ps)), (x_, g_), dict(noise=nz, tau=1.0,
                                                          assign_mode=mode, frozen=frozen))
            return out
        return f

    leaves = lambda: [x.clone().requires_grad_(True), g.clone().requires_grad_(True)] + \
        [p.clone().requires_grad_(True) for p in base]
    _gradcheck("grouping block, soft assignment (+params)", call("soft"), tuple(leaves()))

    # Straight-through: frozen constants from the base point give the ST gradient exactly.
    with torch.no_grad():
        _, info = blk(x, g, noise, 1.0, "hard")
    frozen = (info["hard"], info["y_soft"])
    _gradcheck("grouping block, straight-through (+params)", call("frozen", frozen),
               tuple(leaves()))
    dy = torch.randn(B, M, C, generator=gen, dtype=torch.float64)
    la, lb = leaves(), leaves()
    ga = torch.autograd.grad((call("hard")(*la) * dy).sum(), la)
    gb = torch.autograd.grad((call("frozen", frozen)(*lb) * dy).sum(), lb)
    err = max(float((a - b).abs().max()) for a, b in zip(ga, gb))
    assert err < 1e-12, err
    print("  ST backward == gradient of frozen-ST function (max diff %.1e)" % err)
    # Inference mode (no noise) too.
    with torch.no_grad():
        _, info = blk(x, g, None, 1.0, "hard")
    _gradcheck("grouping block, inference ST (+params)",
               call("frozen", (info["hard"], info["y_soft"]), None), tuple(leaves()))


def check_losses():
    gen = torch.Generator().manual_seed(8)
    r = lambda *s: torch.randn(*s, generator=gen, dtype=torch.float64)
    v, c = r(4, 5), r(4, 5)
    scale = torch.tensor(LOGIT_SCALE_INIT, dtype=torch.float64)
    _gradcheck("contrastive loss (v, c, logit_scale)",
               lambda a, b, s: contrastive_loss(l2_normalize(a), l2_normalize(b), s)[0],
               (v.requires_grad_(), c.requires_grad_(), scale.clone().requires_grad_()))
    z = r(4, 5, 6)
    mask = torch.tensor([[0, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
                        dtype=torch.float64)  # rows 1 and 3: no scene change, excluded
    _gradcheck("temporal grouping loss (z)",
               lambda a: temporal_grouping_loss(l2_normalize(a), mask, 0.1)[0],
               (z.clone().requires_grad_(),))
    zl = z.clone().requires_grad_()
    temporal_grouping_loss(l2_normalize(zl), mask, 0.1)[0].backward()
    assert bool((zl.grad[[1, 3]] == 0).all()) and bool((zl.grad[[0, 2]] != 0).any())
    print("  temporal loss: excluded samples get exactly zero gradient")
    n, gg = r(3, 2, 6), r(3, 4, 6)
    valid = torch.tensor([[1, 1], [1, 0], [0, 0]], dtype=torch.float64)
    _gradcheck("grounding loss (n, g, grounding_logit_scale)",
               lambda a, b, s: grounding_loss(l2_normalize(a), l2_normalize(b), valid, s, 0.1)[0],
               (n.requires_grad_(), gg.requires_grad_(), scale.clone().requires_grad_()))


def check_qa_head():
    """The QA head: autograd against finite differences, the features' layout, and the loss's
    treatment of label -1 (Decision D19)."""
    model, inp = make_qa_fixture_model()
    head = model.qa_head
    names = [n for n, _ in head.named_parameters()]
    base = [p.detach().clone() for p in head.parameters()]
    v, q = inp["input.v"], inp["input.q"]
    targets = inp["input.targets"]

    def logits_of(v_, q_, *ps):
        return stateless.functional_call(head, dict(zip(names, ps)), (v_, q_))[0]

    leaves = lambda: tuple([v.clone().requires_grad_(True), q.clone().requires_grad_(True)] +
                           [p.clone().requires_grad_(True) for p in base])
    _gradcheck("qa head logits (v, q, +params)", logits_of, leaves())
    _gradcheck("qa head loss, label -1 rows (v, q, +params)",
               lambda *a: qa_loss(logits_of(*a), targets), leaves())
    with torch.no_grad():
        logits, x = model.qa_head(v, q)
    D = QA_FIXTURE_CONFIG["embed_dim"]
    assert bool((x[:, :D] == v).all() and (x[:, D:2 * D] == q).all()
                and (x[:, 2 * D:] == v * q).all())
    kept = targets >= 0
    manual = (torch.logsumexp(logits[kept], -1) - logits[kept].gather(1, targets[kept, None])[:, 0])
    err = float((qa_loss(logits, targets) - manual.mean()).abs())
    assert err < 1e-14, err
    lg = logits.clone().requires_grad_(True)
    qa_loss(lg, targets).backward()
    assert bool((lg.grad[~kept] == 0).all()) and bool((lg.grad[kept] != 0).all())
    print("  qa head: x == [v, q, v * q]; loss == mean over labels != -1 (%.1e); "
          "rows at -1 get zero gradient" % err)


def check_full_model_directional(model, inp):
    """Central-difference directional derivative of loss.total vs autograd, hard maps frozen."""
    args = run_inputs(inp)
    with torch.no_grad():
        o = svilm_forward(model, **args)
    frozen = [(o["video.grouping.%d.hard" % k], o["_y_soft.%d" % k])
              for k in range(len(model.video.grouping))]
    model.zero_grad()
    svilm_forward(model, **args)["loss.total"].backward()
    gen = torch.Generator().manual_seed(9)
    params = list(model.parameters())
    dirs = [torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in params]
    norm = math.sqrt(sum(float((d * d).sum()) for d in dirs))
    dirs = [d / norm for d in dirs]  # unit direction over all parameters
    analytic = sum(float((p.grad * d).sum()) for p, d in zip(params, dirs))
    h = 1e-4  # truncation error ~h^2 (measured: 1e-2 -> 1e-5, 1e-3 -> 1e-7, 1e-4 -> 1e-9)
    vals = []
    for sign in (1.0, -1.0):
        with torch.no_grad():
            for p, d in zip(params, dirs):
                p.add_(sign * h * d)
            vals.append(float(svilm_forward(model, assign_mode="frozen", frozen=frozen,
                                            **args)["loss.total"]))
            for p, d in zip(params, dirs):
                p.sub_(sign * h * d)
    numeric = (vals[0] - vals[1]) / (2 * h)
    rel = abs(numeric - analytic) / max(abs(analytic), 1e-12)
    assert rel < 1e-7, (numeric, analytic)
    print("  full model directional derivative: autograd %.12f, finite diff %.12f (rel %.1e)"
          % (analytic, numeric, rel))
    model.zero_grad()


def self_check():
    print("self-check")
    model, inp = make_fixture_model()
    # 1. Parameter names.
    got, want = list(model.state_dict().keys()), spec_parameter_names(FIXTURE_CONFIG)
    assert sorted(got) == sorted(want) and len(got) == len(set(got)), \
        set(got).symmetric_difference(want)
    base = list(SViLM(BASE_CONFIG).state_dict().keys())
    assert sorted(base) == sorted(spec_parameter_names(BASE_CONFIG))
    print("  state_dict keys == docs/model.md §11 names (%d tiny, %d base)" % (len(got), len(base)))
    # 2. Patch embedding == Conv3d; inflated 2-D patch on a static clip == image patch.
    clips = inp["input.blended"]
    ref = F.conv3d(clips.permute(0, 2, 1, 3, 4), model.video.patch_embed.proj.weight,
                   model.video.patch_embed.proj.bias, stride=(2, 16, 16))
    ref = ref.flatten(2).transpose(1, 2)
    err = float((model.video.patch_embed(clips) - ref).abs().max())
    assert err < 1e-12, err
    w2 = torch.randn(16, 3, 16, 16, dtype=torch.float64)
    frame = clips[:, :1]
    static = frame.expand(-1, 8, -1, -1, -1)
    pe = PatchEmbed(16, 16, 2).double()
    with torch.no_grad():
        pe.proj.weight.copy_(inflate_patch(w2, 2))
        pe.proj.bias.zero_()
    img = F.conv2d(frame[:, 0], w2, stride=16).flatten(2).transpose(1, 2)
    err2 = float((pe(static)[:, :4] - img).abs().max())
    assert err2 < 1e-12, err2
    print("  patch embedding == F.conv3d (%.1e); inflated patch on a static clip == image "
          "patch (%.1e)" % (err, err2))
    # 3. Training forward: finite losses, one-hot maps, nonzero gradients.
    model.zero_grad()
    out = svilm_forward(model, **run_inputs(inp))
    out["loss.total"].backward()
    for k in ALL_LOSSES + ("total",):
        assert math.isfinite(float(out["loss." + k])) and float(out["loss." + k]) > 0, k
    print("  losses finite and > 0: " + ", ".join(
        "%s %.6f" % (k, float(out["loss." + k])) for k in ALL_LOSSES + ("total",)))
    with torch.no_grad():
        ev = svilm_forward(model, **run_inputs(inp, gumbel=False))
    for tag, o in (("train", out), ("eval", ev)):
        for k in range(len(model.video.grouping)):
            h = o["video.grouping.%d.hard" % k]
            assert bool(((h == 0) | (h == 1)).all()) and bool((h.sum(1) == 1).all()), (tag, k)
            y = o["_y_soft.%d" % k]
            assert bool((h.argmax(1) == y.argmax(1)).all())
    print("  hard maps are one-hot over groups (train and eval)")
    zero = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.any())]
    for name in zero:
        print("  ZERO GRADIENT: %s" % name)
    assert not zero
    # Expected all-zero slices (not whole tensors): word embedding rows of ids that occur
    # nowhere at an unpadded position of a caption or of a valid noun's prompt (padded
    # positions never reach [CLS] since padded keys are masked, and invalid nouns are
    # excluded from the loss; so the padding id 0 gets no gradient), and
    # token_type_embeddings row 1 (segment ids are all 0).
    wg = model.text.embeddings.word_embeddings.weight.grad
    cap_ids, cap_mask = inp["input.caption_ids"], inp["input.caption_mask"]
    pr_ids = inp["input.prompt_ids"]
    pr_mask = inp["input.prompt_mask"] * (inp["input.noun_valid"].reshape(-1, 1) > 0.5)
    used = set(cap_ids[cap_mask > 0].tolist()) | set(pr_ids[pr_mask > 0].tolist())
    zero_rows = [r for r in range(wg.shape[0]) if not bool(wg[r].any())]
    assert sorted(zero_rows) == sorted(set(range(wg.shape[0])) - used)
    assert not bool(model.text.embeddings.token_type_embeddings.weight.grad[1].any())
    print("  every parameter has a nonzero gradient (all-zero rows only where expected: "
          "%d unused word ids, token_type row 1)" % len(zero_rows))
    # 4. SDPA path == explicit path (torch >= 2.0 only).
    global USE_SDPA
    if hasattr(F, "scaled_dot_product_attention"):
        USE_SDPA = True
        try:
            with torch.no_grad():
                o2 = svilm_forward(model, **run_inputs(inp))
        finally:
            USE_SDPA = False
        err = float((o2["loss.total"] - out["loss.total"]).abs())
        assert err < 1e-10, err
        print("  SDPA path == explicit path (%.1e)" % err)
    else:
        print("  SDPA path: skipped (torch %s has no scaled_dot_product_attention)"
              % torch.__version__)
    # 5. Gradchecks.
    check_grouping_block()
    check_losses()
    check_full_model_directional(model, inp)
    # 6. Cut-and-paste sampler and blend.
    gen = torch.Generator().manual_seed(3)
    for _ in range(50):
        bg, s, e = draw_cut_and_paste(3, 4, gen)
        assert all(bg[i] != i for i in range(3))
        assert all(1 <= e[i] - s[i] + 1 <= 3 and 0 <= s[i] and e[i] <= 3 for i in range(3))
    bl, mk = cut_and_paste(inp["input.clips"], 2, [1, 2, 0], [1, 0, 2], [2, 2, 2])
    assert bool((bl[0, 2:6] == inp["input.clips"][0, 2:6]).all())
    assert bool((bl[0, :2] == inp["input.clips"][1, :2]).all())
    assert mk.tolist() == [[0, 1, 1, 0], [1, 1, 1, 0], [0, 0, 1, 0]]
    print("  cut-and-paste sampler and blend OK")
    # 7. Checkpoint conversions load into the model with exactly the expected keys missing.
    ck = checkpoint_tensors()
    for prefix, side in (("timm.", "video."), ("hf.", "video."), ("bert.", "text.")):
        sd = {k[len(prefix):]: v.double() for k, v in ck["ckpt_expected.safetensors"].items()
              if k.startswith(prefix)}
        m = SViLM(FIXTURE_CONFIG).double()
        missing, unexpected = m.load_state_dict(sd, strict=False)
        assert not unexpected, unexpected
        side_missing = sorted(k for k in missing if k.startswith(side))
        if side == "video.":
            assert all(k in ("video.pos_embed_temporal", "video.group_token")
                       or k.startswith("video.grouping.") for k in side_missing), side_missing
        else:
            assert not side_missing, side_missing
    print("  checkpoint conversions load with only the documented keys missing")
    print("self-check OK")


# =========================================================================== main

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.normpath(os.path.join(here, "..", "data"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=default_out)
    ap.add_argument("--verify", action="store_true",
                    help="run the self-checks and compare the files in --out-dir with a rebuild "
                         "(writes nothing)")
    ap.add_argument("--only", action="append", metavar="FILE",
                    help="write (or, with --verify, compare) only this fixture file; repeatable, "
                         "e.g. --only %s" % QA_FIXTURE_FILE)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)

    if args.verify:  # the checks of the files asked for
        if not args.only or set(args.only) - {QA_FIXTURE_FILE}:
            self_check()
        if not args.only or QA_FIXTURE_FILE in args.only:
            print("self-check of the QA head")
            check_qa_head()
    files = all_files(args.only)
    bad = 0
    for name in sorted(files):
        data = files[name]
        tensors, meta = read_safetensors(data)
        assert json.loads(meta["config"]) == file_config(name)
        path = os.path.join(args.out_dir, name)
        if args.verify:
            same = os.path.exists(path) and open(path, "rb").read() == data
            bad += not same
            print("%-32s %9d bytes  %4d tensors  %s" % (name, len(data), len(tensors),
                                                         "identical" if same else "DIFFERENT"))
        else:
            os.makedirs(args.out_dir, exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            print("%-32s %9d bytes  %4d tensors  sha256 %s" % (
                name, len(data), len(tensors), hashlib.sha256(data).hexdigest()))
    if "svilm_tiny_fixture.safetensors" in files:
        fx, _ = read_safetensors(files["svilm_tiny_fixture.safetensors"])
        print("losses: contrastive %.12f temporal %.12f grounding %.12f total %.12f" % tuple(
            float(fx["loss." + k]) for k in ALL_LOSSES + ("total",)))
        print("adamw.loss_total: " + " ".join("%.12f" % float(x) for x in fx["adamw.loss_total"]))
    if QA_FIXTURE_FILE in files:
        qa, _ = read_safetensors(files[QA_FIXTURE_FILE])
        print("qa head: loss %.12f (rows 1 and 4 left out), loss over all rows %.12f"
              % (float(qa["loss"]), float(qa["loss_all"])))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
