//! One-dimensional grids and binning.
//!
//! * [`linspace`]`(a, b, n)`: $x_i = a + (b-a)\,i/(n-1)$, $i = 0,\dots,n-1$.
//! * [`logspace`]`(a, b, n)`: the geometric grid $x_i = a\,(b/a)^{i/(n-1)}$,
//!   equally spaced in $\ln x$.
//! * [`log_bin_edges`]`(e_min, e_max, k)`: the $k+1$ edges of $k$ bins of equal
//!   width in $\ln E$, the binning of Fermi-LAT dwarf analyses
//!   ($E_k = 0.5\,\mathrm{GeV}\cdot 1000^{k/24}$ for 24 bins from 0.5 to 500 GeV;
//!   Ackermann et al. 2015, Phys. Rev. Lett. 115, 231301).
//! * [`bin_centres_linear`] (arithmetic means of the edges) and
//!   [`bin_centres_log`] (geometric means $\sqrt{E_k E_{k+1}}$, the natural
//!   centre of a logarithmic bin).
//! * [`find_bin`]: the bin $k$ with $E_k \le x < E_{k+1}$ by binary search;
//!   the last edge belongs to the last bin so that a closed range is covered.
//!
//! The first and last points of every generated grid are exactly the
//! requested endpoints, which matters when grids are used as bin edges or
//! as interpolation nodes that must cover a given range.
//!
//! ```
//! use darkprobe_core::grid::{find_bin, log_bin_edges};
//! let edges = log_bin_edges(0.5, 500.0, 24).unwrap();
//! assert_eq!(edges.len(), 25);
//! assert_eq!((edges[0], edges[24]), (0.5, 500.0));
//! assert_eq!(find_bin(&edges, 1.0), Some(2)); // 0.5 * 1000^(2/24) = 0.89 <= 1 < 1.19
//! assert_eq!(find_bin(&edges, 500.0), Some(23));
//! assert_eq!(find_bin(&edges, 600.0), None);
//! ```

use crate::error::{Error, Result};

/// Checks that `xs` is usable as a grid: at least two points, all finite and
/// strictly increasing.
///
/// # Errors
/// [`Error::Empty`] for fewer than two points, [`Error::InvalidParameter`]
/// naming `name[i]` and its value for the first non-finite or
/// non-increasing entry.
///
/// ```
/// use darkprobe_core::grid::validate_grid;
/// assert!(validate_grid("edges", &[1.0, 2.0, 4.0]).is_ok());
/// let err = validate_grid("edges", &[1.0, 2.0, 2.0]).unwrap_err();
/// assert!(err.to_string().contains("edges[2] = 2"));
/// ```
pub fn validate_grid(name: &str, xs: &[f64]) -> Result<()> {
    if xs.len() < 2 {
        return Err(Error::empty(
            name,
            format!("need at least 2 points, found {}", xs.len()),
        ));
    }
    for (i, &x) in xs.iter().enumerate() {
        if !x.is_finite() {
            return Err(Error::invalid_param(
                format!("{name}[{i}]"),
                x,
                "a finite number",
            ));
        }
        if i > 0 && x <= xs[i - 1] {
            return Err(Error::invalid_param(
                format!("{name}[{i}]"),
                x,
                format!("> {name}[{}] = {} (strictly increasing)", i - 1, xs[i - 1]),
            ));
        }
    }
    Ok(())
}

/// True when every element is strictly smaller than the next one.
///
/// Slices with fewer than two elements are trivially increasing; any NaN
/// makes the answer `false`.
///
/// ```
/// use darkprobe_core::grid::is_strictly_increasing;
/// assert!(is_strictly_increasing(&[0.0, 1.0, 3.0]));
/// assert!(!is_strictly_increasing(&[0.0, 1.0, 1.0]));
/// assert!(!is_strictly_increasing(&[0.0, f64::NAN]));
/// ```
pub fn is_strictly_increasing(xs: &[f64]) -> bool {
    xs.windows(2).all(|w| w[0] < w[1])
}

fn check_count(n: usize, min: usize, name: &str) -> Result<()> {
    if n < min {
        Err(Error::invalid_param(name, n, format!(">= {min}")))
    } else {
        Ok(())
    }
}

fn check_range(a: f64, b: f64, a_name: &str, b_name: &str) -> Result<()> {
    crate::error::check_finite(a_name, a)?;
    crate::error::check_finite(b_name, b)?;
    if a < b {
        Ok(())
    } else {
        Err(Error::invalid_param(
            b_name,
            b,
            format!("finite and > {a_name} = {a}"),
        ))
    }
}

fn finish_grid(xs: Vec<f64>, what: &str, n: usize) -> Result<Vec<f64>> {
    if is_strictly_increasing(&xs) {
        Ok(xs)
    } else {
        Err(Error::invalid_param(
            "n",
            n,
            format!("small enough that the {what} points are distinct in f64"),
        ))
    }
}

/// `n` equally spaced points from `a` to `b`, both included exactly.
///
/// # Errors
/// [`Error::InvalidParameter`] when `n < 2`, `a` or `b` is not finite,
/// `a >= b`, or `n` is so large that neighbouring points coincide in `f64`.
///
/// ```
/// use darkprobe_core::grid::linspace;
/// assert_eq!(linspace(0.0, 1.0, 5).unwrap(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
/// ```
pub fn linspace(a: f64, b: f64, n: usize) -> Result<Vec<f64>> {
    check_count(n, 2, "n")?;
    check_range(a, b, "a", "b")?;
    let m = (n - 1) as f64;
    let span = b - a;
    let xs: Vec<f64> = (0..n)
        .map(|i| {
            if i == 0 {
                a
            } else if i == n - 1 {
                b
            } else {
                let t = i as f64 / m;
                if span.is_finite() {
                    a + span * t
                } else {
                    // b - a overflows: interpolate without forming it.
                    a * (1.0 - t) + b * t
                }
            }
        })
        .collect();
    finish_grid(xs, "linspace", n)
}

/// `n` geometrically spaced points from `a` to `b` (equal steps in $\ln x$),
/// both included exactly.
///
/// # Errors
/// [`Error::InvalidParameter`] when `n < 2`, `a` or `b` is not finite and
/// positive, `a >= b`, or the points would coincide in `f64`.
///
/// ```
/// use darkprobe_core::grid::logspace;
/// let xs = logspace(1.0, 1000.0, 4).unwrap();
/// assert!((xs[1] - 10.0).abs() < 1e-13 && (xs[2] - 100.0).abs() < 1e-12);
/// ```
pub fn logspace(a: f64, b: f64, n: usize) -> Result<Vec<f64>> {
    check_count(n, 2, "n")?;
    crate::error::check_positive("a", a)?;
    crate::error::check_positive("b", b)?;
    check_range(a, b, "a", "b")?;
    let ratio = b / a;
    // ln(b/a) is more accurate than ln b - ln a unless the ratio overflows.
    let ln_ratio = if ratio.is_finite() {
        ratio.ln()
    } else {
        b.ln() - a.ln()
    };
    let m = (n - 1) as f64;
    let xs: Vec<f64> = (0..n)
        .map(|i| {
            if i == 0 {
                a
            } else if i == n - 1 {
                b
            } else {
                a * (ln_ratio * (i as f64 / m)).exp()
            }
        })
        .collect();
    finish_grid(xs, "logspace", n)
}

/// The `n_bins + 1` edges of `n_bins` logarithmically equal bins from `e_min`
/// to `e_max`; this is [`logspace`]`(e_min, e_max, n_bins + 1)`.
///
/// # Errors
/// [`Error::InvalidParameter`] when `n_bins == 0` or the range is invalid as
/// for [`logspace`].
///
/// ```
/// use darkprobe_core::grid::log_bin_edges;
/// let e = log_bin_edges(1.0, 100.0, 2).unwrap();
/// assert!((e[1] - 10.0).abs() < 1e-13);
/// ```
pub fn log_bin_edges(e_min: f64, e_max: f64, n_bins: usize) -> Result<Vec<f64>> {
    check_count(n_bins, 1, "n_bins")?;
    crate::error::check_positive("e_min", e_min)?;
    crate::error::check_positive("e_max", e_max)?;
    check_range(e_min, e_max, "e_min", "e_max")?;
    logspace(e_min, e_max, n_bins + 1)
}

/// Arithmetic bin centres $(x_k + x_{k+1})/2$ of the bins bounded by `edges`.
///
/// # Errors
/// As [`validate_grid`] for `edges`.
///
/// ```
/// use darkprobe_core::grid::bin_centres_linear;
/// assert_eq!(bin_centres_linear(&[0.0, 1.0, 3.0]).unwrap(), vec![0.5, 2.0]);
/// ```
pub fn bin_centres_linear(edges: &[f64]) -> Result<Vec<f64>> {
    validate_grid("edges", edges)?;
    // 0.5 * lo + 0.5 * hi cannot overflow where lo + hi might.
    Ok(edges.windows(2).map(|w| 0.5 * w[0] + 0.5 * w[1]).collect())
}

/// Geometric bin centres $\sqrt{x_k x_{k+1}}$ of the bins bounded by `edges`.
///
/// # Errors
/// As [`validate_grid`] for `edges`; in addition every edge must be > 0.
///
/// ```
/// use darkprobe_core::grid::bin_centres_log;
/// let c = bin_centres_log(&[1.0, 100.0, 10_000.0]).unwrap();
/// assert!((c[0] - 10.0).abs() < 1e-14 && (c[1] - 1000.0).abs() < 1e-12);
/// ```
pub fn bin_centres_log(edges: &[f64]) -> Result<Vec<f64>> {
    validate_grid("edges", edges)?;
    if let Some(&e0) = edges.first() {
        if e0 <= 0.0 {
            return Err(Error::invalid_param(
                "edges[0]",
                e0,
                "> 0 (geometric centres need positive edges)",
            ));
        }
    }
    // sqrt(lo) * sqrt(hi) avoids overflow and underflow of lo * hi.
    Ok(edges
        .windows(2)
        .map(|w| w[0].sqrt() * w[1].sqrt())
        .collect())
}

/// The index `k` of the bin with `edges[k] <= x < edges[k + 1]`, found by
/// binary search; `x == edges[last]` belongs to the last bin.
///
/// Returns `None` when `x` is outside `[edges[0], edges[last]]`, is NaN, or
/// `edges` has fewer than two entries. `edges` must be strictly increasing
/// (see [`is_strictly_increasing`]); for other input the answer is some index
/// or `None`, never a panic.
///
/// ```
/// use darkprobe_core::grid::find_bin;
/// let edges = [0.0, 1.0, 2.0];
/// assert_eq!(find_bin(&edges, 0.0), Some(0));
/// assert_eq!(find_bin(&edges, 1.0), Some(1));
/// assert_eq!(find_bin(&edges, 2.0), Some(1));
/// assert_eq!(find_bin(&edges, -0.1), None);
/// ```
pub fn find_bin(edges: &[f64], x: f64) -> Option<usize> {
    let n = edges.len();
    if n < 2 {
        return None;
    }
    // Number of edges <= x; 0 for NaN since every comparison is false.
    let k = edges.partition_point(|&e| e <= x);
    if k == 0 {
        None
    } else if k < n {
        Some(k - 1)
    } else if x == edges[n - 1] {
        Some(n - 2)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use proptest::prelude::*;

    #[test]
    fn fermi_lat_binning() {
        let edges = log_bin_edges(0.5, 500.0, 24).unwrap();
        assert_eq!(edges.len(), 25);
        for (k, &e) in edges.iter().enumerate() {
            let expected = 0.5 * 1000f64.powf(k as f64 / 24.0);
            assert_relative_eq!(e, expected, max_relative = 1e-12);
        }
        assert_eq!(edges[0], 0.5);
        assert_eq!(edges[24], 500.0);
        // E_k = 0.5 * 10^(k/8): every eighth edge is a round number.
        assert_relative_eq!(edges[8], 5.0, max_relative = 1e-13);
        assert_relative_eq!(edges[16], 50.0, max_relative = 1e-13);
    }

    #[test]
    fn linspace_values_and_exact_endpoints() {
        let xs = linspace(-1.0, 2.0, 4).unwrap();
        assert_eq!(xs, vec![-1.0, 0.0, 1.0, 2.0]);
        let xs = linspace(0.1, 0.7, 7).unwrap();
        assert_eq!(xs[0], 0.1);
        assert_eq!(xs[6], 0.7);
        for (i, &x) in xs.iter().enumerate() {
            assert_relative_eq!(x, 0.1 + 0.1 * i as f64, max_relative = 1e-15);
        }
        // A span that overflows f64 still works.
        let xs = linspace(-f64::MAX, f64::MAX, 3).unwrap();
        assert_eq!(xs, vec![-f64::MAX, 0.0, f64::MAX]);
    }

    #[test]
    fn logspace_is_geometric() {
        let xs = logspace(1e-3, 1e3, 7).unwrap();
        for (i, &x) in xs.iter().enumerate() {
            assert_relative_eq!(x, 10f64.powi(i as i32 - 3), max_relative = 1e-14);
        }
        // Ratio that overflows f64.
        let xs = logspace(1e-300, 1e300, 3).unwrap();
        assert_relative_eq!(xs[1], 1.0, max_relative = 1e-12);
    }

    #[test]
    fn invalid_inputs_are_rejected() {
        assert!(linspace(0.0, 1.0, 1).is_err());
        assert!(linspace(1.0, 1.0, 3).is_err());
        assert!(linspace(2.0, 1.0, 3).is_err());
        assert!(linspace(f64::NAN, 1.0, 3).is_err());
        assert!(linspace(0.0, f64::INFINITY, 3).is_err());
        assert!(logspace(0.0, 1.0, 3).is_err());
        assert!(logspace(-1.0, 1.0, 3).is_err());
        assert!(logspace(1.0, 1.0, 3).is_err());
        assert!(log_bin_edges(1.0, 10.0, 0).is_err());
        assert!(log_bin_edges(10.0, 1.0, 3).is_err());
        // Points that cannot be distinct in f64.
        assert!(linspace(1.0, 1.0 + f64::EPSILON, 10).is_err());
        let e = linspace(0.0, 1.0, 1).unwrap_err();
        assert_eq!(e.to_string(), "invalid n = 1: allowed >= 2");
    }

    #[test]
    fn centres() {
        let c = bin_centres_linear(&[1.0, 3.0, 7.0]).unwrap();
        assert_eq!(c, vec![2.0, 5.0]);
        let c = bin_centres_log(&[1.0, 4.0, 16.0]).unwrap();
        assert_relative_eq!(c[0], 2.0, max_relative = 1e-15);
        assert_relative_eq!(c[1], 8.0, max_relative = 1e-15);
        assert!(bin_centres_log(&[0.0, 1.0]).is_err());
        assert!(bin_centres_linear(&[1.0]).is_err());
        assert!(bin_centres_linear(&[1.0, 0.5]).is_err());
        let e = bin_centres_linear(&[0.0, 1.0, f64::NAN]).unwrap_err();
        assert!(e.to_string().contains("edges[2] = NaN"), "{e}");
    }

    #[test]
    fn find_bin_edge_cases() {
        let edges = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(find_bin(&edges, 1.0), Some(0));
        assert_eq!(find_bin(&edges, 1.999), Some(0));
        assert_eq!(find_bin(&edges, 2.0), Some(1));
        assert_eq!(find_bin(&edges, 7.9), Some(2));
        assert_eq!(find_bin(&edges, 8.0), Some(2));
        assert_eq!(find_bin(&edges, 8.0001), None);
        assert_eq!(find_bin(&edges, 0.5), None);
        assert_eq!(find_bin(&edges, f64::NAN), None);
        assert_eq!(find_bin(&edges, f64::INFINITY), None);
        assert_eq!(find_bin(&[1.0], 1.0), None);
        assert_eq!(find_bin(&[], 1.0), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn find_bin_matches_linear_scan(
            mut raw in prop::collection::vec(-100.0f64..100.0, 2..30),
            x in -120.0f64..120.0,
        ) {
            raw.sort_by(f64::total_cmp);
            raw.dedup();
            prop_assume!(raw.len() >= 2);
            let n = raw.len();
            let brute = (0..n - 1).find(|&k| {
                raw[k] <= x && (x < raw[k + 1] || (k == n - 2 && x == raw[k + 1]))
            });
            prop_assert_eq!(find_bin(&raw, x), brute);
            // Edges themselves land in their own bin.
            for k in 0..n - 1 {
                prop_assert_eq!(find_bin(&raw, raw[k]), Some(k));
            }
        }

        #[test]
        fn grids_are_increasing_with_exact_ends(
            a in 1e-6f64..1e3, f in 1.001f64..1e6, n in 2usize..200,
        ) {
            let b = a * f;
            let lin = linspace(a, b, n).unwrap();
            let log = logspace(a, b, n).unwrap();
            for xs in [&lin, &log] {
                prop_assert_eq!(xs.len(), n);
                prop_assert!(is_strictly_increasing(xs));
                prop_assert_eq!(xs[0], a);
                prop_assert_eq!(xs[n - 1], b);
            }
            // Constant steps in x and in ln x respectively.
            let h = (b - a) / (n - 1) as f64;
            let hl = (b / a).ln() / (n - 1) as f64;
            for w in lin.windows(2) {
                prop_assert!(((w[1] - w[0]) - h).abs() <= 1e-9 * b);
            }
            for w in log.windows(2) {
                prop_assert!(((w[1] / w[0]).ln() - hl).abs() <= 1e-12);
            }
        }
    }
}
