//! Parameter uncertainties of a mixture fit from the observed information.
//!
//! At the maximum-likelihood point $\hat z$ of the free parameters $z$, the
//! observed information is $I = -\nabla^2 \ln L(\hat z)$ and the asymptotic
//! covariance is $\Sigma_z = I^{-1}$ (Efron & Hinkley 1978). The free
//! coordinates are the independent weights and the six ROI-scaled shift
//! parameters $(\tilde b_d, \tilde c_d)$ ([`SigmoidShift::to_scaled`](crate::SigmoidShift::to_scaled)):
//!
//! - with free class fractions, $\pi_1, \dots, \pi_{K-1}$ and the free extra
//!   weights; $\pi_0 = 1 - \sum_\mathrm{fixed} \pi_e - \sum_{\text{others}}$ is
//!   dependent;
//! - with the associated fractions (kinds `None` and `Covariate`), the free
//!   extra weights; the astrophysical block takes the rest and its class
//!   fractions are not reported.
//!
//! The Hessian is taken by central finite differences of
//! [`ShiftMixture::ln_likelihood`]-equivalent evaluations (steps $10^{-4}$ on
//! weights, $2\times10^{-4}\max(1, |z_j|)$ on shift parameters; the truncation
//! error is $O(h^2)$, the rounding error about $10^{-16} |\ln L| / h^2$). The
//! reported parameters $y = A z + a$ (all class and extra weights, slopes
//! $b_d = \tilde b_d / w_d$ and centres $c_d = \mathrm{lo}_d + \tilde c_d w_d$
//! in feature units) get $\Sigma_y = A \Sigma_z A^\top$.
//!
//! The approximation needs an interior optimum: a weight at 0 or a shift
//! parameter on its bound (see [`ShiftMixture::with_max_steepness`]) is an
//! error, as is an information matrix that is not positive definite (a
//! parameter the data do not identify, e.g. the centre of a sigmoid with zero
//! slope).
//!
//! ```
//! use darkprobe_kde::Bandwidth;
//! use darkprobe_subhalos::*;
//! use ndarray::Array2;
//! use rand::{Rng, SeedableRng};
//! let roi = Roi::paper(ReferenceEnergy::OneGeV);
//! let mut rng = rand::rngs::StdRng::seed_from_u64(5);
//! let mk = |rng: &mut rand::rngs::StdRng, beta: f64| Array2::from_shape_fn((60, 3), |(_, d)| {
//!     [-9.2, 1.25, beta][d] + [0.4, 0.15, 0.05][d] * (rng.random::<f64>() - 0.5) * 3.0
//! });
//! let bw = BandwidthChoice::Fixed(Bandwidth::Diagonal(vec![0.2, 0.08, 0.03]));
//! let a = ClassDensity::fit("hard", mk(&mut rng, 0.15).view(), &roi, &bw)?;
//! let b = ClassDensity::fit("curved", mk(&mut rng, 0.4).view(), &roi, &bw)?;
//! let model = ShiftMixture::new(roi, vec![a, b], vec![0.5, 0.5])?;
//! let truth = MixtureParams { class_weights: vec![0.3, 0.7], extra_weights: vec![], shift: None };
//! let mock = model.sample(&truth, 400, &mut rng)?;
//! let data = model.prepare(mock.points.view())?;
//! let fit = model.fit(&data, ShiftKind::Prior, &[], &EmOptions::default())?;
//! let err = model.parameter_errors(&data, &[], &fit)?;
//! let (pi, sd) = err.get("pi[curved]").unwrap();
//! // Binomial-like: the error is at least sqrt(pi (1 - pi) / n) (perfect separation).
//! assert!(sd >= (pi * (1.0 - pi) / 400.0).sqrt() * 0.999 && sd < 0.1);
//! assert!((pi - 0.7).abs() < 4.0 * sd);
//! # Ok::<(), SubhaloError>(())
//! ```

use darkprobe_core::Error;
use ndarray::Array2;

use crate::error::Result;
use crate::model::{
    Astro, ExtraComponent, ExtraWeight, MixtureFit, PreparedData, ShiftMixture, State,
};
use crate::shift::CENTRE_BOUNDS;

/// Feature names used in the parameter names.
const FEATURE_NAMES: [&str; 3] = ["log10 F", "alpha", "beta"];

/// Uncertainties of the parameters of a fit (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterErrors {
    /// Parameter names: `pi[<component>]` for weights, `slope[<feature>]` and
    /// `centre[<feature>]` for the shift (features `log10 F`, `alpha`, `beta`).
    pub names: Vec<String>,
    /// Fitted values, in feature units.
    pub values: Vec<f64>,
    /// Standard errors $\sqrt{\Sigma_{jj}}$.
    pub errors: Vec<f64>,
    /// Covariance matrix of the reported parameters.
    pub covariance: Array2<f64>,
    /// The observed information in the free coordinates (independent
    /// weights, then the scaled shift parameters).
    pub information: Array2<f64>,
}

impl ParameterErrors {
    /// `(value, error)` of the parameter called `name`.
    pub fn get(&self, name: &str) -> Option<(f64, f64)> {
        let i = self.names.iter().position(|n| n == name)?;
        Some((self.values[i], self.errors[i]))
    }
}

/// What one free coordinate is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Coord {
    Class(usize),
    Extra(usize),
    Theta(usize),
}

impl ShiftMixture {
    /// Standard errors and covariance of the parameters of `fit` (made on
    /// `data` with `extras`) from the observed information (see the
    /// [`uncertainty`](crate::uncertainty) module).
    ///
    /// # Errors
    /// Extras that do not match the fit or the data; a weight at 0 or a shift
    /// parameter on its bound; an observed information that is not positive
    /// definite.
    pub fn parameter_errors(
        &self,
        data: &PreparedData,
        extras: &[ExtraComponent],
        fit: &MixtureFit,
    ) -> Result<ParameterErrors> {
        let k = self.classes().len();
        let p = &fit.params;
        if p.class_weights.len() != k || p.extra_weights.len() != extras.len() {
            return Err(Error::shape(
                "fit weights vs model and extras",
                format!("{k} class and {} extra weights", extras.len()),
                format!("{} and {}", p.class_weights.len(), p.extra_weights.len()),
            )
            .into());
        }
        // Validates the extras against the data.
        self.ln_likelihood(data, extras, p)?;
        let free_priors = fit.kind.free_priors();
        let theta0 = match (fit.kind.covariate(), &p.shift) {
            (true, Some(s)) => Some(s.to_scaled(self.roi())),
            (false, _) => None,
            (true, None) => {
                return Err(Error::invalid_param(
                    "fit shift",
                    "none",
                    "a fitted shift for a covariate-shift model",
                )
                .into())
            }
        };
        // Free coordinates and their values.
        let mut coords = Vec::new();
        if free_priors {
            coords.extend((1..k).map(Coord::Class));
        }
        for (e, ex) in extras.iter().enumerate() {
            if matches!(ex.weight, ExtraWeight::Free { .. }) {
                coords.push(Coord::Extra(e));
            }
        }
        if theta0.is_some() {
            coords.extend((0..6).map(Coord::Theta));
        }
        let z0: Vec<f64> = coords
            .iter()
            .map(|c| match *c {
                Coord::Class(i) => p.class_weights[i],
                Coord::Extra(e) => p.extra_weights[e],
                Coord::Theta(j) => theta0.map_or(0.0, |t| t[j]),
            })
            .collect();
        let fixed_total: f64 = extras
            .iter()
            .zip(&p.extra_weights)
            .filter(|(e, _)| matches!(e.weight, ExtraWeight::Fixed(_)))
            .map(|(_, w)| w)
            .sum();
        let h_weight = 1e-4;
        let steps: Vec<f64> = coords
            .iter()
            .zip(&z0)
            .map(|(c, z)| match c {
                Coord::Theta(_) => 2e-4 * z.abs().max(1.0),
                _ => h_weight,
            })
            .collect();
        // The state at coordinates z.
        let state_at = |z: &[f64]| -> State {
            let mut class = p.class_weights.clone();
            let mut extra = p.extra_weights.clone();
            let mut theta = theta0;
            for (c, v) in coords.iter().zip(z) {
                match *c {
                    Coord::Class(i) => class[i] = *v,
                    Coord::Extra(e) => extra[e] = *v,
                    Coord::Theta(j) => {
                        if let Some(t) = theta.as_mut() {
                            t[j] = *v;
                        }
                    }
                }
            }
            let free_extra: f64 = extras
                .iter()
                .zip(&extra)
                .filter(|(e, _)| matches!(e.weight, ExtraWeight::Free { .. }))
                .map(|(_, w)| w)
                .sum();
            let rest = 1.0 - fixed_total - free_extra;
            let astro = if free_priors {
                class[0] = rest - class[1..].iter().sum::<f64>();
                Astro::Free(class)
            } else {
                Astro::Block(rest)
            };
            State {
                astro,
                extra,
                theta,
            }
        };
        // Interior checks: every weight (incl. the dependent one) at least
        // three steps from 0 at the optimum; shift parameters off their bounds.
        let st0 = state_at(&z0);
        let weights: Vec<f64> = match &st0.astro {
            Astro::Free(pi) => pi.clone(),
            Astro::Block(a) => vec![*a],
        }
        .into_iter()
        .chain(
            extras
                .iter()
                .zip(&st0.extra)
                .filter(|(e, _)| matches!(e.weight, ExtraWeight::Free { .. }))
                .map(|(_, w)| *w),
        )
        .collect();
        if let Some(w) = weights.iter().find(|w| w.is_nan() || **w <= 3.0 * h_weight) {
            return Err(Error::invalid_param(
                "fitted weight",
                w,
                "> 3e-4 (a weight at 0 has no observed-information error)",
            )
            .into());
        }
        if let Some(t) = theta0 {
            let b = self.max_steepness();
            for (j, &tj) in t.iter().enumerate() {
                let (lo, hi) = if j < 3 { (-b, b) } else { CENTRE_BOUNDS };
                let h = 2e-4 * tj.abs().max(1.0);
                if tj - lo < 2.0 * h || hi - tj < 2.0 * h {
                    let what = if j < 3 { "slope" } else { "centre" };
                    return Err(Error::invalid_param(
                        format!(
                            "fitted {what}[{}] (ROI-scaled)",
                            FEATURE_NAMES[j % 3]
                        ),
                        tj,
                        format!("inside its bounds [{lo}, {hi}] (a parameter on a bound has no observed-information error)"),
                    )
                    .into());
                }
            }
        }
        let f = |z: &[f64]| -> Result<f64> { Ok(self.evaluate(data, extras, &state_at(z))?.ln_l) };
        let d = coords.len();
        let f0 = f(&z0)?;
        let mut info = Array2::<f64>::zeros((d, d));
        let mut z = z0.clone();
        for i in 0..d {
            let hi = steps[i];
            z[i] = z0[i] + hi;
            let fp = f(&z)?;
            z[i] = z0[i] - hi;
            let fm = f(&z)?;
            z[i] = z0[i];
            info[[i, i]] = -(fp - 2.0 * f0 + fm) / (hi * hi);
            for j in 0..i {
                let hj = steps[j];
                let mut corner = |si: f64, sj: f64| -> Result<f64> {
                    z[i] = z0[i] + si * hi;
                    z[j] = z0[j] + sj * hj;
                    let v = f(&z);
                    z[i] = z0[i];
                    z[j] = z0[j];
                    v
                };
                let v = corner(1.0, 1.0)? - corner(1.0, -1.0)? - corner(-1.0, 1.0)?
                    + corner(-1.0, -1.0)?;
                let h2 = -v / (4.0 * hi * hj);
                info[[i, j]] = h2;
                info[[j, i]] = h2;
            }
        }
        let cov_z = spd_inverse(&info).ok_or_else(|| {
            Error::numerical(
                "observed information of the mixture fit",
                0,
                f0,
                "the matrix is not positive definite: a parameter is not identified by the data \
                 (e.g. the centre of a flat sigmoid) or the fit is not at a maximum",
            )
        })?;
        // Reported parameters y = A z + a.
        let mut names = Vec::new();
        let mut values = Vec::new();
        let mut rows: Vec<Vec<f64>> = Vec::new();
        let weight_cols: Vec<usize> = coords
            .iter()
            .enumerate()
            .filter(|(_, c)| !matches!(c, Coord::Theta(_)))
            .map(|(i, _)| i)
            .collect();
        let names_of = &fit.component_names;
        if free_priors {
            for c in 0..k {
                let mut row = vec![0.0; d];
                if c == 0 {
                    for &i in &weight_cols {
                        row[i] = -1.0;
                    }
                } else if let Some(i) = coords.iter().position(|x| *x == Coord::Class(c)) {
                    row[i] = 1.0;
                }
                names.push(format!(
                    "pi[{}]",
                    names_of.get(c).map_or("?", |s| s.as_str())
                ));
                values.push(match &st0.astro {
                    Astro::Free(pi) => pi[c],
                    Astro::Block(_) => f64::NAN,
                });
                rows.push(row);
            }
        }
        for (e, _) in extras.iter().enumerate() {
            if let Some(i) = coords.iter().position(|x| *x == Coord::Extra(e)) {
                let mut row = vec![0.0; d];
                row[i] = 1.0;
                names.push(format!(
                    "pi[{}]",
                    names_of.get(k + e).map_or("?", |s| s.as_str())
                ));
                values.push(p.extra_weights[e]);
                rows.push(row);
            }
        }
        if let (Some(s), Some(_)) = (&p.shift, theta0) {
            let w = self.roi().widths();
            for dd in 0..3 {
                let i = coords
                    .iter()
                    .position(|x| *x == Coord::Theta(dd))
                    .unwrap_or(0);
                let mut row = vec![0.0; d];
                row[i] = 1.0 / w[dd];
                names.push(format!("slope[{}]", FEATURE_NAMES[dd]));
                values.push(s.slope[dd]);
                rows.push(row);
            }
            for dd in 0..3 {
                let i = coords
                    .iter()
                    .position(|x| *x == Coord::Theta(3 + dd))
                    .unwrap_or(0);
                let mut row = vec![0.0; d];
                row[i] = w[dd];
                names.push(format!("centre[{}]", FEATURE_NAMES[dd]));
                values.push(s.centre[dd]);
                rows.push(row);
            }
        }
        let m = rows.len();
        let mut cov = Array2::<f64>::zeros((m, m));
        for a in 0..m {
            for b in 0..m {
                let mut s = 0.0;
                for i in 0..d {
                    for j in 0..d {
                        s += rows[a][i] * cov_z[[i, j]] * rows[b][j];
                    }
                }
                cov[[a, b]] = s;
            }
        }
        let errors = (0..m).map(|a| cov[[a, a]].max(0.0).sqrt()).collect();
        Ok(ParameterErrors {
            names,
            values,
            errors,
            covariance: cov,
            information: info,
        })
    }
}

/// Inverse of a symmetric positive-definite matrix by Cholesky
/// decomposition; `None` if it is not positive definite.
fn spd_inverse(a: &Array2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[[i, j]];
            for k in 0..j {
                s -= l[[i, k]] * l[[j, k]];
            }
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return None;
                }
                l[[i, i]] = s.sqrt();
            } else {
                l[[i, j]] = s / l[[j, j]];
            }
        }
    }
    // Solve L L^T X = I column by column.
    let mut inv = Array2::<f64>::zeros((n, n));
    for c in 0..n {
        let mut y = vec![0.0; n];
        for i in 0..n {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for k in 0..i {
                s -= l[[i, k]] * y[k];
            }
            y[i] = s / l[[i, i]];
        }
        let mut x = vec![0.0; n];
        for i in (0..n).rev() {
            let mut s = y[i];
            for k in i + 1..n {
                s -= l[[k, i]] * x[k];
            }
            x[i] = s / l[[i, i]];
        }
        for i in 0..n {
            inv[[i, c]] = x[i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BandwidthChoice, ClassDensity, EmOptions, MixtureParams, ReferenceEnergy, Roi};
    use crate::{ShiftKind, SigmoidShift};
    use approx::assert_relative_eq;
    use darkprobe_kde::Bandwidth;
    use rand::{Rng, SeedableRng};

    fn model() -> ShiftMixture {
        let roi = Roi::paper(ReferenceEnergy::OneGeV);
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mk = |rng: &mut rand::rngs::StdRng, c: [f64; 3]| {
            Array2::from_shape_fn((70, 3), |(_, d)| {
                c[d] + [0.9, 0.4, 0.2][d] * (rng.random::<f64>() - 0.5)
            })
        };
        let bw = BandwidthChoice::Fixed(Bandwidth::Diagonal(vec![0.25, 0.1, 0.04]));
        let a =
            ClassDensity::fit("ext", mk(&mut rng, [-9.4, 1.45, 0.18]).view(), &roi, &bw).unwrap();
        let b = ClassDensity::fit("gal", mk(&mut rng, [-9.0, 1.1, 0.4]).view(), &roi, &bw).unwrap();
        ShiftMixture::new(roi, vec![a, b], vec![0.6, 0.4]).unwrap()
    }

    #[test]
    fn spd_inverse_inverts() {
        let a = ndarray::arr2(&[[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]]);
        let inv = spd_inverse(&a).unwrap();
        let id = a.dot(&inv);
        for i in 0..3 {
            for j in 0..3 {
                assert!((id[[i, j]] - if i == j { 1.0 } else { 0.0 }).abs() < 1e-13);
            }
        }
        assert!(spd_inverse(&ndarray::arr2(&[[1.0, 2.0], [2.0, 1.0]])).is_none());
    }

    /// Weights only: the information has the closed form
    /// $I_{jl} = \sum_i (q_j - q_0)(q_l - q_0) / p(x_i)^2$ over the free
    /// components $j, l$ with component 0 dependent.
    #[test]
    fn weight_information_matches_the_closed_form() {
        let m = model();
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let truth = MixtureParams {
            class_weights: vec![0.5, 0.5],
            extra_weights: vec![],
            shift: None,
        };
        // 260 sources from the classes and 40 uniform on the ROI, fitted with
        // a third component of uniform density and free weight.
        let mock = m.sample(&truth, 260, &mut rng).unwrap();
        let (lo, w) = (m.roi().lo(), m.roi().widths());
        let uniform = Array2::from_shape_fn((40, 3), |(_, d)| lo[d] + w[d] * rng.random::<f64>());
        let points = ndarray::concatenate![ndarray::Axis(0), mock.points, uniform];
        let data = m.prepare(points.view()).unwrap();
        let vol: f64 = w.iter().product();
        let extra = ExtraComponent {
            name: "flat".into(),
            ln_pdf: vec![-vol.ln(); data.len()],
            weight: ExtraWeight::Free { initial: 0.1 },
        };
        let extras = [extra];
        let fit = m
            .fit(&data, ShiftKind::Prior, &extras, &EmOptions::default())
            .unwrap();
        let err = m.parameter_errors(&data, &extras, &fit).unwrap();
        let pi = [
            fit.params.class_weights[0],
            fit.params.class_weights[1],
            fit.params.extra_weights[0],
        ];
        let mut info = [[0.0; 2]; 2];
        for i in 0..data.len() {
            let q = [data.ln_pdf(i, 0).exp(), data.ln_pdf(i, 1).exp(), 1.0 / vol];
            let px = pi[0] * q[0] + pi[1] * q[1] + pi[2] * q[2];
            let g = [(q[1] - q[0]) / px, (q[2] - q[0]) / px];
            for (row, ga) in info.iter_mut().zip(g) {
                for (v, gb) in row.iter_mut().zip(g) {
                    *v += ga * gb;
                }
            }
        }
        for (a, row) in info.iter().enumerate() {
            for (b, v) in row.iter().enumerate() {
                assert_relative_eq!(err.information[[a, b]], *v, max_relative = 1e-5);
            }
        }
        // The errors: the dependent weight from the covariance of the others.
        let det = info[0][0] * info[1][1] - info[0][1] * info[1][0];
        let c = [
            [info[1][1] / det, -info[0][1] / det],
            [-info[1][0] / det, info[0][0] / det],
        ];
        let var0 = c[0][0] + c[1][1] + 2.0 * c[0][1];
        assert_eq!(err.names, ["pi[ext]", "pi[gal]", "pi[flat]"]);
        assert_relative_eq!(err.errors[0], var0.sqrt(), max_relative = 1e-5);
        assert_relative_eq!(err.errors[1], c[0][0].sqrt(), max_relative = 1e-5);
        assert_relative_eq!(err.errors[2], c[1][1].sqrt(), max_relative = 1e-5);
        assert_eq!(err.get("pi[gal]").unwrap().0, pi[1]);
    }

    /// With the covariate shift: the information against an independent
    /// finite-difference Hessian of $\ln L$ written out from the public pieces
    /// ($Z_k$, $\ln C$, the class densities), in feature units and with a
    /// five-point stencil.
    #[test]
    fn shift_errors_match_an_independent_hessian() {
        let m = model();
        let roi = m.roi().clone();
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let shift = SigmoidShift::from_scaled(&[-6.0, 4.0, 5.0, 0.5, 0.4, 0.45], &roi);
        let truth = MixtureParams {
            class_weights: vec![0.55, 0.45],
            extra_weights: vec![],
            shift: Some(shift),
        };
        let mock = m.sample(&truth, 600, &mut rng).unwrap();
        let data = m.prepare(mock.points.view()).unwrap();
        let opts = EmOptions {
            initial_shift: Some(shift),
            ..EmOptions::default()
        };
        let fit = m
            .fit(&data, ShiftKind::PriorAndCovariate, &[], &opts)
            .unwrap();
        let err = m.parameter_errors(&data, &[], &fit).unwrap();
        assert_eq!(err.names.len(), 8);
        // y = (pi_1, slopes, centres) in feature units.
        let s0 = fit.params.shift.unwrap();
        let y0: Vec<f64> = std::iter::once(fit.params.class_weights[1])
            .chain(s0.slope)
            .chain(s0.centre)
            .collect();
        let ln_l = |y: &[f64]| -> f64 {
            let s = SigmoidShift {
                slope: [y[1], y[2], y[3]],
                centre: [y[4], y[5], y[6]],
            };
            let pi = [1.0 - y[0], y[0]];
            let z = [m.z(0, Some(&s)).unwrap(), m.z(1, Some(&s)).unwrap()];
            data.points()
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let c = s.ln_c(x).exp();
                    (0..2)
                        .map(|k| pi[k] * c * data.ln_pdf(i, k).exp() / z[k])
                        .sum::<f64>()
                        .ln()
                })
                .sum()
        };
        let n = y0.len();
        let h: Vec<f64> = y0.iter().map(|v| 1e-3 * v.abs().max(0.05)).collect();
        let d1 = |f: &dyn Fn(&[f64]) -> f64, y: &[f64], i: usize| -> f64 {
            let at = |s: f64| {
                let mut v = y.to_vec();
                v[i] += s * h[i];
                f(&v)
            };
            (-at(2.0) + 8.0 * at(1.0) - 8.0 * at(-1.0) + at(-2.0)) / (12.0 * h[i])
        };
        let mut info = Array2::<f64>::zeros((n, n));
        for i in 0..n {
            for j in 0..n {
                let g = |y: &[f64]| d1(&ln_l, y, j);
                info[[i, j]] = -d1(&g, &y0, i);
            }
        }
        let sym = (&info + &info.t()) * 0.5;
        let cov = spd_inverse(&sym).unwrap();
        // Reported order: pi[ext], pi[gal], slopes, centres.
        for (r, idx) in (1..8).zip(0..7) {
            assert_relative_eq!(err.errors[r], cov[[idx, idx]].sqrt(), max_relative = 2e-3);
        }
        assert_relative_eq!(err.errors[0], err.errors[1], max_relative = 1e-12);
    }
}
