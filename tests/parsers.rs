//! No input makes the parsers panic: the IDX reader, the safetensors readers (particle,
//! organism and trajectory files, checkpoints) and the configuration parser (TOML file and
//! `--set`), on arbitrary and on mutated valid inputs. The same bodies run under libFuzzer in
//! `fuzz/` (see the README); here proptest keeps the guarantee in `cargo test`.

use organism::checkpoint::Checkpoint;
use organism::config::{Config, Overrides};
use organism::data::idx::{decompress, image_set};
use organism::run::{parse_particles, parse_trajectory};
use proptest::prelude::*;
use std::path::Path;

/// A valid IDX image file of `n` images of `r × c`, and its label file.
fn idx(n: u32, r: u32, c: u32) -> (Vec<u8>, Vec<u8>) {
    let mut images = vec![0, 0, 8, 3];
    for d in [n, r, c] {
        images.extend(d.to_be_bytes());
    }
    images.extend((0..n * r * c).map(|i| i as u8));
    let mut labels = vec![0, 0, 8, 1];
    labels.extend(n.to_be_bytes());
    labels.extend((0..n).map(|i| (i % 10) as u8));
    (images, labels)
}

/// `bytes` with some positions overwritten and the end cut off.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for &(i, b) in edits {
        if !bytes.is_empty() {
            let k = i % bytes.len();
            bytes[k] = b;
        }
    }
    let keep = bytes.len().saturating_sub(cut);
    bytes.truncate(keep);
    bytes
}

fn read_idx(images: &[u8], labels: &[u8]) {
    let (ip, lp) = (Path::new("images"), Path::new("labels"));
    if let (Ok(i), Ok(l)) = (decompress(ip, images), decompress(lp, labels)) {
        let _ = image_set(ip, &i, lp, &l);
    }
}

/// A valid organism file, written by the program itself.
fn organism_file() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cfg = Config::resolve(Some("addition"), None, &["epochs=1".into()]).unwrap();
    let data = organism::task::TaskData::addition(&cfg);
    organism::experiment::train_to_dir(&cfg, &data, &out, false, &organism::progress::Progress::hidden()).unwrap();
    std::fs::read(out.join("organism.safetensors")).unwrap()
}

fn read_safetensors(bytes: &[u8]) {
    let path = Path::new("fuzz.safetensors");
    let _ = parse_particles(path, bytes);
    let _ = parse_trajectory(path, bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn idx_reader_never_panics_on_bytes(images in prop::collection::vec(any::<u8>(), 0..64), labels in prop::collection::vec(any::<u8>(), 0..32)) {
        read_idx(&images, &labels);
    }

    #[test]
    fn idx_reader_never_panics_on_mutated_files(
        n in 0u32..4, r in 0u32..4, c in 0u32..4,
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4), cut in 0usize..8,
        dims in prop::option::of((any::<u32>(), any::<u32>(), any::<u32>())),
    ) {
        let (mut images, labels) = idx(n, r, c);
        if let Some((a, b, c)) = dims {
            // Dimensions of any size, whose product may overflow.
            images[4..16].copy_from_slice(&[a.to_be_bytes(), b.to_be_bytes(), c.to_be_bytes()].concat());
        }
        read_idx(&mutate(images.clone(), &edits, cut), &labels);
        read_idx(&images, &mutate(labels.clone(), &edits, cut));
    }

    #[test]
    fn safetensors_readers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        read_safetensors(&bytes);
    }

    #[test]
    fn safetensors_readers_never_panic_on_mutated_files(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4), cut in 0usize..64) {
        thread_local!(static FILE: Vec<u8> = organism_file());
        let bytes = FILE.with(|f| f.clone());
        // Edits land in the 8-byte length and the JSON header half of the time.
        let header = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let edits: Vec<(usize, u8)> = edits.iter().map(|&(i, b)| (if i % 2 == 0 { i % header } else { i }, b)).collect();
        read_safetensors(&mutate(bytes, &edits, cut));
    }

    #[test]
    fn checkpoint_reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.safetensors");
        std::fs::write(&path, &bytes).unwrap();
        let _ = Checkpoint::read(&path);
    }

    #[test]
    fn config_parser_never_panics(file in ".{0,80}", sets in prop::collection::vec("[a-z_.]{0,20}=.{0,12}", 0..3)) {
        for preset in [None, Some("mnist")] {
            if let Ok(cfg) = Config::resolve_text(preset, Some((Path::new("f.toml"), &file)), &sets, &Overrides::default()) {
                let again = Config::resolve_text(None, Some((Path::new("config.toml"), &cfg.to_toml())), &[], &Overrides::default());
                prop_assert_eq!(again.ok(), Some(cfg));
            }
        }
    }

    #[test]
    fn set_values_of_any_text_never_panic(
        key in prop::sample::select(vec!["epochs", "lr", "seed", "organism.width", "organism.depth", "particle.hidden", "data.noise", "data.dir", "task", "preset", "particle.activation", "organism", "x.y.z", ""]),
        value in ".{0,24}",
    ) {
        let _ = Config::resolve_text(Some("addition"), None, &[format!("{key}={value}")], &Overrides::default());
        let _ = Config::resolve_text(Some("addition"), None, &[format!("{key}{value}")], &Overrides::default());
    }
}
