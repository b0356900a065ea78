"""Type stubs of the `organism` package (the native module `organism._organism`).

Arrays: inputs are read in place when they are C-contiguous float32, otherwise numpy converts
them once; every array a function returns is a Rust buffer handed to numpy without a copy.
`Run.particles` and `Run.trajectory` are read-only views of the run's own memory (zero-copy);
`Particles.weights` is a copy, because particles change as they train.
"""

import os
from typing import Any, Callable, Literal, Mapping, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str
EPSILON: float
"""ε of the fixpoint test, 1e-5 (SPEC §1)."""

PathLike = Union[str, os.PathLike[str]]
ClassName = Literal["divergent", "zero", "self_replicator", "second_order", "other"]

class Config:
    """A resolved, validated run configuration: a preset with overrides (SPEC §5).

    Every value is checked by the same Rust code as the CLI's `--set`; a bad key or value raises
    `ValueError` with the CLI's message, e.g. "config key `epochs`: must be at least 1".
    """

    @staticmethod
    def preset(name: str) -> Config:
        """The built-in preset `name` ("addition" or "mnist"), as `organism train --preset`."""
    @staticmethod
    def from_file(path: PathLike) -> Config:
        """A TOML file, as `organism train --config FILE` (e.g. a run's config.toml)."""
    def set(self, key: str, value: Union[bool, int, float, str]) -> Config:
        """A new configuration with `key` (dotted for nested keys, e.g. "organism.width") set."""
    def __getitem__(self, key: str) -> Any:
        """The value of `key` (dotted for nested keys)."""
    def to_dict(self) -> dict[str, Any]: ...
    def to_toml(self) -> str:
        """The configuration as TOML text, as a run writes it to config.toml."""
    def __eq__(self, other: object) -> bool: ...

def train(
    config: Config,
    seed: int | None = None,
    data: PathLike | None = None,
    progress: bool | Callable[[dict[str, Any]], object] | None = None,
) -> Run:
    """Trains one organism in memory (the alternating schedule, SPEC §3).

    seed: overrides the config's seed (the presets' is 0), as `--seed`.
    data: a folder with the four MNIST IDX files (sets data.dir), as `--data`.
    progress: None/True draws the CLI's progress bar on a terminal, False nothing; a callable is
        called after every epoch with {"epoch", "self_train_loss", "task_loss", "train_metric",
        "test_metric", "counts"} (counts is None on epochs that were not counted).

    The GIL is released while training. Ctrl-C (KeyboardInterrupt) stops the run after the
    current epoch, and an exception raised by the progress callable stops it too; nothing is
    written either way. `Run.save` then writes the same files as `organism train`.
    """

def load_run(path: PathLike) -> Run:
    """Reads a run directory written by `organism train` or `Run.save`."""

class Run:
    """A trained organism with its history."""

    @property
    def config(self) -> Config: ...
    @property
    def summary(self) -> dict[str, Any]:
        """summary.json as a dict (test metric, class counts, losses, wall time, …)."""
    @property
    def metrics(self) -> dict[str, npt.NDArray[Any]]:
        """The columns of metrics.csv, one value per epoch (0 = untrained): "epoch" (int64),
        "self_train_loss", "task_loss", "train_metric", "test_metric" (float32) and the count of
        each class (float64); NaN where a value was not measured."""
    @property
    def particles(self) -> npt.NDArray[np.float32]:
        """Final particle weights, float32 [n, P], rows in particle order; a read-only view."""
    @property
    def trajectory(self) -> dict[str, npt.NDArray[Any]]:
        """The tensors of trajectory.safetensors by name: "epochs" (int64 [T]), "weights"
        (float32 [T, n, P]: every particle at every kept epoch, Fig. 12) and, when the
        organism has them, "activation_weights" [T, n_act, P_act] and "aggregator_weights"
        [T, n_agg, P_agg]; the float arrays are read-only views."""
    @property
    def classes(self) -> list[ClassName]:
        """The final class of every particle."""
    @property
    def particle_names(self) -> list[str]:
        """L{l}_C{c}_W{e} of every particle."""
    @property
    def organism(self) -> Organism:
        """The trained organism (its particles copied once)."""
    def save(self, path: PathLike, force: bool = False) -> None:
        """Writes the run directory as `organism train` does: complete, or not at all. An
        existing non-empty directory is refused unless force."""
    def to_pandas(self) -> Any:
        """metrics as a pandas DataFrame (ImportError without pandas)."""

class Organism:
    """An organism network (Def. 7): dense layers whose every weight is a particle."""

    @staticmethod
    def load(path: PathLike) -> Organism:
        """The organism of a checkpoint (a run's organism.safetensors)."""
    def forward(self, x: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The output on x, float32 [B, inputs] -> float32 [B, outputs]."""
    def extracted_weights(self) -> npt.NDArray[np.float32]:
        """PN(0,0,0,0,1) of every particle, float32 [n] in particle order (paper §IV-B)."""
    @property
    def shape(self) -> dict[str, Any]:
        """{inputs, width, depth, outputs, residual_skip, activation}."""
    @property
    def particles(self) -> Particles: ...
    @property
    def particle_names(self) -> list[str]: ...

class Particles:
    """Particle networks [5, h, h, 1] without biases (SPEC §1), in one n × P buffer."""

    def __init__(
        self, weights: npt.ArrayLike, hidden: int | None = None, activation: str = "none"
    ) -> None:
        """weights: float32 [n, P], one particle per row (layer by layer, [out][in] inside a
        layer). hidden: h, inferred from P = 5h + h² + h when omitted. Copied once."""
    @staticmethod
    def random(n: int, hidden: int = 2, seed: int = 0) -> Particles:
        """n freshly initialised particles, drawn as `organism particles` draws them."""
    @property
    def weights(self) -> npt.NDArray[np.float32]:
        """float32 [n, P] (a copy)."""
    @property
    def hidden(self) -> int: ...
    def __len__(self) -> int: ...
    def self_apply(self) -> None:
        """Every particle's weights become N ◁ N (in place)."""
    def apply(self, other: Particles) -> npt.NDArray[np.float32]:
        """N_i ◁ M_i for the i-th particle of self and of other, float32 [n, P]."""
    def self_train(
        self,
        steps: int,
        lr: float = 0.004,
        momentum: float = 0.9,
        every: int = 10,
        epsilon: float = 1e-5,
    ) -> dict[str, npt.NDArray[np.int64]]:
        """Self-trains in place (one optimizer state per weight, kept across the steps);
        returns the class counts every `every` steps: {"step", "self_replicator", …}."""
    def self_train_loss(self) -> npt.NDArray[np.float32]:
        """Every particle's self-training loss, float32 [n]."""
    def classify(self, epsilon: float = 1e-5) -> list[ClassName]:
        """The class of every particle, tested in SPEC §1's order."""
    def robustness(
        self, seeds: int = 10, max_steps: int = 10_000, levels: int = 10, epsilon: float = 1e-5
    ) -> dict[str, npt.NDArray[Any]]:
        """The noise robustness test (Fig. 4/7) on the self-replicators among these particles:
        one entry per clone, the columns of robustness.csv."""

def analyze(
    kind: str,
    runs: Sequence[PathLike],
    out: PathLike,
    standalone: Sequence[PathLike] = (),
    seeds: int = 10,
    max_steps: int = 10_000,
    max_particles: int = 100,
) -> dict[str, Any]:
    """One analysis over run directories, as `organism analyze KIND RUN... --out OUT`: kind is
    types, curves, robustness, resubstitution, dropout, heatmap, connectivity or trajectories.
    Returns {"findings": {name: {"mean", "sd", "n"}}, "notes": [...], "files": [...]}."""

def reproduce(
    out: PathLike,
    quick: bool = True,
    data: PathLike | None = None,
    force: bool = False,
    progress: bool = True,
) -> Mapping[str, Any]:
    """The paper, regenerated into out (as `organism reproduce`): report/index.html, report.md.
    Returns {"stages", "wall_seconds", "claims"}."""
