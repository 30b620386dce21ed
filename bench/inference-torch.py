#!/usr/bin/env python3
"""PyTorch baseline for `npm run bench:inference`.

Serves the SAME model as the inference service: torchvision's MobileNetV2 with the weights
converted from the TensorFlow.js backbone (Keras layer names -> torchvision modules, the
asymmetric stride-2 'SAME' padding kept), plus the same Dense softmax head from the model
version folder. Two backbones:
  --arch v2_035  width 0.35, one layers-model file with BatchNorm layers (epsilon 1e-3 kept);
  --arch v2_100  width 1.0, the folder ../shared/models/mobilenet_v2_100: features/ has the
                 BatchNorm already folded into conv kernels and biases (each BatchNorm2d
                 becomes "+ bias": weight 1, mean 0, var 1, eps 0), and imagenet_head/ gives,
                 as the service computes, the ImageNet dog-class probability mass per image.
Behind the standard library's ThreadingHTTPServer: POST /classify with raw image bytes ->
top-5 JSON.

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


def v2_100_names():
    """The mobilenet_v2_100 layer names in torchvision's module order: (conv, depthwise?)."""
    seq = [("Conv2d_0_0", False), ("expanded_conv_1_depthwise", True), ("expanded_conv_1_project", False)]
    for b in range(2, 18):
        seq += [(f"expanded_conv_{b}_expand", False), (f"expanded_conv_{b}_depthwise", True), (f"expanded_conv_{b}_project", False)]
    seq.append(("Conv2d_18_1", False))
    return seq


def same_padding(conv):
    """TF/Keras 'SAME' for a stride-2 3x3 convolution on an even input pads only bottom/right."""
    if conv.stride == (2, 2):
        conv.padding = (0, 0)
        conv.register_forward_pre_hook(lambda _m, inp: (nn.functional.pad(inp[0], (0, 1, 0, 1)),))


def port(width, layers):
    """torchvision's mobilenet_v2(width) with each (conv, BatchNorm) pair loaded from `layers`,
    in module order: (name, Keras kernel [kh, kw, in, out] or depthwise [kh, kw, in, 1],
    depthwise?, BatchNorm (gamma, beta, mean, var, eps))."""
    net = torchvision.models.mobilenet_v2(width_mult=width).features
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    if len(convs) != len(layers) or len(bns) != len(layers):
        raise SystemExit(f"architecture mismatch: {len(convs)} convs / {len(bns)} BNs vs {len(layers)} layers")
    for conv, bn, (name, k, depthwise, (gamma, beta, mean, var, eps)) in zip(convs, bns, layers):
        # torch: [out, in/groups, kh, kw].
        t = k.transpose(2, 3, 0, 1) if depthwise else k.transpose(3, 2, 0, 1)
        if tuple(conv.weight.shape) != t.shape:
            raise SystemExit(f"{name}: shape {t.shape} does not fit {tuple(conv.weight.shape)}")
        conv.weight.data = torch.from_numpy(np.ascontiguousarray(t))
        for param, value in ((bn.weight, gamma), (bn.bias, beta), (bn.running_mean, mean), (bn.running_var, var)):
            param.data = torch.from_numpy(np.array(value, dtype=np.float32))
        bn.eps = eps
        same_padding(conv)
    return nn.Sequential(net, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def build_backbone_v2_100(weights):
    """BatchNorm already folded into the kernels and biases: each BatchNorm2d adds the bias."""
    layers = []
    for name, depthwise in v2_100_names():
        bias = weights[f"{name}/bias"]
        n = len(bias)
        layers.append((name, weights[f"{name}/depthwise_kernel" if depthwise else f"{name}/kernel"], depthwise,
                       (np.ones(n), bias, np.zeros(n), np.ones(n), 0.0)))
    return port(1.0, layers)


def build_backbone(weights):
    layers = []
    for cname, bname, depthwise in keras_names():
        layers.append((cname, weights[f"{cname}/depthwise_kernel" if depthwise else f"{cname}/kernel"], depthwise,
                       tuple(weights[f"{bname}/{k}"] for k in ("gamma", "beta", "moving_mean", "moving_variance")) + (1e-3,)))
    return port(0.35, layers)  # Keras' BatchNorm epsilon


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
    ap.add_argument("--backbone", required=True, help="v2_035: its tfjs model.json; v2_100: the mobilenet_v2_100 folder")
    ap.add_argument("--arch", choices=["v2_035", "v2_100"], default="v2_035")
    ap.add_argument("--size", type=int, default=224, help="input pixels per side")
    ap.add_argument("--version-dir", required=True, help="model version folder (head/, labels.json)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    labels = json.load(open(os.path.join(args.version_dir, "labels.json")))["labels"]
    size = args.size
    if args.arch == "v2_100":
        backbone = build_backbone_v2_100(read_tfjs(os.path.join(args.backbone, "features", "model.json"))).eval()
        imagenet = build_head(os.path.join(args.backbone, "imagenet_head")).eval()
    else:
        backbone, imagenet = build_backbone(read_tfjs(args.backbone)).eval(), None
    head = build_head(os.path.join(args.version_dir, "head")).eval()
    # ImageNet-1k classes 151-268 are dogs; unit 0 of the 1001-way head is "background".
    dogs = slice(152, 269)

    def model(x):
        features = backbone(x)
        dog = imagenet(features)[:, dogs].sum(1) if imagenet is not None else None
        return head(features), dog

    with torch.inference_mode():
        model(torch.zeros(1, 3, size, size))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            started = time.perf_counter()
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                img = Image.open(io.BytesIO(body)).convert("RGB").resize((size, size), Image.LANCZOS)
            except Exception as e:  # noqa: BLE001 - any decode failure is a 400
                return self.answer(400, {"message": f"not an image: {e}"})
            x = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0) / 127.5 - 1.0
            with torch.inference_mode():
                probs, dog = model(x)
            p = probs[0].numpy()
            top = np.argsort(-p)[:5]
            self.answer(200, {
                "prediction": {"label": labels[top[0]], "confidence": float(p[top[0]])},
                "dogProbability": float(dog[0]) if dog is not None else None,
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
