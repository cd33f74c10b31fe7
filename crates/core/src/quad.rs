//! Numerical integration: of sampled data, of closures, and of spectra over
//! many decades.
//!
//! # Sampled data
//! [`trapezoid`] sums $\tfrac12 h_i (y_i + y_{i+1})$ with $h_i = x_{i+1} - x_i$.
//! [`simpson`] integrates, for each pair of intervals with widths $h_0, h_1$
//! and $H = h_0 + h_1$, the parabola through the three samples:
//!
//! $$ \int_{x_0}^{x_2} \approx \frac{H}{6}\left[\left(2 - \frac{h_1}{h_0}\right) y_0
//!    + \frac{H^2}{h_0 h_1}\, y_1 + \left(2 - \frac{h_0}{h_1}\right) y_2\right], $$
//!
//! which reduces to $\tfrac{h}{3}(y_0 + 4y_1 + y_2)$ on a uniform grid. With
//! an odd number of intervals the last interval $[x_{n-1}, x_n]$ is integrated
//! with the parabola through the last three samples,
//! $\alpha y_n + \beta y_{n-1} - \eta y_{n-2}$ with
//! $\alpha = \frac{2h_1^2 + 3h_0h_1}{6(h_0+h_1)}$,
//! $\beta = \frac{h_1^2 + 3h_0h_1}{6h_0}$,
//! $\eta = \frac{h_1^3}{6h_0(h_0+h_1)}$ ($h_0, h_1$ the last two widths;
//! Cartwright 2017, "Simpson's rule cumulative integration with MS Excel and
//! irregularly-spaced data", J. Math. Sci. & Math. Educ. 12; the same rule
//! as `scipy.integrate.simpson`). Both pieces are exact for quadratics on any
//! grid. A pair is exact for cubics only when $h_0 = h_1$: for $y = c x^3 + \dots$
//! the pair's error (exact minus rule) is $c\,H^3 (h_0 - h_1)/12$.
//!
//! # Closures
//! [`integrate_trapezoid`] and [`integrate_simpson`] apply the uniform
//! composite rules (errors $O(h^2)$ and $O(h^4)$). [`GaussLegendre`] of order
//! $n$ integrates polynomials of degree $\le 2n-1$ exactly:
//!
//! $$ \int_a^b f(x)\,dx \approx \frac{b-a}{2} \sum_{i=1}^n w_i\,
//!    f\!\left(\frac{a+b}{2} + \frac{b-a}{2}\,\xi_i\right), \qquad
//!    w_i = \frac{2}{(1-\xi_i^2)\,[P_n'(\xi_i)]^2}, $$
//!
//! with $\xi_i$ the roots of the Legendre polynomial $P_n$ (Abramowitz &
//! Stegun 25.4.29). The roots are found by Newton's method on $P_n$, evaluated
//! by the recurrence $k P_k = (2k-1) x P_{k-1} - (k-1) P_{k-2}$, with
//! $P_n' = n (P_{n-1} - x P_n)/(1-x^2)$ and starting values from Tricomi's
//! asymptotic formula $\xi_k \approx \left(1 - \frac{n-1}{8n^3}\right)
//! \cos\frac{\pi(k - 1/4)}{n + 1/2}$ (see Hale & Townsend 2013, SIAM J. Sci.
//! Comput. 35, A652). Each root is then polished, and its weight evaluated,
//! in double-double arithmetic (Dekker 1971), because near $\pm1$ the f64
//! recurrence for $P_{n-1}$ cancels badly (weights off by ~1e-10 at order
//! 512). Compared with 40-digit values (orders 1-40, 63, 64, 100, 128, 255,
//! 256, 300, 511, 512) the nodes are within 5.6e-17 (correctly rounded) and
//! the weights within 2.4e-16 relative.
//!
//! # Spectra
//! [`integrate_log`] substitutes $x = e^t$,
//! $\int_a^b f(x)\,dx = \int_{\ln a}^{\ln b} f(e^t)\,e^t\,dt$, and applies
//! composite Gauss-Legendre on panels of equal width in $t$. A power law
//! $x^p$ becomes the smooth $e^{(p+1)t}$, so spectra spanning many decades
//! are integrated to near machine precision with a few panels per decade.
//! [`integrate_log_bins`] does this bin by bin, turning $dN/dE$ into counts
//! per energy bin.
//!
//! ```
//! use darkprobe_core::quad::{integrate_log, GaussLegendre, Panels};
//! let gl = GaussLegendre::new(8).unwrap();
//! // Integral of E^-2 from 1 to 10^6.
//! let i = integrate_log(|e: f64| e.powi(-2), 1.0, 1e6, Panels::PerDecade(2), &gl).unwrap();
//! assert!((i - (1.0 - 1e-6)).abs() < 1e-13);
//! ```

use crate::error::{check_finite, check_positive, Error, Result};
use crate::grid::validate_grid;
use crate::interp::ln_ratio;

/// The highest order [`GaussLegendre::new`] accepts.
pub const MAX_GL_ORDER: usize = 512;

/// The most panels any composite rule here will use (about $1.7\times10^7$).
pub const MAX_PANELS: usize = 1 << 24;

/// Neumaier's compensated sum (Neumaier 1974, ZAMM 54, 39).
#[derive(Default)]
struct Sum {
    s: f64,
    c: f64,
}

impl Sum {
    fn add(&mut self, x: f64) {
        let t = self.s + x;
        if self.s.abs() >= x.abs() {
            self.c += (self.s - t) + x;
        } else {
            self.c += (x - t) + self.s;
        }
        self.s = t;
    }

    /// The total, or an error when it overflowed `f64`.
    fn finish(&self, what: &str) -> Result<f64> {
        let v = self.s + self.c;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(Error::numerical(
                what,
                0,
                self.s,
                "the integral overflows the range of f64",
            ))
        }
    }
}

/// Evaluates the integrand, rejecting non-finite values.
fn eval<F: Fn(f64) -> f64>(f: &F, x: f64) -> Result<f64> {
    let y = f(x);
    if y.is_finite() {
        Ok(y)
    } else {
        Err(Error::invalid_param(
            format!("integrand f({x})"),
            y,
            "a finite number",
        ))
    }
}

/// Checks finite limits with a finite width, returning `b - a`.
fn check_limits(a: f64, b: f64) -> Result<f64> {
    check_finite("a", a)?;
    check_finite("b", b)?;
    let w = b - a;
    if w.is_finite() {
        Ok(w)
    } else {
        Err(Error::invalid_param(
            "b",
            b,
            format!("such that b - a is finite in f64 (a = {a})"),
        ))
    }
}

fn check_panels(name: &str, n: usize, min: usize) -> Result<()> {
    if (min..=MAX_PANELS).contains(&n) {
        Ok(())
    } else {
        Err(Error::invalid_param(
            name,
            n,
            format!("in {min}..={MAX_PANELS}"),
        ))
    }
}

/// Point `i` of `n` equal steps from `a` (width `w = b - a`), with the last
/// point exactly `b`.
fn step_point(a: f64, b: f64, w: f64, i: usize, n: usize) -> f64 {
    if i == n {
        b
    } else {
        a + w * (i as f64 / n as f64)
    }
}

fn check_samples(xs: &[f64], ys: &[f64]) -> Result<()> {
    if xs.len() != ys.len() {
        return Err(Error::shape(
            "integration samples (xs, ys)",
            format!("ys of length {}", xs.len()),
            format!("length {}", ys.len()),
        ));
    }
    validate_grid("xs", xs)?;
    // Name the offending sample only on failure: formatting the name for
    // every sample used to cost more than the integral itself.
    match ys.iter().position(|y| !y.is_finite()) {
        Some(i) => check_finite(&format!("ys[{i}]"), ys[i]).map(|_| ()),
        None => Ok(()),
    }
}

/// The trapezoidal-rule integral of the samples `(xs[i], ys[i])`.
///
/// # Errors
/// [`Error::ShapeMismatch`] for different lengths, [`Error::Empty`] for fewer
/// than two samples, [`Error::InvalidParameter`] naming the first non-finite
/// value or non-increasing `xs[i]`, [`Error::Numerical`] if the sum overflows.
///
/// ```
/// use darkprobe_core::quad::trapezoid;
/// let i = trapezoid(&[0.0, 1.0, 3.0], &[0.0, 1.0, 3.0]).unwrap();
/// assert_eq!(i, 4.5); // exact for the line y = x
/// ```
pub fn trapezoid(xs: &[f64], ys: &[f64]) -> Result<f64> {
    check_samples(xs, ys)?;
    let mut sum = Sum::default();
    for (x, y) in xs.windows(2).zip(ys.windows(2)) {
        sum.add(0.5 * (x[1] - x[0]) * (y[0] + y[1]));
    }
    sum.finish("trapezoid integration of samples")
}

/// Composite Simpson integral of the samples `(xs[i], ys[i])` on a possibly
/// non-uniform grid; see the [module docs](self) for the weights and the
/// rule for an odd number of intervals. With only two samples this is the
/// trapezoid.
///
/// # Errors
/// As [`trapezoid`].
///
/// ```
/// use darkprobe_core::quad::simpson;
/// // Exact for a parabola on an irregular grid with an odd interval count.
/// let xs = [0.0, 0.5, 1.5, 1.75, 3.0];
/// let ys: Vec<f64> = xs.iter().map(|x| x * x).collect();
/// assert!((simpson(&xs, &ys).unwrap() - 9.0).abs() < 1e-14);
/// ```
pub fn simpson(xs: &[f64], ys: &[f64]) -> Result<f64> {
    check_samples(xs, ys)?;
    let intervals = xs.len() - 1;
    if intervals == 1 {
        return trapezoid(xs, ys);
    }
    let paired = intervals - intervals % 2;
    let mut sum = Sum::default();
    for k in (0..paired).step_by(2) {
        let h0 = xs[k + 1] - xs[k];
        let h1 = xs[k + 2] - xs[k + 1];
        let hh = h0 + h1;
        sum.add(hh / 6.0 * (2.0 - h1 / h0) * ys[k]);
        sum.add(hh / 6.0 * (hh / h0) * (hh / h1) * ys[k + 1]);
        sum.add(hh / 6.0 * (2.0 - h0 / h1) * ys[k + 2]);
    }
    if paired < intervals {
        let n = intervals;
        let h0 = xs[n - 1] - xs[n - 2];
        let h1 = xs[n] - xs[n - 1];
        let alpha = (2.0 * h1 * h1 + 3.0 * h0 * h1) / (6.0 * (h0 + h1));
        let beta = (h1 * h1 + 3.0 * h0 * h1) / (6.0 * h0);
        let eta = h1 / 6.0 * (h1 / h0) * (h1 / (h0 + h1));
        sum.add(alpha * ys[n]);
        sum.add(beta * ys[n - 1]);
        sum.add(-eta * ys[n - 2]);
    }
    sum.finish("Simpson integration of samples")
}

/// The composite trapezoidal rule for $\int_a^b f$ with `n` equal intervals.
/// `b < a` gives the negative of the integral over $[b, a]$.
///
/// # Errors
/// [`Error::InvalidParameter`] for non-finite limits, `n` outside
/// `1..=`[`MAX_PANELS`], or a non-finite integrand value (naming `x`);
/// [`Error::Numerical`] if the sum overflows.
///
/// ```
/// use darkprobe_core::quad::integrate_trapezoid;
/// let i = integrate_trapezoid(|x: f64| 2.0 * x + 1.0, 0.0, 2.0, 3).unwrap();
/// assert!((i - 6.0).abs() < 1e-14);
/// ```
pub fn integrate_trapezoid<F: Fn(f64) -> f64>(f: F, a: f64, b: f64, n: usize) -> Result<f64> {
    let w = check_limits(a, b)?;
    check_panels("n", n, 1)?;
    let h = w / n as f64;
    let mut sum = Sum::default();
    for i in 0..=n {
        let y = eval(&f, step_point(a, b, w, i, n))?;
        sum.add(if i == 0 || i == n { 0.5 * h * y } else { h * y });
    }
    sum.finish("trapezoid integration")
}

/// The composite Simpson rule for $\int_a^b f$ with `n` equal intervals
/// (`n` even). `b < a` gives the negative of the integral over $[b, a]$.
///
/// # Errors
/// [`Error::InvalidParameter`] for non-finite limits, odd `n` or `n`
/// outside `2..=`[`MAX_PANELS`], or a non-finite integrand value;
/// [`Error::Numerical`] if the sum overflows.
///
/// ```
/// use darkprobe_core::quad::integrate_simpson;
/// // Exact for cubics.
/// let i = integrate_simpson(|x: f64| x * x * x, 0.0, 2.0, 2).unwrap();
/// assert!((i - 4.0).abs() < 1e-14);
/// ```
pub fn integrate_simpson<F: Fn(f64) -> f64>(f: F, a: f64, b: f64, n: usize) -> Result<f64> {
    let w = check_limits(a, b)?;
    check_panels("n", n, 2)?;
    if !n.is_multiple_of(2) {
        return Err(Error::invalid_param("n", n, "an even number of intervals"));
    }
    let h = w / n as f64;
    let mut sum = Sum::default();
    for i in 0..=n {
        let y = eval(&f, step_point(a, b, w, i, n))?;
        let c = if i == 0 || i == n {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        sum.add(h / 3.0 * c * y);
    }
    sum.finish("Simpson integration")
}

/// A Gauss-Legendre rule of fixed order on $[-1, 1]$, mapped to any interval.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussLegendre {
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

/// $(P_n(x), P_{n-1}(x))$ by the three-term recurrence, $n \ge 1$.
fn legendre_pair(n: usize, x: f64) -> (f64, f64) {
    let (mut p_prev, mut p) = (1.0, x);
    for k in 2..=n {
        let kf = k as f64;
        let next = ((2.0 * kf - 1.0) * x * p - (kf - 1.0) * p_prev) / kf;
        p_prev = p;
        p = next;
    }
    (p, p_prev)
}

/// A double-double number `hi + lo` with `|lo| <= ulp(hi) / 2`, about 32
/// significant digits (Dekker 1971, Numer. Math. 18, 224).
///
/// Near $\pm 1$ the recurrence for $P_{n-1}$ cancels: at order 512 the f64
/// value at the outermost node is off by ~1e-10 relative, and so would be
/// the weight. Evaluating it in double-double gives weights correct to the
/// last bit of f64.
#[derive(Debug, Clone, Copy)]
struct Dd {
    hi: f64,
    lo: f64,
}

impl Dd {
    fn new(x: f64) -> Self {
        Dd { hi: x, lo: 0.0 }
    }

    /// Renormalises `a + b` assuming `|a| >= |b|`.
    fn fast_two_sum(a: f64, b: f64) -> Self {
        let s = a + b;
        Dd {
            hi: s,
            lo: b - (s - a),
        }
    }

    /// Knuth's error-free sum.
    fn two_sum(a: f64, b: f64) -> (f64, f64) {
        let s = a + b;
        let bb = s - a;
        (s, (a - (s - bb)) + (b - bb))
    }

    fn add(self, o: Dd) -> Self {
        let (s, e) = Self::two_sum(self.hi, o.hi);
        let (t, f) = Self::two_sum(self.lo, o.lo);
        let r = Self::fast_two_sum(s, e + t);
        Self::fast_two_sum(r.hi, r.lo + f)
    }

    fn mul(self, o: Dd) -> Self {
        let p = self.hi * o.hi;
        let e = self.hi.mul_add(o.hi, -p) + (self.hi * o.lo + self.lo * o.hi);
        Self::fast_two_sum(p, e)
    }

    fn scale(self, c: f64) -> Self {
        self.mul(Dd::new(c))
    }

    fn div_f64(self, d: f64) -> Self {
        let q = self.hi / d;
        let r = self.add(Dd::new(q).scale(-d));
        Self::fast_two_sum(q, r.hi / d)
    }
}

/// $(P_n(x), P_{n-1}(x))$ in double-double arithmetic, $n \ge 1$.
fn legendre_pair_dd(n: usize, x: Dd) -> (Dd, Dd) {
    let (mut p_prev, mut p) = (Dd::new(1.0), x);
    for k in 2..=n {
        let kf = k as f64;
        let next = x
            .mul(p)
            .scale(2.0 * kf - 1.0)
            .add(p_prev.scale(1.0 - kf))
            .div_f64(kf);
        p_prev = p;
        p = next;
    }
    (p, p_prev)
}

impl GaussLegendre {
    /// The rule with `order` nodes, `1 <= order <=` [`MAX_GL_ORDER`].
    ///
    /// Each positive node is found by Newton's method in f64 from Tricomi's
    /// estimate, then polished by two Newton steps in double-double
    /// arithmetic, where its weight is also evaluated; the negative nodes
    /// mirror the positive ones exactly.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an order out of range;
    /// [`Error::Numerical`] if Newton's method fails to converge (not
    /// observed for any allowed order).
    ///
    /// ```
    /// use darkprobe_core::quad::GaussLegendre;
    /// let gl = GaussLegendre::new(2).unwrap();
    /// assert!((gl.nodes()[1] - 1.0 / 3f64.sqrt()).abs() < 2e-16);
    /// assert!(gl.weights().iter().all(|w| (w - 1.0).abs() < 1e-15));
    /// ```
    pub fn new(order: usize) -> Result<Self> {
        const MAX_ITER: usize = 100;
        if !(1..=MAX_GL_ORDER).contains(&order) {
            return Err(Error::invalid_param(
                "order",
                order,
                format!("in 1..={MAX_GL_ORDER}"),
            ));
        }
        let n = order;
        let nf = n as f64;
        let mut nodes = vec![0.0; n];
        let mut weights = vec![0.0; n];
        // Positive roots, largest first (k = 0, 1, ...); for odd n the last
        // one, k = n / 2, is the root 0.
        for k in 0..n.div_ceil(2) {
            let mut x = if 2 * k + 1 == n {
                0.0
            } else {
                let theta = std::f64::consts::PI * (k as f64 + 0.75) / (nf + 0.5);
                (1.0 - (nf - 1.0) / (8.0 * nf * nf * nf)) * theta.cos()
            };
            let mut converged = false;
            let mut last_step = f64::NAN;
            for _ in 0..MAX_ITER {
                let (p, p_prev) = legendre_pair(n, x);
                let dp = nf * (p_prev - x * p) / ((1.0 - x) * (1.0 + x));
                last_step = p / dp;
                x -= last_step;
                if !x.is_finite() {
                    break;
                }
                if last_step.abs() <= 4.0 * f64::EPSILON {
                    converged = true;
                    break;
                }
            }
            if !converged {
                return Err(Error::numerical(
                    format!("Newton iteration for Gauss-Legendre node {k} of order {n}"),
                    MAX_ITER,
                    last_step,
                    "the Legendre root did not converge",
                ));
            }
            // Polish in double-double; the f64 Newton step size is enough
            // for the correction because P_n' is only needed to low accuracy.
            let mut xd = Dd::new(x);
            for _ in 0..2 {
                let (p, p_prev) = legendre_pair_dd(n, xd);
                let dp = nf * (p_prev.hi - xd.hi * p.hi) / ((1.0 - xd.hi) * (1.0 + xd.hi));
                xd = xd.add(Dd::new(-p.hi / dp));
            }
            let (_, p_prev) = legendre_pair_dd(n, xd);
            // w = 2 (1 - x^2) / (n P_{n-1}(x))^2 at a root of P_n.
            let one_minus_x2 = Dd::new(1.0)
                .add(Dd::new(-xd.hi))
                .add(Dd::new(-xd.lo))
                .mul(Dd::new(1.0).add(xd));
            let np = p_prev.scale(nf);
            let w = 2.0 * one_minus_x2.hi / np.mul(np).hi;
            nodes[n - 1 - k] = xd.hi;
            nodes[k] = -xd.hi;
            weights[n - 1 - k] = w;
            weights[k] = w;
        }
        Ok(Self { nodes, weights })
    }

    /// The number of nodes.
    pub fn order(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes $\xi_i$ on $[-1, 1]$, increasing.
    pub fn nodes(&self) -> &[f64] {
        &self.nodes
    }

    /// The weights $w_i$ (they sum to 2).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Adds the rule on `[lo, hi]` to `sum`.
    fn add_panel<F: Fn(f64) -> f64>(&self, f: &F, lo: f64, hi: f64, sum: &mut Sum) -> Result<()> {
        let half = 0.5 * (hi - lo);
        let mid = 0.5 * lo + 0.5 * hi;
        for (&xi, &w) in self.nodes.iter().zip(&self.weights) {
            sum.add(half * w * eval(f, mid + half * xi)?);
        }
        Ok(())
    }

    /// $\int_a^b f$ with this rule on the whole interval. `b < a` gives the
    /// negative of the integral over $[b, a]$.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for non-finite limits (or `b - a`
    /// overflowing) and for a non-finite integrand value;
    /// [`Error::Numerical`] if the sum overflows.
    ///
    /// ```
    /// use darkprobe_core::quad::GaussLegendre;
    /// let gl = GaussLegendre::new(3).unwrap();
    /// // Degree 5 = 2n - 1 is integrated exactly.
    /// let i = gl.integrate(|x: f64| x.powi(5) + x * x, 0.0, 1.0).unwrap();
    /// assert!((i - (1.0 / 6.0 + 1.0 / 3.0)).abs() < 1e-15);
    /// ```
    pub fn integrate<F: Fn(f64) -> f64>(&self, f: F, a: f64, b: f64) -> Result<f64> {
        self.composite(f, a, b, 1)
    }

    /// $\int_a^b f$ with this rule on each of `panels` equal sub-intervals.
    ///
    /// # Errors
    /// As [`integrate`](Self::integrate); also for `panels` outside
    /// `1..=`[`MAX_PANELS`].
    ///
    /// ```
    /// use darkprobe_core::quad::GaussLegendre;
    /// let gl = GaussLegendre::new(5).unwrap();
    /// let i = gl.composite(f64::sin, 0.0, std::f64::consts::PI, 4).unwrap();
    /// assert!((i - 2.0).abs() < 1e-12);
    /// ```
    pub fn composite<F: Fn(f64) -> f64>(&self, f: F, a: f64, b: f64, panels: usize) -> Result<f64> {
        let w = check_limits(a, b)?;
        check_panels("panels", panels, 1)?;
        let mut sum = Sum::default();
        let mut lo = a;
        for k in 1..=panels {
            let hi = step_point(a, b, w, k, panels);
            self.add_panel(&f, lo, hi, &mut sum)?;
            lo = hi;
        }
        sum.finish("Gauss-Legendre quadrature")
    }
}

/// How many panels a logarithmic composite rule uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Panels {
    /// This many panels on the integration range (for
    /// [`integrate_log_bins`]: in each bin).
    Count(usize),
    /// This many panels per decade of $x$, rounded up, at least one.
    PerDecade(usize),
}

impl Panels {
    /// The number of panels for the range between `a` and `b` (> 0).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a zero count, non-positive limits, or
    /// more than [`MAX_PANELS`] panels.
    ///
    /// ```
    /// use darkprobe_core::quad::Panels;
    /// assert_eq!(Panels::PerDecade(4).count(1.0, 1e6).unwrap(), 24);
    /// assert_eq!(Panels::PerDecade(4).count(1.0, 1.5).unwrap(), 1);
    /// assert_eq!(Panels::Count(7).count(1.0, 1e6).unwrap(), 7);
    /// ```
    pub fn count(self, a: f64, b: f64) -> Result<usize> {
        check_positive("a", a)?;
        check_positive("b", b)?;
        match self {
            Panels::Count(n) => {
                check_panels("Panels::Count", n, 1)?;
                Ok(n)
            }
            Panels::PerDecade(k) => {
                check_panels("Panels::PerDecade", k, 1)?;
                let decades = ln_ratio(b, a).abs() / std::f64::consts::LN_10;
                // Tolerance so that exactly 6 decades at 4 per decade is 24.
                let n = (k as f64 * decades * (1.0 - 1e-12)).ceil().max(1.0);
                if n > MAX_PANELS as f64 {
                    return Err(Error::invalid_param(
                        "Panels::PerDecade",
                        k,
                        format!("at most {MAX_PANELS} panels in total over {decades:.3} decades"),
                    ));
                }
                Ok(n as usize)
            }
        }
    }
}

/// $\int_a^b f(x)\,dx$ for $a, b > 0$ by composite Gauss-Legendre in $t = \ln x$
/// (integrand $f(e^t)\,e^t$) on panels of equal width in $\ln x$.
/// `b < a` gives the negative of the integral over $[b, a]$.
///
/// # Errors
/// [`Error::InvalidParameter`] for limits that are not finite and > 0, an
/// invalid panel count (see [`Panels::count`]), or a non-finite integrand
/// value; [`Error::Numerical`] if the sum overflows.
///
/// ```
/// use darkprobe_core::quad::{integrate_log, GaussLegendre, Panels};
/// let gl = GaussLegendre::new(10).unwrap();
/// // The integral of 1/x over [1, e^3] is 3.
/// let i = integrate_log(|x: f64| 1.0 / x, 1.0, 3f64.exp(), Panels::Count(1), &gl).unwrap();
/// assert!((i - 3.0).abs() < 1e-14);
/// ```
pub fn integrate_log<F: Fn(f64) -> f64>(
    f: F,
    a: f64,
    b: f64,
    panels: Panels,
    gl: &GaussLegendre,
) -> Result<f64> {
    let n = panels.count(a, b)?;
    let mut sum = Sum::default();
    add_log(&f, a, b, n, gl, &mut sum)?;
    sum.finish("logarithmic Gauss-Legendre quadrature")
}

fn add_log<F: Fn(f64) -> f64>(
    f: &F,
    a: f64,
    b: f64,
    panels: usize,
    gl: &GaussLegendre,
    sum: &mut Sum,
) -> Result<()> {
    let h = ln_ratio(b, a) / panels as f64;
    for k in 0..panels {
        let mid = (k as f64 + 0.5) * h;
        for (&xi, &w) in gl.nodes.iter().zip(&gl.weights) {
            let x = a * (mid + 0.5 * h * xi).exp();
            sum.add(0.5 * h * w * eval(f, x)? * x);
        }
    }
    Ok(())
}

/// The integrals of `f` over each bin `[edges[k], edges[k+1]]`, each by
/// [`integrate_log`] with `panels` (a [`Panels::Count`] applies per bin).
///
/// # Errors
/// [`Error::Empty`] for fewer than two edges, [`Error::InvalidParameter`]
/// for edges that are not finite, > 0 and strictly increasing, and as
/// [`integrate_log`].
///
/// ```
/// use darkprobe_core::quad::{integrate_log_bins, GaussLegendre, Panels};
/// let gl = GaussLegendre::new(8).unwrap();
/// let counts = integrate_log_bins(|e: f64| e.powi(-2), &[1.0, 2.0, 4.0], Panels::Count(2), &gl)
///     .unwrap();
/// assert!((counts[0] - 0.5).abs() < 1e-14 && (counts[1] - 0.25).abs() < 1e-14);
/// ```
pub fn integrate_log_bins<F: Fn(f64) -> f64>(
    f: F,
    edges: &[f64],
    panels: Panels,
    gl: &GaussLegendre,
) -> Result<Vec<f64>> {
    validate_grid("edges", edges)?;
    check_positive("edges[0]", edges[0])?;
    edges
        .windows(2)
        .map(|e| integrate_log(&f, e[0], e[1], panels, gl))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::{assert_abs_diff_eq, assert_relative_eq};
    use proptest::prelude::*;
    use std::f64::consts::{E, PI};

    #[test]
    fn gauss_legendre_known_nodes_and_weights() {
        // n = 2: +-1/sqrt(3), weights 1.
        let g = GaussLegendre::new(2).unwrap();
        assert_abs_diff_eq!(g.nodes()[0], -1.0 / 3f64.sqrt(), epsilon = 2e-16);
        assert_abs_diff_eq!(g.weights()[0], 1.0, epsilon = 1e-15);
        // n = 3: 0, +-sqrt(3/5); weights 8/9, 5/9.
        let g = GaussLegendre::new(3).unwrap();
        assert_eq!(g.nodes()[1], 0.0);
        assert_abs_diff_eq!(g.nodes()[2], 0.6f64.sqrt(), epsilon = 1e-16);
        assert_abs_diff_eq!(g.weights()[1], 8.0 / 9.0, epsilon = 1e-15);
        assert_abs_diff_eq!(g.weights()[2], 5.0 / 9.0, epsilon = 1e-15);
        // n = 5 (Abramowitz & Stegun 25.4 closed forms).
        let g = GaussLegendre::new(5).unwrap();
        let r = 2.0 * (10.0f64 / 7.0).sqrt();
        let s70 = 70f64.sqrt();
        let nodes = [
            -(5.0 + r).sqrt() / 3.0,
            -(5.0 - r).sqrt() / 3.0,
            0.0,
            (5.0 - r).sqrt() / 3.0,
            (5.0 + r).sqrt() / 3.0,
        ];
        let weights = [
            (322.0 - 13.0 * s70) / 900.0,
            (322.0 + 13.0 * s70) / 900.0,
            128.0 / 225.0,
            (322.0 + 13.0 * s70) / 900.0,
            (322.0 - 13.0 * s70) / 900.0,
        ];
        for i in 0..5 {
            assert_abs_diff_eq!(g.nodes()[i], nodes[i], epsilon = 2e-16);
            assert_abs_diff_eq!(g.weights()[i], weights[i], epsilon = 2e-16);
        }
        // n = 1: midpoint rule.
        let g = GaussLegendre::new(1).unwrap();
        assert_eq!((g.nodes(), g.weights()), (&[0.0][..], &[2.0][..]));
    }

    #[test]
    fn gauss_legendre_matches_50_digit_references() {
        // (order, k-th largest node (1-based), node, weight), computed with
        // mpmath at 50 digits by Newton on the Legendre recurrence, roots
        // verified with mpmath.legendre; n = 20 agrees with A&S Table 25.4.
        let refs = [
            (20, 1, 0.993_128_599_185_094_9, 0.017_614_007_139_152_118),
            (20, 5, 0.746_331_906_460_150_8, 0.101_930_119_817_240_44),
            (20, 10, 0.076_526_521_133_497_34, 0.152_753_387_130_725_84),
            (512, 1, 0.999_988_990_984_381_9, 2.825_263_737_393_469e-5),
            (512, 2, 0.999_941_994_606_845_6, 6.576_573_165_924_02e-5),
            (
                512,
                100,
                0.818_809_677_059_186_8,
                3.518_977_608_865_720_4e-3,
            ),
            (512, 256, 3.064_962_185_159_396e-3, 6.129_905_175_405_786e-3),
        ];
        for (n, k, x, w) in refs {
            let g = GaussLegendre::new(n).unwrap();
            assert_eq!(g.order(), n);
            assert_abs_diff_eq!(g.nodes()[n - k], x, epsilon = 1e-15);
            assert_relative_eq!(g.weights()[n - k], w, max_relative = 4e-16);
        }
    }

    #[test]
    fn gauss_legendre_weights_sum_and_symmetry() {
        for n in (1..=40).chain([64, 100, 255, 256, 511, 512]) {
            let g = GaussLegendre::new(n).unwrap();
            let s: f64 = g.weights().iter().sum();
            assert_abs_diff_eq!(s, 2.0, epsilon = 4e-15);
            assert!(is_strictly_increasing_open(g.nodes()), "order {n}");
            for i in 0..n {
                assert_eq!(g.nodes()[i], -g.nodes()[n - 1 - i]);
                assert!(g.weights()[i] > 0.0);
            }
        }
        assert!(GaussLegendre::new(0).is_err());
        let e = GaussLegendre::new(513).unwrap_err();
        assert_eq!(e.to_string(), "invalid order = 513: allowed in 1..=512");
    }

    fn is_strictly_increasing_open(xs: &[f64]) -> bool {
        crate::grid::is_strictly_increasing(xs)
            && xs.first().is_some_and(|&x| x > -1.0)
            && xs.last().is_some_and(|&x| x < 1.0)
    }

    #[test]
    fn gauss_legendre_polynomial_exactness() {
        // Monomials x^k on [a, b]: exact for k <= 2n - 1. For k = 2n the
        // error is (b-a)^(2n+1) (n!)^4 / ((2n+1) ((2n)!)^2) (A&S 25.4.30 with
        // f^(2n) = (2n)!).
        let (a, b) = (0.3f64, 2.1f64);
        for n in [1usize, 2, 3, 4, 5, 8, 13] {
            let g = GaussLegendre::new(n).unwrap();
            for k in 0..=2 * n {
                let exact = (b.powi(k as i32 + 1) - a.powi(k as i32 + 1)) / (k as f64 + 1.0);
                let got = g.integrate(|x: f64| x.powi(k as i32), a, b).unwrap();
                if k < 2 * n {
                    assert_relative_eq!(got, exact, max_relative = 1e-14);
                } else if n <= 5 {
                    let fact = |m: usize| (1..=m).map(|i| i as f64).product::<f64>();
                    let err = (b - a).powi(2 * n as i32 + 1) * fact(n).powi(4)
                        / ((2 * n + 1) as f64 * fact(2 * n).powi(2));
                    assert_relative_eq!(exact - got, err, max_relative = 1e-9);
                }
            }
        }
        // High order on [-1, 1]: x^1022 integrates to 2/1023.
        let g = GaussLegendre::new(512).unwrap();
        let got = g.integrate(|x: f64| x.powi(1022), -1.0, 1.0).unwrap();
        assert_relative_eq!(got, 2.0 / 1023.0, max_relative = 1e-12);
    }

    #[test]
    fn gauss_legendre_smooth_functions() {
        let g = GaussLegendre::new(10).unwrap();
        assert_relative_eq!(
            g.integrate(f64::exp, 0.0, 1.0).unwrap(),
            E - 1.0,
            max_relative = 1e-15
        );
        assert_relative_eq!(
            g.composite(f64::sin, 0.0, PI, 3).unwrap(),
            2.0,
            max_relative = 1e-15
        );
        // Gaussian over +-10 sigma: sqrt(2 pi) up to erfc(10/sqrt 2) ~ 1.5e-23.
        let gauss = |x: f64| (-0.5 * x * x).exp();
        let got = g.composite(gauss, -10.0, 10.0, 16).unwrap();
        assert_relative_eq!(got, (2.0 * PI).sqrt(), max_relative = 1e-14);
        // Reversed limits flip the sign; equal limits give zero.
        assert_relative_eq!(
            g.integrate(f64::exp, 1.0, 0.0).unwrap(),
            1.0 - E,
            max_relative = 1e-15
        );
        assert_eq!(g.integrate(f64::exp, 2.0, 2.0).unwrap(), 0.0);
    }

    #[test]
    fn gauss_legendre_errors() {
        let g = GaussLegendre::new(4).unwrap();
        assert!(g.integrate(f64::exp, f64::NAN, 1.0).is_err());
        assert!(g.integrate(f64::exp, 0.0, f64::INFINITY).is_err());
        assert!(g.integrate(f64::exp, -f64::MAX, f64::MAX).is_err());
        assert!(g.composite(f64::exp, 0.0, 1.0, 0).is_err());
        let e = g.integrate(f64::ln, -1.0, 1.0).unwrap_err();
        assert!(e.to_string().contains("integrand f(-0.86"), "{e}");
        let e = g.integrate(|_| f64::MAX, 0.0, 10.0).unwrap_err();
        assert!(matches!(e, Error::Numerical { .. }), "{e}");
    }

    #[test]
    fn integrate_log_power_laws_over_many_decades() {
        let g = GaussLegendre::new(8).unwrap();
        let got = integrate_log(|x: f64| x.powi(-2), 1.0, 1e6, Panels::PerDecade(4), &g).unwrap();
        assert_relative_eq!(got, 1.0 - 1e-6, max_relative = 1e-12);
        // E^-2.7 from 0.1 to 1e5 GeV: (a^-1.7 - b^-1.7) / 1.7.
        let p = |e: f64| e.powf(-2.7);
        let exact = (0.1f64.powf(-1.7) - 1e5f64.powf(-1.7)) / 1.7;
        let got = integrate_log(p, 0.1, 1e5, Panels::Count(30), &g).unwrap();
        assert_relative_eq!(got, exact, max_relative = 1e-12);
        // A rising spectrum with an exponential cut-off: x e^{-x} over [1e-8, 50],
        // exact 1 - 51 e^{-50} - (1 + 1e-8) e^{-1e-8}... evaluated in closed form.
        let f = |x: f64| x * (-x).exp();
        let prim = |x: f64| -(1.0 + x) * (-x).exp();
        let exact = prim(50.0) - prim(1e-8);
        let got = integrate_log(f, 1e-8, 50.0, Panels::PerDecade(6), &g).unwrap();
        assert_relative_eq!(got, exact, max_relative = 1e-12);
        // Reversed limits.
        let got = integrate_log(|x: f64| x.powi(-2), 1e6, 1.0, Panels::PerDecade(4), &g).unwrap();
        assert_relative_eq!(got, -(1.0 - 1e-6), max_relative = 1e-12);
        // The same integral in linear x with the same number of evaluations is
        // far worse: the log substitution is what makes it accurate.
        let lin = g.composite(|x: f64| x.powi(-2), 1.0, 1e6, 24).unwrap();
        assert!((lin - (1.0 - 1e-6)).abs() > 1e-3);
    }

    #[test]
    fn integrate_log_bins_fermi_binning() {
        let g = GaussLegendre::new(6).unwrap();
        let edges = crate::grid::log_bin_edges(0.5, 500.0, 24).unwrap();
        let counts = integrate_log_bins(|e: f64| e.powi(-2), &edges, Panels::Count(2), &g).unwrap();
        assert_eq!(counts.len(), 24);
        for (c, e) in counts.iter().zip(edges.windows(2)) {
            assert_relative_eq!(*c, 1.0 / e[0] - 1.0 / e[1], max_relative = 1e-13);
        }
        // 1/E gives ln(1000)/24 in every bin.
        let counts =
            integrate_log_bins(|e: f64| 1.0 / e, &edges, Panels::PerDecade(1), &g).unwrap();
        for c in counts {
            assert_relative_eq!(c, 1000f64.ln() / 24.0, max_relative = 1e-14);
        }
        assert!(integrate_log_bins(|e: f64| e, &[0.0, 1.0], Panels::Count(1), &g).is_err());
        assert!(integrate_log_bins(|e: f64| e, &[1.0], Panels::Count(1), &g).is_err());
        assert!(integrate_log_bins(|e: f64| e, &[2.0, 1.0], Panels::Count(1), &g).is_err());
        assert!(integrate_log_bins(|e: f64| e, &[1.0, 2.0], Panels::Count(0), &g).is_err());
        assert!(integrate_log(|e: f64| e, -1.0, 2.0, Panels::Count(1), &g).is_err());
        assert!(Panels::PerDecade(usize::MAX).count(1.0, 10.0).is_err());
        assert!(Panels::PerDecade(0).count(1.0, 10.0).is_err());
    }

    #[test]
    fn trapezoid_on_samples() {
        let xs = [0.0, 0.1, 0.5, 0.6, 2.0];
        // Exact for lines.
        let ys: Vec<f64> = xs.iter().map(|x| 1.0 - 3.0 * x).collect();
        assert_relative_eq!(
            trapezoid(&xs, &ys).unwrap(),
            2.0 - 6.0,
            max_relative = 1e-15
        );
        // For x^2 each interval overestimates by h^3 / 6.
        let ys: Vec<f64> = xs.iter().map(|x| x * x).collect();
        let excess: f64 = xs.windows(2).map(|w| (w[1] - w[0]).powi(3) / 6.0).sum();
        assert_relative_eq!(
            trapezoid(&xs, &ys).unwrap(),
            8.0 / 3.0 + excess,
            max_relative = 1e-14
        );
        // Errors.
        assert!(matches!(
            trapezoid(&xs, &ys[..3]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            trapezoid(&[1.0], &[1.0]),
            Err(Error::Empty { .. })
        ));
        let e = trapezoid(&[0.0, 1.0], &[0.0, f64::NAN]).unwrap_err();
        assert!(e.to_string().contains("ys[1] = NaN"), "{e}");
        assert!(trapezoid(&[0.0, 0.0], &[0.0, 1.0]).is_err());
    }

    #[test]
    fn trapezoid_error_is_second_order() {
        // Euler-Maclaurin: error = h^2/12 (f'(b) - f'(a)) + O(h^4).
        let exact = E - 1.0;
        for n in [8usize, 16, 32, 64] {
            let h = 1.0 / n as f64;
            let err = integrate_trapezoid(f64::exp, 0.0, 1.0, n).unwrap() - exact;
            assert_relative_eq!(err, h * h / 12.0 * (E - 1.0), max_relative = 2.0 * h * h);
        }
        assert!(integrate_trapezoid(f64::exp, 0.0, 1.0, 0).is_err());
    }

    #[test]
    fn simpson_on_samples() {
        // Quadratics are exact on any grid, even or odd interval count.
        let q = |x: f64| 2.0 - x + 0.7 * x * x;
        let qi = |x: f64| 2.0 * x - 0.5 * x * x + 0.7 / 3.0 * x.powi(3);
        for xs in [
            vec![0.0, 0.1, 0.5, 0.6, 2.0],
            vec![0.0, 0.1, 0.5, 0.6, 2.0, 2.05],
            vec![-1.0, 3.0, 3.01],
        ] {
            let ys: Vec<f64> = xs.iter().map(|&x| q(x)).collect();
            let exact = qi(xs[xs.len() - 1]) - qi(xs[0]);
            // Width ratios up to 400 amplify rounding through weights ~ h0/h1.
            assert_relative_eq!(simpson(&xs, &ys).unwrap(), exact, max_relative = 1e-12);
        }
        // Two samples: the trapezoid (exact for lines only).
        let got = simpson(&[0.0, 2.0], &[0.0, 4.0]).unwrap();
        assert_eq!(got, 4.0);
        // Cubics are exact when each pair of intervals is symmetric, even if
        // the pairs differ.
        let c = |x: f64| x.powi(3) - 2.0 * x;
        let ci = |x: f64| 0.25 * x.powi(4) - x * x;
        let xs = [0.0, 0.1, 0.2, 0.9, 1.6, 1.65, 1.7];
        let ys: Vec<f64> = xs.iter().map(|&x| c(x)).collect();
        assert_relative_eq!(
            simpson(&xs, &ys).unwrap(),
            ci(1.7) - ci(0.0),
            max_relative = 1e-14
        );
        // On an irregular grid the cubic error is sum of c H^3 (h0 - h1) / 12.
        let xs = [0.0, 0.3, 0.5, 1.4, 1.6];
        let ys: Vec<f64> = xs.iter().map(|&x| c(x)).collect();
        let predicted: f64 = xs
            .windows(3)
            .step_by(2)
            .map(|w| {
                let (h0, h1) = (w[1] - w[0], w[2] - w[1]);
                (h0 + h1).powi(3) * (h0 - h1) / 12.0
            })
            .sum();
        let err = ci(1.6) - ci(0.0) - simpson(&xs, &ys).unwrap();
        assert!(predicted.abs() > 1e-3);
        assert_relative_eq!(err, predicted, max_relative = 1e-12);
    }

    #[test]
    fn simpson_is_fourth_order_with_odd_intervals_too() {
        let exact = 2.0;
        let err = |n: usize| {
            let xs = crate::grid::linspace(0.0, PI, n + 1).unwrap();
            let ys: Vec<f64> = xs.iter().map(|x| x.sin()).collect();
            (simpson(&xs, &ys).unwrap() - exact).abs()
        };
        // Even: exactly the uniform rule, error pi h^4 / 180 * mean |f''''|.
        assert!(err(20) / err(40) > 15.5 && err(20) / err(40) < 16.5);
        // Odd: the end correction keeps the O(h^4) rate. Leading terms: the
        // pairs give h^4/180 (f'''(pi - h) - f'''(0)) ~ h^4/90, the last
        // interval's parabola h^4 |f'''(pi)| / 24, both of the same sign.
        assert!(err(21) / err(41) > 12.0, "{}", err(21) / err(41));
        let h = PI / 41.0;
        assert_relative_eq!(
            err(41),
            h.powi(4) * (1.0 / 24.0 + 1.0 / 90.0),
            max_relative = 0.02
        );
    }

    #[test]
    fn integrate_simpson_closure() {
        let got = integrate_simpson(|x: f64| 4.0 * x.powi(3) - x, -1.0, 2.0, 2).unwrap();
        assert_relative_eq!(got, 15.0 - 1.5, max_relative = 1e-14);
        let e20 = integrate_simpson(f64::exp, 0.0, 1.0, 20).unwrap() - (E - 1.0);
        let e40 = integrate_simpson(f64::exp, 0.0, 1.0, 40).unwrap() - (E - 1.0);
        // Leading error h^4/180 (f'''(b) - f'''(a)).
        assert_relative_eq!(
            e20,
            (0.05f64).powi(4) / 180.0 * (E - 1.0),
            max_relative = 1e-2
        );
        assert_relative_eq!(e20 / e40, 16.0, max_relative = 1e-2);
        assert!(integrate_simpson(f64::exp, 0.0, 1.0, 3).is_err());
        assert!(integrate_simpson(f64::exp, 0.0, 1.0, 0).is_err());
        let e = integrate_simpson(|x: f64| 1.0 / x, 0.0, 1.0, 2).unwrap_err();
        assert!(e.to_string().contains("f(0) = inf"), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn gauss_legendre_exact_for_random_polynomials(
            n in 1usize..12,
            coeffs in prop::collection::vec(-3.0f64..3.0, 23),
            a in -2.0f64..2.0,
            w in 0.1f64..3.0,
        ) {
            let b = a + w;
            let c = &coeffs[..2 * n];
            let poly = |x: f64| c.iter().rev().fold(0.0, |acc, &ck| acc * x + ck);
            let prim = |x: f64| {
                c.iter().enumerate().rev()
                    .fold(0.0, |acc, (k, &ck)| acc * x + ck / (k as f64 + 1.0)) * x
            };
            let g = GaussLegendre::new(n).unwrap();
            let got = g.integrate(poly, a, b).unwrap();
            let exact = prim(b) - prim(a);
            let m = a.abs().max(b.abs()).max(1.0);
            let scale: f64 = c.iter().enumerate().map(|(k, x)| x.abs() * m.powi(k as i32)).sum::<f64>() * w;
            prop_assert!((got - exact).abs() <= 1e-14 * scale, "{got} vs {exact}");
        }

        #[test]
        fn simpson_exact_for_quadratics_on_random_grids(
            steps in prop::collection::vec(0.01f64..2.0, 2..30),
            c in prop::collection::vec(-5.0f64..5.0, 3),
        ) {
            let xs: Vec<f64> = std::iter::once(0.0)
                .chain(steps.iter().scan(0.0, |s, h| { *s += h; Some(*s) }))
                .collect();
            let ys: Vec<f64> = xs.iter().map(|&x| c[0] + c[1] * x + c[2] * x * x).collect();
            let b = xs[xs.len() - 1];
            let exact = c[0] * b + c[1] * b * b / 2.0 + c[2] * b.powi(3) / 3.0;
            let scale = 5.0 * (b + b * b + b.powi(3));
            prop_assert!((simpson(&xs, &ys).unwrap() - exact).abs() <= 1e-12 * scale);
        }

        #[test]
        fn integrate_log_is_additive_and_exact_for_power_laws(
            p in -3.5f64..2.0,
            a in 1e-3f64..1.0,
            r1 in 1.5f64..1e3,
            r2 in 1.5f64..1e3,
        ) {
            let (m, b) = (a * r1, a * r1 * r2);
            let g = GaussLegendre::new(10).unwrap();
            let f = |x: f64| x.powf(p);
            let whole = integrate_log(f, a, b, Panels::PerDecade(3), &g).unwrap();
            let parts: Vec<f64> = integrate_log_bins(f, &[a, m, b], Panels::PerDecade(3), &g).unwrap();
            let exact = if (p + 1.0).abs() < 1e-9 {
                (b / a).ln()
            } else {
                (b.powf(p + 1.0) - a.powf(p + 1.0)) / (p + 1.0)
            };
            prop_assert!((whole - exact).abs() <= 1e-12 * exact.abs());
            prop_assert!((parts[0] + parts[1] - exact).abs() <= 1e-12 * exact.abs());
        }
    }
}
