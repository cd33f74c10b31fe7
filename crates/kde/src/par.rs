//! Parallel map over indices: rayon when the `rayon` feature is on, a plain
//! loop otherwise. Results are always in index order, so they do not depend
//! on the number of threads.

/// Maps `f` over `0..n`, returning the results in index order.
pub(crate) fn map_indices<T, F>(n: usize, f: F) -> Vec<T>
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
pub(crate) fn map_indices_with<T, S, I, F>(n: usize, init: I, f: F) -> Vec<T>
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
