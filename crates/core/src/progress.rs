//! Progress reporting without a terminal dependency.
//!
//! Long loops in the libraries (pseudo-experiments, simulations, training
//! epochs) report through the [`Progress`] trait. The library never draws
//! anything itself: the `darkprobe` CLI implements the trait with progress bars
//! (hidden when stderr is not a terminal or with `--quiet`), and library users
//! pass [`NoProgress`] or their own implementation.
//!
//! Implementations must be `Sync`, because rayon workers call [`Progress::inc`]
//! concurrently.
//!
//! ```
//! use darkprobe_core::progress::{CountingProgress, Progress};
//! let p = CountingProgress::default();
//! p.start("pseudo-experiments", 10);
//! for _ in 0..10 { p.inc(1); }
//! p.finish();
//! assert_eq!(p.count(), 10);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

/// Receives progress from a long-running loop.
pub trait Progress: Sync {
    /// A task named `label` with `total` steps begins.
    fn start(&self, label: &str, total: u64);
    /// `n` more steps are done.
    fn inc(&self, n: u64);
    /// The current task is done.
    fn finish(&self);
}

/// Discards all progress reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _label: &str, _total: u64) {}
    fn inc(&self, _n: u64) {}
    fn finish(&self) {}
}

/// Counts steps; useful in tests and for callers that poll.
#[derive(Debug, Default)]
pub struct CountingProgress {
    count: AtomicU64,
    total: AtomicU64,
}

impl CountingProgress {
    /// Steps reported since the last [`Progress::start`].
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
    /// Total announced by the last [`Progress::start`].
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

impl Progress for CountingProgress {
    fn start(&self, _label: &str, total: u64) {
        self.count.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
    fn inc(&self, n: u64) {
        self.count.fetch_add(n, Ordering::Relaxed);
    }
    fn finish(&self) {}
}
