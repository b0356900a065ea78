//! Python bindings of the `organism` library: the native module `organism._organism`, which
//! `organism/__init__.py` re-exports. Thin on purpose: every computation is one call of the
//! library (config, experiment, run, particle, fixpoint, analysis, reproduce), so Python and the
//! CLI give the same bytes for the same configuration and seed.
//!
//! Arrays: inputs are read in place when C-contiguous float32 (else converted once by numpy);
//! results are Rust vectors handed to numpy without a copy; a [`Run`]'s particles and trajectory
//! are read-only views of the run's own buffers (zero-copy, kept alive by the `Run`).

use numpy::ndarray::{ArrayView2, ArrayView3};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use organism::activation::Activation;
use organism::analysis::{self, kind::Kind, TestSets};
use organism::checkpoint::RowShape;
use organism::experiment;
use organism::fixpoint::{self, Class, Robustness, EPSILON};
use organism::particle::{Init, ParticleBatch, ParticleShape};
use organism::progress::Progress;
use organism::run::{MetricsRow, Summary};
use organism::task::TaskData;
use organism::train::{self_train_particles, EpochRecord, StandaloneConfig, Trained};
use organism::{config, Error};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::ops::ControlFlow;
use std::path::PathBuf;

/// A library error as a Python exception with the CLI's message: `OSError` for files that
/// cannot be read or written, `ValueError` for everything else.
fn py_err(e: Error) -> PyErr {
    match e {
        Error::Io { .. } => PyOSError::new_err(e.to_string()),
        e => PyValueError::new_err(e.to_string()),
    }
}

/// A Python value as the right-hand side of `--set key=value` (TOML), so `Config.set` goes
/// through the very code the CLI's `--set` does.
fn toml_value(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(b) = value.extract::<bool>() {
        Ok(b.to_string())
    } else if let Ok(i) = value.extract::<i64>() {
        Ok(i.to_string())
    } else if let Ok(f) = value.extract::<f64>() {
        Ok(if f.is_nan() {
            "nan".into()
        } else if f.is_infinite() {
            format!("{}inf", if f < 0.0 { "-" } else { "" })
        } else {
            format!("{f:?}")
        })
    } else if let Ok(s) = value.extract::<String>() {
        Ok(format!("{s:?}"))
    } else {
        Err(PyValueError::new_err(format!(
            "a config value must be a bool, int, float or str, got {}",
            value.get_type()
        )))
    }
}

/// `x` as a C-contiguous float32 matrix: read in place when it already is one, else converted
/// once by numpy (a 1-D array is one row).
fn f32_matrix<'py>(x: &Bound<'py, PyAny>) -> PyResult<PyReadonlyArray2<'py, f32>> {
    let np = x.py().import("numpy")?;
    let kwargs = PyDict::new(x.py());
    kwargs.set_item("dtype", "float32")?;
    let x = np.call_method("ascontiguousarray", (x,), Some(&kwargs))?;
    np.call_method1("atleast_2d", (x,))?.extract()
}

/// JSON text as Python objects (dicts, lists, numbers, strings).
fn json_to_py<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| PyValueError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

// ---------------------------------------------------------------------------------------------
// Config.

/// A resolved, validated run configuration (a preset with overrides).
#[pyclass(frozen, module = "organism")]
#[derive(Clone)]
struct Config {
    inner: config::Config,
}

#[pymethods]
impl Config {
    /// The built-in preset `name` (`addition` or `mnist`), as `organism train --preset NAME`.
    #[staticmethod]
    fn preset(name: &str) -> PyResult<Config> {
        config::Config::resolve(Some(name), None, &[]).map(|inner| Config { inner }).map_err(py_err)
    }

    /// A TOML file, as `organism train --config FILE` (e.g. a run's `config.toml`).
    #[staticmethod]
    fn from_file(path: PathBuf) -> PyResult<Config> {
        config::Config::resolve(None, Some(&path), &[]).map(|inner| Config { inner }).map_err(py_err)
    }

    /// A new configuration with `key` (dotted for nested keys) set to `value`, checked as
    /// `--set key=value` is.
    fn set(&self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<Config> {
        let set = format!("{key}={}", toml_value(value)?);
        self.inner.with_sets(&[set]).map(|inner| Config { inner }).map_err(py_err)
    }

    /// The value of `key` (dotted for nested keys).
    fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        let mut value = serde_json::to_value(&self.inner).map_err(|e| PyValueError::new_err(e.to_string()))?;
        for part in key.split('.') {
            value = value
                .get_mut(part)
                .map(serde_json::Value::take)
                .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(key.to_string()))?;
        }
        json_to_py(py, &value)
    }

    /// The whole configuration as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner)
    }

    /// The configuration as TOML text (what a run writes as `config.toml`).
    fn to_toml(&self) -> String {
        self.inner.to_toml()
    }

    fn __eq__(&self, other: &Config) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        format!(
            "<organism.Config preset={:?} seed={} epochs={}>",
            self.inner.preset, self.inner.seed, self.inner.epochs
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Training and runs.

/// One epoch's record as a dict (for a `progress` callable).
fn record_dict<'py>(py: Python<'py>, r: &EpochRecord) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("epoch", r.epoch)?;
    d.set_item("self_train_loss", r.self_train_loss)?;
    d.set_item("task_loss", r.task_loss)?;
    d.set_item("train_metric", r.train_metric)?;
    d.set_item("test_metric", r.test_metric)?;
    let counts = r.counts.map(|c| c.iter().map(|(k, n)| (k.name(), n)).collect::<std::collections::BTreeMap<_, _>>());
    d.set_item("counts", counts)?;
    Ok(d)
}

/// Trains one organism in memory (see `organism/__init__.pyi`).
#[pyfunction]
#[pyo3(signature = (config, seed=None, data=None, progress=None))]
fn train(
    py: Python<'_>,
    config: &Config,
    seed: Option<u64>,
    data: Option<PathBuf>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<Run> {
    let mut sets = Vec::new();
    if let Some(d) = data {
        sets.push(format!("data.dir={:?}", d.display().to_string()));
    }
    if let Some(s) = seed {
        sets.push(format!("seed={s}"));
    }
    let cfg = config.inner.with_sets(&sets).map_err(py_err)?;
    let callback = progress.filter(|p| p.is_callable()).map(|p| p.clone().unbind());
    let bars = match progress {
        None => Progress::default(),
        Some(p) if !p.is_callable() && p.is_truthy()? => Progress::default(),
        Some(_) => Progress::hidden(),
    };
    let mut stopped: Option<PyErr> = None;
    let result = py.detach(|| {
        let data = TaskData::load(&cfg)?;
        experiment::train_run(&cfg, &data, &bars, &mut |r| {
            // Ctrl-C: Python's SIGINT handler only sets a flag; check it once per epoch.
            Python::attach(|py| {
                let outcome = py.check_signals().and_then(|()| match &callback {
                    Some(f) => f.bind(py).call1((record_dict(py, r)?,)).map(drop),
                    None => Ok(()),
                });
                match outcome {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        stopped = Some(e);
                        ControlFlow::Break(())
                    }
                }
            })
        })
    });
    match result {
        Ok((trained, summary)) => Ok(Run { config: cfg, summary, trained }),
        Err(Error::Interrupted { epoch }) => {
            Err(stopped.unwrap_or_else(|| PyKeyboardInterrupt::new_err(format!("interrupted after epoch {epoch}"))))
        }
        Err(e) => Err(py_err(e)),
    }
}

/// Reads a run directory written by `organism train` (or `Run.save`).
#[pyfunction]
fn load_run(py: Python<'_>, path: PathBuf) -> PyResult<Run> {
    py.detach(|| {
        let run = organism::run::Run::open(&path)?;
        let (config, summary) = (run.config.clone(), run.summary.clone());
        Ok(Run { config, summary, trained: run.into_trained()? })
    })
    .map_err(py_err)
}

/// A trained organism with its history, in memory.
#[pyclass(frozen, module = "organism")]
struct Run {
    config: config::Config,
    summary: Summary,
    trained: Trained,
}

/// A float column of `metrics.csv`.
type Field = fn(&MetricsRow) -> Option<f32>;

/// One column of the metrics, `missing` where a value was not measured.
fn column<T: Copy>(rows: &[MetricsRow], f: impl Fn(&MetricsRow) -> Option<T>, missing: T) -> Vec<T> {
    rows.iter().map(|r| f(r).unwrap_or(missing)).collect()
}

#[pymethods]
impl Run {
    #[getter]
    fn config(&self) -> Config {
        Config { inner: self.config.clone() }
    }

    /// `summary.json` as a dict.
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.summary)
    }

    /// The columns of `metrics.csv` as numpy arrays (NaN where a value was not measured).
    #[getter]
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let rows: Vec<MetricsRow> = self.trained.records.iter().map(MetricsRow::from).collect();
        let d = PyDict::new(py);
        d.set_item("epoch", column(&rows, |r| Some(r.epoch as i64), 0).into_pyarray(py))?;
        let floats: [(&str, Field); 4] = [
            ("self_train_loss", |r| r.self_train_loss),
            ("task_loss", |r| r.task_loss),
            ("train_metric", |r| r.train_metric),
            ("test_metric", |r| r.test_metric),
        ];
        for (name, f) in floats {
            d.set_item(name, column(&rows, f, f32::NAN).into_pyarray(py))?;
        }
        for class in Class::ALL {
            let counts = column(&rows, |r| r.counts().map(|c| c[class] as f64), f64::NAN);
            d.set_item(class.name(), counts.into_pyarray(py))?;
        }
        Ok(d)
    }

    /// The final particle weights, `float32 [n, P]`: a read-only view of the run's buffer.
    #[getter]
    fn particles<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let run = slf.get();
        let p = &run.trained.organism.particles;
        let view = ArrayView2::from_shape((p.len(), p.shape().n_weights()), p.weights()).expect("n × P");
        // SAFETY: a frozen `Run` never changes or reallocates its buffers; `slf` is the base
        // object of the array, so the buffer lives as long as the view.
        let array = unsafe { PyArray2::borrow_from_array(&view, slf.clone().into_any()) };
        read_only(array)
    }

    /// The tensors of trajectory.safetensors by name: `epochs` (int64 `[T]`), `weights`
    /// (float32 `[T, n, P]`, every particle at every kept epoch) and, when the organism has
    /// them, `activation_weights` `[T, n_act, P_act]` and `aggregator_weights` `[T, n_agg,
    /// P_agg]`; the float arrays are read-only views.
    #[getter]
    fn trajectory<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let py = slf.py();
        let run = slf.get();
        let t = &run.trained.trajectory;
        let d = PyDict::new(py);
        let epochs: Vec<i64> = t.epochs.iter().map(|&e| e as i64).collect();
        d.set_item("epochs", epochs.into_pyarray(py))?;
        let values = [&t.weights, &t.activation_weights, &t.aggregator_weights];
        for ((name, [n, p]), values) in RowShape::of(&run.trained.organism).tensors().into_iter().zip(values) {
            if n == 0 {
                continue;
            }
            let view = ArrayView3::from_shape((t.epochs.len(), n, p), values.as_slice())
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            // SAFETY: as in `particles`.
            let array = unsafe { PyArray3::borrow_from_array(&view, slf.clone().into_any()) };
            d.set_item(name, read_only(array)?)?;
        }
        Ok(d)
    }

    /// The final class of every particle (`self_replicator`, `zero`, …), in particle order.
    #[getter]
    fn classes(&self) -> Vec<&'static str> {
        self.trained.classes.iter().map(|c| c.name()).collect()
    }

    /// `L{l}_C{c}_W{e}` of every particle.
    #[getter]
    fn particle_names(&self) -> Vec<String> {
        self.trained.organism.shape.particle_names()
    }

    /// The trained organism (its particles copied once).
    #[getter]
    fn organism(&self) -> Organism {
        Organism { inner: self.trained.organism.clone() }
    }

    /// Writes the run directory `path` exactly as `organism train` does (complete, or not at
    /// all); an existing non-empty directory is refused unless `force`.
    #[pyo3(signature = (path, force=false))]
    fn save(&self, py: Python<'_>, path: PathBuf, force: bool) -> PyResult<()> {
        py.detach(|| experiment::save_run(&self.config, &self.trained, &self.summary, &path, force)).map_err(py_err)
    }

    /// `metrics` as a pandas DataFrame (needs pandas).
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pandas = py.import("pandas")?;
        pandas.call_method1("DataFrame", (self.metrics(py)?,))
    }

    fn __repr__(&self) -> String {
        let s = &self.summary;
        format!(
            "<organism.Run preset={:?} seed={} epochs={} test {}={} self_replicators={}/{}>",
            s.preset,
            s.seed,
            s.epochs,
            s.metric_name,
            s.test_metric.map_or("nan".to_string(), |v| format!("{v:.4e}")),
            s.types.get("self_replicator").copied().unwrap_or(0),
            s.n_particles
        )
    }
}

/// `array` marked read-only (numpy's `setflags(write=False)`).
fn read_only<'py, T: numpy::Element, D: numpy::ndarray::Dimension>(
    array: Bound<'py, numpy::PyArray<T, D>>,
) -> PyResult<Bound<'py, numpy::PyArray<T, D>>> {
    let kwargs = PyDict::new(array.py());
    kwargs.set_item("write", false)?;
    array.call_method("setflags", (), Some(&kwargs))?;
    Ok(array)
}

// ---------------------------------------------------------------------------------------------
// Organisms and particles.

/// An organism network: its shape and particles.
#[pyclass(frozen, module = "organism")]
struct Organism {
    inner: organism::organism::Organism,
}

#[pymethods]
impl Organism {
    /// The organism of a checkpoint (`organism.safetensors` of a run directory).
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Organism> {
        let (particles, shape) = organism::run::read_particles(&path).map_err(py_err)?;
        let shape = shape
            .ok_or_else(|| PyValueError::new_err(format!("{}: a particle file, not an organism", path.display())))?;
        organism::organism::Organism::from_particles(shape, particles).map(|inner| Organism { inner }).map_err(py_err)
    }

    /// The organism's output on `x` (`float32 [B, inputs]`), `float32 [B, outputs]`.
    fn forward<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let x = f32_matrix(x)?;
        let (b, p) = (x.shape()[0], x.shape()[1]);
        if p != self.inner.shape.inputs {
            return Err(PyValueError::new_err(format!(
                "x has {p} columns, the organism has {} inputs",
                self.inner.shape.inputs
            )));
        }
        let xs = x.as_slice().expect("C-contiguous");
        let y = py.detach(|| self.inner.forward(xs, self.inner.default_path()));
        y.into_pyarray(py).reshape([b, self.inner.shape.outputs])
    }

    /// Every particle's extracted weight `PN(0,0,0,0,1)`, `float32 [n]` in particle order.
    fn extracted_weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        self.inner.extracted_weights().into_pyarray(py)
    }

    /// `{inputs, width, depth, outputs, residual_skip, activation}`.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.shape)
    }

    /// The particles (a copy).
    #[getter]
    fn particles(&self) -> Particles {
        Particles { inner: self.inner.particles.clone() }
    }

    #[getter]
    fn particle_names(&self) -> Vec<String> {
        self.inner.shape.particle_names()
    }

    fn __repr__(&self) -> String {
        let s = &self.inner.shape;
        format!(
            "<organism.Organism ({}, {}, {}, {}), {} particles>",
            s.inputs,
            s.width,
            s.depth,
            s.outputs,
            s.n_particles()
        )
    }
}

/// Particle networks `[5, h, h, 1]` in one contiguous `n × P` buffer.
#[pyclass(module = "organism")]
struct Particles {
    inner: ParticleBatch,
}

/// `h` with `5h + h² + h = P`, if there is one.
fn hidden_of(p: usize) -> Option<usize> {
    (1..=p).take_while(|h| 6 * h + h * h <= p).find(|h| 6 * h + h * h == p)
}

#[pymethods]
impl Particles {
    /// Particles from `weights` (`float32 [n, P]`, one row per particle, SPEC §1 order).
    #[new]
    #[pyo3(signature = (weights, hidden=None, activation="none"))]
    fn new(weights: &Bound<'_, PyAny>, hidden: Option<usize>, activation: &str) -> PyResult<Particles> {
        let weights = f32_matrix(weights)?;
        let p = weights.shape()[1];
        let hidden = match hidden.or_else(|| hidden_of(p)) {
            Some(h) => h,
            None => {
                return Err(PyValueError::new_err(format!(
                    "{p} weights per particle is 5h + h² + h for no h; pass hidden="
                )))
            }
        };
        let activation: Activation = activation.parse().map_err(PyValueError::new_err)?;
        let shape = ParticleShape::new(vec![5, hidden, hidden, 1], activation).map_err(py_err)?;
        if shape.n_weights() != p {
            return Err(PyValueError::new_err(format!(
                "particles of hidden width {hidden} have {} weights, got {p} per row",
                shape.n_weights()
            )));
        }
        let flat = weights.as_slice().expect("C-contiguous").to_vec();
        ParticleBatch::from_weights(shape, flat).map(|inner| Particles { inner }).map_err(py_err)
    }

    /// `n` freshly initialised particles (Xavier-uniform, as `organism particles` draws them).
    #[staticmethod]
    #[pyo3(signature = (n, hidden=2, seed=0))]
    fn random(n: usize, hidden: usize, seed: u64) -> PyResult<Particles> {
        let shape = ParticleShape::new(vec![5, hidden, hidden, 1], Activation::None).map_err(py_err)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Ok(Particles { inner: ParticleBatch::random(shape, n, Init::Xavier, &mut rng) })
    }

    /// The weights, `float32 [n, P]` (a copy: the particles change as they train).
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let p = self.inner.shape().n_weights();
        self.inner.weights().to_vec().into_pyarray(py).reshape([self.inner.len(), p])
    }

    #[getter]
    fn hidden(&self) -> usize {
        self.inner.shape().widths()[1]
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Self-application in place: every particle's weights become `N ◁ N` (Def. 2).
    fn self_apply(&mut self, py: Python<'_>) {
        let inner = &mut self.inner;
        py.detach(|| inner.self_apply());
    }

    /// `N_i ◁ M_i` for every particle `N_i` of these and `M_i` of `other`, `float32 [n, P]`.
    fn apply<'py>(&self, py: Python<'py>, other: &Particles) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (a, b) = (&self.inner, &other.inner);
        if a.len() != b.len() || a.shape().n_weights() != b.shape().n_weights() {
            return Err(PyValueError::new_err(format!(
                "apply needs as many particles of the same size: {} × {} and {} × {}",
                a.len(),
                a.shape().n_weights(),
                b.len(),
                b.shape().n_weights()
            )));
        }
        let out = py.detach(|| a.apply_pairwise(b));
        out.weights().to_vec().into_pyarray(py).reshape([a.len(), a.shape().n_weights()])
    }

    /// Self-trains every particle for `steps` SGD steps (its own optimizer state, SPEC §1) and
    /// returns the class counts every `every` steps: `{"step": [...], "self_replicator": [...], …}`.
    #[pyo3(signature = (steps, lr=0.004, momentum=0.9, every=10, epsilon=EPSILON))]
    fn self_train<'py>(
        &mut self,
        py: Python<'py>,
        steps: usize,
        lr: f32,
        momentum: f32,
        every: usize,
        epsilon: f32,
    ) -> PyResult<Bound<'py, PyDict>> {
        let cfg = StandaloneConfig { steps, every: every.max(1), lr, momentum, epsilon };
        let inner = &mut self.inner;
        let history = py.detach(|| self_train_particles(inner, &cfg, &mut |_| {}));
        let d = PyDict::new(py);
        d.set_item("step", history.iter().map(|(s, _)| *s as i64).collect::<Vec<_>>().into_pyarray(py))?;
        for class in Class::ALL.iter() {
            d.set_item(
                class.name(),
                history.iter().map(|(_, c)| c[*class] as i64).collect::<Vec<_>>().into_pyarray(py),
            )?;
        }
        Ok(d)
    }

    /// The self-training loss of every particle, `float32 [n]`, without changing them.
    fn self_train_loss<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        let mut grads = vec![0.0; self.inner.weights().len()];
        self.inner.self_train_grads(&mut grads).into_pyarray(py)
    }

    /// The class of every particle (SPEC §1 order of tests, ε = `epsilon`).
    #[pyo3(signature = (epsilon=EPSILON))]
    fn classify(&self, py: Python<'_>, epsilon: f32) -> Vec<&'static str> {
        let inner = &self.inner;
        py.detach(|| fixpoint::classify(inner, epsilon)).iter().map(|c| c.name()).collect()
    }

    /// The robustness test (Fig. 4/7) on the self-replicators among these particles: one row per
    /// clone, as `robustness.csv` (`particle`, `seed`, `noise`, `time_to_vergence`,
    /// `time_as_fixpoint`, `capped`), columns as numpy arrays.
    #[pyo3(signature = (seeds=10, max_steps=10_000, levels=10, epsilon=EPSILON))]
    fn robustness<'py>(
        &self,
        py: Python<'py>,
        seeds: u64,
        max_steps: usize,
        levels: u32,
        epsilon: f32,
    ) -> PyResult<Bound<'py, PyDict>> {
        let inner = &self.inner;
        let records = py.detach(|| {
            let which = fixpoint::self_replicators(&fixpoint::classify(inner, epsilon));
            Robustness { levels, seeds, max_steps, eps: epsilon, ..Robustness::default() }.run(inner, &which)
        });
        let d = PyDict::new(py);
        d.set_item("particle", records.iter().map(|r| r.particle as i64).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("seed", records.iter().map(|r| r.seed as i64).collect::<Vec<_>>().into_pyarray(py))?;
        d.set_item("noise", records.iter().map(|r| r.noise).collect::<Vec<_>>().into_pyarray(py))?;
        let vergence: Vec<i64> = records.iter().map(|r| r.time_to_vergence as i64).collect();
        d.set_item("time_to_vergence", vergence.into_pyarray(py))?;
        let fixpoint: Vec<i64> = records.iter().map(|r| r.time_as_fixpoint as i64).collect();
        d.set_item("time_as_fixpoint", fixpoint.into_pyarray(py))?;
        d.set_item("capped", records.iter().map(|r| r.capped).collect::<Vec<_>>().into_pyarray(py))?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "<organism.Particles {} × {} (hidden {})>",
            self.inner.len(),
            self.inner.shape().n_weights(),
            self.hidden()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Analyses and the whole reproduction.

/// One analysis over run directories (as `organism analyze KIND RUN... --out OUT`).
#[pyfunction]
#[pyo3(signature = (kind, runs, out, standalone=Vec::new(), seeds=10, max_steps=10_000, max_particles=100))]
#[allow(clippy::too_many_arguments)]
fn analyze<'py>(
    py: Python<'py>,
    kind: &str,
    runs: Vec<PathBuf>,
    out: PathBuf,
    standalone: Vec<PathBuf>,
    seeds: u64,
    max_steps: usize,
    max_particles: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let kind: Kind = kind.parse().map_err(|e: Error| PyValueError::new_err(e.to_string()))?;
    let opts = analysis::kind::Options {
        standalone,
        robustness: Robustness { seeds, max_steps, ..Robustness::default() },
        max_particles,
        ..Default::default()
    };
    let result = py
        .detach(|| {
            let runs = analysis::open_runs(&runs)?;
            // The same output rule as the CLI's `analyze`: a new directory, complete or not at all.
            analysis::kind::analyze_to_dir(kind, &runs, &TestSets::default(), &opts, &out, false)
        })
        .map_err(py_err)?;
    let d = PyDict::new(py);
    let findings = PyDict::new(py);
    for (name, s) in &result.findings {
        findings.set_item(name, json_to_py(py, s)?)?;
    }
    d.set_item("findings", findings)?;
    d.set_item("notes", PyList::new(py, &result.notes)?)?;
    let figures = result.figures.iter().flat_map(|f| [f.png(), f.svg()]);
    let files: Vec<String> = result.csv.iter().cloned().chain(figures).map(|p| p.display().to_string()).collect();
    d.set_item("files", files)?;
    Ok(d)
}

/// The paper, regenerated into `out` (as `organism reproduce`); returns what it measured.
#[pyfunction(name = "reproduce")]
#[pyo3(signature = (out, quick=true, data=None, force=false, progress=true))]
fn reproduce_paper<'py>(
    py: Python<'py>,
    out: PathBuf,
    quick: bool,
    data: Option<PathBuf>,
    force: bool,
    progress: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = organism::reproduce::Options { out, quick, extended: false, force, data_dir: data, resume: false };
    let bars = if progress { Progress::default() } else { Progress::hidden() };
    let outcome = py.detach(|| organism::reproduce::reproduce(&opts, &bars)).map_err(py_err)?;
    json_to_py(py, &outcome)
}

/// The native module; `organism/__init__.py` re-exports it.
#[pymodule]
fn _organism(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Config>()?;
    m.add_class::<Run>()?;
    m.add_class::<Organism>()?;
    m.add_class::<Particles>()?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(load_run, m)?)?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(reproduce_paper, m)?)?;
    m.add("EPSILON", EPSILON)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
