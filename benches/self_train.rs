//! Benchmarks of the training hot paths (run with `cargo bench --bench self_train`):
//! - `self_train_step_1200_h5`: one combined self-train step (grads + SGD) of 1,200 linear
//!   `[5, 5, 5, 1]` particles (authors' PyTorch: 0.34 s; target ≤ 2.3 ms on 2 cores);
//! - `mnist_batch`: one MNIST batch on the authors' schedule: 10 self-train steps with a fresh
//!   optimizer on the 1,200 particles of a `(225, 5, 3, 10)` GELU/residual organism, then one
//!   task step on 2,000 images (extracted path, cross-entropy) (target ≤ 20 ms).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use organism::optim::Sgd;
use organism::organism::{Organism, Path, Targets};
use organism::particle::{Init, ParticleBatch, ParticleShape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const LR: f32 = 0.004;
const MOMENTUM: f32 = 0.9;

fn self_train_step(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let batch = ParticleBatch::random(ParticleShape::standard(5).unwrap(), 1200, Init::Xavier, &mut rng);
    let mut grads = vec![0.0; batch.weights().len()];
    let opt = Sgd::new(LR, MOMENTUM, grads.len());
    // Every iteration starts from the same particles (untimed clone), so thousands of
    // iterations do not train them into another regime (e.g. denormal weights).
    c.bench_function("self_train_step_1200_h5", |b| {
        b.iter_batched_ref(
            || (batch.clone(), opt.clone()),
            |(batch, opt)| batch.self_train_step(opt, &mut grads),
            BatchSize::SmallInput,
        )
    });
}

fn mnist_batch(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    // The `mnist` preset's organism: (225, 5, 3, 10), GELU, residual skip.
    let shape = organism::config::Config::resolve(Some("mnist"), None, &[]).unwrap().organism;
    let org = Organism::new(shape, ParticleShape::standard(5).unwrap(), Init::Xavier, &mut rng).unwrap();
    assert_eq!(org.particles.len(), 1200);
    let (b, self_train_steps) = (2000, 10);
    let x: Vec<f32> = (0..b * 225).map(|_| rng.gen::<f32>()).collect();
    let y: Vec<u8> = (0..b).map(|_| rng.gen_range(0..10)).collect();
    let n = org.particles.weights().len();
    let mut grads = vec![0.0; n];
    let task_opt = Sgd::new(LR, MOMENTUM, n);
    c.bench_function("mnist_batch", |bench| {
        bench.iter_batched_ref(
            || (org.clone(), task_opt.clone()),
            |(org, task_opt)| {
                let mut st_opt = Sgd::new(LR, MOMENTUM, n);
                for _ in 0..self_train_steps {
                    org.particles.self_train_step(&mut st_opt, &mut grads);
                }
                let pass = org.task_pass(&x, Targets::Classes(&y), Path::Extracted);
                task_opt.step(org.particles.weights_mut(), &pass.grads);
                pass.loss
            },
            BatchSize::SmallInput,
        )
    });
    // The task pass alone (forward, loss, backward through the extraction), for profiling.
    c.bench_function("mnist_task_pass", |bench| {
        bench.iter(|| org.task_pass(&x, Targets::Classes(&y), Path::Extracted).loss)
    });
}

criterion_group!(benches, self_train_step, mnist_batch);
criterion_main!(benches);
