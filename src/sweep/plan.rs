//! `sweep plan`: a sweep file expanded into numbered tasks, every configuration resolved and
//! validated before anything runs.
//!
//! ```toml
//! preset = "addition"           # or config = "base.toml" (relative to the sweep file)
//! seeds = "0..3"                # or a list, [0, 5, 7]
//! [set]                         # fixed overrides of every task
//! epochs = 20
//! [grid]                        # one axis per key: the product of all axes is swept
//! "particle.hidden" = [2, 3, 5]
//! [[zip]]                       # keys that vary together: one axis, lists of equal length
//! batch_size = [50, 100]
//! self_train_steps = [25, 50]
//! ```
//! Axes are taken in the order grid keys (sorted), then zips; the first is outermost and
//! seeds are innermost, so task `i` of a grid with `s` seeds has seed `seeds[i % s]`.

use super::{task_name, Manifest, TaskSpec, FORMAT, MANIFEST};
use crate::config::Config;
use crate::experiment::parse_seeds;
use crate::run::{write_json, write_text, RunWriter};
use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// At most this many tasks in one sweep (checked before expanding the grid).
pub const MAX_TASKS: usize = 100_000;

/// The sweep file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    preset: Option<String>,
    config: Option<PathBuf>,
    seeds: Seeds,
    #[serde(default)]
    set: Table,
    #[serde(default)]
    grid: Table,
    #[serde(default)]
    zip: Vec<Table>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Seeds {
    List(Vec<u64>),
    Range(String),
}

/// A sweep file, expanded: the axes and each task's resolved configuration.
pub struct Plan {
    /// The grid's axes, seeds and tasks (written as `sweep.json`).
    pub manifest: Manifest,
    /// Each task's resolved configuration, in task order.
    pub configs: Vec<Config>,
}

/// Reads and expands `file`; fails, naming the key, on an unknown key, a value out of range,
/// an empty axis or zipped lists of different lengths.
pub fn plan(file: &Path) -> Result<Plan> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    let sweep: SweepFile = toml::from_str(&text).map_err(|e| Error::format(file, e.to_string()))?;
    let bad = |key: &str, msg: String| Error::format(file, format!("key `{key}`: {msg}"));
    let seeds = match &sweep.seeds {
        Seeds::List(s) => s.clone(),
        Seeds::Range(r) => parse_seeds(r).map_err(|e| bad("seeds", e.to_string()))?,
    };
    if seeds.is_empty() {
        return Err(bad("seeds", "no seeds".into()));
    }

    // Axes: (keys, rows of values), one per grid key, one per zip table.
    let mut axes: Vec<(Vec<String>, Vec<Vec<Value>>)> = Vec::new();
    for (key, value) in flatten(&sweep.grid, "") {
        axes.push((
            vec![key.clone()],
            list(&key, value).map_err(|m| bad(&key, m))?.into_iter().map(|v| vec![v]).collect(),
        ));
    }
    for zip in &sweep.zip {
        let columns: Vec<(String, Vec<Value>)> = flatten(zip, "")
            .into_iter()
            .map(|(k, v)| list(&k, v).map(|l| (k.clone(), l)).map_err(|m| bad(&k, m)))
            .collect::<Result<_>>()?;
        let Some((first, first_values)) = columns.first() else { continue };
        if let Some((k, l)) = columns.iter().find(|(_, l)| l.len() != first_values.len()) {
            return Err(bad(
                k,
                format!("zipped with `{first}` but has {} values against {}", l.len(), first_values.len()),
            ));
        }
        let rows = (0..first_values.len()).map(|r| columns.iter().map(|(_, l)| l[r].clone()).collect()).collect();
        axes.push((columns.iter().map(|(k, _)| k.clone()).collect(), rows));
    }
    let fixed = flatten(&sweep.set, "");
    let mut seen: Vec<&str> = Vec::new();
    for key in fixed.iter().map(|(k, _)| k).chain(axes.iter().flat_map(|(keys, _)| keys)) {
        if key == "seed" {
            return Err(bad(key, "sweep seeds with the top-level `seeds` list".into()));
        }
        if seen.contains(&key.as_str()) {
            return Err(bad(key, "appears more than once in the sweep file".into()));
        }
        seen.push(key);
    }
    let n_tasks = axes
        .iter()
        .try_fold(seeds.len(), |n, (_, rows)| n.checked_mul(rows.len()))
        .filter(|&n| n <= MAX_TASKS)
        .ok_or_else(|| Error::format(file, format!("the grid has more than {MAX_TASKS} tasks")))?;

    let base = sweep.config.as_ref().map(|c| file.parent().unwrap_or(Path::new("")).join(c));
    let fixed_sets: Vec<String> = fixed.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let keys: Vec<String> = axes.iter().flat_map(|(k, _)| k.clone()).collect();
    let mut tasks = Vec::with_capacity(n_tasks);
    let mut configs = Vec::with_capacity(n_tasks);
    for index in 0..n_tasks {
        // Mixed radix: seeds innermost, the first axis outermost.
        let seed = seeds[index % seeds.len()];
        let mut rest = index / seeds.len();
        let mut values: Vec<Value> = Vec::with_capacity(keys.len());
        for (_, rows) in axes.iter().rev() {
            values.splice(0..0, rows[rest % rows.len()].iter().cloned());
            rest /= rows.len();
        }
        let mut sets = fixed_sets.clone();
        sets.extend(keys.iter().zip(&values).map(|(k, v)| format!("{k}={v}")));
        sets.push(format!("seed={seed}"));
        let cfg = Config::resolve(sweep.preset.as_deref(), base.as_deref(), &sets)
            .map_err(|e| Error::format(file, format!("task {index}: {e}")))?;
        let values = values.iter().map(|v| serde_json::to_value(v).expect("a TOML scalar is JSON")).collect();
        tasks.push(TaskSpec { index, seed, values });
        configs.push(cfg);
    }
    let manifest = Manifest { format: FORMAT.into(), axes: axes.into_iter().map(|(k, _)| k).collect(), seeds, tasks };
    Ok(Plan { manifest, configs })
}

/// Writes the sweep directory `out` (refused if it exists and is not empty).
pub fn write(file: &Path, plan: &Plan, out: &Path) -> Result<()> {
    let writer = RunWriter::create(out, false)?;
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    write_text(&writer.path("sweep.toml"), &text)?;
    let configs = writer.path("configs");
    std::fs::create_dir(&configs).map_err(|e| Error::io(&configs, e))?;
    for (i, cfg) in plan.configs.iter().enumerate() {
        write_text(&configs.join(format!("{}.toml", task_name(i))), &cfg.to_toml())?;
    }
    write_json(&writer.path(MANIFEST), &plan.manifest)?;
    writer.finish()?;
    Ok(())
}

/// `(dotted key, value)` of every non-table entry of `table`, nested tables flattened.
fn flatten(table: &Table, prefix: &str) -> Vec<(String, Value)> {
    table
        .iter()
        .flat_map(|(k, v)| {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                Value::Table(t) => flatten(t, &key),
                v => vec![(key, v.clone())],
            }
        })
        .collect()
}

/// The values of an axis: a non-empty list of scalars.
fn list(key: &str, value: Value) -> std::result::Result<Vec<Value>, String> {
    let Value::Array(values) = value else {
        return Err(format!("an axis is a list of values, e.g. `\"{key}\" = [1, 2]`"));
    };
    if values.is_empty() {
        return Err("empty axis: give at least one value".into());
    }
    if values.iter().any(|v| matches!(v, Value::Array(_) | Value::Table(_))) {
        return Err("axis values must be numbers, strings or booleans".into());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_text(text: &str) -> Result<Plan> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).unwrap();
        plan(&path)
    }

    #[test]
    fn grid_times_zip_times_seeds_in_mixed_radix_order() {
        let p = plan_text(
            "preset = \"addition\"\nseeds = \"0..2\"\n[set]\nepochs = 2\n[grid]\n\"particle.hidden\" = [2, 3, 4]\n\
             [[zip]]\nbatch_size = [10, 20]\nlr = [0.1, 0.2]\n",
        )
        .unwrap();
        assert_eq!(p.manifest.axes, vec![vec!["particle.hidden".to_string()], vec!["batch_size".into(), "lr".into()]]);
        assert_eq!(p.configs.len(), 3 * 2 * 2);
        let c = &p.configs[7]; // hidden index 1, zip index 1, seed index 1
        assert_eq!((c.particle.hidden, c.batch_size, c.lr, c.seed, c.epochs), (3, 20, 0.2, 1, 2));
        assert_eq!(
            p.manifest.tasks[7].values,
            vec![serde_json::json!(3), serde_json::json!(20), serde_json::json!(0.2)]
        );
    }

    #[test]
    fn bad_sweep_files_name_the_key() {
        let cases = [
            ("seeds = [0]\n[grid]\n\"particle.hiden\" = [2]\n", "particle.hiden"),
            ("seeds = [0]\n[grid]\nepochs = []\n", "epochs"),
            ("seeds = [0]\n[[zip]]\nlr = [0.1, 0.2]\nmomentum = [0.5]\n", "momentum"),
            ("seeds = [0]\n[grid]\nepochs = [0]\n", "epochs"),
            ("seeds = [0]\n[set]\nseed = 3\n", "seed"),
            ("seeds = [0]\n[set]\nepochs = 3\n[grid]\nepochs = [1]\n", "epochs"),
            ("seeds = [0]\ngird = 1\n", "gird"),
            ("seeds = \"3..1\"\n", "seeds"),
            ("seeds = [0]\n[grid]\nepochs = 3\n", "epochs"),
        ];
        for (text, key) in cases {
            let err = plan_text(text).err().unwrap_or_else(|| panic!("{text} should fail")).to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
