//! A k-d tree over whitened training points, for kernel sums with a
//! rigorous error bound.
//!
//! (The `kiddo` crate fixes the dimension at compile time; KDE dimensions are
//! a run-time property here, hence this small tree.)
//!
//! For a whitened query $z$ the kernel sum is $S = \sum_i w_i e^{-|z - z_i|^2/2}$.
//! Summing only the points within radius $r$ gives $S_\mathrm{in} \le S$, and
//! the rest contribute at most $W_\mathrm{out}\, e^{-r^2/2}$ with
//! $W_\mathrm{out} = 1 - \sum_\mathrm{in} w_i$. The radius starts at
//! $\sqrt{d_\mathrm{nn}^2 + 2\ln(1/\mathrm{rtol})}$ ($d_\mathrm{nn}$ the nearest-neighbour
//! distance) and grows to $r^2 = 2[\ln W_\mathrm{out} - \ln(\mathrm{rtol}\,S_\mathrm{in})]$ until
//! $W_\mathrm{out} e^{-r^2/2} \le \max(\mathrm{rtol}\,S_\mathrm{in}, \mathrm{atol})$; each
//! step only grows $S_\mathrm{in}$, so it ends, usually after one or two passes.

const LEAF_SIZE: usize = 24;

#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    /// Children (indices into `nodes`), `None` for a leaf.
    children: Option<(usize, usize)>,
}

/// A static k-d tree with bounding boxes.
#[derive(Debug)]
pub(crate) struct KdTree {
    d: usize,
    /// Points in tree order, row-major.
    pts: Vec<f64>,
    ln_w: Vec<f64>,
    w: Vec<f64>,
    nodes: Vec<Node>,
    /// Bounding boxes: for node `j`, `lo` at `bbox[2*d*j..]`, `hi` after it.
    bbox: Vec<f64>,
}

impl KdTree {
    /// Builds the tree over `pts` (row-major, `d` columns) with weights `w`.
    pub(crate) fn build(pts: &[f64], w: &[f64], d: usize) -> Self {
        let n = w.len();
        let mut idx: Vec<usize> = (0..n).collect();
        let mut tree = KdTree {
            d,
            pts: Vec::new(),
            ln_w: Vec::new(),
            w: Vec::new(),
            nodes: Vec::new(),
            bbox: Vec::new(),
        };
        tree.build_node(pts, &mut idx, 0, n);
        tree.pts = idx
            .iter()
            .flat_map(|&i| pts[i * d..(i + 1) * d].iter().copied())
            .collect();
        tree.w = idx.iter().map(|&i| w[i]).collect();
        tree.ln_w = tree.w.iter().map(|x| x.ln()).collect();
        tree
    }

    fn build_node(&mut self, pts: &[f64], idx: &mut [usize], start: usize, end: usize) -> usize {
        let d = self.d;
        let me = self.nodes.len();
        self.nodes.push(Node {
            start,
            end,
            children: None,
        });
        let mut lo = vec![f64::INFINITY; d];
        let mut hi = vec![f64::NEG_INFINITY; d];
        for &i in &idx[start..end] {
            for k in 0..d {
                let v = pts[i * d + k];
                lo[k] = lo[k].min(v);
                hi[k] = hi[k].max(v);
            }
        }
        self.bbox.extend_from_slice(&lo);
        self.bbox.extend_from_slice(&hi);
        if end - start > LEAF_SIZE {
            let (axis, spread) = (0..d)
                .map(|k| (k, hi[k] - lo[k]))
                .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
            if spread > 0.0 {
                let mid = (start + end) / 2;
                idx[start..end].select_nth_unstable_by(mid - start, |&a, &b| {
                    pts[a * d + axis].total_cmp(&pts[b * d + axis])
                });
                let left = self.build_node(pts, idx, start, mid);
                let right = self.build_node(pts, idx, mid, end);
                self.nodes[me].children = Some((left, right));
            }
        }
        me
    }

    #[inline]
    fn min_dist2(&self, node: usize, z: &[f64]) -> f64 {
        let d = self.d;
        let lo = &self.bbox[2 * d * node..2 * d * node + d];
        let hi = &self.bbox[2 * d * node + d..2 * d * (node + 1)];
        let mut s = 0.0;
        for k in 0..d {
            let v = if z[k] < lo[k] {
                lo[k] - z[k]
            } else if z[k] > hi[k] {
                z[k] - hi[k]
            } else {
                0.0
            };
            s += v * v;
        }
        s
    }

    #[inline]
    fn dist2(&self, i: usize, z: &[f64]) -> f64 {
        let p = &self.pts[i * self.d..(i + 1) * self.d];
        p.iter().zip(z).map(|(a, b)| (a - b) * (a - b)).sum()
    }

    /// Squared distance to the nearest point.
    pub(crate) fn nearest_dist2(&self, z: &[f64]) -> f64 {
        let mut best = f64::INFINITY;
        self.nearest_rec(0, z, &mut best);
        best
    }

    fn nearest_rec(&self, node: usize, z: &[f64], best: &mut f64) {
        if self.min_dist2(node, z) >= *best {
            return;
        }
        match self.nodes[node].children {
            None => {
                for i in self.nodes[node].start..self.nodes[node].end {
                    let d2 = self.dist2(i, z);
                    if d2 < *best {
                        *best = d2;
                    }
                }
            }
            Some((a, b)) => {
                let (first, second) = if self.min_dist2(a, z) <= self.min_dist2(b, z) {
                    (a, b)
                } else {
                    (b, a)
                };
                self.nearest_rec(first, z, best);
                self.nearest_rec(second, z, best);
            }
        }
    }

    /// Squared distance from `z` to the farthest corner of a node's box.
    #[inline]
    fn max_dist2(&self, node: usize, z: &[f64]) -> f64 {
        let d = self.d;
        let lo = &self.bbox[2 * d * node..2 * d * node + d];
        let hi = &self.bbox[2 * d * node + d..2 * d * (node + 1)];
        let mut s = 0.0;
        for k in 0..d {
            let v = (z[k] - lo[k]).abs().max((hi[k] - z[k]).abs());
            s += v * v;
        }
        s
    }

    /// Adds $w_i e^{-(d_i^2 - d_\mathrm{ref}^2)/2}$ over the points of the shell
    /// $r_\mathrm{lo}^2 < d_i^2 \le r^2$ (`r2_lo < 0`: the whole ball) to
    /// `acc.0`, and their weights $w_i$ to `acc.1`. A node whose farthest
    /// corner is within `r2_lo` is skipped: IEEE rounding is monotone, so every
    /// point in it has a computed $d_i^2 \le$ the box's, and an earlier call
    /// with radius `r2_lo` took them all.
    fn sum_shell(
        &self,
        node: usize,
        z: &[f64],
        (r2_lo, r2, d2_ref): (f64, f64, f64),
        acc: &mut (f64, f64),
    ) {
        if self.min_dist2(node, z) > r2 || self.max_dist2(node, z) <= r2_lo {
            return;
        }
        match self.nodes[node].children {
            None => {
                let (mut s, mut w_in) = (0.0, 0.0);
                for i in self.nodes[node].start..self.nodes[node].end {
                    let d2 = self.dist2(i, z);
                    if d2 <= r2 && d2 > r2_lo {
                        s += self.w[i] * (-0.5 * (d2 - d2_ref)).exp();
                        w_in += self.w[i];
                    }
                }
                acc.0 += s;
                acc.1 += w_in;
            }
            Some((a, b)) => {
                self.sum_shell(a, z, (r2_lo, r2, d2_ref), acc);
                self.sum_shell(b, z, (r2_lo, r2, d2_ref), acc);
            }
        }
    }

    /// $\ln S_\mathrm{in}$ with $S - \max(\mathrm{rtol}\,S, \mathrm{atol}) \le S_\mathrm{in} \le S$.
    ///
    /// The terms are summed relative to the nearest point's kernel,
    /// $S_\mathrm{in} = e^{-d_\mathrm{nn}^2/2}\sum w_i e^{-(d_i^2 - d_\mathrm{nn}^2)/2}$:
    /// every factor is at most 1 and the nearest point's is exactly 1, so the
    /// sum neither overflows nor underflows to zero.
    pub(crate) fn ln_sum_bounded(&self, z: &[f64], ln_rtol: f64, ln_atol: f64) -> f64 {
        let d2nn = self.nearest_dist2(z);
        let mut r2 = d2nn + 2.0 * (-ln_rtol).clamp(0.0, 745.0);
        // Each pass adds only the shell between the previous radius and the
        // new one to the sums so far.
        let mut r2_lo = -1.0;
        let mut acc = (0.0, 0.0);
        loop {
            self.sum_shell(0, z, (r2_lo, r2, d2nn), &mut acc);
            r2_lo = r2;
            let ln_s_in = acc.0.ln() - 0.5 * d2nn;
            let w_out = 1.0 - acc.1;
            if w_out <= 1e-15 {
                return ln_s_in;
            }
            let ln_allowed = (ln_rtol + ln_s_in).max(ln_atol);
            let ln_bound = w_out.ln() - 0.5 * r2;
            if ln_bound <= ln_allowed {
                return ln_s_in;
            }
            // Grow the radius to the one that would satisfy the bound now.
            let next = 2.0 * (w_out.ln() - ln_allowed);
            r2 = next.max(r2 * 1.25 + 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn nearest_and_radius_search_match_brute_force() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let d = 3;
        let n = 1000;
        let pts: Vec<f64> = (0..n * d).map(|_| rng.random_range(-3.0..3.0)).collect();
        let w = vec![1.0 / n as f64; n];
        let tree = KdTree::build(&pts, &w, d);
        for _ in 0..50 {
            let z: Vec<f64> = (0..d).map(|_| rng.random_range(-4.0..4.0)).collect();
            let brute = pts
                .chunks_exact(d)
                .map(|p| {
                    p.iter()
                        .zip(&z)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min);
            assert_eq!(tree.nearest_dist2(&z), brute);
            let d2s: Vec<f64> = pts
                .chunks_exact(d)
                .map(|p| p.iter().zip(&z).map(|(a, b)| (a - b) * (a - b)).sum())
                .collect();
            let count = |lo: f64, hi: f64| d2s.iter().filter(|&&q| q > lo && q <= hi).count();
            // Brute-force sums over a shell, relative to d2_ref = 1.
            let brute = |lo: f64, hi: f64| {
                d2s.iter()
                    .filter(|&&q| q > lo && q <= hi)
                    .map(|q| (-0.5 * (q - 1.0)).exp() / n as f64)
                    .sum::<f64>()
            };
            let mut acc = (0.0, 0.0);
            tree.sum_shell(0, &z, (-1.0, 1.5, 1.0), &mut acc);
            assert!((acc.1 - count(-1.0, 1.5) as f64 / n as f64).abs() < 1e-12);
            assert!((acc.0 - brute(-1.0, 1.5)).abs() <= 1e-12 * brute(-1.0, 1.5).max(1e-300));
            // A shell adds exactly the points between the two radii, so ball +
            // shells partition the points (no point twice, none lost).
            let mut shell = (0.0, 0.0);
            tree.sum_shell(0, &z, (1.5, 4.0, 1.0), &mut shell);
            assert!((shell.1 - count(1.5, 4.0) as f64 / n as f64).abs() < 1e-12);
            assert!((shell.0 - brute(1.5, 4.0)).abs() <= 1e-12 * brute(1.5, 4.0).max(1e-300));
            tree.sum_shell(0, &z, (1.5, 4.0, 1.0), &mut acc);
            assert!((acc.1 - count(-1.0, 4.0) as f64 / n as f64).abs() < 1e-12);
        }
    }
}
