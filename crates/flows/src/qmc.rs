//! Scrambled Halton points for quasi-Monte Carlo velocity draws.
//!
//! The radical inverse of the index $i=\sum_k d_k b^k$ in base $b$ is
//! $\phi_b(i)=\sum_k d_k b^{-k-1}$; the Halton point $i$ in three dimensions is
//! $(\phi_2(i),\phi_3(i),\phi_5(i))$ (Halton 1960). Its discrepancy falls like
//! $(\ln N)^3/N$ instead of the $N^{-1/2}$ of independent draws. A seeded
//! random permutation $\pi_{b,k}$ of the digits at each position $k$
//! ("random digit scrambling", Matoušek 1998; Owen 2017, arXiv:1706.02808)
//! makes every point uniform on $[0,1)^3$ while keeping the low discrepancy,
//! so averages over the points are unbiased and their spread over seeds
//! estimates the error. Digits are used to a fixed depth (enough for double
//! precision), and each point sits at the centre of its finest cell, so
//! coordinates lie strictly inside $(0,1)$ and can be mapped through the
//! Normal quantile into the latent space of a flow.

use crate::model::{Result, Vec3};
use darkprobe_core::rng::rng_from_seed;
use rand::seq::SliceRandom;

const BASES: [u64; 3] = [2, 3, 5];

/// Digits per base: $b^{D}\ge 2^{52}$.
fn depth(b: u64) -> usize {
    match b {
        2 => 52,
        3 => 33,
        _ => 23,
    }
}

/// A seeded, digit-scrambled three-dimensional Halton sequence.
///
/// ```
/// use darkprobe_flows::qmc::ScrambledHalton;
/// let h = ScrambledHalton::new(7);
/// let pts = h.points(0, 1000);
/// // Each coordinate is spread evenly: every tenth of [0, 1) holds ~100 points.
/// for j in 0..3 {
///     for k in 0..10 {
///         let lo = k as f64 / 10.0;
///         let c = pts.iter().filter(|p| p[j] >= lo && p[j] < lo + 0.1).count();
///         assert!((95..=105).contains(&c), "dim {j} bin {k}: {c}");
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ScrambledHalton {
    /// `perms[j][k]`: permutation of the digits of base `BASES[j]` at position `k`.
    perms: [Vec<Vec<u8>>; 3],
}

impl ScrambledHalton {
    /// The sequence scrambled with permutations drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = rng_from_seed(seed);
        let mut make = |b: u64| -> Vec<Vec<u8>> {
            (0..depth(b))
                .map(|_| {
                    let mut p: Vec<u8> = (0..b as u8).collect();
                    p.shuffle(&mut rng);
                    p
                })
                .collect()
        };
        let perms = [make(BASES[0]), make(BASES[1]), make(BASES[2])];
        Self { perms }
    }

    /// Point number `i` in $(0,1)^3$.
    pub fn point(&self, i: u64) -> Vec3 {
        let mut out = [0.0; 3];
        for (j, (&b, perms)) in BASES.iter().zip(&self.perms).enumerate() {
            let mut rest = i;
            let mut scale = 1.0 / b as f64;
            let mut u = 0.0;
            for p in perms {
                let d = (rest % b) as usize;
                rest /= b;
                u += f64::from(p[d]) * scale;
                scale /= b as f64;
            }
            // Centre of the finest cell: strictly inside (0, 1).
            out[j] = (u + 0.5 * scale * b as f64).min(1.0 - f64::EPSILON);
        }
        out
    }

    /// Points `start..start + n`.
    pub fn points(&self, start: u64, n: usize) -> Vec<Vec3> {
        (0..n as u64).map(|i| self.point(start + i)).collect()
    }

    /// Points `start..start + n` mapped through the standard Normal quantile
    /// in each coordinate: low-discrepancy draws from $\mathcal N(0, I_3)$.
    ///
    /// # Errors
    /// Never in practice (the coordinates lie inside $(0,1)$); a failure of
    /// the quantile is passed on.
    pub fn normal_points(&self, start: u64, n: usize) -> Result<Vec<Vec3>> {
        self.points(start, n)
            .into_iter()
            .map(|p| {
                Ok([
                    darkprobe_core::stats::normal_quantile(p[0])?,
                    darkprobe_core::stats::normal_quantile(p[1])?,
                    darkprobe_core::stats::normal_quantile(p[2])?,
                ])
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unscrambled radical inverse, for comparison.
    fn radical_inverse(mut i: u64, b: u64) -> f64 {
        let mut u = 0.0;
        let mut s = 1.0 / b as f64;
        while i > 0 {
            u += (i % b) as f64 * s;
            i /= b;
            s /= b as f64;
        }
        u
    }

    #[test]
    fn identity_permutations_give_the_halton_sequence() {
        let mut h = ScrambledHalton::new(1);
        for (j, &b) in BASES.iter().enumerate() {
            h.perms[j] = vec![(0..b as u8).collect(); depth(b)];
        }
        for i in [1u64, 2, 3, 7, 100, 12_345] {
            let p = h.point(i);
            for (j, &b) in BASES.iter().enumerate() {
                assert!((p[j] - radical_inverse(i, b)).abs() < 1e-14, "{i} {j}");
            }
        }
    }

    #[test]
    fn scrambled_points_are_stratified_and_seeded() {
        let a = ScrambledHalton::new(3);
        let b = ScrambledHalton::new(3);
        let c = ScrambledHalton::new(4);
        assert_eq!(a.points(5, 50), b.points(5, 50));
        assert_ne!(a.points(5, 50), c.points(5, 50));
        // The first 2^k points fall one per dyadic interval of width 2^-k
        // in dimension 0, and the first 3^k one per triadic interval in
        // dimension 1, whatever the scrambling.
        for (j, n) in [(0usize, 1024usize), (1, 729), (2, 625)] {
            let pts = a.points(0, n);
            let mut seen = vec![false; n];
            for p in &pts {
                assert!(p[j] > 0.0 && p[j] < 1.0);
                let cell = (p[j] * n as f64) as usize;
                assert!(!seen[cell], "dimension {j}: two points in cell {cell}");
                seen[cell] = true;
            }
        }
    }

    #[test]
    fn normal_points_have_unit_moments_with_small_error() {
        // QMC error of the mean and variance is far below the Monte Carlo
        // error 1/sqrt(N) = 0.016 (N = 4096).
        let pts = ScrambledHalton::new(9).normal_points(0, 4096).unwrap();
        for j in 0..3 {
            let m = pts.iter().map(|p| p[j]).sum::<f64>() / 4096.0;
            let v = pts.iter().map(|p| p[j] * p[j]).sum::<f64>() / 4096.0;
            assert!(m.abs() < 3e-3, "mean {m}");
            assert!((v - 1.0).abs() < 1e-2, "variance {v}");
        }
    }
}
