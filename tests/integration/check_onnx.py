#!/usr/bin/python3
"""Checks an ONNX model `descent export` wrote against `descent predict`.

  check_onnx.py MODEL_DIR MODEL.onnx PREDICTIONS.csv --csv TEST.csv
  check_onnx.py MODEL_DIR MODEL.onnx PREDICTIONS.csv --idx IMAGES LABELS \
      --max_examples N

1. onnx.checker.check_model(full_check=True) and
   onnx.shape_inference.infer_shapes(check_type=True, strict_mode=True).
2. The graph's declared interface: input "input" float [N, features];
   outputs probabilities (or scores for an SVM) float [N, C] and class
   int64 [N], or value float [N].
3. Runs the graph on the test examples (the features as descent predict
   reads them, before scaling: the graph scales) with the small numpy
   interpreter below, one function per operator, each following the ONNX
   operator spec at opset 13 and refusing attributes it does not implement
   (onnx 1.12 has no onnx.reference). Every class must equal predict's
   class column; probabilities and values must agree with predict's to
   1e-5 (predict prints 6 significant digits, values 9); an SVM's scores,
   which predict does not print, with x @ weights + bias computed from
   model.safetensors by examples/load_model.py's reader.

Prints "check_onnx: OUTPUTS on N examples, max |onnx - predict| D" and
exits 1 on the first failure.
"""
import argparse
import csv
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "examples"))
import load_model  # noqa: E402  (read_csv, read_idx, the safetensors reader)

TOLERANCE = 1e-5


def fail(message):
    sys.exit(f"check_onnx: FAIL: {message}")


# --- The interpreter: op(inputs, attributes) -> output, opset 13. ---------

def attributes(node, allowed):
    """The node's attributes by name; fails on one the op here lacks."""
    got = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    for name in got:
        if name not in allowed:
            fail(f"{node.op_type} {node.name}: attribute {name} not implemented")
    return got


def elementwise(fn):
    def op(node, inputs):
        attributes(node, ())
        a = inputs[0]
        out = fn(*inputs)
        return np.asarray(out, dtype=a.dtype)
    return op


def sigmoid(x):
    # 1 / (1 + exp(-x)), with exp of non-positive arguments only.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def matmul(node, inputs):
    attributes(node, ())
    return np.matmul(inputs[0], inputs[1])  # numpy's matmul is ONNX's


def softmax(node, inputs):
    axis = attributes(node, ("axis",)).get("axis", -1)  # -1 since opset 13
    x = inputs[0]
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def argmax(node, inputs):
    a = attributes(node, ("axis", "keepdims", "select_last_index"))
    if a.get("select_last_index", 0) != 0:
        fail("ArgMax: select_last_index 1 not implemented")
    out = np.argmax(inputs[0], axis=a.get("axis", 0))  # the first maximum
    if a.get("keepdims", 1):
        out = np.expand_dims(out, a.get("axis", 0))
    return out.astype(np.int64)


def concat(node, inputs):
    return np.concatenate(inputs, axis=attributes(node, ("axis",))["axis"])


def unsqueeze(node, inputs):
    attributes(node, ())
    x, axes = inputs
    rank = x.ndim + len(axes)
    for axis in sorted(int(a) % rank for a in axes):
        x = np.expand_dims(x, axis)
    return x


def reshape(node, inputs):
    attributes(node, ())  # allowzero is opset 14
    x, shape = inputs
    shape = [x.shape[i] if d == 0 else int(d) for i, d in enumerate(shape)]
    return x.reshape(shape)  # numpy infers the one -1 as ONNX does


def window_attributes(node, allowed):
    a = attributes(node, allowed)
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        fail(f"{node.op_type}: auto_pad not implemented")
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        fail(f"{node.op_type}: dilations not implemented")
    kernel = a["kernel_shape"]
    strides = a.get("strides", [1] * len(kernel))
    pads = a.get("pads", [0] * 2 * len(kernel))  # begins, then ends
    return a, kernel, strides, pads


def windows(x, kernel, strides, pads, fill):
    """(x padded with `fill`, output height, width) of a 2-D window op."""
    (kh, kw), (sh, sw) = kernel, strides
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])),
               constant_values=fill)
    oh = (x.shape[2] - kh) // sh + 1  # floor: ceil_mode 0
    ow = (x.shape[3] - kw) // sw + 1
    return x, oh, ow


def conv(node, inputs):
    a, kernel, strides, pads = window_attributes(
        node, ("auto_pad", "dilations", "group", "kernel_shape", "pads",
               "strides"))
    if a.get("group", 1) != 1:
        fail("Conv: groups not implemented")
    x, w = inputs[0], inputs[1]
    if list(w.shape[2:]) != list(kernel) or w.shape[1] != x.shape[1]:
        fail(f"Conv {node.name}: weights {w.shape} for input {x.shape}")
    x, oh, ow = windows(x, kernel, strides, pads, 0)
    (sh, sw) = strides
    y = np.zeros((x.shape[0], w.shape[0], oh, ow), dtype=np.float32)
    for ky in range(kernel[0]):
        for kx in range(kernel[1]):
            patch = x[:, :, ky:ky + sh * (oh - 1) + 1:sh, kx:kx + sw * (ow - 1) + 1:sw]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, ky, kx])
    if len(inputs) > 2:
        y += inputs[2].reshape(1, -1, 1, 1)
    return y


def maxpool(node, inputs):
    a, kernel, strides, pads = window_attributes(
        node, ("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
               "storage_order", "strides"))
    if a.get("ceil_mode", 0) != 0 or a.get("storage_order", 0) != 0:
        fail("MaxPool: ceil_mode and storage_order not implemented")
    if len(node.output) > 1:
        fail("MaxPool: the Indices output not implemented")
    x, oh, ow = windows(inputs[0], kernel, strides, pads, -np.inf)
    (sh, sw) = strides
    y = np.full((x.shape[0], x.shape[1], oh, ow), -np.inf, dtype=np.float32)
    for ky in range(kernel[0]):
        for kx in range(kernel[1]):
            y = np.maximum(y, x[:, :, ky:ky + sh * (oh - 1) + 1:sh,
                                kx:kx + sw * (ow - 1) + 1:sw])
    return y


OPS = {
    "Add": elementwise(np.add),  # numpy broadcasting is ONNX's
    "Sub": elementwise(np.subtract),
    "Div": elementwise(np.divide),
    "Neg": elementwise(np.negative),
    "Relu": elementwise(lambda x: np.maximum(x, 0)),
    "Tanh": elementwise(np.tanh),
    "Sigmoid": elementwise(sigmoid),
    "MatMul": matmul,
    "Softmax": softmax,
    "ArgMax": argmax,
    "Concat": concat,
    "Unsqueeze": unsqueeze,
    "Reshape": reshape,
    "Conv": conv,
    "MaxPool": maxpool,
}


def run(model, feeds):
    """The graph's outputs by name for inputs `feeds`."""
    graph = model.graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    values.update(feeds)
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type not in OPS:
            fail(f"operator {node.domain}:{node.op_type} not implemented")
        if len(node.output) != 1:
            fail(f"{node.op_type} {node.name}: {len(node.output)} outputs")
        values[node.output[0]] = OPS[node.op_type](
            node, [values[name] for name in node.input])
    return {o.name: values[o.name] for o in graph.output}


# --- The checks. -----------------------------------------------------------

def dims(value_info):
    shape = value_info.type.tensor_type.shape
    return [d.dim_param or d.dim_value for d in shape.dim]


def check_interface(model, manifest):
    graph = model.graph
    inputs = [(i.name, i.type.tensor_type.elem_type, dims(i)) for i in graph.input]
    want = [("input", onnx.TensorProto.FLOAT, ["N", manifest["num_features"]])]
    if inputs != want:
        fail(f"inputs {inputs}, expected {want}")
    outputs = {o.name: (o.type.tensor_type.elem_type, dims(o)) for o in graph.output}
    classes = manifest.get("num_classes", 0)
    if manifest.get("regression"):
        want = {"value": (onnx.TensorProto.FLOAT, ["N"])}
    else:
        scores = "scores" if "linear_svm" in manifest["model"] else "probabilities"
        want = {scores: (onnx.TensorProto.FLOAT, ["N", classes]),
                "class": (onnx.TensorProto.INT64, ["N"])}
    if outputs != want:
        fail(f"outputs {outputs}, expected {want}")
    opsets = [(o.domain, o.version) for o in model.opset_import]
    if opsets != [("", 13)]:
        fail(f"opsets {opsets}, expected opset 13")


def read_predictions(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def compare(name, got, want):
    """max |got - want|, failing above TOLERANCE."""
    if got.shape != want.shape:
        fail(f"{name}: shape {got.shape}, expected {want.shape}")
    diff = float(np.max(np.abs(got.astype(np.float64) - want))) if got.size else 0.0
    if not diff <= TOLERANCE:
        row = int(np.argmax(np.max(np.abs(got - want).reshape(len(got), -1), axis=1)))
        fail(f"{name}: max |onnx - predict| {diff:.3g} > {TOLERANCE} "
             f"(row {row}: {got[row]} against {want[row]})")
    return diff


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("onnx_file")
    parser.add_argument("predictions")
    parser.add_argument("--csv")
    parser.add_argument("--idx", nargs=2, metavar=("IMAGES", "LABELS"))
    parser.add_argument("--max_examples", type=int, default=0)
    args = parser.parse_args()

    model = onnx.load(args.onnx_file)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    manifest, tensors = load_model.load_model(args.model_dir)
    check_interface(model, manifest)

    if args.csv:
        x, _ = load_model.read_csv(args.csv, manifest)
    else:
        x, _ = load_model.read_idx(*args.idx)
    if args.max_examples > 0:
        x = x[:args.max_examples]
    out = run(model, {"input": x})
    header, rows = read_predictions(args.predictions)
    if len(rows) != len(x):
        fail(f"{len(rows)} predictions for {len(x)} examples")

    if manifest.get("regression"):
        if header != ["value"]:
            fail(f"predictions header {header}")
        diff = compare("value", out["value"],
                       np.array([float(r[0]) for r in rows]))
        print(f"check_onnx: value on {len(x)} examples, max |onnx - predict| {diff:.3g}")
        return
    classes = np.array([int(r[0]) for r in rows])
    if out["class"].dtype != np.int64 or not np.array_equal(out["class"], classes):
        wrong = np.flatnonzero(out["class"] != classes)
        fail(f"class differs from predict's in {len(wrong)} of {len(x)} rows, "
             f"first row {wrong[0] if len(wrong) else '?'}")
    if "scores" in out:  # predict prints no scores: the safetensors' own
        want = load_model.scale(manifest, x) @ tensors["weights"] + tensors["bias"]
        diff = compare("scores", out["scores"], want.astype(np.float64))
        print(f"check_onnx: class (= predict) and scores on {len(x)} examples, "
              f"max |onnx - numpy on model.safetensors| {diff:.3g}")
        return
    probabilities = np.array([[float(v) for v in r[2:]] for r in rows])
    diff = compare("probabilities", out["probabilities"], probabilities)
    print(f"check_onnx: class (= predict) and probabilities on {len(x)} "
          f"examples, max |onnx - predict| {diff:.3g}")


if __name__ == "__main__":
    main()
