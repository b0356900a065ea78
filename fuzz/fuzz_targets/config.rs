//! The configuration parser on any text: a TOML file laid over a preset and `--set key=value`
//! overrides give a validated configuration or an error naming the key, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use organism::config::{Config, Overrides};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Before the first NUL: the file; after it, one `--set` per line.
    let (file, sets) = text.split_once('\0').unwrap_or((text, ""));
    let sets: Vec<String> = sets.lines().map(str::to_string).collect();
    let none = Overrides::default();
    for preset in [None, Some("mnist")] {
        if let Ok(cfg) = Config::resolve_text(preset, Some((Path::new("fuzz.toml"), file)), &sets, &none) {
            // A resolved configuration round-trips through its own TOML.
            let again = Config::resolve_text(None, Some((Path::new("config.toml"), &cfg.to_toml())), &[], &none);
            assert_eq!(again.ok().as_ref(), Some(&cfg), "config.toml does not round-trip");
        }
        let _ = Config::resolve_text(preset, None, &sets, &none);
    }
});
