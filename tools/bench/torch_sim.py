#!/usr/bin/python3
"""torch_sim.py: the PyTorch baseline the C engine is benchmarked against.

Which conversion: by default the "conversion" block of the model's
config.json over the C engine's defaults, as snnctl runs the model (the
shipped, calibrated conversion); --conversion nengo starts from the nengo
reference conversion instead (spiking-relu, scale_firing_rates 20, synapse
0.005 s, v0 uniform:0, normalize none, readout filtered, no bias
correction). --set KEY=VALUE overrides one option with snnctl's keys and
syntax (neuron, dt, synapse, scale_firing_rates, v0, normalize, thresholds,
readout, maxpool, bias_correction; steps=N; early_exit=off), so a command
line of snnbench's --set flags runs here unchanged. There is no early exit.

Two simulators, chosen by --sim (auto: `seed` for a model with the seed's
ops and raw-pixel input run in the nengo semantics, `graph` otherwise):

seed: a plain time-stepped simulation of the converted cifar10-seed network
with the exact nengo_dl.Converter semantics of docs nengo-semantics.md:

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

    /usr/bin/python3 tools/bench/torch_sim.py --conversion nengo \
        --steps 30 --images 1000 --dataset /work/shared/datasets/cifar10 \
        [--dump probs.npy]

graph (GraphSNN): any graph the converter takes (residual Add, Concat,
MaxPool, grouped Conv, BatchNormalization, Clip/ReLU6, in-graph input
normalisation, NHWC) in any conversion snnctl runs, with the C engine's
arithmetic (src/convert/net.c, src/sim/engine.c): neuron spiking-relu, if or relu
(rate); per-layer gain and threshold (normalize none / ceiling (a Clip
layer's max) / max / percentile (the config's calibrated thresholds)),
per-layer scale_firing_rates, the Clip spike cap of the `if` neuron, v0
zero/half/uniform:SEED, synapse or none, readout filtered or mean, the
stored bias correction, MaxPool as the engine's spiking gate or nengo_dl's
max_to_avg_pool. The input is preprocessed as the model's config.json
"input" block says. See the comment above GraphSNN for the exact rules.
On the seed model (--sim graph) it gives the seed simulator's
probabilities bit for bit (--conversion nengo --v0 half, 50 images, 30
steps).

    /usr/bin/python3 tools/bench/torch_sim.py --model \
        models/cifar10-resnet/model.onnx --steps 30 --images 1000

prints one JSON line {"images_per_second", "ann_images_per_second",
"snn_accuracy", "ann_accuracy", "n", "simulator", ...}. images_per_second
times the spiking simulation alone (no data loading, no ANN pass).
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
sys.path.insert(0, os.path.join(HERE, "..", "train"))
import onnx_numpy  # noqa: E402  (tools/train: the ONNX attribute reader)
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


# ------------------------------------------------------------- conversion
# The conversion settings, as snnctl reads them: the "conversion" block of
# the model's config.json over the C defaults (snn_convert_params_init),
# then --set KEY=VALUE overrides with the keys and value syntax of snnctl's
# option table (src/params/params.c). --conversion nengo starts from the nengo
# reference conversion instead of the config (what `make bench` runs on the
# seed model).

C_DEFAULTS = {"neuron": "spiking-relu", "dt": "0.001", "synapse": "0.005",
              "scale_firing_rates": "1", "v0": "zero", "normalize": "none",
              "thresholds": "", "readout": "filtered", "maxpool": "gated",
              "bias_correction": "off"}
NENGO = dict(C_DEFAULTS, scale_firing_rates="20", v0="uniform:0")


def _json_param(v):
    """A config.json value as the option text (model.c json_param_string)."""
    if isinstance(v, dict):  # scale_firing_rates / thresholds objects
        return ",".join(("%.9g" % x) if k == "default" else
                        "%s=%.9g" % (k, x) for k, x in v.items())
    if v is None:
        return "none"
    if isinstance(v, bool):
        raise SystemExit("config: conversion value %r has the wrong type" % v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "%.17g" % v
    return str(v)


def load_config(onnx_path):
    """config.json next to the model ({} if none)."""
    path = os.path.join(os.path.dirname(os.path.abspath(onnx_path)),
                        "config.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def conversion_settings(cfg, base, sets):
    """{key: option text}: base ("config" or "nengo"), then `sets`
    (KEY=VALUE strings). A stored bias table is used unless the conversion
    turns it off, as in snnctl."""
    if base == "nengo":
        conv = dict(NENGO)
    else:
        conv = dict(C_DEFAULTS)
        conv["bias_correction"] = "on" if "bias_correction" in cfg else "off"
        for k, v in cfg.get("conversion", {}).items():
            conv[k.replace("-", "_")] = _json_param(v)
    for kv in sets:
        if "=" not in kv:
            raise SystemExit("--set %r: not KEY=VALUE" % kv)
        k, v = kv.split("=", 1)
        k = k.replace("-", "_")
        k = "maxpool" if k == "max_pool" else k
        if k == "early_exit":
            if v != "off":
                raise SystemExit("--set early_exit=%s: the baseline has no "
                                 "early exit (off only)" % v)
            continue
        if k not in C_DEFAULTS and k != "steps":
            raise SystemExit("--set %s: not a conversion option (%s)"
                             % (k, ", ".join(sorted(C_DEFAULTS))))
        conv[k] = v
    return conv


def _layer_values(text, what):
    """"20,conv1=10" -> (20.0 or None, {"conv1": 10.0}), float32 values."""
    default, per = None, {}
    for tok in filter(None, (t.strip() for t in text.split(","))):
        k, eq, v = tok.rpartition("=")
        try:
            x = float(np.float32(float(v)))
        except ValueError:
            raise SystemExit("%s: %r is not a number" % (what, v))
        if eq:
            per[k] = x
        else:
            default = x
    return default, per


class Conversion:
    """Parsed conversion settings (the fields snn_convert_params holds)."""

    def __init__(self, conv):
        self.text = " ".join("%s=%s" % (k, conv[k]) for k in sorted(conv)
                             if k != "steps" and conv[k] != "")
        self.neuron = conv["neuron"].replace("_", "-")
        if self.neuron not in ("spiking-relu", "if", "relu"):
            raise SystemExit("neuron: %r is not spiking-relu, if or relu"
                             % conv["neuron"])
        self.dt = float(conv["dt"])
        syn = conv["synapse"]
        self.synapse = 0.0 if syn in ("none", "null", "0") else float(syn)
        d, self.layer_scale = _layer_values(conv["scale_firing_rates"],
                                            "scale_firing_rates")
        self.scale = d if d is not None else 1.0
        self.v0 = conv["v0"]
        if not (self.v0 in ("zero", "half") or
                self.v0 == "uniform" or self.v0.startswith("uniform:")):
            raise SystemExit("v0: %r is not zero, half or uniform:SEED"
                             % self.v0)
        self.normalize = conv["normalize"].split(":")[0]
        if self.normalize not in ("none", "max", "percentile", "ceiling"):
            raise SystemExit("normalize: %r is not none, max, percentile:P "
                             "or ceiling" % conv["normalize"])
        _, self.thresholds = _layer_values(conv["thresholds"], "thresholds")
        self.readout = conv["readout"]
        if self.readout not in ("filtered", "mean"):
            raise SystemExit("readout: %r is not filtered or mean"
                             % self.readout)
        self.maxpool = conv["maxpool"]
        if self.maxpool not in ("gated", "avg"):
            raise SystemExit("maxpool: %r is not gated or avg" % self.maxpool)
        bc = str(conv["bias_correction"]).lower()
        if bc not in ("on", "off", "true", "false"):
            raise SystemExit("bias_correction: %r is not on or off" % bc)
        self.bias_correction = bc in ("on", "true")

    def is_nengo(self):
        """What SeedSNN simulates: nengo's semantics, one gain."""
        return self.neuron == "spiking-relu" and self.synapse > 0 and \
            self.normalize == "none" and self.readout == "filtered" and \
            not self.layer_scale and not self.bias_correction


def c_uniform_v0(seed, layer, n):
    """The C engine's uniform v0 of neuron layer `layer` (its index in the
    net, 1 = the first neuron layer): splitmix64 from seed * 0x100000001B3
    + layer, (z >> 40) / 2^24 as float, in the layer's storage order."""
    with np.errstate(over="ignore"):
        s0 = np.uint64((seed * 0x100000001B3 + layer) % (1 << 64))
        z = s0 + np.arange(1, n + 1, dtype=np.uint64) * \
            np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(40)).astype(np.float64) *
            (1.0 / 16777216.0)).astype(np.float32)


def c_node_order(nodes):
    """{ONNX node index: position} in the C importer's node order
    (src/import/onnx_import.c: Kahn's sort, each node's readers visited in the
    reverse of their ONNX order); layer names depend on it."""
    producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    readers = [[] for _ in nodes]
    indeg = [0] * len(nodes)
    for i, n in enumerate(nodes):
        for t in n.input:
            if t in producer:
                readers[producer[t]].append(i)
                indeg[i] += 1
    queue = [i for i in range(len(nodes)) if not indeg[i]]
    for p in queue:  # grows while it is read
        for i in reversed(readers[p]):
            indeg[i] -= 1
            if not indeg[i]:
                queue.append(i)
    return {i: k for k, i in enumerate(queue)}


def c_layer_name(node, qualified):
    """src/convert/net.c layer_name_from: "/conv1/Conv" -> "conv1"; qualified:
    "/layers/layers.0/conv1/Conv" -> "layers.0.conv1"."""
    buf = node[1:] if node.startswith("/") else node
    if "/" in buf:
        buf = buf[:buf.rindex("/")]
        if qualified and "/" in buf:
            head, last = buf[:buf.rindex("/")], buf[buf.rindex("/") + 1:]
            out = "%s.%s" % (head[head.rindex("/") + 1:] if "/" in head
                             else head, last)
        else:
            out = buf[buf.rindex("/") + 1:] if "/" in buf else buf
    else:
        out = buf
    return out[:63] or "layer"


def c_dedup_names(names, nodes):
    """src/convert/net.c's renaming of layers that share a name (names[i] from
    nodes[i]): first every such layer takes its qualified name, then the
    remaining duplicates get _2, _3, ..."""
    names = list(names)
    for pass_ in (0, 1):
        for i in range(len(names)):
            if not any(j != i and names[j] == names[i]
                       for j in range(len(names))):
                continue
            if pass_ == 0:
                ref = names[i]
                for j in range(len(names) - 1, i - 1, -1):
                    if j == i or names[j] == ref:
                        names[j] = c_layer_name(nodes[j], True)
            else:
                k = 2
                for j in range(i + 1, len(names)):
                    if names[j] == names[i]:
                        names[j] = "%s_%d" % (names[j][:50], k)
                        k += 1
    return names


# ------------------------------------------------------------ graph models
# Any DAG the converter takes (residual Add, Concat, MaxPool, grouped Conv,
# BatchNormalization anywhere, Clip/ReLU6, constant input normalisation),
# simulated as the C engine simulates its converted network (src/convert/net.c,
# src/sim/engine.c); with the nengo conversion this is the mapping of
# nengo_dl.Converter for the same Keras graph (docs/nengo-semantics.md):
#   * neuron layers: every Relu and Clip(0, hi) node; one whose only reader
#     is a later Relu/Clip is merged into it (torch's ReLU6 = Relu + Clip);
#     a layer's ceiling is the smallest Clip max of its chain (none for
#     ReLU). The linear nodes between layers are pass-through nodes. Layers
#     are named as src/convert/net.c names them (thresholds, per-layer scales and
#     the bias table are keyed by that name);
#   * gain: s = scale_firing_rates (of the layer); with normalize other
#     than none, gain = s / (threshold * dt), threshold the layer's Clip
#     max (normalize ceiling) or its calibrated threshold; amplitude =
#     1 / gain; one spike's output amplitude / dt; float32 as in C;
#   * a neuron layer's input current is J = gain * (U + bias): U the linear
#     part of the sub-graph that feeds it, applied to the spikes of its
#     source layers, bias that sub-graph evaluated at zero spikes (conv/Gemm
#     biases, BatchNorm shifts, constant Add/Sub; not filtered: nengo's bias
#     nodes) plus the stored per-channel offset with bias_correction on;
#   * neurons: v += clamp(J, jmin, jmax) * dt; k = min(max(floor(v), 0),
#     kcap); v -= k; out = k * amplitude / dt. spiking-relu: jmin 0 (nengo's
#     rectified current), a Clip layer clamps the current at jmax =
#     ceiling / amplitude; if: jmin -1e9 (signed current, the membrane keeps
#     a deficit), a Clip layer caps the spikes per step at kcap =
#     floor(ceiling / amplitude * dt + 1e-4) (at least 1); relu (rate):
#     out = min(max(J * amplitude, 0), ceiling);
#   * with a synapse every neuron-to-neuron connection, each input of an
#     Add or Concat included, carries the Lowpass; the filter is linear and
#     the same on every such connection, so it is applied once to U (the
#     sum), and the layer reads U's filtered value of step k-1 (one-step
#     delay); with synapse none a connection is instantaneous (same step,
#     node order);
#   * a layer fed by the input image only takes the constant J (no
#     synapse); a join of an image path with a neuron path is refused, as
#     nengo would filter one and not the other;
#   * MaxPool, maxpool gated (default): the engine's spiking max-pool gate
#     (src/sim/kernels.c maxpool_gate; Rueckauer et al. 2017): it accumulates
#     its input over the steps (from step 0, the current step included) and
#     each window passes the current input of its leader, the element with
#     the largest sum; the leader changes only when another element's sum
#     exceeds the leader's strictly (to the first such maximum in row-major
#     window order; padding never wins); on the image it is the exact max;
#     maxpool avg: an AveragePool of the same window (nengo_dl's
#     max_to_avg_pool, padding not counted); the ANN pass always computes
#     the model's own function (exact max);
#   * readout: the graph output (or the input of a final Softmax) is the
#     linear readout of the last layers. filtered: filtered like any
#     connection, out[k] = Y[k-1] + bias (U[k] + bias without a synapse);
#     mean: out[k] = (U[0] + ... + U[k]) / (k + 1) + bias; softmax of it when
#     the graph ends in Softmax;
#   * v0: one vector per neuron layer, the same for every image, set as the
#     C engine sets it: zero, half, or uniform:SEED drawn by the engine's
#     generator (c_uniform_v0), in its channels-last storage order.

def _const(arr):
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        return torch.from_numpy(arr.astype(np.float64)).to(
            torch.get_default_dtype())
    return torch.from_numpy(arr.astype(np.int64))


def _pool_pads(at, x, k, st):
    pads = at.get("pads", [0, 0, 0, 0])
    auto = at.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for d in range(2):
            n = x.shape[2 + d]
            o = -(-n // st[d])
            tot = max((o - 1) * st[d] + k[d] - n, 0)
            lo = tot // 2 if auto == "SAME_UPPER" else tot - tot // 2
            pads.append((lo, tot - lo))
        return [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]
    return pads


def _windows(x, k, st, pads, fill):
    """N x C x Ho x Wo x (kh*kw) view of the padded windows."""
    xp = F.pad(x, (pads[1], pads[3], pads[0], pads[2]), value=fill)
    return xp.unfold(2, k[0], st[0]).unfold(3, k[1], st[1]).flatten(4)


def _torch_pads(pads, k):
    """(top, left) when torch's own pooling can apply the pads (symmetric,
    at most half the kernel), else None."""
    if pads[0] == pads[2] and pads[1] == pads[3] and \
            2 * pads[0] <= k[0] and 2 * pads[1] <= k[1]:
        return (pads[0], pads[1])
    return None


def _avgpool(x, at, count_include_pad):
    k, st = at["kernel_shape"], at.get("strides", [1, 1])
    pads = _pool_pads(at, x, k, st)
    tp = _torch_pads(pads, k)
    if tp is not None:
        return F.avg_pool2d(x, k, st, tp, False, bool(count_include_pad))
    w = _windows(x, k, st, pads, 0.0)
    if count_include_pad or not any(pads):
        return w.mean(-1)
    ones = _windows(torch.ones_like(x[:1, :1]), k, st, pads, 0.0)
    return w.sum(-1) / ones.sum(-1)


def _maxpool(x, at):
    k, st = at["kernel_shape"], at.get("strides", [1, 1])
    pads = _pool_pads(at, x, k, st)
    tp = _torch_pads(pads, k)
    if tp is not None:
        return F.max_pool2d(x, k, st, tp)
    return _windows(x, k, st, pads, -math.inf).amax(-1)


class GraphSNN:
    """A converted ONNX graph; run() simulates one batch (see above)."""

    def __init__(self, path, conv, cfg=None):
        """conv: a Conversion; cfg: the model's config.json (input layout,
        bias_correction table)."""
        m = onnx.load(path)
        cfg = cfg or {}
        self.conv, self.maxpool = conv, conv.maxpool
        self.dt = float(np.float32(conv.dt))  # the engine's float dt
        self.a = math.exp(-conv.dt / conv.synapse) if conv.synapse > 0 \
            else None
        self.b = 1.0 - self.a if self.a is not None else None
        self.consts = {t.name: _const(numpy_helper.to_array(t))
                       for t in m.graph.initializer}
        self.input = m.graph.input[0].name
        nodes, rank = [], []
        order = c_node_order(m.graph.node)
        for j, n in enumerate(m.graph.node):
            at = onnx_numpy.attrs(n)
            if n.op_type == "Constant":
                self.consts[n.output[0]] = _const(at["value"])
                continue
            nodes.append((n.op_type, n.name, list(n.input), n.output[0], at))
            rank.append(order[j])
        self.nodes = nodes
        out = m.graph.output[0].name
        self.softmax = bool(nodes) and nodes[-1][0] == "Softmax" \
            and nodes[-1][3] == out
        self.readout = nodes[-1][2][0] if self.softmax else out
        if self.softmax:
            self.nodes = nodes[:-1]
        uses = {out: 1}  # src/convert/net.c p->uses: readers, the graph output too
        producer = {}
        for i, (op, name, ins, o, at) in enumerate(self.nodes):
            producer[o] = i
            for t in ins:
                uses[t] = uses.get(t, 0) + 1
        # neuron layers (src/convert/net.c plan_net): every Relu and Clip(0, hi),
        # except one whose only reader is a later Relu/Clip: it is merged
        # into that one (torch's ReLU6 is Relu then Clip) and passes its
        # input through; a layer's ceiling is the smallest Clip max of its
        # chain, and its stage starts at the chain's input
        self.neuron = {}   # node name -> ceiling (inf: none)
        self.passthru = set()
        self.layer_in = {}
        for i, (op, name, ins, o, at) in enumerate(self.nodes):
            if op not in ("Relu", "Clip"):
                continue
            hi = math.inf
            if op == "Clip":
                lo, hi = self._clip_bounds(ins, at)
                if lo != 0.0:
                    raise SystemExit("node %s: Clip with min %g is not a "
                                     "neuron (min must be 0)" % (name, lo))
                if not hi > 0:
                    raise SystemExit("node %s: Clip with a maximum <= 0"
                                     % name)
            if uses.get(o, 0) == 1 and any(
                    n[0] in ("Relu", "Clip") and n[2][0] == o
                    for n in self.nodes[i + 1:]):
                self.passthru.add(name)
                continue
            t = ins[0]
            while t in producer and self.nodes[producer[t]][1] in \
                    self.passthru:
                op2, _, ins2, _, at2 = self.nodes[producer[t]]
                if op2 == "Clip":
                    hi = min(hi, self._clip_bounds(ins2, at2)[1])
                t = ins2[0]
            self.neuron[name] = hi
            self.layer_in[name] = t
        self.layers = [n[1] for n in self.nodes if n[1] in self.neuron]
        by_name = {n[1]: n for n in self.nodes}
        # which tensors depend on spikes (dyn) or on the image (img)
        dyn, img = set(), {self.input}
        for op, name, ins, o, at in self.nodes:
            if op == "Shape":
                continue
            if name in self.neuron or any(i in dyn for i in ins):
                dyn.add(o)
                if name not in self.neuron and any(i in img for i in ins):
                    raise SystemExit(
                        "node %s (%s) joins the input image with a neuron "
                        "path (nengo would filter one and not the other)"
                        % (name, op))
            elif any(i in img for i in ins):
                img.add(o)
        self.dyn = dyn
        if self.readout not in dyn:
            raise SystemExit("the output does not depend on any neuron layer")
        self.names = self._c_names(
            producer, dyn | img, rank,
            (rank[-1], nodes[-1][1]) if self.softmax else
            max((r, n[1]) for r, n in zip(rank, self.nodes)))
        # shapes from one ANN pass
        c_h_w = [int(d.dim_value) for d in
                 m.graph.input[0].type.tensor_type.shape.dim[1:]]
        env = self._eval(torch.zeros([1] + c_h_w), mode="ann")
        shapes = [tuple(env[by_name[n][3]].shape[1:]) for n in self.layers]
        self.in_shape = c_h_w
        layout = self._layouts(cfg.get("input", {}).get("layout") == "nhwc")
        self.chan = {n: 2 if len(shp) == 3 and
                     layout.get(by_name[n][3]) == "nhwc" else 0
                     for n, shp in zip(self.layers, shapes)}
        self.lp = {n: self._layer_params(n, self.neuron[n])
                   for n in self.layers}
        self.v0 = [self._v0(k + 1, n, shp)
                   for k, (n, shp) in enumerate(zip(self.layers, shapes))]
        self.offset = self._bias_offsets(cfg, shapes) \
            if conv.bias_correction else {}

    def _c_names(self, producer, live, rank, ro_node):
        """Each layer's name as src/convert/net.c gives it (thresholds, per-layer
        scales and the bias table are keyed by it): from the stage's
        last scoped join (Add of two activations, Concat), else its first
        Conv/Gemm/MatMul, else its last node, "first" and "last" in the C
        importer's node order (`rank`, c_node_order); the readout (its own
        node: ro_node, an ONNX node) takes part in the renaming of
        duplicates."""
        def stage_node(t, own):  # own: (rank, name) of the layer's node
            seen, todo, idx = set(), [t], []
            while todo:
                t = todo.pop()
                if t in seen or t not in producer or t == self.input:
                    continue
                seen.add(t)
                i = producer[t]
                if self.nodes[i][1] in self.neuron:  # a layer's spikes
                    continue
                idx.append(i)
                todo += [u for u in self.nodes[i][2] if u in live]
            best, join = None, None
            for i in idx:
                op, name, ins, _, _ = self.nodes[i]
                r = (rank[i], name)
                if op in ("Conv", "Gemm", "MatMul") and \
                        (best is None or r < best):
                    best = r
                scoped = "/" in (name[1:] if name.startswith("/") else name)
                if scoped and (op == "Concat" or (op == "Add" and all(
                        u in live for u in ins[:2]))) and \
                        (join is None or r > join):
                    join = r
            last = max([(rank[i], self.nodes[i][1]) for i in idx] + [own])
            return (join or best or last)[1]
        idx = {n[1]: i for i, n in enumerate(self.nodes)}
        full = [stage_node(self.layer_in[n], (rank[idx[n]], n))
                for n in self.layers]
        full.append(stage_node(self.readout, ro_node))
        names = c_dedup_names([c_layer_name(f, False) for f in full], full)
        return dict(zip(self.layers, names))

    def _layer_params(self, n, hi):
        """gain, amplitude, spike height and current/spike bounds of layer
        n in the C engine's float arithmetic (src/convert/net.c, src/sim/engine.c)."""
        conv, f32 = self.conv, np.float32
        name = self.names[n]
        s_l = f32(conv.layer_scale.get(name, conv.scale))
        thr = f32(1.0)
        if conv.normalize != "none":
            if conv.normalize == "ceiling" and hi < math.inf:
                thr = f32(hi)
            elif name in conv.thresholds:
                thr = f32(conv.thresholds[name])
            else:
                raise SystemExit("normalize=%s: layer '%s' has no %s" % (
                    conv.normalize, name,
                    "Clip ceiling and no calibrated threshold"
                    if conv.normalize == "ceiling" else
                    "calibrated threshold (thresholds=LAYER=X)"))
            s_l = f32(s_l / f32(float(thr) * conv.dt))
        amp = f32(1.0) / s_l
        p = {"name": name, "gain": float(s_l), "amplitude": float(amp),
             "threshold": float(thr), "clip": hi,
             "height": float(f32(amp / f32(conv.dt))),
             "jmin": -1e9 if conv.neuron == "if" else 0.0,
             "jmax": 1e9, "kcap": None}
        if hi < math.inf and conv.neuron == "if":
            # the ceiling as spikes per step (at least one)
            kc = math.floor(float(f32(hi)) / float(amp) * self.dt + 1e-4)
            p["kcap"] = float(min(max(kc, 1), 1000000))
        elif hi < math.inf:
            p["jmax"] = float(f32(f32(hi) / amp))
        return p

    def _layouts(self, nhwc_input):
        """{tensor: "nchw" | "nhwc"} of the 4-D tensors: the input's from
        the config, Conv/pools/BatchNormalization give NCHW, a Transpose
        [0,3,1,2] / [0,2,3,1] swaps, element-wise ops, Pad and Concat keep
        their input's. The C engine stores every layer channels last, so a
        layer's channel axis (v0 order, per-channel offsets) follows."""
        lay = {self.input: "nhwc" if nhwc_input else "nchw"}
        for op, name, ins, o, at in self.nodes:
            src = next((lay[i] for i in ins if i in lay), None)
            if op in ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
                      "BatchNormalization"):
                lay[o] = "nchw"
            elif op == "Transpose":
                perm = list(at.get("perm", []))
                if (src, perm) == ("nhwc", [0, 3, 1, 2]):
                    lay[o] = "nchw"
                elif (src, perm) == ("nchw", [0, 2, 3, 1]):
                    lay[o] = "nhwc"
            elif op in ("Relu", "Clip", "Add", "Sub", "Mul", "Div", "Pad",
                        "Concat", "Identity", "Dropout") and src:
                lay[o] = src
        return lay

    def _v0(self, layer, n, shp):
        """Initial voltages of neuron layer n, number `layer` (1-based),
        one vector for every image, as the C engine sets them; its storage
        order is channels last."""
        size = int(np.prod(shp))
        mode = self.conv.v0
        if mode in ("zero", "half"):
            v = np.full(size, 0.0 if mode == "zero" else 0.5, np.float32)
        else:
            seed = int(mode.split(":", 1)[1]) if ":" in mode else 0
            v = c_uniform_v0(seed, layer, size)
        t = torch.from_numpy(v).to(torch.get_default_dtype())
        if len(shp) == 3 and self.chan[n] == 0:
            return t.view(shp[1], shp[2], shp[0]).permute(2, 0, 1) \
                .contiguous()
        return t.view(shp)

    def _bias_offsets(self, cfg, shapes):
        """bias_correction=on: the model's stored per-channel offsets
        (config.json "bias_correction" "layers"), added to the bias of the
        neuron layer they name (src/convert/net.c apply_bias_table)."""
        table = cfg.get("bias_correction", {}).get("layers")
        if table is None:
            raise SystemExit("bias_correction=on: the model has no "
                             "bias_correction table")
        by_name = {self.names[n]: (n, shp)
                   for n, shp in zip(self.layers, shapes)}
        out = {}
        for lname, off in table.items():
            if lname not in by_name:
                raise SystemExit("bias_correction: '%s' is not a neuron "
                                 "layer of the model" % lname)
            n, shp = by_name[lname]
            ax = self.chan[n]
            if len(off) != shp[ax]:
                raise SystemExit("bias_correction: layer '%s' has %d "
                                 "channels, not %d" % (lname, shp[ax],
                                                       len(off)))
            view = [1] * len(shp)
            view[ax] = -1
            out[n] = torch.from_numpy(np.asarray(off, np.float32)).to(
                torch.get_default_dtype()).view(view)
        return out

    def _clip_bounds(self, ins, at):
        lo = float(self.consts[ins[1]]) if len(ins) > 1 and ins[1] else \
            at.get("min", -math.inf)
        hi = float(self.consts[ins[2]]) if len(ins) > 2 and ins[2] else \
            at.get("max", math.inf)
        return lo, hi

    def _eval(self, x, mode, spikes=None, env=None, gates=None):
        """Evaluate the graph. mode "ann": the model's own function (ReLU,
        Clip, exact max). mode "zero": neuron outputs are 0 (the image
        paths and every layer's bias), max-pool per --maxpool on constant
        input (gated = exact max). mode "lin": only the spike-dependent
        nodes, their linear part (no biases), neuron outputs = `spikes`,
        MaxPool gated (state in `gates`) or averaged; `env` holds the rest."""
        env = dict(self.consts) if env is None else env
        if x is not None:
            env[self.input] = x
        lin = mode == "lin"
        for op, name, ins, o, at in self.nodes:
            if lin and o not in self.dyn:
                continue
            if name in self.neuron:
                if mode == "ann":
                    y = torch.clamp(env[ins[0]], 0.0, self.neuron[name])
                elif mode == "zero":
                    y = torch.zeros_like(env[ins[0]])
                else:
                    y = spikes[name]
                env[o] = y
                continue
            if name in self.passthru:
                env[o] = env[ins[0]]
                continue
            env[o] = self._op(op, name, ins, at, env, lin, mode, gates)
        return env

    def _op(self, op, name, ins, at, env, lin, mode, gates):
        def val(i):
            return env[i] if i else None

        def isdyn(i):
            return lin and i in self.dyn

        x = val(ins[0])
        if op == "Conv":
            k = len(at.get("kernel_shape", x.shape[2:]))
            pads = at.get("pads", [0] * 2 * k)
            w = val(ins[1])
            if at.get("auto_pad", "NOTSET") != "NOTSET":
                pads = _pool_pads(at, x, list(w.shape[2:]),
                                  at.get("strides", [1, 1]))
            b = None if lin or len(ins) < 3 else val(ins[2])
            if pads[0] == pads[2] and pads[1] == pads[3]:
                xp, tp = x, (pads[0], pads[1])
            else:
                xp, tp = F.pad(x, (pads[1], pads[3], pads[0], pads[2])), 0
            return F.conv2d(xp, w, b, at.get("strides", [1, 1]), tp,
                            at.get("dilations", [1, 1]), at.get("group", 1))
        if op == "Gemm":
            a = x.t() if at.get("transA", 0) else x
            bm = val(ins[1])
            bm = bm.t() if at.get("transB", 0) else bm
            y = (a @ bm) * at.get("alpha", 1.0)
            if not lin and len(ins) > 2 and ins[2]:
                y = y + at.get("beta", 1.0) * val(ins[2])
            return y
        if op == "MatMul":
            return x @ val(ins[1])
        if op in ("Add", "Sub"):
            a, b = val(ins[0]), val(ins[1])
            if lin:
                a = a if isdyn(ins[0]) else None
                b = b if isdyn(ins[1]) else None
                if b is None:
                    return a
                if a is None:
                    return b if op == "Add" else -b
            return a + b if op == "Add" else a - b
        if op in ("Mul", "Div"):
            a, b = val(ins[0]), val(ins[1])
            if lin and isdyn(ins[0]) and isdyn(ins[1]):
                raise SystemExit("node %s: %s of two activations" % (name, op))
            return a * b if op == "Mul" else a / b
        if op == "BatchNormalization":
            g, bb, mu, var = (val(i) for i in ins[1:5])
            sh = (1, -1) + (1,) * (x.dim() - 2)
            scale = g / torch.sqrt(var + at.get("epsilon", 1e-5))
            if lin:
                return x * scale.view(sh)
            return x * scale.view(sh) + (bb - mu * scale).view(sh)
        if op == "AveragePool":
            return _avgpool(x, at, at.get("count_include_pad", 0))
        if op == "GlobalAveragePool":
            return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
        if op == "MaxPool":
            if self.maxpool == "avg" and mode != "ann":
                return _avgpool(x, at, 0)
            if not lin:
                return _maxpool(x, at)
            return self._gate(name, x, at, gates)
        if op == "Pad":
            pads = [int(v) for v in (val(ins[1]) if len(ins) > 1
                                     else at["pads"])]
            k = x.dim()
            fill = 0.0 if lin or len(ins) < 3 or not ins[2] \
                else float(val(ins[2]))
            assert at.get("mode", "constant") == "constant", name
            spec = []
            for d in reversed(range(k)):
                spec += [pads[d], pads[d + k]]
            return F.pad(x, spec, value=fill)
        if op == "Concat":
            parts = [val(i) if not lin or isdyn(i) else
                     torch.zeros_like(val(i)) for i in ins]
            if parts[0].dtype == torch.int64 or parts[0].dim() <= 1:
                parts = [p.reshape(-1) for p in parts]
            return torch.cat(parts, at["axis"])
        if op == "Flatten":
            ax = at.get("axis", 1)
            return x.reshape(int(np.prod(x.shape[:ax])), -1)
        if op == "Reshape":
            shape = [int(v) for v in val(ins[1])]
            shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
            return x.reshape(shape)
        if op == "Transpose":
            return x.permute(*at.get("perm", list(reversed(range(x.dim())))))
        if op in ("Identity", "Dropout"):
            return x
        if op == "Shape":
            return torch.tensor(list(x.shape), dtype=torch.int64)
        if op == "Gather":
            idx = val(ins[1])
            return torch.index_select(x, at.get("axis", 0),
                                      idx.reshape(-1)).reshape(
                x.shape[:at.get("axis", 0)] + idx.shape +
                x.shape[at.get("axis", 0) + 1:])
        if op == "Unsqueeze":
            for ax in sorted(int(a) for a in val(ins[1])):
                x = x.unsqueeze(ax)
            return x
        if op == "Squeeze":
            axes = [int(a) for a in val(ins[1])] if len(ins) > 1 and ins[1] \
                else [d for d, n in enumerate(x.shape) if n == 1]
            for ax in sorted(axes, reverse=True):
                x = x.squeeze(ax)
            return x
        raise SystemExit("unsupported op %s at node %s" % (op, name))

    def _gate(self, name, x, at, gates):
        """Spiking max-pool gate (see the header; src/sim/kernels.c
        maxpool_gate): gates[name] holds the accumulated input and each
        window's leader, which changes only when an element's accumulated
        input exceeds the leader's strictly (to the first such maximum in
        row-major window order)."""
        k, st = at["kernel_shape"], at.get("strides", [1, 1])
        pads = _pool_pads(at, x, k, st)
        acc, lead = gates.get(name, (None, None))
        acc = x.clone() if acc is None else acc.add_(x)
        tp = _torch_pads(pads, k)
        if tp is not None:
            # leaders as flat indices into H x W; torch's CPU max-pool keeps
            # the first maximum in row-major window order (strict >),
            # padding never wins
            best, idx = F.max_pool2d(acc, k, st, tp, return_indices=True)
            flat = acc.flatten(2)
            if lead is not None:
                held = flat.gather(2, lead.flatten(2)).view(best.shape)
                idx = torch.where(best > held, idx, lead)
            gates[name] = (acc, idx)
            return x.flatten(2).gather(2, idx.flatten(2)).view(idx.shape)
        wa = _windows(acc, k, st, pads, -math.inf)
        idx = wa.argmax(-1, keepdim=True)  # first maximum on ties
        best = wa.gather(-1, idx)
        if lead is not None:
            idx = torch.where(best > wa.gather(-1, lead), idx, lead)
        gates[name] = (acc, idx)
        return _windows(x, k, st, pads, 0.0).gather(-1, idx).squeeze(-1)

    @torch.no_grad()
    def ann(self, x):
        out = self._eval(x, mode="ann")[self.readout]
        return torch.softmax(out, dim=1) if self.softmax else out

    @torch.no_grad()
    def run(self, x, steps, record=None):
        """x: batch (preprocessed, model layout). Returns the output of the
        last step; if record is a list, appends each step's output."""
        B = x.shape[0]
        zero = self._eval(x, mode="zero")
        static = {t: v for t, v in zero.items() if t not in self.dyn}
        # each layer's bias (the stage at zero spikes, plus the bias
        # correction); a layer on the image only has a constant current
        bias = {n: zero[self.layer_in[n]] + self.offset[n]
                if n in self.offset else zero[self.layer_in[n]]
                for n in self.layers}
        const_j = {n: bias[n] * self.lp[n]["gain"] for n in self.layers
                   if self.layer_in[n] not in self.dyn}
        ro_bias = zero[self.readout]
        mean = self.conv.readout == "mean"
        v = {n: v0.unsqueeze(0).repeat(B, *([1] * v0.dim()))
             for n, v0 in zip(self.layers, self.v0)}
        # synapse states of the tensors that feed layers (and the filtered
        # readout)
        filt = {}
        if self.a is not None:
            for t in [self.layer_in[n] for n in self.layers] + \
                    ([] if mean else [self.readout]):
                if t in self.dyn:
                    filt[t] = torch.zeros_like(zero[t])
        acc = torch.zeros_like(ro_bias) if mean else None
        gates = {}
        out = None

        def current(n, u):  # J = gain * (u + bias), u the stage's input
            if n in const_j:
                return const_j[n].clone()
            return (u + bias[n]).mul_(self.lp[n]["gain"])

        def fire(n, J):
            p = self.lp[n]
            if self.conv.neuron == "relu":  # rate: the ANN's activation
                a = J.mul_(p["amplitude"]).clamp_(min=0.0)
                return a.clamp_(max=p["clip"]) if p["clip"] < math.inf \
                    else a
            vn = v[n]
            vn.add_(J.clamp_(p["jmin"], p["jmax"]).mul_(self.dt))
            cnt = torch.floor(vn).clamp_(0.0, p["kcap"])
            vn.sub_(cnt)
            return cnt.mul_(p["height"])

        def readout(u, k):  # u: this step's readout input (or filtered)
            if mean:
                o = acc.add_(u) / float(k + 1) + ro_bias
            else:
                o = u + ro_bias
            o = torch.softmax(o, dim=1) if self.softmax else o
            if record is not None:
                record.append(o.clone())
            return o

        for k in range(steps):
            if self.a is not None:
                # every layer reads its synapse state of step k-1
                if not mean:
                    out = readout(filt[self.readout], k)
                spikes = {n: fire(n, current(n, filt.get(self.layer_in[n])))
                          for n in self.layers}
                env = self._eval(None, "lin", spikes, dict(static), gates)
                for t in filt:
                    filt[t].mul_(self.a).add_(env[t], alpha=self.b)
            else:  # no synapse: same step, in node order
                env = dict(static)
                spikes = _LazySpikes(self.layer_in, env, current, fire)
                self._eval(None, "lin", spikes, env, gates)
            if mean or self.a is None:
                out = readout(env[self.readout], k)
        return out


class _LazySpikes:
    """With no synapse, a layer fires on its input of the same step: the
    "lin" pass asks for spikes[n] when it reaches neuron node n, after the
    nodes that feed it (node order is topological)."""

    def __init__(self, layer_in, env, current, fire):
        self.layer_in, self.env = layer_in, env
        self.current, self.fire = current, fire

    def __getitem__(self, n):
        return self.fire(n, self.current(n, self.env.get(self.layer_in[n])))


SEED_OPS = ["Conv", "Relu", "AveragePool"] * 3 + [
    "Transpose", "Flatten", "Gemm", "Relu", "Gemm", "Softmax"]


def is_seed_chain(onnx_path):
    """SeedSNN simulates exactly the seed topology on raw pixels."""
    m = onnx.load(onnx_path)
    cfg = load_config(onnx_path).get("input", {})
    raw = cfg.get("scale", 1.0) == 1.0 and \
        not any(cfg.get("mean", [0.0])) and \
        all(v == 1.0 for v in cfg.get("std", [1.0]))
    names = {n.name.strip("/").split("/")[0] for n in m.graph.node}
    return raw and [n.op_type for n in m.graph.node] == SEED_OPS and \
        {"conv1", "conv2", "conv3", "dense1", "dense2"} <= names


def preprocess(x_raw, cfg, in_shape):
    """Raw 0..255 N x 3 x H x W -> the model input as config.json's input
    block says: x = (raw * scale - mean) / std, NHWC if the graph input is
    N x H x W x C."""
    c = x_raw.shape[1]
    x = x_raw * float(cfg.get("scale", 1.0))
    mean = torch.tensor(cfg.get("mean", [0.0] * c), dtype=x.dtype)
    std = torch.tensor(cfg.get("std", [1.0] * c), dtype=x.dtype)
    x = (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    if list(in_shape) == [x.shape[2], x.shape[3], c] and in_shape[0] != c:
        x = x.permute(0, 2, 3, 1).contiguous()
    elif list(in_shape) != list(x.shape[1:]):
        raise SystemExit("model input %s does not take %s images"
                         % (in_shape, list(x.shape[1:])))
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--dataset", default="/work/shared/datasets/cifar10")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--conversion", default="config",
                    choices=("config", "nengo"),
                    help="config (default): the conversion block of the "
                         "model's config.json, as snnctl runs it; nengo: "
                         "the nengo reference conversion (spiking-relu, "
                         "scale_firing_rates 20, synapse 0.005, v0 "
                         "uniform:0, normalize none, readout filtered)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a conversion option, snnctl's keys and "
                         "syntax: neuron, dt, synapse, scale_firing_rates, "
                         "v0, normalize, thresholds, readout, maxpool, "
                         "bias_correction (early_exit=off and steps=N are "
                         "accepted too)")
    ap.add_argument("--scale", default=None,
                    help="= --set scale_firing_rates=X")
    ap.add_argument("--synapse", default=None, help="= --set synapse=S|none")
    ap.add_argument("--dt", default=None, help="= --set dt=S")
    ap.add_argument("--v0", default=None,
                    help="= --set v0=zero|half|uniform:SEED")
    ap.add_argument("--dump", default=None,
                    help="save float32 [steps x images x classes] probs")
    ap.add_argument("--dump-images", type=int, default=10)
    ap.add_argument("--double", action="store_true",
                    help="simulate in float64 (core nengo) instead of float32")
    ap.add_argument("--sim", default="auto", choices=("auto", "seed", "graph"),
                    help="seed: the hand-written cifar10-seed chain; graph: "
                         "any converted graph; auto (default): seed for a "
                         "model with the seed's ops and raw-pixel input, "
                         "graph otherwise")
    ap.add_argument("--maxpool", default=None, choices=("gated", "avg"),
                    help="= --set maxpool=gated|avg: the spiking max-pool "
                         "gate or nengo_dl's max_to_avg_pool")
    args = ap.parse_args()
    cfg = load_config(args.model)
    sets = ["%s=%s" % (k, v) for k, v in (
        ("scale_firing_rates", args.scale), ("synapse", args.synapse),
        ("dt", args.dt), ("v0", args.v0), ("maxpool", args.maxpool))
        if v is not None] + args.set
    settings = conversion_settings(cfg, args.conversion, sets)
    if "steps" in settings:
        args.steps = int(settings.pop("steps"))
    conv = Conversion(settings)
    torch.set_num_threads(args.threads)
    if args.double:
        torch.set_default_dtype(torch.float64)

    sim = args.sim
    if sim == "auto":
        sim = "seed" if is_seed_chain(args.model) and conv.is_nengo() \
            else "graph"
    if sim == "seed" and not conv.is_nengo():
        raise SystemExit("--sim seed simulates nengo's semantics only "
                         "(spiking-relu, a synapse, normalize none, readout "
                         "filtered, one scale, no bias correction): %s"
                         % conv.text)
    x, y = load_cifar_test(args.dataset, args.images)
    n = len(x)
    if sim == "seed":
        L = load_weights(args.model)
        snn = SeedSNN(L, s=conv.scale, tau=conv.synapse, dt=conv.dt,
                      v0=conv.v0)

        def ann(xb):
            return ann_forward(L, xb)
    else:
        snn = GraphSNN(args.model, conv, cfg)
        x = preprocess(x, cfg.get("input", {}), snn.in_shape)
        ann = snn.ann

    # ANN (rate) pass, timed separately
    with torch.no_grad():
        ann(x[:args.batch])  # warm-up
        t0 = time.perf_counter()
        ann_pred = torch.cat([ann(x[i:i + args.batch]).argmax(1)
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
        "images_per_second": float("%.4g" % (n / snn_secs)),
        "ann_images_per_second": float("%.4g" % (n / ann_secs)),
        "snn_accuracy": round(float((pred == y).float().mean()), 4),
        "ann_accuracy": round(float((ann_pred == y).float().mean()), 4),
        "n": n,
        "model": args.model,
        "simulator": sim,
        "steps": args.steps,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "conversion": conv.text,
        "snn_seconds": round(snn_secs, 3),
        "agreement_snn_ann": round(float((pred == ann_pred).float().mean()), 4),
    }
    if sim == "graph":
        out["neuron_layers"] = len(snn.layers)
        out["layers"] = {p["name"]: {"threshold": p["threshold"],
                                     "gain": p["gain"], "kcap": p["kcap"]}
                         for p in snn.lp.values()}
    if args.dump:
        out["dump"] = args.dump
        out["dump_shape"] = list(d.shape)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
