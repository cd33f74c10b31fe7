//! Brent's one-dimensional minimisation and golden-ratio bracketing.

use super::checked_eval;
use crate::error::{Error, Result};

/// $(3 - \sqrt5)/2$, the golden-section fraction.
const GOLDEN_SECTION: f64 = 0.381_966_011_250_105_1;
/// $(1 + \sqrt5)/2$, the golden ratio used to grow a minimum bracket.
const GOLDEN_RATIO: f64 = 1.618_033_988_749_895;

/// Stopping rules for [`brent_minimize`] and [`brent_minimize_from_guess`].
///
/// The search stops when the interval still known to contain the minimum
/// lies within $2\,\mathrm{tol}$ of the estimate $x$, with
/// $\mathrm{tol} = \mathrm{x\_tol\_rel}\,|x| + \mathrm{x\_tol\_abs}$.
/// Near a smooth minimum $f$ is flat to rounding within a relative distance
/// $\approx\sqrt{\varepsilon}$, so `x_tol_rel` below $\sim 10^{-8}$ buys nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinimizeOptions1d {
    /// Absolute tolerance on the location (default `1e-12`), `>= 0`.
    pub x_tol_abs: f64,
    /// Relative tolerance on the location (default $\sqrt{\varepsilon}\approx1.5\times10^{-8}$);
    /// values below $4\varepsilon$ are raised to $4\varepsilon$.
    pub x_tol_rel: f64,
    /// Maximum number of iterations (default 500), `>= 1`.
    pub max_iter: usize,
    /// Return the best point with `converged = false` instead of an error when
    /// `max_iter` is exhausted (default `false`).
    pub allow_unconverged: bool,
}

impl Default for MinimizeOptions1d {
    fn default() -> Self {
        Self {
            x_tol_abs: 1e-12,
            x_tol_rel: f64::EPSILON.sqrt(),
            max_iter: 500,
            allow_unconverged: false,
        }
    }
}

impl MinimizeOptions1d {
    fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("MinimizeOptions1d::x_tol_abs", self.x_tol_abs),
            ("MinimizeOptions1d::x_tol_rel", self.x_tol_rel),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid_param(name, v, "finite and >= 0"));
            }
        }
        if self.max_iter == 0 {
            return Err(Error::invalid_param(
                "MinimizeOptions1d::max_iter",
                0,
                ">= 1",
            ));
        }
        Ok(())
    }
}

/// A one-dimensional minimum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minimum1d {
    /// Location of the minimum.
    pub x: f64,
    /// Function value there.
    pub f_x: f64,
    /// Iterations performed.
    pub n_iter: usize,
    /// Function evaluations (including bracketing for [`brent_minimize_from_guess`]).
    pub n_eval: usize,
    /// Whether the tolerance was met (always `true` unless `allow_unconverged`).
    pub converged: bool,
}

/// Three points with $a \le b \le c$ and $f(b) \le f(a)$, $f(b) \le f(c)$.
///
/// When the minimum lies on a bound, `b` equals that bound and coincides
/// with `a` or `c`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinimumBracket {
    /// Lower end.
    pub a: f64,
    /// Interior point with the lowest value.
    pub b: f64,
    /// Upper end.
    pub c: f64,
    /// $f(a)$.
    pub f_a: f64,
    /// $f(b)$.
    pub f_b: f64,
    /// $f(c)$.
    pub f_c: f64,
    /// Function evaluations spent.
    pub n_eval: usize,
}

/// Settings for [`bracket_minimum`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BracketMinimumOptions {
    /// Optional lower bound on $x$ (finite).
    pub lower: Option<f64>,
    /// Optional upper bound on $x$ (finite, `> lower`).
    pub upper: Option<f64>,
    /// Maximum number of golden-ratio expansions (default 100).
    pub max_expansions: usize,
}

impl Default for BracketMinimumOptions {
    fn default() -> Self {
        Self {
            lower: None,
            upper: None,
            max_expansions: 100,
        }
    }
}

/// Minimises `f` on `[lo, hi]` by Brent's method.
///
/// Brent's method (Brent 1973, *Algorithms for Minimization without
/// Derivatives*, ch. 5) keeps a bracket $[a, b]$ and the three best points
/// $x, w, v$; it takes the minimum of the parabola through them when that
/// step is inside the bracket and shorter than half the step before last,
/// and a golden-section step into the larger part of the bracket otherwise.
/// It finds a *local* minimum; on a unimodal function it is the minimum.
/// The ends of the interval are never evaluated, so a minimum on an end is
/// approached to within the tolerance.
///
/// # Errors
/// - [`Error::InvalidParameter`] for `lo >= hi`, non-finite ends or bad options;
/// - [`Error::Numerical`] if `f` returns a non-finite value (naming $x$), or
///   when `max_iter` is exhausted (unless `allow_unconverged`);
/// - any error returned by `f`, unchanged.
///
/// ```
/// use darkprobe_core::optimize::{brent_minimize, MinimizeOptions1d};
/// let m = brent_minimize(|x: f64| Ok((x - 2.0).powi(2) + 1.0), 0.0, 5.0,
///                        &MinimizeOptions1d::default())?;
/// assert!((m.x - 2.0).abs() < 1e-7 && (m.f_x - 1.0).abs() < 1e-14 && m.converged);
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn brent_minimize<F>(
    mut f: F,
    lo: f64,
    hi: f64,
    options: &MinimizeOptions1d,
) -> Result<Minimum1d>
where
    F: FnMut(f64) -> Result<f64>,
{
    if !lo.is_finite() {
        return Err(Error::invalid_param("lo", lo, "a finite number"));
    }
    if !(hi.is_finite() && hi > lo) {
        return Err(Error::invalid_param(
            "hi",
            hi,
            format!("finite and > lo = {lo}"),
        ));
    }
    options.validate()?;
    brent_min_core(&mut f, lo, hi, None, options)
}

/// Brent's minimisation on `[lo, hi]` starting from `start = (x, f(x))`
/// (strictly inside) or from the golden-section point.
fn brent_min_core<F>(
    f: &mut F,
    lo: f64,
    hi: f64,
    start: Option<(f64, f64)>,
    options: &MinimizeOptions1d,
) -> Result<Minimum1d>
where
    F: FnMut(f64) -> Result<f64>,
{
    let what = "Brent minimisation";
    let rel = options.x_tol_rel.max(4.0 * f64::EPSILON);
    let (mut a, mut b) = (lo, hi);
    let mut n_eval = 0;
    let (mut x, mut fx) = match start {
        Some(s) => s,
        None => {
            let x = a + GOLDEN_SECTION * (b - a);
            n_eval += 1;
            (x, checked_eval(f, x, what)?)
        }
    };
    let (mut w, mut fw, mut v, mut fv) = (x, fx, x, fx);
    // d: the last step; e: the step before it.
    let (mut d, mut e) = (0.0f64, 0.0f64);
    for iter in 0..options.max_iter {
        let m = 0.5 * (a + b);
        let tol = rel * x.abs() + options.x_tol_abs + f64::MIN_POSITIVE;
        let t2 = 2.0 * tol;
        if (x - m).abs() <= t2 - 0.5 * (b - a) {
            return Ok(Minimum1d {
                x,
                f_x: fx,
                n_iter: iter,
                n_eval,
                converged: true,
            });
        }
        let mut golden = true;
        if e.abs() > tol {
            // Parabola through (v, fv), (w, fw), (x, fx): step p/q from x.
            let r = (x - w) * (fx - fv);
            let mut q = (x - v) * (fx - fw);
            let mut p = (x - v) * q - (x - w) * r;
            q = 2.0 * (q - r);
            if q > 0.0 {
                p = -p;
            } else {
                q = -q;
            }
            let e_prev = e;
            if p.abs() < (0.5 * q * e_prev).abs() && p > q * (a - x) && p < q * (b - x) {
                e = d;
                d = p / q;
                let u = x + d;
                // Do not evaluate too close to the ends of the bracket.
                if u - a < t2 || b - u < t2 {
                    d = tol.copysign(m - x);
                }
                golden = false;
            }
        }
        if golden {
            e = if x < m { b - x } else { a - x };
            d = GOLDEN_SECTION * e;
        }
        let u = x + if d.abs() >= tol { d } else { tol.copysign(d) };
        let fu = checked_eval(f, u, what)?;
        n_eval += 1;
        if fu <= fx {
            if u < x {
                b = x;
            } else {
                a = x;
            }
            (v, fv, w, fw, x, fx) = (w, fw, x, fx, u, fu);
        } else {
            if u < x {
                a = u;
            } else {
                b = u;
            }
            if fu <= fw || w == x {
                (v, fv, w, fw) = (w, fw, u, fu);
            } else if fu <= fv || v == x || v == w {
                (v, fv) = (u, fu);
            }
        }
    }
    if options.allow_unconverged {
        Ok(Minimum1d {
            x,
            f_x: fx,
            n_iter: options.max_iter,
            n_eval,
            converged: false,
        })
    } else {
        Err(Error::numerical(
            what,
            options.max_iter,
            fx,
            format!(
                "no convergence within max_iter = {}: best x = {x:e}, bracket [{a:e}, {b:e}]",
                options.max_iter
            ),
        ))
    }
}

/// Finds three points bracketing a minimum of `f`, starting at `x0` and
/// `x0 + step` and walking downhill with steps growing by the golden ratio.
///
/// The walk never leaves `[lower, upper]`; when $f$ still decreases at a
/// bound, the returned bracket has `b` on that bound (and `b == a` or
/// `b == c`).
///
/// # Errors
/// - [`Error::InvalidParameter`] if `x0` is not finite or outside the bounds,
///   `step` is zero or not finite, or the bounds are not finite with
///   `lower < upper`;
/// - [`Error::Numerical`] if `f` returns a non-finite value, or if no bracket
///   is found within `max_expansions` (the message gives the last points);
/// - any error returned by `f`, unchanged.
///
/// ```
/// use darkprobe_core::optimize::{bracket_minimum, BracketMinimumOptions};
/// let br = bracket_minimum(|x: f64| Ok((x - 10.0).powi(2)), 0.0, 0.1,
///                          &BracketMinimumOptions::default())?;
/// assert!(br.a < 10.0 && 10.0 < br.c && br.f_b <= br.f_a && br.f_b <= br.f_c);
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn bracket_minimum<F>(
    mut f: F,
    x0: f64,
    step: f64,
    options: &BracketMinimumOptions,
) -> Result<MinimumBracket>
where
    F: FnMut(f64) -> Result<f64>,
{
    bracket_core(&mut f, x0, step, options)
}

fn bracket_core<F>(
    f: &mut F,
    x0: f64,
    step: f64,
    options: &BracketMinimumOptions,
) -> Result<MinimumBracket>
where
    F: FnMut(f64) -> Result<f64>,
{
    let what = "bracketing a minimum";
    let lower = match options.lower {
        None => f64::NEG_INFINITY,
        Some(l) if l.is_finite() => l,
        Some(l) => {
            return Err(Error::invalid_param(
                "BracketMinimumOptions::lower",
                l,
                "finite",
            ))
        }
    };
    let upper = match options.upper {
        None => f64::INFINITY,
        Some(u) if u.is_finite() && u > lower => u,
        Some(u) => {
            return Err(Error::invalid_param(
                "BracketMinimumOptions::upper",
                u,
                format!("finite and > lower = {lower}"),
            ))
        }
    };
    if !(x0.is_finite() && x0 >= lower && x0 <= upper) {
        return Err(Error::invalid_param(
            "x0",
            x0,
            format!("finite and in [{lower}, {upper}]"),
        ));
    }
    if !(step.is_finite() && x0 + step != x0) {
        return Err(Error::invalid_param(
            "step",
            step,
            format!("finite and large enough to change x0 = {x0}"),
        ));
    }
    let clamp = |x: f64| x.clamp(lower, upper);
    let (mut a, mut fa) = (x0, checked_eval(f, x0, what)?);
    let mut b = clamp(x0 + step);
    if b == a {
        // x0 sits on a bound and the step points out of the domain.
        b = clamp(x0 - step);
    }
    let mut fb = checked_eval(f, b, what)?;
    let mut n_eval = 2;
    if fb > fa {
        // Walk downhill: from b through a.
        (a, fa, b, fb) = (b, fb, a, fa);
    }
    let ordered = |a: f64, fa: f64, b: f64, fb: f64, c: f64, fc: f64, n_eval: usize| {
        if a <= c {
            MinimumBracket {
                a,
                b,
                c,
                f_a: fa,
                f_b: fb,
                f_c: fc,
                n_eval,
            }
        } else {
            MinimumBracket {
                a: c,
                b,
                c: a,
                f_a: fc,
                f_b: fb,
                f_c: fa,
                n_eval,
            }
        }
    };
    for _ in 0..options.max_expansions {
        let c = clamp(b + GOLDEN_RATIO * (b - a));
        if c == b {
            // f still decreases at the bound: the minimum on the domain is there.
            return Ok(ordered(a, fa, b, fb, b, fb, n_eval));
        }
        let fc = checked_eval(f, c, what)?;
        n_eval += 1;
        if fc >= fb {
            return Ok(ordered(a, fa, b, fb, c, fc, n_eval));
        }
        (a, fa, b, fb) = (b, fb, c, fc);
    }
    Err(Error::numerical(
        what,
        options.max_expansions,
        fb,
        format!(
            "f still decreasing after {} expansions: f({a:e}) = {fa:e} > f({b:e}) = {fb:e}; \
             is the function bounded below?",
            options.max_expansions
        ),
    ))
}

/// Minimises `f` starting from a guess: brackets the minimum with
/// [`bracket_minimum`], then runs Brent's method on the bracket (starting from
/// its best point).
///
/// If the bracket's best point lies on a bound and is lower than anything
/// Brent's method found inside, that bound point is returned.
///
/// # Errors
/// Those of [`bracket_minimum`] and [`brent_minimize`].
///
/// ```
/// use darkprobe_core::optimize::{brent_minimize_from_guess, BracketMinimumOptions, MinimizeOptions1d};
/// // A Poisson negative log-likelihood in the signal s >= 0 with 3 counts on a
/// // background of 1.2: the minimum is at s = 1.8.
/// let nll = |s: f64| Ok((s + 1.2) - 3.0 * (s + 1.2).ln());
/// let bounds = BracketMinimumOptions { lower: Some(0.0), ..Default::default() };
/// let m = brent_minimize_from_guess(nll, 0.0, 0.5, &bounds, &MinimizeOptions1d::default())?;
/// assert!((m.x - 1.8).abs() < 1e-6);
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn brent_minimize_from_guess<F>(
    mut f: F,
    x0: f64,
    step: f64,
    bracket: &BracketMinimumOptions,
    options: &MinimizeOptions1d,
) -> Result<Minimum1d>
where
    F: FnMut(f64) -> Result<f64>,
{
    options.validate()?;
    let br = bracket_core(&mut f, x0, step, bracket)?;
    let inside = br.a < br.b && br.b < br.c;
    let start = inside.then_some((br.b, br.f_b));
    let mut m = brent_min_core(&mut f, br.a, br.c, start, options)?;
    m.n_eval += br.n_eval;
    if !inside && br.f_b < m.f_x {
        m.x = br.b;
        m.f_x = br.f_b;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use proptest::prelude::*;

    #[test]
    fn golden_constants() {
        assert_abs_diff_eq!(GOLDEN_SECTION, (3.0 - 5f64.sqrt()) / 2.0, epsilon = 1e-16);
        assert_abs_diff_eq!(GOLDEN_RATIO, (1.0 + 5f64.sqrt()) / 2.0, epsilon = 1e-15);
    }

    #[test]
    fn quadratic_and_known_minima() {
        let o = MinimizeOptions1d::default();
        let m =
            brent_minimize(|x: f64| Ok(3.0 * (x + 1.5).powi(2) - 2.0), -10.0, 10.0, &o).unwrap();
        assert_abs_diff_eq!(m.x, -1.5, epsilon = 1e-7);
        assert_abs_diff_eq!(m.f_x, -2.0, epsilon = 1e-13);
        // Minimum of x e^{-x}... use -x e^{-x} on [0, 5]: at x = 1, value -1/e.
        let m = brent_minimize(|x: f64| Ok(-x * (-x).exp()), 0.0, 5.0, &o).unwrap();
        assert_abs_diff_eq!(m.x, 1.0, epsilon = 1e-7);
        assert_abs_diff_eq!(m.f_x, -(-1f64).exp(), epsilon = 1e-15);
        // Minimum of Gamma(x) on [1, 2]: x = 1.4616321449683623 (OEIS A030169).
        let m =
            brent_minimize(|x: f64| Ok(statrs::function::gamma::gamma(x)), 1.0, 2.0, &o).unwrap();
        assert_abs_diff_eq!(m.x, 1.461_632_144_968_362_3, epsilon = 1e-7);
        assert_abs_diff_eq!(m.f_x, 0.885_603_194_410_888_7, epsilon = 1e-14);
    }

    #[test]
    fn tighter_tolerance_gives_more_digits_on_an_asymmetric_minimum() {
        // f = x^4 - 3x: minimum where 4x^3 = 3, x = (3/4)^(1/3); quartic terms make
        // the location well-conditioned compared with a pure quadratic.
        let exact = 0.75f64.cbrt();
        let o = MinimizeOptions1d {
            x_tol_rel: 1e-10,
            x_tol_abs: 0.0,
            ..Default::default()
        };
        let m = brent_minimize(|x: f64| Ok(x.powi(4) - 3.0 * x), 0.0, 2.0, &o).unwrap();
        assert_abs_diff_eq!(m.x, exact, epsilon = 1e-7);
        assert!(m.converged && m.n_iter > 0);
    }

    #[test]
    fn minimum_at_an_end_is_approached() {
        let m = brent_minimize(|x: f64| Ok(x), 0.0, 1.0, &MinimizeOptions1d::default()).unwrap();
        assert!(m.x < 1e-8, "{m:?}");
    }

    #[test]
    fn errors() {
        let o = MinimizeOptions1d::default();
        assert!(brent_minimize(|x: f64| Ok(x * x), 1.0, 0.0, &o).is_err());
        let bad = MinimizeOptions1d { max_iter: 0, ..o };
        assert!(brent_minimize(|x: f64| Ok(x * x), -1.0, 1.0, &bad).is_err());
        let err = brent_minimize(
            |x: f64| Ok(if x > 0.3 { f64::NAN } else { x * x }),
            -1.0,
            1.0,
            &o,
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Numerical { ref reason, .. } if reason.contains("NaN")),
            "{err}"
        );
        let few = MinimizeOptions1d { max_iter: 3, ..o };
        let err = brent_minimize(|x: f64| Ok((x - 0.3).powi(2)), -1.0, 1.0, &few).unwrap_err();
        assert!(
            matches!(err, Error::Numerical { iterations: 3, .. }),
            "{err}"
        );
        let allow = MinimizeOptions1d {
            allow_unconverged: true,
            ..few
        };
        let m = brent_minimize(|x: f64| Ok((x - 0.3).powi(2)), -1.0, 1.0, &allow).unwrap();
        assert!(!m.converged && m.n_iter == 3 && m.x > -1.0 && m.x < 1.0);
    }

    #[test]
    fn bracket_walks_downhill_in_either_direction() {
        let o = BracketMinimumOptions::default();
        for (x0, step) in [(0.0, 0.1), (0.0, -0.1), (20.0, 0.1), (20.0, -1.0)] {
            let br = bracket_minimum(|x: f64| Ok((x - 10.0).powi(2)), x0, step, &o).unwrap();
            assert!(br.a < 10.0 && 10.0 < br.c, "{br:?}");
            assert!(br.a < br.b && br.b < br.c);
            assert!(br.f_b <= br.f_a && br.f_b <= br.f_c);
            assert_eq!(br.f_a, (br.a - 10.0).powi(2));
            assert_eq!(br.f_c, (br.c - 10.0).powi(2));
        }
    }

    #[test]
    fn bracket_stops_on_bounds() {
        let o = BracketMinimumOptions {
            lower: Some(0.0),
            upper: Some(5.0),
            ..Default::default()
        };
        // Increasing function: the minimum is on the lower bound.
        let br = bracket_minimum(|x: f64| Ok(x), 3.0, 0.5, &o).unwrap();
        assert_eq!((br.a, br.b), (0.0, 0.0));
        // x0 on the upper bound with a step pointing outside.
        let br = bracket_minimum(|x: f64| Ok((x - 4.0).powi(2)), 5.0, 1.0, &o).unwrap();
        assert!(br.a < 4.0 && 4.0 < br.c);
        assert!(bracket_minimum(|x: f64| Ok(x), 6.0, 0.5, &o).is_err());
        assert!(bracket_minimum(|x: f64| Ok(x), 1.0, 0.0, &o).is_err());
        // Unbounded below.
        let err = bracket_minimum(|x: f64| Ok(-x), 0.0, 1.0, &BracketMinimumOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::Numerical { .. }), "{err}");
    }

    #[test]
    fn from_guess_bounded_minimum_on_bound() {
        let b = BracketMinimumOptions {
            lower: Some(0.0),
            ..Default::default()
        };
        // Poisson NLL with 0 counts: s + bkg, minimum at the bound s = 0.
        let m = brent_minimize_from_guess(
            |s: f64| Ok(s + 1.2),
            1.0,
            0.5,
            &b,
            &MinimizeOptions1d::default(),
        )
        .unwrap();
        assert_eq!(m.x, 0.0);
        assert_abs_diff_eq!(m.f_x, 1.2, epsilon = 0.0);
        let m = brent_minimize_from_guess(
            |x: f64| Ok((x.ln() - 2.0).powi(2)),
            0.5,
            0.1,
            &b,
            &MinimizeOptions1d::default(),
        )
        .unwrap();
        assert_abs_diff_eq!(m.x, 2f64.exp(), epsilon = 1e-6);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn from_guess_finds_quartic_minima(
            x_min in -50.0f64..50.0, scale in 0.1f64..10.0, x0 in -60.0f64..60.0, step in 0.01f64..3.0,
        ) {
            // f = scale (x - x_min)^2 + (x - x_min)^4 has its unique minimum at x_min.
            let f = |x: f64| { let t = x - x_min; Ok(scale * t * t + t.powi(4)) };
            let m = brent_minimize_from_guess(f, x0, step, &BracketMinimumOptions::default(),
                                              &MinimizeOptions1d::default()).unwrap();
            prop_assert!((m.x - x_min).abs() < 1e-6 * (1.0 + x_min.abs()) / scale.sqrt().min(1.0),
                "found {} expected {}", m.x, x_min);
        }
    }
}
