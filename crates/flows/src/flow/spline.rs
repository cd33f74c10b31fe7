//! Monotone rational-quadratic splines (Gregory & Delbourgo 1982), the
//! element-wise transform of the neural spline flows of Durkan, Bekasov,
//! Murray & Papamakarios (2019, arXiv:1906.04032).
//!
//! On $[-B, B]$ the map has $K$ bins with knots $(x_k, y_k)$ and positive
//! derivatives $\delta_k$ at the knots ($\delta_0=\delta_K=1$, so that the
//! identity tails outside $[-B,B]$ join smoothly). In bin $k$, with
//! $w_k=x_{k+1}-x_k$, $h_k=y_{k+1}-y_k$, $s_k=h_k/w_k$ and
//! $\xi=(x-x_k)/w_k$,
//! $$y = y_k + h_k\,\frac{s_k\xi^2+\delta_k\xi(1-\xi)}{s_k+(\delta_{k+1}+\delta_k-2s_k)\xi(1-\xi)},\qquad
//! \frac{dy}{dx} = s_k^2\,\frac{\delta_{k+1}\xi^2+2s_k\xi(1-\xi)+\delta_k(1-\xi)^2}{\big[s_k+(\delta_{k+1}+\delta_k-2s_k)\xi(1-\xi)\big]^2}.$$
//! The $3K-1$ unconstrained parameters per dimension are $K$ width logits,
//! $K$ height logits (softmax, with a floor of `MIN_BIN` of the interval
//! per bin) and $K-1$ interior derivatives
//! $\delta = \delta_{\min} + \mathrm{softplus}(\theta + c)$ with $c$ chosen so
//! that $\theta=0$ gives $\delta=1$: all-zero parameters are the identity.
//!
//! Gradients are exact: the derivatives of $y$ and $\ln(dy/dx)$ with respect
//! to $x$ and to the local quantities $(x_k, w_k, y_k, h_k, \delta_k,
//! \delta_{k+1})$ in closed form, chained through the cumulative sums and the
//! softmax / softplus parametrisation.

/// Smallest bin width or height, as a fraction of $2B$.
const MIN_BIN: f64 = 1e-3;
/// Smallest knot derivative.
const MIN_DERIV: f64 = 1e-3;

/// Number of unconstrained parameters per dimension for `bins` bins.
pub(crate) fn n_params(bins: usize) -> usize {
    3 * bins - 1
}

fn softplus(t: f64) -> f64 {
    if t > 30.0 {
        t
    } else {
        t.exp().ln_1p()
    }
}

/// Offset $c$ with $\delta_{\min}+\mathrm{softplus}(c)=1$.
fn deriv_offset() -> f64 {
    (1.0 - MIN_DERIV).exp_m1().ln()
}

/// The knots of one spline, decoded from its raw parameters.
pub(crate) struct Knots {
    bins: usize,
    bound: f64,
    /// Softmax of the width / height logits.
    sw: Vec<f64>,
    sh: Vec<f64>,
    /// Knot positions $x_0..x_K$, $y_0..y_K$.
    xs: Vec<f64>,
    ys: Vec<f64>,
    /// Derivatives $\delta_0..\delta_K$.
    ds: Vec<f64>,
}

fn softmax_into(raw: &[f64], out: &mut Vec<f64>) {
    out.clear();
    let m = raw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for &r in raw {
        let e = (r - m).exp();
        out.push(e);
        s += e;
    }
    out.iter_mut().for_each(|e| *e /= s);
}

impl Knots {
    pub(crate) fn new(bins: usize) -> Self {
        Self {
            bins,
            bound: 1.0,
            sw: Vec::with_capacity(bins),
            sh: Vec::with_capacity(bins),
            xs: Vec::with_capacity(bins + 1),
            ys: Vec::with_capacity(bins + 1),
            ds: Vec::with_capacity(bins + 1),
        }
    }

    /// Decodes `raw` ($3K-1$ values) for the interval $[-B, B]$.
    pub(crate) fn set(&mut self, raw: &[f64], bound: f64) {
        let k = self.bins;
        self.bound = bound;
        softmax_into(&raw[..k], &mut self.sw);
        softmax_into(&raw[k..2 * k], &mut self.sh);
        let span = 2.0 * bound;
        let scale = 1.0 - k as f64 * MIN_BIN;
        self.xs.clear();
        self.ys.clear();
        let (mut x, mut y) = (-bound, -bound);
        self.xs.push(x);
        self.ys.push(y);
        for i in 0..k {
            x += span * (MIN_BIN + scale * self.sw[i]);
            y += span * (MIN_BIN + scale * self.sh[i]);
            self.xs.push(x);
            self.ys.push(y);
        }
        self.xs[k] = bound;
        self.ys[k] = bound;
        let c = deriv_offset();
        self.ds.clear();
        self.ds.push(1.0);
        for &t in &raw[2 * k..3 * k - 1] {
            self.ds.push(MIN_DERIV + softplus(t + c));
        }
        self.ds.push(1.0);
    }

    fn bin_of(knots: &[f64], v: f64) -> usize {
        let k = knots.len() - 1;
        let mut b = 0;
        while b + 1 < k && v >= knots[b + 1] {
            b += 1;
        }
        b
    }

    /// $y(x)$ and $\ln(dy/dx)$.
    pub(crate) fn forward(&self, x: f64) -> (f64, f64) {
        if !(x > -self.bound && x < self.bound) {
            return (x, 0.0);
        }
        let b = Self::bin_of(&self.xs, x);
        let l = self.local(b, x);
        (l.y, l.ln_dy)
    }

    fn local(&self, b: usize, x: f64) -> Local {
        let (xk, yk) = (self.xs[b], self.ys[b]);
        let w = self.xs[b + 1] - xk;
        let h = self.ys[b + 1] - yk;
        let (dk, dk1) = (self.ds[b], self.ds[b + 1]);
        let s = h / w;
        let xi = (x - xk) / w;
        let q = xi * (1.0 - xi);
        let c = dk1 + dk - 2.0 * s;
        let num = s * xi * xi + dk * q;
        let den = s + c * q;
        let m = dk1 * xi * xi + 2.0 * s * q + dk * (1.0 - xi) * (1.0 - xi);
        Local {
            xi,
            s,
            w,
            h,
            dk,
            dk1,
            num,
            den,
            m,
            y: yk + h * num / den,
            ln_dy: 2.0 * s.ln() + m.ln() - 2.0 * den.ln(),
        }
    }

    /// $x(y)$: the inverse of [`Knots::forward`].
    pub(crate) fn inverse(&self, y: f64) -> f64 {
        if !(y > -self.bound && y < self.bound) {
            return y;
        }
        let b = Self::bin_of(&self.ys, y);
        let (xk, yk) = (self.xs[b], self.ys[b]);
        let w = self.xs[b + 1] - xk;
        let h = self.ys[b + 1] - yk;
        let (dk, dk1) = (self.ds[b], self.ds[b + 1]);
        let s = h / w;
        let dy = y - yk;
        let c = dk1 + dk - 2.0 * s;
        let qa = h * (s - dk) + dy * c;
        let qb = h * dk - dy * c;
        let qc = -s * dy;
        let disc = (qb * qb - 4.0 * qa * qc).max(0.0);
        // The root in [0, 1], in the form without cancellation.
        let xi = (2.0 * qc / (-qb - disc.sqrt())).clamp(0.0, 1.0);
        xk + xi * w
    }

    /// Back-propagation of $L$ with $\partial L/\partial y = c_y$ and
    /// $\partial L/\partial\ln(dy/dx) = c_l$: adds $\partial L/\partial\theta_p$
    /// to `g_raw[p]` and returns $\partial L/\partial x$ (through $y$ and
    /// $\ln(dy/dx)$ only, not through the parameters).
    pub(crate) fn backward(&self, x: f64, cy: f64, cl: f64, g_raw: &mut [f64]) -> f64 {
        if !(x > -self.bound && x < self.bound) {
            return cy;
        }
        let k = self.bins;
        let b = Self::bin_of(&self.xs, x);
        let l = self.local(b, x);
        let (xi, s, w, h) = (l.xi, l.s, l.w, l.h);
        let q = xi * (1.0 - xi);
        let c = l.dk1 + l.dk - 2.0 * s;
        // Partial derivatives with respect to (xi, s, dk, dk1) of num, den, m.
        let n_xi = 2.0 * s * xi + l.dk * (1.0 - 2.0 * xi);
        let n_s = xi * xi;
        let n_dk = q;
        let d_xi = c * (1.0 - 2.0 * xi);
        let d_s = 1.0 - 2.0 * q;
        let d_dk = q;
        let d_dk1 = q;
        let m_xi = 2.0 * l.dk1 * xi + 2.0 * s * (1.0 - 2.0 * xi) - 2.0 * l.dk * (1.0 - xi);
        let m_s = 2.0 * q;
        let m_dk = (1.0 - xi) * (1.0 - xi);
        let m_dk1 = xi * xi;
        let den2 = l.den * l.den;
        let y_of = |nq: f64, dq: f64| h * (nq * l.den - l.num * dq) / den2;
        let ly_of = |mq: f64, dq: f64| mq / l.m - 2.0 * dq / l.den;
        // Combined local derivatives G_q = cy dy/dq + cl dln(y')/dq.
        let g_xi = cy * y_of(n_xi, d_xi) + cl * ly_of(m_xi, d_xi);
        let g_s = cy * y_of(n_s, d_s) + cl * (2.0 / s + ly_of(m_s, d_s));
        let g_dk = cy * y_of(n_dk, d_dk) + cl * ly_of(m_dk, d_dk);
        let g_dk1 = cy * y_of(0.0, d_dk1) + cl * ly_of(m_dk1, d_dk1);
        let g_h_explicit = cy * l.num / l.den;
        // Chain: xi = (x - x_k)/w, s = h/w.
        let g_x = g_xi / w;
        let g_xk = -g_xi / w;
        let g_w = -g_xi * xi / w - g_s * s / w;
        let g_h = g_h_explicit + g_s / w;
        let g_yk = cy;
        // Widths: x_b = -B + sum_{i<b} w_i; bin b has width w_b. The last knot
        // is pinned at B, so that the last width is B - x_{K-1}: identical in
        // value, and its derivative is that of 2B - sum_{i<K-1} w_i.
        let span = 2.0 * self.bound;
        let scale = span * (1.0 - k as f64 * MIN_BIN);
        let mut gw = vec![0.0f64; k];
        let mut gh = vec![0.0f64; k];
        for i in 0..b {
            gw[i] += g_xk;
            gh[i] += g_yk;
        }
        gw[b] += g_w;
        gh[b] += g_h;
        for (off, gv, sv) in [(0usize, &gw, &self.sw), (k, &gh, &self.sh)] {
            let dot: f64 = gv.iter().zip(sv.iter()).map(|(g, s)| g * s).sum();
            for i in 0..k {
                g_raw[off + i] += scale * sv[i] * (gv[i] - dot);
            }
        }
        // Interior derivatives delta_1..delta_{K-1} sit at raw 2K + i - 1;
        // d delta / d theta = sigmoid(theta + c) = 1 - exp(-(delta - MIN_DERIV)).
        let dsp = |d: f64| -(-(d - MIN_DERIV)).exp_m1();
        if b >= 1 {
            g_raw[2 * k + b - 1] += g_dk * dsp(l.dk);
        }
        if b + 1 < k {
            g_raw[2 * k + b] += g_dk1 * dsp(l.dk1);
        }
        g_x
    }
}

/// Per-bin quantities at one point.
struct Local {
    xi: f64,
    s: f64,
    w: f64,
    h: f64,
    dk: f64,
    dk1: f64,
    num: f64,
    den: f64,
    m: f64,
    y: f64,
    ln_dy: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_raw(bins: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n_params(bins))
            .map(|_| rng.random_range(-2.0..2.0))
            .collect()
    }

    #[test]
    fn zero_parameters_are_the_identity() {
        let mut k = Knots::new(6);
        k.set(&vec![0.0; n_params(6)], 3.0);
        for x in [-5.0, -2.9, -1.0, 0.0, 0.37, 2.5, 3.0, 7.0] {
            let (y, l) = k.forward(x);
            assert!((y - x).abs() < 1e-12 && l.abs() < 1e-12, "{x}: {y} {l}");
        }
    }

    #[test]
    fn inverse_and_log_derivative_match() {
        for seed in 0..5 {
            let mut k = Knots::new(5);
            k.set(&random_raw(5, seed), 2.5);
            let mut prev = f64::NEG_INFINITY;
            for i in 0..=400 {
                let x = -3.0 + 6.0 * i as f64 / 400.0;
                let (y, l) = k.forward(x);
                assert!(y > prev, "not increasing at {x}");
                prev = y;
                assert!((k.inverse(y) - x).abs() < 1e-10, "inverse at {x}");
                let e = 1e-6;
                let fd = (k.forward(x + e).0 - k.forward(x - e).0) / (2.0 * e);
                assert!(
                    (fd.ln() - l).abs() < 1e-6,
                    "ln y' at {x}: {} vs {l}",
                    fd.ln()
                );
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let bins = 4;
        let (cy, cl) = (0.7, -1.3);
        for seed in 0..4 {
            let raw = random_raw(bins, 10 + seed);
            let bound = 2.0;
            let f = |raw: &[f64], x: f64| {
                let mut k = Knots::new(bins);
                k.set(raw, bound);
                let (y, l) = k.forward(x);
                cy * y + cl * l
            };
            for x in [-1.9, -0.8, 0.05, 0.9, 1.7] {
                let mut k = Knots::new(bins);
                k.set(&raw, bound);
                let mut g = vec![0.0; raw.len()];
                let gx = k.backward(x, cy, cl, &mut g);
                let e = 1e-6;
                let fdx = (f(&raw, x + e) - f(&raw, x - e)) / (2.0 * e);
                assert!(
                    (gx - fdx).abs() < 1e-6 * (1.0 + fdx.abs()),
                    "x: {gx} vs {fdx}"
                );
                for p in 0..raw.len() {
                    let (mut a, mut b) = (raw.clone(), raw.clone());
                    a[p] += e;
                    b[p] -= e;
                    let fd = (f(&a, x) - f(&b, x)) / (2.0 * e);
                    assert!(
                        (g[p] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                        "seed {seed} x {x} param {p}: {} vs {fd}",
                        g[p]
                    );
                }
            }
            // Outside the interval: identity, no parameter gradient.
            let mut k = Knots::new(bins);
            k.set(&raw, bound);
            let mut g = vec![0.0; raw.len()];
            assert_eq!(k.backward(3.5, cy, cl, &mut g), cy);
            assert!(g.iter().all(|v| *v == 0.0));
        }
    }
}
