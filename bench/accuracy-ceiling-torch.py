"""Accuracy ceiling of the offline backbone (MobileNetV2-0.35, ImageNet) on the 20-breed photos.

A research benchmark, not part of the product: it answers "what held-out top-1 can the
only pretrained weights we have reach on ../shared/datasets/dogs, and by which technique?"
so the TypeScript trainer implements the technique that pays. Run with Debian's torch:

    /usr/bin/python3 bench/accuracy-ceiling-torch.py --threads 1 --rows verify,a,b,c,d,g,h,e
    # the best single model (about 30 min on one core):
    /usr/bin/python3 bench/accuracy-ceiling-torch.py --threads 1 --rows f --f-size 256x342 \
        --f-lr 3e-4 --f-scale 0.6 --f-epochs 10

What it does
  * Loads the TensorFlow.js layers model (../shared/models/mobilenet_v2_035: model.json
    weightsManifest + weights.bin, Keras layer names) into torchvision's
    mobilenet_v2(width_mult=0.35): HWIO -> OIHW kernels, [3,3,C,1] depthwise -> [C,1,3,3],
    BatchNorm eps 1e-3, and Keras' ZeroPadding2D(((0,1),(0,1))) + 'valid' before every
    stride-2 convolution (torchvision pads 1 on every side, which shifts the sampling grid).
    `--rows verify` writes the features of a few photos for the TF.js comparison
    (see --verify-against).
  * Splits exactly like the product (workloads/preprocessing/split.ts): SHA-256 of the raw
    file bytes, fraction = int(sha[:12], 16) / 2**48; < 0.15 test, < 0.30 validation, else
    train. Every hyperparameter and early-stopping decision uses validation only; test
    top-1 is reported once per row.
  * Rows (one technique each; see ROWS below):
      a  frozen 1280-d GAP features + softmax head (the product's current recipe)
      b  a + horizontal-flip test-time averaging; + train-time flip/crop feature augmentation
      c  frozen features at a higher input resolution (photos upsampled before the backbone)
         and multi-scale concatenation
      d  frozen features concatenated with pooled intermediate activations
      e  fine-tuning the top blocks (block_16 + Conv_1; blocks 13-16 + Conv_1) on cached
         activations below the cut
      f  full fine-tuning of the whole network
      g  frozen features of the photos stretched back to 4:3 (they were squashed to 224x224)
      h  probability ensemble of frozen heads at several input sizes
Caches (decoded photos, features) go to $CV_CEILING_CACHE (default /tmp/cv-accuracy-ceiling),
never into the repository. Times are wall seconds on however many threads --threads says
(default 2), on a shared machine, so they are noisy. Under load from other processes,
--threads 1 was 2x FASTER than 2 here (OpenMP spin-waiting on oversubscribed cores).

Measured 2026-11-23 (train 1678 / validation 358 / test 348; one test photo = 0.29 points,
standard error at 85% = 1.9 points, so differences under ~3 points are noise):
  conversion: 4 photos, 1280-d features vs TF.js (wasm, workloads/core/model/backbones.ts):
    max |diff| 1.3e-5 (mean |feature| 0.31), cosine 1.000000; with torchvision's symmetric
    padding instead of Keras' (0,1) pad: max |diff| 1.78, cosine 0.863. At 256x342 the TF.js
    model also matches (max |diff| 1.5e-5) once its topology's batch_input_shape is relaxed
    to [null,null,null,3] and the resize is tf.image.resizeBilinear(x, [256, 342], false,
    true) (halfPixelCenters = torch's align_corners=False; without it cosine drops to 0.998).
  row                                                          val    test
  a  frozen 224 GAP + head (product recipe)                    78.5   82.2
  b1 + flip TTA                                                79.1   84.8
  b2 flip-augmented train + flip TTA                           79.1   83.3
  b3 + 2 random-resized-crop train views (0.35-1)              80.4   85.6
  c  frozen @288 / @320 (flip aug + TTA)                       82.4 / 83.0   85.9 / 84.8
  c  multi-scale concat / feature mean (best: mean 224+320)    79.6-83.0   83.1-85.6
  d  + pooled block_12/15/16 or GAP+GMP (flip aug + TTA)       70.7-80.4   77.9-83.3  (worse)
  e  fine-tune block_16+Conv_1 / blocks 13-16+Conv_1           79.9-83.0   83.9-85.6
  f  full fine-tune 224, Adam 1e-4, RRC 0.35-1                 80.4   85.9
  f  full fine-tune 224, Adam 3e-4, RRC 0.6-1                  78.2   82.8
  f  full fine-tune 256x342, Adam 3e-4, RRC 0.6-1              83.8   87.9
  f  full fine-tune 256x342, Adam 1e-4, RRC 0.6-1 (8 epochs)   83.5   87.4
  g  frozen @256x342 (photos stretched back to 4:3) + flip     83.2   86.8
  h  probability ensemble of 5 frozen heads (224..288x384)     84.1   87.1
Nothing reached 90% on validation or test.
"""

import argparse
import functools
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared"))
DATA = os.path.join(SHARED, "datasets", "dogs")
MODEL = os.path.join(SHARED, "models", "mobilenet_v2_035")
CACHE = os.environ.get("CV_CEILING_CACHE", "/tmp/cv-accuracy-ceiling")
TEST_SHARE, VALIDATION_SHARE = 0.15, 0.15


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- backbone


class KerasStride2(nn.Module):
    """Keras MobileNetV2 pads (top 0, bottom 1, left 0, right 1) then convolves 'valid' at stride 2."""

    def __init__(self, conv):
        super().__init__()
        conv.padding = (0, 0)
        self.conv = conv

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


def read_tfjs_weights(model_dir=MODEL):
    meta = json.load(open(os.path.join(model_dir, "model.json")))
    out = {}
    for group in meta["weightsManifest"]:
        buf = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        flat = np.frombuffer(buf, dtype=np.float32).copy()
        off = 0
        for w in group["weights"]:
            if w["dtype"] != "float32":
                raise ValueError(f"{w['name']}: dtype {w['dtype']}, only float32 is expected in this model")
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            out[w["name"]] = flat[off : off + n].reshape(w["shape"])
            off += n
        if off != len(flat):
            raise ValueError(f"weights manifest covers {off} floats, shards hold {len(flat)}")
    return out


def build_backbone():
    """torchvision MobileNetV2-0.35 with the Keras weights; model.features ends at out_relu."""
    bn = functools.partial(nn.BatchNorm2d, eps=1e-3, momentum=0.001)  # Keras momentum 0.999
    net = torchvision.models.mobilenet_v2(weights=None, width_mult=0.35, norm_layer=bn)
    W = read_tfjs_weights()
    used = set()

    def take(name):
        used.add(name)
        return torch.from_numpy(np.ascontiguousarray(W[name]))

    def conv(m, name):
        k = take(f"{name}/kernel")  # HWIO
        assert m.weight.shape == k.permute(3, 2, 0, 1).shape, (name, m.weight.shape, k.shape)
        m.weight.data.copy_(k.permute(3, 2, 0, 1))

    def dw(m, name):
        k = take(f"{name}/depthwise_kernel")  # [3,3,C,1]
        m.weight.data.copy_(k.permute(2, 3, 0, 1))

    def batchnorm(m, name):
        m.weight.data.copy_(take(f"{name}/gamma"))
        m.bias.data.copy_(take(f"{name}/beta"))
        m.running_mean.copy_(take(f"{name}/moving_mean"))
        m.running_var.copy_(take(f"{name}/moving_variance"))

    f = net.features
    conv(f[0][0], "Conv1")
    batchnorm(f[0][1], "bn_Conv1")
    f[0][0] = KerasStride2(f[0][0])
    # expanded_conv: [dw ConvNormAct, project conv, project BN]
    dw(f[1].conv[0][0], "expanded_conv_depthwise")
    batchnorm(f[1].conv[0][1], "expanded_conv_depthwise_BN")
    conv(f[1].conv[1], "expanded_conv_project")
    batchnorm(f[1].conv[2], "expanded_conv_project_BN")
    for b in range(1, 17):
        seq = f[b + 1].conv  # [expand ConvNormAct, dw ConvNormAct, project conv, project BN]
        p = f"block_{b}"
        conv(seq[0][0], f"{p}_expand")
        batchnorm(seq[0][1], f"{p}_expand_BN")
        dw(seq[1][0], f"{p}_depthwise")
        batchnorm(seq[1][1], f"{p}_depthwise_BN")
        conv(seq[2], f"{p}_project")
        batchnorm(seq[3], f"{p}_project_BN")
        if seq[1][0].stride == (2, 2):
            seq[1][0] = KerasStride2(seq[1][0])
    conv(f[18][0], "Conv_1")
    batchnorm(f[18][1], "Conv_1_bn")
    unused = [n for n in W if n not in used and not n.startswith("dense_")]
    if unused:
        raise ValueError(f"backbone tensors not mapped: {unused[:5]}")
    if len(used) != 260:
        raise ValueError(f"mapped {len(used)} tensors, the README says the backbone has 260")
    net.classifier = nn.Identity()
    return net.eval()


# Named taps: index into model.features whose OUTPUT is the tap (Keras name in comments).
TAP_INDEX = {
    "block_12": 13,  # block_12_add, 32 x 14 x 14 at 224
    "block_15": 16,  # block_15_add, 56 x 7 x 7
    "block_16": 17,  # block_16_project_BN, 112 x 7 x 7
    "out_relu": 18,  # 1280 x 7 x 7
}


def run_features(net, x, lo=0, hi=19, taps=()):
    """Runs model.features[lo:hi] on x; returns (output, {tap: activation})."""
    got = {}
    want = {TAP_INDEX[t]: t for t in taps}
    for i in range(lo, hi):
        x = net.features[i](x)
        if i in want:
            got[want[i]] = x
    return x, got


# ----------------------------------------------------------------------------- data


def load_dataset():
    """uint8 [N,224,224,3] photos, labels, and split names; cached as .npy in CACHE."""
    os.makedirs(CACHE, exist_ok=True)
    cache = os.path.join(CACHE, "photos.npz")
    if os.path.exists(cache):
        z = np.load(cache, allow_pickle=False)
        return z["images"], z["labels"], z["splits"], list(z["classes"]), list(z["paths"])
    classes = sorted(d for d in os.listdir(DATA) if os.path.isdir(os.path.join(DATA, d)))
    images, labels, splits, paths = [], [], [], []
    for ci, c in enumerate(classes):
        for name in sorted(os.listdir(os.path.join(DATA, c))):
            path = os.path.join(DATA, c, name)
            raw = open(path, "rb").read()
            fraction = int(hashlib.sha256(raw).hexdigest()[:12], 16) / 2**48
            split = "test" if fraction < TEST_SHARE else "validation" if fraction < TEST_SHARE + VALIDATION_SHARE else "train"
            img = Image.open(path).convert("RGB")
            if img.size != (224, 224):
                img = img.resize((224, 224), Image.BILINEAR)
            images.append(np.asarray(img, dtype=np.uint8))
            labels.append(ci)
            splits.append(split)
            paths.append(path)
    images, labels, splits = np.stack(images), np.array(labels, np.int64), np.array(splits)
    tmp = cache + ".tmp.npz"
    np.savez(tmp, images=images, labels=labels, splits=splits, classes=np.array(classes), paths=np.array(paths))
    os.replace(tmp, cache)
    return images, labels, splits, classes, paths


def to_input(u8, size=224):
    """uint8 NHWC -> float NCHW in [-1, 1], bilinearly resized to size (no-op at 224)."""
    x = torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    hw = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    if hw != tuple(x.shape[-2:]):
        x = F.interpolate(x, size=hw, mode="bilinear", align_corners=False)
    return x


def crop_flip(x, gen, size=224, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3), flip=True, crop=True):
    """Batched random-resized-crop + horizontal flip with one grid_sample (bilinear)."""
    n = x.shape[0]
    theta = torch.zeros(n, 2, 3)
    for i in range(n):
        sx = sy = 1.0
        cx = cy = 0.0
        if crop:
            for _ in range(10):
                area = float(torch.empty(1).uniform_(*scale, generator=gen))
                logr = torch.empty(1).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=gen)
                r = float(torch.exp(logr))
                w, h = math.sqrt(area * r), math.sqrt(area / r)
                if w <= 1 and h <= 1:
                    sx, sy = w, h
                    break
            cx = float(torch.empty(1).uniform_(-(1 - sx), 1 - sx, generator=gen))
            cy = float(torch.empty(1).uniform_(-(1 - sy), 1 - sy, generator=gen))
        if flip and float(torch.rand(1, generator=gen)) < 0.5:
            sx = -sx
        theta[i, 0, 0], theta[i, 0, 2], theta[i, 1, 1], theta[i, 1, 2] = sx, cx, sy, cy
    h, w = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    grid = F.affine_grid(theta, (n, x.shape[1], h, w), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


# ----------------------------------------------------------------------------- features


def extract(net, images, key, transform, taps=(), pool="avg", batch=64):
    """Cached pooled features: dict tap -> float32 [N, C]; 'out_relu' always present."""
    path = os.path.join(CACHE, f"feat-{key}.npz")
    if os.path.exists(path):
        z = np.load(path)
        return {k: torch.from_numpy(z[k]) for k in z.files if k != "_seconds"}, float(z["_seconds"])
    t0 = time.perf_counter()
    outs = {}
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = transform(images[s : s + batch], s)
            y, got = run_features(net, x, taps=taps)
            got["out_relu"] = y
            for k, v in got.items():
                pooled = v.mean((2, 3)) if pool == "avg" else torch.cat([v.mean((2, 3)), v.amax((2, 3))], 1)
                outs.setdefault(k, []).append(pooled)
    outs = {k: torch.cat(v).numpy() for k, v in outs.items()}
    seconds = time.perf_counter() - t0
    tmp = path + ".tmp.npz"
    np.savez(tmp, _seconds=np.array(seconds), **outs)
    os.replace(tmp, path)
    log(f"features {key}: {len(images)} photos in {seconds:.1f} s")
    return {k: torch.from_numpy(v) for k, v in outs.items()}, seconds


# ----------------------------------------------------------------------------- heads


def train_head(xtr, ytr, xva, yva, classes, l2, seed=0, lr=2e-3, batch=128, epochs=200, patience=10, dropout=0.2, smoothing=0.1):
    """Softmax head on frozen features (the product's recipe: Adam, label smoothing, balanced
    class weights, input dropout, early stopping on validation loss).
    xtr: [V, N, D] (V augmented variants; one drawn per photo per step), xva: [T, M, D]
    (T test-time variants, softmax averaged). Returns (linear, val_acc, val_loss, epochs)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    counts = torch.bincount(ytr, minlength=classes).float()
    cw = len(ytr) / (classes * counts.clamp(min=1))
    lin = nn.Linear(xtr.shape[2], classes)
    opt = torch.optim.Adam(lin.parameters(), lr=lr)
    best = (float("inf"), None, 0)
    since = 0
    for epoch in range(epochs):
        lin.train()
        order = torch.randperm(len(ytr), generator=g)
        for s in range(0, len(ytr), batch):
            idx = order[s : s + batch]
            v = torch.randint(0, xtr.shape[0], (len(idx),), generator=g)
            logits = lin(F.dropout(xtr[v, idx], dropout, True))
            loss = (F.cross_entropy(logits, ytr[idx], reduction="none", label_smoothing=smoothing) * cw[ytr[idx]]).mean()
            loss = loss + l2 * (lin.weight**2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        vl = evaluate_head(lin, xva, yva)[1]
        if vl < best[0] - 1e-4:
            best, since = (vl, {k: v.clone() for k, v in lin.state_dict().items()}, epoch + 1), 0
        else:
            since += 1
            if since >= patience:
                break
    lin.load_state_dict(best[1])
    acc, vl = evaluate_head(lin, xva, yva)
    return lin, acc, vl, best[2]


def evaluate_head(lin, x, y):
    lin.eval()
    with torch.no_grad():
        p = torch.stack([F.softmax(lin(x[t]), 1) for t in range(x.shape[0])]).mean(0)
    return (p.argmax(1) == y).float().mean().item(), F.nll_loss(p.clamp_min(1e-8).log(), y).item()


class Standardize:
    def __init__(self, xtr):
        flat = xtr.reshape(-1, xtr.shape[-1])
        self.mu, self.sd = flat.mean(0), flat.std(0).clamp_min(1e-3)

    def __call__(self, x):
        return (x - self.mu) / self.sd


def fit_head(xtr, ytr, xva, yva, xte, yte, classes, standardize=False, l2s=(0.0, 1e-4, 1e-3)):
    """Picks the L2 strength on validation accuracy (ties: validation loss); reports test."""
    t0 = time.perf_counter()
    if standardize:
        st = Standardize(xtr)
        xtr, xva, xte = st(xtr), st(xva), st(xte)
    best = None
    for l2 in l2s:
        lin, acc, vl, ep = train_head(xtr, ytr, xva, yva, classes, l2)
        if best is None or (acc, -vl) > (best[1], -best[2]):
            best = (lin, acc, vl, ep, l2)
    lin, acc, vl, ep, l2 = best
    test = evaluate_head(lin, xte, yte)[0]
    return {"val": acc, "test": test, "head_s": time.perf_counter() - t0, "l2": l2, "epochs": ep, "lin": lin}


# ----------------------------------------------------------------------------- rows


class Ctx:
    def __init__(self, args):
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        self.images, labels, splits, self.classes, self.paths = load_dataset()
        self.y = torch.from_numpy(labels)
        self.idx = {s: np.nonzero(splits == s)[0] for s in ("train", "validation", "test")}
        log(
            f"photos: {len(labels)} ({', '.join(f'{s} {len(i)}' for s, i in self.idx.items())}), "
            f"{len(self.classes)} classes, loaded in {time.perf_counter() - t0:.1f} s"
        )
        self.net = build_backbone()
        self.args = args
        self.memo = {}

    def ys(self, split):
        return self.y[self.idx[split]]

    def feats(self, key, size=224, flip=False, taps=(), aug_seed=None, pool="avg"):
        """Pooled features of ALL photos under one deterministic view."""

        def transform(u8, start):
            x = to_input(u8, size)
            if aug_seed is not None:
                g = torch.Generator().manual_seed(aug_seed * 100003 + start)
                x = crop_flip(x, g, size)
            if flip:
                x = x.flip(3)
            return x

        return extract(self.net, self.images, key, transform, taps=taps, pool=pool)

    def split3(self, views, tta_views=None):
        """views: list of [N, D] (train variants); tta_views: list of [N, D] averaged at eval."""
        tta_views = tta_views or views[:1]
        tr = torch.stack([v[self.idx["train"]] for v in views])
        va = torch.stack([v[self.idx["validation"]] for v in tta_views])
        te = torch.stack([v[self.idx["test"]] for v in tta_views])
        return tr, self.ys("train"), va, self.ys("validation"), te, self.ys("test")


def row(results, name, r, extract_s, note=""):
    r = dict(r)
    r.pop("lin", None)
    r.update(name=name, extract_s=extract_s, note=note)
    results.append(r)
    log(f"ROW {name}: val {r['val']:.4f} test {r['test']:.4f} (extract {extract_s:.0f} s, train {r.get('head_s', 0):.0f} s) {note}")


def rows_a(ctx, results):
    f, s = ctx.feats("224")
    k = len(ctx.classes)
    row(results, "a: frozen GAP 1280 + softmax head", fit_head(*ctx.split3([f["out_relu"]]), k), s, "raw features")
    row(
        results,
        "a': same, standardized features",
        fit_head(*ctx.split3([f["out_relu"]]), k, standardize=True),
        s,
        "per-dim z-score",
    )


def rows_b(ctx, results):
    k = len(ctx.classes)
    f0, s0 = ctx.feats("224")
    f1, s1 = ctx.feats("224-flip", flip=True)
    a0, a1 = f0["out_relu"], f1["out_relu"]
    row(results, "b1: a + flip TTA", fit_head(*ctx.split3([a0], [a0, a1]), k), s0 + s1, "train orig only")
    row(results, "b2: flip-augmented train + flip TTA", fit_head(*ctx.split3([a0, a1], [a0, a1]), k), s0 + s1)
    augs, sa = [], 0.0
    for i in range(ctx.args.crops):
        fa, s = ctx.feats(f"224-crop{i}", aug_seed=i + 1)
        augs.append(fa["out_relu"])
        sa += s
    row(
        results,
        f"b3: + {ctx.args.crops} random-resized-crop/flip train views",
        fit_head(*ctx.split3([a0, a1] + augs, [a0, a1]), k),
        s0 + s1 + sa,
        "crop scale 0.35-1, train features only; extract time includes all views",
    )


def rows_c(ctx, results):
    k = len(ctx.classes)
    by = {}
    for size in (224, 256, 288, 320):
        f, s = ctx.feats(str(size) if size != 224 else "224", size=size)
        ff, sf = ctx.feats(f"{size}-flip", size=size, flip=True)
        by[size] = (f["out_relu"], ff["out_relu"], s, sf)
        if size != 224:
            row(results, f"c: frozen @ {size}", fit_head(*ctx.split3([by[size][0]]), k), s)
            row(
                results,
                f"c: frozen @ {size} + flip aug/TTA",
                fit_head(*ctx.split3([by[size][0], by[size][1]], [by[size][0], by[size][1]]), k),
                s + sf,
            )
    for combo in ((224, 288), (224, 320), (224, 256, 288, 320)):
        cat = torch.cat([by[z][0] for z in combo], 1)
        catf = torch.cat([by[z][1] for z in combo], 1)
        sec = sum(by[z][2] + by[z][3] for z in combo)
        row(
            results,
            f"c: concat {'+'.join(map(str, combo))} + flip aug/TTA",
            fit_head(*ctx.split3([cat, catf], [cat, catf]), k),
            sec,
        )
        avg = sum(by[z][0] for z in combo) / len(combo)
        avgf = sum(by[z][1] for z in combo) / len(combo)
        row(
            results,
            f"c: mean {'+'.join(map(str, combo))} + flip aug/TTA",
            fit_head(*ctx.split3([avg, avgf], [avg, avgf]), k),
            sec,
        )


def rows_g(ctx, results):
    """The photos were squashed from (mostly 4:3 landscape) originals to 224x224; stretch
    them back to 4:3 (height x width) before the frozen backbone (GAP takes any size)."""
    k = len(ctx.classes)
    for h, w in ((224, 298), (256, 342), (288, 384)):
        f, s = ctx.feats(f"{h}x{w}", size=(h, w))
        ff, sf = ctx.feats(f"{h}x{w}-flip", size=(h, w), flip=True)
        a0, a1 = f["out_relu"], ff["out_relu"]
        row(results, f"g: frozen @ {h}x{w} (aspect 4:3 restored) + flip aug/TTA", fit_head(*ctx.split3([a0, a1], [a0, a1]), k), s + sf)


def rows_h(ctx, results):
    """Multi-scale ensemble: one flip-augmented head per input size/aspect (each chosen on
    validation like any other row), softmax probabilities averaged over sizes and flips.
    Serving cost is the sum of the sizes' forwards (x2 for the flip)."""
    k = len(ctx.classes)
    sizes = {"224": 224, "288": 288, "320": 320, "256x342": (256, 342), "288x384": (288, 384)}
    probs, secs = {}, {}
    for key, size in sizes.items():
        f, s = ctx.feats(key, size=size)
        ff, sf = ctx.feats(f"{key}-flip", size=size, flip=True)
        a0, a1 = f["out_relu"], ff["out_relu"]
        r = fit_head(*ctx.split3([a0, a1], [a0, a1]), k)
        lin = r["lin"].eval()
        with torch.no_grad():
            probs[key] = {sp: (F.softmax(lin(a0[ctx.idx[sp]]), 1) + F.softmax(lin(a1[ctx.idx[sp]]), 1)) / 2 for sp in ("validation", "test")}
        secs[key] = (s + sf, r["head_s"])
    for combo in (("224", "288"), ("224", "288", "320"), ("224", "256x342", "288x384"), tuple(sizes)):
        acc = {sp: ((sum(probs[c][sp] for c in combo) / len(combo)).argmax(1) == ctx.ys(sp)).float().mean().item() for sp in probs[combo[0]]}
        row(
            results,
            f"h: prob. ensemble {'+'.join(combo)}, flip aug/TTA",
            {"val": acc["validation"], "test": acc["test"], "head_s": sum(secs[c][1] for c in combo)},
            sum(secs[c][0] for c in combo),
            f"{len(combo)} heads; serving = {2 * len(combo)} forwards",
        )


def rows_d(ctx, results):
    k = len(ctx.classes)
    taps = ("block_12", "block_15", "block_16")
    f, s = ctx.feats("224-taps", taps=taps)
    ff, sf = ctx.feats("224-taps-flip", taps=taps, flip=True)
    for combo in (("block_16",), ("block_15", "block_16"), ("block_12", "block_15", "block_16")):
        cat = torch.cat([f["out_relu"]] + [f[t] for t in combo], 1)
        catf = torch.cat([ff["out_relu"]] + [ff[t] for t in combo], 1)
        row(
            results,
            f"d: 1280 + pooled {'+'.join(combo)} + flip aug/TTA",
            fit_head(*ctx.split3([cat, catf], [cat, catf]), k),
            s + sf,
        )
    g, sg = ctx.feats("224-gapgmp", pool="avgmax")
    gf, sgf = ctx.feats("224-gapgmp-flip", pool="avgmax", flip=True)
    row(
        results,
        "d: GAP+GMP of out_relu (2560) + flip aug/TTA",
        fit_head(*ctx.split3([g["out_relu"], gf["out_relu"]], [g["out_relu"], gf["out_relu"]]), k),
        sg + sgf,
    )


# --- fine-tuning -----------------------------------------------------------------------


class Top(nn.Module):
    """model.features[lo:19] + GAP + dropout + linear, BatchNorm kept in inference mode."""

    def __init__(self, net, lo, lin, dropout=0.2):
        super().__init__()
        self.lo = lo
        self.blocks = nn.Sequential(*[net.features[i] for i in range(lo, 19)])
        self.lin = lin
        self.dropout = dropout

    def forward(self, x):
        x = self.blocks(x).mean((2, 3))
        return self.lin(F.dropout(x, self.dropout, self.training))


def set_bn_eval(m):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.eval()


def finetune(model, train_batches, eval_fn, epochs, lr_body, lr_head, patience, label, wd=0.0, bn_train=False):
    """Adam with per-step cosine decay, label smoothing 0.1, early stopping on validation
    loss; returns the best-validation state (loaded into model) and per-epoch log."""
    head = list(model.lin.parameters())
    body = [p for n, p in model.named_parameters() if not n.startswith("lin.") and p.requires_grad]
    opt = torch.optim.Adam([{"params": body, "lr": lr_body}, {"params": head, "lr": lr_head}], weight_decay=wd)
    base = [lr_body, lr_head]
    steps_per_epoch = None
    best = (float("inf"), None, 0, 0.0)
    hist, since, t = [], 0, 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        if not bn_train:
            set_bn_eval(model)
        batches = list(train_batches(epoch))
        steps_per_epoch = steps_per_epoch or len(batches)
        total = epochs * steps_per_epoch
        tl = 0.0
        for x, y in batches:
            for gi, group in enumerate(opt.param_groups):
                group["lr"] = base[gi] * 0.5 * (1 + math.cos(math.pi * t / total))
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tl += loss.item() * len(y)
            t += 1
        model.eval()
        va, vl = eval_fn(model, "validation")
        hist.append((epoch + 1, round(va, 4), round(vl, 4), round(time.perf_counter() - t0, 1)))
        log(f"{label} epoch {epoch + 1}: train loss {tl / sum(len(b[1]) for b in batches):.3f} val acc {va:.4f} loss {vl:.4f} ({time.perf_counter() - t0:.0f} s)")
        if vl < best[0] - 1e-4:
            best, since = (vl, {k: v.clone() for k, v in model.state_dict().items()}, epoch + 1, va), 0
        else:
            since += 1
            if since >= patience:
                break
    model.load_state_dict(best[1])
    return best[2], hist


def cut_activations(ctx, lo, crops):
    """Activations at the input of model.features[lo] (cached in memory): train photos under
    2 + crops views (orig, flip, random-resized-crop/flip), validation/test under orig + flip.
    Returns ([one [N, C, H, W] tensor per view], seconds); crop views hold zeros for
    validation/test photos (never read). The cut-17 activations are derived from the cut-14 ones (block_13..15 are cheap)."""
    key = ("cut", lo, crops)
    if key in ctx.memo:
        return ctx.memo[key]
    t0 = time.perf_counter()
    if lo > 14:
        base, s0 = cut_activations(ctx, 14, crops)
        t0 = time.perf_counter()  # s0 already counts the base views, cached or not
        with torch.no_grad():
            views = [torch.cat([run_features(ctx.net, v[s : s + 256], 14, lo)[0] for s in range(0, len(v), 256)]) for v in base]
        out = (views, s0 + time.perf_counter() - t0)
    else:
        n = len(ctx.images)
        if lo != 14:
            raise ValueError(f"cut {lo}: only 14 (block_13) and later cuts are supported")
        views = []
        with torch.no_grad():
            for v in range(2 + crops):
                g = torch.Generator().manual_seed(1000 + v)
                # every view covers all photos for flip (cheap to index); crops only train photos
                ix = np.arange(n) if v < 2 else ctx.idx["train"]
                acts = torch.zeros((n, 32, 14, 14))  # block_12 output at 224
                for s in range(0, len(ix), 64):
                    x = to_input(ctx.images[ix[s : s + 64]])
                    if v == 1:
                        x = x.flip(3)
                    elif v >= 2:
                        x = crop_flip(x, g)
                    acts[ix[s : s + 64]] = run_features(ctx.net, x, 0, lo)[0]
                views.append(acts)
                log(f"cut {lo}: view {v} cached ({time.perf_counter() - t0:.0f} s)")
        out = (views, time.perf_counter() - t0)
    ctx.memo[key] = out
    return out


def warm_head(ctx):
    """The head a fine-tuning run starts from: trained on frozen features with flip
    augmentation (what the product does before fine-tuning)."""
    if "warm" not in ctx.memo:
        f0, _ = ctx.feats("224")
        f1, _ = ctx.feats("224-flip", flip=True)
        ctx.memo["warm"] = fit_head(*ctx.split3([f0["out_relu"], f1["out_relu"]], [f0["out_relu"], f1["out_relu"]]), len(ctx.classes))
        log(f"warm head: val {ctx.memo['warm']['val']:.4f} l2 {ctx.memo['warm']['l2']}")
    return ctx.memo["warm"]["lin"]


def rows_e(ctx, results):
    k = len(ctx.classes)
    args = ctx.args
    warm = warm_head(ctx)
    names = {17: "block_16 + Conv_1", 14: "blocks 13-16 + Conv_1"}
    for lo in args.e_cuts:
        views, cache_s = cut_activations(ctx, lo, args.e_crops)
        for lr in args.e_lrs:
            net = build_backbone()
            lin = nn.Linear(1280, k)
            lin.load_state_dict(warm.state_dict())
            model = Top(net, lo, lin)
            tr = torch.from_numpy(ctx.idx["train"])
            ytr = ctx.ys("train")
            g = torch.Generator().manual_seed(0)

            def batches(epoch):
                order = torch.randperm(len(tr), generator=g)
                v = torch.randint(0, len(views), (len(tr),), generator=g)
                for s in range(0, len(tr), 32):
                    o = order[s : s + 32].tolist()
                    x = torch.stack([views[int(v[j])][int(tr[j])] for j in o])
                    yield x, ytr[o]

            def eval_fn(m, split):
                ix = torch.from_numpy(ctx.idx[split])
                with torch.no_grad():
                    p = sum(F.softmax(torch.cat([m(views[vv][ix[s : s + 128]]) for s in range(0, len(ix), 128)]), 1) for vv in (0, 1)) / 2
                y = ctx.ys(split)
                return (p.argmax(1) == y).float().mean().item(), F.nll_loss(p.clamp_min(1e-8).log(), y).item()

            t1 = time.perf_counter()
            best_epoch, hist = finetune(model, batches, eval_fn, args.e_epochs, lr, lr * 3, args.patience, f"e[{lo}] lr {lr}")
            train_s = time.perf_counter() - t1
            va, _ = eval_fn(model, "validation")
            te, _ = eval_fn(model, "test")
            row(
                results,
                f"e: fine-tune {names[lo]}, Adam lr {lr:g} (head {lr * 3:g})",
                {"val": va, "test": te, "head_s": train_s, "epochs": best_epoch, "hist": hist},
                cache_s,
                f"{len(views)} cached train views, flip TTA, BN frozen, best epoch {best_epoch}",
            )


def rows_f(ctx, results):
    k = len(ctx.classes)
    args = ctx.args
    warm = warm_head(ctx)
    net = build_backbone()
    lin = nn.Linear(1280, k)
    lin.load_state_dict(warm.state_dict())
    model = Top(net, 0, lin)
    tr = ctx.idx["train"]
    ytr = ctx.ys("train")
    g = torch.Generator().manual_seed(0)
    size = args.f_size

    def batches(epoch):
        order = torch.randperm(len(tr), generator=g)
        for s in range(0, len(tr), 32):
            o = order[s : s + 32]
            x = crop_flip(to_input(ctx.images[tr[o.numpy()]]), g, size=size, scale=(args.f_scale, 1.0))
            yield x, ytr[o]

    def eval_fn(m, split):
        ix = ctx.idx[split]
        ps = []
        with torch.no_grad():
            for s in range(0, len(ix), 64):
                x = to_input(ctx.images[ix[s : s + 64]], size)
                ps.append((F.softmax(m(x), 1) + F.softmax(m(x.flip(3)), 1)) / 2)
        p = torch.cat(ps)
        y = ctx.ys(split)
        return (p.argmax(1) == y).float().mean().item(), F.nll_loss(p.clamp_min(1e-8).log(), y).item()

    t1 = time.perf_counter()
    best_epoch, hist = finetune(
        model, batches, eval_fn, args.f_epochs, args.f_lr, args.f_lr * 3, args.patience, f"f lr {args.f_lr}", bn_train=args.f_bn_train
    )
    train_s = time.perf_counter() - t1
    va, _ = eval_fn(model, "validation")
    te, _ = eval_fn(model, "test")
    row(
        results,
        f"f: full fine-tune @ {'x'.join(map(str, size))}, Adam lr {args.f_lr:g} (head {args.f_lr * 3:g})",
        {"val": va, "test": te, "head_s": train_s, "epochs": best_epoch, "hist": hist},
        0.0,
        f"RRC {args.f_scale:g}-1 + flip, flip TTA, BN {'train' if args.f_bn_train else 'frozen'}, best epoch {best_epoch}",
    )


def verify(ctx, results):
    """Writes the first photos of each of 4 classes (uint8 RGB) and their torch features."""
    pick = [int(np.nonzero(ctx.y.numpy() == c)[0][0]) for c in range(4)]
    u8 = ctx.images[pick]
    out = os.path.join(CACHE, "verify")
    os.makedirs(out, exist_ok=True)
    u8.tofile(os.path.join(out, "images.u8"))
    with torch.no_grad():
        feats = run_features(ctx.net, to_input(u8))[0].mean((2, 3)).numpy()
    feats.astype(np.float32).tofile(os.path.join(out, "torch.f32"))
    log(f"verify: wrote {len(pick)} photos and torch features to {out}")
    ref = os.path.join(out, "tfjs.f32")
    if os.path.exists(ref):
        tf = np.fromfile(ref, np.float32).reshape(feats.shape)
        cos = (feats * tf).sum(1) / np.linalg.norm(feats, axis=1) / np.linalg.norm(tf, axis=1)
        print(
            json.dumps(
                {
                    "verify_max_abs_diff": float(np.abs(feats - tf).max()),
                    "verify_mean_abs": float(np.abs(tf).mean()),
                    "verify_min_cosine": float(cos.min()),
                }
            )
        )


ROWS = {"verify": verify, "a": rows_a, "b": rows_b, "c": rows_c, "d": rows_d, "e": rows_e, "f": rows_f, "g": rows_g, "h": rows_h}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default="a,b,c,d,g,h,e", help=f"comma list of {','.join(ROWS)}")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--crops", type=int, default=2, help="row b: random-crop train views")
    ap.add_argument("--patience", type=int, default=3, help="fine-tuning early-stopping patience (epochs)")
    ap.add_argument("--e-lrs", type=lambda s: [float(v) for v in s.split(",")], default=[1e-4, 3e-4])
    ap.add_argument("--e-cuts", type=lambda s: [int(v) for v in s.split(",")], default=[17, 14], help="model.features index of the first trainable block: 17 = block_16, 14 = block_13")
    ap.add_argument("--e-epochs", type=int, default=12)
    ap.add_argument("--e-crops", type=int, default=2)
    ap.add_argument("--f-epochs", type=int, default=12)
    ap.add_argument("--f-lr", type=float, default=1e-4)
    ap.add_argument("--f-size", type=lambda s: tuple(int(v) for v in s.split("x")) if "x" in s else (int(s), int(s)), default=(224, 224), help="HxW or N")
    ap.add_argument("--f-scale", type=float, default=0.35, help="random-resized-crop minimum area")
    ap.add_argument("--f-bn-train", action="store_true")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args()
    wanted = args.rows.split(",")
    bad = [r for r in wanted if r not in ROWS]
    if bad:
        ap.error(f"unknown rows {bad}; rows are {', '.join(ROWS)}")
    ctx = Ctx(args)
    results = []
    t0 = time.perf_counter()
    for r in wanted:
        ROWS[r](ctx, results)
    print(f"\n{'technique':<62} {'val':>6} {'test':>6} {'extract s':>9} {'train s':>8}  notes")
    for r in results:
        print(f"{r['name']:<62} {r['val']:6.1%} {r['test']:6.1%} {r['extract_s']:9.0f} {r.get('head_s', 0):8.0f}  {r['note']}")
    print(f"total {time.perf_counter() - t0:.0f} s; test n={len(ctx.idx['test'])}, validation n={len(ctx.idx['validation'])}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
