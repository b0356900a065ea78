//! Run configuration: built-in presets (SPEC §5), TOML files and `--set key=value` overrides.
//!
//! A configuration is resolved in layers — preset, then `--config FILE.toml`, then each
//! `--set` — on a TOML table, and only then turned into a [`Config`], so every key is checked
//! once, by name. The resolved configuration is written next to a run's results.

use crate::activation::Activation;
use crate::data::DatasetKind;
use crate::interaction::InteractionConfig;
use crate::organism::{Aggregation, CellParticleConfig, LayerActivation, OrganismShape, Role};
use crate::particle::{Init, ParticleShape};
use crate::{limits, Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

mod layers;
use layers::{merge, parse_set, path_text, preset_names, preset_table, set_key, short_f32};

pub use layers::keys;

/// The presets shipped with the program, as TOML text (SPEC §5). A preset may start from
/// another with `extends = "NAME"` and list only what differs.
pub const PRESETS: [(&str, &str); 16] = [
    ("addition", include_str!("../presets/addition.toml")),
    ("mnist", include_str!("../presets/mnist.toml")),
    ("mnist28", include_str!("../presets/mnist28.toml")),
    ("fashion-mnist", include_str!("../presets/fashion-mnist.toml")),
    ("mnist28-wide", include_str!("../presets/mnist28-wide.toml")),
    ("mnist28-deep", include_str!("../presets/mnist28-deep.toml")),
    ("cifar10-gray", include_str!("../presets/cifar10-gray.toml")),
    ("cifar10-rgb", include_str!("../presets/cifar10-rgb.toml")),
    ("addition-tanh", include_str!("../presets/addition-tanh.toml")),
    ("addition-gelu", include_str!("../presets/addition-gelu.toml")),
    ("mnist-tanh", include_str!("../presets/mnist-tanh.toml")),
    ("mnist-gelu", include_str!("../presets/mnist-gelu.toml")),
    ("addition-actparticle", include_str!("../presets/addition-actparticle.toml")),
    ("mnist-actparticle", include_str!("../presets/mnist-actparticle.toml")),
    ("addition-aggparticle", include_str!("../presets/addition-aggparticle.toml")),
    ("mnist-aggparticle", include_str!("../presets/mnist-aggparticle.toml")),
];

/// The experiment's task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Float addition (paper §IV): x ~ N(0,1)², target x₁ + x₂.
    Addition,
    /// Classification of 15×15 MNIST (paper §V).
    Mnist,
    /// The same on Fashion-MNIST.
    FashionMnist,
    /// CIFAR-10 converted to grey-scale by luminance (issue 14; the paper's §VII suggestion).
    Cifar10Gray,
    /// CIFAR-10 in colour: three input planes, `3 × image_size²` inputs.
    Cifar10Rgb,
}

impl Task {
    /// Every task, in the order of this enum.
    pub const ALL: [Task; 5] = [Task::Addition, Task::Mnist, Task::FashionMnist, Task::Cifar10Gray, Task::Cifar10Rgb];

    /// The image data set of an image task.
    pub fn dataset(self) -> Option<DatasetKind> {
        match self {
            Task::Addition => None,
            Task::Mnist => Some(DatasetKind::Mnist),
            Task::FashionMnist => Some(DatasetKind::FashionMnist),
            Task::Cifar10Gray | Task::Cifar10Rgb => Some(DatasetKind::Cifar10),
        }
    }
    /// Input channels of an image task: 3 for RGB, else 1 (grey-scale).
    pub fn channels(self) -> usize {
        if self == Task::Cifar10Rgb {
            3
        } else {
            1
        }
    }
    /// The task's name as written in configurations.
    pub fn name(self) -> &'static str {
        match self {
            Task::Addition => "addition",
            Task::Mnist => "mnist",
            Task::FashionMnist => "fashion-mnist",
            Task::Cifar10Gray => "cifar10-gray",
            Task::Cifar10Rgb => "cifar10-rgb",
        }
    }
    /// Name of the task metric.
    pub fn metric_name(self) -> &'static str {
        match self {
            Task::Addition => "mae",
            _ => "accuracy",
        }
    }
}

/// Everything that determines a run. The everyday knobs are top-level keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name of the preset this configuration started from.
    pub preset: String,
    /// The task: `addition` or an image data set.
    pub task: Task,
    /// Seed of every random stream of the run.
    pub seed: u64,
    /// Epochs to train.
    pub epochs: usize,
    /// Task samples per batch.
    pub batch_size: usize,
    /// Combined self-train steps before every task step (SPEC §3).
    pub self_train_steps: usize,
    /// SGD learning rate and momentum, shared by both optimizers.
    #[serde(serialize_with = "short_f32")]
    pub lr: f32,
    /// SGD momentum.
    #[serde(serialize_with = "short_f32")]
    pub momentum: f32,
    /// Count particle classes every this many epochs (and at the end).
    pub validate_every: usize,
    /// Keep every particle's weights every this many epochs (and at the end) for Fig. 12.
    pub trajectory_every: usize,
    /// Task steps only, until an epoch's training accuracy reaches this (0 = no warm-up).
    #[serde(serialize_with = "short_f32")]
    pub warmup_accuracy: f32,
    /// ε of the fixpoint test.
    #[serde(serialize_with = "short_f32")]
    pub epsilon: f32,
    /// The ON's layer sizes, skip and activation (SPEC §2).
    pub organism: OrganismShape,
    /// The particles' architecture and initialisation.
    pub particle: ParticleConfig,
    /// Where the task's samples come from.
    pub data: DataConfig,
    /// Interactions between particles (paper §VI future work; off in the paper's presets, and
    /// then not written, so their configurations read as before).
    #[serde(default, skip_serializing_if = "InteractionConfig::is_off_default")]
    pub interaction: InteractionConfig,
    /// Activation particles (paper §VI future work), used with `organism.activation =
    /// "particle"`; left out when default, like `interaction`.
    #[serde(default, skip_serializing_if = "CellParticleConfig::is_default")]
    pub activation_particle: CellParticleConfig,
    /// Aggregator particles (paper §VI future work), used with `organism.aggregation =
    /// "particle"`; left out when default.
    #[serde(default, skip_serializing_if = "CellParticleConfig::is_default")]
    pub aggregator_particle: CellParticleConfig,
}

/// The particles' architecture: `[5, hidden, hidden, 1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticleConfig {
    /// Width `h` of both hidden layers.
    pub hidden: usize,
    /// Off (`none`) in the paper; `tanh` or `gelu` switch to the general path.
    pub activation: Activation,
    /// Weight initialisation (SPEC §1): `xavier` (the authors' code) or `torch_linear`.
    #[serde(default)]
    pub init: Init,
}

/// Where the task's samples come from (SPEC §4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Addition only: fresh training samples per epoch (image tasks use their whole train split).
    pub train_samples: usize,
    /// Size of the test set: addition samples, or the first that many test images (0 = the whole
    /// test split of an image task).
    pub test_samples: usize,
    /// Images: side of the square the 28×28 images are resized to.
    pub image_size: usize,
    /// Images: resize with antialiasing instead of plain bilinear (SPEC §4 has goldens for both).
    pub antialias: bool,
    /// Images: σ of the Gaussian noise added to each image.
    #[serde(serialize_with = "short_f32")]
    pub noise: f32,
    /// Images: a folder with the four IDX files ("" = cache, download, bundled subset); made
    /// absolute when the configuration is resolved, so a run can be re-run from anywhere. A
    /// path that is not UTF-8 is written as an array of its bytes.
    #[serde(with = "path_text")]
    pub dir: PathBuf,
    /// Images: allow downloading into the cache.
    pub download: bool,
}

/// Values the command line sets with typed flags, laid over every other layer.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--dataset`.
    pub task: Option<Task>,
    /// `--data`.
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// The resolved configuration of `preset` with the layers of `file` and `sets` on top.
    pub fn resolve(preset: Option<&str>, file: Option<&Path>, sets: &[String]) -> Result<Config> {
        Config::resolve_with(preset, file, sets, &Overrides::default())
    }

    /// [`Config::resolve`], then the typed `overrides`; a relative `data.dir` is made absolute.
    pub fn resolve_with(
        preset: Option<&str>,
        file: Option<&Path>,
        sets: &[String],
        overrides: &Overrides,
    ) -> Result<Config> {
        let text = match file {
            Some(path) => Some((path, std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?)),
            None => None,
        };
        Config::resolve_text(preset, text.as_ref().map(|(p, t)| (*p, t.as_str())), sets, overrides)
    }

    /// [`Config::resolve_with`] with the configuration file's text given as `(path, text)`.
    pub fn resolve_text(
        preset: Option<&str>,
        file: Option<(&Path, &str)>,
        sets: &[String],
        overrides: &Overrides,
    ) -> Result<Config> {
        let file_table = match file {
            Some((path, text)) => Some(toml::from_str::<Table>(text).map_err(|e| Error::format(path, e.to_string()))?),
            None => None,
        };
        let from_file = file_table.as_ref().and_then(|t| t.get("preset")).and_then(Value::as_str);
        let name = preset.or(from_file).unwrap_or("addition");
        let mut table = preset_table(name)?;
        if let Some(t) = file_table {
            merge(&mut table, t, "")?;
        }
        with_sets(table, sets, overrides)
    }

    /// This configuration with `sets` laid on top, checked as [`Config::resolve`] checks them
    /// (the Python package's `Config.set`).
    pub fn with_sets(&self, sets: &[String]) -> Result<Config> {
        let Value::Table(mut table) = Value::try_from(self).expect("a config always serialises") else {
            unreachable!("a config serialises to a table")
        };
        // The sections left out of the TOML at their defaults can be set too.
        let section = |v: Result<Value, toml::ser::Error>| v.expect("a config section always serialises");
        let omitted = [
            ("interaction", section(Value::try_from(&self.interaction))),
            ("activation_particle", section(Value::try_from(&self.activation_particle))),
            ("aggregator_particle", section(Value::try_from(&self.aggregator_particle))),
        ];
        for (key, value) in omitted {
            table.entry(key).or_insert(value);
        }
        with_sets(table, sets, &Overrides::default())
    }

    /// Range checks, each naming its key, and the memory estimate (see [`limits`]).
    pub fn validate(&self) -> Result<()> {
        if !PRESETS.iter().any(|(n, _)| *n == self.preset) {
            return Err(Error::config(
                "preset",
                format!("unknown preset `{}` (available: {})", self.preset, preset_names()),
            ));
        }
        limits::seed("seed", self.seed)?;
        let counts = [
            ("epochs", self.epochs, limits::MAX_STEPS),
            ("batch_size", self.batch_size, u64::MAX),
            ("validate_every", self.validate_every, u64::MAX),
            ("trajectory_every", self.trajectory_every, u64::MAX),
            ("particle.hidden", self.particle.hidden, limits::MAX_HIDDEN),
            ("data.image_size", self.data.image_size, limits::MAX_IMAGE_SIZE),
        ];
        for (key, v, max) in counts {
            limits::count(key, v as u64, max)?;
        }
        limits::at_most("self_train_steps", self.self_train_steps as u64, limits::MAX_STEPS)?;
        limits::optimizer(["lr", "momentum", "epsilon"], self.lr, self.momentum, self.epsilon)?;
        if !(0.0..=1.0).contains(&self.warmup_accuracy) {
            return Err(Error::config("warmup_accuracy", format!("must be in [0, 1], got {}", self.warmup_accuracy)));
        }
        if !(self.data.noise >= 0.0 && self.data.noise.is_finite()) {
            return Err(Error::config("data.noise", "must be ≥ 0"));
        }
        self.organism.validate()?;
        self.interaction.validate()?;
        self.activation_particle.validate(Role::Activation, self.organism.activation == LayerActivation::Particle)?;
        self.aggregator_particle.validate(Role::Aggregator, self.organism.aggregation == Aggregation::Particle)?;
        match self.task {
            Task::Addition => {
                if self.organism.inputs != 2 || self.organism.outputs != 1 {
                    return Err(Error::config("organism", "the addition task needs inputs = 2 and outputs = 1"));
                }
                if self.data.train_samples == 0 || self.data.test_samples == 0 {
                    let key = if self.data.train_samples == 0 { "data.train_samples" } else { "data.test_samples" };
                    return Err(Error::config(key, "must be at least 1"));
                }
                if self.warmup_accuracy > 0.0 {
                    return Err(Error::config("warmup_accuracy", "needs a classification task"));
                }
            }
            _ => {
                let pixels = self.task.channels() * self.data.image_size * self.data.image_size;
                if self.organism.inputs != pixels {
                    let what = if self.task.channels() == 1 { "data.image_size²" } else { "3 × data.image_size²" };
                    return Err(Error::config(
                        "organism.inputs",
                        format!("must equal {what} = {pixels} for this image task"),
                    ));
                }
                if self.organism.outputs != 10 {
                    return Err(Error::config("organism.outputs", "must be 10 for an image task"));
                }
            }
        }
        self.memory().check()
    }

    /// What a run of this configuration holds in memory, by the key that sizes each part.
    pub fn memory(&self) -> limits::Estimate {
        let o = &self.organism;
        let [inputs, width, depth, outputs] = [o.inputs, o.width, o.depth, o.outputs].map(|v| v as u64);
        let h = self.particle.hidden as u128;
        let per_particle = 4 * (h * h + 6 * h); // f32 weights of [5, h, h, 1]
        let n = limits::product(&[inputs, width])
            + limits::product(&[width, width, depth.saturating_sub(2)])
            + limits::product(&[width, outputs]);
        let key = if width >= depth { "organism.width" } else { "organism.depth" };
        let epochs = self.epochs as u128;
        let snapshots = epochs / self.trajectory_every as u128 + 2;
        let (train_len, sample_bytes) = match self.task.dataset() {
            None => (self.data.train_samples as u128, 4 * 3),
            Some(_) => (limits::MAX_IMAGES, 4 * (28 * 28 + limits::product(&[self.data.image_size as u64; 2]))),
        };
        let batch = (self.batch_size as u128).min(train_len.max(1));
        let units = inputs as u128 + (width as u128).saturating_mul(depth as u128) + outputs as u128;
        let general = if self.particle.activation.is_identity() { 0 } else { n.saturating_mul(batch) * 8 };
        let mut e = limits::Estimate::default();
        // Weights, gradients, two optimizer states and two work buffers.
        e.add(key, "particles", n.saturating_mul(per_particle) * 6)
            .add("trajectory_every", "trajectory", n.saturating_mul(per_particle).saturating_mul(snapshots))
            .add("epochs", "per-epoch records", epochs * 64)
            .add("data.train_samples", "training data", train_len.saturating_mul(sample_bytes) * 2)
            .add("data.test_samples", "test data", (self.data.test_samples as u128).saturating_mul(sample_bytes))
            .add(
                if units > batch { key } else { "batch_size" },
                "activations",
                batch.saturating_mul(units) * 32 + general,
            );
        for (role, cp, used) in self.cell_particles() {
            if used {
                // Weights, gradient, two optimizer states, two work buffers, and one gradient per
                // chunk of 64 samples of a task pass.
                let (h, n) = (cp.hidden as u128, cp.count(role, o) as u128);
                let per = 4 * (h * h + 6 * h);
                e.add(role.hidden_key(), "cell particles", n.saturating_mul(per) * (6 + batch / 64 + 1));
            }
        }
        e
    }

    /// Each role's section and whether the organism uses it.
    pub fn cell_particles(&self) -> [(Role, &CellParticleConfig, bool); 2] {
        [
            (Role::Activation, &self.activation_particle, self.organism.activation == LayerActivation::Particle),
            (Role::Aggregator, &self.aggregator_particle, self.organism.aggregation == Aggregation::Particle),
        ]
    }

    /// The particles' shape.
    pub fn particle_shape(&self) -> ParticleShape {
        let h = self.particle.hidden;
        ParticleShape::new(vec![5, h, h, 1], self.particle.activation).expect("validated")
    }

    /// The configuration as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config always serialises")
    }
}

/// `table` with each `key=value` of `sets` and then the typed `overrides` laid on top, as a
/// checked [`Config`]; a relative `data.dir` is made absolute.
fn with_sets(mut table: Table, sets: &[String], overrides: &Overrides) -> Result<Config> {
    for set in sets {
        let (key, value) = parse_set(set)?;
        set_key(&mut table, &key, value)?;
    }
    let mut config: Config = serde_path_to_error::deserialize(Value::Table(table))
        .map_err(|e| Error::config(e.path().to_string(), e.inner().message().to_string()))?;
    config.seed = overrides.seed.unwrap_or(config.seed);
    config.task = overrides.task.unwrap_or(config.task);
    if let Some(dir) = &overrides.data_dir {
        config.data.dir = dir.clone();
    }
    if !config.data.dir.as_os_str().is_empty() {
        config.data.dir = std::path::absolute(&config.data.dir).map_err(|e| Error::io(&config.data.dir, e))?;
    }
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests;
