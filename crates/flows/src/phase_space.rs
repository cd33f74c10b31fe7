//! The phase-space density $f(\mathbf x,\mathbf v) = n(\mathbf x)\,
//! p(\mathbf v\mid\mathbf x)$ as two normalizing flows, and ensembles of it.

use crate::flow::ensemble::mean_exp_weights;
use crate::flow::{Maf, MafConfig, TrainOptions, TrainReport, Transform};
use crate::model::{LnFGrad, PhaseSpaceModel, Result, Vec3};
use crate::radial::{MappedPoint, RadialMap, RadialMapOptions};
use darkprobe_core::progress::Progress;
use darkprobe_core::rng::{rng_from_seed, seed_for_index};
use darkprobe_core::Error;
use darkprobe_nn::{Activation, Optimizer};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Settings of [`PhaseSpaceFlow::fit`]: the architecture shared by the
/// position flow $n(\mathbf x)$ and the velocity flow
/// $p(\mathbf v\mid\mathbf x)$, and the training options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// MADE blocks per flow.
    pub n_blocks: usize,
    /// Hidden widths of each MADE.
    pub hidden: Vec<usize>,
    /// Activation inside the MADEs.
    pub activation: Activation,
    /// Soft bound on each block's log-scale.
    pub max_log_scale: f64,
    /// Training settings (used for both flows).
    pub train: TrainOptions,
    /// The transform of the MADE blocks (affine when absent from a saved
    /// file).
    #[serde(default)]
    pub transform: Transform,
    /// The fixed radial pre-transform of positions ([`RadialMap`]) applied
    /// before both flows, with its scale chosen from the stars; `None`
    /// fits the flows to the raw positions (also when absent from a saved
    /// file).
    #[serde(default)]
    pub radial_map: Option<RadialMapOptions>,
    /// Number $K$ of independently seeded position flows whose densities
    /// are averaged, $n(\mathbf x) = \frac1K\sum_k n_k(\mathbf x)$ (one
    /// velocity flow in every case; 1 when absent from a saved file). The
    /// acceleration is most sensitive to $\nabla_x\ln n$, whose error is
    /// dominated by seed-to-seed differences of the fitted position flow, and
    /// a position flow is cheap to train (see `docs/flows.md`).
    #[serde(default = "one")]
    pub position_members: usize,
}

fn one() -> usize {
    1
}

impl Default for FitOptions {
    /// 6 blocks of 64×64 ELU MADEs, batch 1024, learning rate 2e-3 with
    /// reduce-on-plateau, up to 60 epochs with early stopping (patience 6),
    /// the default radial pre-transform of positions
    /// ([`RadialMapOptions::default`]: about the origin, $s$ = half the
    /// median distance, $q = 1$) and 8 averaged position flows.
    ///
    /// Measured with `examples/phase_space_dark_matter.rs` (release, 2
    /// cores, load about 2) on 100,000 Hernquist stars (82,780 inside
    /// $10a$): 122 s of fit wall time (190 % CPU); median acceleration error at
    /// $0.3a$–$3a$ 5.8 % (one position flow: 10.6 %), density error 7.9 %
    /// (one position flow: 16.4 %); see `docs/flows.md` for the spread over
    /// seeds.
    fn default() -> Self {
        Self {
            n_blocks: 6,
            hidden: vec![64, 64],
            activation: Activation::Elu(1.0),
            max_log_scale: 6.0,
            train: TrainOptions::default(),
            transform: Transform::Affine,
            radial_map: Some(RadialMapOptions::default()),
            position_members: DEFAULT_POSITION_MEMBERS,
        }
    }
}

/// The default [`FitOptions::position_members`].
pub const DEFAULT_POSITION_MEMBERS: usize = 8;

impl FitOptions {
    fn config(&self, dim: usize, context_dim: usize) -> MafConfig {
        MafConfig {
            dim,
            context_dim,
            n_blocks: self.n_blocks,
            hidden: self.hidden.clone(),
            activation: self.activation,
            max_log_scale: self.max_log_scale,
            transform: self.transform,
        }
    }
}

/// Training reports of the two flows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseSpaceReport {
    /// The position flow $n(\mathbf x)$.
    pub position: TrainReport,
    /// The velocity flow $p(\mathbf v\mid\mathbf x)$.
    pub velocity: TrainReport,
    /// The further position flows ([`FitOptions::position_members`] − 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub position_members: Vec<TrainReport>,
}

fn flatten(v: &[Vec3]) -> Vec<f64> {
    v.iter().flat_map(|p| p.iter().copied()).collect()
}

fn to_vec3(v: &[f64]) -> Vec<Vec3> {
    v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
}

fn check_pair(x: &[Vec3], v: &[Vec3]) -> Result<()> {
    if x.len() != v.len() {
        return Err(Error::shape("positions and velocities", x.len(), v.len()));
    }
    Ok(())
}

/// $f(\mathbf x,\mathbf v) = n(\mathbf x)\,p(\mathbf v\mid\mathbf x)$ with an
/// unconditional 3-D flow for $n$ and a 3-D flow for $\mathbf v$ conditioned
/// on $\mathbf x$. Positions in kpc, velocities in km/s.
///
/// ```
/// use darkprobe_flows::{FitOptions, PhaseSpaceFlow, PhaseSpaceModel};
/// use darkprobe_core::progress::NoProgress;
/// use rand::{Rng, SeedableRng};
/// use rand_distr::StandardNormal;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(5);
/// let mut g = || rng.sample::<f64, _>(StandardNormal);
/// let x: Vec<[f64; 3]> = (0..400).map(|_| [g(), g(), g()]).collect();
/// let v: Vec<[f64; 3]> = (0..400).map(|_| [10.0 * g(), 10.0 * g(), 10.0 * g()]).collect();
/// let mut opts = FitOptions::default();
/// opts.n_blocks = 2;
/// opts.hidden = vec![8];
/// opts.train.max_epochs = 3;
/// let (model, _) = PhaseSpaceFlow::fit(&x, &v, &opts, 1, &NoProgress).unwrap();
/// let vs = model.sample_velocities([0.0, 0.0, 0.0], 10, 3).unwrap();
/// assert_eq!(vs.len(), 10);
/// let lf = model.ln_f_grad(&x[..2], &v[..2]).unwrap();
/// assert!(lf.ln_f.iter().all(|l| l.is_finite()));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseSpaceFlow {
    position: Maf,
    velocity: Maf,
    /// The radial pre-transform of positions (none in files written before
    /// it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    radial_map: Option<RadialMap>,
    /// Further position flows averaged with `position` (none in files
    /// written before they existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    more_positions: Vec<Maf>,
}

impl PhaseSpaceFlow {
    /// Combines a 3-D unconditional position flow and a 3-D velocity flow
    /// with a 3-D context.
    ///
    /// # Errors
    /// Flows of other dimensions.
    pub fn new(position: Maf, velocity: Maf) -> Result<Self> {
        if position.dim() != 3 || position.context_dim() != 0 {
            return Err(Error::shape(
                "position flow (dim, context_dim)",
                "(3, 0)",
                format!("({}, {})", position.dim(), position.context_dim()),
            ));
        }
        if velocity.dim() != 3 || velocity.context_dim() != 3 {
            return Err(Error::shape(
                "velocity flow (dim, context_dim)",
                "(3, 3)",
                format!("({}, {})", velocity.dim(), velocity.context_dim()),
            ));
        }
        Ok(Self {
            position,
            velocity,
            radial_map: None,
            more_positions: Vec::new(),
        })
    }

    /// Averages the position density over `position` (the first) and
    /// `more`: $n(\mathbf x) = \frac1K\sum_k n_k(\mathbf x)$ with
    /// $K$ = 1 + `more.len()`; replaces any further position flows set
    /// before.
    ///
    /// # Errors
    /// A flow that is not 3-D and unconditional.
    pub fn with_more_position_flows(mut self, more: Vec<Maf>) -> Result<Self> {
        for (k, m) in more.iter().enumerate() {
            if m.dim() != 3 || m.context_dim() != 0 {
                return Err(Error::shape(
                    format!("position flow {} (dim, context_dim)", k + 1),
                    "(3, 0)",
                    format!("({}, {})", m.dim(), m.context_dim()),
                ));
            }
        }
        self.more_positions = more;
        Ok(self)
    }

    /// All position flows, the first one first.
    pub fn position_flows(&self) -> Vec<&Maf> {
        std::iter::once(&self.position)
            .chain(self.more_positions.iter())
            .collect()
    }

    /// $\ln n$ and $\nabla\ln n$ in the flow coordinates (flattened rows of
    /// `y`), averaged over the position flows.
    fn position_ln_prob_grad(&self, y: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        let first = self.position.ln_prob_grad(y, &[])?;
        if self.more_positions.is_empty() {
            return Ok((first.ln_p, first.grad_x));
        }
        let mut all = vec![first];
        for m in &self.more_positions {
            all.push(m.ln_prob_grad(y, &[])?);
        }
        let n = all[0].ln_p.len();
        let mut ln_p = Vec::with_capacity(n);
        let mut grad = vec![0.0; 3 * n];
        let mut a = vec![0.0; all.len()];
        for i in 0..n {
            for (ak, g) in a.iter_mut().zip(&all) {
                *ak = g.ln_p[i];
            }
            let (l, w) = mean_exp_weights(&a);
            ln_p.push(l);
            for (wk, g) in w.iter().zip(&all) {
                for j in 0..3 {
                    grad[3 * i + j] += wk * g.grad_x[3 * i + j];
                }
            }
        }
        Ok((ln_p, grad))
    }

    /// $\ln n$ in the flow coordinates, averaged over the position flows.
    fn position_ln_prob(&self, y: &[f64]) -> Result<Vec<f64>> {
        let mut l = self.position.ln_prob(y, &[])?;
        if self.more_positions.is_empty() {
            return Ok(l);
        }
        let mut all = vec![std::mem::take(&mut l)];
        for m in &self.more_positions {
            all.push(m.ln_prob(y, &[])?);
        }
        let mut a = vec![0.0; all.len()];
        Ok((0..all[0].len())
            .map(|i| {
                for (ak, g) in a.iter_mut().zip(&all) {
                    *ak = g[i];
                }
                mean_exp_weights(&a).0
            })
            .collect())
    }

    /// The same flows read in the coordinates $\mathbf y(\mathbf x)$ of a
    /// radial pre-transform: $n(\mathbf x) = n_y(\mathbf y)\,|\det J|$ and
    /// $p(\mathbf v\mid\mathbf x) = p_y(\mathbf v\mid\mathbf y)$.
    ///
    /// # Errors
    /// An invalid map.
    pub fn with_radial_map(mut self, map: RadialMap) -> Result<Self> {
        map.check()?;
        self.radial_map = Some(map);
        Ok(self)
    }

    /// The radial pre-transform of positions, if any.
    pub fn radial_map(&self) -> Option<&RadialMap> {
        self.radial_map.as_ref()
    }

    /// The flow coordinates of positions (flattened), with the Jacobian data
    /// of the radial map when there is one.
    fn map_positions(&self, x: &[Vec3]) -> Result<(Vec<f64>, Option<Vec<MappedPoint>>)> {
        match &self.radial_map {
            None => Ok((flatten(x), None)),
            Some(m) => {
                let pts: Vec<MappedPoint> =
                    x.iter().map(|&p| m.jacobian(p)).collect::<Result<_>>()?;
                let y = pts.iter().flat_map(|p| p.y).collect();
                Ok((y, Some(pts)))
            }
        }
    }

    /// The flow coordinates of one position repeated `n` times (the context
    /// of the velocity draws).
    fn context_rows(&self, x: Vec3, n: usize) -> Result<Vec<f64>> {
        let y = match &self.radial_map {
            None => x,
            Some(m) => m.forward(x)?,
        };
        Ok((0..n).flat_map(|_| y.iter().copied()).collect())
    }

    /// Fits $n(\mathbf x)$ and $p(\mathbf v\mid\mathbf x)$ to stars at
    /// `positions` (kpc) with `velocities` (km/s). The two flows have disjoint
    /// parameters and the log-likelihood is the sum of theirs, so they are
    /// trained separately (in parallel), seeded with `seed_for_index(seed, 0)`
    /// and `seed_for_index(seed, 1)`. `progress` counts epochs of both flows.
    ///
    /// # Errors
    /// Mismatched lengths, non-finite values (named by star and component),
    /// fewer than 10 stars, invalid options, or diverging training.
    pub fn fit(
        positions: &[Vec3],
        velocities: &[Vec3],
        opts: &FitOptions,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<(Self, PhaseSpaceReport)> {
        check_pair(positions, velocities)?;
        let raw = flatten(positions);
        let v = flatten(velocities);
        crate::flow::maf::check_rows(&raw, 3, "positions (kpc)")?;
        crate::flow::maf::check_rows(&v, 3, "velocities (km/s)")?;
        let radial_map = match &opts.radial_map {
            None => None,
            Some(o) => Some(o.build(positions)?),
        };
        let x = match &radial_map {
            None => raw,
            Some(m) => {
                let mut y = Vec::with_capacity(raw.len());
                for (k, &p) in positions.iter().enumerate() {
                    let q = m.forward(p).map_err(|_| {
                        Error::invalid_param(
                            format!("position of star {k} (kpc)"),
                            format!("{p:?}"),
                            "away from the radial map's centre",
                        )
                    })?;
                    y.extend(q);
                }
                y
            }
        };
        if opts.position_members == 0 {
            return Err(Error::invalid_param("position_members", 0, "at least 1"));
        }
        let k = opts.position_members;
        progress.start(
            "fitting phase-space flows",
            (k + 1) as u64 * opts.train.max_epochs as u64,
        );
        // Position flow j uses seed_for_index(seed, 0) for j = 0 (as before
        // there were several) and seed_for_index(seed, j + 1) after; the
        // velocity flow seed_for_index(seed, 1).
        let (pos, vel) = rayon::join(
            || {
                // In parallel: one small flow alone leaves a core idle
                // between minibatches (measured 126 % CPU on 2 cores).
                darkprobe_core::par::map_indices(k, |j| {
                    let s = if j == 0 { 0 } else { j as u64 + 1 };
                    Maf::fit(
                        opts.config(3, 0),
                        &x,
                        &[],
                        &opts.train,
                        seed_for_index(seed, s),
                        progress,
                    )
                })
                .into_iter()
                .collect::<Result<Vec<_>>>()
            },
            || {
                Maf::fit(
                    opts.config(3, 3),
                    &v,
                    &x,
                    &opts.train,
                    seed_for_index(seed, 1),
                    progress,
                )
            },
        );
        progress.finish();
        let mut pos = pos?.into_iter();
        let (velocity, vr) = vel?;
        let (position, pr) = pos
            .next()
            .ok_or_else(|| Error::empty("position flows", "position_members is at least 1"))?;
        let (more_positions, more_reports): (Vec<Maf>, Vec<TrainReport>) = pos.unzip();
        Ok((
            Self {
                position,
                velocity,
                radial_map,
                more_positions,
            },
            PhaseSpaceReport {
                position: pr,
                velocity: vr,
                position_members: more_reports,
            },
        ))
    }

    /// One optimiser step of both flows on a minibatch of stars (see
    /// [`Maf::train_step`]); returns the two batch losses (position,
    /// velocity). Only the first position flow is trained (further ones, if
    /// any, are left as they are). Useful for custom training loops and
    /// benchmarks; [`PhaseSpaceFlow::fit`] is the usual entry point.
    ///
    /// # Errors
    /// As [`Maf::train_step`].
    pub fn train_step(
        &mut self,
        positions: &[Vec3],
        velocities: &[Vec3],
        opt_position: &mut dyn Optimizer<f64>,
        opt_velocity: &mut dyn Optimizer<f64>,
        seed: u64,
    ) -> Result<(f64, f64)> {
        check_pair(positions, velocities)?;
        let (x, _) = self.map_positions(positions)?;
        let v = flatten(velocities);
        let a = self
            .position
            .train_step(&x, &[], opt_position, seed_for_index(seed, 0))?;
        let b = self
            .velocity
            .train_step(&v, &x, opt_velocity, seed_for_index(seed, 1))?;
        Ok((a, b))
    }

    /// The (first) position flow; with several
    /// ([`FitOptions::position_members`]), $n(\mathbf x)$ is their average
    /// (see [`PhaseSpaceFlow::position_flows`]).
    pub fn position_flow(&self) -> &Maf {
        &self.position
    }

    /// The velocity flow $p(\mathbf v\mid\mathbf x)$.
    pub fn velocity_flow(&self) -> &Maf {
        &self.velocity
    }

    /// $\ln n(\mathbf x)$ (normalised to one over space) per point.
    ///
    /// # Errors
    /// Non-finite positions.
    pub fn ln_n(&self, x: &[Vec3]) -> Result<Vec<f64>> {
        let (y, pts) = self.map_positions(x)?;
        let mut l = self.position_ln_prob(&y)?;
        if let Some(pts) = pts {
            l.iter_mut().zip(&pts).for_each(|(l, p)| *l += p.ln_det);
        }
        Ok(l)
    }

    /// $\ln n(\mathbf x)$ with its exact gradient $\nabla_x\ln n$ per point
    /// (through the radial map when there is one).
    ///
    /// # Errors
    /// Non-finite positions.
    pub fn ln_n_grad(&self, x: &[Vec3]) -> Result<(Vec<f64>, Vec<Vec3>)> {
        let (y, pts) = self.map_positions(x)?;
        let (mut ln_n, g) = self.position_ln_prob_grad(&y)?;
        let mut grad = to_vec3(&g);
        if let Some(pts) = pts {
            for ((gr, l), m) in grad.iter_mut().zip(ln_n.iter_mut()).zip(&pts) {
                let gy = *gr;
                for (i, gi) in gr.iter_mut().enumerate() {
                    *gi = (0..3).map(|k| m.jacobian[k][i] * gy[k]).sum::<f64>() + m.grad_ln_det[i];
                }
                *l += m.ln_det;
            }
        }
        Ok((ln_n, grad))
    }

    /// Writes the model as JSON to `path` atomically (a temporary file in
    /// the same directory, renamed onto `path`).
    ///
    /// # Errors
    /// I/O errors naming the path.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<()> {
        save_json(self, path.as_ref())
    }

    /// Reads a model written by [`PhaseSpaceFlow::save_json`].
    ///
    /// # Errors
    /// I/O errors, parse errors naming the file, line and reason, and a file
    /// larger than [`DEFAULT_MAX_FILE_BYTES`](darkprobe_core::table::DEFAULT_MAX_FILE_BYTES).
    pub fn load_json(path: impl AsRef<Path>) -> Result<Self> {
        load_json(path.as_ref())
    }
}

pub(crate) fn save_json<T: Serialize>(value: &T, path: &Path) -> Result<()> {
    let text = serde_json::to_string(value)
        .map_err(|e| Error::invalid_param("model to JSON", e, "a serialisable model"))?;
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let tmp = path.with_file_name(format!(".{file_name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

pub(crate) fn load_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = darkprobe_core::table::read_to_string_limited(
        path,
        darkprobe_core::table::DEFAULT_MAX_FILE_BYTES,
    )?;
    serde_json::from_str(&text).map_err(|e| {
        let line = e.line();
        let snippet = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
        Error::parse(
            darkprobe_core::Location::new(path.display().to_string(), line),
            snippet,
            e.to_string(),
        )
    })
}

impl PhaseSpaceModel for PhaseSpaceFlow {
    fn ln_f_grad(&self, x: &[Vec3], v: &[Vec3]) -> Result<LnFGrad> {
        check_pair(x, v)?;
        // Checked here so that an error names the row of `x`, not of the
        // deduplicated positions below.
        crate::flow::maf::check_rows(&flatten(x), 3, "positions (kpc)")?;
        // The acceleration solver passes one position repeated for all its
        // velocities: the position part (K position flows and the radial map)
        // is evaluated once per run of equal consecutive positions.
        let mut starts = Vec::new();
        let mut run_of = Vec::with_capacity(x.len());
        for (i, p) in x.iter().enumerate() {
            if i == 0 || x[i - 1] != *p {
                starts.push(i);
            }
            run_of.push(starts.len() - 1);
        }
        let unique: Vec<Vec3> = starts.iter().map(|&i| x[i]).collect();
        let (uy, pts) = self.map_positions(&unique)?;
        let (n_ln_p, n_grad) = self.position_ln_prob_grad(&uy)?;
        let xf: Vec<f64> = run_of
            .iter()
            .flat_map(|&r| uy[3 * r..3 * r + 3].iter().copied())
            .collect();
        let vf = flatten(v);
        let p = self.velocity.ln_prob_grad(&vf, &xf)?;
        let mut ln_f: Vec<f64> = run_of
            .iter()
            .zip(&p.ln_p)
            .map(|(&r, b)| n_ln_p[r] + b)
            .collect();
        let mut grad_x: Vec<Vec3> = run_of
            .iter()
            .enumerate()
            .map(|(i, &r)| [0, 1, 2].map(|j| n_grad[3 * r + j] + p.grad_context[3 * i + j]))
            .collect();
        if let Some(pts) = pts {
            // grad_x = J^T grad_y + grad_x ln|det J| (J is symmetric).
            for ((g, l), &r) in grad_x.iter_mut().zip(ln_f.iter_mut()).zip(&run_of) {
                let m = &pts[r];
                let gyi = *g;
                for (i, gi) in g.iter_mut().enumerate() {
                    *gi = (0..3).map(|k| m.jacobian[k][i] * gyi[k]).sum::<f64>() + m.grad_ln_det[i];
                }
                *l += m.ln_det;
            }
        }
        Ok(LnFGrad {
            ln_f,
            grad_x,
            grad_v: to_vec3(&p.grad_x),
        })
    }

    fn sample_velocities(&self, x: Vec3, n: usize, seed: u64) -> Result<Vec<Vec3>> {
        if n == 0 {
            return Err(Error::invalid_param(
                "number of velocities",
                n,
                "at least 1",
            ));
        }
        let ctx = self.context_rows(x, n)?;
        Ok(to_vec3(&self.velocity.sample(n, &ctx, seed)?))
    }

    fn sample_velocities_qmc(&self, x: Vec3, n: usize, seed: u64) -> Result<Vec<Vec3>> {
        if n == 0 {
            return Err(Error::invalid_param(
                "number of velocities",
                n,
                "at least 1",
            ));
        }
        let z = crate::qmc::ScrambledHalton::new(seed).normal_points(0, n)?;
        let ctx = self.context_rows(x, n)?;
        Ok(to_vec3(&self.velocity.from_latent(&flatten(&z), &ctx)?))
    }
}

/// An ensemble of $K$ phase-space flows with
/// $f = \frac1K\sum_k n_k(\mathbf x)\,p_k(\mathbf v\mid\mathbf x)$.
///
/// Its conditional $p(\mathbf v\mid\mathbf x) = \sum_k \pi_k(\mathbf x)\,
/// p_k(\mathbf v\mid\mathbf x)$ is a mixture with weights
/// $\pi_k \propto n_k(\mathbf x)$, which is how velocities are sampled.
///
/// ```
/// use darkprobe_flows::{FitOptions, PhaseSpaceEnsemble, PhaseSpaceModel};
/// use darkprobe_core::progress::NoProgress;
/// use rand::{Rng, SeedableRng};
/// use rand_distr::StandardNormal;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(6);
/// let mut g = || rng.sample::<f64, _>(StandardNormal);
/// let x: Vec<[f64; 3]> = (0..300).map(|_| [g(), g(), g()]).collect();
/// let v: Vec<[f64; 3]> = (0..300).map(|_| [g(), g(), g()]).collect();
/// let mut opts = FitOptions::default();
/// opts.n_blocks = 1;
/// opts.hidden = vec![8];
/// opts.train.max_epochs = 2;
/// let (ens, _) = PhaseSpaceEnsemble::fit(2, &x, &v, &opts, 9, &NoProgress).unwrap();
/// assert_eq!(ens.members().len(), 2);
/// assert_eq!(ens.sample_velocities([0.1, 0.0, 0.0], 4, 1).unwrap().len(), 4);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseSpaceEnsemble {
    members: Vec<PhaseSpaceFlow>,
}

impl PhaseSpaceEnsemble {
    /// Each member's share of the averaged density at `x`, the weights by
    /// which velocity draws are split between members (checks `n >= 1`).
    fn member_weights(&self, x: Vec3, n: usize) -> Result<Vec<f64>> {
        if n == 0 {
            return Err(Error::invalid_param(
                "number of velocities",
                n,
                "at least 1",
            ));
        }
        let ln_n: Vec<f64> = self
            .members
            .iter()
            .map(|m| m.ln_n(&[x]).map(|l| l[0]))
            .collect::<Result<_>>()?;
        Ok(mean_exp_weights(&ln_n).1)
    }

    /// An ensemble of the given members.
    ///
    /// # Errors
    /// No members.
    pub fn new(members: Vec<PhaseSpaceFlow>) -> Result<Self> {
        if members.is_empty() {
            return Err(Error::empty(
                "phase-space ensemble",
                "give at least one member",
            ));
        }
        Ok(Self { members })
    }

    /// Fits `k` members in parallel, member $i$ with seed
    /// `seed_for_index(seed, i)` (see [`PhaseSpaceFlow::fit`]).
    ///
    /// # Errors
    /// `k == 0` and the errors of [`PhaseSpaceFlow::fit`].
    pub fn fit(
        k: usize,
        positions: &[Vec3],
        velocities: &[Vec3],
        opts: &FitOptions,
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<(Self, Vec<PhaseSpaceReport>)> {
        if k == 0 {
            return Err(Error::invalid_param("ensemble size", k, "at least 1"));
        }
        let fits = darkprobe_core::par::map_indices(k, |i| {
            PhaseSpaceFlow::fit(
                positions,
                velocities,
                opts,
                seed_for_index(seed, i as u64),
                &darkprobe_core::progress::NoProgress,
            )
        });
        progress.start("fitting phase-space ensemble", k as u64);
        let mut members = Vec::with_capacity(k);
        let mut reports = Vec::with_capacity(k);
        for f in fits {
            let (m, r) = f?;
            members.push(m);
            reports.push(r);
            progress.inc(1);
        }
        progress.finish();
        Ok((Self { members }, reports))
    }

    /// The members.
    pub fn members(&self) -> &[PhaseSpaceFlow] {
        &self.members
    }

    /// Writes the ensemble as JSON atomically (see
    /// [`PhaseSpaceFlow::save_json`]).
    ///
    /// # Errors
    /// I/O errors naming the path.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<()> {
        save_json(self, path.as_ref())
    }

    /// Reads an ensemble written by [`PhaseSpaceEnsemble::save_json`].
    ///
    /// # Errors
    /// I/O errors, parse errors naming the file and line, and a file larger
    /// than [`DEFAULT_MAX_FILE_BYTES`](darkprobe_core::table::DEFAULT_MAX_FILE_BYTES).
    pub fn load_json(path: impl AsRef<Path>) -> Result<Self> {
        let e: Self = load_json(path.as_ref())?;
        if e.members.is_empty() {
            return Err(Error::empty(
                format!("phase-space ensemble in {}", path.as_ref().display()),
                "the file lists no members",
            ));
        }
        Ok(e)
    }
}

impl PhaseSpaceModel for PhaseSpaceEnsemble {
    fn ln_f_grad(&self, x: &[Vec3], v: &[Vec3]) -> Result<LnFGrad> {
        let per: Vec<LnFGrad> = self
            .members
            .iter()
            .map(|m| m.ln_f_grad(x, v))
            .collect::<Result<_>>()?;
        let n = x.len();
        let mut out = LnFGrad {
            ln_f: Vec::with_capacity(n),
            grad_x: vec![[0.0; 3]; n],
            grad_v: vec![[0.0; 3]; n],
        };
        for i in 0..n {
            let a: Vec<f64> = per.iter().map(|p| p.ln_f[i]).collect();
            let (l, w) = mean_exp_weights(&a);
            out.ln_f.push(l);
            for (p, wk) in per.iter().zip(&w) {
                for j in 0..3 {
                    out.grad_x[i][j] += wk * p.grad_x[i][j];
                    out.grad_v[i][j] += wk * p.grad_v[i][j];
                }
            }
        }
        Ok(out)
    }

    fn sample_velocities(&self, x: Vec3, n: usize, seed: u64) -> Result<Vec<Vec3>> {
        let w = self.member_weights(x, n)?;
        let mut rng = rng_from_seed(seed_for_index(seed, u64::MAX));
        let mut counts = vec![0usize; w.len()];
        for _ in 0..n {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            let mut pick = w.len() - 1;
            for (k, wk) in w.iter().enumerate() {
                acc += wk;
                if u < acc {
                    pick = k;
                    break;
                }
            }
            counts[pick] += 1;
        }
        let mut out = Vec::with_capacity(n);
        for (k, (m, &c)) in self.members.iter().zip(&counts).enumerate() {
            if c > 0 {
                out.extend(m.sample_velocities(x, c, seed_for_index(seed, k as u64))?);
            }
        }
        shuffle_in_place(&mut out, &mut rng);
        Ok(out)
    }

    fn sample_velocities_qmc(&self, x: Vec3, n: usize, seed: u64) -> Result<Vec<Vec3>> {
        let w = self.member_weights(x, n)?;
        // Stratified member counts: floor(n w_k) each, the remainder to the
        // members with the largest fractional parts.
        let mut counts: Vec<usize> = w
            .iter()
            .map(|wk| (n as f64 * wk).floor() as usize)
            .collect();
        let mut order: Vec<usize> = (0..w.len()).collect();
        order.sort_by(|&a, &b| {
            let fa = n as f64 * w[a] - counts[a] as f64;
            let fb = n as f64 * w[b] - counts[b] as f64;
            fb.total_cmp(&fa)
        });
        let missing = n - counts.iter().sum::<usize>();
        for &k in order.iter().take(missing) {
            counts[k] += 1;
        }
        let mut out = Vec::with_capacity(n);
        for (k, (m, &c)) in self.members.iter().zip(&counts).enumerate() {
            if c > 0 {
                out.extend(m.sample_velocities_qmc(x, c, seed_for_index(seed, k as u64))?);
            }
        }
        let mut rng = rng_from_seed(seed_for_index(seed, u64::MAX));
        shuffle_in_place(&mut out, &mut rng);
        Ok(out)
    }
}

/// Fisher-Yates shuffle (so that member blocks do not appear in order).
fn shuffle_in_place<R: Rng + ?Sized>(out: &mut [Vec3], rng: &mut R) {
    for i in (1..out.len()).rev() {
        let j = rng.random_range(0..=i);
        out.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::tests::{normals, random_flow};
    use darkprobe_core::progress::{CountingProgress, NoProgress};

    fn random_model(seed: u64) -> PhaseSpaceFlow {
        PhaseSpaceFlow::new(
            random_flow(3, 0, 3, seed),
            random_flow(3, 3, 3, seed + 1000),
        )
        .unwrap()
    }

    fn points(n: usize, seed: u64) -> (Vec<Vec3>, Vec<Vec3>) {
        let z = normals(6 * n, seed);
        let x = to_vec3(&z[..3 * n]);
        let v = to_vec3(&z[3 * n..].iter().map(|a| 2.0 * a).collect::<Vec<_>>());
        (x, v)
    }

    /// Central finite differences of `ln_f` in each of the six coordinates.
    fn fd_grad(m: &dyn PhaseSpaceModel, x: Vec3, v: Vec3) -> ([f64; 3], [f64; 3]) {
        let eps = 1e-6;
        let f = |x: Vec3, v: Vec3| m.ln_f_grad(&[x], &[v]).unwrap().ln_f[0];
        let mut gx = [0.0; 3];
        let mut gv = [0.0; 3];
        for j in 0..3 {
            let (mut xp, mut xm) = (x, x);
            xp[j] += eps;
            xm[j] -= eps;
            gx[j] = (f(xp, v) - f(xm, v)) / (2.0 * eps);
            let (mut vp, mut vm) = (v, v);
            vp[j] += eps;
            vm[j] -= eps;
            gv[j] = (f(x, vp) - f(x, vm)) / (2.0 * eps);
        }
        (gx, gv)
    }

    fn assert_grads(m: &dyn PhaseSpaceModel, x: &[Vec3], v: &[Vec3]) {
        let g = m.ln_f_grad(x, v).unwrap();
        for i in 0..x.len() {
            let (gx, gv) = fd_grad(m, x[i], v[i]);
            for j in 0..3 {
                assert!(
                    (gx[j] - g.grad_x[i][j]).abs() < 1e-6 * (1.0 + gx[j].abs()),
                    "x {i}{j}: {} vs {}",
                    gx[j],
                    g.grad_x[i][j]
                );
                assert!(
                    (gv[j] - g.grad_v[i][j]).abs() < 1e-6 * (1.0 + gv[j].abs()),
                    "v {i}{j}: {} vs {}",
                    gv[j],
                    g.grad_v[i][j]
                );
            }
        }
    }

    #[test]
    fn ln_f_is_ln_n_plus_ln_p_with_exact_gradients() {
        let m = random_model(1);
        let (x, v) = points(6, 2);
        let g = m.ln_f_grad(&x, &v).unwrap();
        let ln_n = m.ln_n(&x).unwrap();
        let ln_p = m
            .velocity_flow()
            .ln_prob(&flatten(&v), &flatten(&x))
            .unwrap();
        for i in 0..6 {
            assert!((g.ln_f[i] - ln_n[i] - ln_p[i]).abs() < 1e-12);
        }
        assert_grads(&m, &x, &v);
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn averaged_position_flows_give_the_mean_density_with_exact_gradients() {
        let map = RadialMap::new([0.1, 0.0, -0.2], 1.1, 1.0).unwrap();
        let single = random_model(31).with_radial_map(map).unwrap();
        let (b, c) = (random_flow(3, 0, 3, 32), random_flow(3, 0, 3, 33));
        let m = single
            .clone()
            .with_more_position_flows(vec![b.clone(), c.clone()])
            .unwrap();
        assert_eq!(m.position_flows().len(), 3);
        // Each member alone, as a one-flow model with the same velocity flow.
        let alone: Vec<PhaseSpaceFlow> = [single.position_flow().clone(), b, c]
            .into_iter()
            .map(|p| {
                PhaseSpaceFlow::new(p, single.velocity_flow().clone())
                    .unwrap()
                    .with_radial_map(map)
                    .unwrap()
            })
            .collect();
        let (x, v) = points(5, 34);
        let ln_n = m.ln_n(&x).unwrap();
        let (ln_n2, _) = m.ln_n_grad(&x).unwrap();
        let g = m.ln_f_grad(&x, &v).unwrap();
        let ln_p = m
            .velocity_flow()
            .ln_prob(
                &flatten(&v),
                &flatten(
                    &x.iter()
                        .map(|&p| map.forward(p).unwrap())
                        .collect::<Vec<_>>(),
                ),
            )
            .unwrap();
        for i in 0..5 {
            // n = (n_1 + n_2 + n_3) / 3, computed directly.
            let mean: f64 = alone
                .iter()
                .map(|a| a.ln_n(&[x[i]]).unwrap()[0].exp())
                .sum::<f64>()
                / 3.0;
            assert!(
                (ln_n[i] - mean.ln()).abs() < 1e-10,
                "{} vs {}",
                ln_n[i],
                mean.ln()
            );
            assert!((ln_n2[i] - ln_n[i]).abs() < 1e-10);
            assert!((g.ln_f[i] - ln_n[i] - ln_p[i]).abs() < 1e-10);
        }
        assert_grads(&m, &x, &v);
        // Velocity draws do not depend on the position flows.
        assert_eq!(
            m.sample_velocities(x[0], 4, 2).unwrap(),
            single.sample_velocities(x[0], 4, 2).unwrap()
        );
        // JSON round trip; one-flow files carry no extra field and load.
        let back: PhaseSpaceFlow =
            serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.position_flows().len(), 3);
        assert_eq!(back.ln_n(&x).unwrap(), ln_n);
        let old = serde_json::to_string(&single).unwrap();
        assert!(!old.contains("more_positions"));
        let back: PhaseSpaceFlow = serde_json::from_str(&old).unwrap();
        assert_eq!(back.position_flows().len(), 1);
        // A conditional flow is not a position flow.
        let e = single
            .with_more_position_flows(vec![random_flow(3, 3, 3, 35)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("position flow 1"), "{e}");
        // position_members = 0 is refused by the fit.
        let opts = FitOptions {
            position_members: 0,
            ..FitOptions::default()
        };
        let e = PhaseSpaceFlow::fit(&x, &v, &opts, 1, &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(e.contains("position_members"), "{e}");
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn radial_map_gives_exact_gradients_and_the_pulled_back_density() {
        let map = RadialMap::new([0.2, -0.1, 0.3], 0.8, 2.0 / 3.0).unwrap();
        let plain = random_model(12);
        let m = plain.clone().with_radial_map(map).unwrap();
        let (x, v) = points(6, 13);
        assert_grads(&m, &x, &v);
        // ln f = ln n_y(y) + ln|det J| + ln p_y(v | y).
        let g = m.ln_f_grad(&x, &v).unwrap();
        let y: Vec<Vec3> = x.iter().map(|&p| map.forward(p).unwrap()).collect();
        let gy = plain.ln_f_grad(&y, &v).unwrap();
        for i in 0..6 {
            let ld = map.jacobian(x[i]).unwrap().ln_det;
            assert!((g.ln_f[i] - gy.ln_f[i] - ld).abs() < 1e-12);
        }
        // ln n and its gradient against ln_n and finite differences.
        // (Two code paths, the gradient tape and the plain pass: equal up to
        // rounding, not bit for bit.)
        let (ln_n, gn) = m.ln_n_grad(&x).unwrap();
        for (a, b) in ln_n.iter().zip(m.ln_n(&x).unwrap()) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
        }
        for i in 0..6 {
            for j in 0..3 {
                let (mut xp, mut xm) = (x[i], x[i]);
                xp[j] += 1e-6;
                xm[j] -= 1e-6;
                let fd = (m.ln_n(&[xp]).unwrap()[0] - m.ln_n(&[xm]).unwrap()[0]) / 2e-6;
                assert!(
                    (fd - gn[i][j]).abs() < 1e-6 * (1.0 + fd.abs()),
                    "{fd} vs {}",
                    gn[i][j]
                );
            }
        }
        // Velocities at x are those of the plain flows at y (same seed).
        assert_eq!(
            m.sample_velocities(x[0], 5, 3).unwrap(),
            plain.sample_velocities(y[0], 5, 3).unwrap()
        );
        assert_eq!(
            m.sample_velocities_qmc(x[0], 5, 3).unwrap(),
            plain.sample_velocities_qmc(y[0], 5, 3).unwrap()
        );
        // (n_y integrates to one and the radial module checks that the
        // pulled-back density N(y(x)) |det J| does; with the identity above
        // n(x) is normalised too.)
        // The map survives a JSON round trip; old files without it load.
        let text = serde_json::to_string(&m).unwrap();
        let back: PhaseSpaceFlow = serde_json::from_str(&text).unwrap();
        assert_eq!(back.radial_map(), Some(&map));
        let old = serde_json::to_string(&plain).unwrap();
        assert!(!old.contains("radial_map"));
        let back: PhaseSpaceFlow = serde_json::from_str(&old).unwrap();
        assert!(back.radial_map().is_none());
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn fit_with_a_radial_map_learns_a_cored_sphere() {
        // x ~ N(0, I) kpc, v ~ N(0, 20^2 I): through the map the learned
        // grad_x ln n must still be close to -x.
        let n = 3000;
        let z = normals(6 * n, 21);
        let x = to_vec3(&z[..3 * n]);
        let v = to_vec3(&z[3 * n..].iter().map(|a| 20.0 * a).collect::<Vec<_>>());
        let opts = FitOptions {
            n_blocks: 3,
            hidden: vec![16, 16],
            train: TrainOptions {
                max_epochs: 15,
                batch_size: 256,
                ..TrainOptions::default()
            },
            // s = 2 x the median radius (1.538 for a 3-D standard normal):
            // a mild map, so that this small flow can still learn n_y.
            radial_map: Some(RadialMapOptions {
                scale_fraction: 2.0,
                ..RadialMapOptions::default()
            }),
            position_members: 1,
            ..FitOptions::default()
        };
        let (m, _) = PhaseSpaceFlow::fit(&x, &v, &opts, 4, &NoProgress).unwrap();
        let map = m.radial_map().copied().unwrap();
        assert_eq!(map.centre_kpc, [0.0; 3]);
        assert!((map.scale_kpc - 3.08).abs() < 0.1, "{map:?}");
        let xt = [[0.5, -0.5, 0.3], [-0.8, 0.2, 0.0]];
        let vt = [[10.0, -15.0, 5.0], [-20.0, 0.0, 12.0]];
        let g = m.ln_f_grad(&xt, &vt).unwrap();
        for i in 0..2 {
            for j in 0..3 {
                assert!(
                    (g.grad_x[i][j] + xt[i][j]).abs() < 0.3,
                    "grad_x {i}{j}: {}",
                    g.grad_x[i][j]
                );
            }
        }
        // A star at the centre is rejected when the map is singular there.
        let mut o2 = opts.clone();
        o2.radial_map = Some(RadialMapOptions {
            inner_power: 0.5,
            ..RadialMapOptions::default()
        });
        let mut x2 = x.clone();
        x2[7] = [0.0; 3];
        let e = PhaseSpaceFlow::fit(&x2, &v, &o2, 4, &NoProgress).unwrap_err();
        assert!(e.to_string().contains("star 7"), "{e}");
    }

    #[test]
    fn velocities_are_sampled_from_the_conditional_flow() {
        let m = random_model(3);
        let x = [0.5, -0.2, 1.0];
        let a = m.sample_velocities(x, 100, 9).unwrap();
        let b = m.sample_velocities(x, 100, 9).unwrap();
        assert_eq!(a, b);
        let ctx: Vec<f64> = (0..100).flat_map(|_| x).collect();
        let direct = m.velocity_flow().sample(100, &ctx, 9).unwrap();
        assert_eq!(flatten(&a), direct);
        assert!(m.sample_velocities(x, 0, 1).is_err());
        assert!(m.sample_velocities([f64::NAN, 0.0, 0.0], 3, 1).is_err());
    }

    #[test]
    fn qmc_velocities_are_the_flow_map_of_halton_normals_and_lower_the_noise() {
        let m = random_model(4);
        let x = [0.3, 0.7, -0.4];
        let n = 512;
        let a = m.sample_velocities_qmc(x, n, 5).unwrap();
        assert_eq!(a, m.sample_velocities_qmc(x, n, 5).unwrap());
        assert_ne!(a, m.sample_velocities_qmc(x, n, 6).unwrap());
        // Mapping back to the latent space gives the scrambled Halton normals.
        let ctx: Vec<f64> = (0..n).flat_map(|_| x).collect();
        let (z, _) = m.velocity_flow().to_latent(&flatten(&a), &ctx).unwrap();
        let want = crate::qmc::ScrambledHalton::new(5)
            .normal_points(0, n)
            .unwrap();
        for (g, w) in z.chunks_exact(3).zip(&want) {
            for j in 0..3 {
                assert!((g[j] - w[j]).abs() < 1e-8, "{g:?} vs {w:?}");
            }
        }
        // The spread of the sample mean over seeds is several times smaller
        // than with independent draws (same n).
        let spread = |qmc: bool| {
            let means: Vec<f64> = (0..24)
                .map(|s| {
                    let v = if qmc {
                        m.sample_velocities_qmc(x, n, 100 + s).unwrap()
                    } else {
                        m.sample_velocities(x, n, 100 + s).unwrap()
                    };
                    v.iter().map(|r| r[0]).sum::<f64>() / n as f64
                })
                .collect();
            let mu = means.iter().sum::<f64>() / 24.0;
            (means.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / 23.0).sqrt()
        };
        let (sq, sr) = (spread(true), spread(false));
        assert!(sq < 0.5 * sr, "QMC spread {sq} vs random {sr}");
        // Ensembles split the draws between members by their weights.
        let ens = PhaseSpaceEnsemble::new(vec![random_model(4), random_model(9)]).unwrap();
        let e = ens.sample_velocities_qmc(x, 101, 2).unwrap();
        assert_eq!(e.len(), 101);
        assert_eq!(e, ens.sample_velocities_qmc(x, 101, 2).unwrap());
    }

    #[test]
    fn ensemble_averages_densities_with_exact_gradients_and_mixture_sampling() {
        let members = vec![random_model(10), random_model(20)];
        let ens = PhaseSpaceEnsemble::new(members.clone()).unwrap();
        let (x, v) = points(4, 5);
        let g = ens.ln_f_grad(&x, &v).unwrap();
        let per: Vec<LnFGrad> = members
            .iter()
            .map(|m| m.ln_f_grad(&x, &v).unwrap())
            .collect();
        for i in 0..4 {
            let direct = (0.5 * (per[0].ln_f[i].exp() + per[1].ln_f[i].exp())).ln();
            assert!((g.ln_f[i] - direct).abs() < 1e-12);
        }
        assert_grads(&ens, &x, &v);
        // p(v|x) of the ensemble is the mixture with weights n_k(x): compare
        // the mean of ensemble samples with the weighted member means.
        let x0 = [0.8, 0.1, -0.5];
        let ns = 20_000;
        let mean = |s: &[Vec3]| {
            let mut m = [0.0; 3];
            s.iter()
                .for_each(|r| (0..3).for_each(|j| m[j] += r[j] / s.len() as f64));
            m
        };
        let ln_n: Vec<f64> = members.iter().map(|m| m.ln_n(&[x0]).unwrap()[0]).collect();
        let (_, w) = mean_exp_weights(&ln_n);
        let sa = members[0].sample_velocities(x0, ns, 1).unwrap();
        let sb = members[1].sample_velocities(x0, ns, 2).unwrap();
        let se = ens.sample_velocities(x0, ns, 3).unwrap();
        let (ma, mb, me) = (mean(&sa), mean(&sb), mean(&se));
        for j in 0..3 {
            let expect = w[0] * ma[j] + w[1] * mb[j];
            let var = se.iter().map(|r| (r[j] - me[j]).powi(2)).sum::<f64>() / ns as f64;
            let tol = 5.0 * (var / ns as f64).sqrt();
            assert!(
                (me[j] - expect).abs() < tol,
                "component {j}: {} vs {expect}",
                me[j]
            );
        }
    }

    #[test]
    fn json_round_trip_is_bit_identical_and_atomic() {
        let dir = std::env::temp_dir().join(format!("darkprobe-flows-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = random_model(7);
        let path = dir.join("model.json");
        m.save_json(&path).unwrap();
        let back = PhaseSpaceFlow::load_json(&path).unwrap();
        let (x, v) = points(20, 1);
        assert_eq!(
            m.ln_f_grad(&x, &v).unwrap(),
            back.ln_f_grad(&x, &v).unwrap()
        );
        let ens = PhaseSpaceEnsemble::new(vec![m.clone(), random_model(8)]).unwrap();
        let epath = dir.join("ensemble.json");
        ens.save_json(&epath).unwrap();
        let eback = PhaseSpaceEnsemble::load_json(&epath).unwrap();
        assert_eq!(
            ens.ln_f_grad(&x, &v).unwrap(),
            eback.ln_f_grad(&x, &v).unwrap()
        );
        // Only the two targets are left: no temporary files.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        // A damaged file gives a located parse error.
        std::fs::write(&path, "{\"position\": [1,\n 2").unwrap();
        let e = PhaseSpaceFlow::load_json(&path).unwrap_err().to_string();
        assert!(e.contains("model.json"), "{e}");
        assert!(PhaseSpaceFlow::load_json(dir.join("missing.json")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fit_learns_an_isotropic_gaussian_phase_space() {
        // x ~ N(0, 1 kpc^2 I), v ~ N(0, (20 km/s)^2 I): grad_x ln f = -x,
        // grad_v ln f = -v / 400.
        let n = 3000;
        let z = normals(6 * n, 11);
        let x = to_vec3(&z[..3 * n]);
        let v = to_vec3(&z[3 * n..].iter().map(|a| 20.0 * a).collect::<Vec<_>>());
        let opts = FitOptions {
            n_blocks: 3,
            hidden: vec![16, 16],
            train: TrainOptions {
                max_epochs: 15,
                batch_size: 256,
                ..TrainOptions::default()
            },
            // The plain flows (the radial map has its own test), two
            // position flows.
            radial_map: None,
            position_members: 2,
            ..FitOptions::default()
        };
        let progress = CountingProgress::default();
        let (m, rep) = PhaseSpaceFlow::fit(&x, &v, &opts, 4, &progress).unwrap();
        assert_eq!(
            progress.count() as usize,
            rep.position.train_loss.len()
                + rep.position_members[0].train_loss.len()
                + rep.velocity.train_loss.len()
        );
        assert_eq!(rep.position_members.len(), 1);
        assert_eq!(m.position_flows().len(), 2);
        let xt = [[0.5, -0.5, 0.3], [-0.8, 0.2, 0.0]];
        let vt = [[10.0, -15.0, 5.0], [-20.0, 0.0, 12.0]];
        let g = m.ln_f_grad(&xt, &vt).unwrap();
        for i in 0..2 {
            for j in 0..3 {
                assert!(
                    (g.grad_x[i][j] + xt[i][j]).abs() < 0.25,
                    "grad_x {i}{j}: {}",
                    g.grad_x[i][j]
                );
                let gv = -vt[i][j] / 400.0;
                assert!(
                    (g.grad_v[i][j] - gv).abs() < 0.012,
                    "grad_v {i}{j}: {} vs {gv}",
                    g.grad_v[i][j]
                );
            }
        }
        // Sampled velocities have the right dispersion.
        let s = m.sample_velocities([0.0, 0.0, 0.0], 4000, 1).unwrap();
        let var = s
            .iter()
            .map(|r| r[0] * r[0] + r[1] * r[1] + r[2] * r[2])
            .sum::<f64>()
            / (3.0 * 4000.0);
        assert!((var.sqrt() - 20.0).abs() < 1.5, "sigma {}", var.sqrt());
    }

    #[test]
    fn fit_rejects_bad_stars() {
        let (x, v) = points(50, 1);
        let opts = FitOptions::default();
        let e = PhaseSpaceFlow::fit(&x[..49], &v, &opts, 0, &NoProgress).unwrap_err();
        assert!(e.to_string().contains("positions and velocities"), "{e}");
        let mut v2 = v.clone();
        v2[17][2] = f64::INFINITY;
        let e = PhaseSpaceFlow::fit(&x, &v2, &opts, 0, &NoProgress).unwrap_err();
        assert!(
            e.to_string().contains("velocities (km/s) row 17 column 2"),
            "{e}"
        );
        assert!(PhaseSpaceFlow::fit(&x[..5], &v[..5], &opts, 0, &NoProgress).is_err());
        assert!(PhaseSpaceEnsemble::fit(0, &x, &v, &opts, 0, &NoProgress).is_err());
        assert!(PhaseSpaceEnsemble::new(vec![]).is_err());
        assert!(random_model(1).ln_f_grad(&x[..3], &v[..2]).is_err());
        assert!(PhaseSpaceFlow::new(random_flow(2, 0, 1, 1), random_flow(3, 3, 1, 1)).is_err());
    }
}
