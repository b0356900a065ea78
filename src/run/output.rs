//! The output rule (issue 8), one place for every command: the final path is resolved and
//! checked, the output is written into a hidden sibling and swapped into place by rename only
//! when complete, `--force` replaces only what carries the [`MARKER`], and leftovers of killed
//! runs are cleaned up or resumed.

use super::{write_text, CONFIG};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The marker file every output directory of `organism` carries; `--force` replaces only a
/// directory that has it (or an empty one).
pub const MARKER: &str = ".organism-output";

/// The options `organism reproduce` was started with: with [`CONFIG`] (of `organism train`),
/// the file that makes an unfinished output resumable (`--resume`).
pub const OPTIONS: &str = "options.json";

/// Text of [`MARKER`]: the same for every output, so outputs stay byte-reproducible.
pub(super) const MARKER_TEXT: &str = "This directory was written by `organism`; `--force` may replace it.\n";

/// Infix of the temporary sibling `.NAME.partial-PID` a writer fills before the swap.
pub(super) const PARTIAL: &str = ".partial-";
/// Infix of `.NAME.replaced-PID`, the old output between the swap and its deletion.
pub(super) const REPLACED: &str = ".replaced-";

/// An output directory being written (SPEC-independent, issue 8):
/// - the target is resolved to a canonical parent plus a final name; `.`, `..`, `/`, the home
///   directory and any directory that contains the current directory are refused;
/// - an existing target is replaced only with `force`, and only if it is empty or carries the
///   [`MARKER`] of an earlier output of this program;
/// - everything is written into the sibling `.NAME.partial-PID`, which [`RunWriter::finish`]
///   swaps into place by rename; the old output is deleted only after the swap. A run that fails
///   (or is killed) never touches the old output, and leaves nothing but, when killed, its
///   temporary sibling, which the next writer into the same parent removes.
pub struct RunWriter {
    /// The target as the user named it, for messages.
    shown: PathBuf,
    /// The resolved target: canonical parent + final name.
    target: PathBuf,
    tmp: PathBuf,
    force: bool,
    /// Parent directories this writer created (deepest last), removed again if it fails.
    created: Vec<PathBuf>,
    /// Taken over by [`RunWriter::resume`]: kept, not removed, if it fails, so that it can be
    /// resumed again.
    resumed: bool,
    done: bool,
}

impl RunWriter {
    /// Checks `target` against the output rule, cleans up stale temporary siblings of dead
    /// processes and creates the temporary directory (with the marker).
    pub fn create(target: &Path, force: bool) -> Result<Self> {
        let resolved = resolve_output(target)?;
        let parent = resolved.parent().expect("a resolved output has a parent").to_path_buf();
        let name = resolved.file_name().expect("a resolved output has a name").to_string_lossy().to_string();
        clean_stale(&parent, &name)?;
        check_replaceable(target, &resolved, force)?;
        let created = create_parents(&parent)?;
        let tmp = parent.join(format!(".{name}{PARTIAL}{}", std::process::id()));
        let writer = RunWriter {
            shown: target.to_path_buf(),
            target: resolved,
            tmp,
            force,
            created,
            resumed: false,
            done: false,
        };
        std::fs::create_dir(&writer.tmp).map_err(|e| writer.explain(Error::io(&writer.tmp, e)))?;
        write_marker(&writer.tmp).map_err(|e| writer.explain(e))?;
        Ok(writer)
    }

    /// Takes over the partial directory a killed run left for `target` (`.NAME.partial-PID`
    /// beside it, holding the file `key`: [`CONFIG`] or [`OPTIONS`]), renaming it to this
    /// process's; `None` if there is none. A partial directory whose process still runs is
    /// refused; of several, the most recently modified is taken. If the resumed run fails, the
    /// partial directory stays for the next `--resume`.
    pub fn resume(target: &Path, force: bool, key: &str) -> Result<Option<Self>> {
        let resolved = resolve_output(target)?;
        let parent = resolved.parent().expect("a resolved output has a parent").to_path_buf();
        let name = resolved.file_name().expect("a resolved output has a name").to_string_lossy().to_string();
        let prefix = format!(".{name}{PARTIAL}");
        let Ok(entries) = std::fs::read_dir(&parent) else { return Ok(None) };
        let mut found: Option<(std::time::SystemTime, PathBuf)> = None;
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().to_string();
            let Some(pid) = file_name.strip_prefix(&prefix).and_then(|p| p.parse::<u32>().ok()) else { continue };
            let dir = entry.path();
            if !dir.join(key).is_file() {
                continue;
            }
            if pid != std::process::id() && process_alive(pid) {
                return Err(Error::Invalid(format!("{} is still being written by process {pid}", target.display())));
            }
            let modified = std::fs::metadata(&dir).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            if found.as_ref().is_none_or(|(t, _)| modified > *t) {
                found = Some((modified, dir));
            }
        }
        let Some((_, old)) = found else { return Ok(None) };
        let tmp = parent.join(format!("{prefix}{}", std::process::id()));
        if old != tmp {
            std::fs::rename(&old, &tmp).map_err(|e| Error::io(&old, e))?;
        }
        Ok(Some(RunWriter {
            shown: target.to_path_buf(),
            target: resolved,
            tmp,
            force,
            created: Vec::new(),
            resumed: true,
            done: false,
        }))
    }

    /// Where file `file` of the output is written (inside the temporary directory).
    pub fn path(&self, file: &str) -> PathBuf {
        self.tmp.join(file)
    }

    /// The directory being filled (temporary until [`RunWriter::finish`]).
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// `result` of filling the output: on success the output is swapped into place, on failure
    /// the temporary directory is removed and the error's paths name the target, not the
    /// temporary directory.
    pub fn complete<T>(self, result: Result<T>) -> Result<T> {
        match result {
            Ok(value) => self.finish().map(|_| value),
            Err(e) => Err(self.explain(e)),
        }
    }

    /// Moves the finished directory into place: the old output (if any) is renamed aside, the
    /// new one renamed in, then the old one deleted.
    pub fn finish(mut self) -> Result<PathBuf> {
        check_replaceable(&self.shown, &self.target, self.force)?;
        let name = self.target.file_name().expect("resolved").to_string_lossy().to_string();
        let parent = self.target.parent().expect("resolved");
        let aside = parent.join(format!(".{name}{REPLACED}{}", std::process::id()));
        let old = match std::fs::symlink_metadata(&self.target) {
            Ok(_) => {
                std::fs::rename(&self.target, &aside).map_err(|e| Error::io(&self.shown, e))?;
                Some(aside)
            }
            Err(_) => None,
        };
        if let Err(e) = std::fs::rename(&self.tmp, &self.target) {
            if let Some(old) = &old {
                let _ = std::fs::rename(old, &self.target);
            }
            return Err(Error::io(&self.shown, e));
        }
        self.done = true;
        if let Some(old) = old {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(self.target.clone())
    }

    /// `e` with the temporary directory in its path replaced by the target as the user named it.
    fn explain(&self, e: Error) -> Error {
        let fix = |p: PathBuf| match p.strip_prefix(&self.tmp) {
            Ok(rest) if rest.as_os_str().is_empty() => self.shown.clone(),
            Ok(rest) => self.shown.join(rest),
            Err(_) => p,
        };
        match e {
            Error::Io { path, source } => Error::Io { path: fix(path), source },
            Error::Format { path, msg } => Error::Format { path: fix(path), msg },
            e => e,
        }
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        if self.done || self.resumed {
            return;
        }
        // An unfinished output leaves nothing behind: its temporary directory goes, and so do
        // the parents this writer created, if they are still empty.
        let _ = std::fs::remove_dir_all(&self.tmp);
        for dir in self.created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The output path `target` resolved: its parent canonical (the nearest existing ancestor
/// canonicalised, the rest appended), its final name kept. Refuses paths without a final name
/// (`.`, `..`, `/`), the home directory and any directory that contains the current one.
pub fn resolve_output(target: &Path) -> Result<PathBuf> {
    let refuse = |why: &str| Err(Error::Invalid(format!("refusing to write into {}: {why}", target.display())));
    if target.as_os_str().is_empty() {
        return refuse("the path is empty");
    }
    let name = match target.components().next_back() {
        Some(std::path::Component::Normal(name)) => name.to_os_string(),
        _ => return refuse("it names no directory of its own (`.`, `..` or `/`)"),
    };
    let absolute = std::path::absolute(target).map_err(|e| Error::io(target, e))?;
    let parent = absolute.parent().expect("a path with a final name has a parent");
    let resolved = canonical_prefix(parent).join(&name);
    // The target itself, with symbolic links followed, for the containment checks.
    let real = std::fs::canonicalize(&resolved).unwrap_or_else(|_| resolved.clone());
    if std::fs::symlink_metadata(&resolved).is_ok_and(|m| m.file_type().is_symlink()) {
        return refuse("it is a symbolic link; name the directory it points to");
    }
    if let Ok(cwd) = std::env::current_dir().and_then(std::fs::canonicalize) {
        if cwd.starts_with(&real) {
            return refuse("it contains the current directory");
        }
    }
    if let Some(home) = dirs::home_dir().and_then(|h| std::fs::canonicalize(h).ok()) {
        if home == real || home.starts_with(&real) {
            return refuse("it is or contains the home directory");
        }
    }
    Ok(resolved)
}

/// Absolute `path` with symbolic links and `..` resolved as far as it exists (the missing rest
/// is appended as written, `..` popping a component).
pub(super) fn canonical_prefix(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut real = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => real.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                real.pop();
            }
            Component::Normal(name) => {
                real.push(name);
                if let Ok(canonical) = std::fs::canonicalize(&real) {
                    real = canonical;
                }
            }
        }
    }
    real
}

/// Creates `dir` and its missing ancestors; returns the ones it created, outermost first.
pub(super) fn create_parents(dir: &Path) -> Result<Vec<PathBuf>> {
    let missing: Vec<PathBuf> = dir.ancestors().take_while(|d| !d.exists()).map(Path::to_path_buf).collect();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    Ok(missing.into_iter().rev().collect())
}

/// An error unless `resolved` (shown as `shown`) may receive a new output: it does not exist,
/// is an empty directory, or — with `force` — is a directory with the [`MARKER`].
pub(super) fn check_replaceable(shown: &Path, resolved: &Path, force: bool) -> Result<()> {
    let meta = match std::fs::symlink_metadata(resolved) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    if !meta.is_dir() {
        return Err(Error::Invalid(format!(
            "{} exists and is not a directory; refusing to replace it",
            shown.display()
        )));
    }
    let empty = std::fs::read_dir(resolved).map_err(|e| Error::io(shown, e))?.next().is_none();
    if empty {
        return Ok(());
    }
    if !force {
        return Err(Error::Invalid(format!("{} already exists; pass --force to replace it", shown.display())));
    }
    if !resolved.join(MARKER).is_file() {
        return Err(Error::Invalid(format!(
            "{} is not an output of organism (it has no {MARKER} file); refusing to replace it even with --force",
            shown.display()
        )));
    }
    Ok(())
}

/// `path` as it will be once its output is complete: every temporary `.NAME.partial-PID`
/// component read as `NAME`. Analyses name runs with it, so that a report written into a
/// temporary directory never shows that directory.
pub fn shown(path: &Path) -> PathBuf {
    path.components()
        .map(|c| {
            let s = c.as_os_str();
            s.to_str()
                .and_then(|t| t.strip_prefix('.'))
                .and_then(|t| t.rsplit_once(PARTIAL))
                .filter(|(_, pid)| pid.parse::<u32>().is_ok())
                .map_or_else(|| s.to_os_string(), |(name, _)| name.into())
        })
        .collect()
}

/// Writes the [`MARKER`] into `dir`.
pub fn write_marker(dir: &Path) -> Result<()> {
    write_text(&dir.join(MARKER), MARKER_TEXT)
}

/// An error if `dir` exists and may not be replaced (see [`RunWriter`]); nothing is written.
pub fn check_free(dir: &Path, force: bool) -> Result<()> {
    let resolved = resolve_output(dir)?;
    check_replaceable(dir, &resolved, force)
}

/// Removes the temporary siblings `.NAME.partial-PID` of dead processes in `parent` (those
/// carrying the [`MARKER`]; others, and killed training runs that can be resumed, are reported), and restores or removes `.NAME.replaced-PID`
/// left by a swap that was killed half-way.
pub(super) fn clean_stale(parent: &Path, name: &str) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(parent) else { return Ok(()) };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let Some(rest) = file.strip_prefix('.') else { continue };
        let (base, kind, pid) = match [PARTIAL, REPLACED].iter().find_map(|k| {
            let (base, pid) = rest.rsplit_once(k)?;
            Some((base, *k, pid.parse::<u32>().ok()?))
        }) {
            Some(found) => found,
            None => continue,
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let path = entry.path();
        if !path.join(MARKER).is_file() {
            log::warn!("{} looks like a leftover of organism but has no {MARKER}; left alone", path.display());
            continue;
        }
        if kind == PARTIAL && (path.join(CONFIG).is_file() || path.join(OPTIONS).is_file()) {
            let how = if path.join(CONFIG).is_file() {
                "organism train --resume"
            } else {
                "organism reproduce --resume --out"
            };
            log::warn!(
                "{} is a killed run; continue it with `{how} {}` (left alone)",
                path.display(),
                parent.join(base).display()
            );
            continue;
        }
        let target = parent.join(base);
        if kind == REPLACED && base == name && std::fs::symlink_metadata(&target).is_err() {
            // Killed between the two renames of a swap: the old output is the only one.
            std::fs::rename(&path, &target).map_err(|e| Error::io(&target, e))?;
            log::info!("restored {} from an interrupted replace", target.display());
        } else if kind == REPLACED && std::fs::symlink_metadata(&target).is_err() {
            log::warn!("{} is the only copy of {}; left alone", path.display(), target.display());
        } else {
            std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            log::info!("removed {}, left by a run that was killed (process {pid})", path.display());
        }
    }
    Ok(())
}

/// Whether process `pid` runs on this machine. A zombie (killed, not yet reaped by its parent)
/// counts as dead: its output is complete as it will ever be. Where this cannot be told, the
/// process is taken to be alive (its files are left alone).
pub(crate) fn process_alive(pid: u32) -> bool {
    if std::path::Path::new("/proc/self").exists() {
        return match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the parenthesised command name.
            Ok(stat) => stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|s| s != "Z" && s != "X"),
            Err(_) => false,
        };
    }
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}
