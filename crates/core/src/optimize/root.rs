//! Brent–Dekker root finding and automatic bracket expansion.

use super::checked_eval;
use crate::error::{Error, Result};

/// Stopping rules for [`brent_root`] and [`find_root`].
///
/// Brent's method stops when the bracket around the best estimate $b$ has
/// half-width $\le 2\varepsilon|b| + \mathrm{x\_tol\_rel}\,|b| + \mathrm{x\_tol\_abs}$
/// ($\varepsilon$ the machine epsilon), or when $|f(b)| \le$ `f_tol`.
/// With [`Scale::Log`] the tolerances apply to $\ln x$, so `x_tol_abs` is then a
/// *relative* tolerance on $x$.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RootOptions {
    /// Absolute tolerance on the root (default `1e-14`), `>= 0`.
    pub x_tol_abs: f64,
    /// Relative tolerance on the root (default $4\varepsilon \approx 8.9\times10^{-16}$), `>= 0`.
    pub x_tol_rel: f64,
    /// Stop as soon as $|f| \le$ `f_tol` (default `0`: only an exact zero stops early), `>= 0`.
    pub f_tol: f64,
    /// Maximum number of Brent iterations (default 200), `>= 1`.
    pub max_iter: usize,
}

impl Default for RootOptions {
    fn default() -> Self {
        Self {
            x_tol_abs: 1e-14,
            x_tol_rel: 4.0 * f64::EPSILON,
            f_tol: 0.0,
            max_iter: 200,
        }
    }
}

impl RootOptions {
    fn validate(&self) -> Result<()> {
        check_tol("RootOptions::x_tol_abs", self.x_tol_abs)?;
        check_tol("RootOptions::x_tol_rel", self.x_tol_rel)?;
        check_tol("RootOptions::f_tol", self.f_tol)?;
        if self.max_iter == 0 {
            return Err(Error::invalid_param("RootOptions::max_iter", 0, ">= 1"));
        }
        Ok(())
    }
}

/// A root found by [`brent_root`] or [`find_root`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Root {
    /// The root estimate.
    pub x: f64,
    /// The function value at `x`.
    pub f_x: f64,
    /// Brent iterations performed (0 when an end of the bracket was already a root).
    pub n_iter: usize,
    /// Function evaluations, including those spent on the bracket (and on its expansion for [`find_root`]).
    pub n_eval: usize,
}

/// The coordinate in which a bracket is expanded and the root is polished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Work in $x$ itself.
    Linear,
    /// Work in $\ln x$ (requires $x > 0$): uniform *relative* precision, suited to
    /// quantities spanning many decades such as cross-sections.
    Log,
}

/// Which end(s) of the bracket [`expand_bracket`] may move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The root lies above: slide the bracket upwards, widening it each time.
    Up,
    /// The root lies below: slide the bracket downwards, widening it each time.
    Down,
    /// Unknown: widen on the side where $|f|$ is smaller.
    Both,
}

/// Settings for [`expand_bracket`] and [`find_root_with`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BracketOptions {
    /// Growth factor of the bracket width per expansion (default 2), finite and `> 1`.
    /// With [`Scale::Log`] it multiplies the width in $\ln x$, i.e. the ratio
    /// `hi / lo` is raised to this power.
    pub factor: f64,
    /// Maximum number of expansions (default 60).
    pub max_expansions: usize,
    /// Hard lower limit on $x$ (must be `<= lo`, and `> 0` with [`Scale::Log`]).
    pub lower_limit: Option<f64>,
    /// Hard upper limit on $x$ (must be `>= hi`).
    pub upper_limit: Option<f64>,
}

impl Default for BracketOptions {
    fn default() -> Self {
        Self {
            factor: 2.0,
            max_expansions: 60,
            lower_limit: None,
            upper_limit: None,
        }
    }
}

fn check_tol(name: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid_param(name, v, "finite and >= 0"))
    }
}

/// True when `fa` and `fb` bracket a root (opposite signs or one of them zero).
fn straddles(fa: f64, fb: f64) -> bool {
    fa == 0.0 || fb == 0.0 || (fa < 0.0) != (fb < 0.0)
}

fn check_interval(lo: f64, hi: f64) -> Result<()> {
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
    Ok(())
}

fn same_sign_error(lo: f64, hi: f64, flo: f64, fhi: f64) -> Error {
    Error::invalid_param(
        "bracket",
        format!("[{lo:e}, {hi:e}]"),
        format!(
            "an interval on which f changes sign, but f({lo:e}) = {flo:e} and \
             f({hi:e}) = {fhi:e} have the same sign"
        ),
    )
}

/// Finds a root of `f` in `[lo, hi]` by the Brent–Dekker method.
///
/// Each step tries inverse quadratic interpolation (or the secant step when
/// only two distinct points are known) and falls back to bisection whenever
/// the interpolated point leaves the bracket or fails to shrink it fast
/// enough, so convergence is guaranteed and usually superlinear
/// (Brent 1973, *Algorithms for Minimization without Derivatives*, ch. 4).
///
/// # Errors
/// - [`Error::InvalidParameter`] if `lo`/`hi` are not finite with `lo < hi`, the
///   options are invalid, or `f(lo)` and `f(hi)` have the same sign (the
///   message gives both values);
/// - [`Error::Numerical`] if `f` returns a non-finite value (the message names
///   the $x$) or no convergence within `max_iter`;
/// - any error returned by `f`, unchanged.
///
/// ```
/// use darkprobe_core::optimize::{brent_root, RootOptions};
/// let r = brent_root(|x: f64| Ok(x.cos() - x), 0.0, 1.0, &RootOptions::default())?;
/// assert!((r.x - 0.739_085_133_215_160_7).abs() < 1e-14);
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn brent_root<F>(mut f: F, lo: f64, hi: f64, options: &RootOptions) -> Result<Root>
where
    F: FnMut(f64) -> Result<f64>,
{
    check_interval(lo, hi)?;
    options.validate()?;
    let what = "Brent root finding";
    let mut g = |x: f64| checked_eval(&mut f, x, what);
    let flo = g(lo)?;
    let fhi = g(hi)?;
    if !straddles(flo, fhi) {
        return Err(same_sign_error(lo, hi, flo, fhi));
    }
    brent_core(&mut g, lo, flo, hi, fhi, options, 2, what)
}

/// The Brent–Dekker iteration on a bracket `[a, b]` with known values
/// `fa`, `fb` of opposite sign (or one zero). `g` must already reject
/// non-finite values. `n_eval` counts evaluations already spent.
#[allow(clippy::too_many_arguments)]
fn brent_core<G>(
    g: &mut G,
    a0: f64,
    fa0: f64,
    b0: f64,
    fb0: f64,
    options: &RootOptions,
    mut n_eval: usize,
    what: &str,
) -> Result<Root>
where
    G: FnMut(f64) -> Result<f64>,
{
    if fa0 == 0.0 {
        return Ok(Root {
            x: a0,
            f_x: fa0,
            n_iter: 0,
            n_eval,
        });
    }
    if fb0 == 0.0 {
        return Ok(Root {
            x: b0,
            f_x: fb0,
            n_iter: 0,
            n_eval,
        });
    }
    // b: best estimate; a: previous b; c: the point with f(c) of sign opposite to f(b).
    let (mut a, mut fa, mut b, mut fb) = (a0, fa0, b0, fb0);
    let (mut c, mut fc) = (a, fa);
    let mut d = b - a;
    let mut e = d;
    for iter in 1..=options.max_iter {
        if (fb > 0.0) == (fc > 0.0) {
            c = a;
            fc = fa;
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol = 2.0 * f64::EPSILON * b.abs()
            + options.x_tol_rel * b.abs()
            + 0.5 * options.x_tol_abs
            + f64::MIN_POSITIVE;
        let m = 0.5 * (c - b);
        if m.abs() <= tol || fb == 0.0 || fb.abs() <= options.f_tol {
            return Ok(Root {
                x: b,
                f_x: fb,
                n_iter: iter - 1,
                n_eval,
            });
        }
        if e.abs() < tol || fa.abs() <= fb.abs() {
            // The last step was too small, or did not reduce |f|: bisect.
            d = m;
            e = m;
        } else {
            let s = fb / fa;
            let (mut p, mut q);
            if a == c {
                // Only two distinct points: secant step.
                p = 2.0 * m * s;
                q = 1.0 - s;
            } else {
                // Inverse quadratic interpolation through (a, fa), (b, fb), (c, fc).
                let qq = fa / fc;
                let r = fb / fc;
                p = s * (2.0 * m * qq * (qq - r) - (b - a) * (r - 1.0));
                q = (qq - 1.0) * (r - 1.0) * (s - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            let e_prev = e;
            e = d;
            if 2.0 * p < 3.0 * m * q - (tol * q).abs() && p < (0.5 * e_prev * q).abs() {
                d = p / q;
            } else {
                d = m;
                e = m;
            }
        }
        a = b;
        fa = fb;
        b += if d.abs() > tol { d } else { tol.copysign(m) };
        fb = g(b)?;
        n_eval += 1;
    }
    Err(Error::numerical(
        what,
        options.max_iter,
        fb,
        format!(
            "no convergence within max_iter = {}: bracket still [{:e}, {:e}]",
            options.max_iter,
            b.min(c),
            b.max(c)
        ),
    ))
}

/// A bracket found by expansion, in the working coordinate, with the $x$
/// values and function values at its ends.
struct Expanded {
    lo: f64,
    hi: f64,
    f_lo: f64,
    f_hi: f64,
    n_eval: usize,
}

fn validate_bracket_setup(
    lo: f64,
    hi: f64,
    scale: Scale,
    options: &BracketOptions,
) -> Result<(f64, f64)> {
    check_interval(lo, hi)?;
    if scale == Scale::Log && lo <= 0.0 {
        return Err(Error::invalid_param("lo", lo, "> 0 with Scale::Log"));
    }
    if !(options.factor.is_finite() && options.factor > 1.0) {
        return Err(Error::invalid_param(
            "BracketOptions::factor",
            options.factor,
            "finite and > 1",
        ));
    }
    // Without explicit limits, stop where x would overflow (or underflow to 0 in log scale).
    let lower = match options.lower_limit {
        None if scale == Scale::Log => f64::MIN_POSITIVE,
        None => -f64::MAX,
        Some(l) if l.is_finite() && l <= lo && (scale == Scale::Linear || l > 0.0) => l,
        Some(l) => {
            let allowed = if scale == Scale::Log {
                format!("finite, > 0 and <= lo = {lo}")
            } else {
                format!("finite and <= lo = {lo}")
            };
            return Err(Error::invalid_param(
                "BracketOptions::lower_limit",
                l,
                allowed,
            ));
        }
    };
    let upper = match options.upper_limit {
        None => f64::MAX,
        Some(u) if u.is_finite() && u >= hi => u,
        Some(u) => {
            return Err(Error::invalid_param(
                "BracketOptions::upper_limit",
                u,
                format!("finite and >= hi = {hi}"),
            ))
        }
    };
    Ok((lower, upper))
}

fn expand_core<F>(
    f: &mut F,
    lo: f64,
    hi: f64,
    scale: Scale,
    direction: Direction,
    options: &BracketOptions,
) -> Result<Expanded>
where
    F: FnMut(f64) -> Result<f64>,
{
    let (lower, upper) = validate_bracket_setup(lo, hi, scale, options)?;
    let what = "bracket expansion";
    // Working coordinate y = x or ln x; `to_x` maps back, `limits` are in y.
    type Coord = fn(f64) -> f64;
    let (to_y, to_x): (Coord, Coord) = match scale {
        Scale::Linear => (|x| x, |y| y),
        Scale::Log => (f64::ln, f64::exp),
    };
    let (y_min, y_max) = (to_y(lower), to_y(upper));
    let (mut xa, mut xb) = (lo, hi);
    let (mut ya, mut yb) = (to_y(lo), to_y(hi));
    let mut fa = checked_eval(f, xa, what)?;
    let mut fb = checked_eval(f, xb, what)?;
    let mut n_eval = 2;
    let mut expansions = 0;
    while !straddles(fa, fb) {
        let up_blocked = xb >= upper;
        let down_blocked = xa <= lower;
        let go_up = match direction {
            Direction::Up => !up_blocked,
            Direction::Down => false,
            Direction::Both => !up_blocked && (down_blocked || fb.abs() <= fa.abs()),
        };
        let go_down =
            !go_up && !down_blocked && matches!(direction, Direction::Down | Direction::Both);
        if expansions >= options.max_expansions || !(go_up || go_down) {
            let reason = if expansions >= options.max_expansions {
                format!("no sign change after {expansions} expansions")
            } else {
                "reached the hard limit(s) without a sign change".to_string()
            };
            return Err(Error::numerical(
                what,
                expansions,
                fb,
                format!("{reason}: last interval [{xa:e}, {xb:e}] with f = {fa:e}, {fb:e}"),
            ));
        }
        let step = options.factor * (yb - ya);
        if go_up {
            let y_new = (yb + step).min(y_max);
            let x_new = if y_new >= y_max { upper } else { to_x(y_new) };
            if direction == Direction::Up {
                // Slide: the old upper end becomes the lower end (same sign of f).
                (xa, ya, fa) = (xb, yb, fb);
            }
            (xb, yb) = (x_new, y_new);
            fb = checked_eval(f, xb, what)?;
        } else {
            let y_new = (ya - step).max(y_min);
            let x_new = if y_new <= y_min { lower } else { to_x(y_new) };
            if direction == Direction::Down {
                (xb, yb, fb) = (xa, ya, fa);
            }
            (xa, ya) = (x_new, y_new);
            fa = checked_eval(f, xa, what)?;
        }
        n_eval += 1;
        expansions += 1;
    }
    Ok(Expanded {
        lo: xa,
        hi: xb,
        f_lo: fa,
        f_hi: fb,
        n_eval,
    })
}

/// Grows `[lo, hi]` until `f` changes sign over it, and returns the new bracket.
///
/// With [`Direction::Up`] the bracket slides upwards: the old upper end becomes
/// the new lower end and the width is multiplied by `factor` each time
/// (so the returned bracket is narrow and contains the first sign change
/// found); [`Direction::Down`] mirrors this; [`Direction::Both`] keeps both ends
/// and widens on the side where $|f|$ is smaller (Numerical Recipes, 3rd ed.,
/// sec. 9.1). With [`Scale::Log`] the same is done in $\ln x$, which suits
/// strictly positive quantities spanning many decades.
/// The expansion never passes `lower_limit`/`upper_limit`.
///
/// # Errors
/// - [`Error::InvalidParameter`] for a bad interval (`lo >= hi`, non-finite,
///   `lo <= 0` with [`Scale::Log`]) or bad options;
/// - [`Error::Numerical`] when no sign change is found within `max_expansions`
///   or before the hard limits (the message gives the last interval and the
///   values of `f` there), or when `f` returns a non-finite value;
/// - any error returned by `f`, unchanged.
///
/// ```
/// use darkprobe_core::optimize::{expand_bracket, BracketOptions, Direction, Scale};
/// // Root of ln(x / 3e-26) starting from a bracket far below it.
/// let f = |x: f64| Ok((x / 3e-26).ln());
/// let (lo, hi) = expand_bracket(f, 1e-30, 2e-30, Scale::Log, Direction::Up,
///                               &BracketOptions::default())?;
/// assert!(lo <= 3e-26 && 3e-26 <= hi);
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn expand_bracket<F>(
    mut f: F,
    lo: f64,
    hi: f64,
    scale: Scale,
    direction: Direction,
    options: &BracketOptions,
) -> Result<(f64, f64)>
where
    F: FnMut(f64) -> Result<f64>,
{
    let e = expand_core(&mut f, lo, hi, scale, direction, options)?;
    Ok((e.lo, e.hi))
}

/// Expands `[lo, hi]` with default [`BracketOptions`], then polishes the root
/// with Brent's method; see [`find_root_with`].
///
/// # Errors
/// As [`find_root_with`].
///
/// ```
/// use darkprobe_core::optimize::{find_root, Direction, RootOptions, Scale};
/// // A cross-section where the expected signal reaches 2.3 events.
/// let exposure = 1.7e26;
/// let r = find_root(|s: f64| Ok(s * exposure - 2.3), 1e-30, 1e-29,
///                   Scale::Log, Direction::Up, &RootOptions::default())?;
/// assert!((r.x / (2.3 / exposure) - 1.0).abs() < 1e-12);
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn find_root<F>(
    f: F,
    lo: f64,
    hi: f64,
    scale: Scale,
    direction: Direction,
    options: &RootOptions,
) -> Result<Root>
where
    F: FnMut(f64) -> Result<f64>,
{
    find_root_with(
        f,
        lo,
        hi,
        scale,
        direction,
        &BracketOptions::default(),
        options,
    )
}

/// Expands `[lo, hi]` (see [`expand_bracket`]) until `f` changes sign, then
/// finds the root with Brent's method (see [`brent_root`]).
///
/// With [`Scale::Log`] Brent's method runs on $t = \ln x$, i.e. on
/// $g(t) = f(e^t)$, so the tolerances in `root` apply to $\ln x$ and the
/// precision is uniform in relative terms. Function values are never
/// re-computed at the ends of the expanded bracket.
///
/// # Errors
/// Those of [`expand_bracket`] and [`brent_root`].
pub fn find_root_with<F>(
    mut f: F,
    lo: f64,
    hi: f64,
    scale: Scale,
    direction: Direction,
    bracket: &BracketOptions,
    root: &RootOptions,
) -> Result<Root>
where
    F: FnMut(f64) -> Result<f64>,
{
    root.validate()?;
    let e = expand_core(&mut f, lo, hi, scale, direction, bracket)?;
    let what = "Brent root finding";
    match scale {
        Scale::Linear => {
            let mut g = |x: f64| checked_eval(&mut f, x, what);
            brent_core(&mut g, e.lo, e.f_lo, e.hi, e.f_hi, root, e.n_eval, what)
        }
        Scale::Log => {
            let (t_lo, t_hi) = (e.lo.ln(), e.hi.ln());
            // Map t back to x, returning the exact bracket ends where t is an end.
            let to_x = |t: f64| {
                if t <= t_lo {
                    e.lo
                } else if t >= t_hi {
                    e.hi
                } else {
                    t.exp().clamp(e.lo, e.hi)
                }
            };
            let mut g = |t: f64| checked_eval(&mut f, to_x(t), what);
            let r = brent_core(&mut g, t_lo, e.f_lo, t_hi, e.f_hi, root, e.n_eval, what)?;
            Ok(Root { x: to_x(r.x), ..r })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use proptest::prelude::*;
    use std::cell::Cell;

    #[test]
    fn cos_x_minus_x() {
        // Dottie number, reference value from OEIS A003957.
        let r = brent_root(|x: f64| Ok(x.cos() - x), 0.0, 1.0, &RootOptions::default()).unwrap();
        assert_abs_diff_eq!(r.x, 0.739_085_133_215_160_7, epsilon = 2e-15);
        assert!(r.f_x.abs() < 2e-14, "{r:?}");
        assert!(r.n_iter < 12, "{r:?}");
        assert_eq!(r.n_eval, r.n_iter + 2);
    }

    #[test]
    fn wallis_cubic() {
        // x^3 - 2x - 5 = 0, Wallis' classic example; real root from Cardano's formula:
        // x = cbrt(5/2 + sqrt(643/108)) + cbrt(5/2 - sqrt(643/108)).
        let d = (643.0f64 / 108.0).sqrt();
        let cardano = (2.5 + d).cbrt() + (2.5 - d).cbrt();
        assert_abs_diff_eq!(cardano, 2.094_551_481_542_326_5, epsilon = 1e-15);
        let r = brent_root(
            |x: f64| Ok(x * x * x - 2.0 * x - 5.0),
            2.0,
            3.0,
            &RootOptions::default(),
        )
        .unwrap();
        assert_abs_diff_eq!(r.x, 2.094_551_481_542_326_5, epsilon = 4e-15);
    }

    #[test]
    fn exact_zero_at_an_end_returns_immediately() {
        let r = brent_root(|x: f64| Ok(x - 1.0), 1.0, 5.0, &RootOptions::default()).unwrap();
        assert_eq!((r.x, r.n_iter, r.n_eval), (1.0, 0, 2));
    }

    #[test]
    fn f_tol_stops_early() {
        let loose = RootOptions {
            f_tol: 1e-3,
            ..Default::default()
        };
        let r = brent_root(|x: f64| Ok(x.cos() - x), 0.0, 1.0, &loose).unwrap();
        assert!(r.f_x.abs() <= 1e-3);
        let tight =
            brent_root(|x: f64| Ok(x.cos() - x), 0.0, 1.0, &RootOptions::default()).unwrap();
        assert!(r.n_eval < tight.n_eval);
    }

    #[test]
    fn same_sign_bracket_is_an_error_with_both_values() {
        let err =
            brent_root(|x: f64| Ok(x * x + 1.0), -1.0, 2.0, &RootOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("same sign"), "{msg}");
        assert!(msg.contains("2e0") && msg.contains("5e0"), "{msg}");
        assert!(err.is_bad_input());
    }

    #[test]
    fn nan_is_a_numerical_error_naming_x() {
        let err = brent_root(
            |x: f64| Ok(if x > 0.5 { f64::NAN } else { x - 0.7 }),
            0.0,
            1.0,
            &RootOptions::default(),
        )
        .unwrap_err();
        match err {
            Error::Numerical { reason, what, .. } => {
                assert!(
                    reason.contains("NaN") && reason.contains("x = 1"),
                    "{reason}"
                );
                assert_eq!(what, "Brent root finding");
            }
            e => panic!("wrong error {e}"),
        }
    }

    #[test]
    fn user_errors_propagate_unchanged() {
        let err = brent_root(
            |_x: f64| Err(Error::invalid_param("inner", 1.0, "none")),
            0.0,
            1.0,
            &RootOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { ref name, .. } if name == "inner"));
    }

    #[test]
    fn invalid_inputs_are_rejected() {
        let f = |x: f64| Ok(x);
        let o = RootOptions::default();
        assert!(brent_root(f, 1.0, 1.0, &o).is_err());
        assert!(brent_root(f, f64::NAN, 1.0, &o).is_err());
        assert!(brent_root(f, -1.0, f64::INFINITY, &o).is_err());
        let bad = RootOptions {
            x_tol_abs: -1.0,
            ..o
        };
        assert!(brent_root(f, -1.0, 1.0, &bad).is_err());
        let bad = RootOptions { max_iter: 0, ..o };
        assert!(brent_root(f, -1.0, 1.0, &bad).is_err());
    }

    #[test]
    fn max_iter_gives_numerical_error() {
        let o = RootOptions {
            max_iter: 2,
            ..Default::default()
        };
        let err = brent_root(|x: f64| Ok(x.cos() - x), 0.0, 1.0, &o).unwrap_err();
        assert!(
            matches!(err, Error::Numerical { iterations: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn hard_function_converges_with_bisection_fallback() {
        // A step-like function with a tiny slope everywhere except near the root:
        // interpolation is poor, bisection keeps the bracket shrinking.
        let f = |x: f64| Ok((1e3 * (x - 0.3)).tanh() + 1e-9 * x);
        let r = brent_root(f, -10.0, 10.0, &RootOptions::default()).unwrap();
        // Root of tanh(1e3 (x - 0.3)) = -1e-9 x: x = 0.3 - 1e-12 * 0.3 to first order.
        assert_abs_diff_eq!(r.x, 0.3 - 3e-13, epsilon = 1e-14);
        assert!(r.n_iter < 80);
    }

    #[test]
    fn log_space_root_at_1e_minus_26() {
        let target = 1.234_567e-26;
        let calls = Cell::new(0);
        let f = |s: f64| {
            calls.set(calls.get() + 1);
            Ok((s / target).powf(0.7) - 1.0)
        };
        let r = find_root(
            f,
            1e-30,
            2e-30,
            Scale::Log,
            Direction::Up,
            &RootOptions::default(),
        )
        .unwrap();
        assert_abs_diff_eq!(r.x / target, 1.0, epsilon = 1e-13);
        assert_eq!(r.n_eval, calls.get());
    }

    #[test]
    fn linear_expansion_from_a_too_small_interval() {
        for dir in [Direction::Up, Direction::Both] {
            let (lo, hi) = expand_bracket(
                |x: f64| Ok(x - 100.0),
                0.0,
                0.1,
                Scale::Linear,
                dir,
                &BracketOptions::default(),
            )
            .unwrap();
            assert!(lo <= 100.0 && 100.0 <= hi, "{dir:?}: [{lo}, {hi}]");
        }
        // Sliding upwards: widths 0.1, 0.2, 0.4, ... so the bracket is the first
        // segment past 100: ends are 0.1 (2^k - 1) for consecutive k.
        let (lo, hi) = expand_bracket(
            |x: f64| Ok(x - 100.0),
            0.0,
            0.1,
            Scale::Linear,
            Direction::Up,
            &BracketOptions::default(),
        )
        .unwrap();
        assert_abs_diff_eq!(lo, 0.1 * 511.0, epsilon = 1e-9);
        assert_abs_diff_eq!(hi, 0.1 * 1023.0, epsilon = 1e-9);
        let (lo, hi) = expand_bracket(
            |x: f64| Ok(x + 7.0),
            0.0,
            1.0,
            Scale::Linear,
            Direction::Down,
            &BracketOptions::default(),
        )
        .unwrap();
        assert!(lo <= -7.0 && (-7.0..=0.0).contains(&hi));
    }

    #[test]
    fn expansion_respects_limits_and_reports_them() {
        let opts = BracketOptions {
            upper_limit: Some(50.0),
            ..Default::default()
        };
        let err = expand_bracket(
            |x: f64| Ok(x - 100.0),
            0.0,
            0.1,
            Scale::Linear,
            Direction::Up,
            &opts,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("hard limit") && msg.contains("5e1"), "{msg}");
        // A root exactly reachable at the limit is found.
        let opts = BracketOptions {
            upper_limit: Some(100.0),
            ..Default::default()
        };
        let (_, hi) = expand_bracket(
            |x: f64| Ok(x - 100.0),
            0.0,
            0.1,
            Scale::Linear,
            Direction::Up,
            &opts,
        )
        .unwrap();
        assert_eq!(hi, 100.0);
        let opts = BracketOptions {
            max_expansions: 3,
            ..Default::default()
        };
        let err = expand_bracket(
            |x: f64| Ok(x - 100.0),
            0.0,
            0.1,
            Scale::Linear,
            Direction::Up,
            &opts,
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Numerical { iterations: 3, .. }),
            "{err}"
        );
        // Log scale requires a positive lower limit.
        let opts = BracketOptions {
            lower_limit: Some(0.0),
            ..Default::default()
        };
        assert!(
            expand_bracket(|x: f64| Ok(x), 1.0, 2.0, Scale::Log, Direction::Down, &opts).is_err()
        );
        assert!(expand_bracket(
            |x: f64| Ok(x),
            -1.0,
            2.0,
            Scale::Log,
            Direction::Up,
            &BracketOptions::default()
        )
        .is_err());
    }

    #[test]
    fn log_expansion_downwards_and_both() {
        let target = 4e-24;
        for dir in [Direction::Down, Direction::Both] {
            let r = find_root(
                |s: f64| Ok((s / target).ln()),
                1.0,
                10.0,
                Scale::Log,
                dir,
                &RootOptions::default(),
            )
            .unwrap();
            assert_abs_diff_eq!(r.x / target, 1.0, epsilon = 1e-13);
        }
    }

    /// Plain bisection, used as the independent reference.
    fn bisect(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
        let flo = f(lo);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if (f(mid) < 0.0) == (flo < 0.0) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn brent_matches_bisection_on_monotone_cubics(
            a in 0.01f64..5.0, b in -3.0f64..3.0, c in 0.0f64..5.0, d in -50.0f64..50.0,
        ) {
            // f' = 3a x^2 + 2b x + c > 0 when b^2 < 3ac; shift c to make it so.
            let c = c + b * b / (3.0 * a) + 0.01;
            let f = move |x: f64| ((a * x + b) * x + c) * x + d;
            let (lo, hi) = (-20.0, 20.0);
            prop_assume!(f(lo) < 0.0 && f(hi) > 0.0);
            let reference = bisect(f, lo, hi);
            let r = brent_root(|x| Ok(f(x)), lo, hi, &RootOptions::default()).unwrap();
            prop_assert!((r.x - reference).abs() <= 1e-13 * (1.0 + reference.abs()),
                "brent {} vs bisection {}", r.x, reference);
        }
    }
}
