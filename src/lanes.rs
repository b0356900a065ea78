//! Structure of arrays across particles: [`LANES`] particles side by side.
//!
//! Every kernel is written once over a [`Lanes`] type: `f32` for one particle, [`F32s`] for
//! [`LANES`] particles at once. The operations are applied lane by lane in the same order as for
//! one particle, so every lane's result is bitwise the one-particle result; the compiler turns
//! the lane loops into SIMD instructions.

use std::ops::{Add, AddAssign, Div, Mul, Sub};

/// Particles per SIMD group.
pub const LANES: usize = 8;

/// A number, or [`LANES`] numbers operated on lane by lane.
pub trait Lanes:
    Copy + Send + Sync + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> + AddAssign
{
    /// The same value in every lane.
    fn splat(x: f32) -> Self;
    /// `f` applied to every lane.
    fn map(self, f: impl Fn(f32) -> f32) -> Self;
    /// `f` applied to every pair of lanes of `self` and `o`.
    fn zip_map(self, o: Self, f: impl Fn(f32, f32) -> f32) -> Self;
    /// All lanes of `xs`, one after the other, as one slice of numbers (for element-wise work
    /// over long slices).
    fn flat_mut(xs: &mut [Self]) -> &mut [f32];
}

impl Lanes for f32 {
    #[inline(always)]
    fn splat(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn map(self, f: impl Fn(f32) -> f32) -> Self {
        f(self)
    }
    #[inline(always)]
    fn zip_map(self, o: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        f(self, o)
    }
    #[inline(always)]
    fn flat_mut(xs: &mut [Self]) -> &mut [f32] {
        xs
    }
}

/// [`LANES`] values of one quantity, one per particle of a group.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C, align(32))]
pub struct F32s(pub [f32; LANES]);

macro_rules! lanewise {
    ($trait:ident, $method:ident, $op:tt) => {
        impl $trait for F32s {
            type Output = F32s;
            #[inline(always)]
            fn $method(self, o: F32s) -> F32s {
                F32s(std::array::from_fn(|k| self.0[k] $op o.0[k]))
            }
        }
    };
}
lanewise!(Add, add, +);
lanewise!(Sub, sub, -);
lanewise!(Mul, mul, *);
lanewise!(Div, div, /);

impl AddAssign for F32s {
    #[inline(always)]
    fn add_assign(&mut self, o: F32s) {
        *self = *self + o;
    }
}

impl Lanes for F32s {
    #[inline(always)]
    fn splat(x: f32) -> Self {
        F32s([x; LANES])
    }
    #[inline(always)]
    fn map(self, f: impl Fn(f32) -> f32) -> Self {
        F32s(self.0.map(f))
    }
    #[inline(always)]
    fn zip_map(self, o: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        F32s(std::array::from_fn(|k| f(self.0[k], o.0[k])))
    }
    #[inline(always)]
    fn flat_mut(xs: &mut [Self]) -> &mut [f32] {
        // SAFETY: F32s is `repr(C)` over `[f32; LANES]` with no padding (size LANES·4, a
        // multiple of its alignment), so `xs` is `xs.len()·LANES` initialised f32s, borrowed
        // mutably for the same lifetime.
        unsafe { std::slice::from_raw_parts_mut(xs.as_mut_ptr().cast::<f32>(), xs.len() * LANES) }
    }
}

/// `rows × LANES` lanes ← up to [`LANES`] consecutive blocks of `rows` values (missing blocks
/// read as zero): particles side by side.
///
/// A full group moves in tiles of `LANES × LANES` values, each a transpose of `LANES` runs of
/// contiguous loads: a plain loop over the rows of one block is a strided store per value,
/// which LLVM, given AVX-512, vectorises into scatter instructions (slower than moving every
/// value alone).
#[inline(always)]
pub fn gather(blocks: &[f32], rows: usize, out: &mut [F32s]) {
    let out = &mut out[..rows];
    if blocks.len() == LANES * rows {
        let tiles = rows / LANES * LANES;
        for (r, o) in (0..tiles).step_by(LANES).zip(out.chunks_exact_mut(LANES)) {
            let tile: [[f32; LANES]; LANES] =
                std::array::from_fn(|lane| std::array::from_fn(|i| blocks[lane * rows + r + i]));
            for (i, o) in o.iter_mut().enumerate() {
                *o = F32s(std::array::from_fn(|lane| tile[lane][i]));
            }
        }
        for (r, o) in out.iter_mut().enumerate().skip(tiles) {
            *o = F32s(std::array::from_fn(|lane| blocks[lane * rows + r]));
        }
    } else {
        out.fill(F32s::default());
        for (lane, block) in blocks.chunks_exact(rows).enumerate() {
            for (o, &v) in out.iter_mut().zip(block) {
                o.0[lane] = v;
            }
        }
    }
}

/// The inverse of [`gather`]: lanes back into as many blocks of `rows` as `blocks` holds (in
/// tiles for a full group, as [`gather`]).
#[inline(always)]
pub fn scatter(lanes: &[F32s], rows: usize, blocks: &mut [f32]) {
    let lanes = &lanes[..rows];
    if blocks.len() == LANES * rows {
        let tiles = rows / LANES * LANES;
        for (r, l) in (0..tiles).step_by(LANES).zip(lanes.chunks_exact(LANES)) {
            let tile: [[f32; LANES]; LANES] = std::array::from_fn(|lane| std::array::from_fn(|i| l[i].0[lane]));
            for (lane, t) in tile.iter().enumerate() {
                blocks[lane * rows + r..][..LANES].copy_from_slice(t);
            }
        }
        for (r, l) in lanes.iter().enumerate().skip(tiles) {
            for (lane, &v) in l.0.iter().enumerate() {
                blocks[lane * rows + r] = v;
            }
        }
    } else {
        for (lane, block) in blocks.chunks_exact_mut(rows).enumerate() {
            for (b, l) in block.iter_mut().zip(lanes) {
                *b = l.0[lane];
            }
        }
    }
}
