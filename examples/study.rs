//! Runs some studies of `organism reproduce --extended` alone, in full mode (or `--quick`), and
//! prints their claims table: what README's "Beyond the paper" numbers come from when one study
//! is added or changed without rerunning the others.
//!
//! `cargo run --release --example study -- OUT STUDY… [--quick]`, e.g.
//! `cargo run --release --example study -- /tmp/beyond aggregators-addition aggregators-mnist`
//! (MNIST from the bundled subset `data/mnist-10k`).

use organism::explore::{run_studies, STUDIES};
use organism::progress::Progress;
use organism::report::claims;
use std::path::PathBuf;

fn main() -> organism::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut names = args.iter().filter(|a| *a != "--quick");
    let out = PathBuf::from(names.next().expect("usage: study OUT STUDY… [--quick]"));
    let studies: Vec<_> =
        names.map(|n| *STUDIES.iter().find(|s| s.name == n).unwrap_or_else(|| panic!("no study `{n}`"))).collect();
    let data = Some(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k")));
    let part = run_studies(&studies, quick, &data, &out, &Progress::default())?;
    let table = claims::markdown(&part.claims);
    organism::run::write_text(&out.join("claims.md"), &table)?;
    println!("{table}\n{}", part.intro.join("\n"));
    Ok(())
}
