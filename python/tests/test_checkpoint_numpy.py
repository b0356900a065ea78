"""A checkpoint (`organism.safetensors`) read with the `safetensors` package and run in plain
numpy (no torch, no organism code) reproduces the organism's output on a batch.

The numpy side follows SPEC §1–2 from scratch: each particle is a bias-free dense net
[5, h, h, 1] whose weights are stored layer by layer, `[out][in]` inside a layer; with linear
particles PN(0,0,0,0,x) = x·PN(0,0,0,0,1), so the organism is the dense network of the
extracted weights, with the residual skip and the activation of SPEC §2.
"""

import json
import math

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

import organism
from conftest import MNIST

U = 2.0**-24  # unit roundoff of float32
GELU_LIPSCHITZ = 1.13  # max |gelu'(x)|


def load_checkpoint(path):
    weights = load_file(str(path))["weights"]
    with safe_open(str(path), "np") as f:
        meta = f.metadata()
    assert meta["format"] == "organism" and meta["particle_activation"] == "none"
    return weights, json.loads(meta["particle_widths"]), json.loads(meta["organism"])


def pn_forward(weights, widths, x):
    """Every particle (rows of `weights`) on the input row `x` (5 values), float64."""
    h = np.broadcast_to(np.asarray(x, np.float64), (weights.shape[0], widths[0]))
    offset = 0
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        w = weights[:, offset : offset + n_in * n_out].astype(np.float64).reshape(-1, n_out, n_in)
        h = np.einsum("noi,ni->no", w, h)
        offset += n_in * n_out
    assert offset == weights.shape[1]
    return h[:, 0]


def layer_shapes(shape):
    d = shape["depth"]
    return [
        (shape["inputs"] if l == 0 else shape["width"], shape["outputs"] if l == d - 1 else shape["width"])
        for l in range(d)
    ]


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def dense_forward(extracted, shape, x, act, absolute=False):
    """SPEC §2 on the extracted weights. With absolute=True, the same network on |W| and |x|
    with the activation replaced by its Lipschitz bound: a bound on every |value| on the way."""
    layers, d = layer_shapes(shape), shape["depth"]
    h, residual, offset = np.abs(x) if absolute else x, None, 0
    for l, (n_in, n_out) in enumerate(layers):
        w = extracted[offset : offset + n_in * n_out].reshape(n_out, n_in)
        offset += n_in * n_out
        skip = shape["residual_skip"] and 1 <= l < d - 1
        if skip and l % 2 == 1:
            residual = h
        y = h @ (np.abs(w) if absolute else w).T
        if skip and l % 2 == 0 and residual is not None:
            y = y + residual
        if l + 1 < d and shape["activation"] == "gelu":
            y = GELU_LIPSCHITZ * y if absolute else act(y)
        h = y
    return h


def check_checkpoint(run_dir, x):
    weights, widths, shape = load_checkpoint(run_dir / "organism.safetensors")
    extracted = pn_forward(weights, widths, [0, 0, 0, 0, 1])
    y_numpy = dense_forward(extracted, shape, x.astype(np.float64), gelu)

    org = organism.load_run(run_dir).organism
    y_rust = org.forward(x)
    assert y_rust.shape == y_numpy.shape

    # The Rust side computes in float32 in another summation order. First-order rounding bound:
    # a dot product of n terms errs by at most n·u·Σ|w||h|, so an extracted weight errs by at
    # most (2h + 6)·u·A, where A is the same chain on |weights| (≥ |extracted|), and every
    # layer adds at most (fan-in + 2)·u relative to its absolute sum; errors pass through later
    # layers at most Lipschitz-amplified, which the absolute network on A and |x| bounds. So
    # per output: |Δy| ≤ depth · (max fan-in + 2h + 8) · u · lip^depth · |network|_A(|x|).
    h = widths[1]
    chain = pn_forward(np.abs(weights), widths, [0, 0, 0, 0, 1])
    np.testing.assert_array_less(np.abs(org.extracted_weights() - extracted), (2 * h + 6) * U * chain + 1e-38)
    fan_in = max(n for n, _ in layer_shapes(shape))
    lip = GELU_LIPSCHITZ if shape["activation"] == "gelu" else 1.0
    magnitude = dense_forward(chain, shape, x.astype(np.float64), gelu, absolute=True)
    tol = shape["depth"] * (fan_in + 2 * h + 8) * U * lip ** shape["depth"] * magnitude
    err = np.abs(y_rust - y_numpy)
    assert np.all(err <= tol), f"max error {err.max():.3e}, bound {tol[np.argmax(err / tol)]:.3e}"
    # The bound is worst-case (loose), yet it still tells a wrong network from the right one: a
    # first layer in the wrong order (transposed, or zeroed when not square) does not pass.
    n_in, n_out = layer_shapes(shape)[0]
    wrong = extracted.copy()
    wrong[: n_in * n_out] = extracted[: n_in * n_out].reshape(n_out, n_in).T.reshape(-1) if n_in == n_out else 0.0
    assert np.any(np.abs(dense_forward(wrong, shape, x.astype(np.float64), gelu) - y_rust) > tol)
    return y_rust


def test_addition_checkpoint_in_numpy(tmp_path):
    # Depth 4 has hidden layers 1 and 2, so the residual skip really adds.
    cfg = organism.Config.preset("addition").set("epochs", 10).set("organism.depth", 4)
    organism.train(cfg, seed=2, progress=False).save(tmp_path / "run")
    x = np.random.default_rng(0).normal(size=(256, 2)).astype(np.float32)
    y = check_checkpoint(tmp_path / "run", x)
    assert np.mean(np.abs(y[:, 0] - x.sum(1))) < 0.5


def test_mnist_checkpoint_with_gelu_in_numpy(tmp_path):
    # torch's nn.Linear init keeps the first-order rounding bound below the gap to a wrong
    # network; with Xavier's larger weights the worst-case bound of depth 4 is too loose to tell.
    cfg = organism.Config.preset("mnist").set("epochs", 1).set("organism.depth", 4).set("particle.init", "torch_linear")
    organism.train(cfg, data=MNIST, progress=False).save(tmp_path / "run")
    x = np.random.default_rng(1).uniform(size=(64, 225)).astype(np.float32)
    check_checkpoint(tmp_path / "run", x)
