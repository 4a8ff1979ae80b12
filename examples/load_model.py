#!/usr/bin/python3
"""Loads a descent model directory (model/ or best_model/) with numpy only
and measures it on a test set: the README's "The trained model".

  load_model.py MODEL_DIR --csv TEST.csv            (label in the last column)
  load_model.py MODEL_DIR --idx IMAGES LABELS       (IDX files, gzip'd or not)
  ... --max_examples N                              (only the first N, as
                                                     data.idx.max_test_examples)

Prints "accuracy 0.8123" (classifiers) or "rmse 1.2345" (regression), to 4
digits as `descent local` prints its test figures. Dense models: softmax,
logistic and linear regression, linear SVM, MLP.
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "U64": np.uint64}


def read_safetensors(path):
    """{name: array} from a safetensors file (8-byte length, JSON, data)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
        tensors[name] = array.reshape(info["shape"])
    return tensors


def load_model(model_dir):
    with open(os.path.join(model_dir, "manifest.json")) as f:
        manifest = json.load(f)
    return manifest, read_safetensors(os.path.join(model_dir, "model.safetensors"))


def scale(manifest, x):
    """The job's feature scaling, from the manifest: (x - offset) / scale."""
    scaling = manifest.get("scaling", {})
    if scaling.get("kind", "NO_SCALING") == "NO_SCALING":
        return x
    offset = np.array(scaling["offset"], dtype=np.float32)
    factor = np.array(scaling["scale"], dtype=np.float32)
    return ((x - offset) / factor).astype(np.float32)


ACTIVATIONS = {
    "RELU": lambda z: np.maximum(z, 0),
    "TANH": np.tanh,
    "SIGMOID": lambda z: 1 / (1 + np.exp(-z)),
}


def mlp_activations(config):
    """The hidden layers' activations, in order."""
    default = config.get("activation", "ACTIVATION_UNSPECIFIED")
    pick = lambda a: "RELU" if a == "ACTIVATION_UNSPECIFIED" else a
    if config.get("layers"):
        return [pick(l.get("activation", "ACTIVATION_UNSPECIFIED")) for l in config["layers"]]
    return [pick(default)] * len(config.get("hidden", []))


def predict(manifest, t, x):
    """Class ids (classifiers) or values (regression) for rows `x`."""
    model = manifest["model"]
    if "softmax_regression" in model or "linear_svm" in model:
        return np.argmax(x @ t["weights"] + t["bias"], axis=1)
    if "logistic_regression" in model:
        return (x @ t["weights"] + t["bias"][0] > 0).astype(np.int64)
    if "linear_regression" in model:
        return x @ t["weights"] + t["bias"][0]
    if "mlp" in model:
        h = x
        activations = mlp_activations(model["mlp"])
        for i, activation in enumerate(activations):
            h = ACTIVATIONS[activation](h @ t[f"layer{i}/weights"] + t[f"layer{i}/bias"])
        out = len(activations)
        return np.argmax(h @ t[f"layer{out}/weights"] + t[f"layer{out}/bias"], axis=1)
    sys.exit(f"load_model.py: model {list(model)} is not one this example computes")


def read_csv(path, manifest):
    """Features and labels of a CSV file, the label in the last column."""
    with open(path) as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    try:
        [float(v) for v in rows[0][:-1]]
    except ValueError:
        rows = rows[1:]  # a header
    x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32)
    labels = manifest.get("labels", [])
    if manifest.get("regression"):
        y = np.array([float(r[-1]) for r in rows])
    elif labels:
        y = np.array([labels.index(r[-1]) for r in rows])
    else:
        y = np.array([int(float(r[-1])) for r in rows])
    return x, y


def read_idx(images, labels):
    opener = lambda p: gzip.open(p, "rb") if p.endswith(".gz") else open(p, "rb")
    with opener(images) as f:
        _, n, rows, cols = struct.unpack(">IIII", f.read(16))
        x = np.frombuffer(f.read(), dtype=np.uint8).reshape(n, rows * cols)
    with opener(labels) as f:
        struct.unpack(">II", f.read(8))
        y = np.frombuffer(f.read(), dtype=np.uint8).astype(np.int64)
    return x.astype(np.float32) / np.float32(255), y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("--csv")
    parser.add_argument("--idx", nargs=2, metavar=("IMAGES", "LABELS"))
    parser.add_argument("--max_examples", type=int, default=0)
    args = parser.parse_args()
    manifest, tensors = load_model(args.model_dir)
    if args.csv:
        x, y = read_csv(args.csv, manifest)
    elif args.idx:
        x, y = read_idx(*args.idx)
    else:
        parser.error("give --csv or --idx")
    if args.max_examples > 0:
        x, y = x[:args.max_examples], y[:args.max_examples]
    if x.shape[1] != manifest["num_features"]:
        sys.exit(f"load_model.py: the data has {x.shape[1]} features, the "
                 f"model {manifest['num_features']}")
    predictions = predict(manifest, tensors, scale(manifest, x))
    if manifest.get("regression"):
        print(f"rmse {np.sqrt(np.mean((predictions - y) ** 2)):.4f}")
    else:
        print(f"accuracy {np.mean(predictions == y):.4f}")


if __name__ == "__main__":
    main()
