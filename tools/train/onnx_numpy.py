"""onnx_numpy.py: a tiny numpy interpreter for the ONNX ops our exported
models use, to check an export without onnxruntime.

    import onnx, onnx_numpy
    out = onnx_numpy.run(onnx.load("model.onnx"), {"input": x})["probs"]

Ops: Conv (2-D, any group), Relu, Clip, AveragePool, MaxPool, Transpose,
Reshape, Flatten, Gemm, MatMul, Add, Mul, Sub, Div, Softmax, Constant,
Shape, Gather, Unsqueeze, Squeeze, Concat, Pad, Identity, Dropout
(inference: the input), GlobalAveragePool, BatchNormalization.
Computation in float64 for a reference-quality result.
"""
import numpy as np
from onnx import numpy_helper


def attrs(node):
    """A node's attributes as a dict of Python/numpy values."""
    out = {}
    for a in node.attribute:
        if a.type == a.INT:
            out[a.name] = a.i
        elif a.type == a.FLOAT:
            out[a.name] = a.f
        elif a.type == a.INTS:
            out[a.name] = list(a.ints)
        elif a.type == a.FLOATS:
            out[a.name] = list(a.floats)
        elif a.type == a.TENSOR:
            out[a.name] = numpy_helper.to_array(a.t)
        elif a.type == a.STRING:
            out[a.name] = a.s.decode()
    return out


def _pads(at, x, kh, kw, strides):
    pads = at.get("pads", [0, 0, 0, 0])
    auto = at.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        h, w = x.shape[2:]
        oh, ow = -(-h // strides[0]), -(-w // strides[1])
        ph = max((oh - 1) * strides[0] + kh - h, 0)
        pw = max((ow - 1) * strides[1] + kw - w, 0)
        if auto == "SAME_UPPER":
            pads = [ph // 2, pw // 2, ph - ph // 2, pw - pw // 2]
        else:
            pads = [ph - ph // 2, pw - pw // 2, ph // 2, pw // 2]
    return pads


def _windows(x, kh, kw, strides, pads, fill=0.0):
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])),
               constant_values=fill)
    n, c, h, w = x.shape
    oh = (h - kh) // strides[0] + 1
    ow = (w - kw) // strides[1] + 1
    cols = np.empty((n, c, kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x[:, :, i:i + strides[0] * oh:strides[0],
                                 j:j + strides[1] * ow:strides[1]]
    return cols, oh, ow


def conv(x, w, b, at):
    kh, kw = w.shape[2:]
    strides = at.get("strides", [1, 1])
    assert at.get("dilations", [1, 1]) == [1, 1]
    cols, oh, ow = _windows(x, kh, kw, strides, _pads(at, x, kh, kw, strides))
    groups = at.get("group", 1)
    cg, og = x.shape[1] // groups, w.shape[0] // groups
    assert w.shape[1] == cg and w.shape[0] % groups == 0
    y = np.concatenate([np.einsum("nckluv,ockl->nouv",
                                  cols[:, g * cg:(g + 1) * cg],
                                  w[g * og:(g + 1) * og], optimize=True)
                        for g in range(groups)], axis=1)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


def pool(x, at, kind):
    kh, kw = at["kernel_shape"]
    strides = at.get("strides", [1, 1])
    pads = _pads(at, x, kh, kw, strides)
    if kind == "max":
        cols, _, _ = _windows(x, kh, kw, strides, pads, -np.inf)
        return cols.max(axis=(2, 3))
    cols, _, _ = _windows(x, kh, kw, strides, pads)
    if at.get("count_include_pad", 0) or not any(pads):
        return cols.mean(axis=(2, 3))
    ones, _, _ = _windows(np.ones_like(x[:1, :1]), kh, kw, strides, pads)
    return cols.sum(axis=(2, 3)) / ones.sum(axis=(2, 3))


def run(model, feeds):
    env = {}
    for t in model.graph.initializer:
        env[t.name] = numpy_helper.to_array(t).astype(np.float64) \
            if numpy_helper.to_array(t).dtype.kind == "f" \
            else numpy_helper.to_array(t)
    for k, v in feeds.items():
        env[k] = np.asarray(v, np.float64)
    for node in model.graph.node:
        at = attrs(node)
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Conv":
            y = conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, at)
        elif op == "Relu":
            y = np.maximum(ins[0], 0)
        elif op == "Clip":
            lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
            hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
            if "min" in at or "max" in at:  # opset < 11 attributes
                lo, hi = at.get("min", -np.inf), at.get("max", np.inf)
            y = np.clip(ins[0], lo, hi)
        elif op == "AveragePool":
            y = pool(ins[0], at, "avg")
        elif op == "MaxPool":
            y = pool(ins[0], at, "max")
        elif op == "Transpose":
            y = np.transpose(ins[0], at.get("perm"))
        elif op == "Reshape":
            shape = [int(s) for s in ins[1]]
            shape = [ins[0].shape[i] if s == 0 else s
                     for i, s in enumerate(shape)]
            y = ins[0].reshape(shape)
        elif op == "Flatten":
            ax = at.get("axis", 1)
            y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
        elif op == "Gemm":
            a = ins[0].T if at.get("transA", 0) else ins[0]
            b = ins[1].T if at.get("transB", 0) else ins[1]
            y = at.get("alpha", 1.0) * (a @ b)
            if len(ins) > 2 and ins[2] is not None:
                y = y + at.get("beta", 1.0) * ins[2]
        elif op == "MatMul":
            y = ins[0] @ ins[1]
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "Sub":
            y = ins[0] - ins[1]
        elif op == "Mul":
            y = ins[0] * ins[1]
        elif op == "Div":
            y = ins[0] / ins[1]
        elif op == "Softmax":
            ax = at.get("axis", -1)
            e = np.exp(ins[0] - ins[0].max(axis=ax, keepdims=True))
            y = e / e.sum(axis=ax, keepdims=True)
        elif op == "Constant":
            y = at["value"]
        elif op == "Shape":
            y = np.array(ins[0].shape, np.int64)
        elif op == "Gather":
            y = np.take(ins[0], ins[1].astype(np.int64), axis=at.get("axis", 0))
        elif op == "Unsqueeze":
            y = ins[0]
            for ax in sorted(int(a) for a in ins[1]):
                y = np.expand_dims(y, ax)
        elif op == "Concat":
            y = np.concatenate([np.atleast_1d(i) for i in ins], at["axis"])
        elif op == "Pad":
            pads = [int(v) for v in (ins[1] if len(ins) > 1 else at["pads"])]
            assert at.get("mode", "constant") == "constant"
            k = ins[0].ndim
            val = float(ins[2]) if len(ins) > 2 and ins[2] is not None else 0.0
            y = np.pad(ins[0], [(pads[i], pads[i + k]) for i in range(k)],
                       constant_values=val)
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=tuple(range(2, ins[0].ndim)), keepdims=True)
        elif op == "Squeeze":
            axes = ins[1] if len(ins) > 1 and ins[1] is not None \
                else [a for a, d in enumerate(ins[0].shape) if d == 1]
            y = np.squeeze(ins[0], tuple(int(a) for a in axes))
        elif op in ("Identity", "Dropout"):
            y = ins[0]
        elif op == "BatchNormalization":
            x, g, bb, m, v = ins[:5]
            sh = (1, -1) + (1,) * (x.ndim - 2)
            y = (x - m.reshape(sh)) / np.sqrt(v.reshape(sh) +
                                              at.get("epsilon", 1e-5)) \
                * g.reshape(sh) + bb.reshape(sh)
        else:
            raise NotImplementedError("op %s (%s)" % (op, node.name))
        env[node.output[0]] = y
    return {o.name: env[o.name] for o in model.graph.output}
