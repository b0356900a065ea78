//! Bounds on every size a user can ask for, and the memory estimate checked before a command
//! allocates (issue 8): a typo such as `organism.width=1000000` must end in a message naming the
//! key and the size, exit 1 and nothing written — not in an allocation failure. `train`,
//! `particles`, `robustness`, `analyze` and `reproduce` all check through this module.

use crate::{Error, Result};

/// Seeds are stored in TOML files, whose integers are signed 64-bit.
pub const MAX_SEED: u64 = i64::MAX as u64;
/// Seeds of one `--seeds` list or range (one run directory each).
pub const MAX_SEEDS: u64 = 10_000;
/// Epochs, self-train steps, standalone steps, robustness self-applications.
pub const MAX_STEPS: u64 = 1_000_000_000;
/// Hidden width of a particle (`particle.hidden`, `--hidden`).
pub const MAX_HIDDEN: u64 = 4096;
/// Side of the resized images (`data.image_size`).
pub const MAX_IMAGE_SIZE: u64 = 4096;
/// Noise levels `10^0 … 10^-(levels-1)` of the robustness test: below 1e-38 an f32 is no longer
/// a normal number.
pub const MAX_LEVELS: u64 = 38;
/// Noise draws per particle and level in the robustness test.
pub const MAX_NOISE_SEEDS: u64 = 1_000_000;
/// Images in the largest data set of the MNIST family (60,000 + 10,000), for estimates made
/// before the data is read.
pub const MAX_IMAGES: u128 = 70_000;

/// Decompressed bytes of one IDX file: 1 GiB, about 20× MNIST's training images (47 MB). A
/// larger stream (a gzip bomb, or not a data set of this family) is refused after reading that
/// much, not held in memory whole.
pub const MAX_IDX_BYTES: u64 = 1 << 30;

/// The error of a bad value of `key`: a configuration key, or a command-line flag (`--x`).
pub fn invalid(key: &str, msg: impl Into<String>) -> Error {
    if key.starts_with("--") {
        Error::Invalid(format!("{key}: {}", msg.into()))
    } else {
        Error::config(key, msg)
    }
}

/// An error naming `key` unless `1 ≤ value ≤ max`.
pub fn count(key: &str, value: u64, max: u64) -> Result<()> {
    if value == 0 {
        return Err(invalid(key, "must be at least 1"));
    }
    at_most(key, value, max)
}

/// An error naming `key` unless `value ≤ max`.
pub fn at_most(key: &str, value: u64, max: u64) -> Result<()> {
    if value > max {
        return Err(invalid(key, format!("must be at most {max}, got {value}")));
    }
    Ok(())
}

/// An error naming `key` unless `value` can be a seed (≤ [`MAX_SEED`]).
pub fn seed(key: &str, value: u64) -> Result<()> {
    if value > MAX_SEED {
        return Err(invalid(key, format!("a seed must be at most 2^63 - 1 = {MAX_SEED}, got {value}")));
    }
    Ok(())
}

/// The optimizer and fixpoint settings every training command shares: `lr` and `epsilon`
/// positive and finite, `momentum` in [0, 1) (at 1 the velocity never decays).
pub fn optimizer(keys: [&str; 3], lr: f32, momentum: f32, epsilon: f32) -> Result<()> {
    for (key, v) in [(keys[0], lr), (keys[2], epsilon)] {
        if !(v > 0.0 && v.is_finite()) {
            return Err(invalid(key, format!("must be a positive number, got {v}")));
        }
    }
    if !(0.0..1.0).contains(&momentum) {
        return Err(invalid(keys[1], format!("must be in [0, 1), got {momentum}")));
    }
    Ok(())
}

/// Bytes of memory a command will need, by part; each part names the key that sizes it.
#[derive(Debug, Default)]
pub struct Estimate {
    parts: Vec<(&'static str, &'static str, u128)>,
}

impl Estimate {
    /// Adds `bytes` for `what`, sized mostly by `key`.
    pub fn add(&mut self, key: &'static str, what: &'static str, bytes: u128) -> &mut Self {
        self.parts.push((key, what, bytes));
        self
    }

    /// The estimated total, in bytes.
    pub fn total(&self) -> u128 {
        self.parts.iter().map(|p| p.2).sum()
    }

    /// An error if the total exceeds [`memory_limit`], naming the key of the culprit: the
    /// smallest part that alone exceeds the limit (the one nearest the cause: with a huge width
    /// both the particles and their trajectory are too big, and the width is to blame), else the
    /// largest part.
    pub fn check(&self) -> Result<()> {
        let (total, limit) = (self.total(), memory_limit());
        if total <= limit as u128 {
            return Ok(());
        }
        let alone = self.parts.iter().filter(|p| p.2 > limit as u128).min_by_key(|p| p.2);
        let (key, _, _) =
            alone.or_else(|| self.parts.iter().max_by_key(|p| p.2)).expect("a total above the limit has parts");
        let parts: Vec<String> =
            self.parts.iter().filter(|p| p.2 > 0).map(|(_, what, b)| format!("{what} {}", bytes(*b))).collect();
        Err(invalid(
            key,
            format!(
                "this would need about {} of memory ({}), more than the limit of {} (3/4 of this machine's memory)",
                bytes(total),
                parts.join(", "),
                bytes(limit as u128)
            ),
        ))
    }
}

/// `a · b · …` without overflow.
pub fn product(factors: &[u64]) -> u128 {
    factors.iter().fold(1u128, |p, &f| p.saturating_mul(f as u128))
}

/// The memory a command may plan for: 3/4 of the machine's (16 GiB where it cannot be read).
pub fn memory_limit() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib.saturating_mul(1024))
    });
    total.map_or(16 << 30, |t| t / 4 * 3)
}

/// `bytes` for people: `3.2 GB`.
pub fn bytes(b: u128) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut x = b as f64;
    let mut u = 0;
    while x >= 1000.0 && u + 1 < units.len() {
        x /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} bytes")
    } else {
        format!("{x:.1} {}", units[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_name_the_largest_part() {
        let mut e = Estimate::default();
        e.add("a", "small", 10).add("organism.width", "particles", product(&[u64::MAX, u64::MAX]));
        let err = e.check().unwrap_err().to_string();
        assert!(err.contains("organism.width") && err.contains("particles"), "{err}");
        assert_eq!(bytes(3_200_000_000), "3.2 GB");
    }

    #[test]
    fn flags_and_keys_are_named_as_such() {
        assert!(count("--count", 0, 5).unwrap_err().to_string().starts_with("--count:"));
        assert!(count("epochs", 9, 5).unwrap_err().to_string().contains("config key `epochs`"));
        assert!(optimizer(["lr", "momentum", "epsilon"], 0.1, 1.0, 1e-5).is_err());
        assert!(optimizer(["lr", "momentum", "epsilon"], f32::NAN, 0.5, 1e-5).is_err());
        assert!(optimizer(["lr", "momentum", "epsilon"], 0.1, 0.9, 1e-5).is_ok());
    }
}
