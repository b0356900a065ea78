//! The quick report opened in a real browser (headless Chromium): every figure decodes to a
//! non-zero natural size, every in-page link (`#…`) lands on an anchor, and nothing is fetched
//! from the network. A screenshot of the page is kept as `target/report-screenshot.png`.
//!
//! The check runs on a copy of `index.html` with a small script and a Content-Security-Policy
//! (only `data:` images and inline code allowed) put first into its `<head>`; the script writes
//! what it found into the page, which `chromium --dump-dom` prints. The same check on a copy
//! with a broken figure, a dangling link and an external image must report all three.
//!
//! Without Chromium the test fails under CI (`CI` set) and is skipped with a message otherwise.
//! `ORGANISM_CHROMIUM=/path/to/chrome` picks the browser.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run in the page before anything else: records blocked requests, then, once everything has
/// loaded, the problems found, as JSON in `<pre id="browser-check">`.
const CHECK: &str = r##"<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<script>
const blocked = [];
document.addEventListener('securitypolicyviolation', e => blocked.push(e.blockedURI));
window.addEventListener('load', () => {
  const problems = [];
  const images = Array.from(document.images);
  images.forEach((img, i) => {
    if (!img.complete || img.naturalWidth === 0 || img.naturalHeight === 0)
      problems.push(`figure ${i} (${img.alt}) does not decode`);
  });
  document.querySelectorAll('a[href^="#"]').forEach(a => {
    const id = decodeURIComponent(a.getAttribute('href').slice(1));
    if (!document.getElementById(id)) problems.push(`link to #${id} has no anchor`);
  });
  blocked.forEach(u => problems.push(`network request blocked: ${u}`));
  performance.getEntriesByType('resource').forEach(r => {
    if (!r.name.startsWith('data:')) problems.push(`network request: ${r.name}`);
  });
  document.querySelectorAll('[src],[href]').forEach(el => {
    const url = el.getAttribute('src') || el.getAttribute('href');
    if (/^(https?:)?\/\//i.test(url)) problems.push(`external URL: ${url}`);
  });
  const pre = document.createElement('pre');
  pre.id = 'browser-check';
  pre.textContent = JSON.stringify({ images: images.length, problems });
  document.body.appendChild(pre);
});
</script>
"##;

/// The browser to use, if any.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ORGANISM_CHROMIUM") {
        return Some(path.into());
    }
    let path = std::env::var_os("PATH")?;
    let names = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];
    std::env::split_paths(&path).flat_map(|dir| names.map(|n| dir.join(n))).find(|p| p.is_file())
}

/// Headless Chromium on `url` with `args`, no network (every host name fails to resolve).
fn headless(browser: &Path, profile: &Path, args: &[&str], url: &str) -> std::process::Output {
    Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"])
        .args(["--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=15000"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs")
}

/// `(number of images, problems)` found in the page `html` by the browser.
fn check(browser: &Path, html: &str) -> (usize, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let head = html.find("<head>").expect("the page has a <head>") + "<head>".len();
    let page = dir.path().join("check.html");
    std::fs::write(&page, format!("{}{CHECK}{}", &html[..head], &html[head..])).unwrap();
    let o = headless(browser, &dir.path().join("profile"), &["--dump-dom"], &format!("file://{}", page.display()));
    let dom = String::from_utf8_lossy(&o.stdout);
    let start = dom
        .find("<pre id=\"browser-check\">")
        .unwrap_or_else(|| panic!("the check did not run ({}):\n{}", o.status, String::from_utf8_lossy(&o.stderr)));
    let json = &dom[start + "<pre id=\"browser-check\">".len()..];
    let json = json[..json.find("</pre>").unwrap()].replace("&quot;", "\"").replace("&amp;", "&");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let problems = v["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
    (v["images"].as_u64().unwrap() as usize, problems)
}

#[test]
fn quick_report_works_in_a_real_browser() {
    let Some(browser) = chromium() else {
        assert!(std::env::var_os("CI").is_none(), "CI: no chromium found (install Debian's `chromium`)");
        eprintln!("skipped: no chromium on PATH (set ORGANISM_CHROMIUM or install Debian's `chromium`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let o = Command::new(env!("CARGO_BIN_EXE_organism"))
        .args(["reproduce", "--quick", "--data", concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k")])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let figures = html.matches("<img ").count();

    let (images, problems) = check(&browser, &html);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(images, figures);
    assert!(images >= 16, "only {images} figures");

    // The page as a reader sees it, kept under target/.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_owned();
    let shot = target.join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let profile = dir.path().join("profile");
    let args = [&format!("--screenshot={}", shot.display()) as &str, "--window-size=1280,3000", "--hide-scrollbars"];
    let o = headless(&browser, &profile, &args, &format!("file://{}", out.join("index.html").display()));
    assert!(shot.is_file(), "no screenshot: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(&std::fs::read(&shot).unwrap()[..8], b"\x89PNG\r\n\x1a\n");

    // The check can fail: a figure whose data are cut, a link to nowhere, an image from the web.
    let first = html.find(";base64,").unwrap() + ";base64,".len();
    let broken = format!("{}AAAA{}", &html[..first], &html[first + html[first..].find('"').unwrap()..])
        .replace("</body>", "<a href=\"#nowhere\">x</a><img alt=\"web\" src=\"http://example.com/x.png\"></body>");
    let (_, problems) = check(&browser, &broken);
    let has = |what: &str| problems.iter().any(|p| p.contains(what));
    assert!(has("figure 0"), "{problems:#?}");
    assert!(has("#nowhere has no anchor"), "{problems:#?}");
    assert!(has("example.com"), "{problems:#?}");
}
