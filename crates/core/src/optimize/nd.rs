//! Bounded N-dimensional minimisation over `argmin`: L-BFGS with an analytic
//! gradient, Nelder–Mead without.

use std::cell::{Cell, RefCell};

use argmin::core::{CostFunction, Executor, Gradient, LineSearch, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::LBFGS;

use super::min1d::{brent_minimize, MinimizeOptions1d};
use crate::error::{Error, Result};

/// Number of correction pairs kept by L-BFGS.
const LBFGS_MEMORY: usize = 7;
/// A starting value on a bound is moved inside by this fraction of the
/// bound's scale (the width for two-sided bounds, `max(1, |bound|)` otherwise).
pub const BOUND_NUDGE: f64 = 1e-3;
/// Components closer than this fraction of the bound's scale to a bound are
/// tried exactly on the bound at the end.
const SNAP_CANDIDATE: f64 = 1e-3;
/// Maximum number of solver restarts.
const MAX_RESTARTS: usize = 8;

/// A function to minimise, $f: \mathbb{R}^n \to \mathbb{R}$, optionally with
/// its gradient.
///
/// Closures `Fn(&[f64]) -> Result<f64>` implement it (without gradient); wrap
/// a closure that also fills the gradient in [`WithGradient`]. Evaluation is
/// fallible, so an objective that itself runs a fit can pass its errors up.
pub trait Objective {
    /// $f(x)$.
    ///
    /// # Errors
    /// Whatever the objective considers a failure; it is passed to the caller
    /// of [`minimize`] unchanged.
    fn value(&self, x: &[f64]) -> Result<f64>;

    /// $f(x)$, writing $\partial f/\partial x_i$ into `grad` (same length as `x`).
    ///
    /// # Errors
    /// The default implementation always fails: it is only called when
    /// [`has_gradient`](Objective::has_gradient) is `true`.
    fn value_and_gradient(&self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
        let _ = (x, grad);
        Err(Error::invalid_param(
            "Objective::value_and_gradient",
            "not implemented",
            "an implementation when has_gradient() returns true",
        ))
    }

    /// Whether [`value_and_gradient`](Objective::value_and_gradient) is implemented.
    fn has_gradient(&self) -> bool {
        false
    }
}

impl<F> Objective for F
where
    F: Fn(&[f64]) -> Result<f64>,
{
    fn value(&self, x: &[f64]) -> Result<f64> {
        self(x)
    }
}

/// An [`Objective`] with an analytic gradient, from a closure
/// `|x: &[f64], grad: &mut [f64]| -> Result<f64>` that fills `grad` and returns
/// the value.
#[derive(Debug, Clone, Copy)]
pub struct WithGradient<F>(pub F);

impl<F> Objective for WithGradient<F>
where
    F: Fn(&[f64], &mut [f64]) -> Result<f64>,
{
    fn value(&self, x: &[f64]) -> Result<f64> {
        let mut grad = vec![0.0; x.len()];
        (self.0)(x, &mut grad)
    }

    fn value_and_gradient(&self, x: &[f64], grad: &mut [f64]) -> Result<f64> {
        (self.0)(x, grad)
    }

    fn has_gradient(&self) -> bool {
        true
    }
}

/// Lower and/or upper bound on one parameter; `None` means unbounded.
///
/// Bounds are closed: $\mathrm{lower} \le x \le \mathrm{upper}$. Given bounds
/// must be finite, and `lower < upper` when both are given.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bound {
    /// Lower bound.
    pub lower: Option<f64>,
    /// Upper bound.
    pub upper: Option<f64>,
}

impl Bound {
    /// No bound.
    pub const FREE: Bound = Bound {
        lower: None,
        upper: None,
    };

    /// $x \ge$ `lower`.
    pub fn at_least(lower: f64) -> Self {
        Self {
            lower: Some(lower),
            upper: None,
        }
    }

    /// $x \le$ `upper`.
    pub fn at_most(upper: f64) -> Self {
        Self {
            lower: None,
            upper: Some(upper),
        }
    }

    /// `lower` $\le x \le$ `upper`.
    pub fn between(lower: f64, upper: f64) -> Self {
        Self {
            lower: Some(lower),
            upper: Some(upper),
        }
    }

    fn to_map(self, i: usize) -> Result<Map> {
        let check = |name: &str, v: f64| {
            if v.is_finite() {
                Ok(v)
            } else {
                Err(Error::invalid_param(
                    format!("bounds[{i}].{name}"),
                    v,
                    "finite",
                ))
            }
        };
        Ok(match (self.lower, self.upper) {
            (None, None) => Map::Free,
            (Some(l), None) => Map::Lower(check("lower", l)?),
            (None, Some(u)) => Map::Upper(check("upper", u)?),
            (Some(l), Some(u)) => {
                let (l, u) = (check("lower", l)?, check("upper", u)?);
                if !(u - l).is_finite() || l >= u {
                    return Err(Error::invalid_param(
                        format!("bounds[{i}].upper"),
                        u,
                        format!("> lower = {l}, with a finite width"),
                    ));
                }
                Map::Both(l, u)
            }
        })
    }
}

/// The algorithm used by [`minimize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// L-BFGS when the objective has a gradient, Nelder–Mead otherwise.
    #[default]
    Auto,
    /// L-BFGS with a Moré–Thuente line search (needs a gradient).
    Lbfgs,
    /// Projected L-BFGS on the box of the bounds (needs a gradient): the
    /// bounds are enforced directly, not by the change of variables. A
    /// parameter on a bound whose gradient points out of the box is held
    /// there (the active set); the quasi-Newton direction is computed on
    /// the other parameters, and the Moré–Thuente line search is confined to
    /// the segment inside the box, so a parameter whose optimum lies on a
    /// bound reaches it exactly in one step. The first step (and the first
    /// after a reset of the memory) has length $\min(1, 1/\lVert g\rVert)$,
    /// as in L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995). One run, no restarts:
    /// it stops when the Euclidean norm of the projected gradient is below
    /// `grad_tol` or a step changes $f$ by less than
    /// $\mathrm{f\_tol}\cdot\max(1, |f|)$. Suited to objectives with
    /// optima on a bound (hyperparameter fits); [`Method::Lbfgs`] remains the
    /// default for gradients.
    LbfgsB,
    /// The Nelder–Mead simplex method (no gradient needed).
    NelderMead,
}

/// Settings for [`minimize`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinimizeOptions {
    /// Maximum total number of iterations over all restarts (default 10 000), `>= 1`.
    pub max_iter: usize,
    /// L-BFGS stops when the Euclidean norm of the gradient with respect to
    /// the internal (unbounded) coordinates is below this (default `1e-8`), `>= 0`;
    /// [`Method::LbfgsB`] when that of the projected gradient (in $x$) is.
    pub grad_tol: f64,
    /// Relative tolerance on the objective (default `1e-14`), `>= 0`: L-BFGS stops
    /// when one iteration changes $f$ by less than $\mathrm{f\_tol}\cdot\max(1, |f_0|)$,
    /// Nelder–Mead when the standard deviation of $f$ over the simplex is below it
    /// ($f_0$ the best value found before the current run; restarts re-evaluate it).
    pub f_tol: f64,
    /// The algorithm.
    pub method: Method,
    /// Nelder–Mead initial simplex size (default `0.05`), finite and `> 0`: vertex $i$
    /// displaces $x_i$ by this fraction of $|x_i|$ (or by this amount when $x_i = 0$)
    /// for a free parameter, and by this fraction of $\max(|x_i|, s_i)$ towards the
    /// farther bound (at most half-way) for a bounded one, $s_i$ the bound's scale.
    pub initial_simplex_scale: f64,
    /// Return the best point with `converged = false` instead of an error when
    /// `max_iter` is exhausted or the solver gives up (default `false`).
    pub allow_unconverged: bool,
}

impl Default for MinimizeOptions {
    fn default() -> Self {
        Self {
            max_iter: 10_000,
            grad_tol: 1e-8,
            f_tol: 1e-14,
            method: Method::Auto,
            initial_simplex_scale: 0.05,
            allow_unconverged: false,
        }
    }
}

impl MinimizeOptions {
    fn validate(&self) -> Result<()> {
        if self.max_iter == 0 {
            return Err(Error::invalid_param("MinimizeOptions::max_iter", 0, ">= 1"));
        }
        for (name, v) in [
            ("MinimizeOptions::grad_tol", self.grad_tol),
            ("MinimizeOptions::f_tol", self.f_tol),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid_param(name, v, "finite and >= 0"));
            }
        }
        let s = self.initial_simplex_scale;
        if !(s.is_finite() && s > 0.0) {
            return Err(Error::invalid_param(
                "MinimizeOptions::initial_simplex_scale",
                s,
                "finite and > 0",
            ));
        }
        Ok(())
    }
}

/// The result of [`minimize`].
#[derive(Debug, Clone, PartialEq)]
pub struct MinimumNd {
    /// Location of the minimum, inside the bounds.
    pub x: Vec<f64>,
    /// Objective value at `x`.
    pub f_x: f64,
    /// Solver iterations, summed over restarts.
    pub n_iter: usize,
    /// Objective evaluations (a value-and-gradient call counts once).
    pub n_eval: usize,
    /// Whether the stopping rule was met.
    pub converged: bool,
    /// How the solver stopped, in words.
    pub termination: String,
    /// `at_bound[i]` is true when `x[i]` was placed exactly on one of its bounds
    /// (see the module documentation).
    pub at_bound: Vec<bool>,
}

/// The change of variables $x = T(u)$ for one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Map {
    Free,
    Lower(f64),
    Upper(f64),
    Both(f64, f64),
}

/// $1/(1 + e^{-u})$ without overflow.
fn sigmoid(u: f64) -> f64 {
    if u >= 0.0 {
        1.0 / (1.0 + (-u).exp())
    } else {
        let e = u.exp();
        e / (1.0 + e)
    }
}

/// $\ln(1 + e^u)$ without overflow or cancellation.
fn softplus(u: f64) -> f64 {
    u.max(0.0) + (-u.abs()).exp().ln_1p()
}

/// The inverse of [`softplus`] for $y > 0$: $\ln(e^y - 1) = y + \ln(1 - e^{-y})$.
fn softplus_inv(y: f64) -> f64 {
    y + (-(-y).exp_m1()).ln()
}

impl Map {
    fn to_x(self, u: f64) -> f64 {
        match self {
            Map::Free => u,
            Map::Lower(l) => l + softplus(u),
            Map::Upper(h) => h - softplus(-u),
            // Evaluate from the nearer end, for precision close to either bound.
            Map::Both(l, h) if u >= 0.0 => h - (h - l) * sigmoid(-u),
            Map::Both(l, h) => l + (h - l) * sigmoid(u),
        }
    }

    fn dx_du(self, u: f64) -> f64 {
        match self {
            Map::Free => 1.0,
            Map::Lower(_) => sigmoid(u),
            Map::Upper(_) => sigmoid(-u),
            Map::Both(l, h) => (h - l) * sigmoid(u) * sigmoid(-u),
        }
    }

    /// The inverse, for `x` strictly inside the bounds.
    fn to_u(self, x: f64) -> f64 {
        match self {
            Map::Free => x,
            Map::Lower(l) => softplus_inv(x - l),
            Map::Upper(h) => -softplus_inv(h - x),
            Map::Both(l, h) => ((x - l) / (h - x)).ln(),
        }
    }

    fn bounds(self) -> (f64, f64) {
        match self {
            Map::Free => (f64::NEG_INFINITY, f64::INFINITY),
            Map::Lower(l) => (l, f64::INFINITY),
            Map::Upper(h) => (f64::NEG_INFINITY, h),
            Map::Both(l, h) => (l, h),
        }
    }

    /// The length scale used to nudge a start off a bound and to pick
    /// candidates for snapping onto one.
    fn scale(self) -> f64 {
        match self {
            Map::Free => f64::INFINITY,
            Map::Lower(b) | Map::Upper(b) => b.abs().max(1.0),
            Map::Both(l, h) => h - l,
        }
    }
}

/// A point $u$ with $f$ and $\partial f/\partial u$ there.
struct Cached {
    u: Vec<f64>,
    value: f64,
    grad: Vec<f64>,
}

/// Objective evaluation in internal coordinates, shared with `argmin`.
struct Shared<'a, O: ?Sized> {
    objective: &'a O,
    maps: &'a [Map],
    what: &'static str,
    use_gradient: bool,
    /// Nelder–Mead may see $+\infty$ (an infeasible point).
    allow_pos_inf: bool,
    n_eval: Cell<usize>,
    /// Calls for which an error must be reported to `argmin` as $+\infty$,
    /// because `argmin`'s Nelder–Mead initialisation unwraps its cost calls.
    guard: Cell<usize>,
    /// The first error; once set, every later call fails.
    error: RefCell<Option<Error>>,
    /// The last point evaluated with the gradient.
    cache: RefCell<Option<Cached>>,
}

impl<O: Objective + ?Sized> Shared<'_, O> {
    fn x_of(&self, u: &[f64]) -> Vec<f64> {
        u.iter().zip(self.maps).map(|(&u, m)| m.to_x(u)).collect()
    }

    fn non_finite(&self, what: &str, v: f64, x: &[f64]) -> Error {
        Error::numerical(
            self.what,
            self.n_eval.get(),
            v,
            format!(
                "the objective returned {what} {v} at x = {x:?} (evaluation {})",
                self.n_eval.get()
            ),
        )
    }

    /// $f(T(u))$, and $\partial f/\partial u$ when the gradient is used.
    fn eval(&self, u: &[f64]) -> Result<(f64, Option<Vec<f64>>)> {
        let x = self.x_of(u);
        self.n_eval.set(self.n_eval.get() + 1);
        if self.use_gradient {
            let mut g = vec![0.0; x.len()];
            let v = self.objective.value_and_gradient(&x, &mut g)?;
            if !v.is_finite() {
                return Err(self.non_finite("the value", v, &x));
            }
            if let Some(bad) = g.iter().find(|g| !g.is_finite()) {
                return Err(self.non_finite("a gradient component", *bad, &x));
            }
            // Chain rule: df/du_i = df/dx_i * dx_i/du_i.
            for ((g, m), &u) in g.iter_mut().zip(self.maps).zip(u) {
                *g *= m.dx_du(u);
            }
            *self.cache.borrow_mut() = Some(Cached {
                u: u.to_vec(),
                value: v,
                grad: g.clone(),
            });
            Ok((v, Some(g)))
        } else {
            let v = self.objective.value(&x)?;
            if v.is_nan() || v == f64::NEG_INFINITY || (v == f64::INFINITY && !self.allow_pos_inf) {
                return Err(self.non_finite("the value", v, &x));
            }
            Ok((v, None))
        }
    }

    /// $f(T(u))$, from the cache when `u` is the last point evaluated with
    /// the gradient (the objective is taken to be deterministic): `argmin`
    /// asks again for the value at the start of every run.
    fn value_u(&self, u: &[f64]) -> Result<f64> {
        if let Some(c) = self.cache.borrow().as_ref() {
            if c.u.as_slice() == u {
                return Ok(c.value);
            }
        }
        self.eval(u).map(|(v, _)| v)
    }

    fn gradient_u(&self, u: &[f64]) -> Result<Vec<f64>> {
        if let Some(c) = self.cache.borrow().as_ref() {
            if c.u.as_slice() == u {
                return Ok(c.grad.clone());
            }
        }
        match self.eval(u)? {
            (_, Some(g)) => Ok(g),
            (_, None) => Err(Error::numerical(
                self.what,
                0,
                f64::NAN,
                "no gradient available",
            )),
        }
    }

    /// Records `e` and converts it for `argmin`.
    fn fail(&self, e: Error) -> argmin::core::Error {
        let msg = e.to_string();
        self.error.borrow_mut().get_or_insert(e);
        argmin::core::Error::msg(msg)
    }

    fn poisoned(&self) -> bool {
        self.error.borrow().is_some()
    }
}

/// The `argmin` view of [`Shared`].
struct ArgminProblem<'s, 'a, O: ?Sized>(&'s Shared<'a, O>);

impl<O: Objective + ?Sized> CostFunction for ArgminProblem<'_, '_, O> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, u: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        let s = self.0;
        let guarded = s.guard.get() > 0;
        if guarded {
            s.guard.set(s.guard.get() - 1);
        }
        let result = if s.poisoned() {
            Err(argmin::core::Error::msg("an earlier evaluation failed"))
        } else if u.iter().any(|u| !u.is_finite()) {
            // A degenerate solver step: let the solver fail, without calling the objective.
            Err(argmin::core::Error::msg("non-finite trial point"))
        } else {
            s.value_u(u).map_err(|e| s.fail(e))
        };
        match result {
            Err(_) if guarded => Ok(f64::INFINITY),
            r => r,
        }
    }
}

impl<O: Objective + ?Sized> Gradient for ArgminProblem<'_, '_, O> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, u: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        let s = self.0;
        if s.poisoned() {
            return Err(argmin::core::Error::msg("an earlier evaluation failed"));
        }
        if u.iter().any(|u| !u.is_finite()) {
            return Err(argmin::core::Error::msg("non-finite trial point"));
        }
        s.gradient_u(u).map_err(|e| s.fail(e))
    }
}

/// What one solver run returned.
struct Run {
    u: Vec<f64>,
    f: f64,
    n_iter: usize,
    reason: TerminationReason,
}

fn argmin_failure(what: &str, e: impl std::fmt::Display) -> Error {
    Error::numerical(what, 0, f64::NAN, format!("argmin: {e}"))
}

fn run_lbfgs<O: Objective + ?Sized>(
    shared: &Shared<'_, O>,
    u0: Vec<f64>,
    f_abs_tol: f64,
    grad_tol: f64,
    budget: usize,
) -> Result<Run> {
    let what = shared.what;
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), LBFGS_MEMORY)
        .with_tolerance_grad(grad_tol)
        .and_then(|s| s.with_tolerance_cost(f_abs_tol))
        .map_err(|e| argmin_failure(what, e))?;
    // (The start's value and gradient are not passed in: argmin's cost-change
    // test would then compare the start with itself and stop at once.)
    let result = Executor::new(ArgminProblem(shared), solver)
        .configure(|state| state.param(u0).max_iters(budget as u64))
        .run();
    finish_run(shared, result.map(|r| r.state))
}

fn run_nelder_mead<O: Objective + ?Sized>(
    shared: &Shared<'_, O>,
    simplex: Vec<Vec<f64>>,
    f_abs_tol: f64,
    budget: usize,
) -> Result<Run> {
    let what = shared.what;
    shared.guard.set(simplex.len());
    let solver = NelderMead::new(simplex)
        .with_sd_tolerance(f_abs_tol)
        .map_err(|e| argmin_failure(what, e))?;
    let result = Executor::new(ArgminProblem(shared), solver)
        .configure(|state| state.max_iters(budget as u64))
        .run();
    shared.guard.set(0);
    finish_run(shared, result.map(|r| r.state))
}

fn finish_run<O, S>(
    shared: &Shared<'_, O>,
    result: std::result::Result<S, argmin::core::Error>,
) -> Result<Run>
where
    O: Objective + ?Sized,
    S: State<Param = Vec<f64>, Float = f64>,
{
    // An objective failure takes precedence over whatever argmin made of it.
    if let Some(e) = shared.error.borrow_mut().take() {
        return Err(e);
    }
    let state = result.map_err(|e| argmin_failure(shared.what, e))?;
    let u = state
        .get_best_param()
        .cloned()
        .ok_or_else(|| argmin_failure(shared.what, "no best parameter vector recorded"))?;
    Ok(Run {
        u,
        f: state.get_best_cost(),
        n_iter: usize::try_from(state.get_iter()).unwrap_or(usize::MAX),
        reason: state
            .get_termination_reason()
            .cloned()
            .unwrap_or(TerminationReason::SolverExit("stopped".into())),
    })
}

/// The Nelder–Mead starting simplex around `u` (internal coordinates).
///
/// Vertex $i$ displaces $x_i$ (not $u_i$, whose scale depends on the
/// transformation) by $h_i$: `scale`$\cdot|x_i|$ for a free parameter (or
/// `scale` when $x_i = 0$), and `scale`$\cdot\max(|x_i|, s_i)$ for a bounded one
/// ($s_i$ the bound's scale), towards its farther bound and by at most half
/// the distance to it. A parameter stuck in the flat tail of its
/// transformation near a bound is thus moved back to where $f$ depends on it.
fn simplex_around(u: &[f64], maps: &[Map], scale: f64) -> Vec<Vec<f64>> {
    let mut simplex = vec![u.to_vec()];
    for (i, (&ui, &m)) in u.iter().zip(maps).enumerate() {
        let x = m.to_x(ui);
        let mut ui_new = match m {
            Map::Free => ui + if x != 0.0 { scale * x.abs() } else { scale },
            _ => {
                let (lo, hi) = m.bounds();
                let h = scale * x.abs().max(m.scale());
                let x_new = if hi - x >= x - lo {
                    x + h.min(0.5 * (hi - x))
                } else {
                    x - h.min(0.5 * (x - lo))
                };
                m.to_u(x_new)
            }
        };
        if !ui_new.is_finite() || ui_new == ui {
            ui_new = ui + 1.0;
        }
        let mut v = u.to_vec();
        v[i] = ui_new;
        simplex.push(v);
    }
    simplex
}

/// Moves parameters lying within [`BOUND_NUDGE`] times the bound's scale of
/// a bound to exactly that distance; returns the new point and whether any
/// parameter moved.
fn recentre(u: &[f64], maps: &[Map]) -> (Vec<f64>, bool) {
    let mut moved = false;
    let v = u
        .iter()
        .zip(maps)
        .map(|(&ui, &m)| {
            let x = m.to_x(ui);
            let (lo, hi) = m.bounds();
            let d = BOUND_NUDGE * m.scale();
            let target = if x - lo < d && lo + d < hi {
                lo + d
            } else if hi - x < d && hi - d > lo {
                hi - d
            } else {
                return ui;
            };
            moved = true;
            m.to_u(target)
        })
        .collect();
    (v, moved)
}

/// Distance to a bound, in units of the bound's scale, below which a
/// parameter counts as being in the flat tail of its transformation.
const TAIL: f64 = 0.01;

/// A polish of the parameters that ended in the flat tail of their
/// transformation, where $\partial x/\partial u \to 0$ makes $f$ nearly
/// constant in $u$ and the solvers stop early: each such parameter, the others
/// fixed, is minimised over $x$ directly by Brent's method between its bound
/// and as far on the other side of its current value. Returns the best point
/// found by one such line search if it lowers `f` by more than `f_abs_tol`.
/// Failed evaluations only mean no improvement: the polish is a check.
fn polish_tails<O: Objective + ?Sized>(
    shared: &Shared<'_, O>,
    u: &[f64],
    f: f64,
    f_abs_tol: f64,
) -> Option<(Vec<f64>, f64)> {
    let mut best: Option<(Vec<f64>, f64)> = None;
    for (i, &m) in shared.maps.iter().enumerate() {
        let x = m.to_x(u[i]);
        let (lo, hi) = m.bounds();
        let tail = TAIL * m.scale();
        let (a, b) = if x - lo < tail {
            (lo, (x + (x - lo) + tail).min(hi))
        } else if hi - x < tail {
            ((x - (hi - x) - tail).max(lo), hi)
        } else {
            continue;
        };
        let mut trial = u.to_vec();
        let line = |xi: f64| -> Result<f64> {
            let mut v = u.to_vec();
            v[i] = m.to_u(xi);
            shared.eval(&v).map(|(f, _)| f)
        };
        let Ok(r) = brent_minimize(line, a, b, &MinimizeOptions1d::default()) else {
            continue;
        };
        let bar = best.as_ref().map_or(f - f_abs_tol, |b| b.1);
        if r.f_x < bar {
            trial[i] = m.to_u(r.x);
            best = Some((trial, r.f_x));
        }
    }
    best
}

/// Masked dot product $\sum_{i\,\mathrm{free}} a_i b_i$.
fn dot_free(a: &[f64], b: &[f64], free: &[bool]) -> f64 {
    a.iter()
        .zip(b)
        .zip(free)
        .filter(|(_, &f)| f)
        .map(|((a, b), _)| a * b)
        .sum()
}

/// [`Method::LbfgsB`]: projected L-BFGS on the box of `maps` (their bounds;
/// `x0` already checked to lie inside).
fn projected_lbfgs<O: Objective + ?Sized>(
    objective: &O,
    x0: &[f64],
    maps: &[Map],
    options: &MinimizeOptions,
) -> Result<MinimumNd> {
    const WHAT: &str = "projected L-BFGS minimisation";
    let n = x0.len();
    let (lo, hi): (Vec<f64>, Vec<f64>) = maps.iter().map(|m| m.bounds()).unzip();
    // Evaluations in x directly: the identity map for every parameter.
    let identity = vec![Map::Free; n];
    let shared = Shared {
        objective,
        maps: &identity,
        what: WHAT,
        use_gradient: true,
        allow_pos_inf: false,
        n_eval: Cell::new(0),
        guard: Cell::new(0),
        error: RefCell::new(None),
        cache: RefCell::new(None),
    };
    let mut x = x0.to_vec();
    let (mut f, g) = shared.eval(&x)?;
    let mut g = g.unwrap_or_default();
    let mut s_hist: std::collections::VecDeque<Vec<f64>> = Default::default();
    let mut y_hist: std::collections::VecDeque<Vec<f64>> = Default::default();
    let mut n_iter = 0usize;
    let (converged, termination) = loop {
        // The active set: parameters on a bound with the gradient pushing out.
        let free: Vec<bool> = (0..n)
            .map(|i| !((x[i] <= lo[i] && g[i] > 0.0) || (x[i] >= hi[i] && g[i] < 0.0)))
            .collect();
        let pg_norm = dot_free(&g, &g, &free).sqrt();
        if pg_norm < options.grad_tol {
            break (
                true,
                format!("projected gradient norm {pg_norm:e} below grad_tol"),
            );
        }
        if n_iter >= options.max_iter {
            break (
                false,
                format!("maximum number of iterations {} reached", options.max_iter),
            );
        }
        // Two-loop recursion on the free parameters.
        let mut q: Vec<f64> = (0..n).map(|i| if free[i] { g[i] } else { 0.0 }).collect();
        let m = s_hist.len();
        let mut coef = vec![(0.0, 0.0); m];
        for k in (0..m).rev() {
            let sy = dot_free(&s_hist[k], &y_hist[k], &free);
            if sy <= 0.0 {
                continue;
            }
            let rho = 1.0 / sy;
            let a = rho * dot_free(&s_hist[k], &q, &free);
            for i in (0..n).filter(|&i| free[i]) {
                q[i] -= a * y_hist[k][i];
            }
            coef[k] = (rho, a);
        }
        if let (Some(s), Some(y)) = (s_hist.back(), y_hist.back()) {
            let (sy, yy) = (dot_free(s, y, &free), dot_free(y, y, &free));
            if sy > 0.0 && yy > 0.0 {
                q.iter_mut().for_each(|q| *q *= sy / yy);
            }
        }
        for k in 0..m {
            let (rho, a) = coef[k];
            if rho == 0.0 {
                continue;
            }
            let b = rho * dot_free(&y_hist[k], &q, &free);
            for i in (0..n).filter(|&i| free[i]) {
                q[i] += (a - b) * s_hist[k][i];
            }
        }
        let mut d: Vec<f64> = q.iter().map(|q| -q).collect();
        // A free parameter on a bound (gradient pointing inside) must not be
        // pushed out by the quasi-Newton coupling.
        for i in 0..n {
            if (x[i] <= lo[i] && d[i] < 0.0) || (x[i] >= hi[i] && d[i] > 0.0) {
                d[i] = 0.0;
            }
        }
        let mut first = m == 0;
        let slope = dot_free(&d, &g, &free);
        if slope.is_nan() || slope >= 0.0 {
            // Not a descent direction: forget the memory, steepest descent.
            s_hist.clear();
            y_hist.clear();
            first = true;
            for i in 0..n {
                d[i] = if free[i] { -g[i] } else { 0.0 };
            }
        }
        let d_norm = d.iter().map(|d| d * d).sum::<f64>().sqrt();
        // The longest step inside the box, and the parameter(s) that limit it.
        let step_to_bound = |i: usize| -> f64 {
            if d[i] > 0.0 {
                (hi[i] - x[i]) / d[i]
            } else if d[i] < 0.0 {
                (lo[i] - x[i]) / d[i]
            } else {
                f64::INFINITY
            }
        };
        let alpha_max = (0..n).map(step_to_bound).fold(f64::INFINITY, f64::min);
        if !(alpha_max > 0.0 && d_norm > 0.0) {
            break (
                false,
                format!("no feasible descent direction (projected gradient norm {pg_norm:e})"),
            );
        }
        let alpha0 = if first { 1.0f64.min(1.0 / d_norm) } else { 1.0 };
        let alpha0 = alpha0.min(alpha_max);
        let mut ls = MoreThuenteLineSearch::new()
            .with_bounds(alpha0 * 1e-12, alpha_max)
            .map_err(|e| argmin_failure(WHAT, e))?;
        ls.initial_step_length(alpha0)
            .map_err(|e| argmin_failure(WHAT, e))?;
        ls.search_direction(d.clone());
        let result = Executor::new(ArgminProblem(&shared), ls)
            .configure(|st| st.param(x.clone()).gradient(g.clone()).cost(f))
            .ctrlc(false)
            .run();
        if let Some(e) = shared.error.borrow_mut().take() {
            return Err(e);
        }
        n_iter += 1;
        let trial = result.ok().and_then(|r| {
            let st = r.state;
            st.get_param().cloned().map(|p| (p, st.get_cost()))
        });
        let Some((p, f_new)) = trial.filter(|(_, f_new)| f_new.is_finite() && *f_new <= f) else {
            if s_hist.is_empty() {
                let ok = pg_norm <= options.grad_tol.sqrt();
                break (
                    ok,
                    format!("line search failed; projected gradient norm {pg_norm:e}"),
                );
            }
            s_hist.clear();
            y_hist.clear();
            continue;
        };
        let g_new = shared.gradient_u(&p)?;
        // The step, with parameters that reached a bound placed exactly on it
        // (f and g are those at the line search's point, which differs from
        // that one by rounding only).
        let alpha = p
            .iter()
            .zip(&x)
            .zip(&d)
            .filter(|(_, &d)| d != 0.0)
            .map(|((p, x), d)| (p - x) / d)
            .fold(0.0, f64::max);
        let mut reached_bound = false;
        let x_new: Vec<f64> = (0..n)
            .map(|i| {
                let a_i = step_to_bound(i);
                if a_i.is_finite() && alpha >= a_i * (1.0 - 1e-12) {
                    reached_bound = true;
                    if d[i] > 0.0 {
                        hi[i]
                    } else {
                        lo[i]
                    }
                } else {
                    p[i].clamp(lo[i], hi[i])
                }
            })
            .collect();
        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        let yy: f64 = y.iter().map(|y| y * y).sum();
        if sy > f64::EPSILON * yy {
            if s_hist.len() == LBFGS_MEMORY {
                s_hist.pop_front();
                y_hist.pop_front();
            }
            s_hist.push_back(s);
            y_hist.push_back(y);
        }
        let change = f - f_new;
        x = x_new;
        f = f_new;
        g = g_new;
        // A step cut short by a bound may change f little without the
        // others being converged: the next iteration decides.
        if change <= options.f_tol * f.abs().max(1.0) && !reached_bound {
            break (true, format!("change of f {change:e} below f_tol"));
        }
    };
    if !converged && !options.allow_unconverged {
        return Err(Error::numerical(
            WHAT,
            n_iter,
            f,
            format!("{termination}; best x = {x:?}"),
        ));
    }
    let at_bound = (0..n).map(|i| x[i] == lo[i] || x[i] == hi[i]).collect();
    Ok(MinimumNd {
        x,
        f_x: f,
        n_iter,
        n_eval: shared.n_eval.get(),
        converged,
        termination,
        at_bound,
    })
}

/// Minimises `objective` from `x0` within `bounds` (empty: all parameters free).
///
/// See the [module documentation](super) for the change of variables that
/// enforces the bounds, the convergence rules and the restarts.
///
/// # Errors
/// - [`Error::Empty`] if `x0` is empty; [`Error::ShapeMismatch`] if `bounds`
///   is neither empty nor of the length of `x0`;
/// - [`Error::InvalidParameter`] for a non-finite `x0[i]`, an `x0[i]` outside
///   its bounds, invalid bounds or options, or [`Method::Lbfgs`] or
///   [`Method::LbfgsB`] with an
///   objective without gradient;
/// - [`Error::Numerical`] if the objective returns NaN ($\pm\infty$ for L-BFGS,
///   $-\infty$ for Nelder–Mead, and anything non-finite at `x0`), naming the
///   point, or if the solver does not converge within `max_iter` (unless
///   `allow_unconverged`), or `argmin` fails;
/// - any error returned by the objective, unchanged.
///
/// ```
/// use darkprobe_core::optimize::{minimize, Bound, MinimizeOptions};
/// // Minimum of (x - 3)^2 + (y + 1)^2 with y >= 0: at (3, 0), on the bound.
/// let f = |p: &[f64]| Ok((p[0] - 3.0).powi(2) + (p[1] + 1.0).powi(2));
/// let m = minimize(&f, &[0.0, 2.0], &[Bound::FREE, Bound::at_least(0.0)],
///                  &MinimizeOptions::default())?;
/// assert!((m.x[0] - 3.0).abs() < 1e-5 && m.x[1] == 0.0 && m.at_bound[1]);
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn minimize<O: Objective + ?Sized>(
    objective: &O,
    x0: &[f64],
    bounds: &[Bound],
    options: &MinimizeOptions,
) -> Result<MinimumNd> {
    let n = x0.len();
    if n == 0 {
        return Err(Error::empty(
            "x0",
            "give a starting value for every parameter",
        ));
    }
    if !bounds.is_empty() && bounds.len() != n {
        return Err(Error::shape(
            "bounds for minimize",
            format!("0 or {n} bounds (one per parameter)"),
            bounds.len(),
        ));
    }
    options.validate()?;
    let maps = (0..n)
        .map(|i| bounds.get(i).copied().unwrap_or_default().to_map(i))
        .collect::<Result<Vec<Map>>>()?;
    let use_gradient = match options.method {
        Method::Auto => objective.has_gradient(),
        Method::NelderMead => false,
        Method::Lbfgs | Method::LbfgsB if objective.has_gradient() => true,
        Method::Lbfgs | Method::LbfgsB => {
            return Err(Error::invalid_param(
                "MinimizeOptions::method",
                format!("{:?}", options.method),
                "NelderMead or Auto for an objective without gradient",
            ))
        }
    };
    // Starting point in internal coordinates, nudging values on a bound inside.
    let mut u = Vec::with_capacity(n);
    for (i, (&x, m)) in x0.iter().zip(&maps).enumerate() {
        let (lo, hi) = m.bounds();
        if !(x.is_finite() && x >= lo && x <= hi) {
            return Err(Error::invalid_param(
                format!("x0[{i}]"),
                x,
                format!("finite and in [{lo}, {hi}]"),
            ));
        }
        let nudge = BOUND_NUDGE * m.scale();
        let x = if x == lo {
            lo + nudge
        } else if x == hi {
            hi - nudge
        } else {
            x
        };
        u.push(m.to_u(x));
    }
    if options.method == Method::LbfgsB {
        return projected_lbfgs(objective, x0, &maps, options);
    }
    let what = if use_gradient {
        "L-BFGS minimisation"
    } else {
        "Nelder-Mead minimisation"
    };
    let shared = Shared {
        objective,
        maps: &maps,
        what,
        use_gradient,
        allow_pos_inf: !use_gradient,
        n_eval: Cell::new(0),
        guard: Cell::new(0),
        error: RefCell::new(None),
        cache: RefCell::new(None),
    };
    let (mut f, _) = shared.eval(&u)?;
    if !f.is_finite() {
        return Err(shared.non_finite("the value", f, &shared.x_of(&u)));
    }

    let mut n_iter = 0usize;
    let mut restarts = 0usize;
    let mut start = u.clone();
    let (converged, termination) = loop {
        let budget = options.max_iter - n_iter;
        let f_abs_tol = options.f_tol * f.abs().max(1.0);
        let run = if use_gradient {
            run_lbfgs(&shared, start, f_abs_tol, options.grad_tol, budget)?
        } else {
            let simplex = simplex_around(&start, &maps, options.initial_simplex_scale);
            run_nelder_mead(&shared, simplex, f_abs_tol, budget)?
        };
        n_iter += run.n_iter;
        let improvement = f - run.f;
        if run.f <= f {
            u = run.u;
            f = run.f;
        }
        let can_restart = restarts < MAX_RESTARTS && n_iter < options.max_iter;
        match run.reason {
            TerminationReason::SolverConverged => {
                // Restart from the best point, with parameters that ended in the flat
                // tail of their transformation moved back near the bound (where f
                // depends on them again), while restarts improve f. Nelder-Mead is
                // always restarted once, as it can stall on a collapsed simplex.
                let (recentred, moved) = recentre(&u, &maps);
                let worth = restarts == 0 || improvement > f_abs_tol;
                if can_restart && worth && (moved || !use_gradient) {
                    restarts += 1;
                    start = recentred;
                    continue;
                }
                // L-BFGS also stops when one iteration changes f by less than
                // f_tol, which a poor quasi-Newton direction can cause far from
                // a stationary point: restart with a fresh memory if the
                // gradient says so and the previous run made progress.
                if use_gradient && can_restart && (restarts == 0 || improvement > f_abs_tol) {
                    let g_norm = shared
                        .gradient_u(&u)
                        .map(|g| g.iter().map(|g| g * g).sum::<f64>().sqrt())?;
                    if g_norm > options.grad_tol {
                        restarts += 1;
                        start = u.clone();
                        continue;
                    }
                }
                // A parameter that ended in the flat tail of its transformation
                // can look optimal to the solver when it is not.
                if can_restart {
                    if let Some((probe, f_probe)) = polish_tails(&shared, &u, f, f_abs_tol) {
                        restarts += 1;
                        u = probe;
                        f = f_probe;
                        start = u.clone();
                        continue;
                    }
                }
                break (true, format!("converged ({restarts} restart(s))"));
            }
            TerminationReason::MaxItersReached => {
                break (
                    false,
                    format!("maximum number of iterations {} reached", options.max_iter),
                )
            }
            reason => {
                // L-BFGS gives up when its line search fails. Restart with a fresh
                // memory while that makes progress; a failure without progress at a
                // point with a small gradient is convergence limited by rounding.
                if can_restart && improvement > f_abs_tol {
                    restarts += 1;
                    start = u.clone();
                    continue;
                }
                if use_gradient {
                    let g_norm = shared
                        .gradient_u(&u)
                        .map(|g| g.iter().map(|g| g * g).sum::<f64>().sqrt())?;
                    if g_norm <= options.grad_tol.sqrt() {
                        break (
                            true,
                            format!("converged to rounding precision ({reason}; gradient norm {g_norm:e})"),
                        );
                    }
                    break (false, format!("{reason}; gradient norm {g_norm:e}"));
                }
                break (false, reason.to_string());
            }
        }
    };
    if !converged && !options.allow_unconverged {
        return Err(Error::numerical(
            what,
            n_iter,
            f,
            format!("{termination}; best x = {:?}", shared.x_of(&u)),
        ));
    }

    // Place components that sit (nearly) on a bound exactly on it, when that
    // does not increase f: the change of variables reaches a bound only
    // asymptotically.
    let mut x: Vec<f64> = shared
        .x_of(&u)
        .iter()
        .zip(&maps)
        .map(|(&x, m)| {
            let (lo, hi) = m.bounds();
            x.clamp(lo, hi)
        })
        .collect();
    let mut at_bound = vec![false; n];
    for (i, m) in maps.iter().enumerate() {
        let (lo, hi) = m.bounds();
        let near = SNAP_CANDIDATE * m.scale();
        // (A free parameter has infinite bounds and scale: nothing to try.)
        let target = if lo.is_finite() && x[i] - lo <= near {
            lo
        } else if hi.is_finite() && hi - x[i] <= near {
            hi
        } else {
            continue;
        };
        let mut trial = x.clone();
        trial[i] = target;
        shared.n_eval.set(shared.n_eval.get() + 1);
        // A failure exactly on the bound only means the point stays inside.
        if let Ok(v) = objective.value(&trial) {
            if v <= f {
                x = trial;
                f = v;
                at_bound[i] = true;
            }
        }
    }
    Ok(MinimumNd {
        x,
        f_x: f,
        n_iter,
        n_eval: shared.n_eval.get(),
        converged,
        termination,
        at_bound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::{assert_abs_diff_eq, assert_relative_eq};
    use proptest::prelude::*;

    /// Rosenbrock's function in n dimensions and its gradient.
    fn rosenbrock(x: &[f64], g: &mut [f64]) -> f64 {
        g.iter_mut().for_each(|g| *g = 0.0);
        let mut f = 0.0;
        for i in 0..x.len() - 1 {
            let a = 1.0 - x[i];
            let b = x[i + 1] - x[i] * x[i];
            f += a * a + 100.0 * b * b;
            g[i] += -2.0 * a - 400.0 * x[i] * b;
            g[i + 1] += 200.0 * b;
        }
        f
    }

    fn rosen_start(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
            .collect()
    }

    #[test]
    fn rosenbrock_with_gradient_2d_and_5d() {
        for n in [2usize, 5] {
            let calls = Cell::new(0);
            let obj = WithGradient(|x: &[f64], g: &mut [f64]| {
                calls.set(calls.get() + 1);
                Ok(rosenbrock(x, g))
            });
            let m = minimize(&obj, &rosen_start(n), &[], &MinimizeOptions::default()).unwrap();
            assert!(m.converged, "{m:?}");
            for &xi in &m.x {
                assert_abs_diff_eq!(xi, 1.0, epsilon = 1e-6);
            }
            assert!(m.f_x < 1e-12, "{m:?}");
            assert_eq!(m.n_eval, calls.get());
            assert!(m.n_iter < 200);
        }
    }

    #[test]
    fn rosenbrock_without_gradient_2d_and_5d() {
        for n in [2usize, 5] {
            let obj = |x: &[f64]| Ok(rosenbrock(x, &mut vec![0.0; x.len()]));
            let m = minimize(&obj, &rosen_start(n), &[], &MinimizeOptions::default()).unwrap();
            assert!(m.converged, "{m:?}");
            for &xi in &m.x {
                assert_abs_diff_eq!(xi, 1.0, epsilon = 1e-5);
            }
            assert!(m.f_x < 1e-10, "{m:?}");
        }
    }

    /// f(x) = (x - c)^T A (x - c) - 3.25 with a fixed symmetric positive-definite A.
    fn quadratic(x: &[f64], g: &mut [f64]) -> f64 {
        const A: [[f64; 3]; 3] = [[4.0, 1.0, 0.5], [1.0, 3.0, -0.2], [0.5, -0.2, 2.0]];
        const C: [f64; 3] = [0.5, -2.0, 7.0];
        let d: Vec<f64> = x.iter().zip(C).map(|(x, c)| x - c).collect();
        let mut f = -3.25;
        for i in 0..3 {
            let ad: f64 = (0..3).map(|j| A[i][j] * d[j]).sum();
            f += d[i] * ad;
            g[i] = 2.0 * ad;
        }
        f
    }

    #[test]
    fn quadratic_with_known_minimum_both_methods() {
        let with = WithGradient(|x: &[f64], g: &mut [f64]| Ok(quadratic(x, g)));
        let without = |x: &[f64]| Ok(quadratic(x, &mut [0.0; 3]));
        let o = MinimizeOptions::default();
        let a = minimize(&with, &[10.0, 10.0, -10.0], &[], &o).unwrap();
        let b = minimize(&without, &[10.0, 10.0, -10.0], &[], &o).unwrap();
        for (m, tol) in [(&a, 1e-7), (&b, 1e-5)] {
            assert!(m.converged);
            for (x, c) in m.x.iter().zip([0.5, -2.0, 7.0]) {
                assert_abs_diff_eq!(*x, c, epsilon = tol);
            }
            assert_abs_diff_eq!(m.f_x, -3.25, epsilon = 1e-10);
        }
        let forced = MinimizeOptions {
            method: Method::NelderMead,
            ..o
        };
        let c = minimize(&with, &[1.0, 1.0, 1.0], &[], &forced).unwrap();
        assert_abs_diff_eq!(c.x[2], 7.0, epsilon = 1e-5);
    }

    /// Poisson negative log-likelihood of a signal region (n1 counts, mean s + b)
    /// and a sideband (n2 counts, mean tau b); the MLE is b = n2/tau, s = n1 - b.
    fn on_off_nll(n1: f64, p: &[f64], g: &mut [f64]) -> f64 {
        let (n2, tau) = (20.0, 4.0);
        let (s, b) = (p[0], p[1]);
        let (mu1, mu2) = (s + b, tau * b);
        g[0] = 1.0 - n1 / mu1;
        g[1] = 1.0 - n1 / mu1 + tau - tau * n2 / mu2;
        mu1 - n1 * mu1.ln() + mu2 - n2 * mu2.ln()
    }

    #[test]
    fn bounded_optimum_strictly_inside() {
        let bounds = [Bound::at_least(0.0), Bound::between(0.0, 100.0)];
        let with = WithGradient(|p: &[f64], g: &mut [f64]| Ok(on_off_nll(10.0, p, g)));
        let without = |p: &[f64]| Ok(on_off_nll(10.0, p, &mut [0.0; 2]));
        // Also start exactly on the lower bound of s (nudged inside).
        for x0 in [[1.0, 1.0], [0.0, 50.0]] {
            for (m, tol) in [
                (
                    minimize(&with, &x0, &bounds, &MinimizeOptions::default()).unwrap(),
                    1e-6,
                ),
                (
                    minimize(&without, &x0, &bounds, &MinimizeOptions::default()).unwrap(),
                    1e-4,
                ),
            ] {
                assert!(m.converged, "{m:?}");
                assert_abs_diff_eq!(m.x[0], 5.0, epsilon = tol);
                assert_abs_diff_eq!(m.x[1], 5.0, epsilon = tol);
                assert_eq!(m.at_bound, vec![false, false]);
            }
        }
    }

    #[test]
    fn bounded_optimum_on_the_bound() {
        // Sideband over-fluctuation: n1 = 3 < n2 / tau = 5, so s_hat = 0 on the bound,
        // and b_hat maximises the likelihood with s = 0: b = (n1 + n2) / (1 + tau).
        let nll = |p: &[f64], g: &mut [f64]| Ok(on_off_nll(3.0, p, g));
        let b_hat = 23.0 / 5.0;
        let f_hat = nll(&[0.0, b_hat], &mut [0.0; 2]).unwrap();
        let bounds = [Bound::between(0.0, 50.0), Bound::at_least(1e-3)];
        let with = WithGradient(nll);
        let without = |p: &[f64]| nll(p, &mut [0.0; 2]);
        for m in [
            minimize(&with, &[2.0, 2.0], &bounds, &MinimizeOptions::default()).unwrap(),
            minimize(&without, &[2.0, 2.0], &bounds, &MinimizeOptions::default()).unwrap(),
            minimize(&with, &[0.0, 2.0], &bounds, &MinimizeOptions::default()).unwrap(),
        ] {
            assert!(m.converged, "{m:?}");
            assert_eq!(m.x[0], 0.0, "{m:?}");
            assert_eq!(m.at_bound, vec![true, false]);
            assert_abs_diff_eq!(m.x[1], b_hat, epsilon = 1e-4);
            assert_abs_diff_eq!(m.f_x, f_hat, epsilon = 1e-9);
        }
        // An upper bound: minimise (x - 5)^2 with x <= 2.
        let m = minimize(
            &|p: &[f64]| Ok((p[0] - 5.0).powi(2)),
            &[-3.0],
            &[Bound::at_most(2.0)],
            &MinimizeOptions::default(),
        )
        .unwrap();
        assert_eq!((m.x[0], m.f_x, m.at_bound[0]), (2.0, 9.0, true));
    }

    #[test]
    fn transformations_invert_and_have_the_right_derivative() {
        let maps = [
            Map::Free,
            Map::Lower(-2.0),
            Map::Upper(3.0),
            Map::Both(1.0, 4.0),
        ];
        for m in maps {
            for u in [-30.0, -5.0, -0.7, 0.0, 0.3, 4.0, 25.0] {
                let x = m.to_x(u);
                let (lo, hi) = m.bounds();
                assert!(x >= lo && x <= hi);
                // Central difference; truncation error O(h^2), rounding O(eps/h).
                let h = 1e-5;
                let fd = (m.to_x(u + h) - m.to_x(u - h)) / (2.0 * h);
                assert_relative_eq!(m.dx_du(u), fd, max_relative = 1e-8, epsilon = 1e-10);
                if (-10.0..=10.0).contains(&u) {
                    assert_abs_diff_eq!(m.to_u(x), u, epsilon = 1e-9);
                }
            }
        }
        // Far in a tail the distance to the bound keeps its relative precision.
        assert_relative_eq!(
            Map::Lower(0.0).to_x(-60.0),
            (-60f64).exp(),
            max_relative = 1e-14
        );
        assert_relative_eq!(
            Map::Both(0.0, 1.0).to_x(-60.0),
            (-60f64).exp(),
            max_relative = 1e-14
        );
        assert_relative_eq!(softplus_inv(1e-26), (1e-26f64).ln(), max_relative = 1e-14);
        assert_relative_eq!(softplus(800.0), 800.0);
        assert_relative_eq!(softplus(0.0), 2f64.ln());
        assert_relative_eq!(sigmoid(-800.0), 0.0);
    }

    #[test]
    fn internal_gradient_matches_finite_differences() {
        let maps = [
            Map::Free,
            Map::Lower(-2.0),
            Map::Upper(3.0),
            Map::Both(1.0, 4.0),
        ];
        // A smooth non-separable function of four variables.
        let obj = WithGradient(|x: &[f64], g: &mut [f64]| {
            let f = x[0] * x[1] + (x[2] - x[3]).powi(2) + (x[0] + x[3]).sin() + x[1].exp() * 0.1;
            g[0] = x[1] + (x[0] + x[3]).cos();
            g[1] = x[0] + x[1].exp() * 0.1;
            g[2] = 2.0 * (x[2] - x[3]);
            g[3] = -2.0 * (x[2] - x[3]) + (x[0] + x[3]).cos();
            Ok(f)
        });
        let shared = Shared {
            objective: &obj,
            maps: &maps,
            what: "test",
            use_gradient: true,
            allow_pos_inf: false,
            n_eval: Cell::new(0),
            guard: Cell::new(0),
            error: RefCell::new(None),
            cache: RefCell::new(None),
        };
        for u in [[0.3, -1.0, 0.5, 0.2], [-1.5, 2.0, -3.0, 2.5]] {
            let g = shared.gradient_u(&u).unwrap();
            for i in 0..4 {
                let h = 1e-6;
                let (mut up, mut dn) = (u, u);
                up[i] += h;
                dn[i] -= h;
                let fd = (shared.eval(&up).unwrap().0 - shared.eval(&dn).unwrap().0) / (2.0 * h);
                assert_relative_eq!(g[i], fd, max_relative = 1e-6, epsilon = 1e-9);
            }
        }
    }

    #[test]
    fn nan_objective_is_a_numerical_error_naming_x() {
        let nan_far = |p: &[f64]| {
            Ok(if p[0] > 3.0 {
                f64::NAN
            } else {
                (p[0] - 5.0).powi(2)
            })
        };
        let err = minimize(&nan_far, &[0.0], &[], &MinimizeOptions::default()).unwrap_err();
        match err {
            Error::Numerical { what, reason, .. } => {
                assert_eq!(what, "Nelder-Mead minimisation");
                assert!(reason.contains("NaN at x = ["), "{reason}");
            }
            e => panic!("wrong error {e}"),
        }
        let nan_grad = WithGradient(|p: &[f64], g: &mut [f64]| {
            g[0] = if p[0] > 1.0 {
                f64::NAN
            } else {
                2.0 * (p[0] - 5.0)
            };
            Ok((p[0] - 5.0).powi(2))
        });
        let err = minimize(&nan_grad, &[0.0], &[], &MinimizeOptions::default()).unwrap_err();
        assert!(
            matches!(err, Error::Numerical { ref reason, ref what, .. }
                if reason.contains("gradient") && what == "L-BFGS minimisation"),
            "{err}"
        );
        let nan_start = |_: &[f64]| Ok(f64::NAN);
        assert!(matches!(
            minimize(&nan_start, &[0.0], &[], &MinimizeOptions::default()),
            Err(Error::Numerical { .. })
        ));
    }

    #[test]
    fn objective_errors_propagate_even_from_the_initial_simplex() {
        // Fails on the second vertex of the Nelder-Mead simplex, inside argmin's
        // initialisation (which would panic on an error); must come back as Err.
        let obj = |p: &[f64]| {
            if p[0] > 0.5 {
                Err(Error::invalid_param("inner fit", p[0], "<= 0.5"))
            } else {
                Ok(p[0] * p[0] + p[1] * p[1])
            }
        };
        let err = minimize(&obj, &[0.49, 0.3], &[], &MinimizeOptions::default()).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { ref name, .. } if name == "inner fit"),
            "{err}"
        );
        // And from an L-BFGS line search.
        let obj = WithGradient(|p: &[f64], g: &mut [f64]| {
            if p[0] > 2.0 {
                return Err(Error::empty("inner data", "none"));
            }
            g[0] = 2.0 * (p[0] - 10.0);
            Ok((p[0] - 10.0).powi(2))
        });
        let err = minimize(&obj, &[0.0], &[], &MinimizeOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Empty { .. }), "{err}");
    }

    #[test]
    fn nelder_mead_accepts_infeasible_regions_lbfgs_does_not() {
        let obj = |p: &[f64]| {
            Ok(if p[0] < 0.3 {
                f64::INFINITY
            } else {
                (p[0] - 1.0).powi(2) + p[1] * p[1]
            })
        };
        let m = minimize(&obj, &[2.0, 1.0], &[], &MinimizeOptions::default()).unwrap();
        assert_abs_diff_eq!(m.x[0], 1.0, epsilon = 1e-5);
        let with = WithGradient(|p: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * (p[0] - 1.0);
            Ok(if p[0] < 0.3 {
                f64::INFINITY
            } else {
                (p[0] - 1.0).powi(2)
            })
        });
        assert!(matches!(
            minimize(&with, &[0.2], &[], &MinimizeOptions::default()),
            Err(Error::Numerical { .. })
        ));
    }

    #[test]
    fn non_convergence_is_an_error_unless_allowed() {
        let obj = WithGradient(|x: &[f64], g: &mut [f64]| Ok(rosenbrock(x, g)));
        let few = MinimizeOptions {
            max_iter: 3,
            ..Default::default()
        };
        let err = minimize(&obj, &[-1.2, 1.0], &[], &few).unwrap_err();
        assert!(
            matches!(err, Error::Numerical { iterations: 3, .. }),
            "{err}"
        );
        let allow = MinimizeOptions {
            allow_unconverged: true,
            ..few
        };
        let m = minimize(&obj, &[-1.2, 1.0], &[], &allow).unwrap();
        assert!(!m.converged && m.n_iter == 3 && m.f_x < 24.2, "{m:?}");
        let nm = MinimizeOptions {
            method: Method::NelderMead,
            ..few
        };
        assert!(matches!(
            minimize(&obj, &[-1.2, 1.0], &[], &nm),
            Err(Error::Numerical { .. })
        ));
    }

    #[test]
    fn invalid_inputs_are_rejected() {
        let f = |p: &[f64]| Ok(p.iter().map(|x| x * x).sum::<f64>());
        let o = MinimizeOptions::default();
        assert!(matches!(
            minimize(&f, &[], &[], &o),
            Err(Error::Empty { .. })
        ));
        assert!(matches!(
            minimize(&f, &[1.0, 2.0], &[Bound::FREE], &o),
            Err(Error::ShapeMismatch { .. })
        ));
        let err = minimize(&f, &[1.0, -2.0], &[Bound::FREE, Bound::at_least(0.0)], &o).unwrap_err();
        assert!(err.to_string().contains("x0[1]"), "{err}");
        assert!(minimize(&f, &[f64::NAN], &[], &o).is_err());
        let err = minimize(&f, &[1.0], &[Bound::between(2.0, 2.0)], &o).unwrap_err();
        assert!(err.to_string().contains("bounds[0].upper"), "{err}");
        assert!(minimize(&f, &[1.0], &[Bound::at_least(f64::NEG_INFINITY)], &o).is_err());
        assert!(minimize(&f, &[1.0], &[Bound::between(-f64::MAX, f64::MAX)], &o).is_err());
        let lbfgs = MinimizeOptions {
            method: Method::Lbfgs,
            ..o
        };
        assert!(matches!(
            minimize(&f, &[1.0], &[], &lbfgs),
            Err(Error::InvalidParameter { .. })
        ));
        let bad = MinimizeOptions {
            f_tol: f64::NAN,
            ..o
        };
        assert!(minimize(&f, &[1.0], &[], &bad).is_err());
        let bad = MinimizeOptions {
            initial_simplex_scale: 0.0,
            ..o
        };
        assert!(minimize(&f, &[1.0], &[], &bad).is_err());
    }

    #[test]
    fn the_start_is_evaluated_once() {
        // argmin asks for the value at the start again: answered from the cache.
        let calls = Cell::new(0);
        let obj = WithGradient(|x: &[f64], g: &mut [f64]| {
            calls.set(calls.get() + 1);
            Ok(quadratic(x, g))
        });
        let o = MinimizeOptions::default();
        let m = minimize(&obj, &[1.0, 2.0, 3.0], &[], &o).unwrap();
        assert_eq!(m.n_eval, calls.get());
        // Count the calls at the start point itself: exactly one.
        let at_start = Cell::new(0);
        let counting = WithGradient(|x: &[f64], g: &mut [f64]| {
            if x == [1.0, 2.0, 3.0] {
                at_start.set(at_start.get() + 1);
            }
            Ok(quadratic(x, g))
        });
        minimize(&counting, &[1.0, 2.0, 3.0], &[], &o).unwrap();
        assert_eq!(at_start.get(), 1);
    }

    #[test]
    fn free_parameters_are_not_tried_at_infinity() {
        // exp(x) has its infimum at x = -inf; a free parameter must not be
        // "snapped" there (the bound is infinite).
        let seen_inf = Cell::new(false);
        let obj = |p: &[f64]| {
            if p.iter().any(|v| v.is_infinite()) {
                seen_inf.set(true);
            }
            Ok((p[0] - 1.0).powi(2) + p[1].exp() * 1e-3 + (p[1] + 2.0).powi(2))
        };
        let m = minimize(&obj, &[0.0, 0.0], &[], &MinimizeOptions::default()).unwrap();
        assert!(!seen_inf.get());
        assert!(m.x.iter().all(|v| v.is_finite()) && m.at_bound == vec![false, false]);
    }

    fn lbfgsb() -> MinimizeOptions {
        MinimizeOptions {
            method: Method::LbfgsB,
            ..Default::default()
        }
    }

    #[test]
    fn projected_lbfgs_on_rosenbrock_and_a_quadratic() {
        for n in [2usize, 5] {
            let obj = WithGradient(|x: &[f64], g: &mut [f64]| Ok(rosenbrock(x, g)));
            let m = minimize(&obj, &rosen_start(n), &[], &lbfgsb()).unwrap();
            assert!(m.converged, "{m:?}");
            for &xi in &m.x {
                assert_abs_diff_eq!(xi, 1.0, epsilon = 1e-5);
            }
        }
        let with = WithGradient(|x: &[f64], g: &mut [f64]| Ok(quadratic(x, g)));
        let m = minimize(&with, &[10.0, 10.0, -10.0], &[], &lbfgsb()).unwrap();
        for (x, c) in m.x.iter().zip([0.5, -2.0, 7.0]) {
            assert_abs_diff_eq!(*x, c, epsilon = 1e-7);
        }
        assert_abs_diff_eq!(m.f_x, -3.25, epsilon = 1e-10);
    }

    #[test]
    fn projected_lbfgs_lands_exactly_on_an_active_bound() {
        // On-off likelihood with the sideband over-fluctuating: s_hat = 0 on
        // its bound; b_hat = (n1 + n2) / (1 + tau) inside.
        let nll = |p: &[f64], g: &mut [f64]| Ok(on_off_nll(3.0, p, g));
        let b_hat = 23.0 / 5.0;
        let f_hat = nll(&[0.0, b_hat], &mut [0.0; 2]).unwrap();
        let bounds = [Bound::between(0.0, 50.0), Bound::at_least(1e-3)];
        for x0 in [[2.0, 2.0], [0.0, 2.0], [50.0, 30.0]] {
            let m = minimize(&WithGradient(nll), &x0, &bounds, &lbfgsb()).unwrap();
            assert!(m.converged, "{m:?}");
            assert_eq!(m.x[0], 0.0, "{m:?}");
            assert_eq!(m.at_bound, vec![true, false]);
            assert_abs_diff_eq!(m.x[1], b_hat, epsilon = 1e-5);
            assert_abs_diff_eq!(m.f_x, f_hat, epsilon = 1e-9);
        }
        // An upper bound reached from the inside: (x - 5)^2 + (y - 1)^2, x <= 2.
        let obj = WithGradient(|p: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * (p[0] - 5.0);
            g[1] = 2.0 * (p[1] - 1.0);
            Ok((p[0] - 5.0).powi(2) + (p[1] - 1.0).powi(2))
        });
        let m = minimize(
            &obj,
            &[-3.0, 4.0],
            &[Bound::at_most(2.0), Bound::FREE],
            &lbfgsb(),
        )
        .unwrap();
        assert_eq!((m.x[0], m.at_bound[0]), (2.0, true));
        assert_abs_diff_eq!(m.x[1], 1.0, epsilon = 1e-7);
    }

    #[test]
    fn projected_lbfgs_does_not_stop_on_a_step_cut_short_by_a_bound() {
        // x starts 1e-13 above its bound 0 and the gradient pushes it down:
        // the first step is cut to ~1e-13 and changes f by ~1e-12, which
        // must not count as convergence while y is far from its optimum 3.
        let obj = WithGradient(|p: &[f64], g: &mut [f64]| {
            g[0] = 2.0 * (p[0] + 5.0);
            g[1] = 200.0 * (p[1] - 3.0);
            Ok((p[0] + 5.0).powi(2) + 100.0 * (p[1] - 3.0).powi(2))
        });
        let bounds = [Bound::between(0.0, 10.0), Bound::FREE];
        let m = minimize(&obj, &[1e-13, 0.0], &bounds, &lbfgsb()).unwrap();
        assert!(m.converged, "{m:?}");
        assert_eq!((m.x[0], m.at_bound[0]), (0.0, true));
        assert_abs_diff_eq!(m.x[1], 3.0, epsilon = 1e-7);
    }

    #[test]
    fn projected_lbfgs_first_step_is_scaled_to_unit_length() {
        // A steep linear-plus-quadratic objective: the first trial point is at
        // distance 1 / |g| * |g| = 1 from the start along -g, not |g|.
        let trials = RefCell::new(Vec::new());
        let obj = WithGradient(|x: &[f64], g: &mut [f64]| {
            trials.borrow_mut().push(x.to_vec());
            g[0] = 2.0 * (x[0] - 300.0);
            g[1] = 2.0 * (x[1] + 400.0);
            Ok((x[0] - 300.0).powi(2) + (x[1] + 400.0).powi(2))
        });
        let m = minimize(&obj, &[0.0, 0.0], &[], &lbfgsb()).unwrap();
        let t = trials.borrow();
        let step = (t[1][0].powi(2) + t[1][1].powi(2)).sqrt();
        assert_abs_diff_eq!(step, 1.0, epsilon = 1e-12);
        assert_abs_diff_eq!(m.x[0], 300.0, epsilon = 1e-6);
        assert_abs_diff_eq!(m.x[1], -400.0, epsilon = 1e-6);
    }

    #[test]
    fn projected_lbfgs_errors() {
        let f = |p: &[f64]| Ok(p[0] * p[0]);
        assert!(matches!(
            minimize(&f, &[1.0], &[], &lbfgsb()),
            Err(Error::InvalidParameter { .. })
        ));
        let obj = WithGradient(|p: &[f64], g: &mut [f64]| {
            if p[0] > 2.0 {
                return Err(Error::empty("inner data", "none"));
            }
            g[0] = 2.0 * (p[0] - 10.0);
            Ok((p[0] - 10.0).powi(2))
        });
        assert!(matches!(
            minimize(&obj, &[0.0], &[], &lbfgsb()),
            Err(Error::Empty { .. })
        ));
        let obj = WithGradient(|x: &[f64], g: &mut [f64]| Ok(rosenbrock(x, g)));
        let few = MinimizeOptions {
            max_iter: 2,
            ..lbfgsb()
        };
        assert!(matches!(
            minimize(&obj, &[-1.2, 1.0], &[], &few),
            Err(Error::Numerical { iterations: 2, .. })
        ));
        let m = minimize(
            &obj,
            &[-1.2, 1.0],
            &[],
            &MinimizeOptions {
                allow_unconverged: true,
                ..few
            },
        )
        .unwrap();
        assert!(!m.converged && m.n_iter == 2 && m.f_x < 24.2);
        let err = minimize(
            &obj,
            &[3.0, 1.0],
            &[Bound::between(-2.0, 2.0), Bound::FREE],
            &lbfgsb(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("x0[0]"), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn separable_quadratic_is_minimised_at_the_clamped_centre(
            centre in proptest::collection::vec(-5.0f64..5.0, 3),
            weight in proptest::collection::vec(0.2f64..5.0, 3),
            lo in proptest::collection::vec(-3.0f64..0.0, 3),
            width in proptest::collection::vec(0.5f64..4.0, 3),
            kind in proptest::collection::vec(0usize..4, 3),
            start in proptest::collection::vec(0.0f64..=1.0, 3),
            use_gradient in proptest::bool::ANY,
            projected in proptest::bool::ANY,
        ) {
            // The minimiser of sum_i w_i (x_i - c_i)^2 over a box is clamp(c_i).
            let obj = WithGradient(|x: &[f64], g: &mut [f64]| {
                let mut f = 0.0;
                for i in 0..3 {
                    f += weight[i] * (x[i] - centre[i]).powi(2);
                    g[i] = 2.0 * weight[i] * (x[i] - centre[i]);
                }
                Ok(f)
            });
            let hi: Vec<f64> = (0..3).map(|i| lo[i] + width[i]).collect();
            let bounds: Vec<Bound> = (0..3)
                .map(|i| match kind[i] {
                    0 => Bound::FREE,
                    1 => Bound::at_least(lo[i]),
                    2 => Bound::at_most(hi[i]),
                    _ => Bound::between(lo[i], hi[i]),
                })
                .collect();
            // Starting points anywhere in [lo, hi], including exactly on a bound.
            let x0: Vec<f64> = (0..3).map(|i| lo[i] + start[i] * width[i]).collect();
            let method = match (use_gradient, projected) {
                (false, _) => Method::NelderMead,
                (true, false) => Method::Lbfgs,
                (true, true) => Method::LbfgsB,
            };
            let o = MinimizeOptions { method, ..Default::default() };
            let m = minimize(&obj, &x0, &bounds, &o).unwrap();
            prop_assert!(m.converged);
            for i in 0..3 {
                let l = bounds[i].lower.unwrap_or(f64::NEG_INFINITY);
                let h = bounds[i].upper.unwrap_or(f64::INFINITY);
                let expected = centre[i].clamp(l, h);
                prop_assert!((m.x[i] - expected).abs() < 1e-4, "{:?} vs {}", m, expected);
                prop_assert_eq!(m.at_bound[i], expected == l || expected == h);
            }
        }
    }
}
