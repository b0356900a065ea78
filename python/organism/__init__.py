"""organism: organism networks (ONs) from Python, on the same Rust library as the CLI.

An organism network is a dense network whose every weight is a tiny self-replicating particle
network (PN). Illium et al., "Constructing Organism Networks from Collaborative
Self-Replicators". Numpy arrays in and out; training releases the GIL and stops cleanly on
Ctrl-C; a run saved from Python is byte-identical to the CLI's for the same config and seed.

    >>> import organism
    >>> cfg = organism.Config.preset("addition").set("epochs", 5)
    >>> run = organism.train(cfg, seed=0, progress=False)
    >>> run.summary["types"]["self_replicator"], run.particles.shape
"""

from ._organism import (
    EPSILON,
    Config,
    Organism,
    Particles,
    Run,
    __version__,
    analyze,
    load_run,
    reproduce,
    train,
)

__all__ = [
    "EPSILON",
    "Config",
    "Organism",
    "Particles",
    "Run",
    "__version__",
    "analyze",
    "load_run",
    "reproduce",
    "train",
]
