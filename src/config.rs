//! Run configuration: built-in presets (SPEC §5), TOML files and `--set key=value` overrides.
//!
//! A configuration is resolved in layers — preset, then `--config FILE.toml`, then each
//! `--set` — on a TOML table, and only then turned into a [`Config`], so every key is checked
//! once, by name. The resolved configuration is written next to a run's results.

use crate::activation::Activation;
use crate::data::DatasetKind;
use crate::organism::OrganismShape;
use crate::particle::{Init, ParticleShape};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use toml::{Table, Value};

/// The presets shipped with the program, as TOML text (SPEC §5).
pub const PRESETS: [(&str, &str); 8] = [
    ("addition", include_str!("../presets/addition.toml")),
    ("mnist", include_str!("../presets/mnist.toml")),
    ("mnist28", include_str!("../presets/mnist28.toml")),
    ("fashion-mnist", include_str!("../presets/fashion-mnist.toml")),
    ("mnist28-wide", include_str!("../presets/mnist28-wide.toml")),
    ("mnist28-deep", include_str!("../presets/mnist28-deep.toml")),
    ("cifar10-gray", include_str!("../presets/cifar10-gray.toml")),
    ("cifar10-rgb", include_str!("../presets/cifar10-rgb.toml")),
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
    pub task: Task,
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    /// Combined self-train steps before every task step (SPEC §3).
    pub self_train_steps: usize,
    /// SGD learning rate and momentum, shared by both optimizers.
    #[serde(serialize_with = "short_f32")]
    pub lr: f32,
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
    pub organism: OrganismShape,
    pub particle: ParticleConfig,
    pub data: DataConfig,
}

/// The particles' architecture: `[5, hidden, hidden, 1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticleConfig {
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
    pub antialias: bool,
    /// Images: σ of the Gaussian noise added to each image.
    #[serde(serialize_with = "short_f32")]
    pub noise: f32,
    /// Images: a folder with the four IDX files ("" = cache, download, bundled subset).
    pub dir: String,
    /// Images: allow downloading into the cache.
    pub download: bool,
}

impl Config {
    /// The resolved configuration of `preset` with the layers of `file` and `sets` on top.
    pub fn resolve(preset: Option<&str>, file: Option<&Path>, sets: &[String]) -> Result<Config> {
        let file_table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                Some(toml::from_str::<Table>(&text).map_err(|e| Error::format(path, e.to_string()))?)
            }
            None => None,
        };
        let from_file = file_table.as_ref().and_then(|t| t.get("preset")).and_then(Value::as_str);
        let name = preset.or(from_file).unwrap_or("addition");
        let mut table = preset_table(name)?;
        if let Some(t) = file_table {
            merge(&mut table, t, "")?;
        }
        with_sets(table, sets)
    }

    /// This configuration with `sets` laid on top, checked as [`Config::resolve`] checks them
    /// (the Python package's `Config.set`).
    pub fn with_sets(&self, sets: &[String]) -> Result<Config> {
        match Value::try_from(self).expect("a config always serialises") {
            Value::Table(table) => with_sets(table, sets),
            _ => unreachable!("a config serialises to a table"),
        }
    }

    /// Range checks, each naming its key.
    pub fn validate(&self) -> Result<()> {
        let at_least_one = [
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
            ("validate_every", self.validate_every),
            ("trajectory_every", self.trajectory_every),
            ("particle.hidden", self.particle.hidden),
        ];
        for (key, v) in at_least_one {
            if v == 0 {
                return Err(Error::config(key, "must be at least 1"));
            }
        }
        let positive = [("lr", self.lr), ("epsilon", self.epsilon)];
        for (key, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                return Err(Error::config(key, format!("must be a positive number, got {v}")));
            }
        }
        let unit = [("momentum", self.momentum), ("warmup_accuracy", self.warmup_accuracy)];
        for (key, v) in unit {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::config(key, format!("must be in [0, 1], got {v}")));
            }
        }
        if !(self.data.noise >= 0.0 && self.data.noise.is_finite()) {
            return Err(Error::config("data.noise", "must be ≥ 0"));
        }
        self.organism.validate()?;
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
        Ok(())
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

/// `table` with each `key=value` of `sets` laid on top, as a checked [`Config`].
fn with_sets(mut table: Table, sets: &[String]) -> Result<Config> {
    for set in sets {
        let (key, value) = parse_set(set)?;
        set_key(&mut table, &key, value)?;
    }
    let config: Config = serde_path_to_error::deserialize(Value::Table(table))
        .map_err(|e| Error::config(e.path().to_string(), e.inner().message().to_string()))?;
    config.validate()?;
    Ok(config)
}

/// An f32 written with its shortest decimal form (`0.004`, not `0.004000000189989805`), so
/// the resolved `config.toml` reads like the preset it came from.
fn short_f32<S: serde::Serializer>(v: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(v.to_string().parse().expect("an f32 prints as a number"))
}

fn preset_table(name: &str) -> Result<Table> {
    let text = PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).ok_or_else(|| {
        let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
        Error::config("preset", format!("unknown preset `{name}` (available: {})", names.join(", ")))
    })?;
    Ok(toml::from_str(text).expect("built-in presets are valid TOML"))
}

/// `key=value`, the value read as TOML (a bare word is a string).
fn parse_set(set: &str) -> Result<(String, Value)> {
    let (key, raw) =
        set.split_once('=').ok_or_else(|| Error::config(set, "expected key=value, e.g. --set epochs=5"))?;
    let (key, raw) = (key.trim(), raw.trim());
    let value = toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()));
    Ok((key.to_string(), value))
}

/// Sets a dotted `key` in `table`; a key the table already has must keep its type.
fn set_key(table: &mut Table, key: &str, value: Value) -> Result<()> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap();
    let mut t = table;
    for (i, part) in parts.iter().enumerate() {
        t = match t.get_mut(*part) {
            Some(Value::Table(inner)) => inner,
            _ => return Err(Error::config(parts[..=i].join("."), "unknown section")),
        };
    }
    let value = match t.get(last) {
        Some(old) => coerce(key, old, value)?,
        None => return Err(Error::config(key, "unknown key")),
    };
    t.insert(last.to_string(), value);
    Ok(())
}

/// `value` in the type of `old` (an integer may stand for a float), or an error naming `key`.
fn coerce(key: &str, old: &Value, value: Value) -> Result<Value> {
    match (old, value) {
        (Value::Float(_), Value::Integer(i)) => Ok(Value::Float(i as f64)),
        (Value::Table(_), _) => Err(Error::config(key, "is a section; set one of its keys")),
        (old, value) if old.same_type(&value) => Ok(value),
        (old, value) => Err(Error::config(key, format!("expected a {}, got {value}", old.type_str()))),
    }
}

/// Lays `over` onto `base`, key by key, with the checks of [`set_key`].
fn merge(base: &mut Table, over: Table, prefix: &str) -> Result<()> {
    for (k, v) in over {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o, &key)?,
            (_, v) => {
                let mut root = Table::new();
                root.insert(k.clone(), v);
                let value = root.remove(&k).unwrap();
                let existing = base.get(&k).cloned().ok_or_else(|| Error::config(&key, "unknown key"))?;
                base.insert(k, coerce(&key, &existing, value)?);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_resolve_and_validate() {
        for (name, _) in PRESETS {
            let c = Config::resolve(Some(name), None, &[]).unwrap();
            assert_eq!(c.preset, name);
        }
    }

    #[test]
    fn sets_override_nested_and_top_level_keys() {
        let sets = ["epochs=5", "self_train_steps=10", "organism.width=4", "lr=1"].map(String::from);
        let c = Config::resolve(Some("addition"), None, &sets).unwrap();
        assert_eq!((c.epochs, c.self_train_steps, c.organism.width, c.lr), (5, 10, 4, 1.0));
    }

    #[test]
    fn bad_keys_and_values_name_the_key() {
        let cases = [
            ("epochz=3", "epochz"),
            ("epochs=abc", "epochs"),
            ("organism.depth=1", "organism.depth"),
            ("organism.width=0", "organism.width"),
            ("lr=-0.1", "lr"),
            ("organism.nope=1", "organism.nope"),
            ("organism.activation=relu", "organism.activation"),
            ("particle.init=kaiming", "particle.init"),
        ];
        for (set, key) in cases {
            let err = Config::resolve(Some("addition"), None, &[set.to_string()]).unwrap_err().to_string();
            assert!(err.contains(key), "{set}: {err}");
        }
        let err = Config::resolve(Some("nope"), None, &[]).unwrap_err().to_string();
        assert!(err.contains("unknown preset"), "{err}");
    }

    #[test]
    fn particle_init_defaults_to_xavier_and_takes_torch_linear() {
        let c = Config::resolve(Some("mnist"), None, &[]).unwrap();
        assert_eq!(c.particle.init, Init::Xavier);
        let c = Config::resolve(Some("mnist"), None, &["particle.init=torch_linear".into()]).unwrap();
        assert_eq!(c.particle.init, Init::TorchLinear);
    }

    #[test]
    fn with_sets_equals_resolving_with_the_same_sets() {
        let sets = ["epochs=5", "organism.width=4", "lr=0.01", "seed=7"].map(String::from);
        let base = Config::resolve(Some("mnist"), None, &[]).unwrap();
        assert_eq!(base.with_sets(&sets).unwrap(), Config::resolve(Some("mnist"), None, &sets).unwrap());
        let err = base.with_sets(&["epochz=1".to_string()]).unwrap_err().to_string();
        assert_eq!(err, Config::resolve(Some("mnist"), None, &["epochz=1".to_string()]).unwrap_err().to_string());
    }

    #[test]
    fn resolved_config_round_trips_through_toml() {
        let c = Config::resolve(Some("mnist"), None, &[]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, c.to_toml()).unwrap();
        assert_eq!(Config::resolve(None, Some(&path), &[]).unwrap(), c);
    }
}
