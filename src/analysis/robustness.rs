//! The `robustness` analysis (paper Fig. 4 and 7, SPEC §6): the PN_SR of every run (and,
//! optionally, the self-replicators of standalone populations) are cloned, perturbed at noise
//! levels 10⁰ … 10⁻⁹ and self-applied until they are `zero` or `divergent`.
//!
//! Writes `robustness.csv` (`source, run, particle, seed, noise, time_to_vergence,
//! time_as_fixpoint, capped`; `source` is `organism` or `standalone`) and specifies
//! `robustness.png`/`.svg`: per noise level, the mean ± 95 % confidence interval over the tested
//! clones (the paper's form), one panel per measure, the sources side by side. Findings: `organism_time_as_fixpoint`,
//! `organism_time_to_vergence`, `organism_capped_share` and, when standalone populations are
//! given, the same three prefixed `standalone_`; each over all clones of all noise levels. Per
//! organism ([`PER_RUN`], the seed as unit): its clones' mean time as fixpoint below ε.

use super::kind::Kind;
use super::{evenly, figure, figure_title, final_classes, Analysis, Stat};
use crate::fixpoint::{authors_counting, classify, self_replicators, Counting, Robustness, RobustnessRecord};
use crate::particle::ParticleBatch;
use crate::plot::style::power_of_ten;
use crate::plot::{Chart, Colour, Interval, IntervalGroup, IntervalPanel, Intervals};
use crate::run::{robustness_source, shown, write_csv, write_text, Run};
use crate::{Error, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Finding: per organism run (in run order; NaN for a run without PN_SR), the mean
/// self-applications as fixpoint of its clones at the noise levels below ε.
pub const PER_RUN: &str = "organism_time_as_fixpoint_below_eps_per_run";

/// A tested particle: its run and its index there.
type ParticleKey<'a> = (&'a str, usize);

const HEADER: &str = "source,run,particle,seed,noise,time_to_vergence,time_as_fixpoint,capped,final_fixpoint,\
                      authors_time_to_vergence,authors_time_as_fixpoint\n";

#[derive(Serialize, Default)]
struct Row<'a> {
    source: &'static str,
    run: &'a str,
    particle: usize,
    seed: u64,
    noise: f32,
    time_to_vergence: usize,
    time_as_fixpoint: usize,
    capped: bool,
    final_fixpoint: bool,
    /// The same clone counted as the authors' tester does ([`Counting::Authors`]).
    authors_time_to_vergence: usize,
    authors_time_as_fixpoint: usize,
}

/// Particles to test: a batch, which of them, with which ε, under what name.
struct Source {
    kind: &'static str,
    name: String,
    particles: ParticleBatch,
    which: Vec<usize>,
    /// Self-replicators found (before any subsampling).
    found: usize,
    eps: f32,
}

/// Runs the test on the PN_SR of `runs` and the self-replicators of each `standalone` source
/// (a particle or organism `.safetensors` file, a directory written by `organism particles`, or a
/// run directory), at most `max_particles` per source, writing into `out` (created if needed).
pub fn analyze(
    runs: &[Run],
    standalone: &[PathBuf],
    test: &Robustness,
    max_particles: usize,
    out: &Path,
) -> Result<Analysis> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut a = Analysis { kind: "robustness".into(), ..Analysis::default() };

    let mut sources = Vec::new();
    for run in runs {
        let classes = final_classes(run);
        sources.push(Source {
            kind: "organism",
            name: shown(&run.dir).display().to_string(),
            particles: run.organism.particles.clone(),
            which: self_replicators(&classes),
            found: 0,
            eps: run.config.epsilon,
        });
    }
    for path in standalone {
        let (particles, eps) = robustness_source(path)?;
        let classes = classify(&particles, eps);
        sources.push(Source {
            kind: "standalone",
            name: shown(path).display().to_string(),
            particles,
            which: self_replicators(&classes),
            found: 0,
            eps,
        });
    }
    for s in &mut sources {
        let found = s.which.len();
        s.found = found;
        if found == 0 {
            a.notes.push(format!("{} ({}): no self-replicators, nothing tested", s.name, s.kind));
        } else if found > max_particles {
            s.which = evenly(found, max_particles).into_iter().map(|k| s.which[k]).collect();
            a.notes.push(format!(
                "{} ({}): tested {} of its {found} self-replicators (evenly spaced)",
                s.name,
                s.kind,
                s.which.len()
            ));
        }
    }

    let records: Vec<Vec<RobustnessRecord>> = sources
        .par_iter()
        .map(|s| {
            if s.which.is_empty() {
                Vec::new()
            } else {
                Robustness { eps: s.eps, counting: Counting::Clone, ..test.clone() }.run(&s.particles, &s.which)
            }
        })
        .collect();
    let authors: Vec<Vec<RobustnessRecord>> = records.iter().map(|r| authors_counting(r)).collect();
    // One value per organism, the seed as unit: a clone whose noise is ε or more starts outside
    // the fixpoint tolerance and leaves at once (time 0 whatever the particle), so only the
    // levels below ε tell organisms apart (`0.999`: a level equal to ε up to f32 rounding is not
    // below it).
    let per_run = sources[..runs.len()]
        .iter()
        .zip(&records)
        .map(|(s, recs)| {
            let below = recs.iter().filter(|r| r.noise < s.eps * 0.999).map(|r| r.time_as_fixpoint as f64);
            Stat::of(&below.collect::<Vec<_>>()).mean
        })
        .collect();
    a.record(PER_RUN, per_run);

    let rows: Vec<Row> = sources
        .iter()
        .zip(records.iter().zip(&authors))
        .flat_map(|(s, (recs, auth))| {
            recs.iter().zip(auth).map(move |(r, au)| Row {
                source: s.kind,
                run: &s.name,
                particle: r.particle,
                seed: r.seed,
                noise: r.noise,
                time_to_vergence: r.time_to_vergence,
                time_as_fixpoint: r.time_as_fixpoint,
                capped: r.capped,
                final_fixpoint: r.final_fixpoint,
                authors_time_to_vergence: au.time_to_vergence,
                authors_time_as_fixpoint: au.time_as_fixpoint,
            })
        })
        .collect();
    let csv = out.join("robustness.csv");
    if rows.is_empty() {
        write_text(&csv, HEADER)?;
        a.notes.push("no self-replicator anywhere: nothing could be tested".into());
    } else {
        write_csv(&csv, &rows)?;
    }
    a.csv.push(csv);

    // Figure: per noise level and source, the mean ± 95 % interval over clones.
    let levels = test.levels as usize;
    let categories: Vec<String> = (0..levels).map(|k| power_of_ten(-(k as i32))).collect();
    let level_of = |noise: f32| (0..levels).find(|&k| noise == 10f32.powi(-(k as i32)));
    let mut kinds = vec!["organism"];
    if !standalone.is_empty() {
        kinds.push("standalone");
    }
    type Time = fn(&Row) -> usize;
    // Each clone's own times, and the same clones counted as the authors' tester does (SPEC §6).
    let clone: [(&str, Time); 2] = [
        ("self-applications until zero or divergence", |r| r.time_to_vergence),
        ("self-applications as a fixpoint", |r| r.time_as_fixpoint),
    ];
    let authors: [(&str, Time); 2] = [
        ("until zero or divergence, summed over seeds", |r| r.authors_time_to_vergence),
        ("as a fixpoint, summed over seeds", |r| r.authors_time_as_fixpoint),
    ];
    let empty_panels = |measures: &[(&str, Time); 2]| -> Vec<IntervalPanel> {
        measures
            .iter()
            .map(|(label, _)| IntervalPanel { title: String::new(), y_label: label.to_string(), ..Default::default() })
            .collect()
    };
    let (mut panels, mut authors_panels) = (empty_panels(&clone), empty_panels(&authors));
    for (g, kind) in kinds.iter().enumerate() {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.source == *kind).collect();
        for (measures, panels) in [(&clone, &mut panels), (&authors, &mut authors_panels)] {
            for ((_, time), panel) in measures.iter().zip(panels.iter_mut()) {
                let mut samples = vec![Vec::new(); levels];
                for r in &mine {
                    if let Some(k) = level_of(r.noise) {
                        samples[k].push(time(r) as f64);
                    }
                }
                let points = samples
                    .iter()
                    .map(|v| {
                        let s = Stat::of(v);
                        let half = if s.n > 1 { s.ci95() } else { 0.0 };
                        (s.n > 0).then_some(Interval { mean: s.mean, lo: (s.mean - half).max(0.0), hi: s.mean + half })
                    })
                    .collect();
                let colour = [Colour::Orange, Colour::Sky][g % 2];
                panel.groups.push(IntervalGroup { name: format!("{kind} PN_SR"), colour: Some(colour), points });
            }
        }
        let times = |f: Time| mine.iter().map(|r| f(r) as f64).collect::<Vec<_>>();
        a.findings.insert(format!("{kind}_time_as_fixpoint"), Stat::of(&times(|r| r.time_as_fixpoint)));
        a.findings.insert(format!("{kind}_time_to_vergence"), Stat::of(&times(|r| r.time_to_vergence)));
        a.findings.insert(format!("{kind}_capped_share"), Stat::of(&times(|r| r.capped as usize)));
        a.findings.insert(format!("{kind}_authors_time_as_fixpoint"), Stat::of(&times(|r| r.authors_time_as_fixpoint)));
        // Per noise level, the particle is the unit: each tested particle's mean over its noise
        // seeds (n = particles over all runs, not clones).
        for k in 0..levels {
            for (name, time) in [
                ("time_as_fixpoint", (|r: &Row| r.time_as_fixpoint) as Time),
                ("time_to_vergence", |r| r.time_to_vergence),
            ] {
                // ((run, particle), (sum, count))
                let mut per_particle: Vec<(ParticleKey, (f64, usize))> = Vec::new();
                for r in mine.iter().filter(|r| level_of(r.noise) == Some(k)) {
                    let key = (r.run, r.particle);
                    match per_particle.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, (sum, n))) => {
                            *sum += time(r) as f64;
                            *n += 1;
                        }
                        None => per_particle.push((key, (time(r) as f64, 1))),
                    }
                }
                let means = per_particle.iter().map(|(_, (sum, n))| sum / *n as f64).collect();
                a.record(&format!("{kind}_{name}@1e-{k}"), means);
            }
        }
        let capped = mine.iter().filter(|r| r.capped).count();
        if capped > 0 {
            a.notes.push(format!(
                "{kind}: {capped} of {} clones reached the cap of {} self-applications without becoming zero or divergent",
                mine.len(),
                test.max_steps
            ));
        }
    }
    let count = |kind: &str| {
        let of = sources.iter().filter(|s| s.kind == kind);
        let (tested, found) = of.fold((0, 0), |(t, f), s| (t + s.which.len(), f + s.found));
        if tested == found {
            format!("{tested}")
        } else {
            format!("{tested} of {found}")
        }
    };
    let n = runs.len();
    let mut tested = format!("{} organism PN_SR from {n} run{}", count("organism"), if n == 1 { "" } else { "s" });
    if !standalone.is_empty() {
        tested += &format!(", {} standalone self-replicators", count("standalone"));
    }
    // A log axis only pays when the times span more than two decades.
    for (panels, longest) in [
        (&mut panels, rows.iter().map(|r| r.time_to_vergence).max().unwrap_or(0)),
        (&mut authors_panels, rows.iter().map(|r| r.authors_time_to_vergence).max().unwrap_or(0)),
    ] {
        for panel in panels.iter_mut() {
            panel.log_y = longest > 100;
        }
    }
    let title = figure_title(Kind::Robustness, runs, "Robustness of self-replicators to noise");
    let caption = format!(
        "Per noise level (every weight of a clone perturbed by ±noise·u, u uniform), the mean number of \
         self-applications over the clones, with its 95 % confidence interval (Student's t), for {tested}; \
         {} noise seeds per particle and level, at most {} self-applications.",
        test.seeds, test.max_steps
    );
    let chart = Chart::Intervals(Intervals { x_label: "noise level".into(), categories: categories.clone(), panels });
    a.figures.push(figure(out, "robustness", title, caption, chart));
    let caption = format!(
        "The same clones counted as the authors' robustness_tester.py does (SPEC §6): the collapsed final state \
         counts as one more fixpoint step, and a particle's counters are never reset between noise seeds, so the \
         values are running sums over the {} seeds. Fig. 4's long lifetimes (10 seeds summed) are this sum, not \
         the life of one clone.",
        test.seeds
    );
    let chart = Chart::Intervals(Intervals { x_label: "noise level".into(), categories, panels: authors_panels });
    let title = "Robustness counted as the authors' tester (running sums over seeds)".to_string();
    a.figures.push(figure(out, "robustness_authors", title, caption, chart));
    a.notes.push(format!(
        "{} noise seeds per particle and level, at most {} self-applications per clone",
        test.seeds, test.max_steps
    ));
    Ok(a)
}
