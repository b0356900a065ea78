//! The training schedule (SPEC §3): warm-up, counted epochs, and a run that diverges.

use organism::config::Config;
use organism::experiment::train_to_dir;
use organism::fixpoint::Class;
use organism::progress::Progress;
use organism::run::read_trajectory;
use organism::task::TaskData;
use organism::train::train;

fn mnist(sets: &[&str]) -> Config {
    let data_dir = format!("data.dir={:?}", concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k"));
    let mut all: Vec<String> = vec![data_dir, "data.download=false".into(), "batch_size=500".into()];
    all.extend(sets.iter().map(|s| s.to_string()));
    Config::resolve(Some("mnist"), None, &all).unwrap()
}

#[test]
fn warm_up_trains_the_task_alone_until_the_threshold() {
    let cfg = mnist(&["epochs=12", "batch_size=100", "warmup_accuracy=0.125"]);
    let t = train(&cfg, &TaskData::load(&cfg).unwrap(), &mut |_, _| {}).unwrap();
    let warm: Vec<bool> = t.records[1..].iter().map(|r| r.self_train_loss.is_nan()).collect();
    assert!(warm[0], "the first epoch is a warm-up epoch");
    // Once an epoch reaches the threshold, self-training starts and never stops again.
    let first_st = warm.iter().position(|w| !w).expect("the threshold is reached within 12 epochs");
    assert!(t.records[first_st].train_metric >= 0.125, "{:?}", t.records[first_st]);
    assert!(warm[first_st..].iter().all(|w| !w));
}

#[test]
fn classes_are_counted_every_validate_every_epochs_and_at_the_end() {
    let cfg = Config::resolve(Some("addition"), None, &["epochs=7".into(), "validate_every=3".into()]).unwrap();
    let t = train(&cfg, &TaskData::addition(&cfg), &mut |_, _| {}).unwrap();
    let counted: Vec<usize> = t.records.iter().filter(|r| r.counts.is_some()).map(|r| r.epoch).collect();
    assert_eq!(counted, [0, 3, 6, 7]);
}

#[test]
fn weights_are_kept_every_trajectory_every_epochs_and_at_the_end() {
    let cfg = Config::resolve(Some("addition"), None, &["epochs=7".into(), "trajectory_every=3".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train_to_dir(&cfg, &TaskData::addition(&cfg), &out, false, &Progress::hidden()).unwrap();
    let t = read_trajectory(&out.join("trajectory.safetensors")).unwrap();
    assert_eq!(t.epochs, [0, 3, 6, 7]);
    let last = organism::run::Run::open(&out).unwrap().organism.particles.weights().to_vec();
    assert_eq!(t.weights.len(), 4 * last.len());
    assert_eq!(&t.weights[3 * last.len()..], &last[..], "the last row is the final organism");
    assert!(t.activation_weights.is_empty(), "no activation particles, no activation rows");
}

/// Activation particles have their own tensor in the trajectory, `activation_weights [T, n_act,
/// P_act]`, row for row with `weights`: the streamed file holds what training in memory kept.
#[test]
fn activation_particles_are_kept_in_the_trajectory_beside_the_weights() {
    let sets = ["epochs=7".to_string(), "trajectory_every=3".to_string(), "activation_particle.per=cell".to_string()];
    let cfg = Config::resolve(Some("addition-actparticle"), None, &sets).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train_to_dir(&cfg, &TaskData::addition(&cfg), &out, false, &Progress::hidden()).unwrap();
    let path = out.join("trajectory.safetensors");
    let t = read_trajectory(&path).unwrap();
    assert_eq!(t.epochs, [0, 3, 6, 7]);
    let organism = organism::run::Run::open(&out).unwrap().organism;
    let act = organism.activations.as_ref().unwrap();
    let (n_act, p_act) = (act.particles.len(), act.particles.shape().n_weights());
    assert!(n_act > 1);
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("activation_weights").unwrap().shape(), [4, n_act, p_act]);
    assert_eq!(&t.activation_weights[3 * n_act * p_act..], act.particles.weights(), "the last row is the final one");

    let memory = train(&cfg, &TaskData::addition(&cfg), &mut |_, _| {}).unwrap().trajectory;
    assert_eq!(t, memory, "the streamed trajectory is the one kept in memory");
    assert_ne!(&t.activation_weights[..n_act * p_act], act.particles.weights(), "the activation particles moved");
}

/// Aggregator particles have their own tensor too, `aggregator_weights [T, n_agg, P_agg]`,
/// beside `weights` and `activation_weights` (an organism with both kinds of cell particles).
#[test]
fn aggregator_particles_are_kept_in_the_trajectory_beside_the_weights() {
    let sets = [
        "epochs=4".to_string(),
        "trajectory_every=2".to_string(),
        "aggregator_particle.per=cell".to_string(),
        "organism.activation=particle".to_string(),
    ];
    let cfg = Config::resolve(Some("addition-aggparticle"), None, &sets).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train_to_dir(&cfg, &TaskData::addition(&cfg), &out, false, &Progress::hidden()).unwrap();
    let path = out.join("trajectory.safetensors");
    let t = read_trajectory(&path).unwrap();
    assert_eq!(t.epochs, [0, 2, 4]);
    let organism = organism::run::Run::open(&out).unwrap().organism;
    let (act, agg) = (organism.activations.as_ref().unwrap(), organism.aggregators.as_ref().unwrap());
    let (n_agg, p_agg) = (agg.particles.len(), agg.particles.shape().n_weights());
    assert!(n_agg > 1);
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("aggregator_weights").unwrap().shape(), [3, n_agg, p_agg]);
    assert_eq!(&t.aggregator_weights[2 * n_agg * p_agg..], agg.particles.weights(), "the last row is the final one");
    let n_act_p = act.particles.weights().len();
    assert_eq!(&t.activation_weights[2 * n_act_p..], act.particles.weights(), "activation rows in place");
    let n_p = organism.particles.weights().len();
    assert_eq!(&t.weights[2 * n_p..], organism.particles.weights(), "weight rows in place");

    let memory = train(&cfg, &TaskData::addition(&cfg), &mut |_, _| {}).unwrap().trajectory;
    assert_eq!(t, memory, "the streamed trajectory is the one kept in memory");
    assert_ne!(&t.aggregator_weights[..n_agg * p_agg], agg.particles.weights(), "the aggregator particles moved");
}

#[test]
fn a_diverging_run_keeps_going_and_reports_divergent_particles() {
    let cfg = Config::resolve(Some("addition"), None, &["epochs=3".into(), "lr=1e6".into()]).unwrap();
    let t = train(&cfg, &TaskData::addition(&cfg), &mut |_, _| {}).unwrap();
    assert_eq!(t.records.len(), 4);
    assert!(t.classes.contains(&Class::Divergent), "{:?}", t.classes);
}
