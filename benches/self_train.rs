//! Benchmarks of the training hot paths (`cargo bench --bench self_train`; `bench/compare` runs
//! them beside the PyTorch peers of bench/peers/):
//! - `self_train_step_1200_h5`: one combined self-train step (grads + SGD) of 1,200 linear
//!   `[5, 5, 5, 1]` particles; `self_train_step_1200_tanh`: the same with tanh PNs (general path);
//! - `mnist_batch`: one MNIST batch on the authors' schedule: 10 self-train steps with a fresh
//!   optimizer on the 1,200 particles of the `mnist` preset's `(225, 5, 3, 10)` GELU/residual
//!   organism, then one task step on 2,000 images (extracted path, cross-entropy, as training runs it:
//!   [`Organism::task_step`]);
//!   `mnist_task_pass`: the task pass alone;
//! - `general_task_pass_tanh`: the task pass of that organism with tanh PNs, every PN evaluated on
//!   every sample (general path), on 200 images;
//! - `tanh_simd_4096` and `tanh_libm_4096`: tanh of 4,096 floats in [-3, 3], the general path's
//!   exact SIMD tanh (`simd::tanh_in_place`, AVX-512 or AVX2 when the CPU has it) and libm's `f32::tanh`;
//!   `tanh_simd_small_4096`: the SIMD tanh of 4,096 floats in [-1, 1), the pre-activations'
//!   usual range (docs/speed-log.md, "General path");
//! - full size, `(784, 64, 3, 10)` ≈ 55k particles: `full_self_train_step` and
//!   `full_task_pass` (2,000 × 784 images);
//! - one epoch's overheads on the `mnist` organism: `epoch_test_eval` (10,000 test images),
//!   `epoch_classify` (the five classes of 1,200 particles), `epoch_trajectory` (one snapshot).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use organism::activation::Activation;
use organism::fixpoint::{classify, EPSILON};
use organism::optim::Sgd;
use organism::organism::{Organism, OrganismShape, Path, Targets, TaskWorkspace};
use organism::particle::{Init, ParticleBatch, ParticleShape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const LR: f32 = 0.004;
const MOMENTUM: f32 = 0.9;

/// The `mnist` preset's organism: (225, 5, 3, 10), GELU, residual skip.
fn mnist_shape() -> OrganismShape {
    organism::config::Config::resolve(Some("mnist"), None, &[]).unwrap().organism
}

fn images(b: usize, p: usize, rng: &mut impl Rng) -> (Vec<f32>, Vec<u8>) {
    ((0..b * p).map(|_| rng.gen::<f32>()).collect(), (0..b).map(|_| rng.gen_range(0..10)).collect())
}

/// One self-train step of `batch`; every iteration starts from the same particles (untimed
/// clone), so thousands of iterations do not train them into another regime (e.g. denormals).
fn bench_self_train(c: &mut Criterion, name: &str, batch: &ParticleBatch) {
    let mut ws = batch.workspace();
    let opt = Sgd::new(LR, MOMENTUM, batch.weights().len());
    c.bench_function(name, |b| {
        b.iter_batched_ref(
            || (batch.clone(), opt.clone()),
            |(batch, opt)| batch.self_train_step(opt, &mut ws)[0],
            BatchSize::LargeInput,
        )
    });
}

fn self_train_step(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let linear = ParticleBatch::random(ParticleShape::standard(5).unwrap(), 1200, Init::Xavier, &mut rng);
    bench_self_train(c, "self_train_step_1200_h5", &linear);
    let tanh = ParticleShape::new(vec![5, 5, 5, 1], Activation::Tanh).unwrap();
    bench_self_train(c, "self_train_step_1200_tanh", &ParticleBatch::random(tanh, 1200, Init::Xavier, &mut rng));
}

fn mnist_batch(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let org = Organism::new(mnist_shape(), ParticleShape::standard(5).unwrap(), Init::Xavier, &mut rng).unwrap();
    assert_eq!(org.particles.len(), 1200);
    let (b, self_train_steps) = (2000, 10);
    let (x, y) = images(b, 225, &mut rng);
    let n = org.particles.weights().len();
    let (mut ws, mut pass_ws) = (org.particles.workspace(), TaskWorkspace::new());
    let task_opt = Sgd::new(LR, MOMENTUM, n);
    c.bench_function("mnist_batch", |bench| {
        bench.iter_batched_ref(
            || (org.clone(), task_opt.clone()),
            |(org, task_opt)| {
                let mut st_opt = Sgd::new(LR, MOMENTUM, n);
                for _ in 0..self_train_steps {
                    org.particles.self_train_step(&mut st_opt, &mut ws);
                }
                org.task_step(&x, Targets::Classes(&y), task_opt, &mut ws, &mut pass_ws).loss
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("mnist_task_pass", |bench| {
        bench.iter(|| org.task_pass(&x, Targets::Classes(&y), Path::Extracted, &mut pass_ws).loss)
    });

    // One epoch's overheads (SPEC §3): test evaluation, classification, a trajectory snapshot.
    let (test_x, _) = images(10_000, 225, &mut rng);
    c.bench_function("epoch_test_eval", |bench| bench.iter(|| org.forward(&test_x, Path::Extracted)[0]));
    c.bench_function("epoch_classify", |bench| bench.iter(|| classify(&org.particles, EPSILON).len()));
    c.bench_function("epoch_trajectory", |bench| bench.iter(|| org.particles.weights().to_vec()));
}

fn general_task_pass(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let tanh = ParticleShape::new(vec![5, 5, 5, 1], Activation::Tanh).unwrap();
    let org = Organism::new(mnist_shape(), tanh, Init::Xavier, &mut rng).unwrap();
    let (x, y) = images(200, 225, &mut rng);
    let mut ws = TaskWorkspace::new();
    c.bench_function("general_task_pass_tanh", |bench| {
        bench.iter(|| org.task_pass(&x, Targets::Classes(&y), Path::General, &mut ws).loss)
    });
}

fn tanh(c: &mut Criterion) {
    let small: Vec<f32> = (0..4096).map(|i| (i as f32 / 4096.0 - 0.5) * 2.0).collect();
    let xs: Vec<f32> = (0..4096).map(|i| (i as f32 / 4096.0 - 0.5) * 6.0).collect();
    let mut ys = xs.clone();
    for (name, xs) in [("tanh_simd_4096", &xs), ("tanh_simd_small_4096", &small)] {
        c.bench_function(name, |b| {
            b.iter(|| {
                ys.copy_from_slice(xs);
                organism::simd::dispatch(
                    #[inline(always)]
                    || organism::simd::tanh_in_place(&mut ys),
                );
                ys[0]
            })
        });
    }
    c.bench_function("tanh_libm_4096", |b| {
        b.iter(|| {
            ys.iter_mut().zip(&xs).for_each(|(y, x)| *y = x.tanh());
            ys[0]
        })
    });
}

fn full_size(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let shape = OrganismShape { inputs: 784, width: 64, ..mnist_shape() };
    let org = Organism::new(shape, ParticleShape::standard(5).unwrap(), Init::Xavier, &mut rng).unwrap();
    assert_eq!(org.particles.len(), 54_912);
    bench_self_train(c, "full_self_train_step", &org.particles);
    let (x, y) = images(2000, 784, &mut rng);
    let mut ws = TaskWorkspace::new();
    c.bench_function("full_task_pass", |bench| {
        bench.iter(|| org.task_pass(&x, Targets::Classes(&y), Path::Extracted, &mut ws).loss)
    });
}

criterion_group!(benches, self_train_step, mnist_batch, general_task_pass, tanh, full_size);
criterion_main!(benches);
