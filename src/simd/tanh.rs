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

/// fdlibm's `expm1f(x)` for the arguments [`tanh`] gives it and uses the result of: `x = 2|v|
/// ∈ [2, 44)` (`pos`, from `1 ≤ |v| < 22`) or `x = −2|v| ∈ (−2, −2^−54]` (from `2^−55 ≤ |v| <
/// 1`), of the lanes `reach` says. Every case these reach is computed and the one fdlibm takes
/// selected; the cases they cannot reach are left out (each with the reason), and the all-2³²
/// test of tests/simd.rs checks the whole, for every [`Reach`].
#[inline(always)]
fn expm1(x: f32, pos: bool, reach: Reach) -> f32 {
    let hx = x.to_bits() & 0x7fff_ffff;
    // Argument reduction, x = k·ln2 + r with r = hi − lo: fdlibm's `k = (INV_LN2·x ± 0.5) as
    // i32`, `t = k`, `hi = x − t·LN2_HI`, `lo = t·LN2_LO` for |x| > 0.5·ln2, and k = 0, r = x
    // below. Where fdlibm instead takes `hi = x ± LN2_HI`, `lo = ±LN2_LO`, `k = ±1` (0.5·ln2 <
    // |x| < 1.5·ln2), only x < 0 is reached, and there the rounding gives t = −1 (checked on
    // every such float), so `x − t·LN2_HI` is that same `x + LN2_HI` and `t·LN2_LO` that
    // `−LN2_LO`. With t = 0, hi = x and r = x − 0 = x (x ≠ 0; x = 0 is not reached).
    // With `Reach::BelowK2` that is all there is: t = −1 where |x| > 0.5·ln2.
    let reduced = hx > 0x3eb1_7218;
    let t = match reach {
        Reach::BelowK2 => select(reduced, -1.0, 0.0),
        _ => select(reduced, (INV_LN2 * x + select(pos, 0.5, -0.5)).trunc(), 0.0),
    };
    // [`small_int`]: t is integral and |t| ≤ 63.
    let k = small_int(t);
    let hi = x - t * LN2_HI;
    let lo = t * LN2_LO;
    let r = hi - lo;
    let c = (hi - r) - lo;
    // r is now in the primary range.
    let hfx = 0.5 * r;
    let hxs = r * hfx;
    let r1 = 1.0 + hxs * (Q[0] + hxs * (Q[1] + hxs * (Q[2] + hxs * (Q[3] + hxs * Q[4]))));
    let t3 = 3.0 - r1 * hfx;
    let e0 = hxs * ((r1 - t3) / (6.0 - r * t3));
    // k = 0: also fdlibm's `|x| < 2^−25: x`, which this equals there: hxs = x²/2 is below half
    // an ulp of x, and x·e0 (≈ −x³/6) far below, so `x − (x·e0 − hxs)` rounds to x.
    let k0 = r - (r * e0 - hxs);
    let e = (r * (e0 - c) - c) - hxs;
    let k_minus1 = 0.5 * (r - e) - 0.5;
    // k ∈ {0, −1, −2, −3} for x < 0, k ∈ [3, 63] for x ≥ 2: never fdlibm's k = 1, nor its
    // `x ≤ −27·ln2: −1`. Of the rest, k ≤ −2 or k > 56 ("far") and k < 23 share `A − (e − x)`,
    // A = 1 and 1 − 2^−k (exact for k < 23), and with 23 ≤ k ≤ 56 the scaling by 2^k.
    let y = match reach {
        Reach::BelowK2 => return select(reduced, k_minus1, k0),
        // x < 0: k ≤ −2 is "far".
        Reach::Below1 => add_exponent(1.0 - (e - r), k) - 1.0,
        Reach::All => {
            let far = k <= -2 || k > 56;
            let two_mk = f32::from_bits((0x7f - k).wrapping_shl(23) as u32); // 2^−k, for 3 ≤ k ≤ 56
            let y = select(far || k < 23, select(far, 1.0, 1.0 - two_mk) - (e - r), (r - (e + two_mk)) + 1.0);
            let y = add_exponent(y, k);
            select(far, y - 1.0, y)
        }
    };
    select(k == 0, k0, select(k == -1, k_minus1, y))
}

/// The lanes a group of values can take, as far as [`tanh`] needs to know: each variant computes
/// only those of fdlibm's cases its lanes can take, with the same operations (so the same bits).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Any float.
    All,
    /// `|x| < 1` (no NaN): `expm1(−2|x|)` with k ∈ {0, −1, −2, −3}.
    Below1,
    /// `|x| < 0.52` (`2|x| < 1.5·ln2`, no NaN): k ∈ {0, −1}, fdlibm's `x + ln2_hi` for k = −1.
    BelowK2,
}

/// `|x|` by its bits, below this: [`Reach::Below1`].
const ONE: u32 = 0x3f80_0000;
/// `|x|` by its bits, below this: [`Reach::BelowK2`] (`2|x|` below fdlibm's `0x3f851592`,
/// 1.5·ln2; `|x| ≥ 2^−55`, so `2|x|` is `|x|` with the exponent one higher).
const K2: u32 = 0x3f05_1592;

impl Reach {
    /// The narrowest variant that covers every value of `xs`: one compare of `|x|`'s bits per
    /// bound, reduced over the group (a mask test on AVX-512).
    #[inline(always)]
    fn of(xs: &[f32]) -> Reach {
        let below = |bound: u32| !xs.iter().fold(false, |any, x| any | ((x.to_bits() & 0x7fff_ffff) >= bound));
        if below(K2) {
            Reach::BelowK2
        } else if below(ONE) {
            Reach::Below1
        } else {
            Reach::All
        }
    }
}

/// `tanh(x)`: fdlibm's tanhf, lane-friendly (module docs).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    tanh_reaching(x, Reach::All)
}

/// [`tanh`] of an `x` that [`Reach`] `reach` covers.
#[inline(always)]
fn tanh_reaching(x: f32, reach: Reach) -> f32 {
    let ix = x.to_bits() & 0x7fff_ffff;
    let ax = f32::from_bits(ix);
    let big = reach == Reach::All && ix >= ONE; // |x| ≥ 1
    let t = expm1(select(big, 2.0 * ax, -2.0 * ax), big, reach);
    // fdlibm's 1 − 2/(t + 2) or −t/(t + 2): one division, its numerator selected first. Both
    // are ≥ 0 (and not −0: t < 0 below 1), so the sign of x is put in with an `or`: −z.
    let q = select(big, 2.0, -t) / (t + 2.0);
    let z = select(big, 1.0 - q, q);
    // |x| ≥ 22, and ±inf (fdlibm's 1/x ± 1 is ±1 too): 1 − 1e−30, that is 1.
    let z = select(reach == Reach::All && ix >= 0x41b0_0000, 1.0 - 1.0e-30, z);
    let z = f32::from_bits(z.to_bits() | (x.to_bits() & 0x8000_0000));
    // |x| < 2^−55, and ±0: fdlibm's x·(1 + x), which is x (1 + x rounds to 1).
    let z = select(ix < 0x2400_0000, x, z);
    // NaN: x quieted (x + x, as 1/x − 1 gives it on x86), without a division.
    select(reach == Reach::All && ix > 0x7f80_0000, x + x, z)
}

/// Values per group of [`tanh_in_place`]: one AVX-512 register.
const GROUP: usize = 16;

/// `xs[i] = tanh(xs[i])` for every element, [`tanh`] lane-wise. Each group of 16 runs the
/// narrowest variant that covers it (`|x| < 0.52`, `|x| < 1` or any float, told by one compare
/// per bound and a mask test), with only the cases of fdlibm's its lanes can take: in the task
/// pass and the self-train step most groups lie within `|x| < 1`, where fdlibm's `|x| ≥ 1`,
/// `|x| ≥ 22`, NaN and `expm1`'s `k ≥ 3` cases cannot occur (docs/speed-log.md has the shares
/// and the timings; the same bits). `#[inline(always)]`, so that a
/// kernel run by [`super::dispatch`] gets it in AVX-512 or AVX2 instructions.
#[inline(always)]
pub fn tanh_in_place(xs: &mut [f32]) {
    let (groups, rest) = xs.as_chunks_mut::<GROUP>();
    for g in groups {
        // Each arm with its `Reach` a constant, so that each compiles to its own variant.
        match Reach::of(g) {
            Reach::BelowK2 => tanh_reaching_in_place(g, Reach::BelowK2),
            Reach::Below1 => tanh_reaching_in_place(g, Reach::Below1),
            Reach::All => tanh_reaching_in_place(g, Reach::All),
        }
    }
    tanh_reaching_in_place(rest, Reach::All);
}

/// [`tanh_reaching`] over `xs`: a plain loop, inlined (an iterator adapter's `for_each` can stay
/// out of line, compiled without the caller's AVX-512).
#[inline(always)]
fn tanh_reaching_in_place(xs: &mut [f32], reach: Reach) {
    for x in xs {
        *x = tanh_reaching(*x, reach);
    }
}
