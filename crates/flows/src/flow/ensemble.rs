//! Ensembles of independently seeded flows: the density is the average of
//! the members' densities.

use super::maf::{LnProbGrad, Maf, MafConfig};
use super::train::{TrainOptions, TrainReport};
use crate::model::Result;
use darkprobe_core::progress::Progress;
use darkprobe_core::rng::{rng_from_seed, seed_for_index};
use darkprobe_core::Error;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Softmax weights $w_k = e^{a_k}/\sum_j e^{a_j}$ and
/// $\ln\frac1K\sum_k e^{a_k}$ of the members' log values `a`.
pub(crate) fn mean_exp_weights(a: &[f64]) -> (f64, Vec<f64>) {
    let m = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        let k = a.len().max(1) as f64;
        return (m, vec![1.0 / k; a.len()]);
    }
    let e: Vec<f64> = a.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    (
        m + (s / a.len() as f64).ln(),
        e.iter().map(|v| v / s).collect(),
    )
}

/// $K$ flows of the same dimensions; $p(x\mid c) = \frac1K\sum_k p_k(x\mid c)$.
///
/// ```
/// use darkprobe_flows::flow::{Maf, MafConfig, MafEnsemble, Whitening};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(2);
/// let cfg = MafConfig::new(1, 0, 2, vec![8]);
/// let a = Maf::new(cfg.clone(), Whitening::identity(1), Whitening::identity(0), &mut rng).unwrap();
/// let b = Maf::new(cfg, Whitening::identity(1), Whitening::identity(0), &mut rng).unwrap();
/// let ens = MafEnsemble::new(vec![a.clone(), b.clone()]).unwrap();
/// let x = [0.3];
/// let (la, lb) = (a.ln_prob(&x, &[]).unwrap()[0], b.ln_prob(&x, &[]).unwrap()[0]);
/// let le = ens.ln_prob(&x, &[]).unwrap()[0];
/// assert!((le - (0.5 * (la.exp() + lb.exp())).ln()).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MafEnsemble {
    members: Vec<Maf>,
}

impl MafEnsemble {
    /// An ensemble of the given members.
    ///
    /// # Errors
    /// No members, or members of different data or context dimensions.
    pub fn new(members: Vec<Maf>) -> Result<Self> {
        let Some(first) = members.first() else {
            return Err(Error::empty("flow ensemble", "give at least one member"));
        };
        let (d, c) = (first.dim(), first.context_dim());
        if let Some(m) = members
            .iter()
            .find(|m| m.dim() != d || m.context_dim() != c)
        {
            return Err(Error::shape(
                "ensemble member (dim, context_dim)",
                format!("({d}, {c})"),
                format!("({}, {})", m.dim(), m.context_dim()),
            ));
        }
        Ok(Self { members })
    }

    /// Fits `k` members in parallel, member $i$ seeded with
    /// `seed_for_index(seed, i)` (results do not depend on the thread count).
    /// `progress` gets one tick per member epoch.
    ///
    /// # Errors
    /// `k == 0` and the errors of [`Maf::fit`].
    pub fn fit(
        k: usize,
        config: &MafConfig,
        data: &[f64],
        context: &[f64],
        opts: &TrainOptions,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<(Self, Vec<TrainReport>)> {
        if k == 0 {
            return Err(Error::invalid_param("ensemble size", k, "at least 1"));
        }
        let fits = darkprobe_core::par::map_indices(k, |i| {
            Maf::fit(
                config.clone(),
                data,
                context,
                opts,
                seed_for_index(seed, i as u64),
                progress,
            )
        });
        let mut members = Vec::with_capacity(k);
        let mut reports = Vec::with_capacity(k);
        for f in fits {
            let (m, r) = f?;
            members.push(m);
            reports.push(r);
        }
        Ok((Self::new(members)?, reports))
    }

    /// Writes the ensemble as JSON atomically (temporary file + rename).
    ///
    /// # Errors
    /// I/O errors naming the path.
    pub fn save_json(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        crate::phase_space::save_json(self, path.as_ref())
    }

    /// Reads an ensemble written by [`MafEnsemble::save_json`].
    ///
    /// # Errors
    /// I/O errors, parse errors naming the file and line, a file larger than
    /// [`DEFAULT_MAX_FILE_BYTES`](darkprobe_core::table::DEFAULT_MAX_FILE_BYTES), and an empty or
    /// inconsistent member list.
    pub fn load_json(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let e: Self = crate::phase_space::load_json(path.as_ref())?;
        Self::new(e.members)
    }

    /// The members.
    pub fn members(&self) -> &[Maf] {
        &self.members
    }

    /// Number of members $K$.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false (an ensemble has at least one member).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// $\ln p(x\mid c) = \ln\frac1K\sum_k p_k(x\mid c)$ per row.
    ///
    /// # Errors
    /// As [`Maf::ln_prob`].
    pub fn ln_prob(&self, x: &[f64], context: &[f64]) -> Result<Vec<f64>> {
        let per: Vec<Vec<f64>> = self
            .members
            .iter()
            .map(|m| m.ln_prob(x, context))
            .collect::<Result<_>>()?;
        let n = per.first().map_or(0, Vec::len);
        Ok((0..n)
            .map(|i| {
                let a: Vec<f64> = per.iter().map(|p| p[i]).collect();
                mean_exp_weights(&a).0
            })
            .collect())
    }

    /// $\ln p$ of the averaged density with its gradients:
    /// $\nabla\ln p = \sum_k w_k\nabla\ln p_k$ with
    /// $w_k = p_k/\sum_j p_j$.
    ///
    /// # Errors
    /// As [`Maf::ln_prob_grad`].
    pub fn ln_prob_grad(&self, x: &[f64], context: &[f64]) -> Result<LnProbGrad> {
        let per: Vec<LnProbGrad> = self
            .members
            .iter()
            .map(|m| m.ln_prob_grad(x, context))
            .collect::<Result<_>>()?;
        let (d, cd) = (self.members[0].dim(), self.members[0].context_dim());
        let n = per[0].ln_p.len();
        let mut out = LnProbGrad {
            ln_p: Vec::with_capacity(n),
            grad_x: vec![0.0; n * d],
            grad_context: vec![0.0; n * cd],
        };
        for i in 0..n {
            let a: Vec<f64> = per.iter().map(|p| p.ln_p[i]).collect();
            let (l, w) = mean_exp_weights(&a);
            out.ln_p.push(l);
            for (p, wk) in per.iter().zip(&w) {
                for j in 0..d {
                    out.grad_x[i * d + j] += wk * p.grad_x[i * d + j];
                }
                for j in 0..cd {
                    out.grad_context[i * cd + j] += wk * p.grad_context[i * cd + j];
                }
            }
        }
        Ok(out)
    }

    /// Samples from the mixture: `n` points (unconditional) or one per
    /// context row; each point picks a member uniformly, reproducibly from
    /// `seed`.
    ///
    /// # Errors
    /// As [`Maf::sample`].
    pub fn sample(&self, n: usize, context: &[f64], seed: u64) -> Result<Vec<f64>> {
        let (d, cd) = (self.members[0].dim(), self.members[0].context_dim());
        let rows = context.len().checked_div(cd).unwrap_or(n);
        let mut rng = rng_from_seed(seed_for_index(seed, u64::MAX));
        let pick: Vec<usize> = (0..rows)
            .map(|_| rng.random_range(0..self.members.len()))
            .collect();
        if rows == 0 {
            return Err(Error::invalid_param(
                "number of samples",
                rows,
                "at least 1",
            ));
        }
        let mut out = vec![0.0; rows * d];
        for (k, m) in self.members.iter().enumerate() {
            let rows_k: Vec<usize> = (0..rows).filter(|&i| pick[i] == k).collect();
            if rows_k.is_empty() {
                continue;
            }
            let ctx_k: Vec<f64> = rows_k
                .iter()
                .flat_map(|&i| context[i * cd..(i + 1) * cd].iter().copied())
                .collect();
            let s = m.sample(rows_k.len(), &ctx_k, seed_for_index(seed, k as u64))?;
            for (r, &i) in rows_k.iter().enumerate() {
                out[i * d..(i + 1) * d].copy_from_slice(&s[r * d..(r + 1) * d]);
            }
        }
        Ok(out)
    }
}
