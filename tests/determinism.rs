//! Results are bitwise identical for any number of threads: parallel work is split into fixed
//! chunks (`particle::CHUNK`, spans of whole chunks, the organism's row blocks), never by thread
//! count.

mod common;

use organism::activation::Activation;
use organism::fixpoint::{classify, Class, ClassCounts, EPSILON};
use organism::optim::Sgd;
use organism::organism::{
    Aggregation, CellParticleConfig, LayerActivation, Organism, OrganismShape, Path, Per, Targets, TaskWorkspace,
};
use organism::particle::{Init, ParticleBatch, ParticleShape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Everything computed by [`run`], as f32 bit patterns (and classes).
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    floats: Vec<Vec<u32>>,
    classes: Vec<Class>,
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn run() -> Outcome {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut floats = Vec::new();

    // Self-training of 1,000 linear particles (collapsed path) and of non-linear ones.
    for (shape, general) in [
        (ParticleShape::standard(5).unwrap(), false),
        (ParticleShape::new(vec![5, 4, 4, 1], Activation::Tanh).unwrap(), false),
        (ParticleShape::standard(3).unwrap(), true),
    ] {
        let mut batch = ParticleBatch::random(shape, 1000, Init::Xavier, &mut rng);
        if general {
            batch = batch.with_general_path();
        }
        let mut ws = batch.workspace();
        let mut opt = Sgd::new(0.004, 0.9, batch.weights().len());
        for _ in 0..5 {
            floats.push(bits(batch.self_train_step(&mut opt, &mut ws)));
        }
        floats.push(bits(batch.weights()));
        floats.push(bits(batch.self_applied().weights()));
        floats.push(bits(&batch.extract()));
    }

    // Classification of a batch with a few trained replicators among random particles.
    let mut batch = ParticleBatch::random(ParticleShape::standard(2).unwrap(), 300, Init::Xavier, &mut rng);
    let mut ws = batch.workspace();
    let mut opt = Sgd::new(0.004, 0.9, batch.weights().len());
    for _ in 0..2000 {
        batch.self_train_step(&mut opt, &mut ws);
    }
    let classes = classify(&batch, EPSILON);

    // MNIST-like organism, extracted path, 600 samples (row blocks in more than one wave).
    // The `mnist` preset's organism: (225, 5, 3, 10), GELU, residual skip.
    let shape = organism::config::Config::resolve(Some("mnist"), None, &[]).unwrap().organism;
    let org = Organism::new(shape, ParticleShape::standard(5).unwrap(), Init::Xavier, &mut rng).unwrap();
    let x: Vec<f32> = (0..600 * 225).map(|_| rng.gen::<f32>()).collect();
    let y: Vec<u8> = (0..600).map(|_| rng.gen_range(0..10)).collect();
    let pass = org.task_pass(&x, Targets::Classes(&y), Path::Extracted, &mut TaskWorkspace::new());
    floats.extend([vec![pass.loss.to_bits()], bits(&pass.output), bits(&pass.grads)]);
    let mut st = vec![0.0; pass.grads.len()];
    floats.push(vec![org.self_train_grads(&mut st).to_bits()]);
    floats.push(bits(&st));

    // Small deep organism with non-linear PNs on the general path, both losses.
    let shape = OrganismShape {
        inputs: 4,
        width: 3,
        depth: 4,
        outputs: 2,
        residual_skip: true,
        activation: LayerActivation::Gelu,
        aggregation: Default::default(),
    };
    let pn = ParticleShape::new(vec![5, 3, 3, 1], Activation::Tanh).unwrap();
    let org = Organism::new(shape, pn, Init::Xavier, &mut rng).unwrap();
    let b = 150;
    let x: Vec<f32> = (0..b * 4).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let values: Vec<f32> = (0..b * 2).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let labels: Vec<u8> = (0..b).map(|_| rng.gen_range(0..2)).collect();
    for targets in [Targets::Values(&values), Targets::Classes(&labels)] {
        let pass = org.task_pass(&x, targets, Path::General, &mut TaskWorkspace::new());
        floats.extend([vec![pass.loss.to_bits()], bits(&pass.output), bits(&pass.grads)]);
    }

    // Activation particles (one per cell) on both paths: outputs, both gradients, and their
    // self-training.
    let shape = OrganismShape { activation: LayerActivation::Particle, ..org.shape.clone() };
    let cfg = CellParticleConfig { per: Per::Cell, hidden: 3, activation: Activation::Tanh };
    let org = Organism::random(
        shape,
        ParticleShape::standard(3).unwrap(),
        Init::Xavier,
        [&cfg, &CellParticleConfig::default()],
        &mut rng,
    )
    .unwrap();
    for path in [Path::Extracted, Path::General] {
        let pass = org.task_pass(&x, Targets::Classes(&labels), path, &mut TaskWorkspace::new());
        floats.extend([bits(&pass.output), bits(&pass.grads), bits(&pass.activation_grads)]);
    }
    let a = &org.activations.as_ref().unwrap().particles;
    let mut st = vec![0.0; a.weights().len()];
    floats.push(bits(&a.self_train_grads(&mut st)));
    floats.push(bits(&st));

    // Aggregator particles (one per cell, tanh) on both paths: outputs and all gradients.
    let shape = OrganismShape { aggregation: Aggregation::Particle, ..org.shape.clone() };
    let agg = CellParticleConfig { per: Per::Cell, hidden: 3, activation: Activation::Tanh };
    let org =
        Organism::random(shape, ParticleShape::standard(3).unwrap(), Init::Xavier, [&cfg, &agg], &mut rng).unwrap();
    for path in [Path::Extracted, Path::General] {
        let pass = org.task_pass(&x, Targets::Classes(&labels), path, &mut TaskWorkspace::new());
        floats.extend([bits(&pass.output), bits(&pass.grads), bits(&pass.activation_grads)]);
        floats.push(bits(&pass.aggregator_grads));
    }

    Outcome { floats, classes }
}

fn in_pool(threads: usize) -> Outcome {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(run)
}

#[test]
fn bitwise_identical_for_1_2_and_3_threads() {
    let one = in_pool(1);
    let counts = ClassCounts::of(&one.classes);
    assert!(counts[Class::Other] < one.classes.len(), "{counts:?}");
    for k in [2, 3] {
        let other = in_pool(k);
        assert_eq!(one.classes, other.classes, "classes differ with {k} threads");
        assert_eq!(one.floats.len(), other.floats.len());
        for (i, (a, b)) in one.floats.iter().zip(&other.floats).enumerate() {
            assert!(a == b, "result #{i} differs bitwise between 1 and {k} threads");
        }
    }
}

/// A whole training run (noisy image batches, both optimizers, test metric, counts) is the
/// same for any thread count.
#[test]
fn training_is_bitwise_identical_for_1_and_2_threads() {
    use organism::config::Config;
    use organism::task::TaskData;
    use organism::train::train;
    let data_dir = format!("data.dir={:?}", concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k"));
    let sets = ["epochs=2".into(), "batch_size=1000".into(), "data.download=false".into(), data_dir];
    let cfg = Config::resolve(Some("mnist"), None, &sets).unwrap();
    let data = TaskData::load(&cfg).unwrap();
    let go = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let t = train(&cfg, &data, &mut |_, _| {}).unwrap();
            let metrics: Vec<u32> = t
                .records
                .iter()
                .flat_map(|r| [r.self_train_loss, r.task_loss, r.test_metric])
                .map(f32::to_bits)
                .collect();
            (bits(t.organism.particles.weights()), metrics)
        })
    };
    assert!(go(1) == go(2), "training differs between 1 and 2 threads");
}

/// The task step applies the pass's gradient as it is produced (extracted path) or at once
/// (general path): the same bits as `task_pass` then `Sgd::step`, over more row chunks than one
/// wave of the task pass holds, and from non-zero momentum on the second step.
#[test]
fn task_step_is_task_pass_then_sgd_step() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let shape = common::small_gelu_shape();
    let rows = 9 * 64 + 5;
    let x: Vec<f32> = (0..rows * 6).map(|_| rng.gen::<f32>()).collect();
    let y: Vec<u8> = (0..rows).map(|_| rng.gen_range(0..3)).collect();
    // One task-pass workspace for both organisms' steps, reused pass after pass.
    let mut pass_ws = TaskWorkspace::new();
    for pn in [ParticleShape::standard(3).unwrap(), ParticleShape::new(vec![5, 3, 3, 1], Activation::Tanh).unwrap()] {
        let mut by_pass = Organism::new(shape.clone(), pn, Init::Xavier, &mut rng).unwrap();
        let (mut by_step, initial) = (by_pass.clone(), by_pass.particles.weights().to_vec());
        let n = by_pass.particles.weights().len();
        let (mut opt_pass, mut opt_step) = (Sgd::new(0.004, 0.9, n), Sgd::new(0.004, 0.9, n));
        let mut ws = by_step.particles.workspace();
        for _ in 0..2 {
            let pass = by_pass.task_pass(&x, Targets::Classes(&y), by_pass.default_path(), &mut TaskWorkspace::new());
            opt_pass.step(by_pass.particles.weights_mut(), &pass.grads);
            let step = by_step.task_step(&x, Targets::Classes(&y), &mut opt_step, &mut ws, &mut pass_ws);
            assert_eq!(pass.loss.to_bits(), step.loss.to_bits());
            assert_eq!(bits(&pass.output), bits(&step.output));
        }
        assert_ne!(bits(by_pass.particles.weights()), bits(&initial), "the steps moved the weights");
        assert_eq!(bits(by_pass.particles.weights()), bits(by_step.particles.weights()));
        assert_eq!(bits(opt_pass.momentum_buffer()), bits(opt_step.momentum_buffer()));
    }
}

/// The general path's self-train step runs groups of 16 particles (8 for everything else,
/// `self_train_grads` included): the same bits as `self_train_grads` then `Sgd::step`, with
/// partial groups and several work items, and from non-zero momentum on the second step.
#[test]
fn general_self_train_step_is_grads_then_sgd_step() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for (shape, n) in [
        (ParticleShape::new(vec![5, 5, 5, 1], Activation::Tanh).unwrap(), 1000),
        (ParticleShape::new(vec![5, 4, 3, 1], Activation::Gelu).unwrap(), 37),
        (ParticleShape::standard(3).unwrap(), 9),
    ] {
        let mut by_step = ParticleBatch::random(shape, n, Init::Xavier, &mut rng).with_general_path();
        let (mut by_grads, initial) = (by_step.clone(), by_step.weights().to_vec());
        let len = initial.len();
        let (mut opt_step, mut opt_grads) = (Sgd::new(0.004, 0.9, len), Sgd::new(0.004, 0.9, len));
        let mut ws = by_step.workspace();
        let mut grads = vec![0.0; len];
        for _ in 0..2 {
            let losses = by_grads.self_train_grads(&mut grads);
            opt_grads.step(by_grads.weights_mut(), &grads);
            assert_eq!(bits(by_step.self_train_step(&mut opt_step, &mut ws)), bits(&losses));
        }
        assert_ne!(bits(by_step.weights()), bits(&initial), "the steps moved the weights");
        assert_eq!(bits(by_step.weights()), bits(by_grads.weights()));
        assert_eq!(bits(opt_step.momentum_buffer()), bits(opt_grads.momentum_buffer()));
    }
}

/// `classify` works block by block: the classes of a batch of several blocks are those of its
/// particles classified in small batches (with zero and divergent particles among them).
#[test]
fn classify_in_blocks_is_classify_of_the_parts() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let mut batch = ParticleBatch::random(ParticleShape::standard(2).unwrap(), 9000, Init::Xavier, &mut rng);
    let p = batch.shape().n_weights();
    batch.weights_mut()[4100 * p..4101 * p].fill(0.0);
    batch.weights_mut()[8200 * p] = f32::NAN;
    let whole = classify(&batch, EPSILON);
    let parts: Vec<Class> =
        (0..9000).step_by(700).flat_map(|s| classify(&batch.slice(s..(s + 700).min(9000)), EPSILON)).collect();
    assert_eq!(whole, parts);
    assert_eq!((whole[4100], whole[8200]), (Class::Zero, Class::Divergent));
}

/// A batch of more than `SPANS` chunks steps in spans of several chunks (here 2,117 particles:
/// 17 spans of 128, the last of 69, its last group partial); every particle's loss, weights and
/// momenta after the steps are those of the particle stepped alone, for 1 and 3 threads.
#[test]
fn self_train_step_in_spans_is_every_particle_alone() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let n = 33 * 64 + 5;
    let batch = ParticleBatch::random(ParticleShape::standard(3).unwrap(), n, Init::Xavier, &mut rng);
    let steps = |batch: &mut ParticleBatch| {
        let mut ws = batch.workspace();
        let mut opt = Sgd::new(0.004, 0.9, batch.weights().len());
        let losses: Vec<Vec<u32>> = (0..3).map(|_| bits(batch.self_train_step(&mut opt, &mut ws))).collect();
        (losses, bits(batch.weights()), bits(opt.momentum_buffer()))
    };
    let alone: Vec<_> = (0..n).map(|i| steps(&mut batch.slice(i..i + 1))).collect();
    let p = batch.shape().n_weights();
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let (losses, weights, momenta) = pool.install(|| steps(&mut batch.clone()));
        for (i, (l, w, b)) in alone.iter().enumerate() {
            assert!(losses.iter().zip(l).all(|(all, one)| all[i] == one[0]), "particle {i}: loss, {threads} threads");
            assert_eq!(&weights[i * p..(i + 1) * p], &w[..], "particle {i}: weights, {threads} threads");
            assert_eq!(&momenta[i * p..(i + 1) * p], &b[..], "particle {i}: momenta, {threads} threads");
        }
    }
}

/// A task-pass workspace reused by passes of other organisms, batch sizes and paths gives the
/// same bits as a new one: a pass writes every value it reads, whatever the buffers held.
#[test]
fn a_reused_task_workspace_gives_the_bits_of_a_new_one() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let tanh = |h| ParticleShape::new(vec![5, h, h, 1], Activation::Tanh).unwrap();
    let wide = OrganismShape { inputs: 9, width: 7, ..common::small_gelu_shape() };
    let organisms = [
        Organism::new(wide, tanh(4), Init::Xavier, &mut rng).unwrap(),
        Organism::new(common::small_gelu_shape(), tanh(3), Init::Xavier, &mut rng).unwrap(),
        Organism::new(common::small_gelu_shape(), ParticleShape::standard(3).unwrap(), Init::Xavier, &mut rng).unwrap(),
    ];
    let mut ws = TaskWorkspace::new();
    // Large batches first (every scratch of a wave, filled), then smaller ones.
    for (rows, org) in [(9 * 64 + 5, 0), (9 * 64 + 5, 2), (70, 1), (9 * 64 + 5, 1), (3, 0), (100, 2)] {
        let org = &organisms[org];
        let x: Vec<f32> = (0..rows * org.shape.inputs).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let y: Vec<u8> = (0..rows).map(|_| rng.gen_range(0..org.shape.outputs as u8)).collect();
        for path in [Path::General, org.default_path()] {
            let reused = org.task_pass(&x, Targets::Classes(&y), path, &mut ws);
            let new = org.task_pass(&x, Targets::Classes(&y), path, &mut TaskWorkspace::new());
            assert_eq!(reused.loss.to_bits(), new.loss.to_bits());
            assert_eq!(bits(&reused.output), bits(&new.output));
            assert_eq!(bits(&reused.grads), bits(&new.grads), "{rows} rows, {path:?}");
        }
    }
}
