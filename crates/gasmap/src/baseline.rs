//! The baseline every regressor must beat: a straight line per velocity bin,
//! $T_{13} = a_v + b_v\,T_{12}$, fitted by least squares on the training
//! pixels of that bin:
//! $$ b_v = \frac{\sum_i (x_i - \bar x)(y_i - \bar y)}{\sum_i (x_i - \bar x)^2},
//!    \qquad a_v = \bar y - b_v \bar x . $$
//! It uses the ¹²CO value of the pixel alone, so it cannot capture the
//! saturation of the optically thick line that the neighbourhood regressors
//! learn.

use crate::model::{PlanePair, PlaneRegressor, Result};
use darkprobe_core::Error;
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// The fitted line of one velocity bin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearFit {
    /// Velocity bin.
    pub velocity_bin: usize,
    /// Intercept $a_v$ (target unit).
    pub intercept: f64,
    /// Slope $b_v$.
    pub slope: f64,
    /// Training pixels used.
    pub n_pixels: usize,
}

/// Per-velocity-bin linear regression of ¹³CO on ¹²CO (module docs).
///
/// ```
/// use darkprobe_gasmap::{LinearBaseline, PlanePair, PlaneRegressor};
/// use ndarray::Array2;
/// let src = Array2::from_shape_fn((4, 5), |(r, c)| (r + c) as f64);
/// let tgt = src.mapv(|x| 0.5 + 0.25 * x);
/// let mask = Array2::from_elem((4, 5), true);
/// let pair = PlanePair { velocity_bin: 3, source: src.view(), target: tgt.view(),
///     train_mask: mask.view() };
/// let model = LinearBaseline::fit(&[pair]).unwrap();
/// let pred = model.predict_plane(3, src.view()).unwrap();
/// assert!((pred[[2, 2]] - 1.5).abs() < 1e-12);
/// assert!(model.predict_plane(0, src.view()).is_err()); // bin 0 was not trained
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearBaseline {
    fits: Vec<LinearFit>,
}

impl LinearBaseline {
    /// Fits one line per velocity bin from the masked pixels of `pairs`
    /// (several pairs of the same bin are pooled). A bin whose training
    /// source values are all equal gets slope 0 and the mean target.
    ///
    /// # Errors
    /// No pairs, planes or masks of different shapes, fewer than 2 training
    /// pixels in a bin, or non-finite training values.
    pub fn fit(pairs: &[PlanePair<'_>]) -> Result<Self> {
        if pairs.is_empty() {
            return Err(Error::empty(
                "training set",
                "at least one velocity-bin plane pair",
            ));
        }
        let mut bins: Vec<usize> = pairs.iter().map(|p| p.velocity_bin).collect();
        bins.sort_unstable();
        bins.dedup();
        let mut fits = Vec::with_capacity(bins.len());
        for &v in &bins {
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for p in pairs.iter().filter(|p| p.velocity_bin == v) {
                if p.source.dim() != p.target.dim() || p.source.dim() != p.train_mask.dim() {
                    return Err(Error::shape(
                        format!("training planes of velocity bin {v}"),
                        format!("{:?}", p.source.dim()),
                        format!("target {:?}, mask {:?}", p.target.dim(), p.train_mask.dim()),
                    ));
                }
                for ((&x, &y), &m) in p.source.iter().zip(p.target.iter()).zip(p.train_mask) {
                    if m {
                        if !(x.is_finite() && y.is_finite()) {
                            return Err(Error::invalid_param(
                                format!("training pixel of velocity bin {v}"),
                                format!("({x}, {y})"),
                                "finite 12CO and 13CO values",
                            ));
                        }
                        xs.push(x);
                        ys.push(y);
                    }
                }
            }
            let n = xs.len();
            if n < 2 {
                return Err(Error::empty(
                    format!("training pixels of velocity bin {v}"),
                    format!("at least 2 masked pixels (found {n})"),
                ));
            }
            let mx = xs.iter().sum::<f64>() / n as f64;
            let my = ys.iter().sum::<f64>() / n as f64;
            let (mut sxy, mut sxx) = (0.0, 0.0);
            for (x, y) in xs.iter().zip(&ys) {
                sxy += (x - mx) * (y - my);
                sxx += (x - mx) * (x - mx);
            }
            let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
            fits.push(LinearFit {
                velocity_bin: v,
                intercept: my - slope * mx,
                slope,
                n_pixels: n,
            });
        }
        Ok(Self { fits })
    }

    /// The fitted lines, by increasing velocity bin.
    pub fn fits(&self) -> &[LinearFit] {
        &self.fits
    }
}

impl PlaneRegressor for LinearBaseline {
    fn name(&self) -> &str {
        "linear"
    }

    fn predict_plane(
        &self,
        velocity_bin: usize,
        source: ArrayView2<'_, f64>,
    ) -> Result<Array2<f64>> {
        let fit = self
            .fits
            .iter()
            .find(|f| f.velocity_bin == velocity_bin)
            .ok_or_else(|| {
                Error::invalid_param(
                    "velocity bin",
                    velocity_bin,
                    format!(
                        "one the linear model was trained on ({:?})",
                        self.fits.iter().map(|f| f.velocity_bin).collect::<Vec<_>>()
                    ),
                )
            })?;
        if source.is_empty() {
            return Err(Error::empty("source plane", "at least one pixel"));
        }
        if let Some(((r, c), x)) = source.indexed_iter().find(|(_, x)| !x.is_finite()) {
            return Err(Error::invalid_param(
                format!("12CO pixel ({r}, {c}) of velocity bin {velocity_bin}"),
                x,
                "finite",
            ));
        }
        Ok(source.mapv(|x| fit.intercept + fit.slope * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use rand::Rng;
    use rand_distr::StandardNormal;

    #[test]
    fn recovers_an_injected_line_and_uses_only_masked_pixels() {
        let mut rng = darkprobe_core::rng::rng_from_seed(9);
        let src = Array2::from_shape_fn((30, 40), |_| 10.0 * rng.random::<f64>());
        let mut tgt = src.mapv(|x| 0.3 + 0.12 * x);
        tgt.mapv_inplace(|y| y + 0.01 * rng.sample::<f64, _>(StandardNormal));
        let mut mask = Array2::from_elem((30, 40), true);
        // Corrupt unmasked pixels: they must not influence the fit.
        for r in 0..30 {
            tgt[[r, 0]] = 1e6;
            mask[[r, 0]] = false;
        }
        let pair = PlanePair {
            velocity_bin: 1,
            source: src.view(),
            target: tgt.view(),
            train_mask: mask.view(),
        };
        let m = LinearBaseline::fit(&[pair]).unwrap();
        let f = m.fits()[0];
        assert_eq!(f.n_pixels, 30 * 39);
        assert_relative_eq!(f.slope, 0.12, max_relative = 0.01);
        assert_relative_eq!(f.intercept, 0.3, epsilon = 0.005);
        // Serde round trip.
        let json = serde_json::to_string(&m).unwrap();
        let back: LinearBaseline = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn bad_training_data_is_an_error() {
        let src = Array2::from_elem((2, 2), 1.0);
        let mut mask = Array2::from_elem((2, 2), false);
        mask[[0, 0]] = true;
        let pair = PlanePair {
            velocity_bin: 0,
            source: src.view(),
            target: src.view(),
            train_mask: mask.view(),
        };
        assert!(LinearBaseline::fit(&[pair]).is_err());
        assert!(LinearBaseline::fit(&[]).is_err());
        // Constant source: slope 0, intercept = mean target.
        let mask = Array2::from_elem((2, 2), true);
        let tgt = ndarray::array![[1.0, 2.0], [3.0, 4.0]];
        let pair = PlanePair {
            velocity_bin: 0,
            source: src.view(),
            target: tgt.view(),
            train_mask: mask.view(),
        };
        let m = LinearBaseline::fit(&[pair]).unwrap();
        assert_eq!(m.fits()[0].slope, 0.0);
        assert_eq!(m.fits()[0].intercept, 2.5);
        let nan = ndarray::array![[f64::NAN]];
        assert!(m.predict_plane(0, nan.view()).is_err());
    }
}
