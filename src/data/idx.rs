//! Reader for the IDX format of the MNIST family (SPEC §4).
//!
//! An IDX file is a big-endian header — magic `0x0000_08TT` with `TT` the number of dimensions
//! (3 for images, 1 for labels) — then one `u32` per dimension, then the unsigned bytes. The
//! files come gzipped from the mirrors and plain from some repackagings, so compression is
//! detected from the content (gzip magic `1f 8b`), not from the file name. Every error names
//! the file, because a user pointing `--data` at the wrong folder must be told which file is bad.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use super::ImageSet;
use crate::limits::MAX_IDX_BYTES;
use crate::{Error, Result};

/// Magic number of an image file: unsigned bytes, 3 dimensions (count, rows, columns).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of a label file: unsigned bytes, 1 dimension (count).
const LABELS_MAGIC: u32 = 0x0000_0801;
/// The MNIST family has ten classes; a larger label means a wrong or corrupt file.
const NUM_CLASSES: u8 = 10;

/// Returns the IDX content of `raw`, gunzipping it if it starts with the gzip magic.
/// `path` is only used to name the file in errors.
pub fn decompress(path: &Path, raw: &[u8]) -> Result<Vec<u8>> {
    decompress_at_most(path, raw, MAX_IDX_BYTES)
}

/// [`decompress`] refusing more than `max` bytes of output.
fn decompress_at_most(path: &Path, raw: &[u8], max: u64) -> Result<Vec<u8>> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(max as usize));
    GzDecoder::new(raw)
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::format(path, format!("truncated or corrupt gzip data: {e}")))?;
    if out.len() as u64 > max {
        return Err(Error::format(
            path,
            format!("decompresses to more than {max} bytes; not an IDX file of a data set"),
        ));
    }
    Ok(out)
}

/// Reads a whole file, turning "not found" into an error that names it.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Checks the header of (decompressed) IDX `data` and returns its dimensions and payload.
fn parse<'a>(path: &Path, data: &'a [u8], magic: u32, what: &str) -> Result<(Vec<usize>, &'a [u8])> {
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 * (1 + ndims);
    let word = |i: usize| data.get(4 * i..4 * i + 4).map(|w| u32::from_be_bytes(w.try_into().expect("4 bytes")));
    match word(0) {
        Some(found) if found != magic => {
            return Err(Error::format(
                path,
                format!("wrong magic number {found:#010x}, expected {magic:#010x} for IDX {what}"),
            ))
        }
        Some(_) if data.len() >= header_len => {}
        _ => {
            return Err(Error::format(
                path,
                format!("{} bytes is too short for an IDX {what} header ({header_len} bytes)", data.len()),
            ))
        }
    }
    let dims: Vec<usize> = (1..=ndims).map(|i| word(i).expect("header checked") as usize).collect();
    let payload = &data[header_len..];
    let Some(expected) = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) else {
        return Err(Error::format(
            path,
            format!("header announces {dims:?}, more {what} than this machine can address"),
        ));
    };
    if payload.len() != expected {
        return Err(Error::format(
            path,
            format!("header announces {dims:?} = {expected} bytes of {what} but the file holds {}", payload.len()),
        ));
    }
    Ok((dims, payload))
}

/// Parses an IDX image file (raw or gzipped bytes): returns `(pixels, count, rows, cols)`
/// with the pixels still as bytes, row-major per image.
pub fn parse_images(path: &Path, raw: &[u8]) -> Result<(Vec<u8>, usize, usize, usize)> {
    let data = decompress(path, raw)?;
    let (dims, payload) = parse(path, &data, IMAGES_MAGIC, "images")?;
    if dims[1] == 0 || dims[2] == 0 {
        return Err(Error::format(path, format!("empty image size {}×{}", dims[1], dims[2])));
    }
    Ok((payload.to_vec(), dims[0], dims[1], dims[2]))
}

/// Parses an IDX label file (raw or gzipped bytes) and checks every label is a class 0–9.
pub fn parse_labels(path: &Path, raw: &[u8]) -> Result<Vec<u8>> {
    let data = decompress(path, raw)?;
    let (_, payload) = parse(path, &data, LABELS_MAGIC, "labels")?;
    if let Some(i) = payload.iter().position(|&l| l >= NUM_CLASSES) {
        return Err(Error::format(
            path,
            format!("label {} at index {i} is out of range 0–{}", payload[i], NUM_CLASSES - 1),
        ));
    }
    Ok(payload.to_vec())
}

/// Builds an [`ImageSet`] from the bytes of an image file and a label file, scaling the
/// pixels to [0, 1] (byte / 255) and checking that both files hold the same number of items.
pub fn image_set(images_path: &Path, images_raw: &[u8], labels_path: &Path, labels_raw: &[u8]) -> Result<ImageSet> {
    let (pixels, count, rows, cols) = parse_images(images_path, images_raw)?;
    let labels = parse_labels(labels_path, labels_raw)?;
    if labels.len() != count {
        return Err(Error::format(
            labels_path,
            format!("{} labels but {count} images in {}", labels.len(), images_path.display()),
        ));
    }
    let images = pixels.iter().map(|&b| f32::from(b) / 255.0).collect();
    Ok(ImageSet { images, labels, channels: 1, rows, cols })
}

/// Reads an image file and its label file from disk (see [`image_set`]).
pub fn read_image_set(images_path: &Path, labels_path: &Path) -> Result<ImageSet> {
    image_set(images_path, &read_file(images_path)?, labels_path, &read_file(labels_path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gzip_stream_longer_than_the_cap_is_refused() {
        use flate2::{write::GzEncoder, Compression};
        use std::io::Write;
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&[0u8; 1001]).unwrap();
        let raw = gz.finish().unwrap();
        let path = Path::new("bomb.gz");
        assert_eq!(decompress_at_most(path, &raw, 1001).unwrap().len(), 1001);
        let err = decompress_at_most(path, &raw, 1000).unwrap_err().to_string();
        assert!(err.contains("bomb.gz") && err.contains("more than 1000 bytes"), "{err}");
    }

    fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|d| v.extend(d.to_be_bytes()));
        v.extend(payload);
        v
    }

    #[test]
    fn plain_images_are_scaled_to_unit_interval() {
        let p = Path::new("x");
        let set =
            image_set(p, &idx(IMAGES_MAGIC, &[2, 1, 2], &[0, 255, 51, 102]), p, &idx(LABELS_MAGIC, &[2], &[3, 9]))
                .unwrap();
        assert_eq!((set.rows, set.cols), (1, 2));
        assert_eq!(set.images, vec![0.0, 1.0, 0.2, 0.4]);
        assert_eq!(set.labels, vec![3, 9]);
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let err = parse_labels(Path::new("l"), &idx(LABELS_MAGIC, &[1], &[1, 2])).unwrap_err();
        assert!(err.to_string().contains("holds 2"), "{err}");
    }

    #[test]
    fn overflowing_dimensions_are_rejected() {
        let err = parse_images(Path::new("i"), &idx(IMAGES_MAGIC, &[u32::MAX; 3], &[])).unwrap_err();
        assert!(err.to_string().contains("header announces"), "{err}");
    }

    #[test]
    fn short_header_is_rejected() {
        let err = parse_images(Path::new("i"), &[0, 0, 8]).unwrap_err();
        assert!(err.to_string().contains("too short"), "{err}");
    }
}
