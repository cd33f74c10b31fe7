//! Piecewise interpolation of tabulated functions with an explicit
//! out-of-range policy.
//!
//! [`Interp1d`] joins the nodes $(x_i, y_i)$ by straight lines in transformed
//! coordinates $u = X(x)$, $v = Y(y)$:
//!
//! $$ v(u) = v_i + (v_{i+1} - v_i)\, t, \qquad t = \frac{u - u_i}{u_{i+1} - u_i}, $$
//!
//! on the segment $x_i \le x \le x_{i+1}$, with the transforms set by [`Scale`]:
//!
//! | scale | $X(x)$ | $Y(y)$ | exact for |
//! | --- | --- | --- | --- |
//! | [`Scale::Linear`] | $x$ | $y$ | $y = a + b x$ |
//! | [`Scale::LogLog`] | $\ln x$ | $\ln y$ | power laws $y = A x^p$ |
//! | [`Scale::LinLog`] | $x$ | $\ln y$ | exponentials $y = A e^{k x}$ |
//! | [`Scale::LogLin`] | $\ln x$ | $y$ | $y = a + b \ln x$ |
//!
//! In the original coordinates a log-log segment is the power law
//! $y = y_i (x/x_i)^{p_i}$ with $p_i = \ln(y_{i+1}/y_i) / \ln(x_{i+1}/x_i)$,
//! the usual way of tabulating gamma-ray spectra $dN/dE$ and cross sections.
//! Ratios are formed before taking logarithms (with `ln_1p` for nearby
//! values), so nodes that differ by one ulp or span hundreds of decades are
//! handled without loss of precision.
//!
//! **Zeros with a logarithmic $y$ scale.** $Y = \ln y$ needs $y > 0$, yet
//! tabulated spectra often end in zeros (e.g. $dN/dE = 0$ above the
//! dark-matter mass). Therefore `y == 0` is accepted for [`Scale::LogLog`] and
//! [`Scale::LinLog`]: every segment with a zero at either end is interpolated
//! linearly in $y$ (against $X(x)$) instead. The interpolant is then zero
//! between two zero nodes, continuous, and never negative (extrapolation of
//! such a segment is cut at zero). Negative $y$ are rejected.
//!
//! Inside $[x_0, x_{n-1}]$ the result always lies between the two node values
//! of its segment and equals $y_i$ exactly at $x = x_i$. Outside, the
//! [`OutOfRange`] policy decides. Segments are located by binary search,
//! $O(\log n)$; [`Interp1d::eval_many`] reuses the last segment, so a sorted
//! sweep costs $O(1)$ per point.
//!
//! ```
//! use darkprobe_core::interp::{Interp1d, OutOfRange, Scale};
//! // A power law E^-2 is reproduced exactly by log-log interpolation.
//! let e = vec![1.0, 10.0, 100.0];
//! let f: Vec<f64> = e.iter().map(|x: &f64| x.powi(-2)).collect();
//! let spec = Interp1d::new(e, f, Scale::LogLog, OutOfRange::Zero).unwrap();
//! assert!((spec.eval(3.0).unwrap() - 1.0 / 9.0).abs() < 1e-15);
//! assert_eq!(spec.eval(1000.0).unwrap(), 0.0);
//! ```

use crate::error::{Error, Result};
use crate::grid::validate_grid;

/// What [`Interp1d::eval`] does with `x` outside the tabulated range
/// $[x_0, x_{n-1}]$.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutOfRange {
    /// Return [`Error::InvalidParameter`] naming `x` and the range.
    Error,
    /// Hold the end values: $y_0$ below the range, $y_{n-1}$ above.
    Clamp,
    /// Continue the first or last segment with the same [`Scale`]. With a
    /// logarithmic $x$ scale, `x` must be > 0.
    Extrapolate,
    /// Return 0.
    Zero,
    /// Return this value (returned as given, so NaN may serve as a marker).
    Value(f64),
}

/// The coordinates in which [`Interp1d`] interpolates linearly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scale {
    /// $y$ against $x$.
    Linear,
    /// $\ln y$ against $\ln x$: power laws. Needs $x > 0$ and $y \ge 0$.
    LogLog,
    /// $\ln y$ against $x$: exponentials. Needs $y \ge 0$.
    LinLog,
    /// $y$ against $\ln x$. Needs $x > 0$.
    LogLin,
}

impl Scale {
    /// True when $x$ enters through $\ln x$.
    pub fn log_x(self) -> bool {
        matches!(self, Scale::LogLog | Scale::LogLin)
    }

    /// True when $y$ enters through $\ln y$.
    pub fn log_y(self) -> bool {
        matches!(self, Scale::LogLog | Scale::LinLog)
    }
}

/// $\ln(hi/lo)$ for $hi, lo > 0$, accurate when the two are close (via
/// `ln_1p` of an exact difference) and when their ratio overflows.
pub(crate) fn ln_ratio(hi: f64, lo: f64) -> f64 {
    let r = hi / lo;
    if (0.5..=2.0).contains(&r) {
        // hi - lo is exact here (Sterbenz), so the only rounding is the division.
        ((hi - lo) / lo).ln_1p()
    } else if r.is_normal() {
        r.ln()
    } else {
        hi.ln() - lo.ln()
    }
}

/// One segment's slope data in transformed coordinates.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// $X(x_{i+1}) - X(x_i)$, > 0.
    du: f64,
    /// $Y(y_{i+1}) - Y(y_i)$ in the coordinates the segment uses.
    dv: f64,
    /// Whether this segment interpolates $\ln y$ (false for the zero fallback).
    log_y: bool,
}

/// A piecewise interpolant of tabulated data; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Interp1d {
    xs: Vec<f64>,
    ys: Vec<f64>,
    scale: Scale,
    policy: OutOfRange,
    segments: Vec<Segment>,
}

impl Interp1d {
    /// Builds the interpolant of the nodes `(xs[i], ys[i])`.
    ///
    /// # Errors
    /// * [`Error::ShapeMismatch`] when `xs` and `ys` differ in length;
    /// * [`Error::Empty`] for fewer than two nodes;
    /// * [`Error::InvalidParameter`] naming `xs[i]` or `ys[i]` and its value
    ///   for the first entry that is not finite, breaks the strict increase of
    ///   `xs`, is <= 0 in `xs` with a log-$x$ scale, or < 0 in `ys` with a
    ///   log-$y$ scale; also when two neighbouring values are so far apart
    ///   that their difference overflows `f64`.
    ///
    /// ```
    /// use darkprobe_core::interp::{Interp1d, OutOfRange, Scale};
    /// let err = Interp1d::new(vec![1.0, 2.0], vec![1.0, -1.0], Scale::LogLog, OutOfRange::Error)
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("ys[1] = -1"));
    /// ```
    pub fn new(
        xs: impl Into<Vec<f64>>,
        ys: impl Into<Vec<f64>>,
        scale: Scale,
        out_of_range: OutOfRange,
    ) -> Result<Self> {
        let xs = xs.into();
        let ys = ys.into();
        if xs.len() != ys.len() {
            return Err(Error::shape(
                "interpolation table (xs, ys)",
                format!("ys of length {}", xs.len()),
                format!("length {}", ys.len()),
            ));
        }
        validate_grid("xs", &xs)?;
        for (i, &y) in ys.iter().enumerate() {
            if !y.is_finite() {
                return Err(Error::invalid_param(
                    format!("ys[{i}]"),
                    y,
                    "a finite number",
                ));
            }
            if scale.log_y() && y < 0.0 {
                return Err(Error::invalid_param(
                    format!("ys[{i}]"),
                    y,
                    format!(">= 0 for {scale:?} interpolation"),
                ));
            }
        }
        if scale.log_x() && xs[0] <= 0.0 {
            return Err(Error::invalid_param(
                "xs[0]",
                xs[0],
                format!("> 0 for {scale:?} interpolation"),
            ));
        }
        let mut segments = Vec::with_capacity(xs.len() - 1);
        for i in 0..xs.len() - 1 {
            let (x0, x1, y0, y1) = (xs[i], xs[i + 1], ys[i], ys[i + 1]);
            let du = if scale.log_x() {
                ln_ratio(x1, x0)
            } else {
                x1 - x0
            };
            if !(du.is_finite() && du > 0.0) {
                return Err(Error::invalid_param(
                    format!("xs[{}]", i + 1),
                    x1,
                    format!(
                        "a value whose spacing from xs[{i}] = {x0} is finite and nonzero in f64"
                    ),
                ));
            }
            let log_y = scale.log_y() && y0 > 0.0 && y1 > 0.0;
            let dv = if log_y { ln_ratio(y1, y0) } else { y1 - y0 };
            if !dv.is_finite() {
                return Err(Error::invalid_param(
                    format!("ys[{}]", i + 1),
                    y1,
                    format!("a value whose difference from ys[{i}] = {y0} is finite in f64"),
                ));
            }
            segments.push(Segment { du, dv, log_y });
        }
        Ok(Self {
            xs,
            ys,
            scale,
            policy: out_of_range,
            segments,
        })
    }

    /// The same interpolant with another out-of-range policy.
    pub fn with_out_of_range(mut self, out_of_range: OutOfRange) -> Self {
        self.policy = out_of_range;
        self
    }

    /// The node abscissae (strictly increasing).
    pub fn xs(&self) -> &[f64] {
        &self.xs
    }

    /// The node values.
    pub fn ys(&self) -> &[f64] {
        &self.ys
    }

    /// The interpolation scale.
    pub fn scale(&self) -> Scale {
        self.scale
    }

    /// The out-of-range policy.
    pub fn out_of_range(&self) -> OutOfRange {
        self.policy
    }

    /// The tabulated range $(x_0, x_{n-1})$.
    pub fn x_range(&self) -> (f64, f64) {
        (self.xs[0], self.xs[self.xs.len() - 1])
    }

    /// The interpolated value at `x`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `x` when `x` is NaN, when `x` is
    /// outside the range and the policy is [`OutOfRange::Error`], or when
    /// [`OutOfRange::Extrapolate`] needs $\ln x$ of an `x <= 0`.
    ///
    /// ```
    /// use darkprobe_core::interp::{Interp1d, OutOfRange, Scale};
    /// let f = Interp1d::new(vec![0.0, 2.0], vec![1.0, 5.0], Scale::Linear, OutOfRange::Error).unwrap();
    /// assert_eq!(f.eval(0.5).unwrap(), 2.0);
    /// assert!(f.eval(3.0).is_err());
    /// ```
    pub fn eval(&self, x: f64) -> Result<f64> {
        match self.inside_segment(x, None)? {
            Some(i) => Ok(self.on_segment(i, x, true)),
            None => self.outside(x),
        }
    }

    /// [`eval`](Self::eval) at every point of `xs`; sorted input is located in
    /// amortised constant time per point.
    ///
    /// # Errors
    /// The first error [`eval`](Self::eval) would give.
    pub fn eval_many(&self, xs: &[f64]) -> Result<Vec<f64>> {
        let mut hint = 0;
        xs.iter()
            .map(|&x| match self.inside_segment(x, Some(hint))? {
                Some(i) => {
                    hint = i;
                    Ok(self.on_segment(i, x, true))
                }
                None => self.outside(x),
            })
            .collect()
    }

    /// The segment holding `x` (`Some`), or `None` when `x` is outside the
    /// range. `hint` is a segment to try first.
    fn inside_segment(&self, x: f64, hint: Option<usize>) -> Result<Option<usize>> {
        if x.is_nan() {
            return Err(Error::invalid_param("x", x, "a number (not NaN)"));
        }
        let (lo, hi) = self.x_range();
        if x < lo || x > hi {
            return Ok(None);
        }
        let last = self.segments.len() - 1;
        if let Some(h) = hint {
            for i in [h, h + 1] {
                if i <= last && self.xs[i] <= x && (x < self.xs[i + 1] || i == last) {
                    return Ok(Some(i));
                }
            }
        }
        // Number of nodes <= x is at least 1 here; the last node joins the
        // last segment.
        let k = self.xs.partition_point(|&e| e <= x);
        Ok(Some(k.saturating_sub(1).min(last)))
    }

    /// The value of segment `i`'s formula at `x` (inside or beyond it).
    fn on_segment(&self, i: usize, x: f64, inside: bool) -> f64 {
        let (x0, y0, y1) = (self.xs[i], self.ys[i], self.ys[i + 1]);
        if x == x0 {
            return y0;
        }
        if x == self.xs[i + 1] {
            return y1;
        }
        let s = self.segments[i];
        if s.dv == 0.0 {
            return y0;
        }
        let t = if self.scale.log_x() {
            ln_ratio(x, x0) / s.du
        } else {
            (x - x0) / s.du
        };
        let y = if s.log_y {
            y0 * (s.dv * t).exp()
        } else {
            y0 + s.dv * t
        };
        if inside {
            // The exact value lies between the node values; remove rounding
            // excursions so that monotone data stay monotone.
            y.clamp(y0.min(y1), y0.max(y1))
        } else if self.scale.log_y() && !s.log_y {
            y.max(0.0)
        } else {
            y
        }
    }

    fn outside(&self, x: f64) -> Result<f64> {
        let (lo, hi) = self.x_range();
        let below = x < lo;
        match self.policy {
            OutOfRange::Error => Err(Error::invalid_param(
                "x",
                x,
                format!("within the tabulated range [{lo}, {hi}] (out-of-range policy Error)"),
            )),
            OutOfRange::Clamp => Ok(if below {
                self.ys[0]
            } else {
                self.ys[self.ys.len() - 1]
            }),
            OutOfRange::Zero => Ok(0.0),
            OutOfRange::Value(v) => Ok(v),
            OutOfRange::Extrapolate => {
                if self.scale.log_x() && x <= 0.0 {
                    return Err(Error::invalid_param(
                        "x",
                        x,
                        format!("> 0 to extrapolate with {:?} interpolation", self.scale),
                    ));
                }
                let i = if below { 0 } else { self.segments.len() - 1 };
                Ok(self.on_segment(i, x, false))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::{assert_abs_diff_eq, assert_relative_eq};
    use proptest::prelude::*;

    fn table(xs: &[f64], f: impl Fn(f64) -> f64) -> (Vec<f64>, Vec<f64>) {
        (xs.to_vec(), xs.iter().map(|&x| f(x)).collect())
    }

    #[test]
    fn linear_is_exact_on_lines() {
        let line = |x: f64| 3.0 - 0.7 * x;
        let (xs, ys) = table(&[-2.0, -0.5, 0.1, 1.0, 4.0], line);
        let f = Interp1d::new(xs, ys, Scale::Linear, OutOfRange::Extrapolate).unwrap();
        for i in 0..=120 {
            let x = -3.0 + 0.06 * i as f64;
            assert_relative_eq!(f.eval(x).unwrap(), line(x), max_relative = 1e-14);
        }
        // Hand value: halfway between (0.1, 2.93) and (1.0, 2.3).
        assert_relative_eq!(f.eval(0.55).unwrap(), 2.615, max_relative = 1e-14);
    }

    #[test]
    fn loglog_is_exact_on_broken_power_laws() {
        // E^-1.5 below 10, continuous E^-2.7 above: exact because 10 is a node.
        let bpl = |e: f64| {
            if e < 10.0 {
                e.powf(-1.5)
            } else {
                10f64.powf(1.2) * e.powf(-2.7)
            }
        };
        let (xs, ys) = table(&[0.1, 1.0, 10.0, 1e3, 1e6], bpl);
        let f = Interp1d::new(xs, ys, Scale::LogLog, OutOfRange::Extrapolate).unwrap();
        for i in 0..=100 {
            let e = 10f64.powf(-2.0 + 0.1 * i as f64);
            assert_relative_eq!(f.eval(e).unwrap(), bpl(e), max_relative = 1e-13);
        }
    }

    #[test]
    fn linlog_and_loglin_exact_on_their_families() {
        let expo = |x: f64| 2.5 * (-1.3 * x).exp();
        let (xs, ys) = table(&[0.0, 0.3, 2.0, 5.0], expo);
        let f = Interp1d::new(xs, ys, Scale::LinLog, OutOfRange::Extrapolate).unwrap();
        for x in [-1.0, 0.1, 1.7, 4.99, 8.0] {
            assert_relative_eq!(f.eval(x).unwrap(), expo(x), max_relative = 1e-13);
        }
        let lg = |x: f64| 1.0 - 0.4 * x.ln();
        let (xs, ys) = table(&[0.01, 1.0, 30.0, 1e4], lg);
        let f = Interp1d::new(xs, ys, Scale::LogLin, OutOfRange::Extrapolate).unwrap();
        for x in [1e-3, 0.2, 5.0, 999.0, 1e5] {
            assert_relative_eq!(f.eval(x).unwrap(), lg(x), max_relative = 1e-13);
        }
        // Linear interpolation of the same exponential is not exact: the
        // chord lies above a convex function.
        let (xs, ys) = table(&[0.0, 2.0], expo);
        let lin = Interp1d::new(xs, ys, Scale::Linear, OutOfRange::Error).unwrap();
        assert!(lin.eval(1.0).unwrap() > expo(1.0) * 1.2);
    }

    #[test]
    fn every_out_of_range_policy() {
        let make = |p| Interp1d::new(vec![1.0, 2.0, 4.0], vec![1.0, 3.0, 2.0], Scale::Linear, p);
        let err = make(OutOfRange::Error).unwrap().eval(5.0).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("x = 5") && msg.contains("[1, 4]"), "{msg}");
        assert!(err.is_bad_input());
        assert_eq!(make(OutOfRange::Error).unwrap().eval(4.0).unwrap(), 2.0);

        let c = make(OutOfRange::Clamp).unwrap();
        assert_eq!(c.eval(0.0).unwrap(), 1.0);
        assert_eq!(c.eval(9.0).unwrap(), 2.0);
        assert_eq!(c.eval(f64::INFINITY).unwrap(), 2.0);

        let e = make(OutOfRange::Extrapolate).unwrap();
        assert_relative_eq!(e.eval(0.0).unwrap(), -1.0); // slope 2 on [1, 2]
        assert_relative_eq!(e.eval(6.0).unwrap(), 1.0); // slope -1/2 on [2, 4]

        assert_eq!(make(OutOfRange::Zero).unwrap().eval(0.5).unwrap(), 0.0);
        assert_eq!(
            make(OutOfRange::Value(-7.0)).unwrap().eval(4.5).unwrap(),
            -7.0
        );
        assert!(make(OutOfRange::Value(f64::NAN))
            .unwrap()
            .eval(4.5)
            .unwrap()
            .is_nan());
        // NaN is never a valid abscissa.
        assert!(make(OutOfRange::Clamp).unwrap().eval(f64::NAN).is_err());

        // Log-x extrapolation needs x > 0; other policies do not.
        let ll = Interp1d::new(
            vec![1.0, 10.0],
            vec![1.0, 0.1],
            Scale::LogLog,
            OutOfRange::Extrapolate,
        )
        .unwrap();
        assert!(ll.eval(0.0).is_err());
        assert!(ll.eval(-1.0).is_err());
        assert_relative_eq!(ll.eval(0.01).unwrap(), 100.0, max_relative = 1e-13);
        let ll = ll.with_out_of_range(OutOfRange::Clamp);
        assert_eq!(ll.out_of_range(), OutOfRange::Clamp);
        assert_eq!(ll.eval(-1.0).unwrap(), 1.0);
    }

    #[test]
    fn zeros_on_a_log_y_scale() {
        // A spectrum that drops to zero at 10 and stays there.
        let xs = vec![1.0, 4.0, 10.0, 20.0, 40.0];
        let ys = vec![8.0, 2.0, 0.0, 0.0, 0.0];
        let f = Interp1d::new(xs, ys, Scale::LogLog, OutOfRange::Extrapolate).unwrap();
        // Power law between positive nodes: 8 x^-1.
        assert_relative_eq!(f.eval(2.0).unwrap(), 4.0, max_relative = 1e-14);
        // Linear in ln x on [4, 10]: at the geometric midpoint y = 1.
        assert_relative_eq!(f.eval(40f64.sqrt()).unwrap(), 1.0, max_relative = 1e-14);
        assert_eq!(f.eval(15.0).unwrap(), 0.0);
        assert_eq!(f.eval(100.0).unwrap(), 0.0);
        // Extrapolating a segment that falls to zero stops at zero.
        let g = Interp1d::new(
            vec![1.0, 2.0],
            vec![1.0, 0.0],
            Scale::LinLog,
            OutOfRange::Extrapolate,
        )
        .unwrap();
        assert_eq!(g.eval(3.0).unwrap(), 0.0);
        assert_relative_eq!(g.eval(0.5).unwrap(), 1.5, max_relative = 1e-15);
        assert_relative_eq!(g.eval(1.25).unwrap(), 0.75, max_relative = 1e-15);
    }

    #[test]
    fn constructor_errors_name_index_and_value() {
        let s = Scale::Linear;
        let p = OutOfRange::Error;
        let e = Interp1d::new(vec![1.0, 2.0], vec![1.0], s, p).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        assert!(matches!(
            Interp1d::new(vec![1.0], vec![1.0], s, p).unwrap_err(),
            Error::Empty { .. }
        ));
        let e = Interp1d::new(vec![0.0, 1.0, 1.0], vec![0.0; 3], s, p).unwrap_err();
        assert!(e.to_string().contains("xs[2] = 1"), "{e}");
        let e = Interp1d::new(vec![0.0, 1.0], vec![0.0, f64::INFINITY], s, p).unwrap_err();
        assert!(e.to_string().contains("ys[1] = inf"), "{e}");
        let e = Interp1d::new(vec![0.0, 1.0], vec![1.0, 1.0], Scale::LogLin, p).unwrap_err();
        assert!(e.to_string().contains("xs[0] = 0"), "{e}");
        let e = Interp1d::new(vec![-1.0, 1.0], vec![1.0, 1.0], Scale::LogLog, p).unwrap_err();
        assert!(e.to_string().contains("xs[0] = -1"), "{e}");
        let e =
            Interp1d::new(vec![1.0, 2.0, 3.0], vec![1.0, 1.0, -0.5], Scale::LinLog, p).unwrap_err();
        assert!(e.to_string().contains("ys[2] = -0.5"), "{e}");
        // Differences that overflow f64.
        let e = Interp1d::new(vec![-f64::MAX, f64::MAX], vec![0.0, 0.0], s, p).unwrap_err();
        assert!(e.to_string().contains("xs[1]"), "{e}");
        // LogLin accepts negative y.
        assert!(Interp1d::new(vec![1.0, 2.0], vec![-1.0, -3.0], Scale::LogLin, p).is_ok());
    }

    #[test]
    fn extreme_node_spacings_keep_precision() {
        // Nodes 4 ulp apart at 1e10, where ln x1 - ln x0 would be quantised
        // in steps of ulp(23) = 3.6e-15, four times the true value.
        let x0 = 1e10f64;
        let ulp = x0.next_up() - x0;
        let f = Interp1d::new(
            vec![x0, x0 + 4.0 * ulp],
            vec![1.0, 16.0],
            Scale::LogLog,
            OutOfRange::Error,
        )
        .unwrap();
        assert_relative_eq!(f.eval(x0 + ulp).unwrap(), 2.0, max_relative = 1e-9);
        assert_relative_eq!(f.eval(x0 + 2.0 * ulp).unwrap(), 4.0, max_relative = 1e-9);
        // Nodes 600 decades apart: ratios overflow, logarithms do not.
        let f = Interp1d::new(
            vec![1e-300, 1e300],
            vec![1e300, 1e-300],
            Scale::LogLog,
            OutOfRange::Error,
        )
        .unwrap();
        assert_relative_eq!(f.eval(1.0).unwrap(), 1.0, max_relative = 1e-12);
        assert_relative_eq!(f.eval(1e10).unwrap(), 1e-10, max_relative = 1e-12);
    }

    #[test]
    fn eval_many_matches_eval_sorted_or_not() {
        let xs: Vec<f64> = (0..50).map(|i| (i as f64 * 0.37).exp()).collect();
        let ys: Vec<f64> = xs.iter().map(|x| (1.0 + x).powf(-1.3)).collect();
        let f = Interp1d::new(xs, ys, Scale::LogLog, OutOfRange::Clamp).unwrap();
        let mut q: Vec<f64> = (0..400).map(|i| 0.5 + (i as f64 * 0.05).exp()).collect();
        q.push(1e12);
        let many = f.eval_many(&q).unwrap();
        for (x, y) in q.iter().zip(&many) {
            assert_eq!(*y, f.eval(*x).unwrap());
        }
        q.reverse();
        q.swap(3, 200);
        let many = f.eval_many(&q).unwrap();
        for (x, y) in q.iter().zip(&many) {
            assert_eq!(*y, f.eval(*x).unwrap());
        }
        assert!(f.eval_many(&[1.0, f64::NAN]).is_err());
        assert_eq!(f.xs().len(), 50);
        assert_eq!(f.ys().len(), 50);
        assert_eq!(f.scale(), Scale::LogLog);
        assert_abs_diff_eq!(f.x_range().0, 1.0);
    }

    fn sorted_unique(mut v: Vec<f64>) -> Vec<f64> {
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn reproduces_node_values(
            raw_x in prop::collection::vec(0.01f64..1e4, 2..25),
            raw_y in prop::collection::vec(1e-5f64..1e5, 25),
            scale_ix in 0usize..4,
        ) {
            let xs = sorted_unique(raw_x);
            prop_assume!(xs.len() >= 2);
            let ys = raw_y[..xs.len()].to_vec();
            let scale = [Scale::Linear, Scale::LogLog, Scale::LinLog, Scale::LogLin][scale_ix];
            let f = Interp1d::new(xs.clone(), ys.clone(), scale, OutOfRange::Error).unwrap();
            for (x, y) in xs.iter().zip(&ys) {
                prop_assert_eq!(f.eval(*x).unwrap(), *y);
            }
            prop_assert_eq!(f.eval_many(&xs).unwrap(), ys);
        }

        #[test]
        fn monotone_data_give_monotone_linear_interpolant(
            raw_x in prop::collection::vec(-1e3f64..1e3, 2..20),
            steps in prop::collection::vec(0.0f64..10.0, 20),
            raw_q in prop::collection::vec(-1.1e3f64..1.1e3, 1..100),
        ) {
            let xs = sorted_unique(raw_x);
            prop_assume!(xs.len() >= 2);
            let ys: Vec<f64> = steps[..xs.len()]
                .iter()
                .scan(-5.0, |acc, s| { *acc += s; Some(*acc) })
                .collect();
            let f = Interp1d::new(xs, ys, Scale::Linear, OutOfRange::Clamp).unwrap();
            let q = sorted_unique(raw_q);
            let v = f.eval_many(&q).unwrap();
            for w in v.windows(2) {
                prop_assert!(w[0] <= w[1], "{} > {}", w[0], w[1]);
            }
        }
    }
}
