#!/usr/bin/env python3
"""PyTorch baseline for `npm run bench:inference`.

Serves the SAME model as the inference service: torchvision's MobileNetV2 (width 0.35)
with the weights converted from the TensorFlow.js backbone file (Keras layer names ->
torchvision modules, Keras' asymmetric stride-2 padding and BatchNorm epsilon kept), plus
the same Dense softmax head from the model version folder. Behind the standard library's
ThreadingHTTPServer: POST /classify with raw image bytes -> top-5 JSON.

Needs Debian's python3-torch, python3-torchvision and python3-pil (run with /usr/bin/python3).
"""
import argparse
import io
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import torch
import torch.nn as nn
import torchvision
from PIL import Image


def read_tfjs(model_json_path):
    """name -> numpy array, from a tfjs model.json + weight shards."""
    with open(model_json_path) as f:
        model = json.load(f)
    base = os.path.dirname(model_json_path)
    out = {}
    for group in model["weightsManifest"]:
        data = b"".join(open(os.path.join(base, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            if w["dtype"] != "float32":
                raise SystemExit(f"unsupported weight dtype {w['dtype']} for {w['name']}")
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            out[w["name"]] = np.frombuffer(data, dtype="<f4", count=n, offset=offset).reshape(w["shape"])
            offset += n * 4
    return out


def keras_names():
    """Keras MobileNetV2 layer prefixes in torchvision's module order: (conv, bn, depthwise?)."""
    seq = [("Conv1", "bn_Conv1", False), ("expanded_conv_depthwise", "expanded_conv_depthwise_BN", True),
           ("expanded_conv_project", "expanded_conv_project_BN", False)]
    for b in range(1, 17):
        seq += [(f"block_{b}_expand", f"block_{b}_expand_BN", False), (f"block_{b}_depthwise", f"block_{b}_depthwise_BN", True),
                (f"block_{b}_project", f"block_{b}_project_BN", False)]
    seq.append(("Conv_1", "Conv_1_bn", False))
    return seq


def build_backbone(weights):
    net = torchvision.models.mobilenet_v2(width_mult=0.35).features
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    names = keras_names()
    if len(convs) != len(names) or len(bns) != len(names):
        raise SystemExit(f"architecture mismatch: {len(convs)} convs / {len(bns)} BNs vs {len(names)} Keras layers")
    for conv, bn, (cname, bname, depthwise) in zip(convs, bns, names):
        key = f"{cname}/depthwise_kernel" if depthwise else f"{cname}/kernel"
        k = weights[key]
        # Keras: [kh, kw, in, out] (depthwise: [kh, kw, in, 1]); torch: [out, in/groups, kh, kw].
        t = k.transpose(2, 3, 0, 1) if depthwise else k.transpose(3, 2, 0, 1)
        if tuple(conv.weight.shape) != t.shape:
            raise SystemExit(f"{key}: shape {t.shape} does not fit {tuple(conv.weight.shape)}")
        conv.weight.data = torch.from_numpy(np.ascontiguousarray(t))
        bn.weight.data = torch.from_numpy(weights[f"{bname}/gamma"].copy())
        bn.bias.data = torch.from_numpy(weights[f"{bname}/beta"].copy())
        bn.running_mean.data = torch.from_numpy(weights[f"{bname}/moving_mean"].copy())
        bn.running_var.data = torch.from_numpy(weights[f"{bname}/moving_variance"].copy())
        bn.eps = 1e-3  # Keras' default
        # Keras pads stride-2 3x3 convolutions only at the bottom/right (ZeroPadding2D((0,1),(0,1))).
        if conv.stride == (2, 2):
            conv.padding = (0, 0)
            conv.register_forward_pre_hook(lambda _m, inp: (nn.functional.pad(inp[0], (0, 1, 0, 1)),))
    return nn.Sequential(net, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def build_head(head_dir):
    w = read_tfjs(os.path.join(head_dir, "model.json"))
    kernel = next(v for k, v in w.items() if k.endswith("/kernel"))
    bias = next(v for k, v in w.items() if k.endswith("/bias"))
    dense = nn.Linear(kernel.shape[0], kernel.shape[1])
    dense.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.T))
    dense.bias.data = torch.from_numpy(bias.copy())
    return nn.Sequential(dense, nn.Softmax(dim=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", required=True, help="tfjs model.json of MobileNetV2-0.35")
    ap.add_argument("--version-dir", required=True, help="model version folder (head/, labels.json)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    labels = json.load(open(os.path.join(args.version_dir, "labels.json")))["labels"]
    model = nn.Sequential(build_backbone(read_tfjs(args.backbone)), build_head(os.path.join(args.version_dir, "head"))).eval()
    with torch.inference_mode():
        model(torch.zeros(1, 3, 224, 224))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            started = time.perf_counter()
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                img = Image.open(io.BytesIO(body)).convert("RGB").resize((224, 224), Image.LANCZOS)
            except Exception as e:  # noqa: BLE001 - any decode failure is a 400
                return self.answer(400, {"message": f"not an image: {e}"})
            x = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0) / 127.5 - 1.0
            with torch.inference_mode():
                p = model(x)[0].numpy()
            top = np.argsort(-p)[:5]
            self.answer(200, {
                "prediction": {"label": labels[top[0]], "confidence": float(p[top[0]])},
                "topK": [{"label": labels[i], "probability": float(p[i])} for i in top],
                "latencyMs": (time.perf_counter() - started) * 1000,
            })

        def answer(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"READY {server.server_address[1]} torch {torch.__version__} threads {torch.get_num_threads()}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
