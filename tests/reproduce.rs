//! End to end: `organism reproduce --quick --extended` produces every file of the report, a
//! claims table with one row per claim of the paper and a "Beyond the paper" part with one row
//! per declared claim of each study. Whether the claims hold is not asserted here: quick mode
//! trains far too little for that.

use std::process::Command;

use organism::explore::{Design, KINDS, RATES, STUDIES};
use organism::report::claims::CLAIMS;

/// Rows of the table: one per claim, ten (one per noise level) for the robustness claims.
fn rows() -> usize {
    CLAIMS.iter().map(|c| if c.per_noise_level { 10 } else { 1 }).sum()
}

/// Rows of the "Beyond the paper" table, counted from the studies: per interaction arm, spread
/// and task; per variant, becomes PN_SR, how fast, task; per arm of a variant study, stability.
fn beyond_rows() -> usize {
    STUDIES
        .iter()
        .map(|s| match s.design {
            Design::Interactions => 2 * KINDS.len() * RATES.len(),
            Design::Variants(v) => 3 * v.len() + v.len() + 1,
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
    let mut dirs = vec![out.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                assert!(!bytes.windows(9).any(|w| w == b".partial-"), "{} names a temporary path", path.display());
            }
        }
    }
}
