//! The instruction set of the hot kernels, chosen once at run time.
//!
//! The default build targets the x86-64 baseline (SSE2). [`dispatch`] runs a kernel compiled
//! for AVX-512 or AVX2 instead when the CPU has it. The results are bitwise the same: Rust never
//! contracts `a * b + c` into an FMA, AVX-512 and AVX2 are only wider registers (and, for
//! AVX-512, mask registers) for the same IEEE operations, and every
//! kernel reduces in a fixed order of lanes written out in the source (e.g. `organism`'s `dots`
//! keeps [`LANES`](crate::lanes::LANES) partial sums and adds them in order), never in an order
//! the vector width decides.
//!
//! Exact elementary functions without branches, for slices (a loop over a slice then runs as
//! SIMD instructions): [`tanh`], fdlibm's tanhf ([`tanh_in_place`]), and [`erf`], fdlibm's erff
//! as the `libm` crate ships it (GELU's). Every case is computed and the one the
//! original takes is selected, with the same operations in the same order: the same bits.

mod erf;
mod tanh;
pub use erf::erf;
pub use tanh::{tanh, tanh_in_place};

/// Runs `f`, compiled for AVX-512 (F, VL, DQ, BW) when the CPU has it, else for AVX2 when it
/// has that. `f` and what it calls must be `#[inline(always)]` down to the loops, or they keep
/// the baseline instructions.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512vl") && has!("avx512dq") && has!("avx512bw") {
            // SAFETY: the CPU has these four AVX-512 subsets, checked just above.
            return unsafe { avx512(f) };
        }
        if has!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw")]
fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `if c { a } else { b }` without a branch.
#[inline(always)]
fn select(c: bool, a: f32, b: f32) -> f32 {
    let m = (c as u32).wrapping_neg();
    f32::from_bits((a.to_bits() & m) | (b.to_bits() & !m))
}

/// `f` with `k` added to its binary exponent (fdlibm's `SET_FLOAT_WORD(y, i + (k << 23))`;
/// `f · 2^k` when `f` and the result are normal).
#[inline(always)]
fn add_exponent(f: f32, k: i32) -> f32 {
    f32::from_bits((f.to_bits() as i32).wrapping_add(k.wrapping_shl(23)) as u32)
}

/// `v as i32` for an integral `v` with `|v| < 2^22`: adding `1.5·2^23` puts `v` in the low bits
/// of the mantissa. On AVX2, LLVM runs `as i32` (which saturates and maps NaN to 0) one lane
/// at a time; this stays in vector registers. Outside that range the result is meaningless.
#[inline(always)]
fn small_int(v: f32) -> i32 {
    ((v + 12_582_912.0).to_bits() as i32).wrapping_sub(0x4b40_0000)
}
