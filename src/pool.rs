//! Rayon's thread pool, entered once per operation.

/// Runs `f` on a thread of rayon's global pool, in place when already on one (then it costs
/// nothing). An operation of several parallel regions (a task pass on the extracted path: the
/// extraction, waves of chunks, the chain rule back through the extraction) started from a
/// thread outside the pool hands every region over to the workers and sleeps until it ends;
/// from a worker, the regions start and end without those hand-overs. The work is split into
/// the same pieces whichever thread starts it, so the results are the same bits.
///
/// Allocate what `f` needs before: glibc serves a worker's allocations from an arena of its
/// own, which keeps its own peak (a training batch run whole on the pool, its self-train
/// optimizer allocated on a worker, took a full-size epoch's peak RSS from 98.6 to 130 MB).
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}
