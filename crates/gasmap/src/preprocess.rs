//! Preprocessing as in Shmakov et al. (2020): Gaussian smoothing, a noise
//! threshold, and the selection of training pixels.
//!
//! 1. **Smoothing.** Each plane is convolved with a normalised Gaussian of
//!    $\sigma = 1$ pixel (separable, truncated at $4\sigma$, with half-sample
//!    reflection at the edges, [`crate::model::reflect`]).
//! 2. **Threshold.** Pixels below $n\sigma_{\mathrm{noise}}$ ($n = 3$) of the
//!    smoothed plane are set to zero. The noise of the raw plane is estimated
//!    robustly from differences of neighbouring pixels
//!    ([`estimate_noise_sigma`]); white noise is reduced by smoothing by the
//!    factor $\sqrt{\sum_{ij} w_{ij}^2}$ of the kernel weights $w$
//!    ([`smoothing_noise_factor`], about $1/(2\sqrt\pi\,\sigma) \approx 0.28$
//!    for $\sigma = 1$ pixel), which gives the noise of the smoothed plane.
//! 3. **Blank pixels.** Non-finite pixels (FITS blanks) are set to zero before
//!    smoothing, like the survey's zero-valued stripes; pixels that are
//!    exactly zero in the raw ¹²CO or ¹³CO cube are excluded from training
//!    ([`crate::pipeline::training_pairs`]).

use crate::cube::MapCube;
use crate::model::{reflect, Neighbourhood, PlanePair, Result};
use darkprobe_core::Error;
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Normalised 1-D Gaussian kernel of width `sigma_px`, truncated at
/// `ceil(4 sigma)` pixels each side.
fn kernel(sigma_px: f64) -> Vec<f64> {
    let h = (4.0 * sigma_px).ceil().max(1.0) as isize;
    let w: Vec<f64> = (-h..=h)
        .map(|d| (-0.5 * (d as f64 / sigma_px).powi(2)).exp())
        .collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|x| x / s).collect()
}

/// Convolves a plane with a normalised Gaussian of `sigma_px` pixels
/// (separable; reflection at the edges). `sigma_px = 0` returns a copy.
///
/// # Errors
/// A negative or non-finite `sigma_px`, an empty plane, or non-finite pixels.
///
/// ```
/// use darkprobe_gasmap::preprocess::gaussian_filter;
/// let flat = ndarray::Array2::from_elem((5, 7), 2.0);
/// let s = gaussian_filter(flat.view(), 1.0).unwrap();
/// assert!(s.iter().all(|&x| (x - 2.0).abs() < 1e-12)); // constants are kept
/// ```
pub fn gaussian_filter(plane: ArrayView2<'_, f64>, sigma_px: f64) -> Result<Array2<f64>> {
    if !(sigma_px.is_finite() && sigma_px >= 0.0) {
        return Err(Error::invalid_param(
            "smoothing sigma (pixels)",
            sigma_px,
            "finite and >= 0",
        ));
    }
    let (nr, nc) = plane.dim();
    if nr == 0 || nc == 0 {
        return Err(Error::empty("plane", "at least one pixel"));
    }
    if let Some(((r, c), x)) = plane.indexed_iter().find(|(_, x)| !x.is_finite()) {
        return Err(Error::invalid_param(
            format!("pixel ({r}, {c})"),
            x,
            "finite (blank pixels are zeroed by Preprocess::apply)",
        ));
    }
    if sigma_px == 0.0 {
        return Ok(plane.to_owned());
    }
    let w = kernel(sigma_px);
    let h = (w.len() / 2) as isize;
    let mut rows = Array2::zeros((nr, nc));
    for r in 0..nr {
        for c in 0..nc {
            let mut s = 0.0;
            for (k, wk) in w.iter().enumerate() {
                s += wk * plane[[r, reflect(c as isize + k as isize - h, nc)]];
            }
            rows[[r, c]] = s;
        }
    }
    let mut out = Array2::zeros((nr, nc));
    for r in 0..nr {
        for c in 0..nc {
            let mut s = 0.0;
            for (k, wk) in w.iter().enumerate() {
                s += wk * rows[[reflect(r as isize + k as isize - h, nr), c]];
            }
            out[[r, c]] = s;
        }
    }
    Ok(out)
}

/// Factor by which [`gaussian_filter`] reduces the rms of white noise away from
/// the edges: $\sqrt{\sum_{ij} w_{ij}^2}$ (1 for `sigma_px = 0`).
pub fn smoothing_noise_factor(sigma_px: f64) -> f64 {
    if sigma_px <= 0.0 || !sigma_px.is_finite() {
        return 1.0;
    }
    let s2: f64 = kernel(sigma_px).iter().map(|w| w * w).sum();
    // Separable kernel: sum_ij (w_i w_j)^2 = (sum_i w_i^2)^2, whose root is s2.
    s2
}

/// Robust noise rms of a plane: $1.4826\,\mathrm{MAD}/\sqrt2$ of the differences
/// of horizontally adjacent pixels, skipping pairs where either pixel is
/// exactly zero or non-finite (stripes, blanks). Unbiased for white noise on
/// a signal smooth at the pixel scale. Returns 0 when there are no pairs.
pub fn estimate_noise_sigma(plane: ArrayView2<'_, f64>) -> f64 {
    let mut d: Vec<f64> = Vec::new();
    for row in plane.axis_iter(Axis(0)) {
        for w in row.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a.is_finite() && b.is_finite() && a != 0.0 && b != 0.0 {
                d.push(b - a);
            }
        }
    }
    if d.is_empty() {
        return 0.0;
    }
    let med = median(&mut d);
    let mut dev: Vec<f64> = d.iter().map(|x| (x - med).abs()).collect();
    1.4826 * median(&mut dev) / std::f64::consts::SQRT_2
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Options of the preprocessing ([`Preprocess::apply`]) (the paper's: $\sigma = 1$ pixel, $3\sigma$
/// threshold).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Gaussian smoothing width, pixels (0: none).
    pub smooth_sigma_px: f64,
    /// Threshold in units of the smoothed noise rms (0: none).
    pub threshold_nsigma: f64,
}

impl Default for Preprocess {
    fn default() -> Self {
        Self {
            smooth_sigma_px: 1.0,
            threshold_nsigma: 3.0,
        }
    }
}

/// A preprocessed cube and the noise rms of each of its raw planes.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessed {
    /// The smoothed, thresholded cube.
    pub cube: MapCube,
    /// Estimated noise rms of each raw plane, in the cube's unit.
    pub raw_noise: Vec<f64>,
    /// Threshold applied to each smoothed plane.
    pub threshold: Vec<f64>,
}

impl Preprocess {
    /// Checks the options.
    ///
    /// # Errors
    /// A negative or non-finite value.
    pub fn check(&self) -> Result<()> {
        for (name, v) in [
            ("smoothing sigma (pixels)", self.smooth_sigma_px),
            ("threshold (noise sigmas)", self.threshold_nsigma),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid_param(name, v, "finite and >= 0"));
            }
        }
        Ok(())
    }

    /// Blanks to zero, smooths and thresholds every plane of `cube`, with the
    /// noise of each plane estimated by [`estimate_noise_sigma`] (module docs).
    ///
    /// # Errors
    /// Invalid options.
    ///
    /// ```
    /// use darkprobe_gasmap::preprocess::Preprocess;
    /// use darkprobe_gasmap::synth::{generate, SynthParams};
    /// let p = SynthParams { lon_min_deg: 345.0, pixel_deg: 0.1, n_vel: 2, ..SynthParams::default() };
    /// let s = generate(&p, 1).unwrap();
    /// let pre = Preprocess::default().apply(&s.co13).unwrap();
    /// assert!(pre.cube.data().iter().all(|&x| x == 0.0 || x >= pre.threshold[0].min(pre.threshold[1])));
    /// ```
    pub fn apply(&self, cube: &MapCube) -> Result<Preprocessed> {
        self.check()?;
        let factor = smoothing_noise_factor(self.smooth_sigma_px);
        let mut out = cube.data().clone();
        out.mapv_inplace(|x| if x.is_finite() { x } else { 0.0 });
        let mut raw_noise = Vec::with_capacity(cube.n_vel());
        let mut threshold = Vec::with_capacity(cube.n_vel());
        for v in 0..cube.n_vel() {
            let raw = out.index_axis(Axis(0), v);
            let sigma = estimate_noise_sigma(raw);
            let smooth = gaussian_filter(raw, self.smooth_sigma_px)?;
            let thr = self.threshold_nsigma * sigma * factor;
            let mut plane = out.index_axis_mut(Axis(0), v);
            for (o, s) in plane.iter_mut().zip(smooth.iter()) {
                *o = if *s < thr { 0.0 } else { *s };
            }
            raw_noise.push(sigma);
            threshold.push(thr);
        }
        Ok(Preprocessed {
            cube: cube.with_data(out)?,
            raw_noise,
            threshold,
        })
    }
}

/// Pixels `(i_lat, i_lon)` where `mask` is true, row-major.
pub fn mask_pixels(mask: ArrayView2<'_, bool>) -> Vec<(usize, usize)> {
    mask.indexed_iter()
        .filter(|(_, &m)| m)
        .map(|(p, _)| p)
        .collect()
}

/// Training features and targets of one [`PlanePair`]: the neighbourhood of
/// every masked pixel in the source plane (one row each) and the target value
/// at that pixel.
///
/// # Errors
/// Source, target and mask of different shapes, or an invalid neighbourhood.
pub fn pair_features(
    pair: &PlanePair<'_>,
    neighbourhood: &Neighbourhood,
) -> Result<(Array2<f64>, Vec<f64>)> {
    if pair.source.dim() != pair.target.dim() || pair.source.dim() != pair.train_mask.dim() {
        return Err(Error::shape(
            format!("plane pair of velocity bin {}", pair.velocity_bin),
            format!("{:?} for source, target and mask", pair.source.dim()),
            format!(
                "target {:?}, mask {:?}",
                pair.target.dim(),
                pair.train_mask.dim()
            ),
        ));
    }
    let pixels = mask_pixels(pair.train_mask);
    let x = neighbourhood.features(pair.source, &pixels)?;
    let y = pixels.iter().map(|&p| pair.target[p]).collect();
    Ok((x, y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use rand::Rng;
    use rand_distr::StandardNormal;

    #[test]
    fn filter_matches_direct_2d_convolution() {
        let plane = Array2::from_shape_fn((6, 9), |(r, c)| ((r * 7 + c * 3) % 5) as f64);
        let s = gaussian_filter(plane.view(), 0.8).unwrap();
        // Brute-force 2-D sum with the product kernel and reflection.
        let w = kernel(0.8);
        let h = (w.len() / 2) as isize;
        for r in 0..6 {
            for c in 0..9 {
                let mut t = 0.0;
                for (i, wi) in w.iter().enumerate() {
                    for (j, wj) in w.iter().enumerate() {
                        let rr = reflect(r as isize + i as isize - h, 6);
                        let cc = reflect(c as isize + j as isize - h, 9);
                        t += wi * wj * plane[[rr, cc]];
                    }
                }
                assert_relative_eq!(s[[r, c]], t, max_relative = 1e-12);
            }
        }
        // A delta spreads as a normalised Gaussian: centre weight w0^2.
        let mut d = Array2::zeros((21, 21));
        d[[10, 10]] = 1.0;
        let s = gaussian_filter(d.view(), 1.0).unwrap();
        assert_relative_eq!(s.sum(), 1.0, max_relative = 1e-12);
        let w0 = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
        assert_relative_eq!(s[[10, 10]], w0 * w0, max_relative = 1e-3);
        assert!(gaussian_filter(d.view(), -1.0).is_err());
        d[[0, 0]] = f64::NAN;
        assert!(gaussian_filter(d.view(), 1.0).is_err());
    }

    #[test]
    fn noise_estimate_and_smoothing_factor() {
        let mut rng = darkprobe_core::rng::rng_from_seed(2);
        let sigma = 0.3;
        let plane = Array2::from_shape_fn((60, 200), |(r, c)| {
            5.0 + (c as f64 / 40.0).sin()
                + (r as f64 / 30.0).cos()
                + sigma * rng.sample::<f64, _>(StandardNormal)
        });
        let est = estimate_noise_sigma(plane.view());
        assert_relative_eq!(est, sigma, max_relative = 0.05);
        // Smoothed noise rms matches the predicted factor (~0.28 for 1 px).
        let noise = plane.mapv(|_| 0.0) + {
            let mut rng = darkprobe_core::rng::rng_from_seed(3);
            Array2::from_shape_fn((60, 200), |_| rng.sample::<f64, _>(StandardNormal))
        };
        let s = gaussian_filter(noise.view(), 1.0).unwrap();
        let inner = s.slice(ndarray::s![5..55, 5..195]);
        let rms = (inner.iter().map(|x| x * x).sum::<f64>() / inner.len() as f64).sqrt();
        let f = smoothing_noise_factor(1.0);
        assert_relative_eq!(
            f,
            1.0 / (2.0 * std::f64::consts::PI.sqrt()),
            max_relative = 0.01
        );
        assert_relative_eq!(rms, f, max_relative = 0.06);
    }

    #[test]
    fn threshold_zeroes_noise_and_keeps_signal() {
        use crate::cube::{LinearAxis, MapCube};
        let mut rng = darkprobe_core::rng::rng_from_seed(4);
        let data = ndarray::Array3::from_shape_fn((1, 40, 80), |(_, _, c)| {
            let signal = if c >= 40 { 10.0 } else { 0.0 };
            signal + rng.sample::<f64, _>(StandardNormal)
        });
        let cube = MapCube::new(
            data,
            LinearAxis::new("GLON-CAR", 1.0, 350.0, -0.1, "deg").unwrap(),
            LinearAxis::new("GLAT-CAR", 1.0, -2.0, 0.1, "deg").unwrap(),
            LinearAxis::bin_index(),
            "K",
        )
        .unwrap();
        let pre = Preprocess::default().apply(&cube).unwrap();
        assert_relative_eq!(pre.raw_noise[0], 1.0, max_relative = 0.1);
        let d = pre.cube.data();
        let zero_left = (0..40)
            .flat_map(|r| (0..35).map(move |c| (r, c)))
            .filter(|&(r, c)| d[[0, r, c]] == 0.0)
            .count();
        // 3 sigma of the smoothed noise: almost all pure-noise pixels are zeroed.
        assert!(zero_left as f64 > 0.99 * 40.0 * 35.0, "{zero_left}");
        assert!((0..40).all(|r| (45..80).all(|c| d[[0, r, c]] > 5.0)));
    }

    #[test]
    fn pair_features_reads_masked_pixels() {
        let src = Array2::from_shape_fn((3, 4), |(r, c)| (10 * r + c) as f64);
        let tgt = src.mapv(|x| 2.0 * x);
        let mut mask = Array2::from_elem((3, 4), false);
        mask[[1, 2]] = true;
        mask[[2, 0]] = true;
        let pair = PlanePair {
            velocity_bin: 0,
            source: src.view(),
            target: tgt.view(),
            train_mask: mask.view(),
        };
        let nb = Neighbourhood::Patch { rows: 3, cols: 3 };
        let (x, y) = pair_features(&pair, &nb).unwrap();
        assert_eq!(x.dim(), (2, 9));
        assert_eq!(y, vec![24.0, 40.0]);
        assert_eq!(x[[0, 4]], 12.0);
        assert_eq!(x[[1, 0]], 10.0); // reflected at the left edge: row 1, col 0
        let bad = Array2::from_elem((2, 4), true);
        let pair = PlanePair {
            train_mask: bad.view(),
            ..pair
        };
        assert!(pair_features(&pair, &nb).is_err());
    }
}
