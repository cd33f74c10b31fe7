//! The dark-matter subhalo component of the mixture: detection efficiency and
//! spectral-feature density from the detection simulation, and the density
//! $p_\mathrm{DM}(x \mid \langle\sigma v\rangle)$ with its expected number of
//! sources in the ROI.
//!
//! # Model
//! For one mass, the spectral shape is fixed and only the flux varies, so the
//! detection simulation ([`simulate_detection`]) runs once on a grid of fluxes
//! $\log_{10}\Phi_j$: at each node, `n_per_flux` subhalo spectra are simulated
//! and fitted ([`crate::detection`]); the efficiency $\epsilon(\Phi_j)$ is the
//! detected fraction ($TS > 25$), and $p(\alpha, \beta \mid \Phi_j)$ is a
//! Gaussian KDE (Scott's rule, diagonal) of the fitted $(\alpha(E_0), \beta)$ of
//! the detected ones. Between nodes, with $t$ the position in $\log_{10}\Phi$,
//! $\epsilon$ is interpolated linearly and
//! $p(\alpha,\beta\mid\Phi) = (1-t)\,p_j + t\,p_{j+1}$ (a node with fewer than
//! [`MIN_DETECTED_FOR_KDE`] detections borrows the KDE of the nearest node that has one).
//!
//! With the population $n_J$ ([`crate::population`]) and
//! $\Phi = \langle\sigma v\rangle J c_m$, the detected subhalos have the
//! feature-space density (per unit $\log_{10}\Phi$, $\alpha$, $\beta$; $x = (\log_{10}\Phi, \alpha, \beta)$)
//! $$\rho_\mathrm{DM}(x) = n_J\!\left(\log_{10}\Phi - \log_{10}(\langle\sigma v\rangle c_m)\right)\,
//!   \epsilon(\Phi)\, p(\alpha, \beta \mid \Phi),$$
//! whose integral over the ROI is the expected number of subhalos in the ROI,
//! $N_\mathrm{DM}(\langle\sigma v\rangle) = \int_\mathrm{ROI} \rho_\mathrm{DM}\,dx$, and over all
//! features the expected number of detected subhalos
//! $N^\mathrm{tot}_\mathrm{DM} = \int n_J\, \epsilon\, d\log_{10}\Phi$. The mixture
//! component is $p_\mathrm{DM}(x) = \rho_\mathrm{DM}(x)/N_\mathrm{DM}$ on the ROI with the
//! fixed weight $\pi_\mathrm{DM} = N_\mathrm{DM}(\langle\sigma v\rangle)/N_\mathrm{unas}$,
//! $N_\mathrm{unas}$ the number of unassociated sources in the ROI; the
//! astrophysical classes share $1 - \pi_\mathrm{DM}$ (our reading of the
//! paper's eqs. 3.2-3.4). The integrals over $\log_{10}\Phi$ use the trapezoid
//! rule on a 0.01-dex grid; the box masses of the KDEs are exact (erf).

// `!(x > 0.0)` is meant: NaN must fail these checks.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use darkprobe_core::par::map_indices;
use darkprobe_core::progress::Progress;
use darkprobe_core::rng::rng_for_index;
use darkprobe_core::Error;
use darkprobe_kde::{AxisBox, BandwidthRule, BandwidthShape, GaussianKde};
use ndarray::Array2;
use rand::Rng;

use crate::detection::{Instrument, LpFitter};
use crate::error::Result;
use crate::features::Roi;
use crate::model::{ExtraComponent, ExtraWeight, PreparedData};
use crate::population::{DmSpectrumBins, JPopulation};

/// Detected spectra needed at a flux node to build its $(\alpha, \beta)$ KDE.
pub const MIN_DETECTED_FOR_KDE: usize = 5;
/// Grid step of the flux integrals, dex.
const FLUX_STEP: f64 = 0.01;

/// Settings of the detection simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionOptions {
    /// Lowest $\log_{10}\Phi$ of the grid (default $-11.5$).
    pub log10_flux_min: f64,
    /// Highest $\log_{10}\Phi$ (default $-7.5$).
    pub log10_flux_max: f64,
    /// Number of flux nodes (default 41, a 0.1-dex step).
    pub n_flux: usize,
    /// Simulated spectra per node (default 200).
    pub n_per_flux: usize,
    /// Seed; spectrum $i$ uses `rng_for_index(seed, i)`.
    pub seed: u64,
}

impl Default for DetectionOptions {
    fn default() -> Self {
        Self {
            log10_flux_min: -11.5,
            log10_flux_max: -7.5,
            n_flux: 41,
            n_per_flux: 200,
            seed: 0,
        }
    }
}

impl DetectionOptions {
    fn check(&self) -> Result<()> {
        if !(self.log10_flux_min.is_finite()
            && self.log10_flux_max.is_finite()
            && self.log10_flux_max > self.log10_flux_min)
        {
            return Err(Error::invalid_param(
                "DetectionOptions flux range",
                format!("[{}, {}]", self.log10_flux_min, self.log10_flux_max),
                "finite with min < max",
            )
            .into());
        }
        if self.n_flux < 2 {
            return Err(
                Error::invalid_param("DetectionOptions::n_flux", self.n_flux, ">= 2").into(),
            );
        }
        if self.n_per_flux < MIN_DETECTED_FOR_KDE {
            return Err(Error::invalid_param(
                "DetectionOptions::n_per_flux",
                self.n_per_flux,
                format!(">= {MIN_DETECTED_FOR_KDE}"),
            )
            .into());
        }
        Ok(())
    }
}

/// The outcome of the detection simulation for one mass.
#[derive(Debug, Clone)]
pub struct DetectionTable {
    mass_gev: f64,
    log10_flux: Vec<f64>,
    efficiency: Vec<f64>,
    n_per_flux: usize,
    detected: Vec<Vec<[f64; 2]>>,
    /// Index of the node whose KDE each node uses.
    kde_of: Vec<usize>,
    kdes: Vec<Option<GaussianKde>>,
    /// Mass of each node's KDE inside the ROI's $(\alpha, \beta)$ box.
    box_mass: Vec<f64>,
    roi: Roi,
}

/// Runs the detection simulation of a subhalo spectrum `spectrum` seen by
/// `instrument`, with features at the reference energy of `roi`, in parallel
/// over the spectra (deterministic for a given seed whatever the thread
/// count), reporting one step per simulated spectrum to `progress`.
///
/// # Errors
/// Invalid options, a spectrum binned on other edges than the instrument's,
/// a failed fit, or no flux node with enough detections for a KDE.
///
/// ```
/// use darkprobe_core::progress::NoProgress;
/// use darkprobe_subhalos::detection::Instrument;
/// use darkprobe_subhalos::dm::{simulate_detection, DetectionOptions};
/// use darkprobe_subhalos::population::{bergstrom_bb_spectrum, DmSpectrumBins};
/// use darkprobe_subhalos::{ReferenceEnergy, Roi};
/// let lat = Instrument::fermi_lat_high_latitude();
/// let bins = DmSpectrumBins::new(&bergstrom_bb_spectrum()?, 100.0, lat.edges_gev())?;
/// let opts = DetectionOptions { n_flux: 9, n_per_flux: 20, log10_flux_min: -11.5,
///     log10_flux_max: -8.5, seed: 1 };
/// let t = simulate_detection(&bins, &lat, &Roi::paper(ReferenceEnergy::OneGeV), &opts, &NoProgress)?;
/// assert!(t.efficiency()[0] < 0.1 && t.efficiency()[8] > 0.9);
/// # Ok::<(), darkprobe_subhalos::SubhaloError>(())
/// ```
pub fn simulate_detection(
    spectrum: &DmSpectrumBins,
    instrument: &Instrument,
    roi: &Roi,
    opts: &DetectionOptions,
    progress: &dyn Progress,
) -> Result<DetectionTable> {
    opts.check()?;
    if spectrum.yields().len() != instrument.n_bins() {
        return Err(Error::shape(
            "binned DM spectrum",
            instrument.n_bins(),
            spectrum.yields().len(),
        )
        .into());
    }
    let pivot_gev = roi.energy().energy_mev() / 1000.0;
    let fitter = LpFitter::new(instrument, pivot_gev)?;
    let step = (opts.log10_flux_max - opts.log10_flux_min) / (opts.n_flux - 1) as f64;
    let log10_flux: Vec<f64> = (0..opts.n_flux)
        .map(|j| opts.log10_flux_min + step * j as f64)
        .collect();
    let total = opts.n_flux * opts.n_per_flux;
    progress.start(
        &format!("detection simulation, {} GeV", spectrum.mass_gev()),
        total as u64,
    );
    let results = map_indices(total, |i| -> Result<Option<[f64; 2]>> {
        let j = i / opts.n_per_flux;
        let mut rng = rng_for_index(opts.seed, i as u64);
        let flux = spectrum.bin_fluxes(10f64.powf(log10_flux[j]));
        let counts = instrument.simulate_counts(&flux, &mut rng)?;
        let fit = fitter.fit(&counts)?;
        progress.inc(1);
        Ok(fit.detected().then_some([fit.alpha, fit.beta]))
    });
    progress.finish();
    let mut detected = vec![Vec::new(); opts.n_flux];
    for (i, r) in results.into_iter().enumerate() {
        if let Some(p) = r? {
            detected[i / opts.n_per_flux].push(p);
        }
    }
    DetectionTable::from_detections(
        spectrum.mass_gev(),
        log10_flux,
        opts.n_per_flux,
        detected,
        roi.clone(),
    )
}

impl DetectionTable {
    /// A table from detected $(\alpha, \beta)$ per flux node (e.g. another
    /// simulation's output): efficiencies are `detected[j].len() / n_per_flux`.
    ///
    /// # Errors
    /// Lengths that differ, flux nodes not increasing, more detections than
    /// simulated spectra, non-finite features, or no node with at least
    /// [`MIN_DETECTED_FOR_KDE`] detections.
    pub fn from_detections(
        mass_gev: f64,
        log10_flux: Vec<f64>,
        n_per_flux: usize,
        detected: Vec<Vec<[f64; 2]>>,
        roi: Roi,
    ) -> Result<Self> {
        darkprobe_core::error::check_positive("mass_gev", mass_gev)?;
        if log10_flux.len() != detected.len() || log10_flux.len() < 2 {
            return Err(
                Error::shape("detections per flux node", log10_flux.len(), detected.len()).into(),
            );
        }
        if log10_flux
            .windows(2)
            .any(|w| !(w[1] > w[0]) || !w[0].is_finite() || !w[1].is_finite())
        {
            return Err(Error::invalid_param(
                "flux nodes",
                format!("{log10_flux:?}"),
                "finite and increasing",
            )
            .into());
        }
        let (lo, hi) = (roi.lo(), roi.hi());
        let region = AxisBox::new(vec![lo[1], lo[2]], vec![hi[1], hi[2]])?;
        let mut kdes = Vec::with_capacity(detected.len());
        let mut box_mass = Vec::with_capacity(detected.len());
        let mut efficiency = Vec::with_capacity(detected.len());
        for (j, d) in detected.iter().enumerate() {
            if d.len() > n_per_flux {
                return Err(Error::invalid_param(
                    format!("detections at flux node {j}"),
                    d.len(),
                    format!("<= {n_per_flux} simulated"),
                )
                .into());
            }
            if let Some(p) = d.iter().find(|p| !(p[0].is_finite() && p[1].is_finite())) {
                return Err(Error::invalid_param(
                    format!("detected features at flux node {j}"),
                    format!("{p:?}"),
                    "finite",
                )
                .into());
            }
            efficiency.push(d.len() as f64 / n_per_flux as f64);
            let kde = if d.len() >= MIN_DETECTED_FOR_KDE {
                let x = Array2::from_shape_fn((d.len(), 2), |(i, k)| d[i][k]);
                BandwidthRule::Scott
                    .bandwidth(x.view(), None, BandwidthShape::Diagonal)
                    .and_then(|bw| GaussianKde::new(x.view(), bw))
                    .ok()
            } else {
                None
            };
            box_mass.push(match &kde {
                Some(k) => k.ln_mass_in_box(&region)?.exp(),
                None => 0.0,
            });
            kdes.push(kde);
        }
        let with_kde: Vec<usize> = (0..kdes.len()).filter(|j| kdes[*j].is_some()).collect();
        if with_kde.is_empty() {
            return Err(Error::empty(
                "detected DM spectra",
                format!(
                    "no flux node has {MIN_DETECTED_FOR_KDE} detections: raise the flux range or n_per_flux"
                ),
            )
            .into());
        }
        let kde_of: Vec<usize> = (0..kdes.len())
            .map(|j| {
                *with_kde
                    .iter()
                    .min_by_key(|&&k| (k as i64 - j as i64).unsigned_abs())
                    .unwrap_or(&with_kde[0])
            })
            .collect();
        let box_mass = (0..kdes.len()).map(|j| box_mass[kde_of[j]]).collect();
        Ok(Self {
            mass_gev,
            log10_flux,
            efficiency,
            n_per_flux,
            detected,
            kde_of,
            kdes,
            box_mass,
            roi,
        })
    }

    /// The mass, GeV.
    pub fn mass_gev(&self) -> f64 {
        self.mass_gev
    }
    /// The flux nodes, $\log_{10}\Phi$.
    pub fn log10_flux(&self) -> &[f64] {
        &self.log10_flux
    }
    /// Detection efficiency at each node.
    pub fn efficiency(&self) -> &[f64] {
        &self.efficiency
    }
    /// Simulated spectra per node.
    pub fn n_per_flux(&self) -> usize {
        self.n_per_flux
    }
    /// Fitted $(\alpha(E_0), \beta)$ of the detected spectra at each node.
    pub fn detected(&self) -> &[Vec<[f64; 2]>] {
        &self.detected
    }
    /// The ROI the box masses refer to.
    pub fn roi(&self) -> &Roi {
        &self.roi
    }

    /// Bracketing node and weight: $(j, t)$ with $\log_{10}\Phi$ between nodes
    /// $j$ and $j+1$; clamped at the ends.
    fn locate(&self, log10_flux: f64) -> (usize, f64) {
        let g = &self.log10_flux;
        if log10_flux <= g[0] {
            return (0, 0.0);
        }
        if log10_flux >= g[g.len() - 1] {
            return (g.len() - 2, 1.0);
        }
        let i = g
            .partition_point(|&x| x <= log10_flux)
            .clamp(1, g.len() - 1);
        (i - 1, (log10_flux - g[i - 1]) / (g[i] - g[i - 1]))
    }

    /// $\epsilon(\Phi)$: linear in $\log_{10}\Phi$ between nodes, 0 below the
    /// grid, the last node's value above it.
    pub fn efficiency_at(&self, log10_flux: f64) -> f64 {
        if log10_flux < self.log10_flux[0] {
            return 0.0;
        }
        let (j, t) = self.locate(log10_flux);
        (1.0 - t) * self.efficiency[j] + t * self.efficiency[j + 1]
    }

    /// $\int_\mathrm{box} p(\alpha, \beta \mid \Phi)$: the probability that a
    /// detected subhalo of flux $\Phi$ has features in the ROI's $(\alpha,\beta)$ box.
    pub fn box_mass_at(&self, log10_flux: f64) -> f64 {
        let (j, t) = self.locate(log10_flux);
        (1.0 - t) * self.box_mass[j] + t * self.box_mass[j + 1]
    }

    /// $\ln p(\alpha, \beta \mid \Phi)$ (see the [module docs](crate::dm)).
    ///
    /// # Errors
    /// A KDE evaluation error (non-finite input).
    pub fn ln_shape_pdf(&self, log10_flux: f64, alpha: f64, beta: f64) -> Result<f64> {
        let (j, t) = self.locate(log10_flux);
        let mut terms = Vec::with_capacity(2);
        for (node, w) in [(j, 1.0 - t), (j + 1, t)] {
            if w > 0.0 {
                if let Some(k) = &self.kdes[self.kde_of[node]] {
                    terms.push(w.ln() + k.ln_pdf(&[alpha, beta])?);
                }
            }
        }
        Ok(darkprobe_core::numerics::log_sum_exp(&terms))
    }

    /// Draws $(\alpha, \beta)$ from $p(\alpha, \beta \mid \Phi)$ truncated to the
    /// ROI box.
    fn sample_shape<R: Rng + ?Sized>(&self, log10_flux: f64, rng: &mut R) -> Result<[f64; 2]> {
        let (j, t) = self.locate(log10_flux);
        let wj = (1.0 - t) * self.box_mass[j];
        let wk = t * self.box_mass[j + 1];
        if !(wj + wk > 0.0) {
            return Err(Error::numerical(
                "sampling DM features",
                0,
                wj + wk,
                format!("no probability inside the ROI box at log10 flux {log10_flux}"),
            )
            .into());
        }
        let node = if rng.random::<f64>() * (wj + wk) < wj {
            j
        } else {
            j + 1
        };
        let kde = self.kdes[self.kde_of[node]]
            .as_ref()
            .ok_or_else(|| Error::empty("KDE", "node without detections"))?;
        let (lo, hi) = (self.roi.lo(), self.roi.hi());
        for _ in 0..100_000 {
            let s = kde.sample(rng, 1);
            let (a, b) = (s[[0, 0]], s[[0, 1]]);
            if a >= lo[1] && a <= hi[1] && b >= lo[2] && b <= hi[2] {
                return Ok([a, b]);
            }
        }
        Err(Error::numerical(
            "sampling DM features",
            100_000,
            self.box_mass[node],
            "the KDE has too little mass inside the ROI box",
        )
        .into())
    }
}

/// The dark-matter component for one mass: population, flux coefficient and
/// detection table.
///
/// ```
/// use darkprobe_core::progress::NoProgress;
/// use darkprobe_subhalos::detection::Instrument;
/// use darkprobe_subhalos::dm::{simulate_detection, DetectionOptions, DmComponent};
/// use darkprobe_subhalos::population::{bergstrom_bb_spectrum, DmSpectrumBins, JPopulation};
/// use darkprobe_subhalos::{ReferenceEnergy, Roi};
/// let lat = Instrument::fermi_lat_high_latitude();
/// let roi = Roi::paper(ReferenceEnergy::OneGeV);
/// let bins = DmSpectrumBins::new(&bergstrom_bb_spectrum()?, 100.0, lat.edges_gev())?;
/// let opts = DetectionOptions { n_flux: 13, n_per_flux: 20, ..DetectionOptions::default() };
/// let table = simulate_detection(&bins, &lat, &roi, &opts, &NoProgress)?;
/// let dm = DmComponent::new(JPopulation::paper_default(), &bins, table)?;
/// // Doubling <sigma v> detects more subhalos.
/// assert!(dm.n_roi(2e-25) > dm.n_roi(1e-25) && dm.n_total(1e-25) >= dm.n_roi(1e-25));
/// # Ok::<(), darkprobe_subhalos::SubhaloError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DmComponent {
    population: JPopulation,
    flux_per_sigma_v_j: f64,
    table: DetectionTable,
}

impl DmComponent {
    /// The component of the mass of `spectrum` (which must be the table's).
    ///
    /// # Errors
    /// A spectrum of another mass than the detection table.
    pub fn new(
        population: JPopulation,
        spectrum: &DmSpectrumBins,
        table: DetectionTable,
    ) -> Result<Self> {
        if (spectrum.mass_gev() / table.mass_gev() - 1.0).abs() > 1e-9 {
            return Err(Error::invalid_param(
                "DM spectrum mass (GeV)",
                spectrum.mass_gev(),
                format!("the detection table's mass {}", table.mass_gev()),
            )
            .into());
        }
        Ok(Self {
            population,
            flux_per_sigma_v_j: spectrum.flux_per_sigma_v_j(),
            table,
        })
    }

    /// The mass, GeV.
    pub fn mass_gev(&self) -> f64 {
        self.table.mass_gev()
    }
    /// The detection table.
    pub fn table(&self) -> &DetectionTable {
        &self.table
    }
    /// The J-factor population.
    pub fn population(&self) -> &JPopulation {
        &self.population
    }
    /// $c_m$, the flux per unit $\langle\sigma v\rangle J$.
    pub fn flux_per_sigma_v_j(&self) -> f64 {
        self.flux_per_sigma_v_j
    }

    fn shift(&self, sigma_v_cm3_s: f64) -> f64 {
        (sigma_v_cm3_s * self.flux_per_sigma_v_j).log10()
    }

    /// $dN/d\log_{10}\Phi$ of all subhalos (detected or not) at `log10_flux`.
    pub fn flux_density(&self, sigma_v_cm3_s: f64, log10_flux: f64) -> f64 {
        if !(sigma_v_cm3_s > 0.0) {
            return 0.0;
        }
        self.population
            .dn_dlog10j(log10_flux - self.shift(sigma_v_cm3_s))
    }

    fn integrate<F: Fn(f64) -> f64>(lo: f64, hi: f64, f: F) -> f64 {
        if !(hi > lo) {
            return 0.0;
        }
        let n = ((hi - lo) / FLUX_STEP).ceil().max(1.0) as usize;
        let h = (hi - lo) / n as f64;
        (0..=n)
            .map(|i| {
                let w = if i == 0 || i == n { 0.5 } else { 1.0 };
                w * f(lo + h * i as f64)
            })
            .sum::<f64>()
            * h
    }

    /// Expected number of detected subhalos at $|b| > 10^\circ$ with any
    /// features, $\int n_J\,\epsilon\,d\log_{10}\Phi$.
    pub fn n_total(&self, sigma_v_cm3_s: f64) -> f64 {
        if !(sigma_v_cm3_s > 0.0) {
            return 0.0;
        }
        let g = self.population.log10_j();
        let s = self.shift(sigma_v_cm3_s);
        Self::integrate(g[0] + s, g[g.len() - 1] + s, |lf| {
            self.flux_density(sigma_v_cm3_s, lf) * self.table.efficiency_at(lf)
        })
    }

    /// Expected number of detected subhalos inside the ROI, $N_\mathrm{DM}$.
    pub fn n_roi(&self, sigma_v_cm3_s: f64) -> f64 {
        if !(sigma_v_cm3_s > 0.0) {
            return 0.0;
        }
        let roi = &self.table.roi;
        Self::integrate(roi.lo()[0], roi.hi()[0], |lf| {
            self.flux_density(sigma_v_cm3_s, lf)
                * self.table.efficiency_at(lf)
                * self.table.box_mass_at(lf)
        })
    }

    /// $\ln p_\mathrm{DM}(x)$ for a feature vector $x$ (normalised over the ROI;
    /// $-\infty$ outside it or where the density vanishes).
    ///
    /// # Errors
    /// A KDE evaluation error, or $N_\mathrm{DM} = 0$ (nothing to normalise).
    pub fn ln_pdf(&self, sigma_v_cm3_s: f64, x: &[f64; 3]) -> Result<f64> {
        let n = self.n_roi(sigma_v_cm3_s);
        self.ln_pdf_with_norm(sigma_v_cm3_s, x, n)
    }

    fn ln_pdf_with_norm(&self, sigma_v_cm3_s: f64, x: &[f64; 3], n_roi: f64) -> Result<f64> {
        if !(n_roi > 0.0) {
            return Err(Error::invalid_param(
                "<sigma v> (cm3/s) of the DM density",
                sigma_v_cm3_s,
                "a value that gives subhalos in the ROI",
            )
            .into());
        }
        if !self.table.roi.contains_vector(x) {
            return Ok(f64::NEG_INFINITY);
        }
        let rho = self.flux_density(sigma_v_cm3_s, x[0]) * self.table.efficiency_at(x[0]);
        if rho <= 0.0 {
            return Ok(f64::NEG_INFINITY);
        }
        Ok(rho.ln() + self.table.ln_shape_pdf(x[0], x[1], x[2])? - n_roi.ln())
    }

    /// The mixture component for the sources of `data` at $\langle\sigma v\rangle$:
    /// $\ln p_\mathrm{DM}(x_i)$ and the fixed weight $N_\mathrm{DM}/N$ with $N$ =
    /// `data.len()`.
    ///
    /// # Errors
    /// $N_\mathrm{DM} \ge N$ (the weight would reach one) or as [`ln_pdf`](Self::ln_pdf).
    pub fn extra_component(
        &self,
        sigma_v_cm3_s: f64,
        data: &PreparedData,
    ) -> Result<ExtraComponent> {
        let n_roi = self.n_roi(sigma_v_cm3_s);
        let weight = n_roi / data.len() as f64;
        if !(weight < 1.0) {
            return Err(Error::invalid_param(
                "<sigma v> (cm3/s)",
                sigma_v_cm3_s,
                format!(
                    "a value with fewer expected DM sources in the ROI ({n_roi:.1}) than sources ({})",
                    data.len()
                ),
            )
            .into());
        }
        let ln_pdf = if n_roi > 0.0 {
            data.points()
                .iter()
                .map(|x| self.ln_pdf_with_norm(sigma_v_cm3_s, x, n_roi))
                .collect::<Result<Vec<_>>>()?
        } else {
            vec![f64::NEG_INFINITY; data.len()]
        };
        Ok(ExtraComponent {
            name: format!("DM {} GeV", self.mass_gev()),
            ln_pdf,
            weight: ExtraWeight::Fixed(weight),
        })
    }

    /// Draws `n` subhalo feature vectors from $p_\mathrm{DM}$ ($n \times 3$): the
    /// flux from the tabulated $\log_{10}\Phi$ density (a 0.01-dex cell chosen by
    /// its trapezoid mass, then uniform inside it), then $(\alpha, \beta)$ from
    /// the truncated shape density at that flux.
    ///
    /// # Errors
    /// $N_\mathrm{DM} = 0$, or a failed feature draw.
    pub fn sample<R: Rng + ?Sized>(
        &self,
        sigma_v_cm3_s: f64,
        n: usize,
        rng: &mut R,
    ) -> Result<Array2<f64>> {
        let roi = &self.table.roi;
        let (lo, hi) = (roi.lo()[0], roi.hi()[0]);
        let m = ((hi - lo) / FLUX_STEP).ceil().max(1.0) as usize;
        let h = (hi - lo) / m as f64;
        let dens: Vec<f64> = (0..=m)
            .map(|i| {
                let lf = lo + h * i as f64;
                self.flux_density(sigma_v_cm3_s, lf)
                    * self.table.efficiency_at(lf)
                    * self.table.box_mass_at(lf)
            })
            .collect();
        let mut cdf = Vec::with_capacity(m);
        let mut acc = 0.0;
        for w in dens.windows(2) {
            acc += 0.5 * (w[0] + w[1]);
            cdf.push(acc);
        }
        if !(acc > 0.0) {
            return Err(Error::invalid_param(
                "<sigma v> (cm3/s) for DM sampling",
                sigma_v_cm3_s,
                "a value that gives subhalos in the ROI",
            )
            .into());
        }
        let mut out = Array2::zeros((n, 3));
        for i in 0..n {
            let u = rng.random::<f64>() * acc;
            let cell = cdf.partition_point(|&c| c < u).min(m - 1);
            let lf = lo + h * (cell as f64 + rng.random::<f64>());
            let [a, b] = self.table.sample_shape(lf, rng)?;
            out[[i, 0]] = lf;
            out[[i, 1]] = a;
            out[[i, 2]] = b;
        }
        Ok(out)
    }
}
