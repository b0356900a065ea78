"""The Python API: configs, training, runs, organisms, particles, analyses."""

import math
import pathlib
import threading
import time

import numpy as np
import pytest

import organism
from conftest import MNIST


def small(preset="addition", epochs=3):
    return organism.Config.preset(preset).set("epochs", epochs)


def test_config_preset_set_and_read():
    cfg = organism.Config.preset("addition")
    assert cfg["epochs"] == 60 and cfg["organism.width"] == 3 and cfg["lr"] == pytest.approx(0.004)
    changed = cfg.set("epochs", 5).set("organism.width", 4).set("lr", 0.01).set("organism.residual_skip", False)
    assert (changed["epochs"], changed["organism.width"], changed["organism.residual_skip"]) == (5, 4, False)
    assert changed["lr"] == pytest.approx(0.01)
    assert cfg["epochs"] == 60, "set returns a new config"
    assert changed.set("organism.activation", "gelu")["organism.activation"] == "gelu"
    assert organism.Config.preset("mnist").to_dict()["organism"]["inputs"] == 225
    with pytest.raises(KeyError):
        cfg["nope"]


def test_config_errors_are_value_errors_naming_the_key():
    cfg = organism.Config.preset("addition")
    cases = [
        (("epochs", 0), "config key `epochs`: must be at least 1"),
        (("epochz", 3), "config key `epochz`: unknown key"),
        (("lr", -0.1), "config key `lr`: must be a positive number, got -0.1"),
        (("organism.depth", 1), "config key `organism.depth`: must be at least 2, got 1"),
    ]
    for (key, value), message in cases:
        with pytest.raises(ValueError) as e:
            cfg.set(key, value)
        assert str(e.value) == message
    with pytest.raises(ValueError, match="unknown preset `nope`"):
        organism.Config.preset("nope")
    with pytest.raises(ValueError, match="must be a bool, int, float or str"):
        cfg.set("epochs", [1])


def test_config_round_trips_through_a_file(tmp_path):
    cfg = organism.Config.preset("mnist").set("epochs", 7)
    (tmp_path / "c.toml").write_text(cfg.to_toml())
    assert organism.Config.from_file(tmp_path / "c.toml") == cfg


def test_train_gives_metrics_particles_classes_and_trajectory():
    run = organism.train(small(epochs=4).set("trajectory_every", 2), seed=1, progress=False)
    assert run.summary["seed"] == 1 and run.config["seed"] == 1
    m = run.metrics
    assert list(m["epoch"]) == [0, 1, 2, 3, 4]
    assert m["test_metric"].dtype == np.float32 and np.all(np.isfinite(m["test_metric"]))
    assert math.isnan(m["task_loss"][0]), "epoch 0 is the untrained organism"
    n = run.summary["n_particles"]
    assert n == 18 and run.particles.shape == (18, 27) and run.particles.dtype == np.float32
    assert len(run.classes) == n and len(run.particle_names) == n
    assert run.classes.count("self_replicator") == run.summary["types"]["self_replicator"]
    counted = sum(m[c][-1] for c in ["divergent", "zero", "self_replicator", "second_order", "other"])
    assert counted == n
    t = run.trajectory
    assert sorted(t) == ["epochs", "weights"], "no cell particles, no cell particle tensors"
    assert list(t["epochs"]) == [0, 2, 4] and t["weights"].shape == (3, 18, 27)
    np.testing.assert_array_equal(t["weights"][-1], run.particles)


def test_trajectory_has_the_cell_particles_tensors_of_the_file(tmp_path):
    cfg = small("addition-aggparticle", epochs=4).set("trajectory_every", 2).set("organism.activation", "particle")
    run = organism.train(cfg, seed=2, progress=False)
    t = run.trajectory
    assert sorted(t) == ["activation_weights", "aggregator_weights", "epochs", "weights"]
    # addition: layers 2 → 3 → 3 → 1; one activation particle per hidden layer (2), one
    # aggregator per layer (3).
    assert t["activation_weights"].shape[:2] == (3, 2) and t["aggregator_weights"].shape[:2] == (3, 3)
    for name in ["weights", "activation_weights", "aggregator_weights"]:
        assert t[name].dtype == np.float32 and not t[name].flags.writeable
        assert not np.array_equal(t[name][0], t[name][-1]), f"{name} moved"
    run.save(tmp_path / "r")
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    on_disk = safetensors_numpy.load_file(str(tmp_path / "r" / "trajectory.safetensors"))
    assert sorted(on_disk) == sorted(t)
    for name, values in on_disk.items():
        np.testing.assert_array_equal(values, t[name])
    back = organism.load_run(tmp_path / "r").trajectory
    for name, values in t.items():
        np.testing.assert_array_equal(back[name], values)


def test_run_arrays_are_read_only_views():
    run = organism.train(small(), progress=False)
    p = run.particles
    assert p.base is not None and not p.flags.writeable and not p.flags.owndata
    with pytest.raises(ValueError):
        p[0, 0] = 1.0
    # Two reads see the same memory: no copy per access.
    assert run.particles.__array_interface__["data"][0] == p.__array_interface__["data"][0]
    del run
    assert np.all(np.isfinite(p)), "the view keeps the run alive"


def test_same_seed_same_run_and_seed_matters():
    a = organism.train(small(), seed=3, progress=False)
    b = organism.train(small(), seed=3, progress=False)
    c = organism.train(small(), seed=4, progress=False)
    np.testing.assert_array_equal(a.particles, b.particles)
    assert not np.array_equal(a.particles, c.particles)


def test_progress_callable_sees_every_epoch_and_can_stop_the_run():
    seen = []
    organism.train(small(epochs=3), progress=seen.append)
    assert [r["epoch"] for r in seen] == [0, 1, 2, 3]
    assert seen[0]["counts"]["other"] + seen[0]["counts"]["self_replicator"] <= 18

    def stop(r):
        if r["epoch"] == 2:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        organism.train(small(epochs=50), progress=stop)


def test_training_releases_the_gil():
    cfg = small(epochs=400)
    thread = threading.Thread(target=organism.train, args=(cfg,), kwargs={"progress": False})
    ticks = 0
    start = time.perf_counter()
    thread.start()
    while thread.is_alive():
        ticks += 1
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    thread.join()
    # Holding the GIL would leave this thread about one tick for the whole run.
    assert elapsed > 0.2, f"training too short to tell ({elapsed:.3f} s)"
    assert ticks > 50, f"{ticks} ticks in {elapsed:.2f} s"


def test_load_run_reads_a_saved_run(tmp_path):
    run = organism.train(small(), progress=False)
    run.save(tmp_path / "r")
    back = organism.load_run(tmp_path / "r")
    np.testing.assert_array_equal(back.particles, run.particles)
    assert back.classes == run.classes and back.summary == run.summary
    for k, v in run.metrics.items():
        np.testing.assert_array_equal(back.metrics[k], v)
    np.testing.assert_array_equal(back.trajectory["weights"], run.trajectory["weights"])
    with pytest.raises(ValueError, match="already exists; pass --force"):
        run.save(tmp_path / "r")
    run.save(tmp_path / "r", force=True)
    with pytest.raises(ValueError, match="is not a run directory"):
        organism.load_run(tmp_path)


def test_to_pandas():
    pd = pytest.importorskip("pandas")
    df = organism.train(small(), progress=False).to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df["epoch"]) == [0, 1, 2, 3]


def test_organism_forward_on_a_numpy_batch():
    run = organism.train(small(epochs=20), progress=False)
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    y = run.organism.forward(x)
    assert y.shape == (64, 1) and y.dtype == np.float32
    np.testing.assert_array_equal(run.organism.forward(x.astype(np.float64)), y)  # converted once
    np.testing.assert_array_equal(run.organism.forward(np.asfortranarray(x)), y)
    # Trained on addition: the output is close to x1 + x2 (test MAE from the run).
    assert np.mean(np.abs(y[:, 0] - x.sum(1))) < 3 * run.summary["test_metric"] + 1e-6
    with pytest.raises(ValueError, match="x has 3 columns, the organism has 2 inputs"):
        run.organism.forward(np.zeros((4, 3), np.float32))


def test_particles_apply_self_apply_classify():
    p = organism.Particles.random(20, hidden=2, seed=0)
    assert len(p) == 20 and p.hidden == 2 and p.weights.shape == (20, 16)
    q = organism.Particles(p.weights)
    assert q.hidden == 2, "hidden inferred from P = 5h + h² + h"
    applied = p.apply(p)
    p.self_apply()
    np.testing.assert_array_equal(p.weights, applied)
    assert set(p.classify()) <= {"divergent", "zero", "self_replicator", "second_order", "other"}
    with pytest.raises(ValueError, match="5h \\+ h² \\+ h for no h"):
        organism.Particles(np.zeros((2, 17), np.float32))
    with pytest.raises(ValueError, match="apply needs as many particles"):
        p.apply(organism.Particles.random(3, hidden=2))


def test_particles_self_train_makes_self_replicators_and_robustness_runs():
    p = organism.Particles.random(50, hidden=2, seed=0)
    losses_before = p.self_train_loss()
    history = p.self_train(2000, every=500)
    assert list(history["step"]) == [0, 500, 1000, 1500, 2000]
    assert history["self_replicator"][-1] > history["self_replicator"][0]
    assert p.self_train_loss().mean() < losses_before.mean()
    sr = p.classify().count("self_replicator")
    rob = p.robustness(seeds=2, max_steps=200, levels=3)
    assert len(rob["noise"]) == sr * 2 * 3
    assert np.all(rob["time_to_vergence"] >= rob["time_as_fixpoint"] - 1)


def test_analyze_types(tmp_path):
    organism.train(small(), progress=False).save(tmp_path / "r")
    result = organism.analyze("types", [tmp_path / "r"], tmp_path / "a")
    assert result["files"] and all(pathlib.Path(f).is_file() for f in result["files"])
    assert result["findings"]["share_self_replicators"]["n"] == 1
    with pytest.raises(ValueError, match="unknown analysis"):
        organism.analyze("nope", [tmp_path / "r"], tmp_path / "b")


def test_mnist_from_the_bundled_subset():
    run = organism.train(small("mnist", epochs=1).set("validate_every", 1), data=MNIST, progress=False)
    assert run.particles.shape == (225 * 5 + 5 * 5 + 5 * 10, 55)
    x = np.zeros((3, 225), np.float32)
    assert run.organism.forward(x).shape == (3, 10)
