#!/usr/bin/python3
"""train.py: train and export the models shipped with snnd.

    /usr/bin/python3 tools/train/train.py --recipe NAME --out models/NAME \
        [--epochs N] [--seed S] [--threads 2] [--act relu|qcfs:L]
        [--blocks N]
        [--rate-penalty LAMBDA]

Recipes: fashion-mnist, cifar10-seed, cifar10, cifar10-resnet, cifar10-vgg
(see tools/train/README.md).
Writes OUT/model.onnx (opset 13, input "input" NCHW float, output "probs",
dynamic batch axis "N", the graph ends with Softmax) and OUT/config.json
(schema: include/snn/model.h). The ONNX file is checked with onnx.checker and
evaluated by a small numpy interpreter (onnx_numpy.py) against torch on 10
test images before the config is written.

Deterministic for a given seed, thread count and machine (CPU only).
"""
import argparse
import datetime
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_numpy  # noqa: E402

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
CIFAR_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "..", "..", "..", "shared", "datasets", "cifar10")
if not os.path.isdir(CIFAR_DIR):
    CIFAR_DIR = "/work/shared/datasets/cifar10"

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog",
                 "frog", "horse", "ship", "truck"]

# nengo_dl.Converter(scale_firing_rates=20, synapse=0.005), n_steps=30
SEED_CONVERSION = {"neuron": "spiking-relu", "synapse": 0.005,
                   "scale_firing_rates": 20, "v0": "uniform:0", "dt": 0.001}
OVERRIDABLE = ["steps", "synapse", "scale_firing_rates", "v0", "neuron",
               "readout", "normalize", "early_exit", "dt"]


# ---------------------------------------------------------------- data

def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(root=FASHION_DIR):
    """uint8 images N x 1 x 28 x 28 and int64 labels."""
    out = []
    for split in ("train", "t10k"):
        x = load_idx(os.path.join(root, split + "-images-idx3-ubyte.gz"))
        y = load_idx(os.path.join(root, split + "-labels-idx1-ubyte.gz"))
        out.append((x[:, None, :, :].copy(), y.astype(np.int64)))
    return out


def load_cifar_file(path):
    raw = np.fromfile(path, np.uint8).reshape(-1, 3073)
    return raw[:, 1:].reshape(-1, 3, 32, 32).copy(), raw[:, 0].astype(np.int64)


def load_cifar(root=CIFAR_DIR):
    """uint8 images N x 3 x 32 x 32 (RGB planes) and int64 labels."""
    parts = [load_cifar_file(os.path.join(root, "data_batch_%d.bin" % i))
             for i in range(1, 6)]
    xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    return (xtr, ytr), load_cifar_file(os.path.join(root, "test_batch.bin"))


# ---------------------------------------------------------------- models

def keras_init(module, he=()):
    """Keras defaults: glorot_uniform weights, zero biases; he_uniform for
    the layers named in `he`."""
    for name, m in module.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if name in he:
                nn.init.kaiming_uniform_(m.weight, a=0, mode="fan_in",
                                         nonlinearity="relu")  # sqrt(6/fan_in)
            else:
                nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


class Cifar10Net(nn.Module):
    """3 x [Conv3x3 'same' + (BN) + ReLU + AvgPool2], Flatten (channels-last
    order, as Keras does), Dense ReLU, Dense + Softmax."""

    def __init__(self, widths=(32, 64, 128), dense=512, bn=False,
                 dropout=0.0, in_ch=3, size=32, nclasses=10):
        super().__init__()
        c1, c2, c3 = widths
        self.conv1 = nn.Conv2d(in_ch, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1)
        self.bn = bn
        if bn:
            self.bn1 = nn.BatchNorm2d(c1, eps=1e-3)
            self.bn2 = nn.BatchNorm2d(c2, eps=1e-3)
            self.bn3 = nn.BatchNorm2d(c3, eps=1e-3)
        self.dense1 = nn.Linear(c3 * (size // 8) ** 2, dense)
        self.drop = nn.Dropout(dropout) if dropout > 0 else None
        self.dense2 = nn.Linear(dense, nclasses)

    def forward(self, x, logits=False):
        for i in (1, 2, 3):
            x = getattr(self, "conv%d" % i)(x)
            if self.bn:
                x = getattr(self, "bn%d" % i)(x)
            x = F.avg_pool2d(F.relu(x), 2, count_include_pad=False)
        x = x.permute(0, 2, 3, 1).flatten(1)  # Keras channels-last flatten
        x = F.relu(self.dense1(x))
        if self.drop is not None:
            x = self.drop(x)
        x = self.dense2(x)
        return x if logits else F.softmax(x, dim=1)


class _QCFSFn(torch.autograd.Function):
    """QCFS in one op: y = lam * clamp(floor(x * L / lam + 1/2) / L, 0, 1),
    with the straight-through gradient of the floor. For u = floor(...)/L
    (unclamped) and inside = 0 <= u <= 1: dy/dx = inside, dy/dlam =
    clamp(u, 0, 1) - inside * x / lam; the same gradients as writing the
    floor as q + (floor(q + 1/2) - q).detach() in autograd (checked by
    --check-qcfs), without its five intermediate tensors."""

    @staticmethod
    def forward(ctx, x, lam, levels):
        ctx.save_for_backward(x, lam)
        ctx.levels = levels
        u = torch.floor(x * (levels / lam) + 0.5).div_(levels).clamp_(0.0, 1.0)
        return u.mul_(lam)

    @staticmethod
    def backward(ctx, g):
        x, lam = ctx.saved_tensors
        u = torch.floor(x * (ctx.levels / lam) + 0.5).div_(ctx.levels)
        inside = ((u >= 0) & (u <= 1)).to(g.dtype)
        gx = g * inside
        glam = (g * (u.clamp_(0.0, 1.0) - inside * x / lam)).sum()
        return gx, glam.reshape(lam.shape), None


class QCFS(nn.Module):
    """Quantization-clip-floor-shift activation (Bu et al., ICLR 2022), the
    ReLU of a network trained for conversion: in training
    y = lam * clamp(floor(x * L / lam + 1/2) / L, 0, 1) with a learned
    ceiling lam per layer and a straight-through gradient for the floor; in
    evaluation and in the exported ONNX graph it is Clip(0, lam), a ReLU
    with a maximum (snnd converts it to a neuron layer whose ceiling is
    lam). An integrate-and-fire neuron with threshold lam and a half-
    threshold initial membrane then reproduces the training-time
    quantisation after about L steps."""

    def __init__(self, levels=4, init=4.0):
        super().__init__()
        self.levels = levels
        self.lam = nn.Parameter(torch.tensor(float(init)))

    def forward(self, x):
        if not self.training:
            return torch.clamp(x, 0.0, float(self.lam))
        return _QCFSFn.apply(x, self.lam, self.levels)


def check_qcfs():
    """The fused QCFS gradients against the autograd formulation."""
    torch.manual_seed(0)
    for levels in (2, 4, 8):
        x = (torch.randn(4, 8, 5, 5, dtype=torch.float64) * 3).requires_grad_()
        lam = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
        g = torch.randn(4, 8, 5, 5, dtype=torch.float64)
        q = x * (levels / lam)
        q = q + (torch.floor(q + 0.5) - q).detach()
        ref = lam * torch.clamp(q / levels, 0.0, 1.0)
        rx, rl = torch.autograd.grad(ref, (x, lam), g)
        got = _QCFSFn.apply(x, lam, levels)
        gx, gl = torch.autograd.grad(got, (x, lam), g)
        assert torch.allclose(ref, got) and torch.allclose(rx, gx) and torch.allclose(rl, gl), levels
    print("qcfs: fused forward and gradients equal the autograd form (L = 2, 4, 8)")


def make_act(act):
    """ReLU module factory: "relu", or "qcfs:L" (QCFS with L levels)."""
    if act == "relu":
        return nn.ReLU
    if act.startswith("qcfs:"):
        levels = int(act.split(":", 1)[1])
        return lambda: QCFS(levels)
    raise ValueError("unknown activation %r" % act)


class BasicBlock(nn.Module):
    """ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut
    (identity, or a 1x1 projection conv + BN when the stride or the width
    changes), added, then ReLU."""

    def __init__(self, cin, cout, stride, act=nn.ReLU):
        super().__init__()
        self.act1, self.act2 = act(), act()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Conv2d(cin, cout, 1, stride, bias=False)
            self.projbn = nn.BatchNorm2d(cout)

    def fanin_cost(self):
        """Synaptic ops one spike of an input unit costs in this block:
        conv1's fan-out plus the shortcut's (1 for identity)."""
        s2 = self.conv1.stride[0] ** 2
        sc = 1.0 if self.proj is None else self.proj.out_channels / s2
        return self.conv1.out_channels * 9 / s2 + sc

    def forward(self, x, acts=None):
        y = self.act1(self.bn1(self.conv1(x)))
        if acts is not None:
            acts.append((y, self.conv2.out_channels * 9, rate_threshold(self.act1)))
        y = self.bn2(self.conv2(y))
        sc = x if self.proj is None else self.projbn(self.proj(x))
        return self.act2(y + sc)


class ResNetCifar(nn.Module):
    """CIFAR ResNet (He et al. 2016, section 4.2, with 1x1 projection
    shortcuts): conv3x3-BN-ReLU stem, three stages of `blocks` basic blocks
    at `widths` channels (the first block of stages 2 and 3 has stride 2
    and a projection shortcut, the others identity shortcuts), global
    average pool, Linear + Softmax."""

    def __init__(self, widths=(16, 32, 64), blocks=2, nclasses=10,
                 act=nn.ReLU):
        super().__init__()
        self.stem = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.stembn = nn.BatchNorm2d(widths[0])
        self.stemact = act()
        layers, cin = [], widths[0]
        for i, c in enumerate(widths):
            for j in range(blocks):
                layers.append(BasicBlock(cin, c, 2 if i > 0 and j == 0 else 1,
                                         act))
                cin = c
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, nclasses)
        # fan-out of each block's output activation, for the rate penalty:
        # the next block's conv1 and shortcut, or the classifier's share of
        # the global average pool (8 x 8 for a 32 x 32 input)
        self.fanouts = [b.fanin_cost() for b in layers[1:]] + [nclasses / 64]

    def forward(self, x, logits=False, acts=None):
        """acts: as FashionNet.forward, each hidden activation with the
        synaptic ops one of its units' spikes costs and its threshold."""
        x = self.stemact(self.stembn(self.stem(x)))
        if acts is not None:
            acts.append((x, self.layers[0].fanin_cost(),
                         rate_threshold(self.stemact)))
        for blk, fanout in zip(self.layers, self.fanouts):
            x = blk(x, acts)
            if acts is not None:
                acts.append((x, fanout, rate_threshold(blk.act2)))
        x = self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
        return x if logits else F.softmax(x, dim=1)


class VggCifar(nn.Module):
    """VGG-style: stages of [conv3x3-BN-ReLU] x 2 followed by MaxPool 2x2
    (`cfg`, "M" = pool), flatten (NCHW order), Linear + Softmax."""

    def __init__(self, cfg=(32, 32, "M", 64, 64, "M", 128, 128, "M"),
                 size=32, nclasses=10, act=nn.ReLU):
        super().__init__()
        layers, cin = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                size //= 2
            else:
                layers += [nn.Conv2d(cin, v, 3, 1, 1, bias=False),
                           nn.BatchNorm2d(v), act()]
                cin = v
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin * size * size, nclasses)

    def forward(self, x, logits=False):
        x = self.fc(self.features(x).flatten(1))
        return x if logits else F.softmax(x, dim=1)


def he_init(module, zero_residual=False):
    """Convs: kaiming normal (fan_out, relu) as torchvision's ResNet; BN
    scale 1 shift 0; with zero_residual the last BN of every residual
    branch starts at 0 so each block starts as its shortcut (Goyal et al.
    2017). That trick is for deep networks: the wide ResNet-8 learned far
    slower with it (4 epochs of 10,000 images: 39.6% test against 50.7%
    without, the VGG recipe 52.6%), so no recipe uses it now; Linear:
    torch's default."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out",
                                    nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in module.modules():
        if zero_residual and isinstance(m, BasicBlock):
            nn.init.zeros_(m.bn2.weight)


class FashionNet(nn.Module):
    """Conv 8 3x3 'same' + ReLU + AvgPool2, Conv 16 3x3 'same' + ReLU +
    AvgPool2, Flatten (channels-last), Dense 64 ReLU, Dense 10 + Softmax."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.dense1 = nn.Linear(16 * 7 * 7, 64)
        self.dense2 = nn.Linear(64, 10)

    def forward(self, x, logits=False, acts=None):
        """acts: a list that receives (activation, fan-out per unit) of each
        hidden ReLU, for the rate penalty (fan-out: the synaptic ops one
        unit's spike costs, the avg pool's share counted, as src/convert/net.c)."""
        a1 = F.relu(self.conv1(x))
        x = F.avg_pool2d(a1, 2, count_include_pad=False)
        a2 = F.relu(self.conv2(x))
        x = F.avg_pool2d(a2, 2, count_include_pad=False)
        x = x.permute(0, 2, 3, 1).flatten(1)
        a3 = F.relu(self.dense1(x))
        x = self.dense2(a3)
        if acts is not None:
            acts += [(a1, self.conv2.weight[:, 0].numel() / 4, None),
                     (a2, self.dense1.out_features / 4, None),
                     (a3, self.dense2.out_features, None)]
        return x if logits else F.softmax(x, dim=1)


def rate_threshold(act):
    """The threshold a converted layer gets: a QCFS layer's ceiling lam
    (detached; snnd's normalize=ceiling), None for a plain ReLU (then
    rate_penalty() takes the batch percentile, as normalize=percentile)."""
    return act.lam.detach() if isinstance(act, QCFS) else None


def rate_penalty(acts, pct=0.999):
    """The spiking cost of a batch's activations relative to the ANN's:
    sum over hidden units of fan-out x activation / (its layer's threshold:
    the given one, else the pct-th percentile in the batch, detached),
    divided by sum of fan-out x units.
    A converted unit with that percentile as threshold fires activation /
    threshold spikes per step at one spike per threshold, so this is the
    SNN's synaptic ops per step over the ANN's (src/output/energy.c); dividing by
    the detached percentile keeps a layer from lowering it by shrinking its
    activations while the next layer's weights grow."""
    cost, units = 0.0, 0.0
    for a, fanout, thr in acts:
        if thr is None:
            flat = a.detach().flatten()
            k = max(1, int(round(pct * flat.numel())))
            thr = flat.kthvalue(k).values
        thr = thr.clamp_min(1e-6)
        cost = cost + fanout * (a / thr).sum() / a.shape[0]
        units += fanout * a[0].numel()
    return cost / units


# ---------------------------------------------------------------- recipes
# Each recipe: data loader, model factory, preprocessing (must match the
# config "input" block: x = (raw * scale - mean) / std), training setup.

CIFAR_MEAN = [0.4914, 0.4822, 0.4465]
CIFAR_STD = [0.2470, 0.2435, 0.2616]
EPOCHS_RESNET = 40
EPOCHS_VGG = 18
# normalised CIFAR-10 input + the SGD one-cycle setup of the cifar10 recipe
CIFAR_SGD = dict(classes=CIFAR_CLASSES, data="cifar", shape=(3, 32, 32),
                 scale=1.0 / 255, mean=CIFAR_MEAN, std=CIFAR_STD,
                 opt="sgd-onecycle", lr=0.1, batch=128, augment=True,
                 weight_decay=5e-4)

RECIPES = {
    "fashion-mnist": dict(
        description="Small CNN on Fashion-MNIST (conv8-conv16-dense64), "
                    "for the daemon's tests and quick demos.",
        classes=FASHION_CLASSES, data="fashion", shape=(1, 28, 28),
        scale=1.0 / 255, mean=[0.0], std=[1.0],
        model=lambda: FashionNet(), he=(), rate_penalty=1.0,
        opt="adam", lr=1e-3, batch=128, epochs=5, augment=False),
    "cifar10-seed": dict(
        description="The seed blog's Keras CNN (3 x conv3x3+ReLU+avgpool, "
                    "32/64/128 filters, dense 512, softmax) on raw 0..255 "
                    "pixels, converted as nengo_dl.Converter(scale_firing_"
                    "rates=20, synapse=0.005), 30 steps: the reference.",
        classes=CIFAR_CLASSES, data="cifar", shape=(3, 32, 32),
        scale=1.0, mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0],
        model=lambda: Cifar10Net(), he=("dense1",),
        opt="adam", lr=1e-3, batch=128, epochs=20, augment=False),
    "cifar10": dict(
        description="Default CIFAR-10 model: the seed topology (3 x conv3x3 "
                    "32/64/128 + BN(folded) + ReLU + avgpool, dense 512) "
                    "trained for conversion: normalised input, random-crop "
                    "and flip augmentation, SGD one-cycle.",
        model=lambda: Cifar10Net(bn=True, dropout=0.3), he=("dense1",),
        epochs=30, **CIFAR_SGD),
    "cifar10-resnet": dict(
        description="CIFAR-10 wide ResNet-{depth} (conv stem + 3 stages x "
                    "{blocks} basic block{s}, 32/64/128 channels, identity "
                    "and 1x1-projection shortcuts, BatchNorm folded, global "
                    "average pool, linear): normalised input, random-crop "
                    "and flip augmentation, SGD one-cycle, firing-rate "
                    "penalty.",
        model=lambda act, blocks: ResNetCifar((32, 64, 128), blocks, act=act),
        init="he", act="qcfs:4", rate_penalty=1.0, blocks=1,
        epochs=EPOCHS_RESNET, **CIFAR_SGD),
    "cifar10-vgg": dict(
        description="CIFAR-10 VGG-style CNN (3 x [conv3x3-BN-ReLU x 2, "
                    "MaxPool 2x2], 32/64/128 channels, BatchNorm folded, "
                    "flatten, linear): normalised input, random-crop and "
                    "flip augmentation, SGD one-cycle.",
        model=lambda act: VggCifar(act=act), init="he", act="qcfs:4",
        epochs=EPOCHS_VGG, **CIFAR_SGD),
}


def preprocess(x_u8, r):
    """uint8 N x C x H x W -> float32 tensor, exactly as config "input"."""
    x = torch.from_numpy(x_u8).float() * float(r["scale"])
    mean = torch.tensor(r["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(r["std"], dtype=torch.float32).view(1, -1, 1, 1)
    return (x - mean) / std


def augment(xb, gen):
    """Random crop 32x32 from the 4px zero-padded image (zero = the mean
    colour after normalisation) and random horizontal flip."""
    n, _, h, w = xb.shape
    padded = F.pad(xb, (4, 4, 4, 4))
    offs = torch.randint(0, 9, (n, 2), generator=gen)
    flips = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(xb)
    for i in range(n):
        dy, dx = int(offs[i, 0]), int(offs[i, 1])
        img = padded[i, :, dy:dy + h, dx:dx + w]
        out[i] = img.flip(2) if flips[i] else img
    return out


@torch.no_grad()
def evaluate(model, x, y, batch=500):
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        out = model(x[i:i + batch], logits=True)
        correct += int((out.argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


PAUSED = 3  # exit status of a run stopped by --pause-at


def checkpoint_run(args, epochs):
    """What a checkpoint must agree on to be resumed: the run's options."""
    return dict(recipe=args.recipe, seed=args.seed, epochs=epochs,
                threads=args.threads, act=args.act,
                rate_penalty=args.rate_penalty, limit_train=args.limit_train,
                blocks=args.blocks)


def save_checkpoint(path, state):
    """Written whole or not at all (a crash keeps the previous epoch's)."""
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(args, r, log):
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    if r["data"] == "fashion":
        (xtr, ytr), (xte, yte) = load_fashion()
    else:
        (xtr, ytr), (xte, yte) = load_cifar()
    if args.limit_train:  # smoke tests only
        xtr, ytr = xtr[:args.limit_train], ytr[:args.limit_train]
        xte, yte = xte[:args.limit_train], yte[:args.limit_train]
    xtr_t, xte_t = preprocess(xtr, r), preprocess(xte, r)
    ytr_t, yte_t = torch.from_numpy(ytr), torch.from_numpy(yte)
    log("data: train %s test %s" % (tuple(xtr_t.shape), tuple(xte_t.shape)))

    act = args.act or r.get("act")
    if act is None:
        model = r["model"]()
    elif "blocks" in r:
        model = r["model"](make_act(act), args.blocks)
    else:
        model = r["model"](make_act(act))
    args.act_used = act
    if r.get("init") == "he":
        he_init(model)
    else:
        keras_init(model, he=r["he"])
    epochs = args.epochs if args.epochs is not None else r["epochs"]
    batch = r["batch"]
    steps_per_epoch = (len(xtr_t) + batch - 1) // batch

    if r["opt"] == "adam":
        # Keras Adam defaults (epsilon 1e-7)
        opt = torch.optim.Adam(model.parameters(), lr=r["lr"], eps=1e-7)
        sched = None
    else:
        decay, no_decay = [], []
        for n_, p in model.named_parameters():
            (decay if p.dim() > 1 else no_decay).append(p)
        opt = torch.optim.SGD([{"params": decay,
                                "weight_decay": r["weight_decay"]},
                               {"params": no_decay, "weight_decay": 0.0}],
                              lr=r["lr"], momentum=0.9, nesterov=True)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=r["lr"], epochs=epochs,
            steps_per_epoch=steps_per_epoch, pct_start=0.25)

    history = []
    t_start = time.time()
    deadline_hit = None
    ep = 0
    done_secs = 0.0  # training time of the epochs run before a resume
    resumes = []     # the epochs after which the run was resumed
    if args.checkpoint and os.path.exists(args.checkpoint):
        ck = torch.load(args.checkpoint)
        if ck["run"] != checkpoint_run(args, epochs):
            raise SystemExit("checkpoint %s is of another run: %s"
                             % (args.checkpoint, ck["run"]))
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        if sched is not None:
            sched.load_state_dict(ck["sched"])
        gen.set_state(ck["gen"])
        torch.set_rng_state(ck["torch_rng"])
        np.random.set_state(ck["numpy_rng"])
        history, ep, done_secs = ck["history"], ck["epoch"], ck["seconds"]
        resumes = ck["resumes"] + [ep]
        log("resumed from %s after epoch %d of %d" % (args.checkpoint, ep,
                                                     epochs))
    t_start -= done_secs
    while ep < epochs:
        if args.pause_at and history and ep < epochs:
            est = np.mean([h["seconds"] for h in history[-2:]])
            if time.time() + est + 30 > args.pause_at:
                log("pause: epoch %d would end after --pause-at; resume "
                    "with the same command" % (ep + 1))
                raise SystemExit(PAUSED)
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(xtr_t), generator=gen)
        tot_loss, tot_ok, seen, tot_rate = 0.0, 0, 0, 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            xb, yb = xtr_t[idx], ytr_t[idx]
            if r["augment"]:
                xb = augment(xb, gen)
            if args.rate_penalty:
                acts = []
                out = model(xb, logits=True, acts=acts)
                rate = rate_penalty(acts)
                loss = F.cross_entropy(out, yb) + args.rate_penalty * rate
                tot_rate += float(rate) * len(yb)
            else:
                out = model(xb, logits=True)
                loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            tot_loss += float(loss) * len(yb)
            tot_ok += int((out.argmax(1) == yb).sum())
            seen += len(yb)
        te = evaluate(model, xte_t, yte_t)
        dt = time.time() - t0
        history.append({"epoch": ep + 1, "loss": round(tot_loss / seen, 4),
                        "train_running_acc": round(tot_ok / seen, 4),
                        "test_acc": round(te, 4), "seconds": round(dt, 1)})
        if args.rate_penalty:
            history[-1]["rate"] = round(tot_rate / seen, 4)
        log("epoch %d/%d loss %.4f train(running) %.4f test %.4f%s  %.1fs"
            % (ep + 1, epochs, tot_loss / seen, tot_ok / seen, te,
               " rate %.4f" % (tot_rate / seen) if args.rate_penalty else "",
               dt))
        ep += 1
        if args.checkpoint:
            save_checkpoint(args.checkpoint, dict(
                run=checkpoint_run(args, epochs), epoch=ep,
                model=model.state_dict(), opt=opt.state_dict(),
                sched=sched.state_dict() if sched is not None else None,
                gen=gen.get_state(), torch_rng=torch.get_rng_state(),
                numpy_rng=np.random.get_state(), history=history,
                resumes=resumes, seconds=time.time() - t_start))
        if args.deadline and ep < epochs:
            # emergency guard for a shared machine: if the remaining epochs
            # cannot finish before the deadline (with the final train-set
            # evaluation and export), shorten the run and decay the learning
            # rate linearly to 0 over the epochs that still fit.
            est = np.mean([h["seconds"] for h in history[-2:]])
            left = args.deadline - time.time() - 0.5 * est - 60
            fit = int(left // est)
            if fit < epochs - ep:
                fit = max(fit, 0)
                log("deadline: %d epochs left take ~%.0fs, %.0fs remain: "
                    "running %d more epoch(s) with linear lr decay"
                    % (epochs - ep, (epochs - ep) * est, left, fit))
                deadline_hit = {"planned_epochs": epochs,
                                "shortened_after_epoch": ep,
                                "extra_epochs": fit}
                epochs = ep + fit
                if fit > 0:
                    total = fit * steps_per_epoch
                    for g in opt.param_groups:
                        g["initial_lr"] = g["lr"]
                    sched = torch.optim.lr_scheduler.LambdaLR(
                        opt, lambda i: max(0.0, 1.0 - (i + 1) / total))
    train_secs = time.time() - t_start
    model.eval()
    tr_acc = evaluate(model, xtr_t, ytr_t)
    te_acc = evaluate(model, xte_t, yte_t)
    log("final: train %.4f test %.4f (%.0fs)" % (tr_acc, te_acc, train_secs))
    return model, dict(train_acc=tr_acc, test_acc=te_acc, epochs=ep,
                       deadline=deadline_hit, resumes=resumes,
                       seconds=train_secs, history=history,
                       xte=xte_t, yte=yte_t)


def export(model, r, out_dir, res, args, log):
    import onnx
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    model.eval()
    dummy = torch.zeros((1,) + tuple(r["shape"]))
    torch.onnx.export(model, dummy, path, opset_version=13,
                      input_names=["input"], output_names=["probs"],
                      dynamic_axes={"input": {0: "N"}, "probs": {0: "N"}},
                      do_constant_folding=True)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ops = [(n.name, n.op_type) for n in m.graph.node]
    log("onnx nodes: %s" % ops)
    assert m.graph.node[-1].op_type == "Softmax", "graph must end with Softmax"

    # numpy interpreter vs torch on 10 test images
    x10 = res["xte"][:10]
    with torch.no_grad():
        ref = model(x10).numpy()
    got = onnx_numpy.run(m, {"input": x10.numpy()})["probs"]
    err = float(np.abs(got - ref).max())
    agree = bool((got.argmax(1) == ref.argmax(1)).all())
    log("numpy ONNX vs torch on 10 test images: max abs diff %.3g, "
        "argmax agree %s" % (err, agree))
    assert err < 1e-4 and agree, "ONNX check failed"

    c, h, w = r["shape"]
    cfg = {
        "name": args.name,
        "description": r["description"].format(
            depth=6 * (args.blocks or 0) + 2, blocks=args.blocks,
            s="" if args.blocks == 1 else "s"),
        "classes": r["classes"],
        "input": {"channels": c, "height": h, "width": w, "layout": "nchw",
                  "scale": r["scale"], "mean": r["mean"], "std": r["std"],
                  "resize": "bilinear"},
        "steps": 30,
        "max_steps": 1000,
        "conversion": dict(SEED_CONVERSION),
        "overridable": OVERRIDABLE,
        "training": {
            "recipe": args.recipe,
            "seed": args.seed,
            "epochs": res["epochs"],
            "recipe_default_epochs": r["epochs"],
            "command": "/usr/bin/python3 tools/train/train.py --recipe %s "
                       "--out %s --epochs %d --seed %d --threads %d%s%s%s"
                       % (args.recipe, args.out, res["epochs"], args.seed,
                          args.threads,
                          " --blocks %d" % args.blocks if "blocks" in r else "",
                          " --act " + args.act if args.act else "",
                          " --rate-penalty %g" % args.rate_penalty
                          if "rate_penalty" in r else ""),
            "activation": args.act_used or "relu",
            "optimizer": r["opt"], "lr": r["lr"], "batch": r["batch"],
            "augmentation": "random-crop-4px+hflip" if r["augment"] else "none",
            "train_accuracy": round(res["train_acc"], 4),
            "test_accuracy": round(res["test_acc"], 4),
            "train_seconds": round(res["seconds"], 1),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "onnx_check": {"images": 10, "max_abs_diff_vs_torch": err},
            "history": res["history"],
            "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    if "rate_penalty" in r:
        cfg["training"]["rate_penalty"] = args.rate_penalty
    if res["deadline"]:
        cfg["training"]["deadline_shortened"] = res["deadline"]
    if res["resumes"]:
        # paused (--pause-at) and resumed from its checkpoint after these
        # epochs; train_seconds and the history cover all of its parts
        cfg["training"]["resumed_after_epochs"] = res["resumes"]
    if args.note:
        cfg["training"]["note"] = args.note
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    log("wrote %s and config.json" % path)


def utc_clock(hhmm):
    """UTC HH:MM today (tomorrow if past) as a time.time() value."""
    now = datetime.datetime.utcnow()
    hh, mm = (int(v) for v in hhmm.split(":"))
    d = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if d < now:
        d += datetime.timedelta(days=1)
    return time.time() + (d - now).total_seconds()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--recipe", required=True, choices=sorted(RECIPES))
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default=None,
                    help="config name (default: the recipe name)")
    ap.add_argument("--note", default=None,
                    help="free text stored in config training.note")
    ap.add_argument("--deadline", default=None,
                    help="UTC time HH:MM (today, or tomorrow if past): "
                         "shorten the run to finish by then (not "
                         "deterministic: depends on machine load)")
    ap.add_argument("--act", default=None,
                    help="activation of the cifar10-resnet/cifar10-vgg "
                         "recipes: relu, or qcfs:L (default qcfs:4)")
    ap.add_argument("--rate-penalty", type=float, default=None,
                    help="fashion-mnist, cifar10-resnet: add LAMBDA x "
                         "the spiking cost of the hidden activations "
                         "(rate_penalty(): synaptic ops per step at one "
                         "spike per threshold, a QCFS layer's ceiling or "
                         "else the 99.9th percentile, over the ANN's) to "
                         "the loss (default 1; 0: plain cross-entropy)")
    ap.add_argument("--blocks", type=int, default=None,
                    help="cifar10-resnet: basic blocks per stage (default "
                         "1: ResNet-8; 2: ResNet-14; depth 6 x BLOCKS + 2)")
    ap.add_argument("--check-qcfs", action="store_true",
                    help="check the fused QCFS op against autograd and exit")
    ap.add_argument("--checkpoint", default=None,
                    help="FILE: save the run's whole state after every "
                         "epoch, and resume from it when it exists (the "
                         "same options; the schedule is the full run's, so "
                         "a resumed run trains as an uninterrupted one)")
    ap.add_argument("--pause-at", default=None,
                    help="UTC time HH:MM: with --checkpoint, stop (exit "
                         "status 3) before an epoch that would end after "
                         "it; rerun the same command to continue")
    ap.add_argument("--limit-train", type=int, default=0,
                    help="smoke test: use only the first N train/test images")
    if "--check-qcfs" in sys.argv:
        check_qcfs()
        return
    args = ap.parse_args()
    args.name = args.name or args.recipe
    if args.act and "act" not in RECIPES[args.recipe]:
        ap.error("--act applies to the cifar10-resnet and cifar10-vgg recipes")
    if args.blocks is not None:
        if "blocks" not in RECIPES[args.recipe]:
            ap.error("--blocks applies to the cifar10-resnet recipe")
        if args.blocks < 1:
            ap.error("--blocks must be >= 1")
    else:
        args.blocks = RECIPES[args.recipe].get("blocks")
    if args.rate_penalty is not None:
        if "rate_penalty" not in RECIPES[args.recipe]:
            ap.error("--rate-penalty applies to the recipes with a rate "
                     "penalty: %s" % ", ".join(
                         k for k, v in RECIPES.items() if "rate_penalty" in v))
        if args.rate_penalty < 0:
            ap.error("--rate-penalty must be >= 0")
    else:
        args.rate_penalty = RECIPES[args.recipe].get("rate_penalty", 0.0)
    if args.pause_at and not args.checkpoint:
        ap.error("--pause-at needs --checkpoint")
    if args.pause_at and args.deadline:
        ap.error("--pause-at and --deadline exclude each other")
    if args.pause_at:
        args.pause_at = utc_clock(args.pause_at)
    if args.deadline:
        args.deadline = utc_clock(args.deadline)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    r = RECIPES[args.recipe]

    def log(msg):
        print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)

    log("recipe %s seed %d threads %d" % (args.recipe, args.seed,
                                          torch.get_num_threads()))
    model, res = train(args, r, log)
    export(model, r, args.out, res, args, log)


if __name__ == "__main__":
    main()
