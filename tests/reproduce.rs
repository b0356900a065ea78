//! End to end: `organism reproduce --quick --extended` produces every file of the report, a
//! claims table with one row per claim of the paper and a "Beyond the paper" part with one row
//! per declared claim of each study. Whether the claims hold is not asserted here: quick mode
//! trains far too little for that.

mod common;

use std::process::Command;

use organism::config::Config;
use organism::explore::{Design, Variant, KINDS, RATES, SCOPES, STUDIES};
use organism::organism::LayerActivation;
use organism::report::claims::CLAIMS;

/// Rows of the table: one per claim, ten (one per noise level) for the robustness claims.
fn rows() -> usize {
    CLAIMS.iter().map(|c| if c.per_noise_level { 10 } else { 1 }).sum()
}

/// Whether the variant's organisms have activation particles.
fn activation_particles(v: &Variant) -> bool {
    let sets: Vec<String> = v.set.iter().map(|s| s.to_string()).collect();
    Config::resolve(Some(v.preset), None, &sets).unwrap().organism.activation == LayerActivation::Particle
}

/// Rows of the "Beyond the paper" table, counted from the studies: per interaction arm of the
/// rate sweep, spread, task and robustness; per arm of another scope, share and task against
/// scope `cell`; per variant, becomes PN_SR, how fast, task (and with activation particles, theirs
/// become PN_SR); per arm of a variant study, stability.
fn beyond_rows() -> usize {
    STUDIES
        .iter()
        .map(|s| match s.design {
            Design::Interactions => 3 * KINDS.len() * RATES.len() + 2 * KINDS.len() * (SCOPES.len() - 1),
            Design::Variants(v) => 3 * v.len() + v.iter().filter(|v| activation_particles(v)).count() + v.len() + 1,
        })
        .sum()
}

#[test]
fn quick_reproduction_writes_the_whole_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let o = Command::new(env!("CARGO_BIN_EXE_organism"))
        // The bundled subset from the repository: no download is ever attempted in tests.
        .args(["reproduce", "--quick", "--extended", "--data", concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k")])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    for f in ["index.html", "report.md", "reproduce.json"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let outcome: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("reproduce.json")).unwrap()).unwrap();
    let claims = outcome["claims"].as_array().unwrap();
    assert_eq!(claims.len(), rows(), "{outcome}");
    for c in claims {
        let v = c["verdict"].as_str().unwrap();
        assert!(["holds", "does_not_hold", "not_shown"].contains(&v), "{c}");
    }
    assert!(outcome["wall_seconds"].as_f64().unwrap() > 0.0);

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let table_rows =
        md.lines().skip_while(|l| !l.starts_with("| claim")).skip(2).take_while(|l| l.starts_with('|')).count();
    assert_eq!(table_rows, rows(), "{md}");
    assert!(md.contains("## Deviations from the paper"), "{md}");
    let claims_md = std::fs::read_to_string(out.join("claims.md")).unwrap();
    assert!(claims_md.contains("| claim |") && claims_md.contains("Deviations from the paper"));
    // Every claim finds its analysis (a claim nobody measured is a wiring bug, not a verdict).
    assert!(!claims_md.contains("not measured"), "a claim found no analysis:\n{claims_md}");
    assert!(!md.contains("skipped:"), "an analysis was skipped:\n{md}");

    // Beyond the paper: every declared row, each measured or saying why not (no value at all, or
    // no interval from fewer than two), never unwired; an overview figure per study.
    assert!(md.contains("\n# Beyond the paper\n") && md.contains("## Claims beyond the paper"), "{md}");
    let beyond = outcome["beyond_claims"].as_array().unwrap();
    assert_eq!(beyond.len(), beyond_rows(), "{outcome}");
    for c in beyond {
        let measured = c["measured"].as_str().unwrap();
        assert!(!measured.contains("not measured"), "a beyond-the-paper claim found no analysis: {c}");
        assert!(measured.chars().any(|ch| ch.is_ascii_digit()) || measured.contains("no finite value"), "{c}");
    }
    let beyond_md = std::fs::read_to_string(out.join("beyond/claims.md")).unwrap();
    assert_eq!(beyond_md.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| claim")).count(), beyond_rows());
    for s in STUDIES {
        assert!(out.join("beyond").join(s.name).join("overview.png").is_file(), "no overview of {}", s.name);
    }
    // Interactions: per study, a robustness row per kind and rate, a share and a task row per kind
    // and other scope, each naming its arm; the scopes figure; each arm's robustness analysis.
    for s in STUDIES.iter().filter(|s| matches!(s.design, Design::Interactions)) {
        let of = |claim: &str, arm: &str| {
            beyond.iter().filter(|c| c["claim"].as_str().unwrap() == format!("{claim} — {}, {arm}", s.title)).count()
        };
        for kind in KINDS {
            for (_, rate) in RATES {
                assert_eq!(of("Interactions keep the PN_SR's robustness to noise", &format!("{kind}-{rate}")), 1);
            }
            for scope in &SCOPES[1..] {
                let arm = format!("{kind}-1e-2-{scope}");
                assert_eq!(of("The interaction scope leaves the share of PN_SR as it is", &arm), 1, "{arm}");
                assert_eq!(of("The interaction scope leaves the task as it is", &arm), 1, "{arm}");
                let csv = out.join(format!("beyond/{}/analysis/{arm}/robustness/robustness.csv", s.name));
                assert!(csv.is_file(), "no robustness of {arm}");
            }
        }
        assert!(out.join("beyond").join(s.name).join("scopes.png").is_file(), "no scopes figure of {}", s.name);
    }
    // Each learned activation function is in the report: one figure per arm with activation
    // particles, seed (quick mode's) and hidden layer.
    let learned = md.lines().filter(|l| l.starts_with("![") && l.contains("/activations/seed-")).count();
    let expected: usize = STUDIES
        .iter()
        .map(|s| match s.design {
            Design::Interactions => 0,
            Design::Variants(v) => {
                let hidden = Config::resolve(Some(s.base), None, &[]).unwrap().organism.depth - 1;
                v.iter().filter(|v| activation_particles(v)).count() * s.seeds.1 as usize * hidden
            }
        })
        .sum();
    assert!(expected > 0 && learned == expected, "{learned} learned activation figures, expected {expected}");

    // Every figure the report names exists (PNG and SVG), and the HTML inlines them.
    let figures: Vec<&str> =
        md.lines().filter_map(|l| l.strip_prefix("![")).map(|l| &l[l.find("](").unwrap() + 2..l.len() - 1]).collect();
    let kinds = [
        "types",
        "curves",
        "robustness",
        "resubstitution",
        "dropout",
        "heatmap",
        "connectivity",
        "trajectories",
        "stability",
    ];
    for kind in kinds {
        assert!(figures.iter().any(|f| f.contains(&format!("mnist/{kind}/"))), "no mnist {kind} figure in the report");
    }
    for f in &figures {
        let png = out.join(f);
        assert!(png.is_file(), "missing {}", png.display());
        assert!(png.with_extension("svg").is_file(), "missing SVG of {}", png.display());
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert_eq!(html.matches("<img alt=").count(), figures.len());
    assert_eq!(html.matches(";base64,").count(), figures.len());

    // The report was written into a temporary sibling and swapped into place: no file of it
    // names that temporary directory, and it carries the marker that lets `--force` replace it.
    assert!(out.join(".organism-output").is_file());
    for (_, path) in common::files_below(&out) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(9).any(|w| w == b".partial-"), "{} names a temporary path", path.display());
    }
}

/// Every file of the report but those holding wall times, by path relative to `dir`, with
/// `dir` itself (which the analyses name their runs by) written as `REPORT`.
fn report_files(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let own = dir.display().to_string().into_bytes();
    let anonymous = |bytes: Vec<u8>| -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(&own) {
                out.extend_from_slice(b"REPORT");
                i += own.len();
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    };
    let timed = ["timing.json", "reproduce.json", "report.md", "index.html"];
    common::files_below(dir)
        .into_iter()
        .filter(|(_, path)| !timed.contains(&path.file_name().unwrap().to_str().unwrap()))
        .map(|(name, path)| (name, anonymous(std::fs::read(&path).unwrap())))
        .collect()
}

/// A quick extended reproduction killed (SIGKILL) half-way through the "Beyond the paper" part and
/// run again with `--resume` keeps what was complete (the paper's runs, the studies' finished
/// arms), continues the rest, and ends with the report of an uninterrupted run (but for its wall
/// times).
#[test]
fn a_killed_reproduction_resumes_to_the_same_report() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &std::path::Path| -> Vec<String> {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k");
        ["reproduce", "--quick", "--extended", "--data", data, "--out", out.to_str().unwrap()]
            .map(String::from)
            .to_vec()
    };
    let bin = env!("CARGO_BIN_EXE_organism");
    let reference = dir.path().join("reference");
    let started = Instant::now();
    let o = Command::new(bin).args(args(&reference)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let whole = started.elapsed();

    // Killed once the first study is complete and the second one's (MNIST) runs have started:
    // the resumed run keeps the paper's runs and the first study, and continues the second.
    let (first, second) = (STUDIES[0].name, STUDIES[1].name);
    let out = dir.path().join("killed");
    let mut child = Command::new(bin).args(args(&out)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let partial = || std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).find(|p| p != &reference);
    let second_started = || {
        let runs = partial()?.join("beyond").join(second).join("runs");
        std::fs::read_dir(runs).ok()?.map(|e| e.unwrap().file_name()).find(|n| n.to_string_lossy().starts_with('.'))
    };
    let deadline = Instant::now() + whole * 2;
    while second_started().is_none() {
        assert!(Instant::now() < deadline && child.try_wait().unwrap().is_none(), "the study {second} never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(whole / 40);
    assert!(child.try_wait().unwrap().is_none(), "the reproduction finished before it was killed");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "a killed reproduction left a report");
    // What the killed run completed (the wall times of its seeds) is kept as it was.
    let partial = partial().unwrap();
    assert!(partial.join("options.json").is_file(), "{}", partial.display());
    let timings = |root: &std::path::Path| -> Vec<Vec<u8>> {
        let paper = (0..3).map(|s| format!("runs/addition/seed-{s}"));
        let study = (0..STUDIES[0].seeds.1).map(|s| format!("beyond/{first}/runs/none/seed-{s}"));
        paper.chain(study).map(|d| std::fs::read(root.join(d).join("timing.json")).unwrap()).collect()
    };
    let kept = timings(&partial);

    let o = Command::new(bin).args(args(&out)).arg("--resume").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (expected, got) = (report_files(&reference), report_files(&out));
    assert_eq!(expected.keys().collect::<Vec<_>>(), got.keys().collect::<Vec<_>>());
    for (name, bytes) in &expected {
        assert!(got[name] == *bytes, "{name} differs after a kill and --resume");
    }
    assert_eq!(timings(&out), kept, "complete runs were trained again");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
}
