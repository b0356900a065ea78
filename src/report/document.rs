//! The reproduction report: `index.html` (self-contained, figures inlined) and `report.md`.
//! It only lays out what the analyses measured; it computes no number of its own.

use super::claims::{self, Claim};
use crate::analysis::Analysis;
use crate::{Error, Result};
use base64::Engine;
use std::fmt::Write;
use std::path::Path;

/// One experiment of the report: its configuration and its analyses.
#[derive(Clone, Debug)]
pub struct Section {
    pub title: String,
    /// Free text: seeds, data set, wall time, deviations from the paper.
    pub notes: Vec<String>,
    pub config_toml: String,
    /// `(heading, analysis)` in figure order.
    pub analyses: Vec<(String, Analysis)>,
    /// Analyses that could not run, with the reason.
    pub skipped: Vec<String>,
}

/// The whole report.
#[derive(Clone, Debug)]
pub struct Report {
    pub title: String,
    pub intro: Vec<String>,
    pub claims: Vec<Claim>,
    /// Where this reproduction departs from the paper (from the configuration).
    pub deviations: Vec<String>,
    pub sections: Vec<Section>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn fmt_stat(name: &str, s: &crate::analysis::Stat) -> String {
    if s.n > 1 {
        format!("{name} = {:.4e} ± {:.2e} (n = {})", s.mean, s.sd, s.n)
    } else {
        format!("{name} = {:.4e} (n = {})", s.mean, s.n)
    }
}

impl Report {
    /// Writes `dir/index.html` and `dir/report.md`; figure paths in the Markdown are relative
    /// to `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let html = self.html()?;
        let md = self.markdown(dir);
        crate::run::write_text(&dir.join("index.html"), &html)?;
        crate::run::write_text(&dir.join("report.md"), &md)
    }

    fn markdown(&self, dir: &Path) -> String {
        let mut s = format!("# {}\n\n", self.title);
        for p in &self.intro {
            let _ = writeln!(s, "{p}\n");
        }
        s.push_str("## Claims of the paper\n\n");
        s.push_str(&claims::markdown(&self.claims));
        s.push_str("\n## Deviations from the paper\n\n");
        s.push_str(&claims::deviations_markdown(&self.deviations));
        for sec in &self.sections {
            let _ = write!(s, "\n## {}\n\n", sec.title);
            for n in &sec.notes {
                let _ = writeln!(s, "- {n}");
            }
            let _ = write!(
                s,
                "\n<details><summary>configuration</summary>\n\n```toml\n{}```\n</details>\n",
                sec.config_toml
            );
            for (heading, a) in &sec.analyses {
                let _ = write!(s, "\n### {heading}\n\n");
                for fig in &a.figures {
                    let rel = fig.strip_prefix(dir).unwrap_or(fig);
                    let _ = writeln!(s, "![{heading}]({})\n", rel.display());
                }
                for (name, stat) in &a.findings {
                    let _ = writeln!(s, "- {}", fmt_stat(name, stat));
                }
                for n in &a.notes {
                    let _ = writeln!(s, "- note: {n}");
                }
                for csv in &a.csv {
                    let rel = csv.strip_prefix(dir).unwrap_or(csv);
                    let _ = writeln!(s, "- data: [{}]({})", rel.display(), rel.display());
                }
            }
            for n in &sec.skipped {
                let _ = writeln!(s, "\n- skipped: {n}");
            }
        }
        s
    }

    fn html(&self) -> Result<String> {
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}\
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:.3em .6em;text-align:left}}\
th{{background:#eee}}.holds{{color:#176317;font-weight:bold}}.fails{{color:#a11;font-weight:bold}}\
img{{max-width:100%;border:1px solid #ddd;margin:.5em 0}}pre{{background:#f6f6f6;padding:.6em;overflow:auto}}\
</style></head><body>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        for p in &self.intro {
            let _ = writeln!(s, "<p>{}</p>", escape(p));
        }
        s.push_str("<h2>Claims of the paper</h2>\n");
        s.push_str(&claims::html(&self.claims));
        s.push_str("<h2>Deviations from the paper</h2>\n<ul>");
        for d in &self.deviations {
            let _ = write!(s, "<li>{}</li>", escape(d));
        }
        s.push_str("</ul>\n");
        for sec in &self.sections {
            let _ = writeln!(s, "<h2>{}</h2>\n<ul>", escape(&sec.title));
            for n in &sec.notes {
                let _ = writeln!(s, "<li>{}</li>", escape(n));
            }
            let _ = writeln!(
                s,
                "</ul>\n<details><summary>configuration</summary><pre>{}</pre></details>",
                escape(&sec.config_toml)
            );
            for (heading, a) in &sec.analyses {
                let _ = writeln!(s, "<h3>{}</h3>", escape(heading));
                for fig in &a.figures {
                    let bytes = std::fs::read(fig).map_err(|e| Error::io(fig, e))?;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
                    let _ = writeln!(s, "<img alt=\"{}\" src=\"data:image/png;base64,{b64}\">", escape(heading));
                }
                s.push_str("<ul>");
                for (name, stat) in &a.findings {
                    let _ = write!(s, "<li>{}</li>", escape(&fmt_stat(name, stat)));
                }
                for n in &a.notes {
                    let _ = write!(s, "<li>note: {}</li>", escape(n));
                }
                s.push_str("</ul>\n");
            }
            for n in &sec.skipped {
                let _ = writeln!(s, "<p>skipped: {}</p>", escape(n));
            }
        }
        s.push_str("</body></html>\n");
        Ok(s)
    }
}
