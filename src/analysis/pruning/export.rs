//! Pruned networks as masked dense safetensors a PyTorch user can load.

use super::strategies::masked;
use crate::organism::OrganismShape;
use crate::run::{write_safetensors, TensorSpec};
use crate::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::Path;

/// Writes a pruned dense network: per layer `l`, `weight_l{l}` (`out × in`, f32, pruned
/// weights 0) and `mask_l{l}` (same shape, 1 kept / 0 pruned, f32 as `torch.nn.utils.prune`
/// keeps it), with metadata `format = "masked_dense"`, `organism` (the shape as JSON: residual
/// skip and activation) and `extra`. Loads in PyTorch with `safetensors.torch.load_file`.
pub fn write_masked_dense(
    path: &Path,
    shape: &OrganismShape,
    weights: &[f32],
    keep: &[bool],
    extra: &[(&str, String)],
) -> Result<()> {
    if weights.len() != shape.n_particles() || keep.len() != weights.len() {
        return Err(Error::Invalid(format!(
            "{}: {} weights and {} mask entries for a network of {}",
            path.display(),
            weights.len(),
            keep.len(),
            shape.n_particles()
        )));
    }
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut tensors = Vec::new();
    let mut start = 0;
    for (l, (i, o)) in shape.layers().into_iter().enumerate() {
        let w = masked(&weights[start..start + i * o], &keep[start..start + i * o]);
        let m: Vec<f32> = keep[start..start + i * o].iter().map(|&k| if k { 1.0 } else { 0.0 }).collect();
        tensors.push((format!("weight_l{l}"), vec![o, i], bytes(&w)));
        tensors.push((format!("mask_l{l}"), vec![o, i], bytes(&m)));
        start += i * o;
    }
    let specs: Vec<(TensorSpec, &[u8])> = tensors
        .iter()
        .map(|(name, dims, b)| (TensorSpec { name, dtype: Dtype::F32, shape: dims.clone() }, b.as_slice()))
        .collect();
    // Sorted metadata: the same bytes for the same network (issue 8).
    let mut meta: BTreeMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    meta.insert("format".into(), "masked_dense".into());
    meta.insert("organism".into(), serde_json::to_string(shape).expect("a shape serialises"));
    write_safetensors(path, &specs, meta)
}

/// Reads a file of [`write_masked_dense`]: the shape, the dense weights (SPEC order) and the
/// keep mask.
pub fn read_masked_dense(path: &Path) -> Result<(OrganismShape, Vec<f32>, Vec<bool>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |msg: String| Error::format(path, msg);
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some("masked_dense") {
        return Err(bad("not a masked dense network (metadata `format` is not masked_dense)".into()));
    }
    let shape: OrganismShape = meta
        .get("organism")
        .and_then(|o| serde_json::from_str(o).ok())
        .ok_or_else(|| bad("metadata `organism` missing or malformed".into()))?;
    shape.validate().map_err(|e| bad(e.to_string()))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let (mut weights, mut keep) = (Vec::new(), Vec::new());
    for (l, (i, o)) in shape.layers().into_iter().enumerate() {
        let read = |name: String| -> Result<Vec<f32>> {
            let t = st.tensor(&name).map_err(|_| bad(format!("no tensor `{name}`")))?;
            if t.dtype() != Dtype::F32 || t.shape() != [o, i] {
                return Err(bad(format!("tensor `{name}` is not an f32 tensor of shape [{o}, {i}]")));
            }
            Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        weights.extend(read(format!("weight_l{l}"))?);
        let mask = read(format!("mask_l{l}"))?;
        if let Some(v) = mask.iter().find(|&&m| m != 0.0 && m != 1.0) {
            return Err(bad(format!("mask_l{l} holds {v}, not 0 or 1")));
        }
        keep.extend(mask.iter().map(|&m| m == 1.0));
    }
    Ok((shape, weights, keep))
}
