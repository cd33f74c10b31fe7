//! Parallel maps over indices: rayon when the `rayon` feature is on (the
//! default), a plain loop otherwise. Results are always returned in index
//! order, so anything computed from them does not depend on the number of
//! threads. Use these for outer loops only (query points, pseudo-experiments,
//! folds), never inside a kernel.
//!
//! ```
//! use darkprobe_core::par::map_indices;
//! let squares = map_indices(5, |i| i * i);
//! assert_eq!(squares, vec![0, 1, 4, 9, 16]);
//! ```

/// Maps `f` over `0..n`, returning the results in index order.
pub fn map_indices<T, F>(n: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync + Send,
{
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        (0..n).map(f).collect()
    }
}

/// Maps `f` over `0..n` with a per-worker scratch value made by `init`.
pub fn map_indices_with<T, S, I, F>(n: usize, init: I, f: F) -> Vec<T>
where
    T: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize) -> T + Sync + Send,
{
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().map_init(init, f).collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut s = init();
        (0..n).map(|i| f(&mut s, i)).collect()
    }
}
