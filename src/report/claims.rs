//! The claims table (issue 10): every claim of the paper as one row of data — what is measured,
//! on which unit of replication, compared how, with which tolerance and why, all declared here
//! before anything is measured — and the code that turns measurements into verdicts.
//!
//! A verdict is `holds` or `does not hold` only when the 95 % interval of the compared mean
//! (Student t; Welch for two independent samples) lies wholly on one side of the declared
//! tolerance; otherwise the data cannot tell, and the verdict is `not shown`.

use crate::analysis::kind::Kind;
use crate::analysis::{t975, Analysis, Stat};
use serde::Serialize;
use std::fmt::Write;

/// The experiment a measurement comes from (the report's sections).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exp {
    /// The addition experiment (Fig. 2, 4, 5).
    Addition,
    /// The MNIST experiment (Fig. 3, 6–12, Tab. I).
    Mnist,
    /// Arm `i` of the beyond-the-paper experiments ([`crate::explore`]).
    Beyond(usize),
}

impl Exp {
    /// The experiment's name in `reproduce`'s output (`runs/<name>/`).
    pub fn name(self) -> &'static str {
        match self {
            Exp::Addition => "addition",
            Exp::Mnist => "mnist",
            Exp::Beyond(_) => "beyond",
        }
    }
}

/// A measured quantity: finding `finding` of analysis `kind` of experiment `exp`, with its values
/// per unit of replication ([`Analysis::samples`]).
#[derive(Clone, Copy, Debug)]
pub struct Source {
    /// The experiment.
    pub exp: Exp,
    /// The analysis.
    pub kind: Kind,
    /// The finding's name in the analysis' samples.
    pub finding: &'static str,
}

/// The finding `finding` of analysis `kind` of experiment `exp`.
pub const fn src(exp: Exp, kind: Kind, finding: &'static str) -> Source {
    Source { exp, kind, finding }
}

/// The unit of replication: one value per seed (a trained organism) or per particle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// One value per trained organism (seed).
    Seed,
    /// One value per particle, pooled over seeds.
    Particle,
}

/// How the measured mean is compared, with the declared tolerance.
#[derive(Clone, Copy, Debug)]
pub enum Comparison {
    /// The mean is at most this.
    AtMost(f64),
    /// The mean is at least this.
    AtLeast(f64),
    /// The mean lies in `[lo, hi]`.
    Within(f64, f64),
    /// Paired per seed: the mean of (row − other) is above 0.
    PairedAbove(Source),
    /// Paired per seed: the mean of (row − other) lies in `[lo, hi]`.
    PairedWithin(Source, f64, f64),
    /// Independent samples: the mean difference (row − other) is above 0.
    Above(Source),
    /// Independent samples: the mean difference (row − other) lies within ±tolerance.
    Comparable(Source, f64),
}

/// One claim of the paper, declared before measuring.
#[derive(Clone, Copy, Debug)]
pub struct ClaimSpec {
    /// The paper's statement, in short.
    pub claim: &'static str,
    /// What the paper shows or says, with the figure.
    pub paper: &'static str,
    /// What is measured, in words.
    pub quantity: &'static str,
    /// Where the values come from.
    pub source: Source,
    /// The unit of replication the values are per.
    pub unit: Unit,
    /// The declared comparison and its tolerance.
    pub comparison: Comparison,
    /// Why this comparison and tolerance, in one line.
    pub rationale: &'static str,
    /// Judged once per robustness noise level 10⁰ … 10⁻⁹: the finding is `<finding>@1e-k`.
    pub per_noise_level: bool,
    /// A finding shown next to the measurement for context, not judged (e.g. absolute lifetimes).
    pub context: Option<&'static str>,
}

mod paper;

pub use paper::CLAIMS;
use Comparison::*;

/// The three verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The interval lies on the claimed side of the tolerance.
    Holds,
    /// The interval lies on the other side.
    DoesNotHold,
    /// The data cannot tell (the interval straddles the tolerance, n too small, or not measured).
    NotShown,
}

impl Verdict {
    /// The verdict as written in the table.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does not hold",
            Verdict::NotShown => "not shown",
        }
    }
}

/// One row of the rendered claims table.
#[derive(Clone, Debug, Serialize)]
pub struct Claim {
    /// The claim, in words.
    pub claim: String,
    /// What the paper shows or says, with the figure.
    pub paper: String,
    /// Quantity, unit and n.
    pub quantity: String,
    /// The declared comparison and tolerance, with its rationale.
    pub tolerance: String,
    /// Mean ± sd, the 95 % interval and, for paired comparisons, the per-seed differences.
    pub measured: String,
    /// The verdict.
    pub verdict: Verdict,
}

/// Two-sided 95 % quantile of Student's t with `df` degrees of freedom; a fractional `df`
/// (Welch) is rounded down, which widens the interval.
fn t95(df: f64) -> f64 {
    t975(df.floor().max(1.0) as usize)
}

/// Mean, sd, n and the 95 % interval of the mean of `v` (finite values); `None` when n < 2.
fn interval(v: &[f64]) -> (Stat, Option<(f64, f64)>) {
    let s = Stat::of(v);
    let ci = (s.n >= 2).then(|| (s.mean - s.ci95(), s.mean + s.ci95()));
    (s, ci)
}

/// Welch's 95 % interval of mean(a) − mean(b); `None` when either has n < 2.
fn welch(a: &Stat, b: &Stat) -> Option<(f64, f64)> {
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let (va, vb) = (a.sd * a.sd / a.n as f64, b.sd * b.sd / b.n as f64);
    let se = (va + vb).sqrt();
    let diff = a.mean - b.mean;
    if se == 0.0 {
        return Some((diff, diff));
    }
    let df = (va + vb).powi(2) / (va * va / (a.n - 1) as f64 + vb * vb / (b.n - 1) as f64);
    let half = t95(df) * se;
    Some((diff - half, diff + half))
}

/// The verdict of interval `ci` against `[lo, hi]`: inside → holds, disjoint → does not hold.
fn judge(ci: Option<(f64, f64)>, lo: f64, hi: f64) -> Verdict {
    match ci {
        Some((a, b)) if a >= lo && b <= hi => Verdict::Holds,
        Some((a, b)) if b < lo || a > hi => Verdict::DoesNotHold,
        _ => Verdict::NotShown,
    }
}

/// A number in a short readable form.
fn num(x: f64) -> String {
    if x == 0.0 || (1e-3..1e4).contains(&x.abs()) {
        format!("{x:.4}")
    } else {
        format!("{x:.2e}")
    }
}

fn show(s: &Stat) -> String {
    if s.n == 0 {
        "no finite value".into()
    } else if s.n > 1 {
        format!("{} ± {} (n = {})", num(s.mean), num(s.sd), s.n)
    } else {
        format!("{} (n = 1)", num(s.mean))
    }
}

fn show_ci(ci: Option<(f64, f64)>) -> String {
    match ci {
        Some((a, b)) => format!("95 % interval [{}, {}]", num(a), num(b)),
        None => "n < 2: no interval".into(),
    }
}

/// The values of `finding` in the analysis `kind` of `exp`, if measured.
pub type Lookup<'a> = dyn Fn(Exp, Kind) -> Option<&'a Analysis> + 'a;

fn values<'a>(look: &Lookup<'a>, s: &Source, finding: &str) -> Option<&'a [f64]> {
    look(s.exp, s.kind)?.samples.get(finding).map(|v| v.as_slice())
}

/// Evaluates every claim of [`CLAIMS`] on the analyses `look` finds (`None`: not measured).
pub fn evaluate<'a>(look: &Lookup<'a>, levels: u32) -> Vec<Claim> {
    let mut rows = Vec::new();
    for spec in CLAIMS {
        if spec.per_noise_level {
            for k in 0..levels {
                rows.push(evaluate_one(spec, look, &format!("@1e-{k}"), &format!(" (noise 1e-{k})")));
            }
        } else {
            rows.push(evaluate_one(spec, look, "", ""));
        }
    }
    rows
}

/// Evaluates one claim on finding `<finding><suffix>`, its text followed by `label`.
pub fn evaluate_one<'a>(spec: &ClaimSpec, look: &Lookup<'a>, suffix: &str, label: &str) -> Claim {
    let unit = match spec.unit {
        Unit::Seed => "seed",
        Unit::Particle => "particle",
    };
    let tolerance = format!("{} — {}", describe(&spec.comparison), spec.rationale);
    let row = |measured: String, verdict: Verdict, n: usize| Claim {
        claim: format!("{}{label}", spec.claim),
        paper: spec.paper.into(),
        quantity: format!("{}; unit: {unit}, n = {n}", spec.quantity),
        tolerance: tolerance.clone(),
        measured,
        verdict,
    };
    let name = format!("{}{suffix}", spec.source.finding);
    let Some(a) = values(look, &spec.source, &name) else {
        return row("not measured (see the sections below)".into(), Verdict::NotShown, 0);
    };
    let context = spec
        .context
        .and_then(|c| values(look, &spec.source, &format!("{c}{suffix}")))
        .map(|v| format!("; {}: {}", spec.context.unwrap().replace('_', " "), show(&Stat::of(v))))
        .unwrap_or_default();
    let other = |o: &Source| values(look, o, &format!("{}{suffix}", o.finding));
    match spec.comparison {
        AtMost(t) | AtLeast(t) | Within(t, _) => {
            let (s, ci) = interval(a);
            let (lo, hi) = match spec.comparison {
                AtMost(_) => (f64::NEG_INFINITY, t),
                AtLeast(_) => (t, f64::INFINITY),
                Within(lo, hi) => (lo, hi),
                _ => unreachable!(),
            };
            let per_seed = if spec.unit == Unit::Seed {
                format!("; per seed: {}", a.iter().map(|&x| num(x)).collect::<Vec<_>>().join(", "))
            } else {
                String::new()
            };
            row(format!("{}; {}{per_seed}{context}", show(&s), show_ci(ci)), judge(ci, lo, hi), s.n)
        }
        PairedAbove(o) | PairedWithin(o, _, _) => {
            let Some(b) = other(&o) else {
                return row("not measured (see the sections below)".into(), Verdict::NotShown, 0);
            };
            let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).filter(|d| d.is_finite()).collect();
            let both = format!("{} vs {}", show(&Stat::of(a)), show(&Stat::of(b)));
            if diffs.is_empty() {
                return row(format!("{both}; no seed has a value in both{context}"), Verdict::NotShown, 0);
            }
            let (d, ci) = interval(&diffs);
            let (lo, hi) = match spec.comparison {
                PairedWithin(_, lo, hi) => (lo, hi),
                _ => (f64::MIN_POSITIVE, f64::INFINITY),
            };
            let per_seed: Vec<String> = diffs.iter().map(|x| format!("{x:+.4}")).collect();
            let text = format!(
                "{both}; paired differences per seed: {} (mean {}; {}){context}",
                per_seed.join(", "),
                num(d.mean),
                show_ci(ci)
            );
            row(text, judge(ci, lo, hi), d.n)
        }
        Above(o) | Comparable(o, _) => {
            let Some(b) = other(&o) else {
                return row("not measured (see the sections below)".into(), Verdict::NotShown, 0);
            };
            let (sa, sb) = (Stat::of(a), Stat::of(b));
            let ci = welch(&sa, &sb);
            let (lo, hi) = match spec.comparison {
                Comparable(_, tol) => (-tol, tol),
                _ => (f64::MIN_POSITIVE, f64::INFINITY),
            };
            let text = format!("{} vs {}; difference {}{context}", show(&sa), show(&sb), show_ci(ci));
            row(text, judge(ci, lo, hi), sa.n + sb.n)
        }
    }
}

/// The comparison in words.
fn describe(c: &Comparison) -> String {
    match c {
        AtMost(t) => format!("mean ≤ {}", num(*t)),
        AtLeast(t) => format!("mean ≥ {}", num(*t)),
        Within(lo, hi) => format!("mean in [{}, {}]", num(*lo), num(*hi)),
        PairedAbove(_) => "paired difference > 0".into(),
        PairedWithin(_, lo, hi) if lo.is_infinite() => format!("paired difference ≤ {}", num(*hi)),
        PairedWithin(_, lo, hi) => format!("paired difference in [{}, {}]", num(*lo), num(*hi)),
        Above(_) => "difference > 0".into(),
        Comparable(_, tol) => format!("difference within ±{}", num(*tol)),
    }
}

const VERDICT_RULE: &str = "Verdicts: `holds` / `does not hold` when the 95 % interval of the compared mean lies \
                            wholly inside / outside the declared tolerance; `not shown` when it straddles it, n < 2, \
                            or nothing was measured. Tolerances are declared before measuring: for the paper's claims in \
                            `src/report/claims.rs`, for the studies beyond the paper in `src/explore.rs`.";

/// The table's column headings, in both renderings.
const HEADINGS: [&str; 6] =
    ["claim", "paper", "quantity (unit, n)", "declared tolerance — why", "measured here", "verdict"];

/// A claim's cells, in [`HEADINGS`] order.
fn cells(c: &Claim) -> [&str; 6] {
    [&c.claim, &c.paper, &c.quantity, &c.tolerance, &c.measured, c.verdict.name()]
}

/// The claims as a Markdown table (also written alone as `claims.md`).
pub fn markdown(claims: &[Claim]) -> String {
    // A `|` inside a cell would end it.
    let row = |cells: [&str; 6]| format!("| {} |\n", cells.map(|t| t.replace('|', "\\|")).join(" | "));
    let mut s = format!("{VERDICT_RULE}\n\n{}|---|---|---|---|---|---|\n", row(HEADINGS));
    claims.iter().for_each(|c| s.push_str(&row(cells(c))));
    s
}

/// The deviations as a Markdown list.
pub fn deviations_markdown(deviations: &[String]) -> String {
    deviations.iter().map(|d| format!("- {d}\n")).collect()
}

/// The claims as an HTML table; the verdict cell carries its class for colouring.
pub fn html(claims: &[Claim]) -> String {
    let e = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let row = |tag: &str, cells: [&str; 6], class: &str| {
        let mut r = String::from("<tr>");
        for (i, t) in cells.iter().enumerate() {
            let attr = if tag == "td" && i == 5 { format!(" class=\"{class}\"") } else { String::new() };
            let _ = write!(r, "<{tag}{attr}>{}</{tag}>", e(t));
        }
        r + "</tr>\n"
    };
    let mut s = format!("<p>{}</p>\n<table>{}", e(VERDICT_RULE), row("th", HEADINGS, ""));
    for c in claims {
        let class = match c.verdict {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "fails",
            Verdict::NotShown => "",
        };
        s.push_str(&row("td", cells(c), class));
    }
    s.push_str("</table>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        // Student t, two-sided 95 %: df 2 → 4.303, 20 → 2.086, 100 → 1.984.
        assert_eq!(t95(2.0), 4.303);
        assert_eq!(t95(20.0), 2.086);
        // Welch's fractional degrees of freedom round down (a wider interval).
        assert_eq!(t95(20.9), 2.086);
        assert!((t95(100.0) - 1.984).abs() < 1e-3, "{}", t95(100.0));
    }

    #[test]
    fn verdicts_follow_the_interval() {
        // The example: per-seed differences −0.006, +0.007, 0.000 cannot show "beats".
        let (_, ci) = interval(&[-0.006, 0.007, 0.0]);
        assert_eq!(judge(ci, f64::MIN_POSITIVE, f64::INFINITY), Verdict::NotShown);
        let (_, ci) = interval(&[0.01, 0.012, 0.011]);
        assert_eq!(judge(ci, f64::MIN_POSITIVE, f64::INFINITY), Verdict::Holds);
        let (_, ci) = interval(&[0.179, 0.16, 0.20]);
        assert_eq!(judge(ci, 0.20, 0.30), Verdict::NotShown);
        let (_, ci) = interval(&[0.04, 0.045, 0.035]);
        assert_eq!(judge(ci, 0.20, 0.30), Verdict::DoesNotHold);
        assert_eq!(judge(interval(&[0.5]).1, 0.0, 1.0), Verdict::NotShown);
    }

    #[test]
    fn tables_escape_and_mark_the_verdict() {
        let c = Claim {
            claim: "a | b".into(),
            paper: "Fig. 2".into(),
            quantity: "q".into(),
            tolerance: "x < 1".into(),
            measured: "0.5".into(),
            verdict: Verdict::Holds,
        };
        let md = markdown(std::slice::from_ref(&c));
        assert!(md.ends_with(
            "| claim | paper | quantity (unit, n) | declared tolerance — why | measured here | verdict |\n\
             |---|---|---|---|---|---|\n| a \\| b | Fig. 2 | q | x < 1 | 0.5 | holds |\n"
        ));
        let h = html(&[c]);
        assert!(h.contains("<tr><th>claim</th><th>paper</th>"));
        assert!(h.contains("<td>x &lt; 1</td><td>0.5</td><td class=\"holds\">holds</td></tr>\n</table>\n"));
    }
}
