//! The pruning study (issue 14): orders, fine-tuning with pruned weights held at zero, the
//! analysis on a tiny MNIST run with planted self-replicators, and the masked dense export.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use organism::analysis::pruning::{self, curve_score, pn_sr_order, read_masked_dense, write_masked_dense};
use organism::analysis::{open_runs, Stat, TestSets};
use organism::config::Config;
use organism::experiment::train_to_dir;
use organism::fixpoint::{classify, Class};
use organism::organism::Dense;
use organism::progress::Progress;
use organism::run::Run;
use organism::task::TaskData;
use organism::train::{fine_tune, Pruned};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A tiny MNIST run on the bundled subset, trained once for all tests.
struct Fixture {
    _dir: tempfile::TempDir,
    run: PathBuf,
    cfg: Config,
    data: Arc<TaskData>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = format!("data.dir={:?}", concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k"));
        let sets = [
            "epochs=3".into(),
            "batch_size=200".into(),
            "trajectory_every=1".into(),
            data_dir,
            "data.download=false".into(),
        ];
        let cfg = Config::resolve(Some("mnist"), None, &sets).unwrap();
        let data = Arc::new(TaskData::load(&cfg).unwrap());
        let run = dir.path().join("mnist");
        train_to_dir(&cfg, &data, &run, false, &Progress::hidden()).unwrap();
        Fixture { _dir: dir, run, cfg, data }
    })
}

/// The run with the authors' trained self-replicator (SPEC §7 fixture) planted into the first
/// `k` particles of the last layer, so that the run has exactly known PN_SR.
fn run_with_replicators(k: usize) -> (Run, Vec<usize>) {
    let mut run = open_runs(std::slice::from_ref(&fixture().run)).unwrap().remove(0);
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference/particle_h5.json"))
            .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sr: Vec<f32> =
        json["trained_replicator"]["weights"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let n = run.organism.particles.len();
    let p = sr.len();
    let first = n - 50;
    let which: Vec<usize> = (first..first + k).collect();
    for &i in &which {
        run.organism.particles.weights_mut()[i * p..(i + 1) * p].copy_from_slice(&sr);
    }
    (run, which)
}

#[test]
fn pn_sr_order_puts_replicators_first_then_the_documented_classes() {
    use Class::*;
    let classes = [Other, SelfReplicator, Zero, SelfReplicator, SecondOrder, Divergent, Other];
    let w = [0.1, 0.5, 0.0, 0.2, 0.3, f32::NAN, -0.05];
    assert_eq!(pn_sr_order(&classes, &w), vec![3, 1, 2, 4, 6, 0, 5]);
}

#[test]
fn intervals_and_curve_scores() {
    let s = Stat::of(&[1.0, 2.0]);
    assert!((s.ci95() - 12.706 * s.sd / 2f64.sqrt()).abs() < 1e-12);
    assert!(Stat::of(&[1.0]).ci95().is_nan());
    // 3 values: t(2) = 4.303.
    let s = Stat::of(&[0.0, 1.0, 2.0]);
    assert!((s.ci95() - 4.303 / 3f64.sqrt()).abs() < 1e-12);
    // A straight line from 1 to 0 over [0.1, 0.5] has mean 0.5, whatever the spacing.
    assert!((curve_score(&[(0.5, 0.0), (0.1, 1.0), (0.2, 0.75)]) - 0.5).abs() < 1e-12);
}

#[test]
fn fine_tuning_holds_pruned_weights_at_zero_and_trains_the_rest() {
    let f = fixture();
    let run = open_runs(std::slice::from_ref(&f.run)).unwrap().remove(0);
    let shape = &run.organism.shape;
    let w0 = run.organism.extracted_weights();
    let keep: Vec<bool> = (0..w0.len()).map(|i| i % 3 != 0).collect();
    let tune = |seed| {
        let mut w = w0.clone();
        fine_tune(
            Pruned::Dense { shape, weights: &mut w },
            &keep,
            &f.cfg,
            &f.data,
            1,
            &mut ChaCha8Rng::seed_from_u64(seed),
        );
        w
    };
    let w = tune(7);
    assert!(w.iter().zip(&keep).all(|(&x, &k)| k || x == 0.0), "pruned dense weights must stay 0");
    assert!(w.iter().zip(&w0).zip(&keep).any(|((a, b), &k)| k && a != b), "kept weights must train");
    assert_eq!(tune(7), w, "fine-tuning is fixed by its random stream");

    let mut organism = run.organism.clone();
    let p = organism.particles.shape().n_weights();
    fine_tune(Pruned::Organism(&mut organism), &keep, &f.cfg, &f.data, 1, &mut ChaCha8Rng::seed_from_u64(1));
    for (i, &k) in keep.iter().enumerate() {
        let part = organism.particles.particle(i);
        if !k {
            assert!(part.iter().all(|&x| x == 0.0), "pruned particle {i} must stay 0");
        }
    }
    assert_ne!(organism.particles.weights(), run.organism.particles.weights());
    assert_eq!(organism.particles.weights().len() / p, keep.len());
}

#[test]
fn analysis_measures_every_method_and_drops_the_replicators_first() {
    let f = fixture();
    let (run, planted) = run_with_replicators(10);
    let classes = classify(&run.organism.particles, run.config.epsilon);
    let sr: Vec<usize> = (0..classes.len()).filter(|&i| classes[i] == Class::SelfReplicator).collect();
    assert!(planted.iter().all(|i| sr.contains(i)), "the planted particles are PN_SR");
    let tests = TestSets::default();
    tests.insert(&f.cfg, f.data.clone());
    let out = tempfile::tempdir().unwrap();
    let settings = pruning::Settings { levels: vec![0.1, 0.3], fine_tune_epochs: 1, random_draws: 2 };
    let a = pruning::analyze(std::slice::from_ref(&run), &tests, &settings, out.path()).unwrap();

    let csv = std::fs::read_to_string(out.path().join("pruning.csv")).unwrap();
    assert!(csv.starts_with("seed,method,level,sparsity,pruned,metric\n"), "{csv}");
    for (method, _) in pruning::METHODS {
        let n = csv.lines().filter(|l| l.split(',').nth(1) == Some(method)).count();
        let expected = if method == "iterative" { 2 } else { 3 }; // 0.2, 0.36; or 0.1, 0.3, sr_share
        assert_eq!(n, expected, "{method}: {csv}");
    }
    for name in ["curve_pn_sr", "curve_l1", "curve_self_pruning", "curve_lottery", "curve_difference_pn_sr_l1"] {
        assert!(a.findings.contains_key(name), "{name} missing: {:?}", a.findings.keys());
    }
    organism::plot::draw_all(&a.figures).unwrap();
    assert!(out.path().join("pruning.png").is_file() && out.path().join("pruning.svg").is_file());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("pruning.json")).unwrap()).unwrap();
    let paired = &json["paired_pn_sr_vs_l1"][0];
    let diff = paired["curve_pn_sr"].as_f64().unwrap() - paired["curve_l1"].as_f64().unwrap();
    assert!((paired["curve_difference"].as_f64().unwrap() - diff).abs() < 1e-12);

    // At the PN_SR share, `pn_sr` pruned exactly the self-replicators: its exported mask.
    let (shape, weights, keep) = read_masked_dense(&out.path().join("pruned/seed-0/pn_sr.safetensors")).unwrap();
    assert_eq!(shape, run.organism.shape);
    let dropped: Vec<usize> = (0..keep.len()).filter(|&i| !keep[i]).collect();
    assert_eq!(dropped, sr);
    // Its accuracy in the CSV is the organism's with those particles zeroed, and the exported
    // dense network gives it back.
    let row = csv.lines().find(|l| l.starts_with("0,pn_sr,sr_share,")).unwrap();
    let metric: f64 = row.rsplit(',').next().unwrap().parse().unwrap();
    let test = f.data.test();
    let y = Dense::new(&shape, &weights).forward(&test.x);
    let acc = organism::organism::metric(&y, 10, (&test.y).into()) as f64;
    assert!((acc - metric).abs() < 1e-9, "{acc} vs {metric}");
}

#[test]
fn masked_dense_round_trips_and_rejects_bad_files() {
    let run = open_runs(std::slice::from_ref(&fixture().run)).unwrap().remove(0);
    let shape = &run.organism.shape;
    let w = run.organism.extracted_weights();
    let keep: Vec<bool> = (0..w.len()).map(|i| i % 4 != 1).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.safetensors");
    write_masked_dense(&path, shape, &w, &keep, &[("method", "test".into())]).unwrap();
    let (shape2, w2, keep2) = read_masked_dense(&path).unwrap();
    assert_eq!((&shape2, &keep2), (shape, &keep));
    let expected: Vec<f32> = w.iter().zip(&keep).map(|(&x, &k)| if k { x } else { 0.0 }).collect();
    assert_eq!(w2, expected);
    let x = &fixture().data.test().x[..225 * 50];
    assert_eq!(Dense::new(&shape2, &w2).forward(x), Dense::new(shape, &expected).forward(x));

    // Not a masked dense file, and a mask that is not 0/1.
    let err = read_masked_dense(&run.dir.join("organism.safetensors")).unwrap_err().to_string();
    assert!(err.contains("masked_dense"), "{err}");
    let mut bytes = std::fs::read(&path).unwrap();
    let one = 1f32.to_le_bytes();
    let pos = bytes.windows(4).rposition(|b| b == one).unwrap();
    bytes[pos..pos + 4].copy_from_slice(&0.5f32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = read_masked_dense(&path).unwrap_err().to_string();
    assert!(err.contains("not 0 or 1"), "{err}");
    std::fs::write(&path, b"garbage").unwrap();
    assert!(read_masked_dense(&path).unwrap_err().to_string().contains("p.safetensors"));
}
