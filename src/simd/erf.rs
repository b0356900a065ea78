//! `erf` over long slices: fdlibm's erff as the `libm` crate ships it (`libm::erff`, which GELU
//! used one value at a time), written without branches, so that a loop over a slice runs as SIMD
//! instructions. Its `|x| ≥ 1.25` case needs `expf`: libm's, ported the same way ([`exp`]). The
//! same operations in the same order, so the same bits as `libm::erff` (tests/simd.rs compares
//! them on sampled floats; its `--ignored` test covers all 2³² of them).

use super::{add_exponent, select};

// libm's expf constants (e_expf.c), written as libm writes them.
const LN2_HI: f32 = 6.9314575195e-01;
const LN2_LO: f32 = 1.4286067653e-06;
const INV_LN2: f32 = 1.4426950216e+00;
const P1: f32 = 1.6666625440e-1;
const P2: f32 = -2.7667332906e-3;

/// libm's `expf(x)` for the arguments [`erf`] gives it (`−37 < x < 1`, checked on every float by
/// the tests of `erf`): none of its special cases (overflow, underflow, NaN) applies and the
/// result is normal, so `scalbnf(y, k)` is [`add_exponent`]. Every argument reduction is
/// computed and the one libm takes selected; with `k = 0` the reduction leaves `x` as it is.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let hx = x.to_bits() & 0x7fff_ffff;
    let neg = x.to_bits() >> 31 != 0;
    // x = k·ln2 + r, r = hi − lo.
    let kr = (INV_LN2 * x + select(neg, -0.5, 0.5)) as i32;
    let k = if hx > 0x3eb1_7218 {
        if hx > 0x3f85_1592 {
            kr
        } else if neg {
            -1
        } else {
            1
        }
    } else {
        0
    };
    let kf = k as f32;
    let hi = x - kf * LN2_HI;
    let lo = kf * LN2_LO;
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (P1 + rr * P2);
    let y = add_exponent(1.0 + (r * c / (2.0 - c) - lo + hi), k);
    // |x| ≤ 2^−14: 1 + x.
    select(hx <= 0x3900_0000, 1.0 + x, y)
}

// libm's erff constants (s_erff.c), written as libm writes them.
const ERX: f32 = 8.4506291151e-01;
const EFX8: f32 = 1.0270333290e+00;
/// erf on `[0, 0.84375]`: `x + x·R(x²)/S(x²)`.
const PP: [f32; 5] = [1.2837916613e-01, -3.2504209876e-01, -2.8481749818e-02, -5.7702702470e-03, -2.3763017452e-05];
const QQ: [f32; 5] = [3.9791721106e-01, 6.5022252500e-02, 5.0813062117e-03, 1.3249473704e-04, -3.9602282413e-06];
/// erf on `[0.84375, 1.25]`: `1 − ((1 − erx) − P(s)/Q(s))`, `s = |x| − 1`.
const PA: [f32; 7] = [
    -2.3621185683e-03,
    4.1485610604e-01,
    -3.7220788002e-01,
    3.1834661961e-01,
    -1.1089469492e-01,
    3.5478305072e-02,
    -2.1663755178e-03,
];
const QA: [f32; 6] =
    [1.0642088205e-01, 5.4039794207e-01, 7.1828655899e-02, 1.2617121637e-01, 1.3637083583e-02, 1.1984500103e-02];
/// erfc on `[1.25, 1/0.35]` (`RA`, `SA`) and `[1/0.35, 6]` (`RB`, `SB`, one term shorter: a
/// trailing zero, as `c + s·0 = c` exactly, lets one Horner scheme run both).
const RA: [f32; 8] = [
    -9.8649440333e-03,
    -6.9385856390e-01,
    -1.0558626175e+01,
    -6.2375331879e+01,
    -1.6239666748e+02,
    -1.8460508728e+02,
    -8.1287437439e+01,
    -9.8143291473e+00,
];
const SA: [f32; 8] = [
    1.9651271820e+01,
    1.3765776062e+02,
    4.3456588745e+02,
    6.4538726807e+02,
    4.2900814819e+02,
    1.0863500214e+02,
    6.5702495575e+00,
    -6.0424413532e-02,
];
const RB: [f32; 8] = [
    -9.8649431020e-03,
    -7.9928326607e-01,
    -1.7757955551e+01,
    -1.6063638306e+02,
    -6.3756646729e+02,
    -1.0250950928e+03,
    -4.8351919556e+02,
    0.0,
];
const SB: [f32; 8] = [
    3.0338060379e+01,
    3.2579251099e+02,
    1.5367296143e+03,
    3.1998581543e+03,
    2.5530502930e+03,
    4.7452853394e+02,
    -2.2440952301e+01,
    0.0,
];

/// `c[0] + s·(c[1] + s·(… + s·c[n−1]))`, libm's nesting.
#[inline(always)]
fn horner<const N: usize>(c: [f32; N], s: f32) -> f32 {
    let mut p = c[N - 1];
    for &ci in c[..N - 1].iter().rev() {
        p = ci + s * p;
    }
    p
}

/// `erf(x)`: libm's erff, lane-friendly (module docs). The cases `|x| < 0.84375` and
/// `0.84375 ≤ |x| < 1.25` are exclusive, so they share one division (numerator and denominator
/// selected first); the erfc tail selects its coefficients, not its result.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let ix = x.to_bits() & 0x7fff_ffff;
    let ax = f32::from_bits(ix);
    let small = ix < 0x3f58_0000; // |x| < 0.84375
                                  // |x| < 0.84375: x + x·r/s.
    let z = x * x;
    let r = horner(PP, z);
    let s = 1.0 + z * horner(QQ, z);
    // 0.84375 ≤ |x| < 1.25: 1 − ((1 − erx) − p/q).
    let t = ax - 1.0;
    let p = horner(PA, t);
    let q = 1.0 + t * horner(QA, t);
    let ratio = select(small, r, p) / select(small, s, q);
    let near = 1.0 - (1.0 - ERX - ratio);
    // 1.25 ≤ |x| < 6: 1 − erfc(|x|), erfc(x) = exp(−z² − 0.5625)·exp((z − x)(z + x) + R/S)/x with
    // z = x to 12 bits.
    let s = 1.0 / (ax * ax);
    let a = ix < 0x4036_db6d; // |x| < 1/0.35
    let pick = |ca: [f32; 8], cb: [f32; 8]| -> [f32; 8] { std::array::from_fn(|i| select(a, ca[i], cb[i])) };
    let big_r = horner(pick(RA, RB), s);
    let big_s = 1.0 + s * horner(pick(SA, SB), s);
    let zt = f32::from_bits(ix & 0xffff_e000);
    let far = 1.0 - exp(-zt * zt - 0.5625) * exp((zt - ax) * (zt + ax) + big_r / big_s) / ax;
    let y = select(ix < 0x3fa0_0000, near, far);
    let y = select(ix < 0x40c0_0000, y, 1.0 - f32::from_bits(0x0380_0000)); // |x| ≥ 6
    let y = select(x.to_bits() >> 31 != 0, -y, y);
    let y = select(small, x + x * ratio, y);
    let y = select(ix < 0x3180_0000, 0.125 * (8.0 * x + EFX8 * x), y); // |x| < 2^−28, and ±0
                                                                       // ±inf: libm's 1 − 2·sign + 1/x is ±1; NaN: x quieted (x + x, as 1/x gives it on x86).
    let inf = select(x.to_bits() >> 31 != 0, -1.0, 1.0);
    select(ix > 0x7f80_0000, x + x, select(ix == 0x7f80_0000, inf, y))
}
