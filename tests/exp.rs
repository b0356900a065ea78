//! `organism::activation::exp_in_place` (the SIMD port of glibc's FMA `expf` that GELU's
//! density and the softmax run) against the platform's `f32::exp`, bit for bit.

use organism::activation::exp_in_place;

/// The bit patterns `start, start + stride, …` (up to `u32::MAX`) where `exp_in_place`, on
/// blocks of 4,096 as the task pass runs it, differs from `f32::exp` in any bit (NaN included).
fn mismatches(start: u32, stride: usize) -> Vec<u32> {
    let mut bits = (start..=u32::MAX).step_by(stride).peekable();
    let (mut bad, mut block, mut ys) = (Vec::new(), Vec::with_capacity(4096), vec![0.0; 4096]);
    while bits.peek().is_some() {
        block.clear();
        block.extend(bits.by_ref().take(4096));
        let ys = &mut ys[..block.len()];
        ys.iter_mut().zip(&block).for_each(|(y, &b)| *y = f32::from_bits(b));
        exp_in_place(ys);
        bad.extend(
            block
                .iter()
                .zip(ys.iter())
                .filter(|(&b, y)| y.to_bits() != f32::from_bits(b).exp().to_bits())
                .map(|(&b, _)| b),
        );
    }
    bad
}

#[test]
fn exp_matches_libm_on_a_dense_sample() {
    // Every 997th float (4.3 M values), both signs, every exponent, the rare cases (|x| ≥ 88,
    // infinities, NaNs) among them; and a sample offset by one, so neighbours are checked too.
    assert_eq!(mismatches(0, 997), Vec::<u32>::new());
    assert_eq!(mismatches(1, 10_007), Vec::<u32>::new());
}

#[test]
fn exp_of_short_slices_and_rare_values() {
    // Slices shorter than a group, and groups mixing ordinary and rare values.
    let xs = [0.5, -1.0, 88.7, -104.0, -103.5, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3.0, -0.0, 1e-30];
    for n in 0..=xs.len() {
        let mut ys = xs[..n].to_vec();
        exp_in_place(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            assert_eq!(y.to_bits(), x.exp().to_bits(), "e^{x}");
        }
    }
}

/// All 2³² floats (≈ 1 min on one core): `cargo test --release --test exp -- --ignored`.
#[test]
#[ignore]
fn exp_matches_libm_on_every_float() {
    assert_eq!(mismatches(0, 1), Vec::<u32>::new());
}
