//! How a pass runs: training or inference mode, sequential or parallel,
//! with which seed; and the fixed row blocking that makes results independent
//! of the thread count.
//!
//! Every layer cuts its batch into blocks of [`ROW_BLOCK`] rows. Each block is
//! computed by sequential kernels (faer's GEMM with `Par::Seq`), and sums over
//! the batch (parameter gradients, batch statistics) are formed per block and
//! then added in block order. The blocks are the same whatever the thread
//! count, so with [`Par::Rayon`] on any number of threads the results are
//! bit-identical to [`Par::Seq`].
//!
//! ```
//! use darkprobe_nn::{Ctx, Mode, Par};
//! let ctx = Ctx::train(7).with_par(Par::Rayon);
//! assert_eq!(ctx.mode, Mode::Train);
//! assert!(ctx.param_grads);
//! assert!(!Ctx::eval().without_param_grads().param_grads);
//! ```

use crate::error::{invalid, Result};
use crate::float::Float;
use rayon::prelude::*;

/// Rows per block. Results depend on this constant (it fixes the order of
/// floating-point sums over the batch), never on the number of threads.
pub const ROW_BLOCK: usize = 512;

/// Whether row blocks run one after the other or on the current rayon pool.
///
/// Use [`thread_pool`] and `pool.install(|| ...)` to choose the number of
/// threads; the results are the same for any choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Par {
    /// One block after another on the calling thread.
    #[default]
    Seq,
    /// Blocks spread over the threads of the current rayon pool.
    Rayon,
}

/// Training (batch statistics, dropout active, activations kept for backward)
/// or inference (running statistics, dropout off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    /// Training behaviour.
    Train,
    /// Inference behaviour.
    #[default]
    Eval,
}

/// The context of one forward/backward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// Training or inference behaviour.
    pub mode: Mode,
    /// Sequential or parallel over row blocks.
    pub par: Par,
    /// Seed of the pass's random choices (dropout masks). The trainer derives
    /// one per optimiser step with [`darkprobe_core::rng::seed_for_index`].
    pub seed: u64,
    /// Whether `backward` accumulates parameter gradients (turn off when only
    /// input gradients are wanted).
    pub param_grads: bool,
}

impl Ctx {
    /// A training pass with random choices seeded by `seed`.
    pub fn train(seed: u64) -> Self {
        Self {
            mode: Mode::Train,
            par: Par::Seq,
            seed,
            param_grads: true,
        }
    }

    /// An inference pass.
    pub fn eval() -> Self {
        Self {
            mode: Mode::Eval,
            par: Par::Seq,
            seed: 0,
            param_grads: true,
        }
    }

    /// The same context with parallelism `par`.
    pub fn with_par(mut self, par: Par) -> Self {
        self.par = par;
        self
    }

    /// The same context with parameter gradients turned off.
    pub fn without_param_grads(mut self) -> Self {
        self.param_grads = false;
        self
    }

    /// True in training mode.
    #[inline]
    pub fn is_train(&self) -> bool {
        self.mode == Mode::Train
    }
}

/// A rayon pool with `threads` threads (at least one).
///
/// # Errors
/// An invalid-parameter error when `threads == 0` or the pool cannot start.
///
/// ```
/// use darkprobe_nn::exec::thread_pool;
/// let pool = thread_pool(2).unwrap();
/// assert_eq!(pool.install(rayon::current_num_threads), 2);
/// ```
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    if threads == 0 {
        return Err(invalid("threads", threads, "at least 1"));
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| invalid("threads", threads, &format!("a pool that can start ({e})")))
}

/// Number of row blocks for `rows` rows.
#[inline]
pub(crate) fn n_blocks(rows: usize) -> usize {
    rows.div_ceil(ROW_BLOCK)
}

/// Rows `[start, end)` of block `b`.
#[inline]
pub(crate) fn block_rows(b: usize, rows: usize) -> (usize, usize) {
    let start = b * ROW_BLOCK;
    (start, (start + ROW_BLOCK).min(rows))
}

/// Splits `s` into `nb` consecutive pieces: the row blocks of a
/// `rows × cols` matrix when `per_block == None`, or pieces of `stride`
/// elements (per-block scratch).
fn split_blocks<A>(mut s: &mut [A], rows: usize, cols: usize) -> Vec<&mut [A]> {
    let nb = n_blocks(rows);
    let mut out = Vec::with_capacity(nb);
    for b in 0..nb {
        let (r0, r1) = block_rows(b, rows);
        let (head, tail) = s.split_at_mut((r1 - r0) * cols);
        out.push(head);
        s = tail;
    }
    out
}

fn split_stride<A>(mut s: &mut [A], nb: usize, stride: usize) -> Vec<&mut [A]> {
    let mut out = Vec::with_capacity(nb);
    for _ in 0..nb {
        let (head, tail) = s.split_at_mut(stride);
        out.push(head);
        s = tail;
    }
    out
}

/// Runs `f(block, first_row, end_row, out_rows)` over the row blocks of the
/// `rows × cols` buffer `out`.
pub(crate) fn for_blocks<A, F>(par: Par, rows: usize, out: &mut [A], cols: usize, f: F)
where
    A: Send,
    F: Fn(usize, usize, usize, &mut [A]) + Sync + Send,
{
    debug_assert_eq!(out.len(), rows * cols);
    let pieces = split_blocks(out, rows, cols);
    let run = |(b, piece): (usize, &mut [A])| {
        let (r0, r1) = block_rows(b, rows);
        f(b, r0, r1, piece)
    };
    match par {
        Par::Seq => pieces.into_iter().enumerate().for_each(run),
        Par::Rayon => pieces.into_par_iter().enumerate().for_each(run),
    }
}

/// Runs `f(block, first_row, end_row, scratch)` over the row blocks of a
/// batch of `rows` rows, each block writing its own `stride` elements.
pub(crate) fn for_blocks_scratch_only<B, F>(
    par: Par,
    rows: usize,
    scratch: &mut [B],
    stride: usize,
    f: F,
) where
    B: Send,
    F: Fn(usize, usize, usize, &mut [B]) + Sync + Send,
{
    let nb = n_blocks(rows);
    debug_assert!(scratch.len() >= nb * stride);
    let scr = split_stride(scratch, nb, stride);
    let run = |(b, s): (usize, &mut [B])| {
        let (r0, r1) = block_rows(b, rows);
        f(b, r0, r1, s)
    };
    match par {
        Par::Seq => scr.into_iter().enumerate().for_each(run),
        Par::Rayon => scr.into_par_iter().enumerate().for_each(run),
    }
}

/// Runs `f(block, first_row, end_row, out_rows, scratch)` over the row blocks
/// of a batch of `rows` rows. When `out` is given (a `rows × cols` buffer),
/// each block gets its rows of it; each block also gets its own `stride`
/// elements of `scratch` (which must hold `n_blocks(rows) * stride`).
pub(crate) fn for_blocks_opt<A, B, F>(
    par: Par,
    rows: usize,
    out: Option<(&mut [A], usize)>,
    scratch: &mut [B],
    stride: usize,
    f: F,
) where
    A: Send,
    B: Send,
    F: Fn(usize, usize, usize, Option<&mut [A]>, &mut [B]) + Sync + Send,
{
    let nb = n_blocks(rows);
    debug_assert!(scratch.len() >= nb * stride);
    let pieces: Vec<Option<&mut [A]>> = match out {
        Some((o, cols)) => {
            debug_assert_eq!(o.len(), rows * cols);
            split_blocks(o, rows, cols).into_iter().map(Some).collect()
        }
        None => (0..nb).map(|_| None).collect(),
    };
    let scr = split_stride(scratch, nb, stride);
    let run = |(b, (piece, s)): (usize, (Option<&mut [A]>, &mut [B]))| {
        let (r0, r1) = block_rows(b, rows);
        f(b, r0, r1, piece, s)
    };
    match par {
        Par::Seq => pieces.into_iter().zip(scr).enumerate().for_each(run),
        Par::Rayon => pieces.into_par_iter().zip(scr).enumerate().for_each(run),
    }
}

/// `out[j] += Σ_b partials[b * stride + j]`, summing the blocks in order.
pub(crate) fn add_block_sums<T: Float>(partials: &[T], nb: usize, stride: usize, out: &mut [T]) {
    debug_assert!(out.len() <= stride || nb <= 1);
    // Columns in chunks so that each block's partials are read contiguously;
    // every sum is still 0 + p_0 + p_1 + ... in block order, then added to out.
    const CHUNK: usize = 256;
    let mut acc = [T::ZERO; CHUNK];
    let len = out.len();
    let mut j0 = 0;
    while j0 < len {
        let w = CHUNK.min(len - j0);
        let acc = &mut acc[..w];
        acc.fill(T::ZERO);
        for b in 0..nb {
            let p = &partials[b * stride + j0..b * stride + j0 + w];
            for (a, &v) in acc.iter_mut().zip(p) {
                *a += v;
            }
        }
        for (o, &a) in out[j0..j0 + w].iter_mut().zip(acc.iter()) {
            *o += a;
        }
        j0 += w;
    }
}

/// Per-block scratch of at least `len` elements, kept between calls.
pub(crate) fn ensure_len<T: Float>(v: &mut Vec<T>, len: usize) {
    if v.len() < len {
        v.resize(len, T::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_rows_exactly_once() {
        for rows in [0usize, 1, 511, 512, 513, 1500] {
            let cols = 3;
            let mut out = vec![0u32; rows * cols];
            for_blocks(Par::Rayon, rows, &mut out, cols, |_, r0, r1, piece| {
                assert_eq!(piece.len(), (r1 - r0) * cols);
                for (k, v) in piece.iter_mut().enumerate() {
                    *v = (r0 * cols + k) as u32 + 1;
                }
            });
            let want: Vec<u32> = (1..=(rows * cols) as u32).collect();
            assert_eq!(out, want);
        }
    }

    #[test]
    fn scratch_blocks_are_disjoint_and_summed_in_order() {
        let rows = 1200;
        let nb = n_blocks(rows);
        assert_eq!(nb, 3);
        let mut scratch = vec![0.0f64; nb * 2];
        for_blocks_scratch_only(Par::Rayon, rows, &mut scratch, 2, |b, r0, r1, s| {
            s[0] = (r1 - r0) as f64;
            s[1] = b as f64;
        });
        let mut out = [1.0, 1.0];
        add_block_sums(&scratch, nb, 2, &mut out);
        assert_eq!(out, [1201.0, 4.0]);
    }

    #[test]
    fn zero_threads_is_rejected() {
        assert!(thread_pool(0).is_err());
    }
}
