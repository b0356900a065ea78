//! The lane-wise `tanh` of `organism::simd` against the platform's `f32::tanh`.

use organism::simd::tanh;

/// The bit patterns `start, start + stride, …` up to `u32::MAX` where the two differ.
fn mismatches(start: u32, stride: usize) -> Vec<u32> {
    (start..=u32::MAX)
        .step_by(stride)
        .filter(|&b| {
            let x = f32::from_bits(b);
            let (a, r) = (tanh(x), x.tanh());
            a.to_bits() != r.to_bits() && !(a.is_nan() && r.is_nan())
        })
        .collect()
}

/// glibc's libm is fdlibm's tanhf: the same bits on every 1,021st float (≈ 4.2 million, every
/// exponent and both signs; `--ignored` checks all 2³²).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn tanh_is_libm_tanhf_bitwise() {
    let bad = mismatches(0, 1021);
    assert!(bad.is_empty(), "{} mismatches, e.g. {:#010x}", bad.len(), bad[0]);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
#[ignore = "every f32: about a minute"]
fn tanh_is_libm_tanhf_bitwise_everywhere() {
    let bad = mismatches(0, 1);
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
