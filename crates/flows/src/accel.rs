//! Accelerations from the steady-state collisionless Boltzmann equation by
//! least squares.
//!
//! # Method
//! In equilibrium $\mathbf v\cdot\nabla_x f + \mathbf a\cdot\nabla_v f = 0$, and
//! dividing by $f$ the same holds for $\ln f$. At a position $\mathbf x$ the
//! acceleration is one vector shared by all velocities, so with $N$ velocities
//! $\mathbf v_i \sim p(\mathbf v\mid\mathbf x)$, $b_i = \mathbf v_i\cdot\nabla_x\ln f$
//! and $\mathbf g_i = \nabla_v\ln f$ it is estimated by
//! $$\hat{\mathbf a} = \arg\min_{\mathbf a}\sum_i (b_i + \mathbf a\cdot\mathbf g_i)^2,
//! \qquad \Big(\sum_i \mathbf g_i\mathbf g_i^{\mathsf T}\Big)\hat{\mathbf a} = -\sum_i b_i\mathbf g_i,$$
//! solved by a Cholesky factorisation of the $3\times3$ normal matrix after
//! scaling it to unit diagonal (Buckley et al. 2023; Lim et al. 2023). The
//! fit quality is the normalised residual
//! $\mathrm{rms}_i(b_i + \hat{\mathbf a}\cdot\mathbf g_i)/\mathrm{rms}_i(b_i)$: zero
//! for an exact equilibrium $f$, of order one when $f$ is far from equilibrium
//! (or badly learned). Standard errors come from the heteroscedasticity-robust
//! (sandwich) covariance $\frac{N}{N-3} M^{-1}\big(\sum_i r_i^2\mathbf g_i\mathbf g_i^{\mathsf T}\big)M^{-1}$
//! with $M = \sum_i\mathbf g_i\mathbf g_i^{\mathsf T}$ and residuals $r_i$
//! (White 1980); they treat the residuals as independent between samples,
//! but not as equally large (the residual of a learned density grows with
//! $|\mathbf v|$ together with $\mathbf g_i$).
//!
//! By default position $k$ draws its velocities with seed
//! `seed_for_index(seed, k)`; with [`DrawSeeds::Shared`] every position uses
//! `seed` itself (common random numbers: a flow then maps the same latent
//! points at every position, so the estimated field is a smooth function of
//! $\mathbf x$ and its Monte Carlo error is strongly correlated between
//! nearby positions, which is what the finite differences of the Gauss-law
//! estimator in [`crate::gauss`] need). Positions are processed in parallel
//! and the results do not depend on the thread count.
//!
//! ```
//! use darkprobe_flows::accel::{accelerations, AccelOptions};
//! use darkprobe_flows::mock::{HernquistDf, SphericalDf};
//! let df = HernquistDf::new(1e10, 5.0).unwrap();
//! let x = [3.0, 1.0, -2.0];
//! let opts = AccelOptions::default().with_n_velocities(200);
//! let est = accelerations(&df, &[x], &opts, 1).unwrap();
//! let exact = df.acceleration(x);
//! for j in 0..3 {
//!     assert!((est[0].accel[j] - exact[j]).abs() < 1e-8 * exact[j].abs().max(1.0));
//! }
//! assert!(est[0].residual < 1e-8);
//! ```

// Index loops are the clearest form of the small fixed-size linear algebra here, and
// `!(x > 0.0)` comparisons deliberately reject NaN as well.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

use crate::model::{PhaseSpaceModel, Result, Vec3};
use darkprobe_core::error::Error;
use darkprobe_core::rng::seed_for_index;

/// Options of the acceleration solver.
///
/// ```
/// use darkprobe_flows::accel::AccelOptions;
/// let o = AccelOptions::default().with_n_velocities(1000);
/// assert_eq!(o.n_velocities, 1000);
/// assert!(o.check().is_ok());
/// assert!(AccelOptions::default().with_batch_size(0).check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AccelOptions {
    /// Velocities drawn per position (default 10 000).
    pub n_velocities: usize,
    /// Velocities per call of [`PhaseSpaceModel::ln_f_grad`] (default 10 000);
    /// bounds the memory of a flow evaluation.
    pub batch_size: usize,
    /// How the velocities are drawn (default [`VelocitySampling::Random`];
    /// the quasi-random option is not yet validated at full size).
    pub sampling: VelocitySampling,
    /// Which seed each position draws with (default
    /// [`DrawSeeds::PerPosition`]).
    pub seeds: DrawSeeds,
    /// A symmetry of the system to average over (default
    /// [`Symmetry::None`]: no assumption).
    pub symmetry: Symmetry,
}

/// A symmetry the user asserts the tracer system has, used to average the
/// acceleration estimate over symmetric copies of the query position.
///
/// If the system is invariant under a rotation $R$, its acceleration field
/// satisfies $\mathbf a(R\mathbf x) = R\,\mathbf a(\mathbf x)$. Each copy $k$
/// draws its share of the velocities $\mathbf v'$ at $R_k\mathbf x$, evaluates
/// the learned gradients there, and maps the velocity and both gradients back
/// with $R_k^{\mathsf T}$; all copies then enter one least-squares problem for
/// $\mathbf a(\mathbf x)$. The learned density has independent sampling noise
/// at the different copies, so its non-symmetric errors (for a spherical
/// system, the spurious tangential part of $\nabla\ln n$) average down,
/// while the total number of velocities, and so the cost, stays
/// [`AccelOptions::n_velocities`].
///
/// The copies must lie where the model was trained: averaging over
/// rotations about the $z$ axis is right for a global sample of an
/// axisymmetric system (a Galactocentric mock, a simulated galaxy), but not
/// for a local survey such as Gaia stars within 4 kpc of the Sun, whose
/// rotated copies fall outside the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Symmetry {
    /// No symmetry assumed: one copy, the position itself.
    #[default]
    None,
    /// Rotations about the $z$ axis through the origin by $2\pi k/K$,
    /// $k = 0,\dots,K-1$ (`copies` $= K$).
    Axisymmetric {
        /// Number of copies $K$ (the identity included), at least 1.
        copies: usize,
    },
    /// The identity and $K-1$ uniformly random rotations about the origin,
    /// drawn from a fixed internal seed so that every position (and every
    /// run) uses the same set (`copies` $= K$).
    Spherical {
        /// Number of copies $K$ (the identity included), at least 1.
        copies: usize,
    },
}

/// A rotation matrix, row major: `(R x)_i = sum_j R[i][j] x_j`.
pub type Rotation = [[f64; 3]; 3];

/// Seed of the fixed set of random rotations of [`Symmetry::Spherical`].
const SPHERICAL_ROTATION_SEED: u64 = 0x5_0e3e_2024;

impl Symmetry {
    /// Number of copies (1 for [`Symmetry::None`]).
    pub fn copies(&self) -> usize {
        match *self {
            Symmetry::None => 1,
            Symmetry::Axisymmetric { copies } | Symmetry::Spherical { copies } => copies,
        }
    }

    /// The rotations $R_k$ of the copies; the first is always the identity.
    ///
    /// ```
    /// use darkprobe_flows::accel::Symmetry;
    /// let r = Symmetry::Axisymmetric { copies: 4 }.rotations();
    /// assert_eq!(r.len(), 4);
    /// // A quarter turn about z maps the x axis to the y axis.
    /// assert!((r[1][1][0] - 1.0).abs() < 1e-15 && r[1][0][0].abs() < 1e-15);
    /// assert_eq!(Symmetry::None.rotations().len(), 1);
    /// ```
    pub fn rotations(&self) -> Vec<Rotation> {
        const IDENTITY: Rotation = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        match *self {
            Symmetry::None => vec![IDENTITY],
            Symmetry::Axisymmetric { copies } => (0..copies)
                .map(|k| {
                    if k == 0 {
                        return IDENTITY;
                    }
                    let phi = std::f64::consts::TAU * k as f64 / copies as f64;
                    let (s, c) = phi.sin_cos();
                    [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
                })
                .collect(),
            Symmetry::Spherical { copies } => (0..copies)
                .map(|k| {
                    if k == 0 {
                        IDENTITY
                    } else {
                        random_rotation(seed_for_index(SPHERICAL_ROTATION_SEED, k as u64))
                    }
                })
                .collect(),
        }
    }
}

/// A uniformly distributed rotation (Haar measure) drawn with `seed`.
fn random_rotation(seed: u64) -> Rotation {
    use rand::SeedableRng;
    crate::gauss::random_rotation(&mut rand::rngs::StdRng::seed_from_u64(seed))
}

fn rotate(r: &Rotation, x: Vec3) -> Vec3 {
    [dot(r[0], x), dot(r[1], x), dot(r[2], x)]
}

fn rotate_back(r: &Rotation, x: Vec3) -> Vec3 {
    let mut y = [0.0; 3];
    for i in 0..3 {
        for j in 0..3 {
            y[j] += r[i][j] * x[i];
        }
    }
    y
}

/// Which seed each position of [`accelerations`] draws its velocities with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DrawSeeds {
    /// Position $k$ uses `seed_for_index(seed, k)`: independent Monte Carlo
    /// errors at different positions.
    #[default]
    PerPosition,
    /// Every position uses `seed` (common random numbers): correlated errors
    /// and an estimated field that is smooth in position (for densities).
    Shared,
}

/// How the acceleration solver draws velocities at a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VelocitySampling {
    /// Independent draws ([`PhaseSpaceModel::sample_velocities`]).
    #[default]
    Random,
    /// Scrambled Halton points in the latent space of the flow
    /// ([`PhaseSpaceModel::sample_velocities_qmc`]); models without a latent
    /// space fall back to independent draws.
    QuasiRandom,
}

impl Default for AccelOptions {
    fn default() -> Self {
        Self {
            n_velocities: 10_000,
            batch_size: 10_000,
            sampling: VelocitySampling::default(),
            seeds: DrawSeeds::default(),
            symmetry: Symmetry::default(),
        }
    }
}

impl AccelOptions {
    /// Sets the number of velocities per position.
    pub fn with_n_velocities(mut self, n: usize) -> Self {
        self.n_velocities = n;
        self
    }

    /// Sets how velocities are drawn.
    pub fn with_sampling(mut self, sampling: VelocitySampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// Sets which seed each position draws with.
    pub fn with_seeds(mut self, seeds: DrawSeeds) -> Self {
        self.seeds = seeds;
        self
    }

    /// Sets the symmetry to average over.
    pub fn with_symmetry(mut self, symmetry: Symmetry) -> Self {
        self.symmetry = symmetry;
        self
    }

    /// Sets the batch size of the model evaluations.
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Validates the options.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for fewer than 3 velocities, a zero batch,
    /// or a symmetry with no copies or more copies than velocities.
    pub fn check(&self) -> Result<()> {
        if self.n_velocities < 3 {
            return Err(Error::invalid_param(
                "n_velocities",
                self.n_velocities,
                ">= 3",
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid_param("batch_size", 0, ">= 1"));
        }
        let copies = self.symmetry.copies();
        if copies == 0 || copies > self.n_velocities {
            return Err(Error::invalid_param(
                "symmetry copies",
                copies,
                format!("1 to n_velocities = {}", self.n_velocities),
            ));
        }
        Ok(())
    }
}

/// The acceleration at one position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccelEstimate {
    /// The position (kpc).
    pub x: Vec3,
    /// Estimated acceleration (km² s⁻² kpc⁻¹).
    pub accel: Vec3,
    /// Robust (sandwich) standard errors of the components (same units).
    pub accel_err: Vec3,
    /// Normalised residual RMS (departure from equilibrium), dimensionless.
    pub residual: f64,
    /// Velocities used (samples with non-finite gradients are dropped).
    pub n_used: usize,
}

/// The least-squares solution at one position (see [`solve_cbe`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CbeFit {
    /// Acceleration (km² s⁻² kpc⁻¹).
    pub accel: Vec3,
    /// Robust standard errors of the components.
    pub accel_err: Vec3,
    /// Normalised residual RMS.
    pub residual: f64,
    /// Samples used.
    pub n_used: usize,
}

/// Solves the least-squares problem of the module docs for one position from
/// velocities `v` and gradients `grad_x`, `grad_v` of $\ln f$. Samples with a
/// non-finite component are skipped.
///
/// # Errors
/// [`Error::ShapeMismatch`] for slices of different lengths;
/// [`Error::Numerical`] when fewer than 3 usable samples remain or the normal
/// matrix is singular (all $\nabla_v\ln f$ in a plane).
pub fn solve_cbe(v: &[Vec3], grad_x: &[Vec3], grad_v: &[Vec3]) -> Result<CbeFit> {
    if v.len() != grad_x.len() || v.len() != grad_v.len() {
        return Err(Error::shape(
            "CBE least squares",
            format!("{} gradients", v.len()),
            format!("{} and {}", grad_x.len(), grad_v.len()),
        ));
    }
    let mut m = [[0.0f64; 3]; 3];
    let mut rhs = [0.0f64; 3];
    let mut bb = 0.0;
    let mut used = Vec::with_capacity(v.len());
    for i in 0..v.len() {
        let (vi, gx, gv) = (v[i], grad_x[i], grad_v[i]);
        if vi
            .iter()
            .chain(gx.iter())
            .chain(gv.iter())
            .any(|c| !c.is_finite())
        {
            continue;
        }
        let b = dot(vi, gx);
        for j in 0..3 {
            for k in 0..3 {
                m[j][k] += gv[j] * gv[k];
            }
            rhs[j] -= b * gv[j];
        }
        bb += b * b;
        used.push(i);
    }
    let n = used.len();
    if n < 3 {
        return Err(Error::numerical(
            "CBE least squares",
            0,
            n as f64,
            "fewer than 3 samples with finite gradients",
        ));
    }
    // Scale to unit diagonal: m = D s D with D = diag(sqrt(m_jj)).
    let mut d = [0.0f64; 3];
    for j in 0..3 {
        if !(m[j][j] > 0.0) {
            return Err(Error::numerical(
                "CBE least squares",
                0,
                m[j][j],
                format!("grad_v ln f has no component along axis {j}"),
            ));
        }
        d[j] = m[j][j].sqrt();
    }
    let mut s = [[0.0f64; 3]; 3];
    for j in 0..3 {
        for k in 0..3 {
            s[j][k] = m[j][k] / (d[j] * d[k]);
        }
    }
    let l = cholesky3(&s)?;
    let y = [rhs[0] / d[0], rhs[1] / d[1], rhs[2] / d[2]];
    let z = chol_solve(&l, y);
    let a = [z[0] / d[0], z[1] / d[1], z[2] / d[2]];
    // Residuals and the heteroscedasticity-robust (sandwich) covariance
    // M^{-1} (sum r^2 g g^T) M^{-1} n/(n-3).
    let mut rr = 0.0;
    let mut meat = [[0.0f64; 3]; 3];
    for &i in &used {
        let g = grad_v[i];
        let r = dot(v[i], grad_x[i]) + dot(a, g);
        rr += r * r;
        for j in 0..3 {
            for k in 0..3 {
                meat[j][k] += r * r * g[j] * g[k];
            }
        }
    }
    let residual = if bb > 0.0 {
        (rr / bb).sqrt()
    } else {
        rr.sqrt()
    };
    // M^{-1} = D^{-1} s^{-1} D^{-1}, column by column.
    let mut minv = [[0.0f64; 3]; 3];
    for k in 0..3 {
        let mut e = [0.0; 3];
        e[k] = 1.0 / d[k];
        let col = chol_solve(&l, e);
        for j in 0..3 {
            minv[j][k] = col[j] / d[j];
        }
    }
    let dof_factor = if n > 3 {
        n as f64 / (n - 3) as f64
    } else {
        0.0
    };
    let mut err = [0.0; 3];
    for (j, e) in err.iter_mut().enumerate() {
        let mut c = 0.0;
        for p in 0..3 {
            for q in 0..3 {
                c += minv[j][p] * meat[p][q] * minv[q][j];
            }
        }
        *e = (dof_factor * c).max(0.0).sqrt();
    }
    Ok(CbeFit {
        accel: a,
        accel_err: err,
        residual,
        n_used: n,
    })
}

fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Cholesky factor of a symmetric 3x3 matrix with unit diagonal; fails when a
/// pivot is below 1e-12 (numerically singular).
fn cholesky3(s: &[[f64; 3]; 3]) -> Result<[[f64; 3]; 3]> {
    let mut l = [[0.0f64; 3]; 3];
    for j in 0..3 {
        let mut diag = s[j][j];
        for k in 0..j {
            diag -= l[j][k] * l[j][k];
        }
        if !(diag > 1e-12) {
            return Err(Error::numerical(
                "Cholesky factorisation of the CBE normal matrix",
                j,
                diag,
                "singular: the grad_v ln f samples do not span three dimensions",
            ));
        }
        l[j][j] = diag.sqrt();
        for i in j + 1..3 {
            let mut x = s[i][j];
            for k in 0..j {
                x -= l[i][k] * l[j][k];
            }
            l[i][j] = x / l[j][j];
        }
    }
    Ok(l)
}

fn chol_solve(l: &[[f64; 3]; 3], b: Vec3) -> Vec3 {
    let mut y = [0.0; 3];
    for i in 0..3 {
        let mut x = b[i];
        for k in 0..i {
            x -= l[i][k] * y[k];
        }
        y[i] = x / l[i][i];
    }
    let mut z = [0.0; 3];
    for i in (0..3).rev() {
        let mut x = y[i];
        for k in i + 1..3 {
            x -= l[k][i] * z[k];
        }
        z[i] = x / l[i][i];
    }
    z
}

/// The acceleration at one position `x`, with velocities drawn from the model
/// using `seed`.
///
/// # Errors
/// Invalid options, a model failure, or a failed solve (see [`solve_cbe`]).
pub fn acceleration_at<M: PhaseSpaceModel + ?Sized>(
    model: &M,
    x: Vec3,
    opts: &AccelOptions,
    seed: u64,
) -> Result<AccelEstimate> {
    opts.check()?;
    if x.iter().any(|c| !c.is_finite()) {
        return Err(Error::invalid_param(
            "position",
            format!("{x:?}"),
            "finite coordinates",
        ));
    }
    let rotations = opts.symmetry.rotations();
    let k = rotations.len();
    let mut v = Vec::with_capacity(opts.n_velocities);
    let mut gx = Vec::with_capacity(opts.n_velocities);
    let mut gv = Vec::with_capacity(opts.n_velocities);
    for (c, r) in rotations.iter().enumerate() {
        // Copy c gets its share of the velocities; without a symmetry the one
        // copy is the position itself, drawn with `seed` as always.
        let n_c = opts.n_velocities / k + usize::from(c < opts.n_velocities % k);
        let (xc, seed_c) = if k == 1 {
            (x, seed)
        } else {
            (rotate(r, x), seed_for_index(seed, c as u64))
        };
        let vc = match opts.sampling {
            VelocitySampling::Random => model.sample_velocities(xc, n_c, seed_c)?,
            VelocitySampling::QuasiRandom => model.sample_velocities_qmc(xc, n_c, seed_c)?,
        };
        for batch in vc.chunks(opts.batch_size) {
            let xs = vec![xc; batch.len()];
            let g = model.ln_f_grad(&xs, batch)?;
            if g.grad_x.len() != batch.len() || g.grad_v.len() != batch.len() {
                return Err(Error::shape(
                    "model gradients",
                    batch.len(),
                    format!("{} and {}", g.grad_x.len(), g.grad_v.len()),
                ));
            }
            if k == 1 {
                v.extend_from_slice(batch);
                gx.extend(g.grad_x);
                gv.extend(g.grad_v);
            } else {
                // Back to the frame of x: v . grad_x is invariant, and
                // a(R x) . grad_v' = (R a(x)) . grad_v' = a(x) . (R^T grad_v').
                v.extend(batch.iter().map(|u| rotate_back(r, *u)));
                gx.extend(g.grad_x.iter().map(|u| rotate_back(r, *u)));
                gv.extend(g.grad_v.iter().map(|u| rotate_back(r, *u)));
            }
        }
    }
    let fit = solve_cbe(&v, &gx, &gv)?;
    Ok(AccelEstimate {
        x,
        accel: fit.accel,
        accel_err: fit.accel_err,
        residual: fit.residual,
        n_used: fit.n_used,
    })
}

/// Accelerations at all `points`, in parallel over positions; position `k`
/// uses the seed `seed_for_index(seed, k)`, or `seed` itself with
/// [`DrawSeeds::Shared`] (the thin wrapper behind `darkprobe flows accel`).
///
/// # Errors
/// The first failing position's error (see [`acceleration_at`]), or
/// [`Error::Empty`] for no points.
pub fn accelerations<M: PhaseSpaceModel + ?Sized>(
    model: &M,
    points: &[Vec3],
    opts: &AccelOptions,
    seed: u64,
) -> Result<Vec<AccelEstimate>> {
    opts.check()?;
    if points.is_empty() {
        return Err(Error::empty(
            "query positions",
            "give at least one position",
        ));
    }
    darkprobe_core::par::map_indices(points.len(), |k| {
        let s = match opts.seeds {
            DrawSeeds::PerPosition => seed_for_index(seed, k as u64),
            DrawSeeds::Shared => seed,
        };
        acceleration_at(model, points[k], opts, s)
    })
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{HernquistDf, PlummerDf, SphericalDf};
    use crate::model::LnFGrad;
    use rand::{Rng, SeedableRng};
    use rand_distr::StandardNormal;

    #[test]
    fn shared_seeds_use_common_draws_at_every_position() {
        use crate::flow::tests::random_flow;
        let m =
            crate::PhaseSpaceFlow::new(random_flow(3, 0, 2, 1), random_flow(3, 3, 2, 2)).unwrap();
        let x = [0.4, -0.3, 0.8];
        let opts = AccelOptions::default().with_n_velocities(50);
        let per = accelerations(&m, &[x, x], &opts, 7).unwrap();
        assert_ne!(per[0].accel, per[1].accel);
        assert_eq!(
            per[1].accel,
            acceleration_at(&m, x, &opts, seed_for_index(7, 1))
                .unwrap()
                .accel
        );
        let shared_opts = opts.with_seeds(DrawSeeds::Shared);
        let shared = accelerations(&m, &[x, x, [0.5, -0.3, 0.8]], &shared_opts, 7).unwrap();
        assert_eq!(shared[0].accel, shared[1].accel);
        assert_eq!(
            shared[0].accel,
            acceleration_at(&m, x, &shared_opts, 7).unwrap().accel
        );
        // Nearby positions see the same latent draws: the estimates differ by
        // far less than two independent estimates at one position do.
        let d = |a: Vec3, b: Vec3| ((0..3).map(|j| (a[j] - b[j]).powi(2)).sum::<f64>()).sqrt();
        assert!(
            d(shared[0].accel, shared[2].accel) < 0.5 * d(per[0].accel, per[1].accel),
            "{:?} {:?}",
            shared,
            per
        );
    }

    #[test]
    fn exact_df_gives_exact_acceleration() {
        let h = HernquistDf::new(1e10, 5.0).unwrap();
        let p = PlummerDf::new(5e9, 1.0).unwrap();
        let pts = [
            [0.5, 0.1, -0.2],
            [3.0, 4.0, 0.0],
            [-20.0, 5.0, 8.0],
            [8.122, 0.0, 0.02],
        ];
        let opts = AccelOptions::default()
            .with_n_velocities(300)
            .with_batch_size(128);
        let exact_h = |x: Vec3| h.acceleration(x);
        let exact_p = |x: Vec3| p.acceleration(x);
        type Case<'a> = (&'a dyn PhaseSpaceModel, &'a dyn Fn(Vec3) -> Vec3);
        let cases: [Case; 2] = [(&h, &exact_h), (&p, &exact_p)];
        for (model, exact) in cases {
            let est = accelerations(model, &pts, &opts, 4).unwrap();
            for e in &est {
                let a = exact(e.x);
                let scale = norm(a);
                for j in 0..3 {
                    assert!(
                        (e.accel[j] - a[j]).abs() < 1e-10 * scale,
                        "{:?}: {:?} vs {a:?}",
                        e.x,
                        e.accel
                    );
                    assert!(e.accel_err[j] < 1e-10 * scale);
                }
                assert!(e.residual < 1e-10);
                assert_eq!(e.n_used, 300);
            }
        }
    }

    fn norm(a: Vec3) -> f64 {
        dot(a, a).sqrt()
    }

    #[test]
    fn symmetry_rotations_are_proper_rotations_starting_with_the_identity() {
        for sym in [
            Symmetry::None,
            Symmetry::Axisymmetric { copies: 1 },
            Symmetry::Axisymmetric { copies: 7 },
            Symmetry::Spherical { copies: 33 },
        ] {
            let rots = sym.rotations();
            assert_eq!(rots.len(), sym.copies());
            assert_eq!(rots[0], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
            for r in &rots {
                // R R^T = 1 and det R = +1.
                for i in 0..3 {
                    for j in 0..3 {
                        let rrt = dot(r[i], r[j]);
                        assert!((rrt - f64::from(u8::from(i == j))).abs() < 1e-14);
                    }
                }
                let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
                    - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
                    + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
                assert!((det - 1.0).abs() < 1e-14);
                if matches!(sym, Symmetry::Axisymmetric { .. }) {
                    assert_eq!(rotate(r, [0.0, 0.0, 2.5]), [0.0, 0.0, 2.5]);
                }
                let x = [0.3, -1.2, 0.7];
                let back = rotate_back(r, rotate(r, x));
                assert!((0..3).all(|j| (back[j] - x[j]).abs() < 1e-14));
            }
        }
        // The random rotations cover the sphere: the images of the z axis
        // have a mean near zero (exactly zero for a uniform distribution;
        // standard error 1/sqrt(3 * 2000) per component).
        let rots = Symmetry::Spherical { copies: 2000 }.rotations();
        for j in 0..3 {
            let m = rots
                .iter()
                .map(|r| rotate(r, [0.0, 0.0, 1.0])[j])
                .sum::<f64>()
                / 2000.0;
            assert!(m.abs() < 0.05, "component {j}: mean {m}");
        }
        // Options are checked.
        let o = AccelOptions::default().with_n_velocities(10);
        assert!(o
            .clone()
            .with_symmetry(Symmetry::Spherical { copies: 0 })
            .check()
            .is_err());
        assert!(o
            .clone()
            .with_symmetry(Symmetry::Axisymmetric { copies: 11 })
            .check()
            .is_err());
        assert!(o
            .with_symmetry(Symmetry::Axisymmetric { copies: 10 })
            .check()
            .is_ok());
    }

    #[test]
    fn symmetric_copies_keep_an_exact_spherical_df_exact() {
        // Every copy of a spherical system's exact DF satisfies the
        // Boltzmann equation with the rotated acceleration, so the stacked
        // problem is exact too; a wrong back-rotation (R instead of R^T, or
        // the velocities left unrotated) would not be.
        let h = HernquistDf::new(1e10, 5.0).unwrap();
        let pts = [[0.5, 0.1, -0.2], [3.0, 4.0, 0.0], [-7.0, 5.0, 8.0]];
        for sym in [
            Symmetry::Axisymmetric { copies: 5 },
            Symmetry::Spherical { copies: 9 },
        ] {
            let opts = AccelOptions::default()
                .with_n_velocities(301)
                .with_symmetry(sym);
            for e in accelerations(&h, &pts, &opts, 4).unwrap() {
                let a = h.acceleration(e.x);
                for j in 0..3 {
                    assert!(
                        (e.accel[j] - a[j]).abs() < 1e-9 * norm(a),
                        "{sym:?} {:?}: {:?} vs {a:?}",
                        e.x,
                        e.accel
                    );
                }
                assert!(e.residual < 1e-9);
                assert_eq!(e.n_used, 301);
            }
        }
    }

    /// The exact Hernquist DF with a fixed, non-spherical error added to
    /// grad_x ln f: the same vector `bias` at every position.
    struct Biased {
        df: HernquistDf,
        bias: Vec3,
    }

    impl PhaseSpaceModel for Biased {
        fn ln_f_grad(&self, x: &[Vec3], v: &[Vec3]) -> Result<LnFGrad> {
            let mut g = self.df.ln_f_grad(x, v)?;
            for gx in &mut g.grad_x {
                for j in 0..3 {
                    gx[j] += self.bias[j];
                }
            }
            Ok(g)
        }
        fn sample_velocities(&self, x: Vec3, n: usize, seed: u64) -> Result<Vec<Vec3>> {
            self.df.sample_velocities(x, n, seed)
        }
    }

    #[test]
    fn symmetry_averaging_cancels_an_error_that_breaks_the_symmetry() {
        // A constant error c in grad_x ln n shifts the estimate by about
        // sigma^2 c. The copies see it as R_k^T c, whose mean over equally
        // spaced rotations about z vanishes for c in the x-y plane, and over
        // random rotations shrinks like 1/sqrt(K).
        let df = HernquistDf::new(1e10, 5.0).unwrap();
        let x = [4.0, -3.0, 2.0];
        let a = df.acceleration(x);
        let model = Biased {
            df,
            // About sigma^2 ~ 1e3 (km/s)^2 here: a 20 % error.
            bias: [0.3 * norm(a) / 1.5e3, 0.0, 0.0],
        };
        let err = |sym| {
            let opts = AccelOptions::default()
                .with_n_velocities(8000)
                .with_symmetry(sym);
            let e = acceleration_at(&model, x, &opts, 5).unwrap();
            norm([e.accel[0] - a[0], e.accel[1] - a[1], e.accel[2] - a[2]]) / norm(a)
        };
        let none = err(Symmetry::None);
        let axi = err(Symmetry::Axisymmetric { copies: 8 });
        let sph = err(Symmetry::Spherical { copies: 64 });
        println!("relative error: none {none:.4}, axisymmetric {axi:.4}, spherical {sph:.4}");
        assert!(
            none > 0.05,
            "the bias must matter without averaging: {none}"
        );
        assert!(axi < 0.1 * none, "axisymmetric: {axi} vs {none}");
        assert!(sph < 0.3 * none, "spherical: {sph} vs {none}");
    }

    /// The exact Hernquist DF with Gaussian noise added to grad_x ln f (a
    /// stand-in for a learned density with errors).
    struct Noisy {
        df: HernquistDf,
        sigma: f64,
        seed: u64,
    }

    impl PhaseSpaceModel for Noisy {
        fn ln_f_grad(&self, x: &[Vec3], v: &[Vec3]) -> Result<LnFGrad> {
            let mut g = self.df.ln_f_grad(x, v)?;
            // Deterministic noise: seeded from the first velocity's bits.
            let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed ^ v[0][0].to_bits());
            for gx in &mut g.grad_x {
                for c in gx.iter_mut() {
                    let z: f64 = rng.sample(StandardNormal);
                    *c += self.sigma * z;
                }
            }
            Ok(g)
        }
        fn sample_velocities(&self, x: Vec3, n: usize, seed: u64) -> Result<Vec<Vec3>> {
            self.df.sample_velocities(x, n, seed)
        }
    }

    #[test]
    fn noisy_gradients_give_calibrated_errors_and_a_residual() {
        let df = HernquistDf::new(1e10, 5.0).unwrap();
        let model = Noisy {
            df,
            sigma: 2e-2,
            seed: 8,
        };
        let pts: Vec<Vec3> = (0..24).map(|k| [2.0 + 0.5 * k as f64, 1.0, -1.0]).collect();
        let opts = AccelOptions::default().with_n_velocities(2000);
        let est = accelerations(&model, &pts, &opts, 10).unwrap();
        let mut z2 = 0.0;
        for e in &est {
            let a = df.acceleration(e.x);
            for j in 0..3 {
                let z = (e.accel[j] - a[j]) / e.accel_err[j];
                assert!(z.abs() < 5.0, "{:?} component {j}: z = {z}", e.x);
                z2 += z * z;
            }
            assert!(
                e.residual > 1e-3 && e.residual < 10.0,
                "residual {}",
                e.residual
            );
        }
        let chi2_per_dof = z2 / (3 * est.len()) as f64;
        assert!(
            chi2_per_dof > 0.5 && chi2_per_dof < 1.6,
            "chi2/dof {chi2_per_dof}"
        );
        // Bit-identical with one or two threads.
        let run = |t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
                .install(|| accelerations(&model, &pts, &opts, 10).unwrap())
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn solution_satisfies_the_normal_equations() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let n = 50;
        let mut gen = || -> Vec<Vec3> {
            (0..n)
                .map(|_| [0, 1, 2].map(|_| rng.sample::<f64, _>(StandardNormal)))
                .collect()
        };
        let (v, gx, gv) = (gen(), gen(), gen());
        let fit = solve_cbe(&v, &gx, &gv).unwrap();
        let (a, res, used) = (fit.accel, fit.residual, fit.n_used);
        assert_eq!(used, n);
        // Gradient of the objective vanishes: sum_i r_i g_i = 0.
        let mut grad = [0.0; 3];
        let mut obj = 0.0;
        let mut bb = 0.0;
        for i in 0..n {
            let r = dot(v[i], gx[i]) + dot(a, gv[i]);
            obj += r * r;
            bb += dot(v[i], gx[i]).powi(2);
            for j in 0..3 {
                grad[j] += r * gv[i][j];
            }
        }
        for g in grad {
            assert!(g.abs() < 1e-10 * obj.sqrt() * n as f64);
        }
        assert!((res - (obj / bb).sqrt()).abs() < 1e-12);
        // Any perturbation increases the objective.
        for j in 0..3 {
            let mut ap = a;
            ap[j] += 1e-3;
            let o: f64 = (0..n)
                .map(|i| (dot(v[i], gx[i]) + dot(ap, gv[i])).powi(2))
                .sum();
            assert!(o > obj);
        }
    }

    #[test]
    fn degenerate_inputs_are_errors() {
        let v = vec![[1.0, 0.0, 0.0]; 5];
        let gx = vec![[1.0, 2.0, 3.0]; 5];
        // grad_v confined to the x-y plane.
        let gv: Vec<Vec3> = (0..5).map(|i| [i as f64, 1.0, 0.0]).collect();
        assert!(solve_cbe(&v, &gx, &gv).is_err());
        // Collinear in 3-D.
        let gv: Vec<Vec3> = (0..5).map(|i| [i as f64, i as f64, i as f64]).collect();
        assert!(solve_cbe(&v, &gx, &gv).is_err());
        assert!(solve_cbe(&v[..2], &gx[..2], &gv[..2]).is_err());
        assert!(solve_cbe(&v, &gx[..3], &gv).is_err());
        // Non-finite samples are skipped.
        let mut gv: Vec<Vec3> = (0..6)
            .map(|i| [1.0 + i as f64, (i * i) as f64, 1.0 - (i % 2) as f64])
            .collect();
        let mut v = vec![[1.0, 0.0, 0.0]; 6];
        let gx = vec![[1.0, 2.0, 3.0]; 6];
        gv[0][0] = f64::NAN;
        v[1][2] = f64::INFINITY;
        assert_eq!(solve_cbe(&v, &gx, &gv).unwrap().n_used, 4);
        let h = HernquistDf::new(1e10, 5.0).unwrap();
        assert!(accelerations(&h, &[], &AccelOptions::default(), 1).is_err());
        assert!(accelerations(
            &h,
            &[[1.0, 0.0, 0.0]],
            &AccelOptions::default().with_n_velocities(2),
            1
        )
        .is_err());
        assert!(accelerations(&h, &[[f64::NAN, 0.0, 0.0]], &AccelOptions::default(), 1).is_err());
        assert!(accelerations(
            &h,
            &[[0.0, 0.0, 0.0]],
            &AccelOptions::default().with_n_velocities(10),
            1
        )
        .is_err());
    }
}
