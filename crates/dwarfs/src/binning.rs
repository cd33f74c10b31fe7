//! Energy binning: fine logarithmic bins merged into macro bins.
//!
//! The LAT data behind MLFermiLATDwarfs have $K = 24$ logarithmic bins from
//! $E_{\min} = 0.5$ GeV to $E_{\max} = 500$ GeV, with edges
//! $E_k = E_{\min} (E_{\max}/E_{\min})^{k/K}$. The analysis merges them into 6 macro bins
//! given by the fine-bin index boundaries $[0, 1, 2, 3, 4, 6, 24]$: macro bin $m$
//! holds the fine bins $i_m \le k < i_{m+1}$. Counts are **summed** over the fine
//! bins of a macro bin; the macro-bin exposure is the arithmetic **mean** of the
//! fine-bin exposures (the package's convention).
//!
//! ```
//! use darkprobe_dwarfs::EnergyBinning;
//! let eb = EnergyBinning::package();
//! assert_eq!((eb.n_fine(), eb.n_macro()), (24, 6));
//! let fine_counts: Vec<u64> = (0..24).collect();
//! // Macro bin 4 holds fine bins 4 and 5, macro bin 5 the fine bins 6..24.
//! let m = eb.merge_counts(&fine_counts).unwrap();
//! assert_eq!(m, vec![0, 1, 2, 3, 9, (6..24).sum::<u64>()]);
//! let e = eb.macro_edges_gev();
//! assert!((e[5] - 0.5 * 1000f64.powf(6.0 / 24.0)).abs() < 1e-12);
//! ```

use crate::error::Result;
use darkprobe_core::error::check_positive;
use darkprobe_core::Error;

/// The package's fine-bin index boundaries of the 6 macro bins.
pub const PACKAGE_MACRO_BOUNDARIES: [usize; 7] = [0, 1, 2, 3, 4, 6, 24];

/// The rounded macro-bin edges (GeV) the package uses when it integrates a
/// dark-matter spectrum over the macro bins.
pub const PACKAGE_ROUNDED_MACRO_EDGES_GEV: [f64; 7] = [0.5, 0.67, 0.89, 1.19, 1.58, 2.81, 500.0];

/// Fine logarithmic energy bins and their grouping into macro bins.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyBinning {
    e_min_gev: f64,
    e_max_gev: f64,
    n_fine: usize,
    boundaries: Vec<usize>,
}

impl EnergyBinning {
    /// `n_fine` logarithmic bins from `e_min_gev` to `e_max_gev`, grouped by the
    /// fine-bin index `boundaries` (strictly increasing, from 0 to `n_fine`).
    ///
    /// # Errors
    /// Non-positive or non-finite energies, `e_max_gev <= e_min_gev`, no fine
    /// bin, or boundaries that do not start at 0, end at `n_fine` and increase
    /// strictly.
    pub fn new(
        e_min_gev: f64,
        e_max_gev: f64,
        n_fine: usize,
        boundaries: Vec<usize>,
    ) -> Result<Self> {
        check_positive("e_min_gev", e_min_gev)?;
        check_positive("e_max_gev", e_max_gev)?;
        if e_max_gev <= e_min_gev {
            return Err(Error::invalid_param(
                "e_max_gev",
                e_max_gev,
                format!("> e_min_gev = {e_min_gev}"),
            )
            .into());
        }
        if n_fine == 0 {
            return Err(Error::invalid_param("n_fine", 0, ">= 1").into());
        }
        let ok = boundaries.len() >= 2
            && boundaries.first() == Some(&0)
            && boundaries.last() == Some(&n_fine)
            && boundaries.windows(2).all(|w| w[0] < w[1]);
        if !ok {
            return Err(Error::invalid_param(
                "macro-bin boundaries",
                format!("{boundaries:?}"),
                format!("strictly increasing fine-bin indices from 0 to {n_fine}"),
            )
            .into());
        }
        Ok(Self {
            e_min_gev,
            e_max_gev,
            n_fine,
            boundaries,
        })
    }

    /// The MLFermiLATDwarfs binning: 24 bins from 0.5 to 500 GeV merged by
    /// [`PACKAGE_MACRO_BOUNDARIES`].
    pub fn package() -> Self {
        Self {
            e_min_gev: 0.5,
            e_max_gev: 500.0,
            n_fine: 24,
            boundaries: PACKAGE_MACRO_BOUNDARIES.to_vec(),
        }
    }

    /// Every fine bin is its own macro bin.
    ///
    /// # Errors
    /// As [`EnergyBinning::new`].
    pub fn unmerged(e_min_gev: f64, e_max_gev: f64, n_fine: usize) -> Result<Self> {
        Self::new(e_min_gev, e_max_gev, n_fine, (0..=n_fine).collect())
    }

    /// Number of fine bins.
    pub fn n_fine(&self) -> usize {
        self.n_fine
    }

    /// Number of macro bins.
    pub fn n_macro(&self) -> usize {
        self.boundaries.len() - 1
    }

    /// The fine-bin index boundaries of the macro bins.
    pub fn boundaries(&self) -> &[usize] {
        &self.boundaries
    }

    /// The fine bins (a half-open index range) of macro bin `m`, or `None`
    /// past the last macro bin.
    pub fn fine_bins_of(&self, m: usize) -> Option<std::ops::Range<usize>> {
        Some(*self.boundaries.get(m)?..*self.boundaries.get(m + 1)?)
    }

    /// The fine-bin edges $E_k = E_{\min}(E_{\max}/E_{\min})^{k/K}$, GeV ($K+1$ values).
    pub fn fine_edges_gev(&self) -> Vec<f64> {
        let ratio = self.e_max_gev / self.e_min_gev;
        (0..=self.n_fine)
            .map(|k| {
                if k == self.n_fine {
                    self.e_max_gev
                } else {
                    self.e_min_gev * ratio.powf(k as f64 / self.n_fine as f64)
                }
            })
            .collect()
    }

    /// The logarithmic centres $\sqrt{E_k E_{k+1}}$ of the fine bins, GeV.
    pub fn fine_log_centres_gev(&self) -> Vec<f64> {
        self.fine_edges_gev()
            .windows(2)
            .map(|w| (w[0] * w[1]).sqrt())
            .collect()
    }

    /// The exact macro-bin edges, GeV (`n_macro + 1` values).
    pub fn macro_edges_gev(&self) -> Vec<f64> {
        let fine = self.fine_edges_gev();
        self.boundaries.iter().map(|&i| fine[i]).collect()
    }

    fn check_len(&self, what: &str, n: usize) -> Result<()> {
        if n == self.n_fine {
            Ok(())
        } else {
            Err(Error::shape(what, format!("{} fine energy bins", self.n_fine), n).into())
        }
    }

    /// Sums fine-bin counts into macro bins.
    ///
    /// # Errors
    /// A length other than [`EnergyBinning::n_fine`].
    pub fn merge_counts(&self, fine: &[u64]) -> Result<Vec<u64>> {
        self.check_len("fine-bin counts", fine.len())?;
        Ok(self
            .boundaries
            .windows(2)
            .map(|w| fine[w[0]..w[1]].iter().sum())
            .collect())
    }

    /// Sums fine-bin values (e.g. expected counts) into macro bins.
    ///
    /// # Errors
    /// A length other than [`EnergyBinning::n_fine`].
    pub fn merge_sum(&self, fine: &[f64]) -> Result<Vec<f64>> {
        self.check_len("fine-bin values", fine.len())?;
        Ok(self
            .boundaries
            .windows(2)
            .map(|w| fine[w[0]..w[1]].iter().sum())
            .collect())
    }

    /// Averages fine-bin exposures into macro bins (arithmetic mean of the fine
    /// bins of each macro bin, the package's convention).
    ///
    /// # Errors
    /// A length other than [`EnergyBinning::n_fine`].
    pub fn merge_exposure(&self, fine_cm2_s: &[f64]) -> Result<Vec<f64>> {
        self.check_len("fine-bin exposures", fine_cm2_s.len())?;
        Ok(self
            .boundaries
            .windows(2)
            .map(|w| fine_cm2_s[w[0]..w[1]].iter().sum::<f64>() / (w[1] - w[0]) as f64)
            .collect())
    }
}

impl Default for EnergyBinning {
    fn default() -> Self {
        Self::package()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn package_edges_match_the_readme() {
        let eb = EnergyBinning::package();
        let f = eb.fine_edges_gev();
        // Values listed in the data README.
        for (k, v) in [
            (0, 0.5),
            (1, 0.6668),
            (2, 0.8891),
            (3, 1.1857),
            (4, 1.5811),
            (5, 2.1085),
            (6, 2.8117),
            (7, 3.7495),
            (8, 5.0),
            (23, 374.95),
            (24, 500.0),
        ] {
            assert_relative_eq!(f[k], v, max_relative = 1e-4);
        }
        let m = eb.macro_edges_gev();
        for (a, b) in m.iter().zip(PACKAGE_ROUNDED_MACRO_EDGES_GEV) {
            assert!((a - b).abs() / b < 6e-3, "{a} vs rounded {b}");
        }
        assert_eq!(eb.fine_bins_of(4), Some(4..6));
        assert_eq!(eb.fine_bins_of(6), None);
        let c = eb.fine_log_centres_gev();
        assert_relative_eq!(
            c[0],
            (0.5f64 * 0.5 * 1000f64.powf(1.0 / 24.0)).sqrt(),
            max_relative = 1e-14
        );
    }

    #[test]
    fn merging_sums_counts_and_averages_exposure() {
        let eb = EnergyBinning::package();
        let exp: Vec<f64> = (0..24).map(|k| 1e11 + k as f64 * 1e9).collect();
        let m = eb.merge_exposure(&exp).unwrap();
        assert_relative_eq!(m[4], 0.5 * (exp[4] + exp[5]));
        let mean5: f64 = exp[6..].iter().sum::<f64>() / 18.0;
        assert_relative_eq!(m[5], mean5);
        let s = eb.merge_sum(&[1.0; 24]).unwrap();
        assert_eq!(s, vec![1.0, 1.0, 1.0, 1.0, 2.0, 18.0]);
        assert!(eb.merge_counts(&[1; 23]).is_err());
    }

    #[test]
    fn invalid_binnings_are_rejected() {
        assert!(EnergyBinning::new(0.5, 500.0, 24, vec![0, 1, 24]).is_ok());
        assert!(EnergyBinning::new(0.5, 500.0, 24, vec![0, 1, 23]).is_err());
        assert!(EnergyBinning::new(0.5, 500.0, 24, vec![0, 5, 5, 24]).is_err());
        assert!(EnergyBinning::new(1.0, 0.5, 24, vec![0, 24]).is_err());
        assert!(EnergyBinning::new(f64::NAN, 0.5, 24, vec![0, 24]).is_err());
        assert!(EnergyBinning::new(0.5, 5.0, 0, vec![0]).is_err());
        assert_eq!(EnergyBinning::unmerged(1.0, 10.0, 3).unwrap().n_macro(), 3);
    }
}
