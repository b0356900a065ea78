//! `tanh` over long slices: fdlibm's tanhf (the one glibc's libm ships) written without
//! branches, so that a loop over a slice runs as SIMD instructions. The same operations in the
//! same order as fdlibm, so the same bits as `f32::tanh` on glibc (tests/simd.rs compares them on
//! sampled floats; its `--ignored` test and README "Speed" cover all 2³² of them).

use super::{add_exponent, select, small_int};

// fdlibm's expm1f constants, by their bits.
const LN2_HI: f32 = f32::from_bits(0x3f31_7180);
const LN2_LO: f32 = f32::from_bits(0x3717_f7d1);
const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
/// The polynomial `Q1..Q5`.
const Q: [f32; 5] = [
    f32::from_bits(0xbd08_8889),
    f32::from_bits(0x3ad0_0d01),
    f32::from_bits(0xb8a6_70cd),
    f32::from_bits(0x3686_7e54),
    f32::from_bits(0xb457_edbb),
];

/// fdlibm's `expm1f(x)` for the arguments [`tanh`] gives it (`|x| < 44`, or `x ≤ 0`): every
/// case computed and the one fdlibm takes selected.
#[inline(always)]
fn expm1(x: f32) -> f32 {
    let hx = x.to_bits() & 0x7fff_ffff;
    let neg = x.to_bits() >> 31 != 0;
    // Argument reduction: x = k·ln2 + r, r = hi − lo.
    let near = hx < 0x3f85_1592; // |x| < 1.5·ln2: k = ±1
                                 // fdlibm's `(INV_LN2·x ± 0.5) as i32`, as a float (`trunc`) and as an integer
                                 // ([`small_int`]; lanes where |x| is too large for it take another case).
    let t = (INV_LN2 * x + select(neg, -0.5, 0.5)).trunc();
    let kr = small_int(t);
    let k = if hx > 0x3eb1_7218 {
        if near {
            if neg {
                -1
            } else {
                1
            }
        } else {
            kr
        }
    } else {
        0
    };
    let hi = select(near, select(neg, x + LN2_HI, x - LN2_HI), x - t * LN2_HI);
    let lo = select(near, select(neg, -LN2_LO, LN2_LO), t * LN2_LO);
    let r = select(k != 0, hi - lo, x);
    let c = (hi - r) - lo;
    // r is now in the primary range.
    let hfx = 0.5 * r;
    let hxs = r * hfx;
    let r1 = 1.0 + hxs * (Q[0] + hxs * (Q[1] + hxs * (Q[2] + hxs * (Q[3] + hxs * Q[4]))));
    let t3 = 3.0 - r1 * hfx;
    let e0 = hxs * ((r1 - t3) / (6.0 - r * t3));
    let k0 = r - (r * e0 - hxs);
    let e = (r * (e0 - c) - c) - hxs;
    let k_minus1 = 0.5 * (r - e) - 0.5;
    let k1 = select(r < -0.25, -2.0 * (e - (r + 0.5)), 1.0 + 2.0 * (r - e));
    let far = add_exponent(1.0 - (e - r), k) - 1.0;
    // k < 23: t = 1 − 2^−k, exact.
    let small = add_exponent((1.0 - f32::from_bits((0x7f - k).wrapping_shl(23) as u32)) - (e - r), k);
    let large = add_exponent((r - (e + f32::from_bits((0x7f - k).wrapping_shl(23) as u32))) + 1.0, k);
    let y = select(k <= -2 || k > 56, far, select(k < 23, small, large));
    let y = select(k == 1, k1, select(k == -1, k_minus1, y));
    let y = select(k == 0, k0, y);
    // |x| < 2^−25: x itself; x ≤ −27·ln2: −1.
    let y = select(hx < 0x3300_0000, x, y);
    select(neg && hx >= 0x4195_b844, 1.0e-30 - 1.0, y)
}

/// `tanh(x)`: fdlibm's tanhf, lane-friendly (module docs).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let ix = x.to_bits() & 0x7fff_ffff;
    let ax = f32::from_bits(ix);
    let big = ix >= 0x3f80_0000; // |x| ≥ 1
    let t = expm1(select(big, 2.0 * ax, -2.0 * ax));
    // fdlibm's 1 − 2/(t + 2) or −t/(t + 2): one division, its numerator selected first.
    let q = select(big, 2.0, -t) / (t + 2.0);
    let z = select(big, 1.0 - q, q);
    let z = select(ix >= 0x41b0_0000, 1.0 - 1.0e-30, z); // |x| ≥ 22
    let z = select(x.to_bits() >> 31 != 0, -z, z);
    let z = select(ix < 0x2400_0000, x * (1.0 + x), z); // |x| < 2^−55, and ±0
    let z = select(ix == 0, x, z);
    // ±inf: fdlibm's 1/x ± 1 is ±1; NaN: x quieted (x + x, as 1/x − 1 gives it on x86), without
    // a division.
    let inf = select(x.to_bits() >> 31 != 0, -1.0, 1.0);
    select(ix > 0x7f80_0000, x + x, select(ix == 0x7f80_0000, inf, z))
}

/// `xs[i] = tanh(xs[i])` for every element, [`tanh`] lane-wise. `#[inline(always)]`, so that a
/// kernel run by [`super::dispatch`] gets it in AVX2 instructions.
#[inline(always)]
pub fn tanh_in_place(xs: &mut [f32]) {
    for x in xs {
        *x = tanh(*x);
    }
}
