#!/usr/bin/python3
"""PyTorch's side of descent's training benchmarks (run with /usr/bin/python3).

Throughput mode (default) mirrors bench/train_bench.cc: the Fashion-MNIST
training set in memory as float32 / 255, the same networks (MLP 784-256-128-10
ReLU; the McMahan CNN), CrossEntropyLoss and torch.optim.SGD(lr=0.05) over
consecutive batches, a 0.5 s warm-up, then a timed run; one line per config:

  model=mlp batch=64 threads=1 samples_per_second=12345.6 steps=... ...

  pytorch_compare.py [--model mlp|cnn] [--batch N] [--threads T] [--seconds S]

Time-to-accuracy mode trains the MLP as examples/fashion_mnist_mlp.textproto
does (batch 64, SGD lr 0.05, He-normal hidden / Xavier-uniform output
weights, zero biases, a fresh shuffle per epoch), evaluates test accuracy
after each epoch and prints the wall seconds, counted from the start of data
loading, at which it first reaches the target:

  pytorch_compare.py --time-to-accuracy 0.88 [--threads 1] [--lr 0.05]
                     [--optimizer sgd|adam] [--seed 1]

--optimizer adam uses torch.optim.Adam(lr, betas=(0.9, 0.999), eps=1e-8),
descent's `adam { }` with the same learning rate.

Which BLAS torch uses is the caller's: see bench/compare_pytorch.sh.
"""

import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
from torch import nn

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(prefix):
    """Returns (images float32 [n, 784] in [0, 1], labels int64 [n])."""
    with gzip.open(os.path.join(DATA_DIR, prefix + "-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    images = np.frombuffer(raw, np.uint8, n * rows * cols, 16)
    images = images.reshape(n, rows * cols).astype(np.float32) / 255.0
    with gzip.open(os.path.join(DATA_DIR, prefix + "-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, n, 8).astype(np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


def make_model(name):
    if name == "mlp":
        return nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(),
            nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, 10))
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 512), nn.ReLU(),
        nn.Linear(512, 10))


def init_like_descent(model):
    """He-normal hidden weights, Xavier-uniform output weights, zero biases."""
    layers = [m for m in model if isinstance(m, (nn.Linear, nn.Conv2d))]
    for i, layer in enumerate(layers):
        if i + 1 < len(layers):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        else:
            nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)


class SgdLoop:
    """Steps over consecutive batches, wrapping at the end of the set."""

    def __init__(self, model_name, batch, x, y, lr, optimizer="sgd"):
        self.model = make_model(model_name)
        init_like_descent(self.model)
        self.loss_fn = nn.CrossEntropyLoss()
        if optimizer == "adam":
            self.opt = torch.optim.Adam(self.model.parameters(), lr=lr,
                                        betas=(0.9, 0.999), eps=1e-8)
        else:
            self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.batch, self.x, self.y = batch, x, y
        self.next = 0

    def step(self):
        if self.next + self.batch > len(self.x):
            self.next = 0
        xb = self.x[self.next:self.next + self.batch]
        yb = self.y[self.next:self.next + self.batch]
        self.next += self.batch
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        return loss

    def run(self, seconds):
        steps, start = 0, time.perf_counter()
        while True:
            loss = self.step()
            steps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return steps, elapsed, float(loss)


def throughput(args):
    x, y = read_idx("train")
    configs = []
    for model in ([args.model] if args.model else ["mlp", "cnn"]):
        batches = [args.batch] if args.batch else (
            [64, 256] if model == "mlp" else [64])
        for batch in batches:
            for threads in ([args.threads] if args.threads else [1, 2]):
                seconds = args.seconds or (3.0 if model == "mlp" else 5.0)
                configs.append((model, batch, threads, seconds))
    for model, batch, threads, seconds in configs:
        torch.set_num_threads(threads)
        torch.manual_seed(1)
        loop = SgdLoop(model, batch, x, y, args.lr, args.optimizer)
        loop.run(args.warmup_seconds)
        steps, elapsed, loss = loop.run(seconds)
        print(f"model={model} batch={batch} threads={threads} "
              f"samples_per_second={steps * batch / elapsed:.1f} steps={steps} "
              f"seconds={elapsed:.3f} loss={loss:.4f}", flush=True)


def test_accuracy(model, x, y):
    with torch.no_grad():
        correct = sum(int((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum())
                      for i in range(0, len(x), 1000))
    return correct / len(x)


def time_to_accuracy(args):
    start = time.perf_counter()
    torch.set_num_threads(args.threads or 1)
    torch.manual_seed(args.seed)
    x, y = read_idx("train")
    x_test, y_test = read_idx("t10k")
    batch = args.batch or 64
    loop = SgdLoop("mlp", batch, x, y, args.lr, args.optimizer)
    model, opt, loss_fn = loop.model, loop.opt, loop.loss_fn
    for epoch in range(1, args.max_epochs + 1):
        order = torch.randperm(len(x))
        for first in range(0, len(x), batch):
            idx = order[first:first + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        acc = test_accuracy(model, x_test, y_test)
        elapsed = time.perf_counter() - start
        print(f"epoch={epoch} test_accuracy={acc:.4f} seconds={elapsed:.2f}",
              file=sys.stderr, flush=True)
        if acc >= args.time_to_accuracy:
            print(f"time_to_accuracy model=mlp optimizer={args.optimizer} "
                  f"batch={batch} lr={args.lr} "
                  f"threads={args.threads or 1} target={args.time_to_accuracy} "
                  f"seconds={elapsed:.2f} epochs={epoch} test_accuracy={acc:.4f}")
            return 0
    print(f"time_to_accuracy model=mlp target={args.time_to_accuracy} "
          f"seconds=nan epochs={args.max_epochs} (not reached)")
    return 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["mlp", "cnn"])
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seconds", type=float, default=0)
    p.add_argument("--warmup-seconds", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    p.add_argument("--time-to-accuracy", type=float, metavar="TARGET")
    p.add_argument("--max-epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=1,
                   help="torch.manual_seed for --time-to-accuracy")
    args = p.parse_args()
    if args.time_to_accuracy is not None:
        return time_to_accuracy(args)
    throughput(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
