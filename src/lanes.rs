//! Structure of arrays across particles: groups of particles side by side.
//!
//! Every kernel is written once over a [`Lanes`] type: `f32` for one particle, [`F32s`] for
//! [`LANES`] particles at once, [`F32x16`] for [`WIDE`]. The operations are applied lane by lane
//! in the same order as for one particle, so every lane's result is bitwise the one-particle
//! result, whatever the group's width; the compiler turns the lane loops into SIMD instructions.

use std::ops::{Add, AddAssign, Div, Mul, Sub};

/// Particles per SIMD group of most particle operations, and the partial sums of the dense
/// kernels (`organism::dense`; that order fixes their bits, so it does not follow [`WIDE`]).
pub const LANES: usize = 8;

/// Particles per group of the general path's self-train step ([`F32x16`]): one AVX-512
/// register of f32.
pub const WIDE: usize = 16;

/// A number, or a group of numbers operated on lane by lane.
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
    /// All lanes of `xs`, one after the other (as [`Lanes::flat_mut`]).
    fn flat(xs: &[Self]) -> &[f32];
    /// `acc[k] += a[k] · b` for every k: a block of K independent sums, each one step further
    /// (a multiply then an add, never fused: the bits of `acc[k] += a[k] * b` one k at a time).
    /// A group runs its lanes in the outer loop, so each sum stays one register: LLVM had
    /// vectorised a loop over the K sums of 16 lanes across the sums (xmm registers, gathers).
    fn mul_add_block<const K: usize>(acc: &mut [Self; K], a: [Self; K], b: Self);
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
    #[inline(always)]
    fn flat(xs: &[Self]) -> &[f32] {
        xs
    }
    #[inline(always)]
    fn mul_add_block<const K: usize>(acc: &mut [Self; K], a: [Self; K], b: Self) {
        for k in 0..K {
            acc[k] += a[k] * b;
        }
    }
}

/// A group of `N` lanes, one particle each: its lanes as an array, for moving particles in and
/// out ([`gather`], [`scatter`]).
pub trait Group<const N: usize>: Lanes + Default {
    /// The group holding `lanes`.
    fn new(lanes: [f32; N]) -> Self;
    /// The lanes.
    fn lanes(&self) -> &[f32; N];
    /// The lanes, mutable.
    fn lanes_mut(&mut self) -> &mut [f32; N];
}

/// A group type of `$n` lanes aligned to `$align` bytes (the width of the register it fills).
/// Its operations are plain index loops, not `array::map` or `array::from_fn`: those are
/// functions of their own, which LLVM may leave out of line, compiled for the baseline
/// instruction set, inside a kernel run by [`crate::simd::dispatch`] (`[f32; 8]::map` had made
/// the exp port call libm's `fma` per value).
macro_rules! group {
    ($(#[$doc:meta])* $name:ident, $n:expr, $align:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[repr(C, align($align))]
        pub struct $name(pub [f32; $n]);

        impl Default for $name {
            #[inline(always)]
            fn default() -> Self {
                $name([0.0; $n])
            }
        }

        lanewise!($name, Add, add, +);
        lanewise!($name, Sub, sub, -);
        lanewise!($name, Mul, mul, *);
        lanewise!($name, Div, div, /);

        impl AddAssign for $name {
            #[inline(always)]
            fn add_assign(&mut self, o: $name) {
                *self = *self + o;
            }
        }

        impl Lanes for $name {
            #[inline(always)]
            fn splat(x: f32) -> Self {
                $name([x; $n])
            }
            #[inline(always)]
            fn map(self, f: impl Fn(f32) -> f32) -> Self {
                let mut r = self;
                for k in 0..$n {
                    r.0[k] = f(self.0[k]);
                }
                r
            }
            #[inline(always)]
            fn zip_map(self, o: Self, f: impl Fn(f32, f32) -> f32) -> Self {
                let mut r = self;
                for k in 0..$n {
                    r.0[k] = f(self.0[k], o.0[k]);
                }
                r
            }
            #[inline(always)]
            fn flat_mut(xs: &mut [Self]) -> &mut [f32] {
                // SAFETY: the type is `repr(C)` over `[f32; $n]` with no padding (size $n·4, a
                // multiple of its alignment), so `xs` is `xs.len()·$n` initialised f32s,
                // borrowed mutably for the same lifetime.
                unsafe { std::slice::from_raw_parts_mut(xs.as_mut_ptr().cast::<f32>(), xs.len() * $n) }
            }
            #[inline(always)]
            fn flat(xs: &[Self]) -> &[f32] {
                // SAFETY: as `flat_mut`, borrowed shared.
                unsafe { std::slice::from_raw_parts(xs.as_ptr().cast::<f32>(), xs.len() * $n) }
            }
            #[inline(always)]
            fn mul_add_block<const K: usize>(acc: &mut [Self; K], a: [Self; K], b: Self) {
                for lane in 0..$n {
                    for k in 0..K {
                        acc[k].0[lane] += a[k].0[lane] * b.0[lane];
                    }
                }
            }
        }

        impl Group<{ $n }> for $name {
            #[inline(always)]
            fn new(lanes: [f32; $n]) -> Self {
                $name(lanes)
            }
            #[inline(always)]
            fn lanes(&self) -> &[f32; $n] {
                &self.0
            }
            #[inline(always)]
            fn lanes_mut(&mut self) -> &mut [f32; $n] {
                &mut self.0
            }
        }
    };
}

macro_rules! lanewise {
    ($name:ident, $trait:ident, $method:ident, $op:tt) => {
        impl $trait for $name {
            type Output = $name;
            #[inline(always)]
            fn $method(self, o: $name) -> $name {
                let mut r = self;
                for k in 0..r.0.len() {
                    r.0[k] = self.0[k] $op o.0[k];
                }
                r
            }
        }
    };
}

group!(
    /// [`LANES`] values of one quantity, one per particle of a group (one AVX2 register).
    F32s,
    LANES,
    32
);
group!(
    /// [`WIDE`] values of one quantity, one per particle of a group (one AVX-512 register).
    F32x16,
    WIDE,
    64
);

/// Side of the square tiles [`gather`] and [`scatter`] move a full group in; a group's width
/// is a multiple of it.
const TILE: usize = 8;

/// `M` values from the start of `s`, as an array (one bounds check for the run).
#[inline(always)]
fn run<const M: usize>(s: &[f32]) -> [f32; M] {
    s[..M].try_into().expect("a slice of M values is an array of M")
}

/// `rows × N` lanes ← up to `N` consecutive blocks of `rows` values (missing blocks read as
/// zero): particles side by side.
///
/// A full group moves in tiles of 8 × 8 values (rows × lanes), each a transpose of 8 runs of
/// contiguous loads: a plain loop over the rows of one block is a strided store
/// per value, which LLVM, given AVX-512, vectorises into scatter instructions (slower than
/// moving every value alone); and a tile of `N × N` does not inline at `N` = 16. The tiles are
/// index loops, not `array::from_fn` (which stayed a call, compiled for the baseline).
#[inline(always)]
pub fn gather<const N: usize, G: Group<N>>(blocks: &[f32], rows: usize, out: &mut [G]) {
    let out = &mut out[..rows];
    if blocks.len() == N * rows {
        let tiles = rows / TILE * TILE;
        for (r, o) in (0..tiles).step_by(TILE).zip(out.chunks_exact_mut(TILE)) {
            for h in (0..N).step_by(TILE) {
                let mut tile = [[0.0; TILE]; TILE];
                for (lane, t) in tile.iter_mut().enumerate() {
                    *t = run(&blocks[(h + lane) * rows + r..]);
                }
                for (i, o) in o.iter_mut().enumerate() {
                    let o = &mut o.lanes_mut()[h..h + TILE];
                    for (lane, o) in o.iter_mut().enumerate() {
                        *o = tile[lane][i];
                    }
                }
            }
        }
        // The rows past the tiles (not `array::from_fn`: at 16 lanes it was a call).
        for (r, o) in out.iter_mut().enumerate().skip(tiles) {
            for (lane, v) in o.lanes_mut().iter_mut().enumerate() {
                *v = blocks[lane * rows + r];
            }
        }
    } else {
        out.fill(G::default());
        for (lane, block) in blocks.chunks_exact(rows).enumerate() {
            for (o, &v) in out.iter_mut().zip(block) {
                o.lanes_mut()[lane] = v;
            }
        }
    }
}

/// The inverse of [`gather`]: lanes back into as many blocks of `rows` as `blocks` holds (in
/// tiles for a full group, as [`gather`]).
#[inline(always)]
pub fn scatter<const N: usize, G: Group<N>>(lanes: &[G], rows: usize, blocks: &mut [f32]) {
    let lanes = &lanes[..rows];
    if blocks.len() == N * rows {
        let tiles = rows / TILE * TILE;
        for (r, l) in (0..tiles).step_by(TILE).zip(lanes.chunks_exact(TILE)) {
            let l: &[G; TILE] = l.try_into().expect("chunks of TILE");
            for h in (0..N).step_by(TILE) {
                let mut tile = [[0.0; TILE]; TILE];
                for (lane, t) in tile.iter_mut().enumerate() {
                    for (i, t) in t.iter_mut().enumerate() {
                        *t = l[i].lanes()[h + lane];
                    }
                }
                for (lane, t) in tile.iter().enumerate() {
                    blocks[(h + lane) * rows + r..][..TILE].copy_from_slice(t);
                }
            }
        }
        for (r, l) in lanes.iter().enumerate().skip(tiles) {
            for (lane, &v) in l.lanes().iter().enumerate() {
                blocks[lane * rows + r] = v;
            }
        }
    } else {
        for (lane, block) in blocks.chunks_exact_mut(rows).enumerate() {
            for (b, l) in block.iter_mut().zip(lanes) {
                *b = l.lanes()[lane];
            }
        }
    }
}
