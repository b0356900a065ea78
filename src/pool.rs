//! Rayon's thread pool, entered once per operation.

/// Runs `f` on a thread of rayon's global pool, in place when already on one (then it costs
/// nothing). An operation of several parallel regions (a task pass: the extraction, waves of
/// chunks, the chain rule back through the extraction; a training batch: its self-train steps
/// and task step) started from a thread outside the pool hands every region over to the
/// workers and sleeps until it ends; from a worker, the regions start and end without those
/// hand-overs (they were ≈ 25 % of the 2,000-image task pass at 2 threads). The work is split
/// into the same pieces whichever thread starts it, so the results are the same bits.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}
