# %% [markdown]
# # Organism networks from Python
#
# A notebook-style script (cells marked `# %%`; run it whole with `python examples/notebook.py`
# after `pip install ./python`). It trains the addition organism of the paper (§IV), plots how
# its particles become self-replicators, checks the organism against plain addition and runs
# the noise robustness test of Fig. 4 on its self-replicators.

# %%
import numpy as np

import organism

cfg = organism.Config.preset("addition").set("epochs", 60)
run = organism.train(cfg, seed=0, progress=False)
print(run)
print("final classes:", run.summary["types"])

# %% Class counts over training (Fig. 2): counted every `validate_every` epochs.
m = run.metrics
counted = ~np.isnan(m["self_replicator"])
classes = ["self_replicator", "other", "zero", "second_order", "divergent"]
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for c in classes:
        ax.plot(m["epoch"][counted], m[c][counted], label=c)
    ax.set(xlabel="epoch", ylabel="particles", title="Addition organism: particle classes")
    ax.legend()
    fig.tight_layout()
    fig.savefig("class_counts.png", dpi=120)
    print("wrote class_counts.png")
except ImportError:
    print("matplotlib is not installed; some of the counts instead:")
    for e, sr in list(zip(m["epoch"][counted], m["self_replicator"][counted]))[::10]:
        print(f"  epoch {e:3d}: {int(sr):2d} of {len(run.classes)} particles are self-replicators")

# %% The organism on a batch: it has learned x1 + x2.
x = np.random.default_rng(1).normal(size=(5, 2)).astype(np.float32)
y = run.organism.forward(x)
for xi, yi in zip(x, y[:, 0]):
    print(f"  {xi[0]:+.4f} + {xi[1]:+.4f} = {xi.sum():+.6f}, organism says {yi:+.6f}")

# %% Robustness (Fig. 4): clones of each self-replicator under noise 1e0 … 1e-9.
particles = organism.Particles(run.particles)
rob = particles.robustness(seeds=10, max_steps=1000)
print(f"{len(set(rob['particle']))} self-replicators, {len(rob['noise'])} noisy clones")
for noise in sorted(set(rob["noise"]), reverse=True):
    at = rob["noise"] == noise
    print(
        f"  noise {noise:.0e}: mean time as fixpoint {rob['time_as_fixpoint'][at].mean():.2f}, "
        f"to vergence {rob['time_to_vergence'][at].mean():.2f} self-applications"
    )
