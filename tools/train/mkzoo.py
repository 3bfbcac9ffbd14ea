#!/usr/bin/python3
"""mkzoo.py: write the zoo of small PyTorch-exported ONNX graphs used by the
unit tests (tests/data/zoo/, see its README.md).

    /usr/bin/python3 tools/train/mkzoo.py [--out tests/data/zoo]

Every graph is a model directory the library loads as is:
  NAME/model.onnx   torch.onnx.export, opset 13, input "input" (NCHW float,
                    NHWC for the nhwc graph), output "logits" (no Softmax),
                    dynamic batch axis "N" on both
  NAME/config.json  schema of include/snn/model.h (input block, 20 steps,
                    the tiny fixtures' conversion block)
  NAME/ref.json     a fixed test input (2 images, already preprocessed: the
                    tensor fed to "input") and the torch output for it

Weights are random but fixed (torch.manual_seed per graph); BatchNorm
running statistics, scales and shifts and every bias are drawn away from
their identity values so that a wrong fold or a skipped op changes the
output. Each export passes onnx.checker (full_check) and onnx_numpy.py
(float64) must agree with torch (float32) to 1e-5 before it is written.
Deterministic: rerunning rewrites byte-identical files (same torch build).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_numpy  # noqa: E402

NCLASSES = 4
TOL = 1e-5


def randomize(model, seed):
    """Non-trivial parameters and BN statistics, fixed by `seed`."""
    g = torch.Generator().manual_seed(seed)

    def u(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=g)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                bound = (6.0 / fan_in) ** 0.5  # he-uniform: keeps rates alive
                m.weight.copy_(u(m.weight.shape, -bound, bound))
                if m.bias is not None:
                    m.bias.copy_(u(m.bias.shape, -0.2, 0.3))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(u(m.weight.shape, 0.5, 1.5))
                m.bias.copy_(u(m.bias.shape, -0.2, 0.4))
                m.running_mean.copy_(u(m.running_mean.shape, -0.3, 0.3))
                m.running_var.copy_(u(m.running_var.shape, 0.5, 2.0))
    model.eval()
    return model


class Residual(nn.Module):
    """conv-BN-ReLU; basic block with identity shortcut (Add, ReLU); basic
    block with stride-2 1x1 projection shortcut + BN; GlobalAveragePool;
    Linear. Input 3x8x8."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.b1c1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.b1bn1 = nn.BatchNorm2d(4)
        self.b1c2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.b1bn2 = nn.BatchNorm2d(4)
        self.b2c1 = nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False)
        self.b2bn1 = nn.BatchNorm2d(8)
        self.b2c2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.b2bn2 = nn.BatchNorm2d(8)
        self.proj = nn.Conv2d(4, 8, 1, stride=2, bias=False)
        self.projbn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, NCLASSES)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.b1bn1(self.b1c1(x)))
        x = F.relu(self.b1bn2(self.b1c2(y)) + x)
        y = F.relu(self.b2bn1(self.b2c1(x)))
        x = F.relu(self.b2bn2(self.b2c2(y)) + self.projbn(self.proj(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class Depthwise(nn.Module):
    """conv-ReLU; depthwise 3x3 conv (groups=C) + BN + ReLU6 (exported as
    Relu + Clip 0..6); pointwise 1x1 conv + ReLU; Dropout (an inference
    Dropout node, see insert_dropout); global average pool; Linear.
    Input 3x8x8."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.dw = nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False)
        self.dwbn = nn.BatchNorm2d(6)
        self.pw = nn.Conv2d(6, 8, 1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(8, NCLASSES)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu6(self.dwbn(self.dw(x)))
        x = F.relu(self.pw(x))
        x = self.drop(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class Inception(nn.Module):
    """conv-ReLU stem; three branches (1x1 conv; 3x3 conv; MaxPool 3x3
    stride 1 pad 1 then 1x1 conv) joined by torch.cat on channels; ReLU;
    global average pool; Linear. Input 3x8x8."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.b1 = nn.Conv2d(4, 2, 1)
        self.b2 = nn.Conv2d(4, 3, 3, padding=1)
        self.b3 = nn.Conv2d(4, 2, 1)
        self.fc = nn.Linear(7, NCLASSES)

    def forward(self, x):
        x = F.relu(self.stem(x))
        y = torch.cat([self.b1(x), self.b2(x),
                       self.b3(F.max_pool2d(x, 3, stride=1, padding=1))], 1)
        x = F.adaptive_avg_pool2d(F.relu(y), 1).flatten(1)
        return self.fc(x)


class BnAfterPool(nn.Module):
    """conv-ReLU-AvgPool2, then BatchNorm2d (not foldable into a conv),
    ReLU, flatten, Linear. Input 1x8x8."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, NCLASSES)

    def forward(self, x):
        x = F.avg_pool2d(F.relu(self.conv(x)), 2)
        x = F.relu(self.bn(x))
        return self.fc(x.flatten(1))


class VggMaxpool(nn.Module):
    """2 x [conv3x3-BN-ReLU-MaxPool2x2], flatten, Linear. Input 3x8x8."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 2 * 2, NCLASSES)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(x.flatten(1))


class InputNorm(nn.Module):
    """(x - mean) / std per channel with constant Sub and Div in the graph,
    then conv-ReLU-AvgPool2, flatten, Linear. Input 3x8x8."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(
            [0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(
            [0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, NCLASSES)

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = F.avg_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(x.flatten(1))


class Nhwc(nn.Module):
    """tf2onnx-style layout: NHWC input (N x 8 x 8 x 3), Transpose to NCHW,
    conv-BN-ReLU, basic block with identity shortcut (Add, ReLU),
    MaxPool2x2, Transpose back to NHWC, channels-last flatten, Linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.c1 = nn.Conv2d(4, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, NCLASSES)

    def forward(self, x):
        x = x.permute(0, 3, 1, 2)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.c2(F.relu(self.c1(x))) + x)
        x = F.max_pool2d(x, 2)
        return self.fc(x.permute(0, 2, 3, 1).flatten(1))


# name: (class, logical input C x H x W, layout, export mode, seed)
# export mode "eval": torch's default, which folds every BatchNorm that
# follows a Conv into it; "preserve": TrainingMode.PRESERVE on the eval-mode
# model, which keeps each BatchNormalization node (inference form) so the
# importer's own folding is exercised.
ZOO = {
    "residual": (Residual, (3, 8, 8), "nchw", "eval", 1),
    "residual_bn": (Residual, (3, 8, 8), "nchw", "preserve", 1),  # = residual
    "depthwise": (Depthwise, (3, 8, 8), "nchw", "preserve", 3),
    "inception": (Inception, (3, 8, 8), "nchw", "eval", 4),
    "bn_after_pool": (BnAfterPool, (1, 8, 8), "nchw", "eval", 5),
    "vgg_maxpool": (VggMaxpool, (3, 8, 8), "nchw", "eval", 6),
    "input_norm": (InputNorm, (3, 8, 8), "nchw", "eval", 7),
    "nhwc": (Nhwc, (3, 8, 8), "nhwc", "eval", 8),
}


def insert_dropout(m, after_op, nth):
    """torch drops nn.Dropout from an eval-mode export; put back the
    inference-mode Dropout node (ratio 0.2, no training_mode input: the
    identity) that Keras/tf2onnx exports carry, after the `nth` node of
    type `after_op`."""
    from onnx import helper
    nodes = [n for n in m.graph.node if n.op_type == after_op]
    src = nodes[nth]
    old = src.output[0]
    new = old + "_predrop"
    src.output[0] = new
    for n in m.graph.node:
        for k, i in enumerate(n.input):
            if i == old:
                n.input[k] = new if n is src else i
    drop = helper.make_node("Dropout", [new], [old], name="/drop/Dropout")
    idx = list(m.graph.node).index(src)
    m.graph.node.insert(idx + 1, drop)


def make(name, out_root, log):
    import onnx
    cls, (c, h, w), layout, mode, seed = ZOO[name]
    torch.manual_seed(seed)
    model = randomize(cls(), seed)
    shape = (c, h, w) if layout == "nchw" else (h, w, c)
    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    torch.onnx.export(model, torch.zeros((1,) + shape), path,
                      opset_version=13, input_names=["input"],
                      output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=True,
                      training=torch.onnx.TrainingMode.PRESERVE
                      if mode == "preserve" else torch.onnx.TrainingMode.EVAL)
    m = onnx.load(path)
    if cls is Depthwise:
        insert_dropout(m, "Relu", 2)  # after the pointwise conv's ReLU
        onnx.save(m, path)
    onnx.checker.check_model(m, full_check=True)

    # fixed test input: 2 images, values in [0, 1) (= pixels * 1/255)
    g = torch.Generator().manual_seed(1000 + seed)
    x = torch.rand((2,) + shape, generator=g)
    with torch.no_grad():
        ref = model(x)
    got = onnx_numpy.run(m, {"input": x.numpy()})["logits"]
    err = float(np.abs(got - ref.numpy().astype(np.float64)).max())
    ops = [n.op_type for n in m.graph.node]
    log("%-14s %s  numpy vs torch %.2g" % (name, " ".join(ops), err))
    assert err < TOL, "%s: onnx_numpy disagrees with torch (%g)" % (name, err)

    cfg = {"name": "zoo-" + name.replace("_", "-"),
           "description": "unit-test zoo: " + " ".join(
               cls.__doc__.split()),
           "classes": ["c%d" % i for i in range(NCLASSES)],
           "input": {"channels": c, "height": h, "width": w,
                     "layout": layout, "scale": 1.0 / 255},
           "steps": 20,
           "conversion": {"neuron": "spiking-relu", "synapse": 0.005,
                          "scale_firing_rates": 20, "v0": "zero",
                          "dt": 0.001}}
    refj = {"seed": seed, "export": mode,
            "input_name": "input", "input_shape": list(x.shape),
            "input": [float(v) for v in x.numpy().ravel()],
            "output_name": "logits", "output_shape": list(ref.shape),
            "output": [float(v) for v in ref.numpy().ravel()],
            "ops": ops,
            "numpy_float64_max_abs_diff": err}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    with open(os.path.join(d, "ref.json"), "w") as f:
        f.write("{\n" + ",\n".join('"%s": %s' % (k, json.dumps(v))
                                    for k, v in refj.items()) + "\n}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "..", "..", "tests", "data", "zoo")
    ap.add_argument("--out", default=os.path.normpath(root))
    ap.add_argument("--only", nargs="*", default=None, choices=sorted(ZOO))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name in ZOO:
        if args.only and name not in args.only:
            continue
        make(name, args.out, print)


if __name__ == "__main__":
    main()
