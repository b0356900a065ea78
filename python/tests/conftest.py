"""Shared helpers: the repository root, the CLI binary, the bundled MNIST subset."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MNIST = ROOT / "data" / "mnist-10k"


@pytest.fixture(scope="session")
def cli():
    """The CLI binary built by `cargo test --release` / `cargo build --release`
    (ORGANISM_BIN overrides)."""
    path = pathlib.Path(os.environ.get("ORGANISM_BIN", ROOT / "target" / "release" / "organism"))
    assert path.is_file(), f"{path} missing: run `cargo build --release` first"

    def run(*args, check=True):
        out = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True)
        if check:
            assert out.returncode == 0, out.stderr
        return out

    return run
