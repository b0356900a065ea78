//! The instruction set of the hot kernels, chosen once at run time.
//!
//! The default build targets the x86-64 baseline (SSE2). [`dispatch`] runs a kernel compiled
//! for AVX2 instead when the CPU has it. The results are bitwise the same: Rust never contracts
//! `a * b + c` into an FMA, AVX2 is only wider registers for the same operations, and every
//! kernel reduces in a fixed order of lanes written out in the source (e.g. `organism`'s `dots`
//! keeps [`LANES`](crate::lanes::LANES) partial sums and adds them in order), never in an order
//! the vector width decides.
//!
//! [`tanh`] is fdlibm's tanhf without branches, for slices ([`tanh_in_place`]).

mod tanh;
pub use tanh::{tanh, tanh_in_place};

/// Runs `f`, compiled for AVX2 when the CPU has it. `f` and what it calls must be
/// `#[inline(always)]` down to the loops, or they keep the baseline instructions.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
