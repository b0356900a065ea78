//! The safetensors readers (particle/organism files and trajectories) on any bytes: a batch of
//! particles or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use organism::run::{parse_particles, parse_trajectory};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.safetensors");
    let _ = parse_particles(path, data);
    let _ = parse_trajectory(path, data);
});
