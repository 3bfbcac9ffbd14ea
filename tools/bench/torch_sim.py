#!/usr/bin/python3
"""torch_sim.py: the PyTorch baseline the C engine is benchmarked against.

A plain time-stepped simulation of the converted cifar10-seed network with
the exact nengo_dl.Converter semantics of docs nengo-semantics.md:

  * SpikingRectifiedLinear: v += max(J,0)*dt; n = floor(v); v -= n;
    out = n * amplitude / dt, amplitude 1/s (multi-spike, subtractive reset);
  * J = s * (W.x + b) (gain s on weights and bias);
  * Lowpass(tau) zero-order hold, y[k] = a*y[k-1] + b*u[k], on every
    neuron-to-neuron path; the receiving layer reads y[k-1] (one-step delay);
    none on the input image connection; the filter acts on the pooled signal
    (the pooling node's input transform), dense2's on W5 . spikes;
  * output p[k] = softmax(Y[k-1] + b5) every step, prediction argmax p[T-1];
  * v0: zero | half | uniform:SEED (one vector per layer, the same for every
    image: numpy RandomState(SEED).uniform(0, 1) drawn layer by layer in the
    order conv1, conv2, conv3, dense1, each of C*H*W values in NCHW order).

Weights come from models/cifar10-seed/model.onnx (onnx.numpy_helper on the
initializers of /conv1/Conv ... /dense2/Gemm). Batch 100, float32.

    /usr/bin/python3 tools/bench/torch_sim.py --steps 30 --images 1000 \
        --dataset /work/shared/datasets/cifar10 [--dump probs.npy]

prints one JSON line {"images_per_second", "ann_images_per_second",
"snn_accuracy", "ann_accuracy", "n", ...}. images_per_second times the
spiking simulation alone (no data loading, no ANN pass).
--dump FILE saves float32 [steps x images x classes] probabilities of the
first --dump-images images.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "..", "..", "models", "cifar10-seed",
                             "model.onnx")


def load_weights(path):
    """{layer: (W, b)} for conv1..conv3 (OIHW) and dense1, dense2 (out x in,
    i.e. torch Linear layout; dense1's input is the channels-last flatten)."""
    m = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    layers = {}
    for node in m.graph.node:
        if node.op_type not in ("Conv", "Gemm"):
            continue
        name = node.name.strip("/").split("/")[0]
        w = init[node.input[1]].astype(np.float32)
        b = init[node.input[2]].astype(np.float32)
        if node.op_type == "Conv":
            attrs = {a.name: list(a.ints) for a in node.attribute
                     if a.type == a.INTS}
            assert attrs.get("pads", [1, 1, 1, 1]) == [1, 1, 1, 1]
            assert attrs.get("strides", [1, 1]) == [1, 1]
        else:
            attrs = {a.name: a.i for a in node.attribute if a.type == a.INT}
            if not attrs.get("transB", 0):
                w = w.T
        dt = torch.get_default_dtype()
        layers[name] = (torch.from_numpy(np.ascontiguousarray(w)).to(dt),
                        torch.from_numpy(b).to(dt))
    for k in ("conv1", "conv2", "conv3", "dense1", "dense2"):
        assert k in layers, "model lacks %s (nodes named /%s/...)" % (k, k)
    return layers


def load_cifar_test(root, n):
    raw = np.fromfile(os.path.join(root, "test_batch.bin"), np.uint8)
    raw = raw.reshape(-1, 3073)[:n]
    x = raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32)  # scale 1
    return (torch.from_numpy(x).to(torch.get_default_dtype()),
            torch.from_numpy(raw[:, 0].astype(np.int64)))


def ann_forward(L, x):
    for k in ("conv1", "conv2", "conv3"):
        x = F.avg_pool2d(F.relu(F.conv2d(x, L[k][0], L[k][1], padding=1)), 2)
    x = x.permute(0, 2, 3, 1).flatten(1)
    x = F.relu(F.linear(x, *L["dense1"]))
    return F.softmax(F.linear(x, *L["dense2"]), dim=1)


def v0_vectors(mode, shapes):
    out = []
    if mode.startswith("uniform"):
        seed = int(mode.split(":", 1)[1]) if ":" in mode else 0
        rng = np.random.RandomState(seed)
    for shp in shapes:
        n = int(np.prod(shp))
        if mode == "zero":
            v = np.zeros(n)
        elif mode == "half":
            v = np.full(n, 0.5)
        elif mode.startswith("uniform"):
            v = rng.uniform(0.0, 1.0, n)
        else:
            raise SystemExit("bad --v0 %r (zero | half | uniform:SEED)" % mode)
        out.append(torch.from_numpy(v).to(torch.get_default_dtype()).view(shp))
    return out


class SeedSNN:
    """The converted cifar10-seed network; run() simulates one batch."""

    def __init__(self, L, s=20.0, tau=0.005, dt=0.001, v0="uniform:0"):
        self.dt = dt
        self.s = s
        if tau and tau > 0:
            self.a = math.exp(-dt / tau)
            self.b = 1.0 - self.a
        else:
            raise SystemExit("--synapse must be > 0 (the reference uses "
                             "0.005; no-synapse paths are not simulated)")
        # nengo: J = gain*(W.x) + bias with gain s and bias s*b; the
        # weights stay unscaled, the product is multiplied by s (same order)
        self.W = {k: (L[k][0], (L[k][1] * s).view(1, -1, 1, 1)
                      if k.startswith("conv") else L[k][1] * s)
                  for k in ("conv1", "conv2", "conv3", "dense1")}
        self.W5, self.b5 = L["dense2"]
        c1 = L["conv1"][0].shape[0]
        c2 = L["conv2"][0].shape[0]
        c3 = L["conv3"][0].shape[0]
        self.v0 = v0_vectors(v0, [(c1, 32, 32), (c2, 16, 16), (c3, 8, 8),
                                  (L["dense1"][0].shape[0],)])
        self.amp = 1.0 / s            # amplitude
        self.height = self.amp / dt    # one spike's height

    def _neurons(self, v, J):
        v.add_(torch.clamp_min(J, 0.0).mul_(self.dt))
        n = torch.floor(v)
        v.sub_(n)
        return n.mul_(self.height)

    def _filter(self, y, u):
        if self.a is None:
            return u
        return y.mul_(self.a).add_(u, alpha=self.b)

    @torch.no_grad()
    def run(self, x, steps, record=None):
        """x: batch x 3 x 32 x 32 (raw pixels). Returns probabilities of the
        last step; if record is a list, appends each step's probs."""
        B = x.shape[0]
        W = self.W
        sg = self.s

        def cur(y, bias):  # J = s*(W.x) + s*b
            return y.mul_(sg).add_(bias)

        J1 = cur(F.conv2d(x, W["conv1"][0], padding=1), W["conv1"][1])
        v = [t.unsqueeze(0).repeat(B, *([1] * t.dim())) for t in self.v0]
        c1, c2, c3 = J1.shape[1], W["conv2"][0].shape[0], W["conv3"][0].shape[0]
        P1 = torch.zeros(B, c1, 16, 16)  # default dtype
        P2 = torch.zeros(B, c2, 8, 8)
        P3 = torch.zeros(B, c3, 4, 4)
        Y = torch.zeros(B, self.W5.shape[0])
        p = None
        for k in range(steps):
            # every layer reads the filter states of step k-1
            p = torch.softmax(Y + self.b5, dim=1)
            if record is not None:
                record.append(p.clone())
            J2 = cur(F.conv2d(P1, W["conv2"][0], padding=1), W["conv2"][1])
            J3 = cur(F.conv2d(P2, W["conv3"][0], padding=1), W["conv3"][1])
            J4 = cur(F.linear(P3.permute(0, 2, 3, 1).flatten(1),
                              W["dense1"][0]), W["dense1"][1])
            s1 = self._neurons(v[0], J1)
            s2 = self._neurons(v[1], J2)
            s3 = self._neurons(v[2], J3)
            s4 = self._neurons(v[3], J4)
            self._filter(P1, F.avg_pool2d(s1, 2))
            self._filter(P2, F.avg_pool2d(s2, 2))
            self._filter(P3, F.avg_pool2d(s3, 2))
            self._filter(Y, F.linear(s4, self.W5))
        return p


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--dataset", default="/work/shared/datasets/cifar10")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scale", type=float, default=20.0,
                    help="scale_firing_rates (default 20)")
    ap.add_argument("--synapse", type=float, default=0.005)
    ap.add_argument("--dt", type=float, default=0.001)
    ap.add_argument("--v0", default="uniform:0",
                    help="zero | half | uniform:SEED (default uniform:0)")
    ap.add_argument("--dump", default=None,
                    help="save float32 [steps x images x classes] probs")
    ap.add_argument("--dump-images", type=int, default=10)
    ap.add_argument("--double", action="store_true",
                    help="simulate in float64 (core nengo) instead of float32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.double:
        torch.set_default_dtype(torch.float64)

    L = load_weights(args.model)
    x, y = load_cifar_test(args.dataset, args.images)
    n = len(x)
    snn = SeedSNN(L, s=args.scale, tau=args.synapse, dt=args.dt, v0=args.v0)

    # ANN (rate) pass, timed separately
    with torch.no_grad():
        ann_forward(L, x[:args.batch])  # warm-up
        t0 = time.perf_counter()
        ann_pred = torch.cat([ann_forward(L, x[i:i + args.batch]).argmax(1)
                              for i in range(0, n, args.batch)])
        ann_secs = time.perf_counter() - t0

    snn.run(x[:min(args.batch, n)], 2)  # warm-up
    preds, rec_all = [], []
    snn_secs = 0.0
    for i in range(0, n, args.batch):
        xb = x[i:i + args.batch]
        rec = [] if (args.dump and i < args.dump_images) else None
        t0 = time.perf_counter()
        p = snn.run(xb, args.steps, rec)
        snn_secs += time.perf_counter() - t0
        preds.append(p.argmax(1))
        if rec is not None:
            rec_all.append(torch.stack(rec))
    pred = torch.cat(preds)
    if args.dump:
        d = torch.cat(rec_all, dim=1)[:, :args.dump_images].numpy()
        np.save(args.dump, d.astype(np.float32))
    out = {
        "images_per_second": round(n / snn_secs, 2),
        "ann_images_per_second": round(n / ann_secs, 2),
        "snn_accuracy": round(float((pred == y).float().mean()), 4),
        "ann_accuracy": round(float((ann_pred == y).float().mean()), 4),
        "n": n,
        "steps": args.steps,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "scale_firing_rates": args.scale,
        "synapse": args.synapse,
        "v0": args.v0,
        "snn_seconds": round(snn_secs, 3),
        "agreement_snn_ann": round(float((pred == ann_pred).float().mean()), 4),
    }
    if args.dump:
        out["dump"] = args.dump
        out["dump_shape"] = list(d.shape)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
