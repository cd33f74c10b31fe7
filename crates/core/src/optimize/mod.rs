//! Root finding and minimisation: Brent's methods in one dimension, bounded
//! L-BFGS and Nelder–Mead in $n$ dimensions.
//!
//! All objectives are *fallible*: closures return [`Result<f64>`](crate::Result),
//! so an objective that itself runs a fit (a profile likelihood) can pass its
//! errors up; they reach the caller unchanged. A NaN (or another non-finite
//! value where a finite one is needed) becomes an [`Error::Numerical`]
//! naming the procedure and the $x$ where it appeared. Nothing here panics on
//! user input, and non-convergence is an error value.
//!
//! # Roots
//! [`brent_root`] implements the Brent–Dekker method (R. P. Brent 1973,
//! *Algorithms for Minimization without Derivatives*, ch. 4; see also
//! Numerical Recipes, 3rd ed., sec. 9.3): on a bracket $[a, b]$ with
//! $f(a) f(b) \le 0$ it combines inverse quadratic interpolation
//! $x = \sum_i x_i \prod_{j\ne i} f_j/(f_j - f_i)$ over the last three points,
//! the secant step, and bisection, keeping a sign change at every step. It
//! converges whenever $f$ is continuous, superlinearly for smooth $f$.
//!
//! [`expand_bracket`] grows a bracket geometrically until $f$ changes sign;
//! [`find_root`] expands and then polishes. With [`Scale::Log`] both work in
//! $t = \ln x$ (for $x > 0$), so that cross-sections spanning
//! $10^{-30}$–$10^{-20}$ are found with uniform relative precision.
//!
//! # One-dimensional minima
//! [`brent_minimize`] is Brent's method (Brent 1973, ch. 5): golden-section
//! steps, shrinking the bracket by $(3-\sqrt5)/2$, alternated with the vertex
//! of the parabola through the three best points
//! $$x - \tfrac12\,\frac{(x-w)^2[f(x)-f(v)] - (x-v)^2[f(x)-f(w)]}{(x-w)[f(x)-f(v)] - (x-v)[f(x)-f(w)]}.$$
//! [`bracket_minimum`] walks downhill from a guess with steps growing by the
//! golden ratio $\varphi = (1+\sqrt5)/2$, within optional bounds, and
//! [`brent_minimize_from_guess`] chains the two.
//!
//! # Bounded minimisation in $n$ dimensions
//! [`minimize`] uses the `argmin` crate: L-BFGS (Nocedal & Wright 2006,
//! *Numerical Optimization*, sec. 7.2; memory 7) with the Moré–Thuente line
//! search when the [`Objective`] has a gradient, the Nelder–Mead simplex
//! method (Nelder & Mead 1965, *Comput. J.* 7, 308) otherwise.
//!
//! Bounds are enforced by a smooth change of variables $x_i = T_i(u_i)$ with
//! unconstrained $u_i$; the solvers work in $u$ and the gradient follows by
//! the chain rule $\partial f/\partial u_i = (\partial f/\partial x_i)\,T_i'(u_i)$:
//!
//! | bound | $x = T(u)$ | $T'(u)$ |
//! | --- | --- | --- |
//! | none | $u$ | $1$ |
//! | $x \ge l$ | $l + \ln(1+e^u)$ | $\sigma(u)$ |
//! | $x \le h$ | $h - \ln(1+e^{-u})$ | $\sigma(-u)$ |
//! | $l \le x \le h$ | $l + (h-l)\,\sigma(u)$ | $(h-l)\,\sigma(u)\,\sigma(-u)$ |
//!
//! with $\sigma(u) = 1/(1+e^{-u})$. The softplus map is linear far from the
//! bound and logarithmic close to it, so small positive parameters keep
//! relative precision.
//!
//! Caveats of the transformation, and how they are handled:
//! - a starting value exactly on a bound has no finite $u$: it is moved inside
//!   by [`BOUND_NUDGE`] $= 10^{-3}$ times the bound's scale $s$ (the width
//!   $h - l$ of a two-sided bound, $\max(1, |b|)$ for a one-sided bound $b$).
//! - near a bound $T'(u)$ is tiny, so $f$ hardly depends on $u$ there: a
//!   solver can stop with a parameter stranded in such a flat tail (the
//!   L-BFGS gradient test applies to $\partial f/\partial u$). Therefore,
//!   after convergence, parameters closer than $10^{-3} s$ to a bound are
//!   moved back to that distance and the solver is restarted; the best point
//!   over all runs is kept, and restarts continue while they improve $f$ by
//!   more than the tolerance (at most 8). Then each parameter closer than
//!   $10^{-2} s$ to a bound is minimised alone, in $x$ directly, by Brent's
//!   method between the bound and as far on the other side of its value; if
//!   that lowers $f$ beyond the tolerance the solver restarts from there (this
//!   catches optima just inside a bound, where $f(u)$ is nearly flat).
//! - a bound is reached only as $u \to \pm\infty$, so an optimum *on* a bound
//!   is approached asymptotically. At the end, every parameter within
//!   $10^{-3} s$ of a bound is tried exactly on the bound and placed there if
//!   that does not increase $f$; those parameters are flagged in
//!   [`MinimumNd::at_bound`]. The result is always clamped into the bounds.
//!
//! Stopping: L-BFGS stops when $\lVert\partial f/\partial u\rVert_2 <$
//! `grad_tol` or an iteration changes $f$ by less than
//! `f_tol`$\cdot\max(1, |f|)$; Nelder–Mead when the standard deviation of $f$
//! over the simplex falls below that. Nelder–Mead is always restarted once
//! from its best point with a fresh simplex (it can stall on a collapsed
//! simplex), and again while restarts improve $f$. An L-BFGS run that stops on
//! the change of $f$ with a gradient norm still above `grad_tol` is restarted
//! with an empty memory while that makes progress (a poor quasi-Newton
//! direction can give a negligible step far from the optimum; seen with
//! proptest-generated quadratics). When the L-BFGS line search
//! fails it is restarted with an empty memory while that makes progress; a
//! failure without progress counts as converged only if the gradient norm is
//! below $\sqrt{\mathrm{grad\_tol}}$. Nelder–Mead accepts $+\infty$ from the
//! objective (treated as "infeasible, worse than anything"); L-BFGS needs
//! finite values and gradients everywhere it looks, so give it bounds that
//! keep the objective defined.
//!
//! [`Method::LbfgsB`] is a projected L-BFGS on the box instead (in the spirit
//! of L-BFGS-B, Byrd, Lu, Nocedal & Zhu 1995, *SIAM J. Sci. Comput.* 16,
//! 1190, without its generalised Cauchy point): no change of variables; the
//! parameters on a bound whose gradient component points out of the box
//! form the active set and stay there; the two-loop recursion runs on the
//! others; the Moré–Thuente line search is confined to
//! $[0, \alpha_\mathrm{max}]$, the largest step inside the box, so a bound
//! is reached exactly; the first step along $-g$ has length
//! $\min(1, 1/\lVert g\rVert)$. It stops when the norm of the projected
//! gradient (the free components) is below `grad_tol` or a step changes $f$
//! by less than `f_tol`$\cdot\max(1, |f|)$, with no restarts. Optima on a
//! bound (GP hyperparameters at a limit of their box) are reached in a
//! fraction of the evaluations the transformation needs.
//!
//! ```
//! use darkprobe_core::optimize::{minimize, Bound, MinimizeOptions, WithGradient};
//! // Rosenbrock's function with its gradient; minimum 0 at (1, 1).
//! let rosen = WithGradient(|p: &[f64], g: &mut [f64]| {
//!     let (x, y) = (p[0], p[1]);
//!     g[0] = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x);
//!     g[1] = 200.0 * (y - x * x);
//!     Ok((1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2))
//! });
//! let m = minimize(&rosen, &[-1.2, 1.0], &[], &MinimizeOptions::default())?;
//! assert!(m.converged && (m.x[0] - 1.0).abs() < 1e-6 && (m.x[1] - 1.0).abs() < 1e-6);
//! # Ok::<(), darkprobe_core::Error>(())
//! ```

mod min1d;
mod nd;
mod root;

pub use min1d::{
    bracket_minimum, brent_minimize, brent_minimize_from_guess, BracketMinimumOptions,
    MinimizeOptions1d, Minimum1d, MinimumBracket,
};
pub use nd::{
    minimize, Bound, Method, MinimizeOptions, MinimumNd, Objective, WithGradient, BOUND_NUDGE,
};
pub use root::{
    brent_root, expand_bracket, find_root, find_root_with, BracketOptions, Direction, Root,
    RootOptions, Scale,
};

use crate::error::{Error, Result};

/// Evaluates `f(x)`, turning a non-finite value into [`Error::Numerical`]
/// that names `what` and `x`; errors from `f` pass through unchanged.
fn checked_eval<F>(f: &mut F, x: f64, what: &str) -> Result<f64>
where
    F: FnMut(f64) -> Result<f64>,
{
    let v = f(x)?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::numerical(
            what,
            0,
            v,
            format!("the function returned {v} at x = {x:e}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    /// On/off Poisson problem: n1 counts with mean s + b, n2 with mean tau b.
    const N1: f64 = 12.0;
    const N2: f64 = 20.0;
    const TAU: f64 = 4.0;

    fn nll(s: f64, b: f64) -> f64 {
        let (mu1, mu2) = (s + b, TAU * b);
        mu1 - N1 * mu1.ln() + mu2 - N2 * mu2.ln()
    }

    /// The conditional MLE of b for fixed s, in closed form: the positive root
    /// of (1 + tau) b^2 + ((1 + tau) s - n1 - n2) b - n2 s = 0.
    fn b_hat_hat(s: f64) -> f64 {
        let a = 1.0 + TAU;
        let bq = a * s - N1 - N2;
        (-bq + (bq * bq + 4.0 * a * N2 * s).sqrt()) / (2.0 * a)
    }

    #[test]
    fn profile_likelihood_upper_limit_with_nested_fits() {
        // Outer: root of 2 [NLL_p(s) - NLL_min] - 2.706 in s > s_hat, where the
        // profile NLL_p(s) = min_b NLL(s, b) is itself a bounded minimisation.
        let (s_hat, b_hat) = (N1 - N2 / TAU, N2 / TAU);
        let nll_min = nll(s_hat, b_hat);
        let profile = |s: f64| -> Result<f64> {
            let obj = WithGradient(|p: &[f64], g: &mut [f64]| {
                g[0] = 1.0 - N1 / (s + p[0]) + TAU - N2 / p[0];
                Ok(nll(s, p[0]))
            });
            let m = minimize(
                &obj,
                &[b_hat],
                &[Bound::at_least(0.0)],
                &MinimizeOptions::default(),
            )?;
            Ok(2.0 * (m.f_x - nll_min) - 2.706)
        };
        let r = find_root(
            profile,
            s_hat + 0.1,
            s_hat + 1.0,
            Scale::Linear,
            Direction::Up,
            &RootOptions {
                x_tol_abs: 1e-9,
                ..Default::default()
            },
        )
        .unwrap();
        // Independent reference: bisection on the closed-form profile.
        let exact = |s: f64| 2.0 * (nll(s, b_hat_hat(s)) - nll_min) - 2.706;
        let (mut lo, mut hi) = (s_hat, s_hat + 50.0);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if exact(mid) < 0.0 {
                lo = mid
            } else {
                hi = mid
            }
        }
        assert_abs_diff_eq!(r.x, 0.5 * (lo + hi), epsilon = 1e-6);
        // Errors inside the inner fit reach the outer caller unchanged.
        let failing = |s: f64| -> Result<f64> {
            let obj = |p: &[f64]| {
                if s > 9.0 {
                    Err(Error::empty("inner sample", "none"))
                } else {
                    Ok(nll(s, p[0]))
                }
            };
            let m = minimize(
                &obj,
                &[b_hat],
                &[Bound::at_least(0.0)],
                &MinimizeOptions::default(),
            )?;
            Ok(2.0 * (m.f_x - nll_min) - 100.0)
        };
        let err = find_root(
            failing,
            s_hat + 0.1,
            s_hat + 1.0,
            Scale::Linear,
            Direction::Up,
            &RootOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Empty { .. }), "{err}");
    }
}
