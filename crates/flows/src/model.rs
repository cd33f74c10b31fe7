//! The interface between a phase-space density model and the dynamical
//! estimators.
//!
//! The acceleration solver (least squares on the collisionless Boltzmann equation) needs, at a
//! fixed position $\mathbf x$, velocities drawn from $p(\mathbf v\mid\mathbf x)$
//! and the gradients $\nabla_x\ln f$, $\nabla_v\ln f$ of the phase-space
//! density $f(\mathbf x,\mathbf v)$ at those points. Anything that supplies
//! them implements [`PhaseSpaceModel`]: the trained normalizing-flow model and
//! the exact distribution functions of the analytic mocks (used to test the
//! solver without any learning error).
//!
//! Units throughout the crate: positions in kpc, velocities in km/s,
//! accelerations in km² s⁻² kpc⁻¹, densities in M☉ kpc⁻³ unless a name says
//! otherwise (`rho_msun_pc3`).

/// A 3-vector (x, y, z) in the crate's units.
pub type Vec3 = [f64; 3];

/// Result type of this crate (errors are [`darkprobe_core::Error`]).
pub type Result<T> = std::result::Result<T, darkprobe_core::Error>;

/// Gravitational constant in kpc (km/s)² M☉⁻¹ (IAU 2015 nominal
/// $GM_\odot$ and the IAU parsec): $G = 4.30091727\times10^{-6}$.
pub const G_KPC_KM2_S2_MSUN: f64 = 4.300_917_27e-6;

/// Log phase-space density with its gradients at a batch of points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LnFGrad {
    /// $\ln f(\mathbf x_i,\mathbf v_i)$ (any constant offset is allowed: the
    /// estimators only use gradients).
    pub ln_f: Vec<f64>,
    /// $\nabla_x \ln f$ at each point.
    pub grad_x: Vec<Vec3>,
    /// $\nabla_v \ln f$ at each point.
    pub grad_v: Vec<Vec3>,
}

/// A model of the phase-space density $f(\mathbf x,\mathbf v) =
/// n(\mathbf x)\,p(\mathbf v\mid\mathbf x)$ of a tracer population.
///
/// Implementations must be deterministic given the seed, whatever the rayon
/// thread count.
pub trait PhaseSpaceModel: Sync {
    /// $\ln f$ and its gradients with respect to position and velocity at the
    /// points $(\mathbf x_i, \mathbf v_i)$; `x.len() == v.len()`.
    ///
    /// # Errors
    /// Shape mismatch, non-finite input, or a numerical failure of the model.
    fn ln_f_grad(&self, x: &[Vec3], v: &[Vec3]) -> Result<LnFGrad>;

    /// Draw `n` velocities from $p(\mathbf v\mid\mathbf x)$ at the fixed
    /// position `x`, reproducibly from `seed`.
    ///
    /// # Errors
    /// Non-finite position, `n == 0`, or a failure of the sampler (for
    /// example a position where the density vanishes).
    fn sample_velocities(&self, x: Vec3, n: usize, seed: u64) -> Result<Vec<Vec3>>;

    /// Draw `n` velocities from $p(\mathbf v\mid\mathbf x)$ as a
    /// randomised quasi-Monte Carlo set: for a flow, scrambled Halton points
    /// (see [`crate::qmc`]) mapped to the latent Normal and through the
    /// conditional flow, so the draws cover the distribution more evenly
    /// than independent ones while each stays exactly distributed as
    /// $p(\mathbf v\mid\mathbf x)$. Reproducible from `seed`.
    ///
    /// The default implementation falls back to
    /// [`PhaseSpaceModel::sample_velocities`] (for models without a latent
    /// space, such as the analytic distribution functions).
    ///
    /// # Errors
    /// As [`PhaseSpaceModel::sample_velocities`].
    fn sample_velocities_qmc(&self, x: Vec3, n: usize, seed: u64) -> Result<Vec<Vec3>> {
        self.sample_velocities(x, n, seed)
    }
}
