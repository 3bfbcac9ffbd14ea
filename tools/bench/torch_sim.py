#!/usr/bin/python3
"""torch_sim.py: the PyTorch baseline the C engine is benchmarked against.

Two simulators, chosen by --sim (auto: `seed` for a model with the seed's
ops and raw-pixel input, `graph` for everything else):

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

    /usr/bin/python3 tools/bench/torch_sim.py --steps 30 --images 1000 \
        --dataset /work/shared/datasets/cifar10 [--dump probs.npy]

graph (GraphSNN): any graph the converter takes (residual Add, Concat,
MaxPool, grouped Conv, BatchNormalization, Clip/ReLU6, in-graph input
normalisation, NHWC) with the same semantics: every Relu/Clip an ensemble,
the synapse on every neuron-to-neuron connection (each Add/Concat input
included), biases unfiltered, MaxPool as the spiking gate (--maxpool gated,
default) or nengo_dl's max_to_avg_pool (--maxpool avg); --synapse 0 runs
without synapses (instantaneous connections). The input is preprocessed
as the model's config.json "input" block says. See the comment above
GraphSNN for the exact rules. On the seed model (--sim graph) it gives the
seed simulator's probabilities bit for bit (50 images, 30 steps, v0 half).

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


# ------------------------------------------------------------ graph models
# Any DAG the converter takes (residual Add, Concat, MaxPool, grouped Conv,
# BatchNormalization anywhere, Clip/ReLU6, constant input normalisation),
# simulated with the same nengo semantics, mapped as nengo_dl.Converter maps
# the same Keras graph (docs/nengo-semantics.md):
#   * every Relu (a Relu followed only by Clip(0, hi), or a Clip(0, hi)
#     alone: neurons whose rate saturates at hi) is an ensemble; the linear
#     nodes between ensembles are pass-through nodes;
#   * a neuron layer's input current is J = s * (U + bias): U the linear part
#     of the sub-graph that feeds it, applied to the spikes of its source
#     layers, bias that sub-graph evaluated at zero spikes (conv/Gemm biases,
#     BatchNorm shifts, constant Add/Sub; not filtered: nengo's bias nodes);
#   * every neuron-to-neuron connection, each input of an Add or Concat
#     included, carries the Lowpass synapse; the filter is linear and the
#     same on every such connection, so it is applied once to U (the sum),
#     and the layer reads U's filtered value of step k-1 (one-step delay);
#     with --synapse 0 a connection is instantaneous (same step, no filter);
#   * a layer fed by the input image only takes the constant J = s * f(x)
#     (no synapse); a join of an image path with a neuron path is refused,
#     as nengo would filter one and not the other;
#   * MaxPool, --maxpool gated (default): the spiking max-pool gate of
#     Rueckauer et al. 2017: it accumulates its input over the steps (from
#     step 0, the current step included) and each window passes the input
#     of the element with the largest sum (the first in row-major window
#     order on ties; padding never wins); on the image it is the exact max;
#     --maxpool avg: an AveragePool of the same window (nengo_dl's
#     max_to_avg_pool, padding not counted); the ANN pass always computes
#     the model's own function (exact max);
#   * readout: the graph output (or the input of a final Softmax) is the
#     linear readout of the last layers, filtered like any connection:
#     out[k] = Y[k-1] + bias (softmax of it when the graph ends in Softmax).
# v0 draws one vector per neuron layer in node order.

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

    def __init__(self, path, s=20.0, tau=0.005, dt=0.001, v0="uniform:0",
                 maxpool="gated"):
        m = onnx.load(path)
        self.s, self.dt, self.maxpool = s, dt, maxpool
        self.a = math.exp(-dt / tau) if tau and tau > 0 else None
        self.b = 1.0 - self.a if self.a is not None else None
        self.height = (1.0 / s) / dt
        self.consts = {t.name: _const(numpy_helper.to_array(t))
                       for t in m.graph.initializer}
        self.input = m.graph.input[0].name
        nodes = []
        for n in m.graph.node:
            at = onnx_numpy.attrs(n)
            if n.op_type == "Constant":
                self.consts[n.output[0]] = _const(at["value"])
                continue
            nodes.append((n.op_type, n.name, list(n.input), n.output[0], at))
        self.nodes = nodes
        out = m.graph.output[0].name
        self.softmax = bool(nodes) and nodes[-1][0] == "Softmax" \
            and nodes[-1][3] == out
        self.readout = nodes[-1][2][0] if self.softmax else out
        if self.softmax:
            self.nodes = nodes[:-1]
        consumers = {}
        for op, name, ins, o, at in self.nodes:
            for i in ins:
                consumers.setdefault(i, []).append(name)
        # neuron layers: Relu, Clip(0, hi); a Relu whose only reader is such
        # a Clip is folded into it (torch exports ReLU6 as Relu + Clip)
        self.neuron = {}   # node name -> max (inf for ReLU)
        self.passthru = set()
        by_name = {n[1]: n for n in self.nodes}
        for op, name, ins, o, at in self.nodes:
            if op == "Relu":
                self.neuron[name] = math.inf
            elif op == "Clip":
                lo, hi = self._clip_bounds(ins, at)
                if lo != 0.0:
                    raise SystemExit("node %s: Clip with min %g is not a "
                                     "neuron (min must be 0)" % (name, lo))
                self.neuron[name] = hi
                src = [n for n in self.nodes if n[3] == ins[0]]
                if src and src[0][0] == "Relu" \
                        and consumers.get(ins[0]) == [name]:
                    self.neuron.pop(src[0][1])
                    self.passthru.add(src[0][1])
        self.layers = [n[1] for n in self.nodes if n[1] in self.neuron]
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
        self.layer_in = {name: by_name[name][2][0] for name in self.layers}
        if self.readout not in dyn:
            raise SystemExit("the output does not depend on any neuron layer")
        # shapes and v0 vectors from one ANN pass
        c_h_w = [int(d.dim_value) for d in
                 m.graph.input[0].type.tensor_type.shape.dim[1:]]
        env = self._eval(torch.zeros([1] + c_h_w), mode="ann")
        shapes = [tuple(env[by_name[n][3]].shape[1:]) for n in self.layers]
        self.v0 = v0_vectors(v0, shapes)
        self.in_shape = c_h_w

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
        """Spiking max-pool gate (see the header): gates[name] holds the
        accumulated input."""
        k, st = at["kernel_shape"], at.get("strides", [1, 1])
        pads = _pool_pads(at, x, k, st)
        acc = gates.get(name)
        acc = x.clone() if acc is None else acc.add_(x)
        gates[name] = acc
        tp = _torch_pads(pads, k)
        if tp is not None:
            # torch's CPU max-pool keeps the first maximum in row-major
            # window order (strict >), padding never wins
            _, idx = F.max_pool2d(acc, k, st, tp, return_indices=True)
            return x.flatten(2).gather(2, idx.flatten(2)).view(idx.shape)
        wa = _windows(acc, k, st, pads, -math.inf)
        idx = wa.argmax(-1, keepdim=True)  # first maximum on ties
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
        targets = [self.layer_in[n] for n in self.layers] + [self.readout]
        bias = {t: zero[t] for t in targets if t in self.dyn}
        const_j = {n: zero[self.layer_in[n]] * self.s for n in self.layers
                   if self.layer_in[n] not in self.dyn}
        v = {n: v0.unsqueeze(0).repeat(B, *([1] * v0.dim()))
             for n, v0 in zip(self.layers, self.v0)}
        filt = {t: torch.zeros_like(bias[t]) for t in bias}
        gates = {}
        out = None

        def fire(n, J):
            hi = self.neuron[n]
            J = torch.clamp(J, 0.0, hi * self.s if hi < math.inf else None)
            vn = v[n]
            vn.add_(J.mul_(self.dt))
            cnt = torch.floor(vn)
            vn.sub_(cnt)
            return cnt.mul_(self.height)

        def readout(y):
            o = y + bias[self.readout]
            return torch.softmax(o, dim=1) if self.softmax else o

        for k in range(steps):
            if self.a is not None:
                out = readout(filt[self.readout])
                if record is not None:
                    record.append(out.clone())
                spikes = {}
                for n in self.layers:
                    t = self.layer_in[n]
                    J = const_j[n].clone() if n in const_j else \
                        (filt[t] + bias[t]) * self.s
                    spikes[n] = fire(n, J)
                env = self._eval(None, "lin", spikes, dict(static), gates)
                for t in filt:
                    filt[t].mul_(self.a).add_(env[t], alpha=self.b)
            else:  # no synapse: same step, in node order
                env = dict(static)
                spikes = _LazySpikes(self, env, const_j, bias, fire)
                self._eval(None, "lin", spikes, env, gates)
                out = readout(env[self.readout])
                if record is not None:
                    record.append(out.clone())
        return out


class _LazySpikes:
    """With no synapse, a layer fires on its input of the same step: the
    "lin" pass asks for spikes[n] when it reaches neuron node n, after the
    nodes that feed it (node order is topological)."""

    def __init__(self, snn, env, const_j, bias, fire):
        self.snn, self.env = snn, env
        self.const_j, self.bias, self.fire = const_j, bias, fire

    def __getitem__(self, n):
        if n in self.const_j:
            return self.fire(n, self.const_j[n].clone())
        t = self.snn.layer_in[n]
        return self.fire(n, (self.env[t] + self.bias[t]) * self.snn.s)


SEED_OPS = ["Conv", "Relu", "AveragePool"] * 3 + [
    "Transpose", "Flatten", "Gemm", "Relu", "Gemm", "Softmax"]


def model_config(onnx_path):
    """The "input" block of config.json next to the model ({} if none)."""
    path = os.path.join(os.path.dirname(os.path.abspath(onnx_path)),
                        "config.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f).get("input", {})


def is_seed_chain(onnx_path):
    """SeedSNN simulates exactly the seed topology on raw pixels."""
    m = onnx.load(onnx_path)
    cfg = model_config(onnx_path)
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
    ap.add_argument("--sim", default="auto", choices=("auto", "seed", "graph"),
                    help="seed: the hand-written cifar10-seed chain; graph: "
                         "any converted graph; auto (default): seed for a "
                         "model with the seed's ops and raw-pixel input, "
                         "graph otherwise")
    ap.add_argument("--maxpool", default="gated", choices=("gated", "avg"),
                    help="graph models: spiking max-pool gate (default) or "
                         "nengo_dl's max_to_avg_pool")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.double:
        torch.set_default_dtype(torch.float64)

    sim = args.sim
    if sim == "auto":
        sim = "seed" if is_seed_chain(args.model) else "graph"
    x, y = load_cifar_test(args.dataset, args.images)
    n = len(x)
    if sim == "seed":
        L = load_weights(args.model)
        snn = SeedSNN(L, s=args.scale, tau=args.synapse, dt=args.dt,
                      v0=args.v0)

        def ann(xb):
            return ann_forward(L, xb)
    else:
        snn = GraphSNN(args.model, s=args.scale, tau=args.synapse,
                       dt=args.dt, v0=args.v0, maxpool=args.maxpool)
        x = preprocess(x, model_config(args.model), snn.in_shape)
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
        "images_per_second": round(n / snn_secs, 2),
        "ann_images_per_second": round(n / ann_secs, 2),
        "snn_accuracy": round(float((pred == y).float().mean()), 4),
        "ann_accuracy": round(float((ann_pred == y).float().mean()), 4),
        "n": n,
        "model": args.model,
        "simulator": sim,
        "steps": args.steps,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "scale_firing_rates": args.scale,
        "synapse": args.synapse,
        "v0": args.v0,
        "snn_seconds": round(snn_secs, 3),
        "agreement_snn_ann": round(float((pred == ann_pred).float().mean()), 4),
    }
    if sim == "graph":
        out["maxpool"] = args.maxpool
        out["neuron_layers"] = len(snn.layers)
    if args.dump:
        out["dump"] = args.dump
        out["dump_shape"] = list(d.shape)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
