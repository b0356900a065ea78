//! `e^x` over slices with the bits of `f32::exp`, several values at a time.
//!
//! `f32::exp` is the platform's `expf`; on x86-64 Linux that is glibc's (≥ 2.27), which runs
//! its FMA build when the CPU has FMA and AVX2 (`__expf_fma`) and its SSE2 build otherwise.
//! [`exp_in_place`] runs a port of that FMA build (sysdeps/ieee754/flt-32/e_expf.c, compiled
//! with the multiplies and adds GCC fused there: `kd`, `r`, the polynomial) on whole groups of
//! values when the CPU has AVX2 and FMA, and `f32::exp` value by value otherwise, so a machine
//! without them computes exactly what it did before. The port equals glibc's `expf` on all
//! 2³² floats (`cargo test --release --test simd -- --ignored exp`); values whose magnitude is ≥ 88
//! or that are not finite (overflow, underflow, NaN, the rare case) go through `f32::exp`.

/// glibc's `__exp2f_data.tab`: `2^(i/32)` as f64 bits, minus `i << 47`.
const TABLE: [u64; 32] = [
    0x3ff0000000000000,
    0x3fefd9b0d3158574,
    0x3fefb5586cf9890f,
    0x3fef9301d0125b51,
    0x3fef72b83c7d517b,
    0x3fef54873168b9aa,
    0x3fef387a6e756238,
    0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715,
    0x3feef1a7373aa9cb,
    0x3feedea64c123422,
    0x3feece086061892d,
    0x3feebfdad5362a27,
    0x3feeb42b569d4f82,
    0x3feeab07dd485429,
    0x3feea47eb03a5585,
    0x3feea09e667f3bcd,
    0x3fee9f75e8ec5f74,
    0x3feea11473eb0187,
    0x3feea589994cce13,
    0x3feeace5422aa0db,
    0x3feeb737b0cdc5e5,
    0x3feec49182a3f090,
    0x3feed503b23e255d,
    0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47,
    0x3fef199bdd85529c,
    0x3fef3720dcef9069,
    0x3fef5818dcfba487,
    0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da,
    0x3fefd0765b6e4540,
];
/// `32 / ln 2`, `1.5 · 2^52` (rounds to an integer) and the polynomial of `2^(r/32)`
/// (`__exp2f_data.invln2_scaled`, `.shift`, `.poly_scaled`), as f64 bits.
const INV_LN2_N: u64 = 0x40471547652b82fe;
const SHIFT: u64 = 0x4338000000000000;
const POLY: [u64; 3] = [0x3ebc6af84b912394, 0x3f2ebfce50fac4f3, 0x3f962e42ff0c52d6];

/// Values computed side by side.
const GROUP: usize = 8;

/// `e^x` for every value of `xs`, in place: the bits of `f32::exp` on each.
pub fn exp_in_place(xs: &mut [f32]) {
    #[cfg(all(target_arch = "x86_64", target_env = "gnu"))]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { exp_fma(xs) };
    }
    xs.iter_mut().for_each(|x| *x = x.exp());
}

// exp fma: xs -> e^xs in place, whole groups of ordinary values by the port, the rest by libm
#[cfg(all(target_arch = "x86_64", target_env = "gnu"))]
#[target_feature(enable = "avx2,fma")]
fn exp_fma(xs: &mut [f32]) {
    for group in xs.chunks_mut(GROUP) {
        if let Ok(group) = <&mut [f32; GROUP]>::try_from(&mut *group) {
            if !group.iter().any(|&x| is_rare(x)) {
                // A plain loop, not `array::map`: `map` is a function of its own, compiled
                // without FMA, so every `mul_add` became a call to libm's `fma`.
                group.iter_mut().for_each(|x| *x = exp_ordinary(*x));
                continue;
            }
        }
        group.iter_mut().for_each(|x| *x = x.exp());
    }
}

/// `|x| ≥ 88` or not finite: glibc's `expf` leaves its main path (`abstop >= top12(88.0f)`).
#[inline(always)]
fn is_rare(x: f32) -> bool {
    (x.to_bits() >> 20) & 0x7ff >= 0x42b
}

// exp ordinary: x (|x| < 88) -> e^x, glibc's main path: x·32/ln2 = k + r, e^x = 2^(k/32)·2^(r/32)
// with 2^(k/32) from the table and 2^(r/32) a cubic; f64::mul_add where its FMA build fuses
#[inline(always)]
fn exp_ordinary(x: f32) -> f32 {
    let (inv_ln2_n, shift) = (f64::from_bits(INV_LN2_N), f64::from_bits(SHIFT));
    let c = POLY.map(f64::from_bits);
    let xd = x as f64;
    let kd = inv_ln2_n.mul_add(xd, shift);
    let ki = kd.to_bits();
    let kd = kd - shift;
    let r = inv_ln2_n.mul_add(xd, -kd);
    let s = f64::from_bits(TABLE[(ki % 32) as usize].wrapping_add(ki << 47));
    let z = c[0].mul_add(r, c[1]);
    let r2 = r * r;
    let y = c[2].mul_add(r, 1.0);
    (z.mul_add(r2, y) * s) as f32
}
