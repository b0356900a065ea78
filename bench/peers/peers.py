"""PyTorch peers of organism's benchmarks: the same work, written the way a skilled PyTorch user
would (all particles batched as tensors), timed on this machine.

Peers (columns of bench/compare's table):
- `batched`: every PN evaluated layer by layer, batched over particles (`bmm`);
- `collapsed`: linear PNs collapsed to `a = W3·W2·W1`, so `PN(x) = a·x` (the identity organism's
  collapsed path uses), batched over particles.

Workloads (names as organism's criterion benchmarks, benches/self_train.rs):
- self_train_step_1200_h5: one combined self-train step (loss, backward, SGD with momentum) of
  1,200 linear [5, 5, 5, 1] PNs;
- mnist_task_pass: one task pass (extract, forward, cross-entropy, backward through the
  extraction) of the mnist preset's (225, 5, 3, 10) GELU organism on 2,000 × 225 images;
- mnist_batch: 10 self-train steps with a fresh optimizer, then one task step;
- self_train_step_1200_tanh: as the first, with tanh PNs (general path only);
- general_task_pass_tanh: the task pass of the same organism with tanh PNs, every PN evaluated on
  every sample (general path only), on 200 × 225 images.

Prints one JSON object: {workload: {peer: seconds per iteration (median)}}.
"""

import json
import math
import sys
import time

import torch
import torch.nn.functional as F

LR, MOMENTUM = 0.004, 0.9


def positions(widths):
    """Normalised (L', C', E') of every weight of a PN, SPEC §1."""
    raw = [(l, c, e) for l, (i, o) in enumerate(zip(widths, widths[1:])) for c in range(o) for e in range(i)]
    t = torch.tensor(raw, dtype=torch.float32)
    return t / (t.max(0).values + 1e-8) + 1e-8


class Particles:
    """n PNs of widths [5, h, h, 1] as one weight tensor per layer, (n, out, in)."""

    def __init__(self, n, hidden, act, gen):
        self.widths = [5, hidden, hidden, 1]
        self.act = act
        self.layers = [
            ((torch.rand(n, o, i, generator=gen) * 2 - 1) / math.sqrt(i)).requires_grad_()
            for i, o in zip(self.widths, self.widths[1:])
        ]
        self.pos = positions(self.widths)

    def flat(self):
        return torch.cat([w.reshape(w.shape[0], -1) for w in self.layers], 1)

    def forward(self, x, collapsed):
        """x (n, R, 5) -> PN(x) (n, R)."""
        if collapsed:
            a = self.layers[2] @ self.layers[1] @ self.layers[0]  # (n, 1, 5)
            return (x @ a.transpose(1, 2))[..., 0]
        h = x
        for k, w in enumerate(self.layers):
            h = h @ w.transpose(1, 2)
            if k + 1 < len(self.layers):
                h = self.act(h)
        return h[..., 0]

    def self_train_step(self, opt, collapsed):
        v = self.flat().detach()
        x = torch.zeros(v.shape[0], v.shape[1], 5)
        x[..., 0] = v
        x[..., 1:4] = self.pos
        opt.zero_grad(set_to_none=True)
        loss = ((self.forward(x, collapsed) - v) ** 2).mean(1).sum()
        loss.backward()
        opt.step()
        return loss

    def aux(self, x, collapsed):
        """PN_n(0, 0, 0, 0, x[..., n]) for x (B, n) -> (B, n)."""
        n = x.shape[1]
        rows = torch.zeros(n, x.shape[0], 5)
        rows[..., 4] = x.t()
        return self.forward(rows, collapsed).t()


def organism_forward(particles, x, dims, collapsed, general):
    """The (225, 5, 3, 10) organism, GELU between layers (no residual add at depth 3)."""
    if general:
        # Every PN on every sample: layer l's output c is Σ_e PN_{l,c,e}(h_e).
        h, start = x, 0
        for k, (i, o) in enumerate(dims):
            sub = Particles.__new__(Particles)
            sub.act, sub.layers = particles.act, [w[start:start + i * o] for w in particles.layers]
            xe = h.repeat(1, o)  # (B, o·i): sample b, particle (c, e) sees h[b, e]
            h = sub.aux(xe, collapsed=False).reshape(h.shape[0], o, i).sum(2)
            if k + 1 < len(dims):
                h = F.gelu(h)
            start += i * o
        return h
    ones = torch.ones(1, sum(i * o for i, o in dims))
    w = particles.aux(ones, collapsed)[0]  # extracted weights, (n,)
    h, start = x, 0
    for k, (i, o) in enumerate(dims):
        h = h @ w[start:start + i * o].reshape(o, i).t()
        if k + 1 < len(dims):
            h = F.gelu(h)
        start += i * o
    return h


def timeit(f, min_time=1.0, min_iters=5):
    f()
    times = []
    start = time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    min_time = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    dims = [(225, 5), (5, 5), (5, 10)]
    x = torch.rand(2000, 225, generator=gen)
    y = torch.randint(0, 10, (2000,), generator=gen)
    out = {}

    def sgd(p):
        return torch.optim.SGD(p.layers, lr=LR, momentum=MOMENTUM)

    for name, act, peers in [
        ("self_train_step_1200_h5", torch.tanh, {"batched": False, "collapsed": True}),
        ("self_train_step_1200_tanh", torch.tanh, {"batched": False}),
    ]:
        act = (lambda h: h) if name.endswith("h5") else act
        out[name] = {}
        for peer, collapsed in peers.items():
            p = Particles(1200, 5, act, gen)
            opt = sgd(p)
            out[name][peer] = timeit(lambda: p.self_train_step(opt, collapsed), min_time)

    out["mnist_task_pass"], out["mnist_batch"] = {}, {}
    for peer, collapsed in {"batched": False, "collapsed": True}.items():
        p = Particles(1200, 5, lambda h: h, gen)
        task_opt = sgd(p)

        def task_pass():
            for w in p.layers:
                w.grad = None
            loss = F.cross_entropy(organism_forward(p, x, dims, collapsed, general=False), y)
            loss.backward()
            return loss

        def batch():
            opt = sgd(p)
            for _ in range(10):
                p.self_train_step(opt, collapsed)
            task_pass()
            task_opt.step()

        out["mnist_task_pass"][peer] = timeit(task_pass, min_time)
        out["mnist_batch"][peer] = timeit(batch, min_time)

    p = Particles(1200, 5, torch.tanh, gen)
    xs, ys = x[:200], y[:200]

    def general_pass():
        for w in p.layers:
            w.grad = None
        loss = F.cross_entropy(organism_forward(p, xs, dims, False, general=True), ys)
        loss.backward()

    out["general_task_pass_tanh"] = {"batched": timeit(general_pass, min_time)}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
