//! The report of each study: its claims (declared comparisons judged on the per-seed values),
//! its overview figure and its section.

use super::{
    analysis, scope_task_tolerance, task_tolerance, Arm, Design, Measured, Setting, Study, KINDS, LEARNED_ACTIVATIONS,
    RATES, ROBUSTNESS_TOLERANCE, SCOPES, SCOPE_RATE, SCOPE_SHARE_TOLERANCE,
};
use crate::analysis::kind::Kind;
use crate::analysis::robustness::PER_RUN;
use crate::analysis::{Analysis, Stat};
use crate::organism::LayerActivation;
use crate::plot::{Chart, Colour, Interval, IntervalGroup, IntervalPanel, Intervals};
use crate::report::claims::{self, src, Claim, ClaimSpec, Comparison, Exp, Unit};
use crate::report::document::Section;
use crate::Result;
use std::path::Path;

/// The declared claims of `study`, evaluated on `measured`; `Exp::Beyond(first + i)` is arm `i`.
pub(super) fn study_claims(study: &Study, m: &Measured, first: usize) -> Vec<Claim> {
    let look = |exp: Exp, kind: Kind| -> Option<&Analysis> {
        match exp {
            Exp::Beyond(i) => analysis(&m.arms.get(i.checked_sub(first)?)?.1, kind),
            _ => None,
        }
    };
    let arm = |i: usize| Exp::Beyond(first + i);
    let image = m.arms[0].0.cfg.task.dataset().is_some();
    let (lo, hi, task_why) = task_tolerance(image);
    let paper = "future work (§VI)";
    let mut specs: Vec<(ClaimSpec, String)> = Vec::new();
    for (i, (a, _)) in m.arms.iter().enumerate().skip(1) {
        let label = format!(" — {}, {}", study.title, a.name);
        let spec = |claim, quantity, source, comparison, rationale| ClaimSpec {
            claim,
            paper,
            quantity,
            source,
            unit: Unit::Seed,
            comparison,
            rationale,
            per_noise_level: false,
            context: None,
        };
        let share = |i| src(arm(i), Kind::Types, "share_self_replicators");
        let metric = |i| src(arm(i), Kind::Curves, "test_metric");
        // An arm with another scope than `cell` is compared with scope `cell` (same kind and rate).
        let cell = a.interaction.filter(|s| s.scope != 0).and_then(|s| m.arm(Setting { scope: 0, ..s }));
        match (study.design, cell) {
            (Design::Interactions, Some(cell)) => {
                let (tol, why) = SCOPE_SHARE_TOLERANCE;
                specs.push((
                    spec(
                        "The interaction scope leaves the share of PN_SR as it is",
                        "final share of PN_SR, minus with scope cell (same kind and rate)",
                        share(i),
                        Comparison::PairedWithin(share(cell), -tol, tol),
                        why,
                    ),
                    label.clone(),
                ));
                let (lo, hi, why) = scope_task_tolerance(image);
                specs.push((
                    spec(
                        "The interaction scope leaves the task as it is",
                        "final test metric, minus with scope cell (same kind and rate)",
                        metric(i),
                        Comparison::PairedWithin(metric(cell), lo, hi),
                        why,
                    ),
                    label,
                ));
            }
            (Design::Interactions, None) => {
                specs.push((
                    spec(
                        "Interactions spread self-replication",
                        "final share of PN_SR, minus without interactions",
                        share(i),
                        Comparison::PairedAbove(share(0)),
                        "paired per seed (same initial organism); spreading: more PN_SR than without interactions",
                    ),
                    label.clone(),
                ));
                specs.push((
                    spec(
                        "Interactions keep the task",
                        "final test metric, minus without interactions",
                        metric(i),
                        Comparison::PairedWithin(metric(0), lo, hi),
                        task_why,
                    ),
                    label.clone(),
                ));
                let robust = |i| src(arm(i), Kind::Robustness, PER_RUN);
                let (tol, why) = ROBUSTNESS_TOLERANCE;
                specs.push((
                    spec(
                        "Interactions keep the PN_SR's robustness to noise",
                        "self-applications as fixpoint of noisy PN_SR clones at noise below ε (mean per organism), \
                         minus without interactions",
                        robust(i),
                        Comparison::PairedWithin(robust(0), -tol, tol),
                        why,
                    ),
                    label,
                ));
            }
            (Design::Variants(_), _) => {
                specs.push((
                    spec(
                        "The variant's particles still become self-replicators",
                        "final share of PN_SR",
                        share(i),
                        Comparison::AtLeast(0.01),
                        "\"still become\": at least 1 % of the particles end as PN_SR",
                    ),
                    label.clone(),
                ));
                specs.push((
                    spec(
                        "The variant's particles become self-replicators no later than the base's",
                        "first counted epoch with a PN_SR, minus the base organism's",
                        src(arm(i), Kind::Types, "first_sr_epoch"),
                        Comparison::PairedWithin(src(arm(0), Kind::Types, "first_sr_epoch"), f64::NEG_INFINITY, 0.0),
                        "paired per seed; only seeds where both organisms have a PN_SR count (n says how many)",
                    ),
                    label.clone(),
                ));
                specs.push((
                    spec(
                        "The variant keeps the task",
                        "final test metric, minus the base organism's",
                        metric(i),
                        Comparison::PairedWithin(metric(0), lo, hi),
                        task_why,
                    ),
                    label.clone(),
                ));
                if has_activation_particles(a) {
                    specs.push((
                        spec(
                            "Activation particles become self-replicators",
                            "final share of PN_SR among the activation particles",
                            src(arm(i), Kind::Types, "share_activation_self_replicators"),
                            Comparison::AtLeast(0.01),
                            "as for the weight particles: at least 1 % of them end as PN_SR",
                        ),
                        label.clone(),
                    ));
                }
            }
        }
    }
    if let Design::Variants(_) = study.design {
        // Stability: every arm's PN_SR, the linear baseline included (the paper's are unstable).
        for (i, (a, _)) in m.arms.iter().enumerate() {
            let spec = ClaimSpec {
                claim: "Self-replicators are stable fixpoints",
                paper: "(none; linear PN_SR are fragile, Fig. 4/7)",
                quantity: "spectral radius of ∂(w◁w)/∂w at each PN_SR",
                source: src(arm(i), Kind::Stability, "spectral_radius"),
                unit: Unit::Particle,
                comparison: Comparison::AtMost(1.0),
                rationale: "a fixpoint attracts when the spectral radius is below 1; the particle is the unit",
                per_noise_level: false,
                context: None,
            };
            specs.push((spec, format!(" — {}, {}", study.title, a.name)));
        }
    }
    specs.iter().map(|(spec, label)| claims::evaluate_one(spec, &look, "", label)).collect()
}

/// Whether the arm's organisms have activation particles (`organism.activation = "particle"`).
pub(super) fn has_activation_particles(arm: &Arm) -> bool {
    arm.cfg.organism.activation == LayerActivation::Particle
}

/// The 95 % interval of the mean of `finding`'s values (the finite ones), `None` without any,
/// clipped to the measure's range: every measure of the figures is ≥ 0 (shares, task metrics,
/// epochs, spectral radii, self-applications), and a share ≤ 1.
pub(super) fn interval(v: &[f64], finding: &str) -> Option<Interval> {
    let s = Stat::of(v);
    let (lo, hi) = (0.0, if finding.starts_with("share") { 1.0 } else { f64::INFINITY });
    (s.n > 0).then(|| {
        let half = if s.n > 1 { s.ci95() } else { 0.0 };
        Interval { mean: s.mean, lo: (s.mean - half).max(lo), hi: (s.mean + half).min(hi) }
    })
}

/// The values of `finding` of the arm's analysis `kind` (empty if not measured).
pub(super) fn values<'a>(analyses: &'a [Analysis], kind: Kind, finding: &str) -> &'a [f64] {
    analysis(analyses, kind).and_then(|a| a.samples.get(finding)).map_or(&[], |v| v.as_slice())
}

/// The study's figures (as an [`Analysis`] holding them and their numbers): for interactions,
/// each measure against the rate, a line of intervals per kind (`overview`), and against the
/// scope at rate `RATES[SCOPE_RATE]` (`scopes`); for variants, each measure per arm (`overview`).
pub(super) fn study_figure(study: &Study, m: &Measured, dir: &Path) -> Analysis {
    let image = m.arms[0].0.cfg.task.dataset().is_some();
    let metric = if image { "test accuracy" } else { "test MAE" };
    let mut measures: Vec<Measure> = match study.design {
        Design::Interactions => vec![
            ("share of PN_SR", Kind::Types, "share_self_replicators", false),
            (metric, Kind::Curves, "test_metric", !image),
            ("self-applications as fixpoint, noise < ε", Kind::Robustness, PER_RUN, false),
        ],
        Design::Variants(_) => vec![
            ("share of PN_SR", Kind::Types, "share_self_replicators", false),
            ("first epoch with a PN_SR", Kind::Types, "first_sr_epoch", false),
            (metric, Kind::Curves, "test_metric", !image),
            ("spectral radius at PN_SR", Kind::Stability, "spectral_radius", false),
        ],
    };
    if m.arms.iter().any(|(arm, _)| has_activation_particles(arm)) {
        measures.insert(
            1,
            ("share of PN_SR, activation particles", Kind::Types, "share_activation_self_replicators", false),
        );
    }
    let mut a = Analysis { kind: "beyond".into(), ..Analysis::default() };
    for (arm, an) in &m.arms {
        for &(_, kind, finding, _) in &measures {
            a.record(&format!("{}: {finding}", arm.name), values(an, kind, finding).to_vec());
        }
    }
    let caption = |what: &str| {
        format!(
            "{} {what}Per arm, the mean and 95 % interval (Student t) over seeds (the spectral radius: over the PN_SR \
             of all seeds; clipped at 0, shares at 1; the robustness: each seed's mean over its tested PN_SR clones at \
             the noise levels 1e-6 … 1e-9, below ε); an arm without a value has no point.",
            study.question
        )
    };
    let figure = |stem: &str, title: String, what: &str, x_label: &str, categories: Vec<String>, panels| {
        let chart = Chart::Intervals(Intervals { x_label: x_label.into(), categories, panels });
        crate::analysis::figure(dir, stem, title, caption(what), chart)
    };
    match study.design {
        Design::Interactions => {
            // Rate 0 is the arm without interactions, shared by both kinds.
            let rates = std::iter::once("0".to_string()).chain(RATES.iter().map(|(_, l)| l.to_string())).collect();
            let at_rate = |kind, j: usize| match j {
                0 => Some(0),
                _ => m.arm(Setting { kind, rate: j - 1, scope: 0 }),
            };
            let panels = kind_panels(m, &measures, RATES.len() + 1, at_rate);
            a.figures.push(figure(
                "overview",
                study.title.to_string(),
                "Scope cell. ",
                "interaction rate (per particle and batch)",
                rates,
                panels,
            ));
            let scopes = SCOPES.iter().map(|s| s.to_string()).collect();
            let at_scope = |kind, scope| m.arm(Setting { kind, rate: SCOPE_RATE, scope });
            let rate = RATES[SCOPE_RATE].1;
            a.figures.push(figure(
                "scopes",
                format!("{}: the interaction scope", study.title),
                &format!("Rate {rate}, partners drawn from the target's cell, layer or whole organism. "),
                &format!("interaction scope (rate {rate})"),
                scopes,
                kind_panels(m, &measures, SCOPES.len(), at_scope),
            ));
        }
        Design::Variants(_) => {
            // Short labels: `base`, then each variant without the base's prefix (`tanh`).
            let prefix = format!("{}-", study.base);
            let categories = std::iter::once("base".to_string())
                .chain(m.arms[1..].iter().map(|(a, _)| a.name.strip_prefix(&prefix).unwrap_or(&a.name).to_string()))
                .collect();
            let panels = measures
                .iter()
                .map(|&(title, kind, finding, log_y)| {
                    let points = m.arms.iter().map(|(_, an)| interval(values(an, kind, finding), finding)).collect();
                    let groups = vec![IntervalGroup { name: "mean, 95 % interval".into(), colour: None, points }];
                    IntervalPanel { title: title.into(), y_label: title.into(), log_y, groups }
                })
                .collect();
            let x_label = "arm (base: the study's base preset)";
            a.figures.push(figure("overview", study.title.to_string(), "", x_label, categories, panels));
        }
    }
    a
}

/// A measure of a study's figure: panel title, analysis, finding, log axis.
type Measure = (&'static str, Kind, &'static str, bool);

/// One panel per measure, a line of intervals per kind of [`KINDS`] over `n` categories;
/// `arm(kind, j)` is the arm at category `j` (none: no point).
fn kind_panels(
    m: &Measured,
    measures: &[Measure],
    n: usize,
    arm: impl Fn(usize, usize) -> Option<usize>,
) -> Vec<IntervalPanel> {
    measures
        .iter()
        .map(|&(title, kind, finding, log_y)| {
            let groups = (0..KINDS.len())
                .map(|k| {
                    let points =
                        (0..n).map(|j| arm(k, j).and_then(|i| interval(values(&m.arms[i].1, kind, finding), finding)));
                    let colour = Some(if k == 0 { Colour::Vermillion } else { Colour::Blue });
                    IntervalGroup { name: KINDS[k].to_string(), colour, points: points.collect() }
                })
                .collect();
            IntervalPanel { title: title.into(), y_label: title.into(), log_y, groups }
        })
        .collect()
}

/// The report section of a study: its overview figure, then the class shares over epochs of each
/// arm of a `Variants` study (how fast PN_SR appear).
pub(super) fn study_section(study: &Study, seeds: &[u64], m: Measured, overview: Analysis) -> Result<Section> {
    let base = m.arms[0].0.cfg.clone();
    let mut notes = vec![
        format!("question: {}", study.question),
        format!(
            "{} seeds ({}), {} epochs; arms: {}",
            seeds.len(),
            seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
            base.epochs,
            m.arms.iter().map(|(a, _)| a.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
        format!("runs: beyond/{}/runs/ARM/seed-N/; the configuration below is the first arm's", study.name),
    ];
    if let Design::Interactions = study.design {
        notes.push(format!(
            "arms `KIND-RATE` set interaction.kind and interaction.rate (scope `cell`); arms `KIND-{}-SCOPE` the \
             scope `layer` or `organism`; each arm's analyses (robustness figures included): \
             beyond/{}/analysis/ARM/KIND/",
            RATES[SCOPE_RATE].1, study.name
        ));
    }
    let mut analyses = vec![("Overview".to_string(), overview)];
    if let Design::Variants(_) = study.design {
        for (arm, an) in m.arms {
            for mut a in an.into_iter().filter(|a| a.kind != Kind::Curves.name()) {
                crate::plot::draw_all(&a.figures)?;
                let title = match a.kind.parse::<Kind>() {
                    Ok(k) => k.title().to_string(),
                    Err(_) if a.kind == LEARNED_ACTIVATIONS => "Learned activation functions z ↦ a".to_string(),
                    Err(_) => a.kind.clone(),
                };
                // The kind names the anchor in the report: one per arm.
                a.kind = format!("{}-{}", arm.name, a.kind);
                analyses.push((format!("{}: {title}", arm.name), a));
            }
        }
    }
    Ok(Section { title: study.title.into(), notes, config_toml: base.to_toml(), analyses, skipped: Vec::new() })
}
