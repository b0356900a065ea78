//! The reproduction report: `index.html` (one self-contained file: figures inlined, no external
//! URL, a table of contents with anchors) and `report.md`. It only lays out what the analyses
//! measured and formats it for people; it computes no number of its own.

use super::claims::{self, Claim};
use crate::analysis::{Analysis, Stat};
use crate::plot::style::format_value;
use crate::plot::Figure;
use crate::{Error, Result};
use base64::Engine;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One experiment of the report: its configuration and its analyses.
#[derive(Clone, Debug)]
pub struct Section {
    /// Heading of the section (with the figure numbers it reproduces).
    pub title: String,
    /// Free text: seeds, data set, wall time, deviations from the paper.
    pub notes: Vec<String>,
    /// The experiment's resolved configuration, shown in the report.
    pub config_toml: String,
    /// `(heading, analysis)` in figure order.
    pub analyses: Vec<(String, Analysis)>,
    /// Analyses that could not run, with the reason.
    pub skipped: Vec<String>,
}

/// A further part of the report with its own claims table: `reproduce --extended`'s "Beyond the
/// paper" ([`crate::explore`]).
#[derive(Clone, Debug)]
pub struct Part {
    /// Its heading.
    pub title: String,
    /// Paragraphs before its claims table.
    pub intro: Vec<String>,
    /// Its claims table.
    pub claims: Vec<Claim>,
    /// One per study.
    pub sections: Vec<Section>,
}

/// The whole report.
#[derive(Clone, Debug)]
pub struct Report {
    /// The report's title.
    pub title: String,
    /// Paragraphs before the claims table.
    pub intro: Vec<String>,
    /// The claims table's rows.
    pub claims: Vec<Claim>,
    /// Where this reproduction departs from the paper (from the configuration).
    pub deviations: Vec<String>,
    /// One section per experiment.
    pub sections: Vec<Section>,
    /// "Beyond the paper", after the paper's sections.
    pub beyond: Option<Part>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `name = mean ± sd (n = …)` with about three significant digits; no number where nothing was
/// measured.
fn fmt_stat(name: &str, s: &Stat) -> String {
    match s.n {
        0 => format!("{name}: not measured (no value)"),
        1 => format!("{name} = {}", format_value(s.mean)),
        n => format!("{name} = {} ± {} (n = {n})", format_value(s.mean), format_value(s.sd)),
    }
}

/// An anchor name from a title: lower-case letters and digits joined by `-`.
fn slug(title: &str) -> String {
    let words: Vec<String> =
        title.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase()).collect();
    words.join("-")
}

/// `path` relative to `dir` (unchanged when outside it), with `/` separators for links.
fn relative(path: &Path, dir: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy().to_string()).collect::<Vec<_>>().join("/")
}

/// A figure as a `data:` URL: its SVG or its PNG, whichever is smaller.
fn data_url(figure: &Figure) -> Result<String> {
    let read = |p: PathBuf| std::fs::read(&p).map_err(|e| Error::io(&p, e));
    let png = read(figure.png())?;
    let svg = read(figure.svg()).unwrap_or_default();
    let (mime, bytes) =
        if !svg.is_empty() && svg.len() < png.len() { ("image/svg+xml", svg) } else { ("image/png", png) };
    Ok(format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
}

impl Report {
    /// Writes `dir/index.html` and `dir/report.md`; figure paths in the Markdown are relative
    /// to `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let html = self.html(dir)?;
        let md = self.markdown(dir);
        crate::run::write_text(&dir.join("index.html"), &html)?;
        crate::run::write_text(&dir.join("report.md"), &md)
    }

    /// `(anchor, section)` for every section, and the anchor of each of its analyses.
    fn anchors(sections: &[Section]) -> Vec<(String, Vec<String>)> {
        sections
            .iter()
            .map(|sec| {
                let id = slug(&sec.title);
                let analyses = sec.analyses.iter().map(|(_, a)| format!("{id}-{}", slug(&a.kind))).collect();
                (id, analyses)
            })
            .collect()
    }

    fn markdown(&self, dir: &Path) -> String {
        let mut s = format!("# {}\n\n", self.title);
        for p in &self.intro {
            let _ = writeln!(s, "{p}\n");
        }
        if !self.claims.is_empty() {
            s.push_str("## Claims of the paper\n\n");
            s.push_str(&claims::markdown(&self.claims));
        }
        if !self.deviations.is_empty() {
            s.push_str("\n## Deviations from the paper\n\n");
            s.push_str(&claims::deviations_markdown(&self.deviations));
        }
        sections_markdown(&mut s, &self.sections, dir);
        if let Some(part) = &self.beyond {
            let _ = write!(s, "\n# {}\n\n", part.title);
            for p in &part.intro {
                let _ = writeln!(s, "{p}\n");
            }
            s.push_str("## Claims beyond the paper\n\n");
            s.push_str(&claims::markdown(&part.claims));
            sections_markdown(&mut s, &part.sections, dir);
        }
        s
    }

    fn html(&self, dir: &Path) -> Result<String> {
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title>\n<style>\
body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}}\
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:.3em .6em;text-align:left}}\
th{{background:#eee}}.holds{{color:#176317;font-weight:bold}}.fails{{color:#a11;font-weight:bold}}\
figure{{margin:1em 0}}img{{max-width:100%;height:auto;border:1px solid #ddd}}\
figcaption{{font-size:.92em;color:#444;margin-top:.3em}}pre{{background:#f6f6f6;padding:.6em;overflow:auto}}\
nav ol{{margin:.2em 0}}ul.facts li{{margin:.1em 0}}\
</style></head><body>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        for p in &self.intro {
            let _ = writeln!(s, "<p>{}</p>", escape(p));
        }
        let anchors = Self::anchors(&self.sections);
        s.push_str("<nav id=\"contents\"><h2>Contents</h2>\n<ol>");
        if !self.claims.is_empty() {
            s.push_str("<li><a href=\"#claims\">Claims of the paper</a></li>\n");
        }
        nav_html(&mut s, &self.sections, &anchors);
        let beyond = self.beyond.as_ref().map(|p| (p, Self::anchors(&p.sections)));
        if let Some((part, anchors)) = &beyond {
            let _ = write!(s, "<li><a href=\"#beyond\">{}</a><ol>", escape(&part.title));
            nav_html(&mut s, &part.sections, anchors);
            s.push_str("</ol></li>\n");
        }
        s.push_str("</ol></nav>\n");
        // A report without claims (a sweep's) has no claims table.
        if !self.claims.is_empty() {
            s.push_str("<h2 id=\"claims\">Claims of the paper</h2>\n");
            s.push_str(&claims::html(&self.claims));
        }
        if !self.deviations.is_empty() {
            s.push_str("<h2 id=\"deviations\">Deviations from the paper</h2>\n<ul>");
            for d in &self.deviations {
                let _ = write!(s, "<li>{}</li>", escape(d));
            }
            s.push_str("</ul>\n");
        }
        sections_html(&mut s, &self.sections, &anchors, dir)?;
        if let Some((part, anchors)) = &beyond {
            let _ = writeln!(s, "<h1 id=\"beyond\">{}</h1>", escape(&part.title));
            for p in &part.intro {
                let _ = writeln!(s, "<p>{}</p>", escape(p));
            }
            s.push_str("<h2 id=\"beyond-claims\">Claims beyond the paper</h2>\n");
            s.push_str(&claims::html(&part.claims));
            sections_html(&mut s, &part.sections, anchors, dir)?;
        }
        s.push_str("</body></html>\n");
        Ok(s)
    }
}

/// The Markdown of `sections`, appended to `s`.
fn sections_markdown(s: &mut String, sections: &[Section], dir: &Path) {
    for sec in sections {
        let _ = write!(s, "\n## {}\n\n", sec.title);
        for n in &sec.notes {
            let _ = writeln!(s, "- {n}");
        }
        let _ =
            write!(s, "\n<details><summary>configuration</summary>\n\n```toml\n{}```\n</details>\n", sec.config_toml);
        for (heading, a) in &sec.analyses {
            let _ = write!(s, "\n### {heading}\n\n");
            for fig in &a.figures {
                let _ = writeln!(s, "![{}]({})\n\n*{}*\n", fig.title, relative(&fig.png(), dir), fig.caption);
            }
            for (name, stat) in &a.findings {
                let _ = writeln!(s, "- {}", fmt_stat(name, stat));
            }
            for n in &a.notes {
                let _ = writeln!(s, "- note: {n}");
            }
            for csv in &a.csv {
                let rel = relative(csv, dir);
                let _ = writeln!(s, "- data: [{rel}]({rel})");
            }
        }
        for n in &sec.skipped {
            let _ = writeln!(s, "\n- skipped: {n}");
        }
    }
}

/// Table-of-contents entries of `sections`, appended to `s`.
fn nav_html(s: &mut String, sections: &[Section], anchors: &[(String, Vec<String>)]) {
    for (sec, (id, ids)) in sections.iter().zip(anchors) {
        let _ = write!(s, "<li><a href=\"#{id}\">{}</a><ol>", escape(&sec.title));
        for ((heading, _), aid) in sec.analyses.iter().zip(ids) {
            let _ = write!(s, "<li><a href=\"#{aid}\">{}</a></li>", escape(heading));
        }
        s.push_str("</ol></li>\n");
    }
}

/// The HTML of `sections` (figures inlined), appended to `s`.
fn sections_html(s: &mut String, sections: &[Section], anchors: &[(String, Vec<String>)], dir: &Path) -> Result<()> {
    for (sec, (id, ids)) in sections.iter().zip(anchors) {
        let _ = writeln!(s, "<h2 id=\"{id}\">{}</h2>\n<ul>", escape(&sec.title));
        for n in &sec.notes {
            let _ = writeln!(s, "<li>{}</li>", escape(n));
        }
        let _ = writeln!(
            s,
            "</ul>\n<details><summary>configuration</summary><pre>{}</pre></details>",
            escape(&sec.config_toml)
        );
        for ((heading, a), aid) in sec.analyses.iter().zip(ids) {
            let _ = writeln!(s, "<h3 id=\"{aid}\">{}</h3>", escape(heading));
            for fig in &a.figures {
                let _ = writeln!(
                    s,
                    "<figure><img alt=\"{}\" src=\"{}\"><figcaption>{}</figcaption></figure>",
                    escape(&fig.title),
                    data_url(fig)?,
                    escape(&fig.caption)
                );
            }
            s.push_str("<ul class=\"facts\">");
            for (name, stat) in &a.findings {
                let _ = write!(s, "<li>{}</li>", escape(&fmt_stat(name, stat)));
            }
            for n in &a.notes {
                let _ = write!(s, "<li>note: {}</li>", escape(n));
            }
            for csv in &a.csv {
                let rel = escape(&relative(csv, dir));
                let _ = write!(s, "<li>data: <a href=\"{rel}\">{rel}</a></li>");
            }
            s.push_str("</ul>\n");
        }
        for n in &sec.skipped {
            let _ = writeln!(s, "<p>skipped: {}</p>", escape(n));
        }
    }
    Ok(())
}
