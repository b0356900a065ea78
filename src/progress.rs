//! Progress bars on stderr (indicatif); they draw nothing when stderr is not a terminal.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A set of progress bars shown together (one per seed, per stage, …).
#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
}

impl Default for Progress {
    fn default() -> Self {
        Progress { multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()) }
    }
}

impl Progress {
    /// Bars that never draw (tests, quiet runs).
    pub fn hidden() -> Self {
        Progress { multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()) }
    }

    /// A new bar of `len` steps labelled `prefix`.
    pub fn bar(&self, len: u64, prefix: &str) -> ProgressBar {
        let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
            .expect("valid template")
            .progress_chars("=> ");
        self.multi.add(ProgressBar::new(len).with_style(style).with_prefix(prefix.to_string()))
    }

    /// Prints a line above the bars (or plainly when there are none).
    pub fn println(&self, line: &str) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
}
