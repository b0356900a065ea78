//! Several seeds of one configuration: trained in parallel, each into `OUT/seed-N/` like a single
//! run (checkpointed, resumable), the whole output swapped into place when every seed is done.

use super::{train_in, CHECKPOINT_EVERY, SEEDS};
use crate::checkpoint::{write_atomic, Checkpoint, CHECKPOINT};
use crate::config::Config;
use crate::progress::Progress;
use crate::run::{write_json, RunWriter, Summary, CONFIG, SUMMARY, TIMING};
use crate::task::TaskData;
use crate::{limits, Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The run directory of one seed of a multi-seed experiment.
pub fn seed_dir(out: &Path, seed: u64) -> PathBuf {
    out.join(format!("seed-{seed}"))
}

/// Trains every seed of `seeds` in parallel into `out/seed-N/`, with `config.toml` (the
/// configuration they share, each seed's own in its folder) and [`SEEDS`] beside them. `out` is
/// one output (see [`RunWriter`]): it appears only when every seed is done. Each seed writes
/// checkpoints like a single run, so a killed run continues with [`super::resume_dir`]. Image data is
/// shared by the seeds (`data`, or loaded once); addition samples depend on the seed and are
/// made per seed.
pub fn train_seeds(
    cfg: &Config,
    seeds: &[u64],
    out: &Path,
    force: bool,
    data: Option<&TaskData>,
    progress: &Progress,
) -> Result<Vec<Summary>> {
    train_seeds_with(cfg, seeds, out, force, data, CHECKPOINT_EVERY, progress)
}

/// [`train_seeds`] with a checkpoint every `checkpoint_every` epochs (0 = never).
pub fn train_seeds_with(
    cfg: &Config,
    seeds: &[u64],
    out: &Path,
    force: bool,
    data: Option<&TaskData>,
    checkpoint_every: usize,
    progress: &Progress,
) -> Result<Vec<Summary>> {
    for &seed in seeds {
        Config { seed, ..cfg.clone() }.validate()?;
    }
    let writer = RunWriter::create(out, force)?;
    // The seeds first: a partial directory with `config.toml` is resumable.
    let result = write_json(&writer.path(SEEDS), &seeds)
        .and_then(|_| write_atomic(&writer.path(CONFIG), cfg.to_toml().as_bytes()))
        .and_then(|_| seeds_into(cfg, seeds, writer.dir(), data, checkpoint_every, progress));
    writer.complete(result)
}

/// The multi-seed output `out` of `cfg` and `seeds` (see [`train_seeds`]): read back if it is
/// complete, continued if a killed run left it unfinished, trained otherwise. A complete or
/// unfinished output of another configuration or other seeds is an error.
pub fn continue_seeds(
    cfg: &Config,
    seeds: &[u64],
    out: &Path,
    data: Option<&TaskData>,
    progress: &Progress,
) -> Result<Vec<Summary>> {
    let same = |dir: &Path| -> Result<()> {
        let (config, listed) = (dir.join(CONFIG), dir.join(SEEDS));
        let config = std::fs::read_to_string(&config).map_err(|e| Error::io(&config, e))?;
        let listed: Option<Vec<u64>> = std::fs::read(&listed).ok().and_then(|b| serde_json::from_slice(&b).ok());
        if config != cfg.to_toml() || listed.as_deref() != Some(seeds) {
            return Err(Error::Invalid(format!(
                "{} holds runs of another configuration or other seeds; refusing to continue it",
                out.display()
            )));
        }
        Ok(())
    };
    if out.is_dir() {
        same(out)?;
        return seeds.iter().map(|&s| read_summary(&seed_dir(out, s))).collect();
    }
    match RunWriter::resume(out, false, CONFIG)? {
        Some(writer) => {
            let result =
                same(writer.dir()).and_then(|_| seeds_into(cfg, seeds, writer.dir(), data, CHECKPOINT_EVERY, progress));
            writer.complete(result)
        }
        None => train_seeds(cfg, seeds, out, false, data, progress),
    }
}

/// The seeds of a multi-seed output in its (partial) directory `dir`, in parallel: each one
/// complete already, continued from its checkpoint or trained (see [`train_seed`]).
pub(super) fn seeds_into(
    cfg: &Config,
    seeds: &[u64],
    dir: &Path,
    data: Option<&TaskData>,
    checkpoint_every: usize,
    progress: &Progress,
) -> Result<Vec<Summary>> {
    let loaded = match (cfg.task.dataset(), data) {
        (Some(_), None) => Some(TaskData::load(cfg)?),
        _ => None,
    };
    let shared = data.or(loaded.as_ref());
    seeds
        .par_iter()
        .map(|&seed| {
            let cfg = Config { seed, ..cfg.clone() };
            match shared {
                Some(d) if cfg.task.dataset().is_some() => train_seed(&cfg, d, dir, checkpoint_every, progress),
                _ => train_seed(&cfg, &TaskData::addition(&cfg), dir, checkpoint_every, progress),
            }
        })
        .collect()
}

/// One seed of a multi-seed output in `dir`: `seed-N/` if it is complete (its summary read
/// back); else trained in `.seed-N.partial/` (from the checkpoint there, if any) and renamed
/// to `seed-N/` when done.
pub(super) fn train_seed(
    cfg: &Config,
    data: &TaskData,
    dir: &Path,
    checkpoint_every: usize,
    progress: &Progress,
) -> Result<Summary> {
    let done = seed_dir(dir, cfg.seed);
    if done.is_dir() {
        return read_summary(&done);
    }
    let partial = dir.join(format!(".seed-{}.partial", cfg.seed));
    let checkpoint = partial.join(CHECKPOINT);
    let checkpoint = if checkpoint.is_file() {
        Some(Checkpoint::read(&checkpoint)?)
    } else {
        // Killed before its first checkpoint (or never started): from the start. The
        // directory is part of this program's own unfinished output.
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
        }
        std::fs::create_dir(&partial).map_err(|e| Error::io(&partial, e))?;
        write_atomic(&partial.join(CONFIG), cfg.to_toml().as_bytes())?;
        None
    };
    let summary = train_in(cfg, data, &partial, checkpoint, checkpoint_every, progress)?;
    std::fs::rename(&partial, &done).map_err(|e| Error::io(&done, e))?;
    Ok(summary)
}

/// The summary of the finished run directory `dir`, with its wall time from `timing.json`.
pub fn read_summary(dir: &Path) -> Result<Summary> {
    let path = dir.join(SUMMARY);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let mut summary: Summary = serde_json::from_slice(&bytes).map_err(|e| Error::format(&path, e.to_string()))?;
    summary.wall_seconds = std::fs::read(dir.join(TIMING))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["wall_seconds"].as_f64())
        .unwrap_or(f64::NAN);
    Ok(summary)
}

/// `a..b` (end exclusive) or a comma list `0,3,7` of seeds; at most [`limits::MAX_SEEDS`]
/// seeds, each at most [`limits::MAX_SEED`].
pub fn parse_seeds(s: &str) -> Result<Vec<u64>> {
    let bad = || Error::Invalid(format!("--seeds `{s}`: expected a range like 0..10 or a list like 0,1,2"));
    let seed = |x: &str| -> Result<u64> {
        let v: u64 = x.trim().parse().map_err(|_| bad())?;
        limits::seed("--seeds", v)?;
        Ok(v)
    };
    let seeds: Vec<u64> = if let Some((a, b)) = s.split_once("..") {
        let (a, b) = (seed(a)?, b.trim().parse::<u64>().map_err(|_| bad())?);
        if a >= b {
            return Err(bad());
        }
        limits::at_most("--seeds", b - a, limits::MAX_SEEDS)?;
        limits::seed("--seeds", b - 1)?;
        (a..b).collect()
    } else {
        let list = s.split(',').map(seed).collect::<Result<Vec<u64>>>()?;
        limits::at_most("--seeds", list.len() as u64, limits::MAX_SEEDS)?;
        list
    };
    let mut sorted = seeds.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::Invalid(format!("--seeds `{s}`: a seed is listed twice")));
    }
    Ok(seeds)
}
