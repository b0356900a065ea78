//! The PN architecture and its positional encoding (paper §II, SPEC §1).

use crate::activation::Activation;
use crate::keyword::keywords;
use crate::lanes::Lanes;
use crate::{Error, Result};

/// The architecture shared by all particles of a batch, and its positional encoding.
///
/// A PN is a bias-free dense net, by default `5 → h → h → 1`. Its weight vector is laid out
/// layer by layer, each layer row-major `[out][in]` (a torch `nn.Linear` weight).
#[derive(Clone, Debug, PartialEq)]
pub struct ParticleShape {
    widths: Vec<usize>,
    /// Applied after every hidden layer; the output layer stays linear.
    activation: Activation,
    /// Start of each layer's `[out][in]` block in the weight vector.
    offsets: Vec<usize>,
    /// Normalised `(L', C', E')` of every weight, SPEC §1.
    positions: Vec<[f32; 3]>,
}

/// One input row of a PN, as the paper feeds it.
#[derive(Clone, Copy, Debug)]
pub enum Row<L> {
    /// The weightwise row of weight `i` with value `v`: `[v, L', C', E', 0…]` (Def. 2).
    Weight {
        /// Index of the weight in the particle.
        i: usize,
        /// Its value.
        v: L,
    },
    /// The auxiliary row `[0, 0, 0, 0, x]` (Def. 6): `x` in the last input slot.
    Aux(L),
    /// The fold row of an aggregator particle `[acc, 0, 0, E', y]`: the running value in the
    /// weight slot, the edge's normalised position in the edge slot, the edge's value in the
    /// auxiliary slot (`crate::organism::aggregators`).
    Fold {
        /// The fold's value so far.
        acc: L,
        /// The edge's position `E'` (SPEC §1's normalisation).
        pos: f32,
        /// The edge's value.
        y: L,
    },
}

/// A position coordinate normalised as SPEC §1 (and the reference) does: divided by (its
/// column's maximum + 1e-8), then + 1e-8, in f32.
pub fn normalised(value: f32, max: f32) -> f32 {
    value / (max + 1e-8) + 1e-8
}

impl ParticleShape {
    /// A PN with layer widths `widths` (input first). The input must hold the weight value,
    /// three position columns and the auxiliary slot (≥ 5); the output is one number.
    pub fn new(widths: Vec<usize>, activation: Activation) -> Result<Self> {
        if widths.len() < 2 || widths[0] < 5 || *widths.last().unwrap() != 1 {
            return Err(Error::Invalid(format!(
                "particle widths {widths:?}: need at least two layers, input ≥ 5, output 1"
            )));
        }
        if widths.contains(&0) {
            return Err(Error::Invalid(format!("particle widths {widths:?}: a layer of width 0")));
        }
        let mut offsets = vec![0];
        let mut raw = Vec::new();
        for (l, pair) in widths.windows(2).enumerate() {
            let (inp, out) = (pair[0], pair[1]);
            for c in 0..out {
                for e in 0..inp {
                    raw.push([l as f32, c as f32, e as f32]);
                }
            }
            offsets.push(offsets[l] + inp * out);
        }
        let mut max = [0f32; 3];
        for p in &raw {
            for k in 0..3 {
                max[k] = max[k].max(p[k]);
            }
        }
        let positions = raw.iter().map(|p| std::array::from_fn(|k| normalised(p[k], max[k]))).collect();
        Ok(ParticleShape { widths, activation, offsets, positions })
    }

    /// The paper's PN: `[5, h, h, 1]`, linear.
    pub fn standard(hidden: usize) -> Result<Self> {
        Self::new(vec![5, hidden, hidden, 1], Activation::None)
    }

    /// Layer widths, input first.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }
    /// The activation after every hidden layer.
    pub fn activation(&self) -> Activation {
        self.activation
    }
    /// P, the number of weights of one particle.
    pub fn n_weights(&self) -> usize {
        *self.offsets.last().unwrap()
    }
    /// Number of layers (weight matrices).
    pub(crate) fn n_layers(&self) -> usize {
        self.widths.len() - 1
    }
    /// Start of layer `l`'s `[out][in]` block; `offset(n_layers())` is P.
    pub(crate) fn offset(&self, l: usize) -> usize {
        self.offsets[l]
    }
    pub(crate) fn input_width(&self) -> usize {
        self.widths[0]
    }
    pub(crate) fn max_width(&self) -> usize {
        *self.widths.iter().max().unwrap()
    }
    /// Input slot of the auxiliary application `PN(0, 0, 0, 0, x)` (Def. 6): the last input.
    pub(crate) fn aux_slot(&self) -> usize {
        self.widths[0] - 1
    }
    /// `(L', C', E')` of weight `i`.
    pub fn position(&self, i: usize) -> [f32; 3] {
        self.positions[i]
    }

    /// The input slots `row` can make non-zero: the weight and its position, the auxiliary
    /// slot, or (fold rows) both ends. The others hold +0, whose products add ±0 to a sum that starts at +0 and so leave
    /// it unchanged: kernels skip them (bitwise the same for finite weights).
    #[inline]
    pub(crate) fn live_inputs<L>(&self, row: Row<L>) -> std::ops::Range<usize> {
        match row {
            Row::Weight { .. } => 0..4,
            Row::Aux(_) => self.aux_slot()..self.aux_slot() + 1,
            Row::Fold { .. } => 0..self.aux_slot() + 1,
        }
    }

    /// The input slots whose gradient a backward pass of `row` returns: the auxiliary slot,
    /// and for fold rows also the weight slot (the running value).
    #[inline]
    pub(crate) fn grad_inputs<L>(&self, row: Row<L>) -> std::ops::Range<usize> {
        match row {
            Row::Fold { .. } => 0..self.aux_slot() + 1,
            _ => self.aux_slot()..self.aux_slot() + 1,
        }
    }

    /// The values of `row`'s live input slots ([`ParticleShape::live_inputs`]), in slot order,
    /// into `out` (one per live slot): what a kernel reads of the row (inlined: kernels compiled
    /// for AVX2/AVX-512 call it per row).
    #[inline(always)]
    pub(crate) fn live_row<L: Lanes>(&self, row: Row<L>, out: &mut [L]) {
        match row {
            Row::Weight { i, v } => {
                out[0] = v;
                // The position is the same in every lane.
                for (o, &p) in out[1..4].iter_mut().zip(&self.positions[i]) {
                    *o = L::splat(p);
                }
            }
            Row::Aux(x) => out[0] = x,
            Row::Fold { acc, pos, y } => {
                out.fill(L::splat(0.0));
                out[0] = acc;
                out[3] = L::splat(pos);
                out[self.aux_slot()] = y;
            }
        }
    }

    /// The dense input vector of `row`: its live slots ([`ParticleShape::live_row`]), +0 elsewhere.
    pub(crate) fn input_row<L: Lanes>(&self, row: Row<L>, out: &mut [L]) {
        out.fill(L::splat(0.0));
        self.live_row(row, &mut out[self.live_inputs(row)]);
    }

    /// The `P × input` matrix of weightwise input rows of the weight vector `w`.
    pub fn input_matrix(&self, w: &[f32]) -> Vec<f32> {
        let width = self.input_width();
        let mut m = vec![0.0; w.len() * width];
        for (i, row) in m.chunks_mut(width).enumerate() {
            self.input_row(Row::Weight { i, v: w[i] }, row);
        }
        m
    }
}

/// How a particle's weights are drawn (SPEC §1), the `particle.init` configuration key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Init {
    /// `xavier_uniform_`, as the authors' code: uniform in `±sqrt(6 / (fan_in + fan_out))`.
    #[default]
    Xavier,
    /// torch's `nn.Linear(bias=False)` default: uniform in `±1/sqrt(fan_in)`.
    TorchLinear,
}

keywords!(Init, "a particle init", { Xavier => "xavier", TorchLinear => "torch_linear" });

impl Init {
    /// The half-width of the uniform draw for a layer mapping `fan_in` to `fan_out` units.
    pub fn bound(self, fan_in: usize, fan_out: usize) -> f32 {
        match self {
            Init::Xavier => (6.0 / (fan_in + fan_out) as f32).sqrt(),
            Init::TorchLinear => 1.0 / (fan_in as f32).sqrt(),
        }
    }
}
