//! Bilinear image resizing exactly as PyTorch's `F.interpolate(mode='bilinear',
//! align_corners=False)` does it, with and without `antialias` (SPEC §4: 28×28 → 15×15).
//!
//! Both variants are separable: each output row (column) is a weighted sum of a few input rows
//! (columns), so one `Axis` table of weights per dimension describes the whole resize, and a
//! single routine applies it. The tables differ only in how they are built:
//! - plain bilinear (`upsample_bilinear2d`): the output pixel `i` sits at the input coordinate
//!   `(i + ½)·s − ½` with `s = in/out` (half-pixel centres), clamped at 0; it mixes its two
//!   neighbouring pixels linearly;
//! - antialiased bilinear (`_upsample_bilinear2d_aa`, after PIL): a triangle filter centred at
//!   `(i + ½)·s`, widened by the factor `s` when shrinking so that every input pixel
//!   contributes, with weights normalised to sum to one.
//!
//! Weights are computed in f64; PyTorch uses f32, which differs by rounding only.

/// Resampling weights along one axis: output index `i` reads input indices
/// `start[i]..start[i] + weights[i].len()`.
#[derive(Clone, Debug)]
struct Axis {
    start: Vec<usize>,
    weights: Vec<Vec<f64>>,
}

impl Axis {
    /// PyTorch's plain bilinear weights (`compute_indices_weights_linear`, align_corners=False).
    fn bilinear(input: usize, output: usize) -> Axis {
        let scale = input as f64 / output as f64;
        let (start, weights) = (0..output)
            .map(|i| {
                let src = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (src as usize).min(input - 1);
                let l1 = src - i0 as f64;
                if i0 + 1 < input {
                    (i0, vec![1.0 - l1, l1])
                } else {
                    (i0, vec![1.0])
                }
            })
            .unzip();
        Axis { start, weights }
    }

    /// PyTorch's antialiased bilinear weights (`_compute_weights_aa` with the triangle filter).
    fn antialiased(input: usize, output: usize) -> Axis {
        let scale = input as f64 / output as f64;
        // The triangle has half-width 1 in output pixels, i.e. `scale` input pixels when shrinking.
        let (support, invscale) = if scale >= 1.0 { (scale, 1.0 / scale) } else { (1.0, 1.0) };
        let (start, weights) = (0..output)
            .map(|i| {
                let center = scale * (i as f64 + 0.5);
                // Truncation toward zero, as the C++ `static_cast<int64_t>`.
                let xmin = ((center - support + 0.5) as i64).max(0) as usize;
                let xmax = ((center + support + 0.5) as i64).min(input as i64) as usize;
                let mut w: Vec<f64> =
                    (xmin..xmax).map(|j| (1.0 - ((j as f64 - center + 0.5) * invscale).abs()).max(0.0)).collect();
                let total: f64 = w.iter().sum();
                if total != 0.0 {
                    w.iter_mut().for_each(|x| *x /= total);
                }
                (xmin, w)
            })
            .unzip();
        Axis { start, weights }
    }

    fn len(&self) -> usize {
        self.start.len()
    }
}

/// A precomputed resize from `in_rows × in_cols` to `out_rows × out_cols`, reusable for every
/// image of a data set.
#[derive(Clone, Debug)]
pub struct Resizer {
    in_rows: usize,
    in_cols: usize,
    rows: Axis,
    cols: Axis,
}

impl Resizer {
    /// Prepares the weights; `antialias` selects PyTorch's `antialias=True` variant.
    ///
    /// # Panics
    /// If any size is zero.
    pub fn new(in_rows: usize, in_cols: usize, out_rows: usize, out_cols: usize, antialias: bool) -> Resizer {
        assert!(in_rows > 0 && in_cols > 0 && out_rows > 0 && out_cols > 0, "resize sizes must be positive");
        let axis = if antialias { Axis::antialiased } else { Axis::bilinear };
        Resizer { in_rows, in_cols, rows: axis(in_rows, out_rows), cols: axis(in_cols, out_cols) }
    }

    /// Resizes one row-major image of `in_rows × in_cols` pixels into `out_rows × out_cols`.
    ///
    /// # Panics
    /// If `image` does not have `in_rows × in_cols` pixels.
    pub fn apply(&self, image: &[f32]) -> Vec<f32> {
        assert_eq!(image.len(), self.in_rows * self.in_cols, "image size does not match the resizer");
        // Horizontal pass first (as PyTorch), into `in_rows × out_cols`.
        let out_cols = self.cols.len();
        let mut wide = vec![0.0f64; self.in_rows * out_cols];
        for (r, row) in image.chunks_exact(self.in_cols).enumerate() {
            for (c, (&s, w)) in self.cols.start.iter().zip(&self.cols.weights).enumerate() {
                wide[r * out_cols + c] = dot(w, row[s..].iter().map(|&x| f64::from(x)));
            }
        }
        // Vertical pass: every output row mixes whole rows of the intermediate image.
        let mut out = Vec::with_capacity(self.rows.len() * out_cols);
        for (&s, w) in self.rows.start.iter().zip(&self.rows.weights) {
            for c in 0..out_cols {
                let column = wide[s * out_cols + c..].iter().step_by(out_cols).copied();
                out.push(dot(w, column) as f32);
            }
        }
        out
    }
}

/// Weighted sum of the first `weights.len()` values.
fn dot(weights: &[f64], values: impl Iterator<Item = f64>) -> f64 {
    weights.iter().zip(values).map(|(w, x)| w * x).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_size_is_identity() {
        for aa in [false, true] {
            let img: Vec<f32> = (0..12).map(|x| x as f32 / 11.0).collect();
            let out = Resizer::new(3, 4, 3, 4, aa).apply(&img);
            for (a, b) in img.iter().zip(&out) {
                assert!((a - b).abs() < 1e-6, "antialias={aa}: {img:?} vs {out:?}");
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        for aa in [false, true] {
            let out = Resizer::new(28, 28, 15, 15, aa).apply(&[0.7; 784]);
            assert!(out.iter().all(|&x| (x - 0.7).abs() < 1e-6), "antialias={aa}");
        }
    }

    #[test]
    fn halving_averages_pixel_pairs() {
        // 4 → 2 plain: source coordinates 0.5 and 2.5, i.e. means of neighbours.
        let out = Resizer::new(1, 4, 1, 2, false).apply(&[0.0, 1.0, 2.0, 3.0]);
        assert_eq!(out, vec![0.5, 2.5]);
    }
}
