//! Element-wise activations: the PN's optional non-linearity (SPEC §1) and the ON's
//! `none | gelu` between layers (SPEC §2, paper §V uses GELU, ref. \[10\]).

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;

/// A pointwise activation: in PN layers (`particle.activation`) or between ON layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Identity; the paper's PNs and its addition ON are linear. Written `none` in configs.
    #[default]
    None,
    /// The hyperbolic tangent.
    Tanh,
    /// Exact GELU, `x·Φ(x)` with the erf form of Φ (PyTorch's default `nn.GELU()`).
    Gelu,
}

const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

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
            Activation::Gelu => 0.5 * z * (1.0 + libm::erff(z * std::f32::consts::FRAC_1_SQRT_2)),
        }
    }

    /// forward over a slice: z -> f(z) in place, the same bits as [`Activation::forward`] on
    /// each element; tanh runs as SIMD ([`crate::simd::tanh_in_place`]). `#[inline(always)]`,
    /// so that a kernel under [`crate::simd::dispatch`] gets it in AVX2 instructions.
    #[inline(always)]
    pub fn forward_in_place(self, zs: &mut [f32]) {
        match self {
            Activation::None => {}
            Activation::Tanh => crate::simd::tanh_in_place(zs),
            Activation::Gelu => zs.iter_mut().for_each(|z| *z = self.forward(*z)),
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
            Activation::Gelu => {
                let cdf = 0.5 * (1.0 + libm::erff(z * std::f32::consts::FRAC_1_SQRT_2));
                cdf + z * FRAC_1_SQRT_2PI * (-0.5 * z * z).exp()
            }
        }
    }
}

impl Activation {
    /// backward: df/dz at pre-activation `z` whose activation `a = f(z)` is known (tanh then
    /// needs no second evaluation; the value is the same)
    #[inline]
    pub fn derivative_at(self, z: f32, a: f32) -> f32 {
        match self {
            Activation::Tanh => 1.0 - a * a,
            _ => self.derivative(z),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::None => "none",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
        })
    }
}

/// Read by name through [`FromStr`], so a configuration and the command line give the same
/// message for a name that is not an activation.
impl<'de> Deserialize<'de> for Activation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" | "identity" => Ok(Activation::None),
            "tanh" => Ok(Activation::Tanh),
            "gelu" => Ok(Activation::Gelu),
            _ => Err(format!("unknown activation `{s}` (expected none, tanh or gelu)")),
        }
    }
}
