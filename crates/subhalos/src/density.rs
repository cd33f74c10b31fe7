//! Class-conditional densities $p(x \mid k)$: Gaussian KDEs of the labelled
//! associated sources, truncated to the ROI and renormalised there.

use darkprobe_kde::{
    select_bandwidth_kfold, Bandwidth, BandwidthSelection, GaussianKde, KFold, ScaleSearch,
    TruncatedKde,
};
use ndarray::{Array1, ArrayView2};

use crate::error::Result;
use crate::features::{Roi, N_FEATURES};
use darkprobe_core::Error;

/// How the bandwidth of a class density is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum BandwidthChoice {
    /// A given bandwidth (isotropic or diagonal; a full matrix has no exact ROI mass).
    Fixed(Bandwidth),
    /// Repeated $k$-fold cross-validation of the held-out log-likelihood over a
    /// multiplier $s$ of the per-feature sample standard deviations,
    /// $H = s^2\,\mathrm{diag}(\hat\sigma_1^2, \hat\sigma_2^2, \hat\sigma_3^2)$
    /// (a single bandwidth on standardised features, as scikit-learn's
    /// `KernelDensity` on scaled data).
    KFold {
        /// The search over $s$.
        search: ScaleSearch,
        /// Folds, repetitions and seed.
        kfold: KFold,
    },
}

impl BandwidthChoice {
    /// The paper's choice: 5 folds x 20 repetitions, Brent's search of $s$ in
    /// $[0.03, 3]$ (relative tolerance $10^{-3}$), seeded by `seed`.
    pub fn paper(seed: u64) -> Self {
        BandwidthChoice::KFold {
            search: ScaleSearch::Continuous {
                lo: 0.03,
                hi: 3.0,
                rel_tol: 1e-3,
            },
            kfold: KFold::paper(seed),
        }
    }
}

/// The density $p(x \mid k)$ of one class inside the ROI: a Gaussian KDE of the
/// class's training sources, truncated to the ROI box and divided by its exact
/// mass there, so that $\int_\mathrm{ROI} p(x\mid k)\,dx = 1$.
///
/// ```
/// use darkprobe_kde::Bandwidth;
/// use darkprobe_subhalos::{BandwidthChoice, ClassDensity, ReferenceEnergy, Roi};
/// use ndarray::array;
/// let roi = Roi::paper(ReferenceEnergy::OneGeV);
/// let x = array![[-9.0, 1.2, 0.3], [-9.5, 1.0, 0.2], [-8.8, 1.5, 0.4]];
/// let d = ClassDensity::fit("toy", x.view(), &roi,
///     &BandwidthChoice::Fixed(Bandwidth::Diagonal(vec![0.3, 0.15, 0.08]))).unwrap();
/// assert_eq!(d.n_train(), 3);
/// // Zero density outside the ROI, positive inside.
/// assert_eq!(d.ln_pdf(&[-9.0, 2.5, 0.3]).unwrap(), f64::NEG_INFINITY);
/// assert!(d.ln_pdf(&[-9.0, 1.2, 0.3]).unwrap().is_finite());
/// ```
#[derive(Debug, Clone)]
pub struct ClassDensity {
    name: String,
    kde: TruncatedKde,
    selection: Option<BandwidthSelection>,
}

/// Per-feature sample standard deviations (ddof = 1).
fn feature_std(data: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
    let n = data.nrows();
    if n < 2 {
        return Err(Error::empty(
            "class training sample",
            "give at least two sources to estimate the feature spreads",
        )
        .into());
    }
    let mut out = Vec::with_capacity(data.ncols());
    for (d, col) in data.columns().into_iter().enumerate() {
        let mean = col.sum() / n as f64;
        let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
        let s = var.sqrt();
        if !(s.is_finite() && s > 0.0) {
            return Err(Error::invalid_param(
                format!("spread of feature {d} in the class training sample"),
                s,
                "finite and > 0 (the sources must not all share one value)",
            )
            .into());
        }
        out.push(s);
    }
    Ok(out)
}

impl ClassDensity {
    /// Fits the KDE of class `name` to `data` ($n \times 3$, rows are sources,
    /// features at the ROI's reference energy) and truncates it to `roi`.
    ///
    /// # Errors
    /// Wrong number of columns, non-finite values, fewer than two sources (for
    /// cross-validation: fewer than the folds), a full bandwidth matrix, or a
    /// KDE without mass inside the ROI.
    pub fn fit(
        name: impl Into<String>,
        data: ArrayView2<'_, f64>,
        roi: &Roi,
        choice: &BandwidthChoice,
    ) -> Result<Self> {
        if data.ncols() != N_FEATURES {
            return Err(Error::shape("class training sample", "3 columns", data.ncols()).into());
        }
        let (bandwidth, selection) = match choice {
            BandwidthChoice::Fixed(bw) => (bw.clone(), None),
            BandwidthChoice::KFold { search, kfold } => {
                let base = Bandwidth::Diagonal(feature_std(data)?);
                let sel = select_bandwidth_kfold(data, &base, search, kfold)?;
                (sel.best_bandwidth.clone(), Some(sel))
            }
        };
        let kde = GaussianKde::new(data, bandwidth)?;
        Self::from_kde(name, kde, roi, selection)
    }

    /// Wraps an existing KDE (isotropic or diagonal bandwidth), truncating it to `roi`.
    ///
    /// # Errors
    /// A KDE of the wrong dimension, a full bandwidth matrix, or no mass in the ROI.
    pub fn from_kde(
        name: impl Into<String>,
        kde: GaussianKde,
        roi: &Roi,
        selection: Option<BandwidthSelection>,
    ) -> Result<Self> {
        if kde.dim() != N_FEATURES {
            return Err(Error::shape("class KDE", "3 dimensions", kde.dim()).into());
        }
        if kde.bandwidth().diagonal(N_FEATURES).is_none() {
            return Err(Error::invalid_param(
                "class KDE bandwidth",
                "a full matrix",
                "isotropic or diagonal (the ROI mass and the shift integrals need a product kernel)",
            )
            .into());
        }
        let kde = kde.truncate(roi.axis_box())?;
        Ok(Self {
            name: name.into(),
            kde,
            selection,
        })
    }

    /// The class name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Number of training sources.
    pub fn n_train(&self) -> usize {
        self.kde.kde().n_points()
    }
    /// The bandwidth.
    pub fn bandwidth(&self) -> &Bandwidth {
        self.kde.kde().bandwidth()
    }
    /// Per-feature kernel standard deviations.
    pub fn bandwidth_diagonal(&self) -> Vec<f64> {
        self.bandwidth()
            .diagonal(N_FEATURES)
            .unwrap_or_else(|| vec![f64::NAN; N_FEATURES])
    }
    /// The cross-validation result, when the bandwidth was selected.
    pub fn selection(&self) -> Option<&BandwidthSelection> {
        self.selection.as_ref()
    }
    /// The truncated KDE.
    pub fn truncated(&self) -> &TruncatedKde {
        &self.kde
    }
    /// $\ln$ of the untruncated KDE mass inside the ROI.
    pub fn ln_roi_mass(&self) -> f64 {
        self.kde.ln_mass()
    }

    /// $\ln p(x \mid k)$ ($-\infty$ outside the ROI).
    ///
    /// # Errors
    /// `x` of the wrong length or non-finite.
    pub fn ln_pdf(&self, x: &[f64]) -> Result<f64> {
        Ok(self.kde.ln_pdf(x)?)
    }

    /// $\ln p(x \mid k)$ at every row of `points`.
    ///
    /// # Errors
    /// Wrong number of columns or non-finite values.
    pub fn ln_pdf_batch(&self, points: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        Ok(self.kde.ln_pdf_batch(points)?)
    }
}
