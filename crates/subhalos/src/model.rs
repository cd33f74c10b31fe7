//! The shifted mixture model of the unassociated sources, its EM fit, direct
//! maximisation, class posteriors and mock catalogs.

use darkprobe_core::numerics::log_sum_exp;
use darkprobe_core::optimize::{minimize, Bound, MinimizeOptions, WithGradient};
use darkprobe_core::traits::FitReport;
use darkprobe_core::Error;
use ndarray::{Array2, ArrayView2};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::Rng;

use crate::density::ClassDensity;
use crate::error::Result;
use crate::features::{Roi, N_FEATURES};
use crate::shift::{
    ln_c_scaled, ModulationQuadrature, SigmoidShift, CENTRE_BOUNDS, DEFAULT_MAX_STEEPNESS,
};

/// EM iterations run from every start before the best runs are continued.
const SCREEN_ITER: usize = 12;
/// Runs continued to convergence after screening.
const KEEP_AFTER_SCREEN: usize = 2;

/// Which kind of dataset shift the model allows (the rows of the paper's
/// model-comparison table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShiftKind {
    /// No shift: the unassociated sources follow the associated mixture,
    /// $p(x) = \sum_k \pi^\mathrm{a}_k p(x\mid k)$ with the associated class
    /// fractions $\pi^\mathrm{a}_k$ (no free parameter).
    None,
    /// Prior shift only: $p(x) = \sum_k \pi_k p(x \mid k)$ with free $\pi_k$.
    Prior,
    /// Covariate shift only: $p(x) \propto C(x) \sum_k \pi^\mathrm{a}_k p(x\mid k)$,
    /// i.e. $p(k \mid x)$ as for associated sources (six free parameters).
    Covariate,
    /// Both: $p(x) = \sum_k \pi_k\, C(x) p(x\mid k) / Z_k$ with free $\pi_k$ and $C$.
    PriorAndCovariate,
}

impl ShiftKind {
    /// The four kinds, from the fewest to the most parameters.
    pub const ALL: [ShiftKind; 4] = [
        ShiftKind::None,
        ShiftKind::Prior,
        ShiftKind::Covariate,
        ShiftKind::PriorAndCovariate,
    ];

    /// Whether the class fractions are free.
    pub fn free_priors(self) -> bool {
        matches!(self, ShiftKind::Prior | ShiftKind::PriorAndCovariate)
    }

    /// Whether the covariate-shift modulation $C(x)$ is fitted.
    pub fn covariate(self) -> bool {
        matches!(self, ShiftKind::Covariate | ShiftKind::PriorAndCovariate)
    }

    /// A short name for tables: `assoc`, `prior`, `cov`, `prior+cov`.
    pub fn name(self) -> &'static str {
        match self {
            ShiftKind::None => "assoc",
            ShiftKind::Prior => "prior",
            ShiftKind::Covariate => "cov",
            ShiftKind::PriorAndCovariate => "prior+cov",
        }
    }
}

/// The weight of an extra (unmodulated) mixture component.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExtraWeight {
    /// Held at this value in $[0, 1)$ (a profile-likelihood scan).
    Fixed(f64),
    /// Fitted, starting from this value in $(0, 1)$.
    Free {
        /// Starting value.
        initial: f64,
    },
}

/// A mixture component whose density comes from outside this crate (e.g. the
/// dark-matter subhalo population $p_\mathrm{DM}(x)$), given by its log density
/// at each source of the fitted data. It is *not* modulated by $C(x)$:
/// $p(x) = \ldots + \pi_e\, q_e(x)$. Its density must be normalised over the ROI.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraComponent {
    /// Name, for reports.
    pub name: String,
    /// $\ln q_e(x_i)$ at each source $i$ of the [`PreparedData`] (finite or $-\infty$).
    pub ln_pdf: Vec<f64>,
    /// Fixed or free weight.
    pub weight: ExtraWeight,
}

/// Settings of the EM fit.
#[derive(Debug, Clone, PartialEq)]
pub struct EmOptions {
    /// Maximum EM iterations (default 5000).
    pub max_iter: usize,
    /// Stop when one iteration raises $\ln L$ by less than this (default $10^{-9}$).
    pub tol: f64,
    /// Starting modulation (default: flat, all slopes zero, centres mid-ROI).
    pub initial_shift: Option<SigmoidShift>,
    /// Starting class fractions for models with free priors (default: the
    /// associated fractions), rescaled to the weight left by the extras. With
    /// `initial_shift` this gives a single warm start (e.g. from a previous fit).
    pub initial_class_weights: Option<Vec<f64>>,
    /// Settings of the numerical M-step for the six shift parameters (L-BFGS
    /// with the analytic gradient; default at most 40 iterations per M-step,
    /// which keeps EM monotone, as only improvements are accepted, and saves
    /// time far from convergence).
    pub m_step: MinimizeOptions,
    /// Run EM from several starting points and keep the best (default `true`;
    /// ignored when `initial_shift` is given). The likelihood of the shifted
    /// models has several local maxima (a tilt in $\beta$ trades off against
    /// the Galactic fraction), so a single start can stop at a poorer one.
    pub multi_start: bool,
}

impl Default for EmOptions {
    fn default() -> Self {
        Self {
            max_iter: 5000,
            tol: 1e-9,
            initial_shift: None,
            initial_class_weights: None,
            m_step: MinimizeOptions {
                max_iter: 40,
                grad_tol: 1e-9,
                allow_unconverged: true,
                ..MinimizeOptions::default()
            },
            multi_start: true,
        }
    }
}

impl EmOptions {
    fn check(&self) -> Result<()> {
        if self.max_iter == 0 {
            return Err(Error::invalid_param("EmOptions::max_iter", 0, ">= 1").into());
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(Error::invalid_param("EmOptions::tol", self.tol, "finite and > 0").into());
        }
        if let Some(w) = &self.initial_class_weights {
            if w.is_empty() || w.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
                return Err(Error::invalid_param(
                    "EmOptions::initial_class_weights",
                    format!("{w:?}"),
                    "finite and > 0",
                )
                .into());
            }
        }
        if let Some(s) = &self.initial_shift {
            if !s.is_finite() {
                return Err(Error::invalid_param(
                    "EmOptions::initial_shift",
                    format!("{s:?}"),
                    "finite slopes and centres",
                )
                .into());
            }
        }
        Ok(())
    }
}

/// The parameters of a fitted (or hypothesised) model, in the canonical form
/// $p(x) = \sum_k \pi_k\, C(x) p(x\mid k)/Z_k + \sum_e \pi_e q_e(x)$.
#[derive(Debug, Clone, PartialEq)]
pub struct MixtureParams {
    /// $\pi_k$: the fraction of the modelled sources in each astrophysical class.
    pub class_weights: Vec<f64>,
    /// $\pi_e$ of the extra components (empty without extras).
    pub extra_weights: Vec<f64>,
    /// The modulation; `None` means $C \equiv 1$.
    pub shift: Option<SigmoidShift>,
}

/// The unassociated sources, checked against the ROI, with the class log
/// densities evaluated once.
#[derive(Debug, Clone)]
pub struct PreparedData {
    x: Vec<[f64; N_FEATURES]>,
    u: Vec<[f64; N_FEATURES]>,
    /// `ln_pk[i * k + c]`.
    ln_pk: Vec<f64>,
    k: usize,
}

impl PreparedData {
    /// Number of sources.
    pub fn len(&self) -> usize {
        self.x.len()
    }
    /// Whether there is no source.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
    /// The feature vectors.
    pub fn points(&self) -> &[[f64; N_FEATURES]] {
        &self.x
    }
    /// $\ln p(x_i \mid k)$.
    pub fn ln_pdf(&self, i: usize, k: usize) -> f64 {
        self.ln_pk[i * self.k + k]
    }
}

/// The outcome of a fit.
#[derive(Debug, Clone)]
pub struct MixtureFit {
    /// The model fitted.
    pub kind: ShiftKind,
    /// The maximum-likelihood parameters.
    pub params: MixtureParams,
    /// Iterations, convergence flag and the final $\ln L$.
    pub report: FitReport,
    /// $\ln L$ after each EM iteration (entry 0 is the starting point); empty
    /// for a direct fit.
    pub ln_l_history: Vec<f64>,
    /// Number of free parameters.
    pub n_free_params: usize,
    /// Component names: the classes, then the extras.
    pub component_names: Vec<String>,
    /// Posterior probabilities $P(c \mid x_i)$, $n \times$ (classes + extras).
    pub responsibilities: Array2<f64>,
}

impl MixtureFit {
    /// Number of sources fitted.
    pub fn n_sources(&self) -> usize {
        self.responsibilities.nrows()
    }
    /// Fitted number of sources per component, $N \pi_c$ (classes, then extras).
    pub fn counts(&self) -> Vec<f64> {
        let n = self.n_sources() as f64;
        self.params
            .class_weights
            .iter()
            .chain(&self.params.extra_weights)
            .map(|w| w * n)
            .collect()
    }
    /// Akaike's information criterion $2k - 2\ln L$.
    pub fn aic(&self) -> f64 {
        2.0 * self.n_free_params as f64 - 2.0 * self.report.ln_l
    }
}

/// Astrophysical part of the internal parameter state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Astro {
    /// Free class weights $\pi_k$ (absolute).
    Free(Vec<f64>),
    /// Block weight $A$; the classes keep the associated fractions before modulation.
    Block(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct State {
    pub(crate) astro: Astro,
    pub(crate) extra: Vec<f64>,
    pub(crate) theta: Option<[f64; 6]>,
}

/// The quantities of one E-step.
pub(crate) struct Eval {
    pub(crate) ln_l: f64,
    /// `resp[i * n_comp + c]`.
    resp: Vec<f64>,
    /// $\sum_i r_{ic}$.
    pub(crate) n_c: Vec<f64>,
    /// $\sum_{k \in \mathrm{astro}} r_{ik}$.
    pub(crate) r_astro: Vec<f64>,
    ln_z: Vec<f64>,
}

/// The astrophysical model of the unassociated sources: class densities, the
/// associated class fractions, and the covariate-shift quadrature.
///
/// ```
/// use darkprobe_kde::Bandwidth;
/// use darkprobe_subhalos::{BandwidthChoice, ClassDensity, EmOptions, ReferenceEnergy, Roi,
///     ShiftKind, ShiftMixture};
/// use ndarray::Array2;
/// use rand::{Rng, SeedableRng};
/// let roi = Roi::paper(ReferenceEnergy::OneGeV);
/// let mut rng = rand::rngs::StdRng::seed_from_u64(5);
/// // Two toy classes, hard (low beta) and curved (high beta).
/// let mk = |rng: &mut rand::rngs::StdRng, beta: f64| Array2::from_shape_fn((60, 3), |(_, d)| {
///     [-9.2, 1.25, beta][d] + [0.4, 0.15, 0.05][d] * (rng.random::<f64>() - 0.5) * 3.0
/// });
/// let bw = BandwidthChoice::Fixed(Bandwidth::Diagonal(vec![0.2, 0.08, 0.03]));
/// let a = ClassDensity::fit("hard", mk(&mut rng, 0.15).view(), &roi, &bw).unwrap();
/// let b = ClassDensity::fit("curved", mk(&mut rng, 0.4).view(), &roi, &bw).unwrap();
/// let model = ShiftMixture::new(roi, vec![a, b], vec![0.5, 0.5]).unwrap();
/// // 30 "unassociated" sources from the model with 80% curved sources.
/// let params = darkprobe_subhalos::MixtureParams {
///     class_weights: vec![0.2, 0.8], extra_weights: vec![], shift: None };
/// let mock = model.sample(&params, 30, &mut rng).unwrap();
/// let data = model.prepare(mock.points.view()).unwrap();
/// let fit = model.fit(&data, ShiftKind::Prior, &[], &EmOptions::default()).unwrap();
/// assert!(fit.report.converged);
/// assert!(fit.params.class_weights[1] > 0.5);
/// ```
#[derive(Debug, Clone)]
pub struct ShiftMixture {
    roi: Roi,
    classes: Vec<ClassDensity>,
    base_priors: Vec<f64>,
    quad: Vec<ModulationQuadrature>,
    max_steepness: f64,
}

/// A catalog drawn from the model.
#[derive(Debug, Clone, PartialEq)]
pub struct MockCatalog {
    /// The sources, $n \times 3$.
    pub points: Array2<f64>,
    /// The class of each source.
    pub labels: Vec<usize>,
    /// Proposals drawn from each truncated class KDE.
    pub proposals: Vec<u64>,
    /// Proposals accepted (by the modulation) per class.
    pub accepted: Vec<u64>,
}

impl ShiftMixture {
    /// A model with classes `classes` (their KDEs truncated to `roi`) and
    /// associated class fractions `base_priors` (normalised to sum to one).
    ///
    /// # Errors
    /// No class, priors of another length, negative or non-finite priors, or a
    /// zero sum.
    pub fn new(roi: Roi, classes: Vec<ClassDensity>, base_priors: Vec<f64>) -> Result<Self> {
        Self::with_max_steepness(roi, classes, base_priors, DEFAULT_MAX_STEEPNESS)
    }

    /// As [`new`](Self::new), bounding the sigmoid steepness $|b_d| w_d$ by
    /// `max_steepness` (see [`crate::shift`]).
    ///
    /// # Errors
    /// As [`new`](Self::new), or a non-positive `max_steepness`.
    pub fn with_max_steepness(
        roi: Roi,
        classes: Vec<ClassDensity>,
        base_priors: Vec<f64>,
        max_steepness: f64,
    ) -> Result<Self> {
        if classes.is_empty() {
            return Err(Error::empty("class list", "give at least one class density").into());
        }
        if base_priors.len() != classes.len() {
            return Err(Error::shape(
                "associated class fractions",
                classes.len(),
                base_priors.len(),
            )
            .into());
        }
        for (k, p) in base_priors.iter().enumerate() {
            if !(p.is_finite() && *p >= 0.0) {
                return Err(Error::invalid_param(
                    format!("associated fraction of class '{}'", classes[k].name()),
                    p,
                    "finite and >= 0",
                )
                .into());
            }
        }
        let total: f64 = base_priors.iter().sum();
        if total <= 0.0 {
            return Err(Error::invalid_param(
                "sum of the associated class fractions",
                total,
                "> 0",
            )
            .into());
        }
        let base_priors = base_priors.iter().map(|p| p / total).collect();
        let quad = classes
            .iter()
            .map(|c| ModulationQuadrature::new(c, &roi, max_steepness))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            roi,
            classes,
            base_priors,
            quad,
            max_steepness,
        })
    }

    /// The ROI.
    pub fn roi(&self) -> &Roi {
        &self.roi
    }
    /// The class densities.
    pub fn classes(&self) -> &[ClassDensity] {
        &self.classes
    }
    /// The associated class fractions $\pi^\mathrm{a}_k$.
    pub fn base_priors(&self) -> &[f64] {
        &self.base_priors
    }
    /// The steepness bound of the fit.
    pub fn max_steepness(&self) -> f64 {
        self.max_steepness
    }
    /// The largest relative error of the $Z_k$ quadrature on the exact ROI masses.
    pub fn quadrature_mass_error(&self) -> f64 {
        self.quad
            .iter()
            .map(ModulationQuadrature::mass_rel_error)
            .fold(0.0, f64::max)
    }

    /// $Z_k = \int_\mathrm{ROI} C(x)\,p(x\mid k)\,dx$ for class `k` ($1$ without shift).
    ///
    /// # Errors
    /// `k` out of range.
    pub fn z(&self, k: usize, shift: Option<&SigmoidShift>) -> Result<f64> {
        let q = self.quad.get(k).ok_or_else(|| {
            Error::invalid_param("class index", k, format!("< {}", self.classes.len()))
        })?;
        Ok(match shift {
            None => 1.0,
            Some(s) => q.ln_z(&s.to_scaled(&self.roi), None).exp(),
        })
    }

    fn to_u(&self, x: &[f64; 3]) -> [f64; 3] {
        let (lo, w) = (self.roi.lo(), self.roi.widths());
        std::array::from_fn(|d| (x[d] - lo[d]) / w[d])
    }

    /// Checks that every row of `points` ($n \times 3$, features at the ROI's
    /// reference energy) is finite and inside the ROI, and evaluates the class
    /// densities there.
    ///
    /// # Errors
    /// No rows, wrong number of columns, a non-finite value, or a source
    /// outside the ROI (naming the row, feature and value).
    pub fn prepare(&self, points: ArrayView2<'_, f64>) -> Result<PreparedData> {
        if points.ncols() != N_FEATURES {
            return Err(Error::shape("unassociated sources", "3 columns", points.ncols()).into());
        }
        if points.nrows() == 0 {
            return Err(
                Error::empty("unassociated source list", "give at least one source").into(),
            );
        }
        const NAMES: [&str; 3] = ["log10 flux", "alpha", "beta"];
        let (lo, hi) = (self.roi.lo(), self.roi.hi());
        let mut x = Vec::with_capacity(points.nrows());
        for (i, row) in points.outer_iter().enumerate() {
            let v = [row[0], row[1], row[2]];
            for d in 0..N_FEATURES {
                if !(v[d] >= lo[d] && v[d] <= hi[d]) {
                    return Err(Error::invalid_param(
                        format!("source {i}: {}", NAMES[d]),
                        v[d],
                        format!("inside the ROI, [{}, {}]", lo[d], hi[d]),
                    )
                    .into());
                }
            }
            x.push(v);
        }
        let k = self.classes.len();
        let mut ln_pk = vec![0.0; x.len() * k];
        for (c, class) in self.classes.iter().enumerate() {
            let lp = class.ln_pdf_batch(points)?;
            for (i, v) in lp.iter().enumerate() {
                ln_pk[i * k + c] = *v;
            }
        }
        let u = x.iter().map(|p| self.to_u(p)).collect();
        Ok(PreparedData { x, u, ln_pk, k })
    }

    fn check_extras(&self, data: &PreparedData, extras: &[ExtraComponent]) -> Result<()> {
        let mut fixed = 0.0;
        let mut free = 0.0;
        for e in extras {
            if e.ln_pdf.len() != data.len() {
                return Err(Error::shape(
                    format!("log densities of component '{}'", e.name),
                    data.len(),
                    e.ln_pdf.len(),
                )
                .into());
            }
            if let Some((i, v)) = e
                .ln_pdf
                .iter()
                .enumerate()
                .find(|(_, v)| v.is_nan() || **v == f64::INFINITY)
            {
                return Err(Error::invalid_param(
                    format!("ln density of component '{}' at source {i}", e.name),
                    v,
                    "finite or -inf",
                )
                .into());
            }
            match e.weight {
                ExtraWeight::Fixed(w) if (0.0..1.0).contains(&w) => fixed += w,
                ExtraWeight::Free { initial } if initial > 0.0 && initial < 1.0 => free += initial,
                ExtraWeight::Fixed(w) | ExtraWeight::Free { initial: w } => {
                    return Err(Error::invalid_param(
                        format!("weight of component '{}'", e.name),
                        w,
                        "in [0, 1) when fixed, in (0, 1) as a starting value",
                    )
                    .into())
                }
            }
        }
        if fixed + free >= 1.0 {
            return Err(Error::invalid_param(
                "total weight of the extra components",
                fixed + free,
                "< 1 (the astrophysical classes need some weight)",
            )
            .into());
        }
        Ok(())
    }

    fn initial_state(&self, kind: ShiftKind, extras: &[ExtraComponent], opts: &EmOptions) -> State {
        let extra: Vec<f64> = extras
            .iter()
            .map(|e| match e.weight {
                ExtraWeight::Fixed(w) => w,
                ExtraWeight::Free { initial } => initial,
            })
            .collect();
        let rest = 1.0 - extra.iter().sum::<f64>();
        let start = match &opts.initial_class_weights {
            Some(w) if w.len() == self.base_priors.len() => {
                let t: f64 = w.iter().sum();
                w.iter().map(|x| x / t).collect()
            }
            _ => self.base_priors.clone(),
        };
        let astro = if kind.free_priors() {
            Astro::Free(start.iter().map(|p| p * rest).collect())
        } else {
            Astro::Block(rest)
        };
        let theta = kind.covariate().then(|| match &opts.initial_shift {
            Some(s) => self.clamp_theta(s.to_scaled(&self.roi)),
            None => [0.0, 0.0, 0.0, 0.5, 0.5, 0.5],
        });
        State {
            astro,
            extra,
            theta,
        }
    }

    pub(crate) fn theta_bounds(&self) -> Vec<Bound> {
        let b = self.max_steepness;
        let mut v = vec![Bound::between(-b, b); 3];
        v.extend([Bound::between(CENTRE_BOUNDS.0, CENTRE_BOUNDS.1); 3]);
        v
    }

    fn clamp_theta(&self, t: [f64; 6]) -> [f64; 6] {
        let b = self.max_steepness;
        std::array::from_fn(|i| {
            if i < 3 {
                t[i].clamp(-b, b)
            } else {
                t[i].clamp(CENTRE_BOUNDS.0, CENTRE_BOUNDS.1)
            }
        })
    }

    /// $\ln Z_k$ at `theta` for every class, with gradients if asked.
    fn ln_zs(&self, theta: &[f64; 6], grads: Option<&mut Vec<[f64; 6]>>) -> Vec<f64> {
        match grads {
            Some(g) => {
                g.clear();
                self.quad
                    .iter()
                    .map(|q| {
                        let mut gr = [0.0; 6];
                        let v = q.ln_z(theta, Some(&mut gr));
                        g.push(gr);
                        v
                    })
                    .collect()
            }
            None => self.quad.iter().map(|q| q.ln_z(theta, None)).collect(),
        }
    }

    /// The log weights, per class, that multiply $C(x_i)\,p(x_i\mid k)$.
    fn class_log_coeffs(&self, state: &State, ln_z: &[f64]) -> Vec<f64> {
        match &state.astro {
            Astro::Free(pi) => pi.iter().zip(ln_z).map(|(p, z)| p.ln() - z).collect(),
            Astro::Block(a) => {
                let terms: Vec<f64> = self
                    .base_priors
                    .iter()
                    .zip(ln_z)
                    .map(|(b, z)| b.ln() + z)
                    .collect();
                let ln_norm = log_sum_exp(&terms);
                self.base_priors
                    .iter()
                    .map(|b| a.ln() + b.ln() - ln_norm)
                    .collect()
            }
        }
    }

    pub(crate) fn evaluate(
        &self,
        data: &PreparedData,
        extras: &[ExtraComponent],
        state: &State,
    ) -> Result<Eval> {
        let k = self.classes.len();
        let nc = k + extras.len();
        let n = data.len();
        let ln_z = match &state.theta {
            Some(t) => self.ln_zs(t, None),
            None => vec![0.0; k],
        };
        let coeff = self.class_log_coeffs(state, &ln_z);
        let ln_w_extra: Vec<f64> = state.extra.iter().map(|w| w.ln()).collect();
        let mut resp = vec![0.0; n * nc];
        let mut n_c = vec![0.0; nc];
        let mut r_astro = vec![0.0; n];
        let mut ln_l = 0.0;
        let mut terms = vec![0.0; nc];
        for i in 0..n {
            let ln_c = state
                .theta
                .as_ref()
                .map_or(0.0, |t| ln_c_scaled(t, &data.u[i], None));
            for c in 0..k {
                terms[c] = coeff[c] + ln_c + data.ln_pk[i * k + c];
            }
            for (e, ex) in extras.iter().enumerate() {
                terms[k + e] = ln_w_extra[e] + ex.ln_pdf[i];
            }
            let lse = log_sum_exp(&terms);
            if !lse.is_finite() {
                return Err(Error::numerical(
                    "mixture log-likelihood",
                    0,
                    lse,
                    format!(
                        "source {i} at {:?} has zero (or infinite) density under the model",
                        data.x[i]
                    ),
                )
                .into());
            }
            ln_l += lse;
            for c in 0..nc {
                let r = (terms[c] - lse).exp();
                resp[i * nc + c] = r;
                n_c[c] += r;
                if c < k {
                    r_astro[i] += r;
                }
            }
        }
        Ok(Eval {
            ln_l,
            resp,
            n_c,
            r_astro,
            ln_z,
        })
    }

    /// $Q_\theta = \sum_i R_i \ln C(x_i) - [\text{normalisation}]$ and its
    /// gradient, divided by $N$ (the function the M-step maximises).
    pub(crate) fn q_theta(
        &self,
        data: &PreparedData,
        astro_free: bool,
        r_astro: &[f64],
        n_class: &[f64],
        theta: &[f64; 6],
        grad: &mut [f64; 6],
    ) -> f64 {
        let n = data.len() as f64;
        let mut v = 0.0;
        let mut g = [0.0; 6];
        let mut gi = [0.0; 6];
        for (u, r) in data.u.iter().zip(r_astro) {
            v += r * ln_c_scaled(theta, u, Some(&mut gi));
            for j in 0..6 {
                g[j] += r * gi[j];
            }
        }
        let mut zg = Vec::with_capacity(self.quad.len());
        let ln_z = self.ln_zs(theta, Some(&mut zg));
        if astro_free {
            for (c, nk) in n_class.iter().enumerate() {
                v -= nk * ln_z[c];
                for j in 0..6 {
                    g[j] -= nk * zg[c][j];
                }
            }
        } else {
            let n_a: f64 = n_class.iter().sum();
            let terms: Vec<f64> = self
                .base_priors
                .iter()
                .zip(&ln_z)
                .map(|(b, z)| b.ln() + z)
                .collect();
            let ln_norm = log_sum_exp(&terms);
            v -= n_a * ln_norm;
            for (c, t) in terms.iter().enumerate() {
                let share = (t - ln_norm).exp();
                for j in 0..6 {
                    g[j] -= n_a * share * zg[c][j];
                }
            }
        }
        for j in 0..6 {
            grad[j] = g[j] / n;
        }
        v / n
    }

    fn params_of(&self, state: &State, ln_z: &[f64]) -> MixtureParams {
        let class_weights = match &state.astro {
            Astro::Free(pi) => pi.clone(),
            Astro::Block(a) => {
                let terms: Vec<f64> = self
                    .base_priors
                    .iter()
                    .zip(ln_z)
                    .map(|(b, z)| b.ln() + z)
                    .collect();
                let ln_norm = log_sum_exp(&terms);
                terms.iter().map(|t| a * (t - ln_norm).exp()).collect()
            }
        };
        MixtureParams {
            class_weights,
            extra_weights: state.extra.clone(),
            shift: state
                .theta
                .as_ref()
                .map(|t| SigmoidShift::from_scaled(t, &self.roi)),
        }
    }

    fn n_free(&self, kind: ShiftKind, extras: &[ExtraComponent]) -> usize {
        let free_extras = extras
            .iter()
            .filter(|e| matches!(e.weight, ExtraWeight::Free { .. }))
            .count();
        let units = free_extras
            + if kind.free_priors() {
                self.classes.len()
            } else {
                1
            };
        units - 1 + if kind.covariate() { 6 } else { 0 }
    }

    fn finish(
        &self,
        kind: ShiftKind,
        extras: &[ExtraComponent],
        state: &State,
        ev: &Eval,
        report: FitReport,
        history: Vec<f64>,
    ) -> Result<MixtureFit> {
        let nc = self.classes.len() + extras.len();
        let responsibilities = Array2::from_shape_vec((ev.r_astro.len(), nc), ev.resp.clone())
            .map_err(|e| Error::shape("responsibilities", nc, e))?;
        let mut component_names: Vec<String> =
            self.classes.iter().map(|c| c.name().to_string()).collect();
        component_names.extend(extras.iter().map(|e| e.name.clone()));
        Ok(MixtureFit {
            kind,
            params: self.params_of(state, &ev.ln_z),
            report,
            ln_l_history: history,
            n_free_params: self.n_free(kind, extras),
            component_names,
            responsibilities,
        })
    }

    /// Fits model `kind` (plus `extras`) to `data` by expectation-maximisation.
    ///
    /// Each iteration computes the responsibilities $r_{ic}$ in log space
    /// (E-step), sets the free weights in closed form,
    /// $\pi_c = (1 - \sum_\mathrm{fixed}\pi)\, n_c / \sum_{c'\,\mathrm{free}} n_{c'}$ with
    /// $n_c = \sum_i r_{ic}$, and maximises over the six shift parameters
    /// $Q_\theta = \sum_i R_i \ln C(x_i) - \sum_k n_k \ln Z_k(\theta)$
    /// ($R_i$ the astrophysical responsibility; for the covariate-only model the
    /// last term is $n_\mathrm{astro} \ln \sum_k \pi^\mathrm{a}_k Z_k$) by L-BFGS
    /// with the analytic gradient, starting from the current value and keeping
    /// it only if $Q_\theta$ increases. Every iteration therefore raises $\ln L$.
    ///
    /// With [`EmOptions::multi_start`] EM runs 12 iterations from each of up to
    /// ten starting points (flat modulation; the eight sign patterns of slopes
    /// of steepness 4 centred mid-ROI; equal class weights), continues the two
    /// best runs to convergence and returns the better one: its $\ln L$
    /// history, with `n_iter` summed over all runs.
    ///
    /// # Errors
    /// Invalid options or extras, a source with zero density, a non-finite
    /// M-step objective ([`Error::Numerical`]), or a non-finite
    /// likelihood. Running out of iterations is not an error: the report says
    /// `converged = false`.
    pub fn fit(
        &self,
        data: &PreparedData,
        kind: ShiftKind,
        extras: &[ExtraComponent],
        opts: &EmOptions,
    ) -> Result<MixtureFit> {
        opts.check()?;
        self.check_extras(data, extras)?;
        let starts = self.starts(kind, extras, opts);
        let mut total_iter = 0;
        // Screening: a few iterations from every start, then the most
        // promising runs continue to convergence.
        let mut runs = Vec::with_capacity(starts.len());
        for start in starts {
            let screen = if runs.is_empty() && !opts.multi_start {
                opts.max_iter
            } else {
                SCREEN_ITER.min(opts.max_iter)
            };
            let run = self.em_run(data, kind, extras, opts, start, screen)?;
            total_iter += run.2.n_iter;
            runs.push(run);
        }
        runs.sort_by(|a, b| b.1.ln_l.total_cmp(&a.1.ln_l));
        let mut best: Option<(State, Eval, FitReport, Vec<f64>)> = None;
        for (state, ev, report, mut history) in runs.into_iter().take(KEEP_AFTER_SCREEN) {
            let used = report.n_iter;
            let (state, ev, mut report) = if report.converged || used >= opts.max_iter {
                (state, ev, report)
            } else {
                let (st, ev2, rep, more) =
                    self.em_run(data, kind, extras, opts, state, opts.max_iter - used)?;
                total_iter += rep.n_iter;
                history.extend_from_slice(&more[1..]);
                (st, ev2, rep)
            };
            report.n_iter = history.len() - 1;
            if best.as_ref().is_none_or(|b| ev.ln_l > b.1.ln_l) {
                best = Some((state, ev, report, history));
            }
        }
        let Some((state, ev, mut report, history)) = best else {
            return Err(Error::empty("EM starting points", "internal: no start was tried").into());
        };
        report.n_iter = total_iter;
        self.finish(kind, extras, &state, &ev, report, history)
    }

    /// The starting points of the EM fit: the flat start (or the user's
    /// shift) and, with `multi_start`, the eight sign patterns of a moderate
    /// steepness (4) centred mid-ROI, and the flat start with equal class weights.
    fn starts(&self, kind: ShiftKind, extras: &[ExtraComponent], opts: &EmOptions) -> Vec<State> {
        let first = self.initial_state(kind, extras, opts);
        let mut out = vec![first.clone()];
        if !opts.multi_start || opts.initial_shift.is_some() {
            return out;
        }
        if kind.covariate() {
            for signs in 0..8u32 {
                let mut st = first.clone();
                let t: [f64; 6] = std::array::from_fn(|j| {
                    if j < 3 {
                        if signs & (1 << j) != 0 {
                            4.0
                        } else {
                            -4.0
                        }
                    } else {
                        0.5
                    }
                });
                st.theta = Some(t);
                out.push(st);
            }
        }
        if let Astro::Free(pi) = &first.astro {
            let total: f64 = pi.iter().sum();
            let mut st = first.clone();
            st.astro = Astro::Free(vec![total / pi.len() as f64; pi.len()]);
            if st != first {
                out.push(st);
            }
        }
        out
    }

    /// One EM run from `state`.
    fn em_run(
        &self,
        data: &PreparedData,
        kind: ShiftKind,
        extras: &[ExtraComponent],
        opts: &EmOptions,
        mut state: State,
        max_iter: usize,
    ) -> Result<(State, Eval, FitReport, Vec<f64>)> {
        let mut ev = self.evaluate(data, extras, &state)?;
        let mut history = vec![ev.ln_l];
        let k = self.classes.len();
        let fixed_total: f64 = extras
            .iter()
            .filter_map(|e| match e.weight {
                ExtraWeight::Fixed(w) => Some(w),
                ExtraWeight::Free { .. } => None,
            })
            .sum();
        let bounds = self.theta_bounds();
        let mut converged = false;
        let mut n_iter = 0;
        while n_iter < max_iter {
            n_iter += 1;
            // Closed-form weights.
            let n_astro: f64 = ev.n_c[..k].iter().sum();
            let free_extra_n: f64 = extras
                .iter()
                .enumerate()
                .filter(|(_, e)| matches!(e.weight, ExtraWeight::Free { .. }))
                .map(|(e, _)| ev.n_c[k + e])
                .sum();
            let denom = n_astro + free_extra_n;
            let share = (1.0 - fixed_total) / denom;
            let mut next = state.clone();
            next.astro = match &state.astro {
                Astro::Free(_) => Astro::Free(ev.n_c[..k].iter().map(|n| n * share).collect()),
                Astro::Block(_) => Astro::Block(n_astro * share),
            };
            for (e, ex) in extras.iter().enumerate() {
                if let ExtraWeight::Free { .. } = ex.weight {
                    next.extra[e] = ev.n_c[k + e] * share;
                }
            }
            // Numerical M-step for the shift.
            if let Some(theta0) = state.theta {
                let free = kind.free_priors();
                let n_class = ev.n_c[..k].to_vec();
                let r_astro = ev.r_astro.clone();
                let objective = WithGradient(|t: &[f64], g: &mut [f64]| {
                    let th: [f64; 6] = std::array::from_fn(|j| t[j]);
                    let mut gr = [0.0; 6];
                    let v = self.q_theta(data, free, &r_astro, &n_class, &th, &mut gr);
                    for j in 0..6 {
                        g[j] = -gr[j];
                    }
                    Ok(-v)
                });
                let mut g0 = [0.0; 6];
                let q0 = self.q_theta(data, free, &ev.r_astro, &n_class, &theta0, &mut g0);
                // Running out of M-step iterations is fine (only improvements
                // are kept); a numerical failure of the objective is an error.
                let m = minimize(&objective, &theta0, &bounds, &opts.m_step)?;
                if -m.f_x > q0 {
                    next.theta = Some(self.clamp_theta(std::array::from_fn(|j| m.x[j])));
                }
            }
            let new_ev = self.evaluate(data, extras, &next)?;
            let gain = new_ev.ln_l - ev.ln_l;
            state = next;
            ev = new_ev;
            history.push(ev.ln_l);
            if gain.abs() < opts.tol {
                converged = true;
                break;
            }
        }
        let report = FitReport {
            n_iter,
            converged,
            ln_l: ev.ln_l,
        };
        Ok((state, ev, report, history))
    }

    /// Fits model `kind` by maximising $\ln L$ directly over all free parameters
    /// (softmax logits of the free weights and the six shift parameters) with
    /// L-BFGS and the analytic gradient (Fisher's identity: the gradient of
    /// $\ln L$ equals that of the EM function $Q$ at the current point). An
    /// independent check of [`fit`](Self::fit). It uses `opts.m_step` with at
    /// least 5000 iterations, from the single flat start.
    ///
    /// # Errors
    /// As [`fit`](Self::fit), or a failed optimisation.
    pub fn fit_direct(
        &self,
        data: &PreparedData,
        kind: ShiftKind,
        extras: &[ExtraComponent],
        opts: &EmOptions,
    ) -> Result<MixtureFit> {
        opts.check()?;
        self.check_extras(data, extras)?;
        let state0 = self.initial_state(kind, extras, opts);
        let k = self.classes.len();
        let fixed_total: f64 = extras
            .iter()
            .filter_map(|e| match e.weight {
                ExtraWeight::Fixed(w) => Some(w),
                ExtraWeight::Free { .. } => None,
            })
            .sum();
        // Free units: the classes (or the astrophysical block), then free extras.
        let free_extras: Vec<usize> = extras
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.weight, ExtraWeight::Free { .. }))
            .map(|(e, _)| e)
            .collect();
        let astro_units = if kind.free_priors() { k } else { 1 };
        let n_units = astro_units + free_extras.len();
        let unit_weights = |s: &State| -> Vec<f64> {
            let mut w = match &s.astro {
                Astro::Free(pi) => pi.clone(),
                Astro::Block(a) => vec![*a],
            };
            w.extend(free_extras.iter().map(|e| s.extra[*e]));
            w
        };
        let w0 = unit_weights(&state0);
        let last = w0[n_units - 1].ln();
        let mut x0: Vec<f64> = w0[..n_units - 1].iter().map(|w| w.ln() - last).collect();
        let n_eta = x0.len();
        if let Some(t) = state0.theta {
            x0.extend(t);
        }
        let mut bounds = vec![Bound::between(-40.0, 40.0); n_eta];
        if kind.covariate() {
            bounds.extend(self.theta_bounds());
        }
        let n_data = data.len() as f64;
        let state_of = |x: &[f64]| -> State {
            let mut eta: Vec<f64> = x[..n_eta].to_vec();
            eta.push(0.0);
            let m = eta.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let ex: Vec<f64> = eta.iter().map(|e| (e - m).exp()).collect();
            let s: f64 = ex.iter().sum();
            let w: Vec<f64> = ex.iter().map(|e| (1.0 - fixed_total) * e / s).collect();
            let mut st = state0.clone();
            st.astro = match &state0.astro {
                Astro::Free(_) => Astro::Free(w[..k].to_vec()),
                Astro::Block(_) => Astro::Block(w[0]),
            };
            for (j, e) in free_extras.iter().enumerate() {
                st.extra[*e] = w[astro_units + j];
            }
            if kind.covariate() {
                st.theta = Some(std::array::from_fn(|j| x[n_eta + j]));
            }
            st
        };
        if x0.is_empty() {
            // Nothing to fit (associated-only model without free extras).
            let ev = self.evaluate(data, extras, &state0)?;
            let report = FitReport {
                n_iter: 0,
                converged: true,
                ln_l: ev.ln_l,
            };
            return self.finish(kind, extras, &state0, &ev, report, Vec::new());
        }
        let objective = WithGradient(|x: &[f64], g: &mut [f64]| -> darkprobe_core::Result<f64> {
            let st = state_of(x);
            let ev = self.evaluate(data, extras, &st)?;
            // d lnL / d eta_u = n_u - (sum of free n) * softmax_u.
            let mut n_units_v: Vec<f64> = if kind.free_priors() {
                ev.n_c[..k].to_vec()
            } else {
                vec![ev.n_c[..k].iter().sum()]
            };
            n_units_v.extend(free_extras.iter().map(|e| ev.n_c[k + e]));
            let total: f64 = n_units_v.iter().sum();
            let w = unit_weights(&st);
            for j in 0..n_eta {
                g[j] = -(n_units_v[j] - total * w[j] / (1.0 - fixed_total)) / n_data;
            }
            if let Some(t) = st.theta {
                let mut gr = [0.0; 6];
                self.q_theta(
                    data,
                    kind.free_priors(),
                    &ev.r_astro,
                    &ev.n_c[..k],
                    &t,
                    &mut gr,
                );
                for j in 0..6 {
                    g[n_eta + j] = -gr[j];
                }
            }
            Ok(-ev.ln_l / n_data)
        });
        // The M-step settings, without their per-step iteration cap.
        let mo = MinimizeOptions {
            max_iter: opts.m_step.max_iter.max(5000),
            ..opts.m_step
        };
        let m = minimize(&objective, &x0, &bounds, &mo)?;
        let state = state_of(&m.x);
        let ev = self.evaluate(data, extras, &state)?;
        let report = FitReport {
            n_iter: m.n_iter,
            converged: m.converged,
            ln_l: ev.ln_l,
        };
        self.finish(kind, extras, &state, &ev, report, Vec::new())
    }

    /// $\ln L$ of `params` on `data`:
    /// $\sum_i \ln\left[\sum_k \pi_k C(x_i) p(x_i\mid k)/Z_k + \sum_e \pi_e q_e(x_i)\right]$.
    ///
    /// # Errors
    /// Parameters of the wrong length or invalid weights, extras of the wrong
    /// length, or a source with zero density.
    pub fn ln_likelihood(
        &self,
        data: &PreparedData,
        extras: &[ExtraComponent],
        params: &MixtureParams,
    ) -> Result<f64> {
        let k = self.classes.len();
        if params.class_weights.len() != k || params.extra_weights.len() != extras.len() {
            return Err(Error::shape(
                "mixture weights",
                format!("{k} class and {} extra weights", extras.len()),
                format!(
                    "{} and {}",
                    params.class_weights.len(),
                    params.extra_weights.len()
                ),
            )
            .into());
        }
        for w in params.class_weights.iter().chain(&params.extra_weights) {
            if !(w.is_finite() && *w >= 0.0) {
                return Err(Error::invalid_param("mixture weight", w, "finite and >= 0").into());
            }
        }
        let state = State {
            astro: Astro::Free(params.class_weights.clone()),
            extra: params.extra_weights.clone(),
            theta: params.shift.map(|s| s.to_scaled(&self.roi)),
        };
        for e in extras {
            if e.ln_pdf.len() != data.len() {
                return Err(Error::shape(
                    format!("log densities of component '{}'", e.name),
                    data.len(),
                    e.ln_pdf.len(),
                )
                .into());
            }
        }
        Ok(self.evaluate(data, extras, &state)?.ln_l)
    }

    /// Posterior component probabilities $P(c \mid x_i)$ under `params`, one
    /// row per source of `data`, columns the classes then the extras:
    /// $P(k \mid x) \propto \pi_k C(x) p(x \mid k)/Z_k$ and
    /// $P(e \mid x) \propto \pi_e q_e(x)$ (with an extra component the
    /// modulation no longer cancels).
    ///
    /// # Errors
    /// As [`ln_likelihood`](Self::ln_likelihood).
    pub fn responsibilities(
        &self,
        data: &PreparedData,
        extras: &[ExtraComponent],
        params: &MixtureParams,
    ) -> Result<Array2<f64>> {
        self.ln_likelihood(data, extras, params)?;
        let state = State {
            astro: Astro::Free(params.class_weights.clone()),
            extra: params.extra_weights.clone(),
            theta: params.shift.map(|s| s.to_scaled(&self.roi)),
        };
        let ev = self.evaluate(data, extras, &state)?;
        let nc = self.classes.len() + extras.len();
        Array2::from_shape_vec((data.len(), nc), ev.resp)
            .map_err(|e| Error::shape("responsibilities", nc, e).into())
    }

    /// Posterior class probabilities $P(k \mid x, \text{astrophysical})
    /// \propto \pi_k\, p(x\mid k)/Z_k$ for each row of `points` (the modulation
    /// $C(x)$ is common to all classes and cancels).
    ///
    /// # Errors
    /// As [`prepare`](Self::prepare), or class weights of the wrong length.
    pub fn posteriors(
        &self,
        params: &MixtureParams,
        points: ArrayView2<'_, f64>,
    ) -> Result<Array2<f64>> {
        let k = self.classes.len();
        if params.class_weights.len() != k {
            return Err(Error::shape("class weights", k, params.class_weights.len()).into());
        }
        let data = self.prepare(points)?;
        let ln_z = match &params.shift {
            Some(s) => self.ln_zs(&s.to_scaled(&self.roi), None),
            None => vec![0.0; k],
        };
        let mut out = Array2::zeros((data.len(), k));
        let mut terms = vec![0.0; k];
        for i in 0..data.len() {
            for c in 0..k {
                terms[c] = params.class_weights[c].ln() - ln_z[c] + data.ln_pdf(i, c);
            }
            let lse = log_sum_exp(&terms);
            for c in 0..k {
                out[[i, c]] = (terms[c] - lse).exp();
            }
        }
        Ok(out)
    }

    /// Draws a mock catalog of `n` sources from the astrophysical model
    /// `params`, exactly: each source picks class $k$ with probability $\pi_k$
    /// (normalised over the classes), then proposals are drawn from the
    /// truncated KDE $p(x\mid k)$ and accepted with probability $C(x) \le 1$.
    /// The acceptance rate of class $k$ is $Z_k$.
    ///
    /// # Errors
    /// Class weights of the wrong length, negative or all zero; positive extra
    /// weights (an external component cannot be sampled here: draw its sources
    /// yourself); or a class whose $Z_k < 10^{-8}$ (sampling would not end).
    pub fn sample<R: Rng + ?Sized>(
        &self,
        params: &MixtureParams,
        n: usize,
        rng: &mut R,
    ) -> Result<MockCatalog> {
        let k = self.classes.len();
        if params.class_weights.len() != k {
            return Err(Error::shape("class weights", k, params.class_weights.len()).into());
        }
        if params.extra_weights.iter().any(|w| *w > 0.0) {
            return Err(Error::invalid_param(
                "extra component weights",
                format!("{:?}", params.extra_weights),
                "all zero (sample external components separately)",
            )
            .into());
        }
        let pick = WeightedIndex::new(&params.class_weights).map_err(|e| {
            Error::invalid_param(
                "class weights",
                format!("{:?}", params.class_weights),
                format!("finite, >= 0, with a positive sum ({e})"),
            )
        })?;
        let theta = params.shift.map(|s| s.to_scaled(&self.roi));
        let labels: Vec<usize> = (0..n).map(|_| pick.sample(rng)).collect();
        let mut counts = vec![0usize; k];
        for &l in &labels {
            counts[l] += 1;
        }
        let mut proposals = vec![0u64; k];
        let mut accepted = vec![0u64; k];
        let mut per_class: Vec<Vec<[f64; 3]>> = vec![Vec::new(); k];
        for c in 0..k {
            if counts[c] == 0 {
                continue;
            }
            if let Some(t) = &theta {
                let z = self.quad[c].ln_z(t, None).exp();
                if z < 1e-8 {
                    return Err(Error::numerical(
                        "rejection sampling of a modulated class",
                        0,
                        z,
                        format!("class '{}' has Z = {z:e} < 1e-8", self.classes[c].name()),
                    )
                    .into());
                }
            }
            let kde = self.classes[c].truncated();
            while per_class[c].len() < counts[c] {
                let want = counts[c] - per_class[c].len();
                let batch = kde.sample(rng, want.max(16))?;
                for row in batch.outer_iter() {
                    let x = [row[0], row[1], row[2]];
                    proposals[c] += 1;
                    let keep = match &theta {
                        None => true,
                        Some(t) => {
                            let lc = ln_c_scaled(t, &self.to_u(&x), None);
                            rng.random::<f64>() < lc.exp()
                        }
                    };
                    if keep {
                        accepted[c] += 1;
                        if per_class[c].len() < counts[c] {
                            per_class[c].push(x);
                        }
                    }
                }
            }
        }
        let mut points = Array2::zeros((n, N_FEATURES));
        let mut next = vec![0usize; k];
        for (i, &l) in labels.iter().enumerate() {
            let x = per_class[l][next[l]];
            next[l] += 1;
            for d in 0..N_FEATURES {
                points[[i, d]] = x[d];
            }
        }
        Ok(MockCatalog {
            points,
            labels,
            proposals,
            accepted,
        })
    }
}
