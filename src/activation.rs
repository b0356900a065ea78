//! Element-wise activations: the PN's optional non-linearity (SPEC §1) and the ON's
//! `none | gelu` between layers (SPEC §2, paper §V uses GELU, ref. \[10\]).

use crate::keyword::keywords;
use crate::simd;
use std::f32::consts::FRAC_1_SQRT_2;

mod exp;
pub use exp::exp_in_place;

/// A pointwise activation: in PN layers (`particle.activation`) or between ON layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Activation {
    /// Identity; the paper's PNs and its addition ON are linear. Written `none` in configs.
    #[default]
    None,
    /// The hyperbolic tangent.
    Tanh,
    /// Exact GELU, `x·Φ(x)` with the erf form of Φ (PyTorch's default `nn.GELU()`).
    Gelu,
}

keywords!(Activation, "an activation", { None => "none" | "identity", Tanh => "tanh", Gelu => "gelu" });

const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// GELU `z·Φ(z)` from `e = erf(z/√2)`: `½·z·(1 + e)`.
#[inline(always)]
fn gelu(z: f32, e: f32) -> f32 {
    0.5 * z * (1.0 + e)
}

/// `Φ(z)` from `e = erf(z/√2)`: the first term of GELU's derivative `Φ(z) + z·φ(z)`.
#[inline(always)]
fn gelu_cdf(e: f32) -> f32 {
    0.5 * (1.0 + e)
}

/// `z·φ(z)` from `ex = e^(-z²/2)` (the `e^` of [`density_exponent`]): the second term of
/// GELU's derivative.
#[inline(always)]
fn z_pdf(z: f32, ex: f32) -> f32 {
    z * FRAC_1_SQRT_2PI * ex
}

/// `-z²/2`, whose `e^` [`z_pdf`] takes.
#[inline(always)]
fn density_exponent(z: f32) -> f32 {
    -0.5 * z * z
}

/// Values of GELU's density exponentiated together by [`Activation::forward_with_derivative`].
const DENSITY_BLOCK: usize = 64;

impl Activation {
    /// True for the identity (`none`): the layer is linear.
    pub fn is_identity(self) -> bool {
        self == Activation::None
    }

    /// forward: a = f(z)
    #[inline]
    pub fn forward(self, z: f32) -> f32 {
        match self {
            Activation::None => z,
            Activation::Tanh => z.tanh(),
            Activation::Gelu => gelu(z, libm::erff(z * FRAC_1_SQRT_2)),
        }
    }

    /// forward over a slice: z -> f(z) in place, the same bits as [`Activation::forward`] on
    /// each element; tanh and GELU run as SIMD ([`simd::tanh_in_place`], [`simd::erf`]).
    /// `#[inline(always)]`, so that a kernel under [`simd::dispatch`] gets it in AVX2
    /// instructions.
    #[inline(always)]
    pub fn forward_in_place(self, zs: &mut [f32]) {
        match self {
            Activation::None => {}
            Activation::Tanh => simd::tanh_in_place(zs),
            // A plain loop: as `for_each` over a closure, LLVM left it out of line, compiled
            // without the dispatched instruction set (`erf`'s rounding as calls to `truncf`).
            Activation::Gelu => {
                for z in zs.iter_mut() {
                    *z = gelu(*z, simd::erf(*z * FRAC_1_SQRT_2));
                }
            }
        }
    }

    /// forward over slices when a backward follows: z (n) -> a = f(z), da = f'(z) (n), the same
    /// bits as [`Activation::forward`] and [`Activation::derivative`] on each element. GELU's erf
    /// runs once per value, as SIMD ([`simd::erf`]); the `exp` of its density too, block by
    /// block ([`exp_in_place`]). `#[inline(always)]`, as [`Activation::forward_in_place`].
    #[inline(always)]
    pub fn forward_with_derivative(self, z: &[f32], a: &mut [f32], da: &mut [f32]) {
        match self {
            Activation::Gelu => {
                let blocks = a.chunks_mut(DENSITY_BLOCK).zip(da.chunks_mut(DENSITY_BLOCK)).zip(z.chunks(DENSITY_BLOCK));
                for ((a, da), z) in blocks {
                    let mut ex = [0f32; DENSITY_BLOCK];
                    let ex = &mut ex[..z.len()];
                    for (((a, da), ex), &z) in a.iter_mut().zip(da.iter_mut()).zip(ex.iter_mut()).zip(z) {
                        let e = simd::erf(z * FRAC_1_SQRT_2);
                        *a = gelu(z, e);
                        *da = gelu_cdf(e);
                        *ex = density_exponent(z);
                    }
                    exp_in_place(ex);
                    da.iter_mut().zip(z).zip(&*ex).for_each(|((da, &z), &ex)| *da += z_pdf(z, ex));
                }
            }
            _ => {
                for ((a, da), &z) in a.iter_mut().zip(da.iter_mut()).zip(z) {
                    *a = self.forward(z);
                    *da = self.derivative_at(z, *a);
                }
            }
        }
    }

    /// backward: df/dz at pre-activation z
    #[inline]
    pub fn derivative(self, z: f32) -> f32 {
        match self {
            Activation::None => 1.0,
            Activation::Tanh => {
                let t = z.tanh();
                1.0 - t * t
            }
            Activation::Gelu => gelu_cdf(libm::erff(z * FRAC_1_SQRT_2)) + z_pdf(z, density_exponent(z).exp()),
        }
    }
}

impl Activation {
    /// backward: df/dz at pre-activation `z` whose activation `a = f(z)` is known (tanh then
    /// needs no second evaluation; the value is the same)
    #[inline]
    pub fn derivative_at(self, z: f32, a: f32) -> f32 {
        self.derivative_of_output(a).unwrap_or_else(|| self.derivative(z))
    }

    /// backward: df/dz from the activation `a = f(z)` alone, where it determines it (tanh:
    /// `1 − a²`; none: 1); `None` for GELU, whose derivative needs z.
    #[inline(always)]
    pub fn derivative_of_output(self, a: f32) -> Option<f32> {
        match self {
            Activation::None => Some(1.0),
            Activation::Tanh => Some(1.0 - a * a),
            Activation::Gelu => None,
        }
    }
}
