"""PyTorch baseline for `npm run bench:train` (Debian python3-torch / python3-torchvision).

Two measurements, each the counterpart of one TensorFlow.js measurement:
  head   -- trains the same softmax head (Adam, per-step cosine decay, label smoothing,
            balanced class weights, dropout, early stopping on validation loss) on the SAME
            1280-d MobileNetV2-0.35 features exported by the TypeScript side, and reports
            the wall time and held-out top-1.
  extract -- forward throughput of torchvision's mobilenet_v2(width_mult=W) at S×S pixels
            (the backbone's architecture; random weights: throughput does not depend on
            weight values) on the same photos, decoded with Pillow, batches of 16, on as
            many threads as the TypeScript side uses workers.
Prints one JSON object on stdout.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load(dir_, name):
    meta = json.load(open(os.path.join(dir_, f"{name}.json")))
    x = np.fromfile(os.path.join(dir_, f"{name}.f32"), dtype=np.float32).reshape(meta["variants"], meta["n"], meta["dim"])
    y = np.array(meta["labels"], dtype=np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def head(dir_, hp):
    torch.manual_seed(hp["seed"])
    xtr, ytr = load(dir_, "train")
    xva, yva = load(dir_, "validation")
    xte, yte = load(dir_, "test")
    k = hp["classes"]
    counts = torch.bincount(ytr, minlength=k).float()
    cw = torch.where(counts > 0, len(ytr) / (k * counts), torch.ones_like(counts))
    lin = torch.nn.Linear(xtr.shape[2], k)
    opt = torch.optim.Adam(lin.parameters(), lr=hp["lr"])
    steps = math.ceil(len(ytr) / hp["batch"])
    total = hp["epochs"] * steps
    best, best_state, since = float("inf"), None, 0
    g = torch.Generator().manual_seed(hp["seed"])
    t0 = time.perf_counter()
    epochs_run = 0
    for epoch in range(hp["epochs"]):
        lin.train()
        order = torch.randperm(len(ytr), generator=g)
        for b in range(steps):
            idx = order[b * hp["batch"] : (b + 1) * hp["batch"]]
            v = torch.randint(0, xtr.shape[0], (len(idx),), generator=g)
            x = xtr[v, idx]
            x = F.dropout(x, hp["dropout"], training=True)
            t = epoch * steps + b
            for group in opt.param_groups:
                group["lr"] = hp["lr"] * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t / total)))
            logits = lin(x)
            loss = (F.cross_entropy(logits, ytr[idx], reduction="none", label_smoothing=hp["smoothing"]) * cw[ytr[idx]]).mean()
            loss = loss + hp["l2"] * (lin.weight ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        epochs_run += 1
        lin.eval()
        with torch.no_grad():
            vl = F.cross_entropy(lin(xva[0]), yva).item()
        if vl < best - 1e-4:
            best, since = vl, 0
            best_state = {n: p.clone() for n, p in lin.state_dict().items()}
        else:
            since += 1
            if since >= hp["patience"]:
                break
    seconds = time.perf_counter() - t0
    lin.load_state_dict(best_state)
    with torch.no_grad():
        top1 = (lin(xte[0]).argmax(1) == yte).float().mean().item()
    return {"seconds": seconds, "epochs": epochs_run, "top1": top1}


def extract(files, threads, width=0.35, size=224):
    import torchvision
    from PIL import Image

    torch.set_num_threads(threads)
    model = torchvision.models.mobilenet_v2(width_mult=width)
    model.classifier = torch.nn.Identity()
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        for s in range(0, len(files), 16):
            batch = []
            for f in files[s : s + 16]:
                img = Image.open(f).convert("RGB").resize((size, size))
                batch.append(torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).permute(2, 0, 1) / 127.5 - 1)
            out = model(torch.stack(batch))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "images": len(files), "per_second": len(files) / seconds, "dim": int(out.shape[1])}


if __name__ == "__main__":
    spec = json.load(sys.stdin)
    result = {"torch": torch.__version__}
    if "head" in spec:
        result["head"] = head(spec["head"]["dir"], spec["head"]["hp"])
    if "extract" in spec:
        e = spec["extract"]
        result["extract"] = extract(e["files"], e["threads"], e.get("width", 0.35), e.get("size", 224))
    print(json.dumps(result))
