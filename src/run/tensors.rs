//! Safetensors files a PyTorch user can open: particles, organisms (with activation and
//! aggregator particles) and trajectories, written with sorted metadata so identical runs give identical
//! bytes, and read back with every size checked.

use crate::activation::Activation;
use crate::organism::{Aggregation, CellParticles, LayerActivation, Organism, OrganismShape, Per, Role};
use crate::particle::{ParticleBatch, ParticleShape};
use crate::train::Trajectory;
use crate::{Error, Result};
use safetensors::tensor::Dtype;
use safetensors::SafeTensors;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

pub(crate) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// One tensor of a safetensors file (dtype `F32` or `I64`, little-endian).
#[derive(Clone)]
pub(crate) struct TensorSpec<'a> {
    pub name: &'a str,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

#[derive(Serialize)]
pub(super) struct TensorEntry {
    dtype: Dtype,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// The safetensors header (8-byte length, then JSON padded with spaces to a multiple of 8) of
/// `tensors`, laid out one after the other in the order given. Keys are sorted
/// (`BTreeMap`), so identical inputs give identical bytes (the `safetensors` crate writes its
/// metadata from a `HashMap`, in random order).
pub(crate) fn safetensors_header(tensors: &[TensorSpec], meta: &BTreeMap<String, String>) -> Vec<u8> {
    let mut header = BTreeMap::new();
    header.insert("__metadata__".to_string(), serde_json::to_value(meta).expect("strings"));
    let mut offset = 0;
    for t in tensors {
        let size = t.shape.iter().product::<usize>() * t.dtype.size();
        let entry = TensorEntry { dtype: t.dtype, shape: t.shape.clone(), data_offsets: [offset, offset + size] };
        header.insert(t.name.to_string(), serde_json::to_value(entry).expect("numbers"));
        offset += size;
    }
    let mut json = serde_json::to_vec(&header).expect("a JSON map");
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    out
}

/// Writes a safetensors file of `tensors` with their bytes, byte for byte the same for the same
/// input. Tensors of 8-byte types come first so every tensor is aligned.
pub(crate) fn write_safetensors(
    path: &Path,
    tensors: &[(TensorSpec, &[u8])],
    meta: BTreeMap<String, String>,
) -> Result<()> {
    let specs: Vec<TensorSpec> =
        tensors.iter().map(|(t, _)| TensorSpec { name: t.name, dtype: t.dtype, shape: t.shape.clone() }).collect();
    let mut bytes = safetensors_header(&specs, &meta);
    for (_, data) in tensors {
        bytes.extend_from_slice(data);
    }
    write_bytes(path, &bytes)
}

pub(crate) fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

pub(super) fn particle_metadata(shape: &ParticleShape) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("particle_widths".to_string(), serde_json::to_string(shape.widths()).unwrap()),
        ("particle_activation".to_string(), shape.activation().to_string()),
    ])
}

/// `weights [n, P]` of a particle batch.
pub(super) fn weights_tensor(p: &ParticleBatch) -> TensorSpec<'static> {
    TensorSpec { name: "weights", dtype: Dtype::F32, shape: vec![p.len(), p.shape().n_weights()] }
}

/// A standalone population of particles (`format = "particles"`).
pub fn write_particles(path: &Path, particles: &ParticleBatch) -> Result<()> {
    let mut meta = particle_metadata(particles.shape());
    meta.insert("format".into(), "particles".into());
    write_safetensors(path, &[(weights_tensor(particles), &f32_bytes(particles.weights()))], meta)
}

/// An organism's particles with its shape (`format = "organism"`), and its activation and
/// aggregator particles as `{role}_weights [n, P]` with their widths, activation, `{role}_per`
/// and `{role}_names` in the metadata (`role` = `activation` or `aggregator`).
pub fn write_organism(path: &Path, organism: &Organism) -> Result<()> {
    let mut meta = particle_metadata(organism.particles.shape());
    meta.insert("format".into(), "organism".into());
    meta.insert("organism".into(), serde_json::to_string(&organism.shape).unwrap());
    meta.insert("particle_names".into(), serde_json::to_string(&organism.shape.particle_names()).unwrap());
    let names: Vec<String> = organism.cell_particles().map(|cp| format!("{}_weights", cp.role.name())).collect();
    let p = &organism.particles;
    let mut tensors = vec![(weights_tensor(p), f32_bytes(p.weights()))];
    for (cp, name) in organism.cell_particles().zip(&names) {
        let role = cp.role.name();
        for (key, value) in particle_metadata(cp.particles.shape()) {
            meta.insert(format!("{role}_{key}"), value);
        }
        meta.insert(format!("{role}_per"), serde_json::to_value(cp.per).unwrap().as_str().unwrap().into());
        meta.insert(format!("{role}_names"), serde_json::to_string(&cp.names()).unwrap());
        let spec = TensorSpec { name, ..weights_tensor(&cp.particles) };
        tensors.push((spec, f32_bytes(cp.particles.weights())));
    }
    let tensors: Vec<(TensorSpec, &[u8])> = tensors.iter().map(|(t, b)| (t.clone(), b.as_slice())).collect();
    write_safetensors(path, &tensors, meta)
}

// ---------------------------------------------------------------------------------------------
// Reading.

pub(super) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

pub(super) fn f32_tensor(path: &Path, st: &SafeTensors, name: &str, rank: usize) -> Result<(Vec<usize>, Vec<f32>)> {
    let t = st.tensor(name).map_err(|_| Error::format(path, format!("no tensor `{name}`")))?;
    if t.dtype() != Dtype::F32 || t.shape().len() != rank {
        return Err(Error::format(path, format!("tensor `{name}` is not a rank-{rank} f32 tensor")));
    }
    let data = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok((t.shape().to_vec(), data))
}

/// Particles from a particle or organism file, with the organism's shape if it is one.
pub fn read_particles(path: &Path) -> Result<(ParticleBatch, Option<OrganismShape>)> {
    parse_particles(path, &read_bytes(path)?)
}

/// [`read_particles`] of the file content `bytes` (`path` names it in errors).
pub fn parse_particles(path: &Path, bytes: &[u8]) -> Result<(ParticleBatch, Option<OrganismShape>)> {
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let format = meta.get("format").map(String::as_str).unwrap_or("");
    if format != "particles" && format != "organism" {
        return Err(Error::format(path, "not a particle file (metadata `format` is not particles or organism)"));
    }
    let widths: Vec<usize> = meta
        .get("particle_widths")
        .and_then(|w| serde_json::from_str(w).ok())
        .ok_or_else(|| Error::format(path, "metadata `particle_widths` missing or malformed"))?;
    let activation: Activation = meta
        .get("particle_activation")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| Error::format(path, "metadata `particle_activation` missing or malformed"))?;
    let shape = ParticleShape::new(widths, activation).map_err(|e| Error::format(path, e.to_string()))?;
    let (dims, weights) = f32_tensor(path, &st, "weights", 2)?;
    if dims[1] != shape.n_weights() {
        return Err(Error::format(
            path,
            format!(
                "weights have {} columns, particles of widths {:?} have {}",
                dims[1],
                shape.widths(),
                shape.n_weights()
            ),
        ));
    }
    let batch = ParticleBatch::from_weights(shape, weights).map_err(|e| Error::format(path, e.to_string()))?;
    let organism = match meta.get("organism") {
        Some(o) if format == "organism" => {
            let shape: OrganismShape =
                serde_json::from_str(o).map_err(|e| Error::format(path, format!("metadata `organism`: {e}")))?;
            if shape.n_particles() != batch.len() {
                return Err(Error::format(
                    path,
                    format!("{} particles for an organism of {}", batch.len(), shape.n_particles()),
                ));
            }
            Some(shape)
        }
        _ => None,
    };
    Ok((batch, organism))
}

/// The particles of `role` of an organism file of `shape` (`None` when it has none).
pub fn parse_cell_particles(
    path: &Path,
    bytes: &[u8],
    shape: &OrganismShape,
    role: Role,
) -> Result<Option<CellParticles>> {
    let used = match role {
        Role::Activation => shape.activation == LayerActivation::Particle,
        Role::Aggregator => shape.aggregation == Aggregation::Particle,
    };
    if !used {
        return Ok(None);
    }
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let name = role.name();
    let key = |k: &str| format!("{name}_{k}");
    let field = |k: &str| {
        meta.get(&key(k))
            .ok_or_else(|| Error::format(path, format!("metadata `{}` missing ({name} particles)", key(k))))
    };
    let malformed = |k: &str| Error::format(path, format!("metadata `{}` malformed", key(k)));
    let widths: Vec<usize> =
        serde_json::from_str(field("particle_widths")?).map_err(|_| malformed("particle_widths"))?;
    let activation: Activation = field("particle_activation")?.parse().map_err(|_| malformed("particle_activation"))?;
    let per: Per = serde_json::from_value(field("per")?.as_str().into()).map_err(|_| malformed("per"))?;
    let pn = ParticleShape::new(widths, activation).map_err(|e| Error::format(path, e.to_string()))?;
    let (dims, weights) = f32_tensor(path, &st, &key("weights"), 2)?;
    if dims[1] != pn.n_weights() {
        return Err(Error::format(path, format!("{name} weights have {} columns, not {}", dims[1], pn.n_weights())));
    }
    let batch = ParticleBatch::from_weights(pn, weights).map_err(|e| Error::format(path, e.to_string()))?;
    CellParticles::new(role, per, shape, batch).map(Some).map_err(|e| Error::format(path, e.to_string()))
}

/// The organism of an organism file, with its activation and aggregator particles.
pub fn read_organism(path: &Path) -> Result<Organism> {
    let bytes = read_bytes(path)?;
    let (particles, shape) = parse_particles(path, &bytes)?;
    let shape = shape.ok_or_else(|| Error::format(path, "a particle file, not an organism"))?;
    let activations = parse_cell_particles(path, &bytes, &shape, Role::Activation)?;
    let aggregators = parse_cell_particles(path, &bytes, &shape, Role::Aggregator)?;
    Organism::with_cell_particles(shape, particles, activations, aggregators)
        .map_err(|e| Error::format(path, e.to_string()))
}

/// Reads a trajectory file.
pub fn read_trajectory(path: &Path) -> Result<Trajectory> {
    parse_trajectory(path, &read_bytes(path)?)
}

/// [`read_trajectory`] of the file content `bytes` (`path` names it in errors).
pub fn parse_trajectory(path: &Path, bytes: &[u8]) -> Result<Trajectory> {
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
    let (_, weights) = f32_tensor(path, &st, "weights", 3)?;
    let e = st.tensor("epochs").map_err(|_| Error::format(path, "no tensor `epochs`"))?;
    let epochs = e.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as usize).collect();
    // Cell particles' tensors, where the organism has them.
    let cells = |name: &str| match st.tensor(name) {
        Ok(_) => f32_tensor(path, &st, name, 3).map(|t| t.1),
        Err(_) => Ok(Vec::new()),
    };
    let (activation_weights, aggregator_weights) = (cells("activation_weights")?, cells("aggregator_weights")?);
    Ok(Trajectory { epochs, weights, activation_weights, aggregator_weights })
}
