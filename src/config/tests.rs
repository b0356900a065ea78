//! Unit tests of configuration resolution.

use super::*;

#[test]
fn presets_resolve_and_validate() {
    for (name, _) in PRESETS {
        let c = Config::resolve(Some(name), None, &[]).unwrap();
        assert_eq!(c.preset, name);
    }
}

#[test]
fn sets_override_nested_and_top_level_keys() {
    let sets = ["epochs=5", "self_train_steps=10", "organism.width=4", "lr=1"].map(String::from);
    let c = Config::resolve(Some("addition"), None, &sets).unwrap();
    assert_eq!((c.epochs, c.self_train_steps, c.organism.width, c.lr), (5, 10, 4, 1.0));
}

#[test]
fn bad_keys_and_values_name_the_key() {
    let cases = [
        ("epochz=3", "epochz"),
        ("epochs=abc", "epochs"),
        ("organism.depth=1", "organism.depth"),
        ("organism.width=0", "organism.width"),
        ("lr=-0.1", "lr"),
        ("organism.nope=1", "organism.nope"),
        ("organism.activation=relu", "organism.activation"),
        ("particle.init=kaiming", "particle.init"),
    ];
    for (set, key) in cases {
        let err = Config::resolve(Some("addition"), None, &[set.to_string()]).unwrap_err().to_string();
        assert!(err.contains(key), "{set}: {err}");
    }
    let err = Config::resolve(Some("nope"), None, &[]).unwrap_err().to_string();
    assert!(err.contains("unknown preset"), "{err}");
}

/// Each `(sets, key, message)`: the addition preset with `sets` fails naming `key` and saying
/// `message`.
fn assert_errors(cases: &[(&[&str], &str, &str)]) {
    for (sets, key, msg) in cases {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let err = Config::resolve(Some("addition"), None, &sets).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(msg), "{sets:?}: {err}");
    }
}

#[test]
fn aggregator_particle_keys_are_checked() {
    let particle = "organism.aggregation=particle";
    let cases: [(&[&str], &str, &str); 5] = [
        (&["organism.aggregation=max"], "organism.aggregation", "sum or particle"),
        (&[particle, "aggregator_particle.hidden=0"], "aggregator_particle.hidden", "at least 1"),
        (&[particle, "aggregator_particle.hidden=5000"], "aggregator_particle.hidden", "at most"),
        (&[particle, "aggregator_particle.per=edge"], "aggregator_particle.per", "layer"),
        (&["aggregator_particle.per=cell"], "aggregator_particle", "organism.aggregation = \"particle\""),
    ];
    assert_errors(&cases);
    // A linear aggregator is allowed (a geometric weighting of the edges, docs/aggregators.md).
    let sets = [particle, "aggregator_particle.per=cell", "aggregator_particle.activation=none"].map(String::from);
    let c = Config::resolve(Some("mnist"), None, &sets).unwrap();
    // Every cell of every layer: 5 + 5 + 10.
    assert_eq!(c.aggregator_particle.count(Role::Aggregator, &c.organism), 5 + 5 + 10);
    let toml = c.to_toml();
    assert!(toml.contains("[aggregator_particle]") && toml.contains("aggregation = \"particle\""), "{toml}");
    let plain = Config::resolve(Some("mnist"), None, &[]).unwrap().to_toml();
    assert!(!plain.contains("aggregat"), "{plain}");
    assert_eq!(c.with_sets(&[]).unwrap(), c);
}

#[test]
fn activation_particle_keys_are_checked() {
    let particle = "organism.activation=particle";
    let cases: [(&[&str], &str, &str); 6] = [
        (&["organism.activation=relu"], "organism.activation", "none, gelu or particle"),
        (&[particle, "activation_particle.activation=none"], "activation_particle.activation", "linear"),
        (&[particle, "activation_particle.hidden=0"], "activation_particle.hidden", "at least 1"),
        (&[particle, "activation_particle.hidden=5000"], "activation_particle.hidden", "at most"),
        (&[particle, "activation_particle.per=row"], "activation_particle.per", "layer"),
        (&["activation_particle.hidden=3"], "activation_particle", "organism.activation = \"particle\""),
    ];
    assert_errors(&cases);
    let sets = [particle, "activation_particle.per=cell", "activation_particle.activation=gelu"].map(String::from);
    let c = Config::resolve(Some("mnist"), None, &sets).unwrap();
    assert_eq!(c.activation_particle.count(Role::Activation, &c.organism), 2 * 5);
    // The section is written only when it differs from the default, and reads back the same.
    assert!(c.to_toml().contains("[activation_particle]"));
    assert!(!Config::resolve(Some("mnist"), None, &[]).unwrap().to_toml().contains("activation_particle"));
    assert_eq!(c.with_sets(&[]).unwrap(), c);
}

#[test]
fn particle_init_defaults_to_xavier_and_takes_torch_linear() {
    let c = Config::resolve(Some("mnist"), None, &[]).unwrap();
    assert_eq!(c.particle.init, Init::Xavier);
    let c = Config::resolve(Some("mnist"), None, &["particle.init=torch_linear".into()]).unwrap();
    assert_eq!(c.particle.init, Init::TorchLinear);
}

#[test]
fn with_sets_equals_resolving_with_the_same_sets() {
    let sets = ["epochs=5", "organism.width=4", "lr=0.01", "seed=7"].map(String::from);
    let base = Config::resolve(Some("mnist"), None, &[]).unwrap();
    assert_eq!(base.with_sets(&sets).unwrap(), Config::resolve(Some("mnist"), None, &sets).unwrap());
    let err = base.with_sets(&["epochz=1".to_string()]).unwrap_err().to_string();
    assert_eq!(err, Config::resolve(Some("mnist"), None, &["epochz=1".to_string()]).unwrap_err().to_string());
    // Sections at their defaults are left out of the TOML, and still settable (Python's Config.set).
    let sets =
        ["interaction.kind=melt", "organism.activation=particle", "activation_particle.hidden=3"].map(String::from);
    assert_eq!(base.with_sets(&sets).unwrap(), Config::resolve(Some("mnist"), None, &sets).unwrap());
}

#[test]
fn resolved_config_round_trips_through_toml() {
    let c = Config::resolve(Some("mnist"), None, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, c.to_toml()).unwrap();
    assert_eq!(Config::resolve(None, Some(&path), &[]).unwrap(), c);
}
