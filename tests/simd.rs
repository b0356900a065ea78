//! The lane-wise `tanh` of `organism::simd` against the platform's `f32::tanh`.

use organism::simd::{tanh, tanh_in_place};

/// The bit patterns `start, start + stride, …` up to `u32::MAX` where [`tanh_in_place`] (run
/// as the kernels run it, through `simd::dispatch`, on blocks of 4,096) and `f32::tanh` differ.
fn mismatches(start: u32, stride: usize) -> Vec<u32> {
    let mut bits = (start..=u32::MAX).step_by(stride).peekable();
    let (mut bad, mut block, mut ys) = (Vec::new(), Vec::with_capacity(4096), vec![0.0; 4096]);
    while bits.peek().is_some() {
        block.clear();
        block.extend(bits.by_ref().take(4096));
        let ys = &mut ys[..block.len()];
        ys.iter_mut().zip(&block).for_each(|(y, &b)| *y = f32::from_bits(b));
        organism::simd::dispatch(|| tanh_in_place(ys));
        for (&b, y) in block.iter().zip(ys.iter()) {
            let r = f32::from_bits(b).tanh();
            if y.to_bits() != r.to_bits() && !(y.is_nan() && r.is_nan()) {
                bad.push(b);
            }
        }
    }
    bad
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

/// The slice form is the scalar one, element by element, also when dispatched to AVX2.
#[test]
fn tanh_in_place_is_tanh() {
    let xs: Vec<f32> = (0..10_007u32).map(|i| f32::from_bits(i.wrapping_mul(429_497) ^ 0x3c00_0000)).collect();
    let mut ys = xs.clone();
    organism::simd::dispatch(|| tanh_in_place(&mut ys));
    for (x, y) in xs.iter().zip(&ys) {
        assert!(y.to_bits() == tanh(*x).to_bits() || (y.is_nan() && x.is_nan()), "{x}");
    }
}
