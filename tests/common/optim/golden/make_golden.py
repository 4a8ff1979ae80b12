#!/usr/bin/python3
"""Writes torch.optim trajectories for tests/common/optim/torch_golden_test.cc.

Each case pairs a torch.optim optimizer (and, optionally, a
torch.optim.lr_scheduler) with the descent OptimizerConfig that claims to
compute the same thing, runs torch over one fixed gradient sequence and
records the parameters after every step (float32, 9 significant digits: exact)
and the learning rate of every step (float64, 17 digits: exact).

Regenerate with Debian's python3-torch (the file records the version):
  /usr/bin/python3 tests/common/optim/golden/make_golden.py \
      > tests/common/optim/golden/torch_optim.txt

Format, one record per line, fields separated by single spaces:
  torch_version V          torch.__version__ (and the Debian package, if any)
  size N / steps S
  initial p_0 .. p_N-1     parameters before the first step
  grad s g_0 .. g_N-1      the gradient of step s (0-based)
  case NAME                starts a case; the lines below belong to it
  torch TEXT               how torch was called (for people, not parsed)
  config TEXTPROTO         the descent OptimizerConfig, protobuf text format
  lr s RATE                the learning rate torch used in step s
  params s p_0 .. p_N-1    parameters after step s
Lines starting with '#' are comments.

Step counting: descent's schedule gives the rate of the update that follows
`version` updates, At(version); torch's scheduler.step() runs after each
optimizer.step(), so step s uses the rate after s scheduler steps. Both are
recorded here as "lr s".

What is not compared, and why:
  * FTRL-Proximal has no torch.optim counterpart; optimizer_test.cc checks it
    against McMahan et al. 2013, Algorithm 1.
  * descent's weight_decay on `adam` is decoupled (job.proto says so), i.e.
    torch.optim.AdamW, not torch.optim.Adam's L2 term (grad += wd * p); the
    case "adam_weight_decay" therefore compares against torch AdamW.
  * torch's CosineAnnealingLR keeps following the cosine (back up) after
    T_max; descent stays at min_learning_rate. Compared over one period.
  * FedAdam, FedYogi and FedAdagrad (Reddi et al. 2021, Algorithm 2) have
    no torch.optim counterpart: FedOpt below writes the paper's update with
    torch's float32 tensor ops, independently of optimizer.cc.
  * INVERSE_SQRT has no torch scheduler: LambdaLR evaluates schedule.h's
    formula, so that case checks descent against the formula only (and the
    warmup composition through SequentialLR).
"""
import math
import subprocess
import warnings

import torch
from torch.optim import lr_scheduler as sched

SIZE = 7
STEPS = 25
INITIAL = [0.5, -1.25, 2.0, 0.0, -0.75, 3.0, 1e-3]


def gradient(step, i):
    """Deterministic and sign-changing, with zeros, tiny and large values."""
    g = round(math.sin(0.9 * step + 1.7 * i + 0.3) * (1.0 + 0.5 * i), 4)
    if i == 6 and step % 3 == 0:
        g = 0.0  # a coordinate that often gets no gradient
    if i == 5 and step < 5:
        g = 0.0  # untouched for a while: state stays at its initial value
    if i == 3 and (step < 6 or step % 4 == 1):
        # Tiny, and only tiny at first: where eps goes shows.
        g = (-1) ** step * 1e-6 * (step + 1)
    if (step, i) == (7, 2):
        g = 250.0
    if (step, i) == (15, 4):
        g = -1000.0
    if (step, i) == (20, 0):
        g = 37.5
    return g


def f32(values):
    return torch.tensor(values, dtype=torch.float32).tolist()


GRADS = [f32([gradient(s, i) for i in range(SIZE)]) for s in range(STEPS)]


def sgd(**kw):
    return lambda p: torch.optim.SGD(p, foreach=False, **kw)


def opt(cls, **kw):
    return lambda p: cls(p, foreach=False, **kw)


class FedOpt(torch.optim.Optimizer):
    """Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2,
    with grad the pseudo-gradient -Delta: m = b1 m + (1 - b1) g; v by the
    rule; x = x - lr m / (sqrt(v) + tau); m_0 = 0, v_0 = tau^2, no bias
    correction."""

    def __init__(self, params, rule, lr=0.01, betas=(0.9, 0.99), tau=1e-3):
        super().__init__(params, dict(lr=lr, betas=betas, tau=tau))
        self.rule = rule

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            tau = group["tau"]
            for p in group["params"]:
                g = p.grad
                state = self.state[p]
                if not state:
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.full_like(p, tau * tau)
                m, v = state["m"], state["v"]
                m.mul_(b1).add_(g, alpha=1 - b1)
                g2 = g * g
                if self.rule == "adagrad":
                    v.add_(g2)
                elif self.rule == "yogi":
                    v.sub_(g2 * torch.sign(v - g2) * (1 - b2))
                else:
                    v.mul_(b2).add_(g2, alpha=1 - b2)
                p.sub_(group["lr"] * m / (v.sqrt() + tau))


def fedopt(rule, **kw):
    return lambda p: FedOpt(p, rule, **kw)


def warmup(warmup_steps, base):
    """descent's warmup: rate * (s + 1) / W for s < W, then base from 0."""
    def make(o):
        ramp = sched.LinearLR(o, start_factor=1.0 / warmup_steps,
                              end_factor=1.0, total_iters=warmup_steps - 1)
        return sched.SequentialLR(o, [ramp, base(o)],
                                  milestones=[warmup_steps])
    return make


def inverse_sqrt(k):
    return lambda o: sched.LambdaLR(
        o, lambda t: math.sqrt(k / max(float(t), float(k))))


# (name, torch optimizer, torch scheduler or None, descent OptimizerConfig)
CASES = [
    # Optimizers with torch's defaults where torch has them: checks that
    # descent's defaults are torch's.
    ("sgd", sgd(lr=0.05), None, "sgd { learning_rate: 0.05 }"),
    ("momentum_default", sgd(lr=0.1, momentum=0.9), None, "momentum { }"),
    ("momentum", sgd(lr=0.02, momentum=0.8), None,
     "momentum { learning_rate: 0.02 momentum: 0.8 }"),
    ("nesterov", sgd(lr=0.02, momentum=0.95, nesterov=True), None,
     "momentum { learning_rate: 0.02 momentum: 0.95 nesterov: true }"),
    ("adagrad_default", opt(torch.optim.Adagrad), None, "adagrad { }"),
    ("adagrad", opt(torch.optim.Adagrad, lr=0.3, eps=1e-6,
                    initial_accumulator_value=0.5), None,
     "adagrad { learning_rate: 0.3 eps: 1e-6 "
     "initial_accumulator_value: 0.5 }"),
    ("rmsprop_default", opt(torch.optim.RMSprop), None, "rmsprop { }"),
    ("rmsprop", opt(torch.optim.RMSprop, lr=0.005, alpha=0.9, eps=1e-6), None,
     "rmsprop { learning_rate: 0.005 alpha: 0.9 eps: 1e-6 }"),
    ("adam_default", opt(torch.optim.Adam), None, "adam { }"),
    ("adam", opt(torch.optim.Adam, lr=0.05, betas=(0.8, 0.99), eps=1e-6), None,
     "adam { learning_rate: 0.05 beta1: 0.8 beta2: 0.99 eps: 1e-6 }"),
    ("adam_weight_decay", opt(torch.optim.AdamW, lr=0.05, weight_decay=0.1),
     None, "adam { learning_rate: 0.05 weight_decay: 0.1 }"),
    ("adamw_default", opt(torch.optim.AdamW), None, "adamw { }"),
    ("adamw", opt(torch.optim.AdamW, lr=0.05, betas=(0.85, 0.995), eps=1e-7,
                  weight_decay=0.3), None,
     "adamw { learning_rate: 0.05 beta1: 0.85 beta2: 0.995 eps: 1e-7 "
     "weight_decay: 0.3 }"),
    # Federated server optimizers, on pseudo-gradients.
    ("fedadam_default", fedopt("adam"), None, "fedadam { }"),
    ("fedadam", fedopt("adam", lr=0.1, betas=(0.8, 0.95), tau=0.01), None,
     "fedadam { learning_rate: 0.1 beta1: 0.8 beta2: 0.95 tau: 0.01 }"),
    ("fedyogi_default", fedopt("yogi"), None, "fedyogi { }"),
    ("fedyogi", fedopt("yogi", lr=0.05, betas=(0.7, 0.9), tau=0.1), None,
     "fedyogi { learning_rate: 0.05 beta1: 0.7 beta2: 0.9 tau: 0.1 }"),
    ("fedadagrad_default", fedopt("adagrad"), None, "fedadagrad { }"),
    ("fedadagrad", fedopt("adagrad", lr=0.2, betas=(0.5, 0.99), tau=1e-4),
     None, "fedadagrad { learning_rate: 0.2 beta1: 0.5 tau: 1e-4 }"),
    # Schedules, driving SGD (plus one Adam): the rate per step and the
    # trajectory it produces through CreateOptimizer.
    ("step_decay", sgd(lr=0.1), lambda o: sched.StepLR(o, 4, gamma=0.5),
     "sgd { learning_rate: 0.1 } "
     "schedule { kind: STEP_DECAY step_size: 4 gamma: 0.5 }"),
    ("exponential", sgd(lr=0.1), lambda o: sched.ExponentialLR(o, 0.85),
     "sgd { learning_rate: 0.1 } schedule { kind: EXPONENTIAL gamma: 0.85 }"),
    ("cosine", sgd(lr=0.1),
     lambda o: sched.CosineAnnealingLR(o, T_max=STEPS - 1, eta_min=0.01),
     "sgd { learning_rate: 0.1 } "
     "schedule { kind: COSINE period: %d min_learning_rate: 0.01 }"
     % (STEPS - 1)),
    ("cosine_restarts", sgd(lr=0.1),
     lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=5, eta_min=0.02),
     "sgd { learning_rate: 0.1 } schedule { kind: COSINE period: 5 "
     "min_learning_rate: 0.02 restarts: true }"),
    ("cosine_restarts_mult", sgd(lr=0.1),
     lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
     "sgd { learning_rate: 0.1 } schedule { kind: COSINE period: 3 "
     "restarts: true period_multiplier: 2 }"),
    ("inverse_sqrt", sgd(lr=0.1), inverse_sqrt(4),
     "sgd { learning_rate: 0.1 } "
     "schedule { kind: INVERSE_SQRT inverse_sqrt_steps: 4 }"),
    ("warmup_constant", sgd(lr=0.1),
     lambda o: sched.LinearLR(o, start_factor=1.0 / 6, total_iters=5),
     "sgd { learning_rate: 0.1 } schedule { warmup_steps: 6 }"),
    ("warmup_step_decay", sgd(lr=0.1),
     warmup(3, lambda o: sched.StepLR(o, 5, gamma=0.3)),
     "sgd { learning_rate: 0.1 } "
     "schedule { kind: STEP_DECAY warmup_steps: 3 step_size: 5 gamma: 0.3 }"),
    ("warmup_exponential", sgd(lr=0.1),
     warmup(4, lambda o: sched.ExponentialLR(o, 0.9)),
     "sgd { learning_rate: 0.1 } "
     "schedule { kind: EXPONENTIAL warmup_steps: 4 gamma: 0.9 }"),
    ("warmup_inverse_sqrt", sgd(lr=0.1), warmup(5, inverse_sqrt(5)),
     "sgd { learning_rate: 0.1 } "
     "schedule { kind: INVERSE_SQRT warmup_steps: 5 inverse_sqrt_steps: 5 }"),
    ("momentum_warmup_restarts", sgd(lr=0.05, momentum=0.9),
     warmup(3, lambda o: sched.CosineAnnealingWarmRestarts(
         o, T_0=4, T_mult=2, eta_min=0.005)),
     "momentum { learning_rate: 0.05 } schedule { kind: COSINE "
     "warmup_steps: 3 period: 4 min_learning_rate: 0.005 restarts: true "
     "period_multiplier: 2 }"),
    ("adamw_warmup_cosine", opt(torch.optim.AdamW, lr=0.05, weight_decay=0.1),
     warmup(5, lambda o: sched.CosineAnnealingLR(
         o, T_max=STEPS - 5, eta_min=0.001)),
     "adamw { learning_rate: 0.05 weight_decay: 0.1 } schedule { kind: COSINE "
     "warmup_steps: 5 period: %d min_learning_rate: 0.001 }" % (STEPS - 5)),
]


def row(values):
    return " ".join("%.9g" % v for v in values)


def run(name, make_optimizer, make_scheduler, config):
    p = torch.tensor(INITIAL, dtype=torch.float32, requires_grad=True)
    optimizer = make_optimizer([p])
    scheduler = make_scheduler(optimizer) if make_scheduler else None
    print("case %s" % name)
    hyper = ", ".join(
        "%s=%r" % (k, v) for k, v in sorted(optimizer.defaults.items())
        if k not in ("foreach", "maximize", "differentiable", "capturable"))
    print("torch %s(%s)%s" % (type(optimizer).__name__, hyper,
                              " " + type(scheduler).__name__ if scheduler
                              else ""))
    print("config %s" % config)
    for s, g in enumerate(GRADS):
        print("lr %d %.17g" % (s, optimizer.param_groups[0]["lr"]))
        p.grad = torch.tensor(g, dtype=torch.float32)
        optimizer.step()
        if scheduler:
            scheduler.step()
        print("params %d %s" % (s, row(p.detach().tolist())))


def debian_package():
    try:
        return subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "python3-torch"],
            capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    torch.set_num_threads(1)
    # SequentialLR calls step(0) on the scheduler it switches to; torch warns.
    warnings.filterwarnings("ignore", "The epoch parameter", UserWarning)
    print("# Generated by tests/common/optim/golden/make_golden.py; do not")
    print("# edit. Format and regeneration: see the script's docstring.")
    print("torch_version %s (Debian python3-torch %s)"
          % (torch.__version__, debian_package()))
    print("size %d" % SIZE)
    print("steps %d" % STEPS)
    print("initial %s" % row(f32(INITIAL)))
    for s, g in enumerate(GRADS):
        print("grad %d %s" % (s, row(g)))
    for case in CASES:
        run(*case)


if __name__ == "__main__":
    main()
