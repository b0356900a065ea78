//! `erf` over long slices: fdlibm's erff as the `libm` crate ships it (`libm::erff`, which GELU
//! used one value at a time), written without branches, so that a loop over a slice runs as SIMD
//! instructions. Its `|x| ≥ 1.25` case needs `expf`: libm's, ported the same way ([`exp`]). The
//! same operations in the same order, so the same bits as `libm::erff` (tests/simd.rs compares
//! them on sampled floats; its `--ignored` test covers all 2³² of them).

use super::{add_exponent, select, small_int};

// libm's expf constants (e_expf.c), by their bits.
const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
const P1: f32 = f32::from_bits(0x3e2a_aa8f);
const P2: f32 = f32::from_bits(0xbb35_5215);

/// libm's `expf(x)` for the arguments [`erf`] gives it (`−37 < x < 1`, checked on every float by
/// the tests of `erf`): none of its special cases (overflow, underflow, NaN) applies and the
/// result is normal, so `scalbnf(y, k)` is [`add_exponent`]. Every argument reduction is
/// computed and the one libm takes selected; with `k = 0` the reduction leaves `x` as it is.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let hx = x.to_bits() & 0x7fff_ffff;
    let neg = x.to_bits() >> 31 != 0;
    // x = k·ln2 + r, r = hi − lo; libm's `(INV_LN2·x ± 0.5) as i32`, |k| < 2^6 here, as a
    // float (`trunc`) and then as an integer ([`small_int`]).
    let kr = (INV_LN2 * x + select(neg, -0.5, 0.5)).trunc();
    let kf = select(hx > 0x3f85_1592, kr, select(neg, -1.0, 1.0));
    let kf = select(hx > 0x3eb1_7218, kf, 0.0);
    let k = small_int(kf);
    let hi = x - kf * LN2_HI;
    let lo = kf * LN2_LO;
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (P1 + rr * P2);
    let y = add_exponent(1.0 + (r * c / (2.0 - c) - lo + hi), k);
    // |x| ≤ 2^−14: 1 + x.
    select(hx <= 0x3900_0000, 1.0 + x, y)
}

// libm's erff constants (s_erff.c), by their bits.
const ERX: f32 = f32::from_bits(0x3f58_560b);
const EFX8: f32 = f32::from_bits(0x3f83_75d4);
/// erf on `[0, 0.84375]`: `x + x·R(x²)/S(x²)`.
const PP: [f32; 5] = [
    f32::from_bits(0x3e03_75d4),
    f32::from_bits(0xbea6_6beb),
    f32::from_bits(0xbce9_528f),
    f32::from_bits(0xbbbd_1489),
    f32::from_bits(0xb7c7_56b1),
];
const QQ: [f32; 5] = [
    f32::from_bits(0x3ecb_bbce),
    f32::from_bits(0x3d85_2a63),
    f32::from_bits(0x3ba6_8116),
    f32::from_bits(0x390a_ee49),
    f32::from_bits(0xb684_e21a),
];
/// erf on `[0.84375, 1.25]`: `1 − ((1 − erx) − P(s)/Q(s))`, `s = |x| − 1`.
const PA: [f32; 7] = [
    f32::from_bits(0xbb1a_cdc6),
    f32::from_bits(0x3ed4_6805),
    f32::from_bits(0xbebe_9208),
    f32::from_bits(0x3ea2_fe54),
    f32::from_bits(0xbde3_1cc2),
    f32::from_bits(0x3d11_51b3),
    f32::from_bits(0xbb0d_f9c0),
];
const QA: [f32; 6] = [
    f32::from_bits(0x3dd9_f331),
    f32::from_bits(0x3f0a_5785),
    f32::from_bits(0x3d93_1ae7),
    f32::from_bits(0x3e01_3307),
    f32::from_bits(0x3c5f_6e13),
    f32::from_bits(0x3c44_5aa3),
];
/// erfc on `[1.25, 1/0.35]` (`RA`, `SA`) and `[1/0.35, 6]` (`RB`, `SB`, one term shorter: a
/// trailing zero, as `c + s·0 = c` exactly, lets one Horner scheme run both).
const RA: [f32; 8] = [
    f32::from_bits(0xbc21_a093),
    f32::from_bits(0xbf31_a0b7),
    f32::from_bits(0xc128_f022),
    f32::from_bits(0xc279_8057),
    f32::from_bits(0xc322_658c),
    f32::from_bits(0xc338_9ae7),
    f32::from_bits(0xc2a2_932b),
    f32::from_bits(0xc11d_077e),
];
const SA: [f32; 8] = [
    f32::from_bits(0x419d_35ce),
    f32::from_bits(0x4309_a863),
    f32::from_bits(0x43d9_486f),
    f32::from_bits(0x4421_58c9),
    f32::from_bits(0x43d6_810b),
    f32::from_bits(0x42d9_451f),
    f32::from_bits(0x40d2_3f7c),
    f32::from_bits(0xbd77_7f97),
];
const RB: [f32; 8] = [
    f32::from_bits(0xbc21_a092),
    f32::from_bits(0xbf4c_9dd4),
    f32::from_bits(0xc18e_104b),
    f32::from_bits(0xc320_a2ea),
    f32::from_bits(0xc41f_6441),
    f32::from_bits(0xc480_230b),
    f32::from_bits(0xc3f1_c275),
    0.0,
];
const SB: [f32; 8] = [
    f32::from_bits(0x41f2_b459),
    f32::from_bits(0x43a2_e571),
    f32::from_bits(0x44c0_1759),
    f32::from_bits(0x4547_fdbb),
    f32::from_bits(0x451f_90ce),
    f32::from_bits(0x43ed_43a7),
    f32::from_bits(0xc1b3_8712),
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
