//! The lane-wise `tanh` and `erf` of `organism::simd`, and `organism::activation::exp_in_place`
//! (the SIMD port of glibc's FMA `expf` that GELU's density and the softmax run), against the
//! functions they port: the platform's `f32::tanh` (glibc's tanhf), `libm::erff` and the
//! platform's `f32::exp`.

use organism::activation::exp_in_place;
use organism::simd::{erf, tanh, tanh_in_place};
use std::ops::RangeInclusive;

/// The bit patterns of `range`, every `stride`th, where `simd` (run as the kernels run it,
/// through `simd::dispatch`, on blocks of 4,096) and `reference` differ.
fn mismatches(
    range: RangeInclusive<u32>,
    stride: usize,
    simd: impl Fn(&mut [f32]),
    reference: impl Fn(f32) -> f32,
) -> Vec<u32> {
    let mut bits = range.step_by(stride).peekable();
    let (mut bad, mut block, mut ys) = (Vec::new(), Vec::with_capacity(4096), vec![0.0; 4096]);
    while bits.peek().is_some() {
        block.clear();
        block.extend(bits.by_ref().take(4096));
        let ys = &mut ys[..block.len()];
        ys.iter_mut().zip(&block).for_each(|(y, &b)| *y = f32::from_bits(b));
        organism::simd::dispatch(
            #[inline(always)]
            || simd(ys),
        );
        for (&b, y) in block.iter().zip(ys.iter()) {
            let r = reference(f32::from_bits(b));
            if y.to_bits() != r.to_bits() && !(y.is_nan() && r.is_nan()) {
                bad.push(b);
            }
        }
    }
    bad
}

/// [`mismatches`] of `tanh_in_place` as it comes (a run of nearby floats mostly fills whole
/// groups with one case of fdlibm's), and with every value beside each `MATES` value in turn:
/// [`tanh_beside`]. So every value runs through every variant of `tanh_in_place` that can be
/// given it (`|x| < 0.52`, `|x| < 1`, any), uniform groups and mixed ones.
fn tanh_mismatches(stride: usize) -> Vec<u32> {
    const MATES: [f32; 3] = [0.75, 2.0, f32::NAN];
    let mut bad = mismatches(0..=u32::MAX, stride, tanh_in_place, f32::tanh);
    for mate in MATES {
        bad.extend(mismatches(0..=u32::MAX, stride, tanh_beside(mate), f32::tanh));
    }
    bad
}

/// `tanh_in_place` of values with `mate` as every 8th lane between them (so every group of 8 or
/// 16 lanes holds it and runs the variant that covers both), the values' results written back.
fn tanh_beside(mate: f32) -> impl Fn(&mut [f32]) {
    move |ys| {
        let mut lanes: Vec<f32> = ys.chunks(7).flat_map(|c| c.iter().copied().chain([mate])).collect();
        organism::simd::dispatch(
            #[inline(always)]
            || tanh_in_place(&mut lanes),
        );
        let results = lanes.chunks(8).flat_map(|c| &c[..c.len() - 1]);
        ys.iter_mut().zip(results).for_each(|(y, r)| *y = *r);
    }
}

fn exp_mismatches(start: u32, stride: usize) -> Vec<u32> {
    mismatches(start..=u32::MAX, stride, exp_in_place, f32::exp)
}

fn erf_mismatches(range: RangeInclusive<u32>, stride: usize) -> Vec<u32> {
    mismatches(
        range,
        stride,
        #[inline(always)]
        |ys| ys.iter_mut().for_each(|y| *y = erf(*y)),
        libm::erff,
    )
}

/// glibc's libm is fdlibm's tanhf: the same bits on every 1,021st float (≈ 4.2 million, every
/// exponent and both signs), in every variant of `tanh_in_place`; `--ignored` checks all 2³².
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn tanh_is_libm_tanhf_bitwise() {
    let bad = tanh_mismatches(1021);
    assert!(bad.is_empty(), "{} mismatches, e.g. {:#010x}", bad.len(), bad[0]);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
#[ignore = "every f32, four times: 25 minutes on a loaded 2-core VM"]
fn tanh_is_libm_tanhf_bitwise_everywhere() {
    let bad = tanh_mismatches(1);
    assert!(bad.is_empty(), "{} mismatches, e.g. {:#010x}", bad.len(), bad[0]);
}

/// The same bits as `libm::erff` on every 1,021st float (≈ 4.2 million, every exponent and
/// both signs), and on every 3rd of `0.5 ≤ |x| ≤ 6`, where erff's cases meet and its `expf` runs
/// (≈ 20 million); `--ignored` checks all 2³².
#[test]
fn erf_is_libm_erff_bitwise() {
    let bad = erf_mismatches(0..=u32::MAX, 1021);
    assert!(bad.is_empty(), "{} mismatches, e.g. {:#010x}", bad.len(), bad[0]);
    for sign in [0, 0x8000_0000] {
        let bad = erf_mismatches(sign | 0x3f00_0000..=sign | 0x40c0_0000, 3);
        assert!(bad.is_empty(), "{} mismatches, e.g. {:#010x}", bad.len(), bad[0]);
    }
}

#[test]
#[ignore = "every f32: a few minutes"]
fn erf_is_libm_erff_bitwise_everywhere() {
    let bad = erf_mismatches(0..=u32::MAX, 1);
    assert!(bad.is_empty(), "{} mismatches, e.g. {:#010x}", bad.len(), bad[0]);
}

/// The cases fdlibm singles out.
#[test]
fn tanh_special_values() {
    assert_eq!(tanh(0.0).to_bits(), 0.0f32.to_bits());
    assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
    assert_eq!(tanh(f32::INFINITY), 1.0);
    assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
    assert!(tanh(f32::NAN).is_nan());
    assert_eq!(tanh(30.0), 1.0);
    assert_eq!(tanh(-30.0), -1.0);
    assert_eq!(tanh(1e-20), 1e-20);
}

/// The cases erff singles out, and one value in each of its ranges.
#[test]
fn erf_special_values() {
    assert_eq!(erf(0.0).to_bits(), 0.0f32.to_bits());
    assert_eq!(erf(-0.0).to_bits(), (-0.0f32).to_bits());
    assert_eq!(erf(f32::INFINITY), 1.0);
    assert_eq!(erf(f32::NEG_INFINITY), -1.0);
    assert!(erf(f32::NAN).is_nan());
    assert_eq!(erf(7.0), 1.0);
    assert_eq!(erf(-7.0), -1.0);
    for x in [1e-30, 0.5, -1.0, 2.0, -3.5, 5.9] {
        assert_eq!(erf(x).to_bits(), libm::erff(x).to_bits(), "{x}");
    }
}

/// The slice form is the scalar one, element by element, also when dispatched to AVX-512 or AVX2.
#[test]
fn tanh_in_place_is_tanh() {
    let xs: Vec<f32> = (0..10_007u32).map(|i| f32::from_bits(i.wrapping_mul(429_497) ^ 0x3c00_0000)).collect();
    let mut ys = xs.clone();
    organism::simd::dispatch(
        #[inline(always)]
        || tanh_in_place(&mut ys),
    );
    for (x, y) in xs.iter().zip(&ys) {
        assert!(y.to_bits() == tanh(*x).to_bits() || (y.is_nan() && x.is_nan()), "{x}");
    }
}

#[test]
fn exp_matches_libm_on_a_dense_sample() {
    // Every 997th float (4.3 M values), both signs, every exponent, the rare cases (|x| ≥ 88,
    // infinities, NaNs) among them; and a sample offset by one, so neighbours are checked too.
    assert_eq!(exp_mismatches(0, 997), Vec::<u32>::new());
    assert_eq!(exp_mismatches(1, 10_007), Vec::<u32>::new());
}

/// Slices shorter than a group, and groups mixing ordinary and rare values (NaN bits included).
#[test]
fn exp_of_short_slices_and_rare_values() {
    let xs = [0.5, -1.0, 88.7, -104.0, -103.5, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3.0, -0.0, 1e-30];
    for n in 0..=xs.len() {
        let mut ys = xs[..n].to_vec();
        exp_in_place(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            assert_eq!(y.to_bits(), x.exp().to_bits(), "e^{x}");
        }
    }
}

#[test]
#[ignore = "every f32: about a minute"]
fn exp_matches_libm_on_every_float() {
    assert_eq!(exp_mismatches(0, 1), Vec::<u32>::new());
}
