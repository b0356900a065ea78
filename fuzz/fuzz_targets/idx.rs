//! The IDX reader (SPEC §4) on any bytes: an image file and a label file, gzipped or not, must
//! give an image set or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use organism::data::idx::{decompress, image_set};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    // The first byte says where the image file ends and the label file begins.
    let Some((&cut, rest)) = data.split_first() else { return };
    let cut = (cut as usize * rest.len() / 255).min(rest.len());
    let (images, labels) = rest.split_at(cut);
    let (ip, lp) = (Path::new("images-idx3-ubyte"), Path::new("labels-idx1-ubyte"));
    if let (Ok(images), Ok(labels)) = (decompress(ip, images), decompress(lp, labels)) {
        let _ = image_set(ip, &images, lp, &labels);
    }
});
