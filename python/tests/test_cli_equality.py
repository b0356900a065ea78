"""Python and the CLI write the same run directory for the same configuration and seed.

Every file is compared byte for byte, except `timing.json`: the wall time of the run, the one
file that differs between ANY two runs, CLI and CLI alike.
"""

import json

import pytest

import organism
from conftest import MNIST

FILES = [
    ".organism-output",
    "config.toml",
    "metrics.csv",
    "organism.safetensors",
    "trajectory.safetensors",
    "summary.json",
]


def assert_same_run(a, b):
    assert sorted(p.name for p in a.iterdir()) == sorted(FILES + ["timing.json"])
    assert sorted(p.name for p in b.iterdir()) == sorted(FILES + ["timing.json"])
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs"


@pytest.mark.parametrize(
    "preset, sets, seed, data",
    [
        ("addition", {"epochs": 6, "validate_every": 2}, 0, None),
        ("addition", {"epochs": 3, "organism.width": 4, "self_train_steps": 3}, 5, None),
        ("mnist", {"epochs": 2, "validate_every": 1}, 1, MNIST),
    ],
)
def test_python_and_cli_write_the_same_bytes(tmp_path, cli, preset, sets, seed, data):
    args = ["train", "--preset", preset, "--seed", seed, "--out", tmp_path / "cli"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    if data is not None:
        args += ["--data", data]
    cli(*args)
    cfg = organism.Config.preset(preset)
    for k, v in sets.items():
        cfg = cfg.set(k, v)
    organism.train(cfg, seed=seed, data=data, progress=False).save(tmp_path / "py")
    assert_same_run(tmp_path / "cli", tmp_path / "py")
    # And a run loaded back and saved again is the same run.
    organism.load_run(tmp_path / "cli").save(tmp_path / "again")
    assert_same_run(tmp_path / "cli", tmp_path / "again")
    summary = json.loads((tmp_path / "py" / "summary.json").read_text())
    assert summary["seed"] == seed and summary["epochs"] == sets["epochs"]


@pytest.mark.parametrize(
    "key, value, cli_value",
    [("epochs", 0, "0"), ("epochz", 3, "3"), ("epochs", "abc", "abc"), ("organism.depth", 1, "1"),
     ("lr", -0.5, "-0.5"), ("organism.activation", "relu", "relu"), ("epochs", -1, "-1")],
)
def test_error_messages_are_the_clis(tmp_path, cli, key, value, cli_value):
    out = cli("train", "--preset", "addition", "--set", f"{key}={cli_value}", "--out", tmp_path / "x", check=False)
    assert out.returncode != 0 and out.stderr.startswith("error: ")
    with pytest.raises(ValueError) as e:
        organism.Config.preset("addition").set(key, value)
    assert "error: " + str(e.value) == out.stderr.strip()
    assert not (tmp_path / "x").exists()
