//! The Matérn-3/2 covariance with a constant term and white noise, and its
//! derivatives with respect to the log hyperparameters.

use darkprobe_core::Error;
use serde::{Deserialize, Serialize};

use crate::model::Result;

const SQRT3: f64 = 1.732_050_807_568_877_2;

/// $k(x, x') = A\,M_{3/2}(r) + \nu_1 + \nu_2\,\delta_{x x'}$ with
/// $M_{3/2}(r) = (1 + \sqrt3 r)\,e^{-\sqrt3 r}$ and
/// $r^2 = \sum_j (x_j - x'_j)^2 / l_j^2$.
///
/// `length_scales` holds one value (isotropic: every feature shares it) or one
/// per feature (automatic relevance determination, ARD). `constant` is the
/// optional $\nu_1$ (a constant covariance, i.e. an unknown offset of the
/// function with prior variance $\nu_1$); `noise` is the white-noise variance
/// $\nu_2$, added only on the diagonal of a training Gram matrix.
///
/// The hyperparameter vector used by the optimiser is
/// $\theta = (\ln A, \ln l_1, \dots, \ln l_k, [\ln \nu_1,]\ \ln \nu_2)$.
///
/// ```
/// use darkprobe_gasmap::gp::Matern32Kernel;
/// let k = Matern32Kernel::isotropic(2.0, 0.5, None, 0.1).unwrap();
/// // At zero distance the signal covariance is A (+ nu1).
/// assert!((k.signal(&[1.0, 2.0], &[1.0, 2.0]) - 2.0).abs() < 1e-15);
/// assert!(k.signal(&[0.0, 0.0], &[1.0, 0.0]) < 2.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matern32Kernel {
    /// Amplitude $A > 0$ of the Matérn term.
    pub amplitude: f64,
    /// Length scales $l_j > 0$: one (isotropic) or one per feature (ARD).
    pub length_scales: Vec<f64>,
    /// Constant covariance $\nu_1 > 0$, or `None` for no constant term.
    pub constant: Option<f64>,
    /// White-noise variance $\nu_2 > 0$.
    pub noise: f64,
}

impl Matern32Kernel {
    /// A kernel with one length scale shared by all features.
    ///
    /// # Errors
    /// A parameter that is not finite and > 0.
    pub fn isotropic(
        amplitude: f64,
        length_scale: f64,
        constant: Option<f64>,
        noise: f64,
    ) -> Result<Self> {
        let k = Self {
            amplitude,
            length_scales: vec![length_scale],
            constant,
            noise,
        };
        k.validate()?;
        Ok(k)
    }

    /// A kernel with one length scale per feature (ARD).
    ///
    /// # Errors
    /// An empty `length_scales`, or a parameter that is not finite and > 0.
    pub fn ard(
        amplitude: f64,
        length_scales: Vec<f64>,
        constant: Option<f64>,
        noise: f64,
    ) -> Result<Self> {
        let k = Self {
            amplitude,
            length_scales,
            constant,
            noise,
        };
        k.validate()?;
        Ok(k)
    }

    /// Checks that every parameter is finite and > 0.
    ///
    /// # Errors
    /// The first offending parameter, by name.
    pub fn validate(&self) -> Result<()> {
        let pos = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::invalid_param(name, v, "finite and > 0"))
            }
        };
        pos("kernel amplitude", self.amplitude)?;
        if self.length_scales.is_empty() {
            return Err(Error::empty(
                "kernel length scales",
                "give one length scale (isotropic) or one per feature (ARD)",
            ));
        }
        for &l in &self.length_scales {
            pos("kernel length scale", l)?;
        }
        if let Some(c) = self.constant {
            pos("kernel constant nu1", c)?;
        }
        pos("kernel noise variance nu2", self.noise)
    }

    /// Checks that the kernel can be used on inputs with `n_features` columns.
    ///
    /// # Errors
    /// ARD length scales whose count differs from `n_features`.
    pub fn check_features(&self, n_features: usize) -> Result<()> {
        let k = self.length_scales.len();
        if k != 1 && k != n_features {
            return Err(Error::shape(
                "kernel length scales vs input features",
                format!("1 or {n_features} length scales"),
                k,
            ));
        }
        Ok(())
    }

    /// Number of hyperparameters: $2 + k$, plus 1 with the constant term.
    pub fn n_params(&self) -> usize {
        2 + self.length_scales.len() + usize::from(self.constant.is_some())
    }

    /// The log hyperparameters $\theta$ (see the type documentation).
    pub fn log_params(&self) -> Vec<f64> {
        let mut t = Vec::with_capacity(self.n_params());
        t.push(self.amplitude.ln());
        t.extend(self.length_scales.iter().map(|l| l.ln()));
        if let Some(c) = self.constant {
            t.push(c.ln());
        }
        t.push(self.noise.ln());
        t
    }

    /// The kernel with the same structure (number of length scales, constant
    /// term or not) and log hyperparameters `theta`.
    ///
    /// # Errors
    /// `theta` of the wrong length, or a value whose exponential is not finite
    /// and > 0.
    pub fn with_log_params(&self, theta: &[f64]) -> Result<Self> {
        if theta.len() != self.n_params() {
            return Err(Error::shape(
                "kernel log hyperparameters",
                self.n_params(),
                theta.len(),
            ));
        }
        let k = self.length_scales.len();
        let out = Self {
            amplitude: theta[0].exp(),
            length_scales: theta[1..=k].iter().map(|t| t.exp()).collect(),
            constant: self.constant.map(|_| theta[k + 1].exp()),
            noise: theta[theta.len() - 1].exp(),
        };
        out.validate()?;
        Ok(out)
    }

    /// Names of the log hyperparameters, in the order of [`log_params`](Self::log_params).
    pub fn param_names(&self) -> Vec<String> {
        let mut v = vec!["ln_amplitude".to_string()];
        if self.length_scales.len() == 1 {
            v.push("ln_length_scale".into());
        } else {
            v.extend((0..self.length_scales.len()).map(|j| format!("ln_length_scale[{j}]")));
        }
        if self.constant.is_some() {
            v.push("ln_constant".into());
        }
        v.push("ln_noise".into());
        v
    }

    /// The scaled distance $r$ between `x` and `y` (same length).
    #[inline]
    pub fn scaled_distance(&self, x: &[f64], y: &[f64]) -> f64 {
        let mut r2 = 0.0;
        if self.length_scales.len() == 1 {
            for (a, b) in x.iter().zip(y) {
                let d = a - b;
                r2 += d * d;
            }
            r2 /= self.length_scales[0] * self.length_scales[0];
        } else {
            for ((a, b), l) in x.iter().zip(y).zip(&self.length_scales) {
                let d = (a - b) / l;
                r2 += d * d;
            }
        }
        r2.sqrt()
    }

    /// The noise-free covariance $A\,M_{3/2}(r) + \nu_1$ between two points
    /// (the prior covariance of the latent function).
    #[inline]
    pub fn signal(&self, x: &[f64], y: &[f64]) -> f64 {
        let s = SQRT3 * self.scaled_distance(x, y);
        self.amplitude * (1.0 + s) * (-s).exp() + self.constant.unwrap_or(0.0)
    }

    /// The prior variance of the latent function at any point, $A + \nu_1$.
    #[inline]
    pub fn signal_variance(&self) -> f64 {
        self.amplitude + self.constant.unwrap_or(0.0)
    }

    /// Writes $\partial k(x, y)/\partial\theta_p$ into `out` (length
    /// [`n_params`](Self::n_params)) for two *distinct* training points, i.e.
    /// without the noise term; returns $k(x, y)$ without noise. For a diagonal
    /// entry add 1 × $\nu_2$ to the noise component yourself
    /// ($\partial \nu_2 / \partial \ln \nu_2 = \nu_2$).
    #[inline]
    pub fn signal_and_gradient(&self, x: &[f64], y: &[f64], out: &mut [f64]) -> f64 {
        let a = self.amplitude;
        let k = self.length_scales.len();
        let r = self.scaled_distance(x, y);
        let s = SQRT3 * r;
        let e = (-s).exp();
        let m = (1.0 + s) * e;
        // d M / d ln l_j = 3 e^{-sqrt3 r} (x_j - y_j)^2 / l_j^2
        out[0] = a * m;
        if k == 1 {
            out[1] = 3.0 * a * e * r * r;
        } else {
            for j in 0..k {
                let d = (x[j] - y[j]) / self.length_scales[j];
                out[1 + j] = 3.0 * a * e * d * d;
            }
        }
        let mut val = a * m;
        if let Some(c) = self.constant {
            out[k + 1] = c;
            val += c;
        }
        let last = out.len() - 1;
        out[last] = 0.0;
        val
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn closed_form_values() {
        let k = Matern32Kernel::isotropic(1.5, 2.0, Some(0.3), 0.1).unwrap();
        let x = [0.0, 0.0];
        let y = [1.2, 1.6]; // |x - y| = 2, r = 1
        let expect = 1.5 * (1.0 + 3f64.sqrt()) * (-(3f64.sqrt())).exp() + 0.3;
        assert_relative_eq!(k.signal(&x, &y), expect, max_relative = 1e-14);
        assert_relative_eq!(k.signal(&x, &x), 1.8, max_relative = 1e-14);
        assert_relative_eq!(k.signal_variance(), 1.8);
        // ARD with equal scales is the isotropic kernel.
        let ka = Matern32Kernel::ard(1.5, vec![2.0, 2.0], Some(0.3), 0.1).unwrap();
        assert_relative_eq!(ka.signal(&x, &y), expect, max_relative = 1e-14);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let x = [0.3, -1.0, 0.7];
        let y = [1.1, 0.2, -0.4];
        for k in [
            Matern32Kernel::isotropic(1.3, 0.8, Some(0.2), 0.05).unwrap(),
            Matern32Kernel::ard(0.7, vec![0.5, 1.5, 2.5], None, 0.05).unwrap(),
        ] {
            let theta = k.log_params();
            let mut g = vec![0.0; k.n_params()];
            let v = k.signal_and_gradient(&x, &y, &mut g);
            assert_relative_eq!(v, k.signal(&x, &y), max_relative = 1e-14);
            let h = 1e-6;
            for p in 0..theta.len() {
                let mut tp = theta.clone();
                let mut tm = theta.clone();
                tp[p] += h;
                tm[p] -= h;
                let fp = k.with_log_params(&tp).unwrap().signal(&x, &y);
                let fm = k.with_log_params(&tm).unwrap().signal(&x, &y);
                let fd = (fp - fm) / (2.0 * h);
                assert!((g[p] - fd).abs() < 1e-8, "param {p}: {} vs {fd}", g[p]);
            }
        }
    }

    #[test]
    fn log_params_round_trip_and_errors() {
        let k = Matern32Kernel::ard(0.7, vec![0.5, 1.5], Some(0.2), 0.05).unwrap();
        assert_eq!(k.n_params(), 5);
        assert_eq!(k.param_names().len(), 5);
        let k2 = k.with_log_params(&k.log_params()).unwrap();
        for (a, b) in k.log_params().iter().zip(k2.log_params()) {
            assert_relative_eq!(*a, b, max_relative = 1e-14);
        }
        assert!(k.with_log_params(&[0.0; 3]).is_err());
        assert!(Matern32Kernel::isotropic(-1.0, 1.0, None, 0.1).is_err());
        assert!(Matern32Kernel::isotropic(1.0, f64::NAN, None, 0.1).is_err());
        assert!(Matern32Kernel::ard(1.0, vec![], None, 0.1).is_err());
        assert!(k.check_features(2).is_ok());
        assert!(k.check_features(3).is_err());
    }
}
