#!/usr/bin/python3
"""A PyTorch simulation of federated learning on Fashion-MNIST, the
reference that descent's federated jobs are compared against (rounds to an
accuracy, final accuracy, time per round). Run it with Debian's python3:

  /usr/bin/python3 bench/federated_pytorch.py [options]

Data: the gzip'd IDX files under /usr/share/datasets/fashion-mnist, pixels
as float32 / 255 in [0, 1], flattened to 784 (as common/data/idx_reader.cc
scales them), the 60000 training examples split over K clients, the 10000
test examples held by the server.

Model: McMahan et al. 2017's "2NN": 784-200-200-10, ReLU, softmax
cross-entropy averaged over the batch. Initialized as descent initializes
an `mlp { hidden: [200, 200] }` (common/config/defaults.cc fills the MLP's
init with HE_NORMAL; common/model/network.cc appends a Xavier-uniform
output layer; common/model/param_layout.cc): hidden weights N(0, 2 /
fan_in), output weights U(-a, a) with a = sqrt(6 / (fan_in + fan_out)),
every bias 0. (Not descent's random numbers: its weights are a hash of the
seed and the index; these come from torch.manual_seed.) --init torch keeps
nn.Linear's own initialization instead, weights and biases U(-1/sqrt(fan_in),
1/sqrt(fan_in)): descent's `mlp { init: TORCH_DEFAULT }`.

Partitions (--partition):
  iid           a seeded shuffle cut into K parts whose sizes differ by <= 1
  pathological  examples sorted by label (stable), cut into 2K equal shards,
                each client given 2 shards at random (a seeded shuffle of the
                shards, client k taking shards 2k and 2k + 1; with
                Fashion-MNIST and K = 100 a client may get two shards of one
                label: no exchange is made)
  dirichlet     for each class, proportions p ~ Dir(alpha, ..., alpha) over
                the K clients and the class's shuffled examples cut by them
                (boundaries round(cumsum(p) * n)); drawn again until every
                client has at least --min_client_size (10) examples
  --partition_file F   instead: the clients of descent's partition.csv F,
                each with the same number of examples of each class as
                there (which examples of a class: this run's seeded draw),
                so both sides train on the same label skew

Each round: m = max(1, round(C * K)) (half away from zero) distinct clients
sampled uniformly without replacement. Each starts from the global weights
w and runs E local epochs over its own examples, reshuffled each epoch, in
mini-batches of B (B = 0: all of its examples in one batch; the last batch
of an epoch may be short), with torch.optim.SGD(lr, momentum), a fresh
optimizer (velocity 0) per client per round. FedProx's mu / 2 ||w_k - w||^2
is added to the local loss through its gradient: mu (w_k - w) is added to
each parameter's gradient after backward(), which is exactly the gradient
of the augmented loss. Client delta: delta_k = w_k - w. Aggregate:
Delta = sum_k n_k delta_k / sum_k n_k. Server update (--server):
  fedavg      w += server_lr * Delta                       (server_lr 1)
  fedavgm     v = server_momentum * v + Delta; w += server_lr * v
              (server_lr 1, server_momentum 0.9, v0 = 0)
  fedadam, fedyogi, fedadagrad: Reddi et al. 2021 Algorithm 2, g = -Delta:
              m = b1 m + (1 - b1) g
              adagrad v = v + g^2
              yogi    v = v - (1 - b2) g^2 sign(v - g^2)
              adam    v = b2 v + (1 - b2) g^2
              w = w - server_lr * m / (sqrt(v) + tau)
              m0 = 0, v0 = tau^2, no bias correction
              (server_lr 0.01, beta1 0.9, beta2 0.99, tau 1e-3)
After each round: test accuracy and mean loss of the global model on the
10000 test examples (one forward pass, not timed).

Output (stdout): a header `round,test_accuracy,test_loss,seconds`, one line
per round (seconds: that round's local training + aggregation + server
update, evaluation excluded), then

  # summary rounds_run=R first_round_reaching_target=T final_accuracy=A
    median_round_seconds=S   (one line)

T is 1-based, -1 without --target or when never reached. --target stops
at the first round whose test accuracy >= the target.

--time_rounds N: timing mode: N rounds with no evaluation; prints only the
summary line (rounds_run=N, final_accuracy evaluated once after the last
round, first_round_reaching_target=-1) whose median_round_seconds is the
median of the N rounds' time.perf_counter() wall time of training all the
sampled clients plus aggregation and the server update.

Randomness: --seed S gives the initial weights (torch.manual_seed(S)) and,
from numpy SeedSequence(S) spawned three ways, the partition, the client
sampling and the local shuffles. Same seed, same run (on one thread).

Which BLAS torch uses is the caller's (Debian's torch calls libblas.so.3,
by default the slow reference BLAS; see bench/compare_pytorch.sh for
putting OpenBLAS first on LD_LIBRARY_PATH). --threads sets
torch.set_num_threads (default 1); set OMP_NUM_THREADS to match.
"""

import argparse
import gzip
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DATA_DIR = "/usr/share/datasets/fashion-mnist"
SERVERS = ("fedavg", "fedavgm", "fedadam", "fedyogi", "fedadagrad")
ADAPTIVE = ("fedadam", "fedyogi", "fedadagrad")
MAX_DIRICHLET_DRAWS = 1000


def read_idx(prefix):
    """(images float32 [n, 784] in [0, 1], labels int64 [n])."""
    with gzip.open(os.path.join(DATA_DIR, prefix + "-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    images = np.frombuffer(raw, np.uint8, n * rows * cols, 16)
    images = images.reshape(n, rows * cols).astype(np.float32) / np.float32(255)
    with gzip.open(os.path.join(DATA_DIR, prefix + "-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, n, 8).astype(np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


# --- Partitions -------------------------------------------------------------

def partition_iid(n, k, rng):
    order = rng.permutation(n)
    return [np.sort(order[c * n // k:(c + 1) * n // k]) for c in range(k)]


def partition_pathological(labels, k, rng, per_client=2):
    n = len(labels)
    shards = per_client * k
    if shards > n:
        sys.exit(f"pathological: {shards} shards but only {n} examples")
    order = np.argsort(labels, kind="stable")
    bounds = [s * n // shards for s in range(shards + 1)]
    assigned = rng.permutation(shards)
    clients = []
    for c in range(k):
        mine = assigned[c * per_client:(c + 1) * per_client]
        clients.append(np.sort(np.concatenate(
            [order[bounds[s]:bounds[s + 1]] for s in mine])))
    return clients


def partition_dirichlet(labels, k, alpha, min_size, rng, num_classes=10):
    by_class = [rng.permutation(np.flatnonzero(labels == c))
                for c in range(num_classes)]
    for _ in range(MAX_DIRICHLET_DRAWS):
        cuts = []
        sizes = np.zeros(k, np.int64)
        for examples in by_class:
            p = rng.dirichlet(np.full(k, alpha))
            n = len(examples)
            ends = np.minimum(np.rint(np.cumsum(p) * n).astype(np.int64), n)
            ends[-1] = n
            ends = np.maximum.accumulate(ends)
            cuts.append(ends)
            sizes += np.diff(ends, prepend=0)
        if sizes.min() < min_size:
            continue
        clients = [[] for _ in range(k)]
        for examples, ends in zip(by_class, cuts):
            for c, part in enumerate(np.split(examples, ends[:-1])):
                clients[c].append(part)
        return [np.sort(np.concatenate(parts)) for parts in clients]
    sys.exit(f"dirichlet: no draw in {MAX_DIRICHLET_DRAWS} gave every client "
             f">= {min_size} examples; raise --alpha or use fewer clients")


def partition_from_counts(labels, path, rng, num_classes=10):
    """Clients with the per-class counts of descent's partition.csv: for
    each class its shuffled examples cut by the clients' counts, in client
    order (which examples of a class a client gets is this seed's draw)."""
    with open(path) as f:
        header = f.readline().strip().split(",")
        first = header.index("class_0")
        rows = [[int(v) for v in line.split(",")] for line in f if line.strip()]
    counts = np.array([row[first:first + num_classes] for row in rows])
    clients = [[] for _ in rows]
    for c in range(num_classes):
        examples = rng.permutation(np.flatnonzero(labels == c))
        if counts[:, c].sum() > len(examples):
            sys.exit(f"{path}: class {c} has {len(examples)} examples, "
                     f"the file asks for {counts[:, c].sum()}")
        ends = np.cumsum(counts[:, c])
        for k, part in enumerate(np.split(examples[:ends[-1]], ends[:-1])):
            clients[k].append(part)
    return [np.sort(np.concatenate(parts)) for parts in clients]


# --- Model --------------------------------------------------------------------

def make_model(init):
    model = nn.Sequential(
        nn.Linear(784, 200), nn.ReLU(),
        nn.Linear(200, 200), nn.ReLU(),
        nn.Linear(200, 10))
    if init == "torch":
        return model
    layers = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for i, layer in enumerate(layers):
            if i + 1 < len(layers):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return model


def evaluate(model, x, y):
    with torch.inference_mode():
        logits = model(x)
        loss = F.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(1) == y).float().mean().item()
    return accuracy, loss


# --- Server optimizers ----------------------------------------------------------

class Server:
    """Applies the aggregated delta to the global weights, in place."""

    def __init__(self, args, weights):
        self.kind = args.server
        self.lr = args.server_lr
        self.momentum = args.server_momentum
        self.b1, self.b2, self.tau = args.beta1, args.beta2, args.tau
        if self.kind == "fedavgm":
            self.v = [torch.zeros_like(w) for w in weights]
        elif self.kind in ADAPTIVE:
            self.m = [torch.zeros_like(w) for w in weights]
            self.v = [torch.full_like(w, self.tau ** 2) for w in weights]

    def step(self, weights, deltas):
        if self.kind == "fedavg":
            torch._foreach_add_(weights, deltas, alpha=self.lr)
            return
        if self.kind == "fedavgm":
            torch._foreach_mul_(self.v, self.momentum)
            torch._foreach_add_(self.v, deltas)
            torch._foreach_add_(weights, self.v, alpha=self.lr)
            return
        for w, delta, m, v in zip(weights, deltas, self.m, self.v):
            g = delta.neg()
            m.mul_(self.b1).add_(g, alpha=1 - self.b1)
            g2 = g.square()
            if self.kind == "fedadagrad":
                v.add_(g2)
            elif self.kind == "fedyogi":
                v.sub_(torch.sign(v - g2).mul_(g2), alpha=1 - self.b2)
            else:
                v.mul_(self.b2).add_(g2, alpha=1 - self.b2)
            w.sub_(m / (v.sqrt() + self.tau), alpha=self.lr)


# --- Federated rounds -------------------------------------------------------------

def local_train(model, params, global_w, x, y, args, generator):
    """Trains `model` (already holding global_w) on one client's (x, y)."""
    n = x.shape[0]
    batch = n if args.batch == 0 else args.batch
    optimizer = torch.optim.SGD(params, lr=args.lr, momentum=args.momentum)
    mu = args.prox_mu
    for _ in range(args.local_epochs):
        perm = torch.randperm(n, generator=generator)
        for start in range(0, n, batch):
            idx = perm[start:start + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if mu:
                with torch.no_grad():
                    for p, w in zip(params, global_w):
                        p.grad.add_(p - w, alpha=mu)
            optimizer.step()


def run_round(model, params, global_w, clients, sampled, args, generator,
              server):
    deltas = [torch.zeros_like(w) for w in global_w]
    total = 0
    for c in sampled:
        x, y = clients[c]
        with torch.no_grad():
            for p, w in zip(params, global_w):
                p.copy_(w)
        local_train(model, params, global_w, x, y, args, generator)
        n_k = x.shape[0]
        total += n_k
        with torch.no_grad():
            for d, p, w in zip(deltas, params, global_w):
                d.add_(p - w, alpha=n_k)
    torch._foreach_div_(deltas, float(total))
    server.step(global_w, deltas)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="FedAvg / FedAvgM / FedOpt / FedProx on Fashion-MNIST "
        "(the 2NN), the reference for descent's federated jobs.")
    p.add_argument("--clients", type=int, default=100, help="K")
    p.add_argument("--fraction", type=float, default=0.1, help="C")
    p.add_argument("--local_epochs", type=int, default=1, help="E")
    p.add_argument("--batch", type=int, default=10, help="B; 0: all")
    p.add_argument("--lr", type=float, default=0.1, help="local SGD lr")
    p.add_argument("--momentum", type=float, default=0.0,
                   help="local SGD momentum")
    p.add_argument("--prox_mu", type=float, default=0.0, help="FedProx mu")
    p.add_argument("--partition", choices=("iid", "pathological", "dirichlet"),
                   default="iid")
    p.add_argument("--alpha", type=float, default=0.5, help="Dirichlet alpha")
    p.add_argument("--partition_file", default=None,
                   help="descent's partition.csv: clients with its per-class "
                   "counts (overrides --partition and --clients)")
    p.add_argument("--min_client_size", type=int, default=10,
                   help="Dirichlet: redraw until every client has this many")
    p.add_argument("--server", choices=SERVERS, default="fedavg")
    p.add_argument("--server_lr", type=float, default=None,
                   help="default 1 (fedavg, fedavgm) or 0.01 (adaptive)")
    p.add_argument("--server_momentum", type=float, default=0.9)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--tau", type=float, default=1e-3)
    p.add_argument("--rounds", type=int, default=100, help="R")
    p.add_argument("--target", type=float, default=None,
                   help="stop at the first round with test accuracy >= this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", choices=("descent", "torch"), default="descent",
                   help="descent: as descent's default MLP; torch: "
                   "nn.Linear's own (descent's TORCH_DEFAULT)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--time_rounds", type=int, default=None,
                   help="timing mode: N rounds without evaluation")
    args = p.parse_args(argv)
    if args.server_lr is None:
        args.server_lr = 0.01 if args.server in ADAPTIVE else 1.0
    if args.clients < 1 or args.batch < 0 or args.local_epochs < 0:
        p.error("need --clients >= 1, --batch >= 0, --local_epochs >= 0")
    if not 0 < args.fraction <= 1:
        p.error("--fraction must be in (0, 1]")
    return args


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    partition_rng, sample_rng, shuffle_seq = (
        np.random.SeedSequence(args.seed).spawn(3))
    partition_rng = np.random.default_rng(partition_rng)
    sample_rng = np.random.default_rng(sample_rng)
    generator = torch.Generator().manual_seed(
        int(shuffle_seq.generate_state(1, np.uint64)[0] >> np.uint64(1)))

    train_x, train_y = read_idx("train")
    test_x, test_y = read_idx("t10k")
    labels = train_y.numpy()
    k = args.clients
    if args.partition_file:
        parts = partition_from_counts(labels, args.partition_file,
                                      partition_rng)
        k = len(parts)
    elif args.partition == "iid":
        parts = partition_iid(len(labels), k, partition_rng)
    elif args.partition == "pathological":
        parts = partition_pathological(labels, k, partition_rng)
    else:
        parts = partition_dirichlet(labels, k, args.alpha,
                                    args.min_client_size, partition_rng)
    # Each client's examples gathered once into contiguous tensors.
    clients = []
    for part in parts:
        index = torch.from_numpy(part.astype(np.int64))
        clients.append((train_x[index].contiguous(),
                        train_y[index].contiguous()))
    del train_x, train_y

    model = make_model(args.init)
    params = list(model.parameters())
    global_w = [p.detach().clone() for p in params]
    server = Server(args, global_w)
    m = max(1, int(math.floor(args.fraction * k + 0.5)))

    def one_round():
        sampled = sample_rng.choice(k, m, replace=False)
        start = time.perf_counter()
        run_round(model, params, global_w, clients, sampled, args, generator,
                  server)
        return time.perf_counter() - start

    def load_global():
        with torch.no_grad():
            for p, w in zip(params, global_w):
                p.copy_(w)

    if args.time_rounds is not None:
        seconds = [one_round() for _ in range(args.time_rounds)]
        load_global()
        accuracy, _ = evaluate(model, test_x, test_y)
        median = statistics.median(seconds) if seconds else float("nan")
        print(f"# summary rounds_run={len(seconds)} "
              f"first_round_reaching_target=-1 final_accuracy={accuracy:.4f} "
              f"median_round_seconds={median:.6f}")
        return 0

    print("round,test_accuracy,test_loss,seconds", flush=True)
    seconds = []
    reached = -1
    accuracy = float("nan")
    if args.rounds == 0:
        accuracy, _ = evaluate(model, test_x, test_y)
    for r in range(1, args.rounds + 1):
        seconds.append(one_round())
        load_global()
        accuracy, loss = evaluate(model, test_x, test_y)
        print(f"{r},{accuracy:.4f},{loss:.6f},{seconds[-1]:.6f}", flush=True)
        if args.target is not None and accuracy >= args.target:
            reached = r
            break
    median = statistics.median(seconds) if seconds else float("nan")
    print(f"# summary rounds_run={len(seconds)} "
          f"first_round_reaching_target={reached} "
          f"final_accuracy={accuracy:.4f} median_round_seconds={median:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
