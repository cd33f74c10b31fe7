//! Synthetic ¹²CO / ¹³CO survey cubes from a simple radiative-transfer model.
//!
//! The generator makes maps with the character of the MOPRA CO survey
//! (Braiding et al. 2018, arXiv:1803.06246): an optically thick ¹²CO line
//! that saturates on dense clumps and an optically thinner ¹³CO line that
//! keeps tracing the column, so the mapping ¹²CO → ¹³CO is non-linear and
//! depends on the velocity bin. Per velocity bin (all in LTE, one excitation
//! temperature for both isotopologues):
//!
//! 1. **Column density.** A Gaussian random field $g$ with power spectrum
//!    $P(k) \propto k^{-\beta}$ (made by FFT, periodic on the grid, zero mean
//!    and unit variance) gives the log-normal H₂ column
//!    $N_{\mathrm{H_2}} = \bar N\, a_v\, e^{\sigma g - \sigma^2/2}\, e^{-b^2/2h^2}$,
//!    with $a_v$ a log-normal amplitude per velocity bin and $h$ a latitude
//!    scale height. Column-density maps of molecular clouds are log-normal
//!    with $\beta \approx 2.5$–$3.5$.
//! 2. **Excitation temperature**, rising with density from $T_{\min}$ to
//!    $T_{\max}$ (8–20 K by default):
//!    $T_{\mathrm{ex}} = T_{\min} + (T_{\max} - T_{\min})\, x/(1+x)$,
//!    $x = N_{\mathrm{H_2}}/(\bar N a_v)$.
//! 3. **¹³CO optical depth** from the LTE column of a linear rotor in the
//!    $J = 1 \to 0$ line (Mangum & Shirley 2015, arXiv:1501.01703, eq. 30 with
//!    $g_u = 3$, $E_u = h\nu$):
//!    $$ N_{13} = \frac{8\pi\nu^3}{c^3 A_{10}}\,\frac{Q(T_{\mathrm{ex}})}{3}\,
//!    \frac{1}{1 - e^{-h\nu/kT_{\mathrm{ex}}}}\,\tau_{13}\,\Delta v ,$$
//!    where $Q = \sum_J (2J+1) e^{-J(J+1)hB/kT}$ with $B = \nu/2$,
//!    $A_{10} = 6.294\times10^{-8}\,\mathrm{s^{-1}}$ (LAMDA, Schöier et al.
//!    2005), and $\Delta v$ is the width of the velocity bin: the gas of a bin is
//!    spread uniformly over it and the maps hold the mean brightness of the
//!    bin. The ¹³CO column is $N_{13} = X_{\mathrm{CO}} N_{\mathrm{H_2}} / R$
//!    with $X_{\mathrm{CO}} = [^{12}\mathrm{CO}/\mathrm{H_2}] = 10^{-4}$.
//! 4. **Isotope ratio and ¹²CO optical depth.** $\tau_{12} = R\,\tau_{13}$ with
//!    the Galactic gradient $R = {}^{12}\mathrm{C}/{}^{13}\mathrm{C} =
//!    6.21\,R_{\mathrm{GC}}/\mathrm{kpc} + 18.71$ (Milam et al. 2005,
//!    ApJ 634, 1126). $R_{\mathrm{GC}}$ follows from the bin's central velocity
//!    with a flat rotation curve ($R_0 = 8.5$ kpc, $V_0 = 220$ km/s, the IAU
//!    values): $v = V_0 \sin l \cos b\,(R_0/R - 1)$, so
//!    $R = R_0 V_0 \sin l \cos b / (V_0 \sin l \cos b + v)$. At
//!    $l = 300°$–$350°$ (fourth quadrant, $\sin l < 0$) negative velocities map
//!    to the inner Galaxy; velocities beyond the flat-curve range (no positive
//!    solution) and the near/far ambiguity are handled by clamping $R$ to
//!    $[1, 20]$ kpc (only the isotope ratio depends on it).
//! 5. **Brightness** above the cosmic background,
//!    $T_B = [J_\nu(T_{\mathrm{ex}}) - J_\nu(T_{\mathrm{CMB}})](1 - e^{-\tau})$,
//!    $J_\nu(T) = (h\nu/k)/(e^{h\nu/kT} - 1)$, at 115.271 GHz (¹²CO 1–0) and
//!    110.201 GHz (¹³CO 1–0), $T_{\mathrm{CMB}} = 2.7255$ K.
//! 6. **Noise and artefacts.** Gaussian noise with the survey's per-channel
//!    rms (about 1.3 K for ¹²CO and 0.7 K for ¹³CO in 0.1 km/s channels,
//!    Braiding et al. 2018) scaled to the bin width,
//!    $\sigma = \sigma_{\mathrm{chan}}/\sqrt{\Delta v/\delta v_{\mathrm{chan}}}$;
//!    then a few runs of longitude columns are set to exactly zero in every
//!    bin of both cubes, like the survey's missing-scan stripes.
//!
//! Every random step is seeded: velocity bin `v` draws from
//! [`darkprobe_core::rng::rng_for_index`]`(seed, v)`, so the cubes do not
//! depend on the number of threads.

use crate::cube::{LinearAxis, MapCube};
use crate::model::Result;
use darkprobe_core::error::check_positive;
use darkprobe_core::Error;
use ndarray::{Array2, Array3, Axis};
use rand::Rng;
use rand_distr::StandardNormal;
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// Planck constant, erg s.
pub const H_PLANCK_ERG_S: f64 = 6.626_070_15e-27;
/// Boltzmann constant, erg/K.
pub const K_BOLTZMANN_ERG_K: f64 = 1.380_649e-16;
/// Speed of light, cm/s.
pub const C_CM_S: f64 = 2.997_924_58e10;
/// CMB temperature, K (Fixsen 2009).
pub const T_CMB_K: f64 = 2.7255;
/// Rest frequency of ¹²CO J = 1–0, GHz.
pub const NU_12CO_GHZ: f64 = 115.271_202;
/// Rest frequency of ¹³CO J = 1–0, GHz.
pub const NU_13CO_GHZ: f64 = 110.201_354;
/// Einstein A of ¹³CO J = 1–0, s⁻¹ (LAMDA database).
pub const A10_13CO_S: f64 = 6.294e-8;

/// $h\nu/k$ in K for a frequency in GHz.
pub fn t0_k(nu_ghz: f64) -> f64 {
    H_PLANCK_ERG_S * nu_ghz * 1e9 / K_BOLTZMANN_ERG_K
}

/// Radiation temperature $J_\nu(T) = (h\nu/k)/(e^{h\nu/kT} - 1)$, K (0 for
/// $T \le 0$).
///
/// ```
/// use darkprobe_gasmap::synth::{j_nu_k, NU_12CO_GHZ};
/// // Rayleigh-Jeans limit: J -> T - h nu / 2k for T >> h nu / k.
/// let t = 1000.0;
/// assert!((j_nu_k(t, NU_12CO_GHZ) - (t - 5.532 / 2.0)).abs() < 0.01);
/// ```
pub fn j_nu_k(t_k: f64, nu_ghz: f64) -> f64 {
    if t_k <= 0.0 {
        return 0.0;
    }
    let t0 = t0_k(nu_ghz);
    t0 / (t0 / t_k).exp_m1()
}

/// Line brightness above the CMB,
/// $T_B = [J_\nu(T_{\mathrm{ex}}) - J_\nu(T_{\mathrm{CMB}})](1 - e^{-\tau})$, K.
pub fn brightness_k(tex_k: f64, tau: f64, nu_ghz: f64) -> f64 {
    (j_nu_k(tex_k, nu_ghz) - j_nu_k(T_CMB_K, nu_ghz)) * (-(-tau).exp_m1())
}

/// Rotational partition function $Q(T) = \sum_J (2J+1) e^{-J(J+1) h B / k T}$
/// of a linear rotor whose $J = 1 \to 0$ line is at `nu10_ghz` ($B = \nu_{10}/2$),
/// summed until the terms are negligible.
pub fn partition_function(t_k: f64, nu10_ghz: f64) -> f64 {
    let hb_over_k = 0.5 * t0_k(nu10_ghz);
    let mut q = 0.0;
    for j in 0..10_000u32 {
        let jf = f64::from(j);
        let term = (2.0 * jf + 1.0) * (-jf * (jf + 1.0) * hb_over_k / t_k).exp();
        q += term;
        if j > 2 && term < 1e-15 * q {
            break;
        }
    }
    q
}

/// The LTE factor $N_{13} / (\tau_{13}\,\Delta v)$ of ¹³CO J = 1–0, in cm⁻² per
/// km/s of optical depth (module docs, step 3).
pub fn lte_column_per_tau_km_s(tex_k: f64) -> f64 {
    let nu = NU_13CO_GHZ * 1e9;
    let t0 = t0_k(NU_13CO_GHZ);
    let geometric = 8.0 * std::f64::consts::PI * nu.powi(3) / (C_CM_S.powi(3) * A10_13CO_S);
    geometric * partition_function(tex_k, NU_13CO_GHZ) / 3.0 / (-(-t0 / tex_k).exp_m1()) * 1e5
}

/// ¹³CO J = 1–0 optical depth of a column `n13_cm2` spread over `dv_km_s` at
/// excitation temperature `tex_k` (LTE).
pub fn tau_13co(n13_cm2: f64, tex_k: f64, dv_km_s: f64) -> f64 {
    n13_cm2 / (lte_column_per_tau_km_s(tex_k) * dv_km_s)
}

/// ¹²C/¹³C isotope ratio at Galactocentric radius `r_gc_kpc` (Milam et al.
/// 2005): $6.21\,R_{\mathrm{GC}} + 18.71$.
pub fn isotope_ratio(r_gc_kpc: f64) -> f64 {
    6.21 * r_gc_kpc + 18.71
}

/// A flat Galactic rotation curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlatRotation {
    /// Sun's Galactocentric radius, kpc.
    pub r0_kpc: f64,
    /// Circular speed, km/s.
    pub v0_km_s: f64,
    /// Smallest radius returned, kpc.
    pub r_min_kpc: f64,
    /// Largest radius returned, kpc.
    pub r_max_kpc: f64,
}

impl Default for FlatRotation {
    fn default() -> Self {
        Self {
            r0_kpc: 8.5,
            v0_km_s: 220.0,
            r_min_kpc: 1.0,
            r_max_kpc: 20.0,
        }
    }
}

impl FlatRotation {
    /// Galactocentric radius (kpc) of gas at `(l, b)` moving at `v_lsr_km_s`
    /// (module docs, step 4), clamped to `[r_min, r_max]`.
    ///
    /// ```
    /// use darkprobe_gasmap::synth::FlatRotation;
    /// let rc = FlatRotation::default();
    /// // Gas at rest lies on the solar circle.
    /// assert!((rc.galactocentric_radius_kpc(330.0, 0.0, 0.0) - 8.5).abs() < 1e-12);
    /// // Negative velocities at l = 330 deg lie inside it.
    /// assert!(rc.galactocentric_radius_kpc(330.0, 0.0, -60.0) < 8.5);
    /// ```
    pub fn galactocentric_radius_kpc(&self, l_deg: f64, b_deg: f64, v_lsr_km_s: f64) -> f64 {
        let w = self.v0_km_s * l_deg.to_radians().sin() * b_deg.to_radians().cos();
        let den = w + v_lsr_km_s;
        let r = self.r0_kpc * w / den;
        if !r.is_finite() || r <= 0.0 {
            return self.r_max_kpc;
        }
        r.clamp(self.r_min_kpc, self.r_max_kpc)
    }
}

/// Options of the generator ([`generate`]); `Default` is the paper's footprint
/// at 1 arcmin pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthParams {
    /// Lowest Galactic longitude, deg.
    pub lon_min_deg: f64,
    /// Highest Galactic longitude, deg.
    pub lon_max_deg: f64,
    /// Half-height of the latitude strip, deg ($|b| <$ this).
    pub lat_max_deg: f64,
    /// Pixel size, deg (both axes).
    pub pixel_deg: f64,
    /// Number of velocity bins.
    pub n_vel: usize,
    /// Lower edge of the first velocity bin, km/s.
    pub v_min_km_s: f64,
    /// Upper edge of the last velocity bin, km/s.
    pub v_max_km_s: f64,
    /// Spectral index $\beta$ of the column-density power spectrum $k^{-\beta}$.
    pub spectral_index: f64,
    /// Log-normal width $\sigma$ of the column density.
    pub ln_sigma: f64,
    /// Mean H₂ column per velocity bin at $b = 0$, cm⁻².
    pub mean_column_h2_cm2: f64,
    /// Log-normal width of the per-bin amplitude $a_v$.
    pub bin_amplitude_ln_sigma: f64,
    /// Latitude scale height $h$ of the column, deg.
    pub lat_scale_deg: f64,
    /// Lowest excitation temperature, K.
    pub tex_min_k: f64,
    /// Highest excitation temperature, K.
    pub tex_max_k: f64,
    /// ¹²CO abundance relative to H₂.
    pub abundance_12co: f64,
    /// Rotation curve for the Galactocentric radius.
    pub rotation: FlatRotation,
    /// ¹²CO noise rms per channel, K.
    pub channel_noise_12co_k: f64,
    /// ¹³CO noise rms per channel, K.
    pub channel_noise_13co_k: f64,
    /// Channel width of the noise figures, km/s.
    pub channel_width_km_s: f64,
    /// Fraction of longitude columns zeroed by stripe artefacts, in `[0, 0.5]`.
    pub stripe_fraction: f64,
}

impl Default for SynthParams {
    fn default() -> Self {
        Self {
            lon_min_deg: 300.0,
            lon_max_deg: 350.0,
            lat_max_deg: 0.5,
            pixel_deg: 1.0 / 60.0,
            n_vel: 17,
            v_min_km_s: -150.0,
            v_max_km_s: 20.0,
            spectral_index: 3.0,
            ln_sigma: 1.0,
            mean_column_h2_cm2: 5e21,
            bin_amplitude_ln_sigma: 0.5,
            lat_scale_deg: 0.4,
            tex_min_k: 8.0,
            tex_max_k: 20.0,
            abundance_12co: 1e-4,
            rotation: FlatRotation::default(),
            channel_noise_12co_k: 1.3,
            channel_noise_13co_k: 0.7,
            channel_width_km_s: 0.1,
            stripe_fraction: 0.01,
        }
    }
}

impl SynthParams {
    /// Checks every option, naming the first bad one.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a non-finite, non-positive or
    /// inconsistent value, or a grid with fewer than 2 pixels per axis.
    pub fn check(&self) -> Result<()> {
        check_positive("pixel_deg", self.pixel_deg)?;
        check_positive("lat_max_deg", self.lat_max_deg)?;
        check_positive("lat_scale_deg", self.lat_scale_deg)?;
        check_positive("mean_column_h2_cm2", self.mean_column_h2_cm2)?;
        check_positive("abundance_12co", self.abundance_12co)?;
        check_positive("tex_min_k", self.tex_min_k)?;
        check_positive("channel_width_km_s", self.channel_width_km_s)?;
        for (name, v) in [
            ("spectral_index", self.spectral_index),
            ("ln_sigma", self.ln_sigma),
            ("bin_amplitude_ln_sigma", self.bin_amplitude_ln_sigma),
            ("channel_noise_12co_k", self.channel_noise_12co_k),
            ("channel_noise_13co_k", self.channel_noise_13co_k),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid_param(name, v, "finite and >= 0"));
            }
        }
        if !(self.tex_max_k.is_finite() && self.tex_max_k >= self.tex_min_k) {
            return Err(Error::invalid_param(
                "tex_max_k",
                self.tex_max_k,
                format!(">= tex_min_k = {}", self.tex_min_k),
            ));
        }
        if !(self.lon_min_deg.is_finite()
            && self.lon_max_deg.is_finite()
            && self.lon_max_deg > self.lon_min_deg
            && self.lon_max_deg - self.lon_min_deg <= 360.0)
        {
            return Err(Error::invalid_param(
                "longitude range",
                format!("{}:{}", self.lon_min_deg, self.lon_max_deg),
                "lon_min < lon_max, at most 360 deg apart",
            ));
        }
        if !(self.v_min_km_s.is_finite()
            && self.v_max_km_s.is_finite()
            && self.v_max_km_s > self.v_min_km_s)
        {
            return Err(Error::invalid_param(
                "velocity range",
                format!("{}:{}", self.v_min_km_s, self.v_max_km_s),
                "v_min < v_max, km/s",
            ));
        }
        if self.n_vel == 0 {
            return Err(Error::invalid_param("n_vel", 0, ">= 1"));
        }
        if !(0.0..=0.5).contains(&self.stripe_fraction) {
            return Err(Error::invalid_param(
                "stripe_fraction",
                self.stripe_fraction,
                "in [0, 0.5]",
            ));
        }
        let (nr, nc) = self.grid_size();
        if nr < 2 || nc < 2 {
            return Err(Error::invalid_param(
                "pixel_deg",
                self.pixel_deg,
                format!("small enough for at least 2 x 2 pixels (got {nr} x {nc})"),
            ));
        }
        Ok(())
    }

    /// `(n_lat, n_lon)` of the grid.
    pub fn grid_size(&self) -> (usize, usize) {
        let nr = (2.0 * self.lat_max_deg / self.pixel_deg).round();
        let nc = ((self.lon_max_deg - self.lon_min_deg) / self.pixel_deg).round();
        if nr.is_finite() && nc.is_finite() && nr >= 0.0 && nc >= 0.0 {
            (nr as usize, nc as usize)
        } else {
            (0, 0)
        }
    }

    /// Width of a velocity bin, km/s.
    pub fn bin_width_km_s(&self) -> f64 {
        (self.v_max_km_s - self.v_min_km_s) / self.n_vel as f64
    }

    /// The axes `(lon, lat, vel)` of the generated cubes: longitude decreasing
    /// to the right (`CDELT1 < 0`) as usual, first column at
    /// `lon_max - pixel/2`.
    ///
    /// # Errors
    /// As [`SynthParams::check`].
    pub fn axes(&self) -> Result<(LinearAxis, LinearAxis, LinearAxis)> {
        self.check()?;
        let p = self.pixel_deg;
        let (nr, _) = self.grid_size();
        let lon = LinearAxis::new("GLON-CAR", 1.0, self.lon_max_deg - 0.5 * p, -p, "deg")?;
        let lat_min = -0.5 * nr as f64 * p;
        let lat = LinearAxis::new("GLAT-CAR", 1.0, lat_min + 0.5 * p, p, "deg")?;
        let dv = self.bin_width_km_s();
        let vel = LinearAxis::new("VRAD", 1.0, self.v_min_km_s + 0.5 * dv, dv, "km/s")?;
        Ok((lon, lat, vel))
    }
}

/// The generator's noise-free physical fields, `[v, i_lat, i_lon]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthTruth {
    /// H₂ column density, cm⁻².
    pub column_h2_cm2: Array3<f64>,
    /// Excitation temperature, K.
    pub tex_k: Array3<f64>,
    /// ¹³CO optical depth.
    pub tau13: Array3<f64>,
    /// ¹²CO optical depth.
    pub tau12: Array3<f64>,
    /// Noise-free ¹³CO brightness, K.
    pub t13_k: Array3<f64>,
}

/// A generated pair of survey cubes.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthCubes {
    /// ¹²CO brightness, K (noise and stripes included).
    pub co12: MapCube,
    /// ¹³CO brightness, K (noise and stripes included).
    pub co13: MapCube,
    /// Noise rms of one ¹²CO pixel, K.
    pub noise_12co_k: f64,
    /// Noise rms of one ¹³CO pixel, K.
    pub noise_13co_k: f64,
    /// Longitude columns set to zero by stripe artefacts.
    pub stripe_columns: Vec<usize>,
    /// The noise-free fields behind the maps.
    pub truth: SynthTruth,
}

/// In-place 2-D FFT of a row-major `nr x nc` complex buffer.
fn fft2(buf: &mut [Complex<f64>], nr: usize, nc: usize, inverse: bool) {
    let mut planner = FftPlanner::<f64>::new();
    let (row_fft, col_fft) = if inverse {
        (planner.plan_fft_inverse(nc), planner.plan_fft_inverse(nr))
    } else {
        (planner.plan_fft_forward(nc), planner.plan_fft_forward(nr))
    };
    row_fft.process(buf);
    let mut t = vec![Complex::new(0.0, 0.0); nr * nc];
    for r in 0..nr {
        for c in 0..nc {
            t[c * nr + r] = buf[r * nc + c];
        }
    }
    col_fft.process(&mut t);
    for r in 0..nr {
        for c in 0..nc {
            buf[r * nc + c] = t[c * nr + r];
        }
    }
}

/// Signed frequency (cycles per pixel) of FFT index `i` of `n`.
fn freq(i: usize, n: usize) -> f64 {
    if i <= n / 2 {
        i as f64 / n as f64
    } else {
        (i as f64 - n as f64) / n as f64
    }
}

/// A periodic Gaussian random field on an `n_rows x n_cols` grid with
/// isotropic power spectrum $P(k) \propto k^{-\beta}$ (`k` in cycles per
/// pixel, the $k = 0$ mode removed), standardised to zero mean and unit
/// variance.
///
/// # Errors
/// An empty grid or a negative or non-finite `beta`.
///
/// ```
/// use darkprobe_gasmap::synth::power_law_field;
/// let mut rng = darkprobe_core::rng::rng_from_seed(1);
/// let g = power_law_field(32, 64, 3.0, &mut rng).unwrap();
/// assert_eq!(g.dim(), (32, 64));
/// assert!(g.mean().unwrap().abs() < 1e-12);
/// assert!((g.std(0.0) - 1.0).abs() < 1e-12);
/// ```
pub fn power_law_field<R: Rng + ?Sized>(
    n_rows: usize,
    n_cols: usize,
    beta: f64,
    rng: &mut R,
) -> Result<Array2<f64>> {
    if n_rows == 0 || n_cols == 0 {
        return Err(Error::empty("random-field grid", "at least 1 x 1 pixels"));
    }
    if !(beta.is_finite() && beta >= 0.0) {
        return Err(Error::invalid_param(
            "spectral index",
            beta,
            "finite and >= 0",
        ));
    }
    let mut buf: Vec<Complex<f64>> = (0..n_rows * n_cols)
        .map(|_| Complex::new(rng.sample(StandardNormal), 0.0))
        .collect();
    fft2(&mut buf, n_rows, n_cols, false);
    for r in 0..n_rows {
        let fy = freq(r, n_rows);
        for c in 0..n_cols {
            let fx = freq(c, n_cols);
            let k = (fx * fx + fy * fy).sqrt();
            let amp = if k > 0.0 { k.powf(-0.5 * beta) } else { 0.0 };
            buf[r * n_cols + c] *= amp;
        }
    }
    fft2(&mut buf, n_rows, n_cols, true);
    let mut out = Array2::from_shape_fn((n_rows, n_cols), |(r, c)| buf[r * n_cols + c].re);
    let mean = out.mean().unwrap_or(0.0);
    out.mapv_inplace(|x| x - mean);
    let sd = out.std(0.0);
    if sd > 0.0 {
        out.mapv_inplace(|x| x / sd);
    }
    Ok(out)
}

/// Azimuthally averaged power spectrum of a plane: `(k, P(k))` pairs, `k` in
/// cycles per pixel, in bins of width `1/max(n_rows, n_cols)` (the first bin
/// holding $k = 0$ is left out).
pub fn radial_power_spectrum(plane: &Array2<f64>) -> Vec<(f64, f64)> {
    let (nr, nc) = plane.dim();
    if nr == 0 || nc == 0 {
        return Vec::new();
    }
    let mut buf: Vec<Complex<f64>> = plane.iter().map(|&x| Complex::new(x, 0.0)).collect();
    fft2(&mut buf, nr, nc, false);
    let dk = 1.0 / nr.max(nc) as f64;
    let n_bins = (0.5_f64.hypot(0.5) / dk).ceil() as usize + 1;
    let mut sum = vec![0.0; n_bins];
    let mut ksum = vec![0.0; n_bins];
    let mut cnt = vec![0usize; n_bins];
    for r in 0..nr {
        for c in 0..nc {
            let k = freq(r, nr).hypot(freq(c, nc));
            let b = (k / dk).round() as usize;
            if b == 0 || b >= n_bins {
                continue;
            }
            sum[b] += buf[r * nc + c].norm_sqr();
            ksum[b] += k;
            cnt[b] += 1;
        }
    }
    (1..n_bins)
        .filter(|&b| cnt[b] > 0)
        .map(|b| (ksum[b] / cnt[b] as f64, sum[b] / cnt[b] as f64))
        .collect()
}

struct BinOut {
    n_h2: Array2<f64>,
    tex: Array2<f64>,
    tau13: Array2<f64>,
    tau12: Array2<f64>,
    t13: Array2<f64>,
    obs12: Array2<f64>,
    obs13: Array2<f64>,
}

/// Generates a ¹²CO / ¹³CO cube pair (module docs) with seed `seed`.
///
/// # Errors
/// Invalid options ([`SynthParams::check`]).
///
/// ```
/// use darkprobe_gasmap::synth::{generate, SynthParams};
/// let p = SynthParams { lon_min_deg: 340.0, pixel_deg: 0.25, n_vel: 3, ..SynthParams::default() };
/// let s = generate(&p, 7).unwrap();
/// assert_eq!(s.co12.dim(), (3, 4, 40));
/// // 12CO is optically thick, so brighter than 13CO on average.
/// assert!(s.co12.data().mean().unwrap() > s.co13.data().mean().unwrap());
/// ```
pub fn generate(params: &SynthParams, seed: u64) -> Result<SynthCubes> {
    let (lon, lat, vel) = params.axes()?;
    let (nr, nc) = params.grid_size();
    let nv = params.n_vel;
    let dv = params.bin_width_km_s();
    let n_chan = dv / params.channel_width_km_s;
    let noise12 = params.channel_noise_12co_k / n_chan.max(1.0).sqrt();
    let noise13 = params.channel_noise_13co_k / n_chan.max(1.0).sqrt();
    let fields: Vec<Result<BinOut>> = darkprobe_core::par::map_indices(nv, |v| {
        let mut rng = darkprobe_core::rng::rng_for_index(seed, v as u64);
        let g = power_law_field(nr, nc, params.spectral_index, &mut rng)?;
        let z: f64 = rng.sample(StandardNormal);
        let a_v = params.mean_column_h2_cm2
            * (params.bin_amplitude_ln_sigma * z
                - 0.5 * params.bin_amplitude_ln_sigma * params.bin_amplitude_ln_sigma)
                .exp();
        let s = params.ln_sigma;
        let v_km_s = vel.world(v as f64);
        let mut out = BinOut {
            n_h2: Array2::zeros((nr, nc)),
            tex: Array2::zeros((nr, nc)),
            tau13: Array2::zeros((nr, nc)),
            tau12: Array2::zeros((nr, nc)),
            t13: Array2::zeros((nr, nc)),
            obs12: Array2::zeros((nr, nc)),
            obs13: Array2::zeros((nr, nc)),
        };
        for r in 0..nr {
            let b = lat.world(r as f64);
            let envelope = (-0.5 * (b / params.lat_scale_deg).powi(2)).exp();
            for c in 0..nc {
                let l = lon.world(c as f64);
                let n_h2 = a_v * (s * g[[r, c]] - 0.5 * s * s).exp() * envelope;
                let x = n_h2 / a_v;
                let tex = params.tex_min_k + (params.tex_max_k - params.tex_min_k) * x / (1.0 + x);
                let r_gc = params.rotation.galactocentric_radius_kpc(l, b, v_km_s);
                let ratio = isotope_ratio(r_gc);
                let tau13 = tau_13co(params.abundance_12co * n_h2 / ratio, tex, dv);
                let tau12 = ratio * tau13;
                let t13 = brightness_k(tex, tau13, NU_13CO_GHZ);
                let t12 = brightness_k(tex, tau12, NU_12CO_GHZ);
                let e12: f64 = rng.sample(StandardNormal);
                let e13: f64 = rng.sample(StandardNormal);
                out.n_h2[[r, c]] = n_h2;
                out.tex[[r, c]] = tex;
                out.tau13[[r, c]] = tau13;
                out.tau12[[r, c]] = tau12;
                out.t13[[r, c]] = t13;
                out.obs12[[r, c]] = t12 + noise12 * e12;
                out.obs13[[r, c]] = t13 + noise13 * e13;
            }
        }
        Ok(out)
    });
    let mut truth = SynthTruth {
        column_h2_cm2: Array3::zeros((nv, nr, nc)),
        tex_k: Array3::zeros((nv, nr, nc)),
        tau13: Array3::zeros((nv, nr, nc)),
        tau12: Array3::zeros((nv, nr, nc)),
        t13_k: Array3::zeros((nv, nr, nc)),
    };
    let mut obs12 = Array3::zeros((nv, nr, nc));
    let mut obs13 = Array3::zeros((nv, nr, nc));
    for (v, f) in fields.into_iter().enumerate() {
        let f = f?;
        truth
            .column_h2_cm2
            .index_axis_mut(Axis(0), v)
            .assign(&f.n_h2);
        truth.tex_k.index_axis_mut(Axis(0), v).assign(&f.tex);
        truth.tau13.index_axis_mut(Axis(0), v).assign(&f.tau13);
        truth.tau12.index_axis_mut(Axis(0), v).assign(&f.tau12);
        truth.t13_k.index_axis_mut(Axis(0), v).assign(&f.t13);
        obs12.index_axis_mut(Axis(0), v).assign(&f.obs12);
        obs13.index_axis_mut(Axis(0), v).assign(&f.obs13);
    }
    // Stripe artefacts: runs of 1-3 zeroed longitude columns.
    let mut rng = darkprobe_core::rng::rng_for_index(seed, u64::MAX);
    let target = (params.stripe_fraction * nc as f64).round() as usize;
    let mut zeroed = vec![false; nc];
    let mut n_zeroed = 0;
    while n_zeroed < target {
        let start = rng.random_range(0..nc);
        let width = rng.random_range(1..=3usize);
        for z in zeroed.iter_mut().take((start + width).min(nc)).skip(start) {
            if !*z && n_zeroed < target {
                *z = true;
                n_zeroed += 1;
            }
        }
    }
    let stripe_columns: Vec<usize> = (0..nc).filter(|&c| zeroed[c]).collect();
    for &c in &stripe_columns {
        obs12.index_axis_mut(Axis(2), c).fill(0.0);
        obs13.index_axis_mut(Axis(2), c).fill(0.0);
    }
    Ok(SynthCubes {
        co12: MapCube::new(obs12, lon.clone(), lat.clone(), vel.clone(), "K")?,
        co13: MapCube::new(obs13, lon, lat, vel, "K")?,
        noise_12co_k: noise12,
        noise_13co_k: noise13,
        stripe_columns,
        truth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn optically_thin_and_thick_limits() {
        let tex = 12.0;
        let dj12 = j_nu_k(tex, NU_12CO_GHZ) - j_nu_k(T_CMB_K, NU_12CO_GHZ);
        let dj13 = j_nu_k(tex, NU_13CO_GHZ) - j_nu_k(T_CMB_K, NU_13CO_GHZ);
        // Thin: T13/T12 -> (dJ13/dJ12) tau13/tau12.
        let (t13, t12) = (1e-6, 1e-6 * 60.0);
        let ratio = brightness_k(tex, t13, NU_13CO_GHZ) / brightness_k(tex, t12, NU_12CO_GHZ);
        assert_relative_eq!(ratio, dj13 / dj12 / 60.0, max_relative = 1e-4);
        // Thick: T13/T12 -> dJ13/dJ12, close to 1.
        let ratio = brightness_k(tex, 40.0, NU_13CO_GHZ) / brightness_k(tex, 2400.0, NU_12CO_GHZ);
        assert_relative_eq!(ratio, dj13 / dj12, max_relative = 1e-12);
        assert!((ratio - 1.0).abs() < 0.05, "{ratio}");
        // h nu / k of the two lines (5.53 K and 5.29 K).
        assert_relative_eq!(t0_k(NU_12CO_GHZ), 5.532, max_relative = 1e-3);
        assert_relative_eq!(t0_k(NU_13CO_GHZ), 5.289, max_relative = 1e-3);
    }

    #[test]
    fn lte_column_matches_the_textbook_formula() {
        // The common closed form N13 = 2.42e14 (T + 0.88) / (1 - exp(-5.29/T)) * tau dv
        // (rigid-rotor Q = kT/hB + 1/3) agrees with the exact sum to a few per cent.
        for tex in [8.0_f64, 10.0, 15.0, 20.0, 40.0] {
            let textbook = 2.42e14 * (tex + 0.88) / (1.0 - (-5.29 / tex).exp());
            assert_relative_eq!(lte_column_per_tau_km_s(tex), textbook, max_relative = 0.05);
        }
        // Partition function: high-temperature limit kT/hB + 1/3.
        let hb = 0.5 * t0_k(NU_13CO_GHZ);
        assert_relative_eq!(
            partition_function(200.0, NU_13CO_GHZ),
            200.0 / hb + 1.0 / 3.0,
            max_relative = 1e-3
        );
        // tau is linear in the column and inverse in the width.
        assert_relative_eq!(
            tau_13co(2e16, 10.0, 5.0),
            4.0 * tau_13co(1e16, 10.0, 10.0),
            max_relative = 1e-12
        );
    }

    #[test]
    fn isotope_ratio_and_rotation_curve() {
        assert_relative_eq!(isotope_ratio(8.5), 6.21 * 8.5 + 18.71);
        let rc = FlatRotation::default();
        // Inverting v = V0 sin l (R0/R - 1) at a chosen R.
        let (l, r) = (320.0_f64, 5.0);
        let v = 220.0 * l.to_radians().sin() * (8.5 / r - 1.0);
        assert_relative_eq!(
            rc.galactocentric_radius_kpc(l, 0.0, v),
            r,
            max_relative = 1e-12
        );
        // No flat-curve solution: clamped to r_max.
        assert_eq!(rc.galactocentric_radius_kpc(320.0, 0.0, 500.0), 20.0);
    }

    #[test]
    fn power_spectrum_slope_is_recovered() {
        let mut rng = darkprobe_core::rng::rng_from_seed(11);
        for beta in [2.0, 3.0] {
            let g = power_law_field(128, 128, beta, &mut rng).unwrap();
            let ps = radial_power_spectrum(&g);
            let pts: Vec<(f64, f64)> = ps
                .iter()
                .filter(|(k, p)| *k > 0.02 && *k < 0.4 && *p > 0.0)
                .map(|(k, p)| (k.ln(), p.ln()))
                .collect();
            let n = pts.len() as f64;
            let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
            let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
            let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
            let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
            let slope = sxy / sxx;
            assert!((slope + beta).abs() < 0.15, "beta {beta}: slope {slope}");
        }
    }

    #[test]
    fn column_density_is_log_normal() {
        let p = SynthParams {
            lon_min_deg: 300.0,
            lon_max_deg: 332.0,
            lat_max_deg: 4.0,
            pixel_deg: 0.125,
            n_vel: 1,
            spectral_index: 1.5,
            ln_sigma: 0.8,
            lat_scale_deg: 1e6,
            ..SynthParams::default()
        };
        let s = generate(&p, 3).unwrap();
        let ln: Vec<f64> = s.truth.column_h2_cm2.iter().map(|x| x.ln()).collect();
        let n = ln.len() as f64;
        let m = ln.iter().sum::<f64>() / n;
        let sd = (ln.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt();
        let skew = ln.iter().map(|x| ((x - m) / sd).powi(3)).sum::<f64>() / n;
        // ln N is Gaussian with the requested width...
        assert_relative_eq!(sd, 0.8, max_relative = 1e-6);
        assert!(skew.abs() < 0.2, "skewness of ln N = {skew}");
        // ...so N itself is right-skewed as a log-normal: mean/median = exp(s^2/2).
        let mut sorted: Vec<f64> = s.truth.column_h2_cm2.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let mean = sorted.iter().sum::<f64>() / n;
        assert_relative_eq!(mean / median, (0.32f64).exp(), max_relative = 0.08);
    }

    #[test]
    fn generated_maps_have_the_survey_character() {
        let p = SynthParams {
            lon_min_deg: 330.0,
            pixel_deg: 0.1,
            n_vel: 4,
            v_min_km_s: -40.0,
            v_max_km_s: 0.0,
            stripe_fraction: 0.05,
            ..SynthParams::default()
        };
        let s = generate(&p, 5).unwrap();
        assert_eq!(s.co12.dim(), (4, 10, 200));
        // 12CO thick, 13CO mostly thin.
        let med = |a: &Array3<f64>| {
            let mut v: Vec<f64> = a.iter().copied().collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        assert!(med(&s.truth.tau12) > 1.0);
        assert!(med(&s.truth.tau13) < 1.0);
        // Excitation temperatures within the requested range.
        assert!(s.truth.tex_k.iter().all(|&t| (8.0..=20.0).contains(&t)));
        // Stripes: exactly zero in both cubes.
        assert_eq!(s.stripe_columns.len(), 10);
        for &c in &s.stripe_columns {
            assert!(s
                .co12
                .data()
                .index_axis(Axis(2), c)
                .iter()
                .all(|&x| x == 0.0));
            assert!(s
                .co13
                .data()
                .index_axis(Axis(2), c)
                .iter()
                .all(|&x| x == 0.0));
        }
        // Noise: residual of 13CO about the truth off the stripes has the set rms.
        let mut res = Vec::new();
        for ((v, r, c), &x) in s.co13.data().indexed_iter() {
            if !s.stripe_columns.contains(&c) {
                res.push(x - s.truth.t13_k[[v, r, c]]);
            }
        }
        let n = res.len() as f64;
        let rms = (res.iter().map(|x| x * x).sum::<f64>() / n).sqrt();
        assert_relative_eq!(rms, s.noise_13co_k, max_relative = 0.05);
        assert_relative_eq!(s.noise_13co_k, 0.7 / 10.0, max_relative = 1e-9);
        // Seeded: the same seed gives the same cubes.
        assert_eq!(generate(&p, 5).unwrap().co13, s.co13);
        assert_ne!(generate(&p, 6).unwrap().co13, s.co13);
    }
}
