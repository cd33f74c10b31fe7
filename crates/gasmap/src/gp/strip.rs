//! [`StripGp`]: the paper's Gaussian-process plane regressor.

use std::collections::BTreeMap;

use darkprobe_core::rng::{rng_from_seed, seed_for_index};
use darkprobe_core::Error;
use ndarray::{Array1, Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::exact::{ExactGp, GpParams};
use super::inducing::{InducingParams, SparseGp};
use crate::model::{all_pixels, Neighbourhood, Orientation, PlanePair, PlaneRegressor, Result};

/// Which GP is fitted to each strip orientation of each velocity bin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum StripMethod {
    /// The exact GP on (at most [`StripGpParams::max_train_pixels`]) pixels.
    #[default]
    Exact,
    /// Hyperparameters from an exact GP on `n_hyper` of the pixels, then the
    /// inducing-point approximation on all of them.
    Inducing {
        /// Pixels used for the exact hyperparameter fit.
        n_hyper: usize,
        /// Inducing-point settings (its seed is replaced per bin and strip).
        inducing: InducingParams,
    },
}

/// Settings of [`StripGp::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StripGpParams {
    /// Strip length in pixels, odd (default 9, as the paper).
    pub strip_len: usize,
    /// Cap on training pixels per velocity bin (default 7840, the paper's
    /// $n$); a seeded uniform subsample is drawn when more are available.
    pub max_train_pixels: usize,
    /// Exact-GP settings (its `seed` is replaced per bin and strip).
    pub gp: GpParams,
    /// Exact or inducing-point GP.
    pub method: StripMethod,
    /// Master seed: the subsample and the optimiser restarts of bin $b$, strip
    /// $s$ use `seed_for_index(seed, ...)`, so fits do not depend on the
    /// number of threads.
    pub seed: u64,
}

impl Default for StripGpParams {
    fn default() -> Self {
        Self {
            strip_len: 9,
            max_train_pixels: 7840,
            gp: GpParams::default(),
            method: StripMethod::Exact,
            seed: 0,
        }
    }
}

/// One fitted strip GP.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StripModel {
    /// Exact GP.
    Exact(ExactGp),
    /// Inducing-point approximation.
    Sparse(SparseGp),
}

impl StripModel {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
        match self {
            StripModel::Exact(g) => g.predict(x),
            StripModel::Sparse(g) => g.predict(x),
        }
    }

    fn predict_with_variance(&self, x: ArrayView2<'_, f64>) -> Result<(Array1<f64>, Array1<f64>)> {
        match self {
            StripModel::Exact(g) => g.predict_with_variance(x, false),
            StripModel::Sparse(g) => g.predict_with_variance(x, false),
        }
    }
}

/// The two strip GPs of one velocity bin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BinGp {
    /// Velocity bin.
    pub velocity_bin: usize,
    /// Number of training pixels used.
    pub n_train: usize,
    /// GP on horizontal strips.
    pub horizontal: StripModel,
    /// GP on vertical strips.
    pub vertical: StripModel,
}

/// A predicted plane with its uncertainty.
#[derive(Debug, Clone)]
pub struct PlanePrediction {
    /// Mean of the two strip GPs' posterior means.
    pub mean: Array2<f64>,
    /// Latent posterior variance of the horizontal-strip GP.
    pub variance_horizontal: Array2<f64>,
    /// Latent posterior variance of the vertical-strip GP.
    pub variance_vertical: Array2<f64>,
    /// Variance of the averaged prediction assuming the two GPs' errors are
    /// fully correlated, $((\sigma_h + \sigma_v)/2)^2$: an upper bound over
    /// all correlations.
    pub variance: Array2<f64>,
}

/// The Gaussian-process regressor of Shmakov et al. (2020): for each velocity
/// bin, one GP on horizontal 9-pixel ¹²CO strips and one on vertical strips
/// (Matérn-3/2 plus constant and white noise), the prediction being the mean
/// of the two.
///
/// ```
/// use darkprobe_gasmap::gp::{StripGp, StripGpParams};
/// use darkprobe_gasmap::model::{PlanePair, PlaneRegressor};
/// use ndarray::Array2;
/// let source = Array2::from_shape_fn((12, 12), |(r, c)| ((r + 2 * c) as f64 * 0.3).sin() + 1.5);
/// let target = source.mapv(|v| 0.2 * v * v);
/// let mask = Array2::from_elem((12, 12), true);
/// let pair = PlanePair { velocity_bin: 3, source: source.view(), target: target.view(), train_mask: mask.view() };
/// let mut params = StripGpParams::default();
/// params.strip_len = 3;
/// params.gp.n_restarts = 0;
/// let gp = StripGp::fit(&[pair], &params).unwrap();
/// let pred = gp.predict_plane(3, source.view()).unwrap();
/// let err = (&pred - &target).iter().fold(0.0f64, |m, e| m.max(e.abs()));
/// assert!(err < 0.05);
/// assert!(gp.predict_plane(4, source.view()).is_err());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StripGp {
    strip_len: usize,
    bins: Vec<BinGp>,
}

fn strip(orientation: Orientation, len: usize) -> Neighbourhood {
    Neighbourhood::Strip { orientation, len }
}

/// Training features of one bin (both orientations) and targets.
struct BinData {
    velocity_bin: usize,
    horizontal: Array2<f64>,
    vertical: Array2<f64>,
    target: Array1<f64>,
}

fn collect_bin(
    velocity_bin: usize,
    pairs: &[&PlanePair<'_>],
    params: &StripGpParams,
) -> Result<BinData> {
    // (pair index, pixel) of every usable pixel, in a fixed order.
    let mut pixels: Vec<(usize, (usize, usize))> = Vec::new();
    for (p, pair) in pairs.iter().enumerate() {
        let dim = pair.source.dim();
        if pair.target.dim() != dim || pair.train_mask.dim() != dim {
            return Err(Error::shape(
                format!("training planes of velocity bin {velocity_bin} (source, target, mask)"),
                format!("{dim:?}"),
                format!("{:?} and {:?}", pair.target.dim(), pair.train_mask.dim()),
            ));
        }
        if let Some(((r, c), v)) = pair.source.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::invalid_param(
                format!("12CO source of velocity bin {velocity_bin}, pixel ({r}, {c})"),
                v,
                "finite",
            ));
        }
        for ((r, c), &ok) in pair.train_mask.indexed_iter() {
            if ok {
                let t = pair.target[[r, c]];
                if !t.is_finite() {
                    return Err(Error::invalid_param(
                        format!("13CO target of velocity bin {velocity_bin}, pixel ({r}, {c})"),
                        t,
                        "finite at training pixels",
                    ));
                }
                pixels.push((p, (r, c)));
            }
        }
    }
    if pixels.is_empty() {
        return Err(Error::empty(
            format!("training mask of velocity bin {velocity_bin}"),
            "mark at least one pixel as usable for training",
        ));
    }
    if pixels.len() > params.max_train_pixels {
        let bin_seed = seed_for_index(params.seed, velocity_bin as u64);
        let mut rng = rng_from_seed(seed_for_index(bin_seed, 0));
        let mut idx =
            rand::seq::index::sample(&mut rng, pixels.len(), params.max_train_pixels).into_vec();
        idx.sort_unstable();
        pixels = idx.into_iter().map(|i| pixels[i]).collect();
    }
    let n = pixels.len();
    let len = params.strip_len;
    let mut horizontal = Array2::zeros((n, len));
    let mut vertical = Array2::zeros((n, len));
    let mut target = Array1::zeros(n);
    // Features pair by pair (pixels are grouped by pair, in order).
    let mut start = 0;
    while start < n {
        let p = pixels[start].0;
        let end = start + pixels[start..].iter().take_while(|(q, _)| *q == p).count();
        let px: Vec<(usize, usize)> = pixels[start..end].iter().map(|&(_, rc)| rc).collect();
        let pair = pairs[p];
        let fh = strip(Orientation::Horizontal, len).features(pair.source, &px)?;
        let fv = strip(Orientation::Vertical, len).features(pair.source, &px)?;
        horizontal
            .slice_mut(ndarray::s![start..end, ..])
            .assign(&fh);
        vertical.slice_mut(ndarray::s![start..end, ..]).assign(&fv);
        for (k, &(r, c)) in px.iter().enumerate() {
            target[start + k] = pair.target[[r, c]];
        }
        start = end;
    }
    Ok(BinData {
        velocity_bin,
        horizontal,
        vertical,
        target,
    })
}

fn fit_strip(
    x: ArrayView2<'_, f64>,
    y: &Array1<f64>,
    params: &StripGpParams,
    task_seed: u64,
) -> Result<StripModel> {
    let mut gp = params.gp.clone();
    gp.seed = seed_for_index(task_seed, 0);
    match params.method {
        StripMethod::Exact => Ok(StripModel::Exact(ExactGp::fit(x, y.view(), &gp)?)),
        StripMethod::Inducing { n_hyper, inducing } => {
            if n_hyper == 0 {
                return Err(Error::invalid_param(
                    "StripMethod::Inducing n_hyper",
                    0,
                    ">= 1",
                ));
            }
            let n = y.len();
            let (xh, yh) = if n > n_hyper {
                let mut rng = rng_from_seed(seed_for_index(task_seed, 1));
                let mut idx = rand::seq::index::sample(&mut rng, n, n_hyper).into_vec();
                idx.sort_unstable();
                (
                    x.select(ndarray::Axis(0), &idx),
                    y.select(ndarray::Axis(0), &idx),
                )
            } else {
                (x.to_owned(), y.clone())
            };
            let exact = ExactGp::fit(xh.view(), yh.view(), &gp)?;
            let ip = InducingParams {
                seed: seed_for_index(task_seed, 2),
                ..inducing
            };
            Ok(StripModel::Sparse(SparseGp::fit(
                x,
                y.view(),
                exact.kernel(),
                exact.standardizer(),
                &ip,
            )?))
        }
    }
}

impl StripGp {
    /// Fits one horizontal- and one vertical-strip GP per velocity bin present
    /// in `pairs` (several pairs of the same bin are pooled). The bins and
    /// strips are fitted in parallel; results do not depend on the number of
    /// threads.
    ///
    /// # Errors
    /// No pairs, an even or zero strip length, a zero pixel cap, planes of
    /// different shapes, non-finite ¹²CO values or ¹³CO values at training
    /// pixels, an empty training mask, or a failed GP fit.
    pub fn fit(pairs: &[PlanePair<'_>], params: &StripGpParams) -> Result<Self> {
        if pairs.is_empty() {
            return Err(Error::empty(
                "training planes",
                "give at least one plane pair",
            ));
        }
        if params.strip_len == 0 || params.strip_len.is_multiple_of(2) {
            return Err(Error::invalid_param(
                "strip length",
                params.strip_len,
                "an odd number of pixels >= 1",
            ));
        }
        if params.max_train_pixels == 0 {
            return Err(Error::invalid_param("max_train_pixels", 0, ">= 1"));
        }
        let mut by_bin: BTreeMap<usize, Vec<&PlanePair<'_>>> = BTreeMap::new();
        for p in pairs {
            by_bin.entry(p.velocity_bin).or_default().push(p);
        }
        let data = by_bin
            .iter()
            .map(|(&b, ps)| collect_bin(b, ps, params))
            .collect::<Result<Vec<BinData>>>()?;
        // One task per (bin, orientation).
        let models = (0..2 * data.len())
            .into_par_iter()
            .map(|t| {
                let bin = &data[t / 2];
                let x = if t % 2 == 0 {
                    &bin.horizontal
                } else {
                    &bin.vertical
                };
                let bin_seed = seed_for_index(params.seed, bin.velocity_bin as u64);
                let task_seed = seed_for_index(bin_seed, 1 + (t % 2) as u64);
                fit_strip(x.view(), &bin.target, params, task_seed)
            })
            .collect::<Vec<Result<StripModel>>>();
        let mut it = models.into_iter();
        let mut bins = Vec::with_capacity(data.len());
        for bin in &data {
            let (Some(h), Some(v)) = (it.next(), it.next()) else {
                return Err(Error::numerical(
                    "StripGp fit",
                    0,
                    f64::NAN,
                    "missing strip model",
                ));
            };
            bins.push(BinGp {
                velocity_bin: bin.velocity_bin,
                n_train: bin.target.len(),
                horizontal: h?,
                vertical: v?,
            });
        }
        Ok(Self {
            strip_len: params.strip_len,
            bins,
        })
    }

    /// Strip length in pixels.
    pub fn strip_len(&self) -> usize {
        self.strip_len
    }

    /// The fitted velocity bins.
    pub fn bins(&self) -> &[BinGp] {
        &self.bins
    }

    fn bin(&self, velocity_bin: usize) -> Result<&BinGp> {
        self.bins
            .iter()
            .find(|b| b.velocity_bin == velocity_bin)
            .ok_or_else(|| {
                let have: Vec<String> = self
                    .bins
                    .iter()
                    .map(|b| b.velocity_bin.to_string())
                    .collect();
                Error::invalid_param(
                    "velocity bin",
                    velocity_bin,
                    format!("one the GP was trained for: {}", have.join(", ")),
                )
            })
    }

    fn features(&self, source: ArrayView2<'_, f64>) -> Result<(Array2<f64>, Array2<f64>)> {
        let (nr, nc) = source.dim();
        if nr == 0 || nc == 0 {
            return Err(Error::empty(
                "12CO source plane",
                "a plane with at least one pixel",
            ));
        }
        if let Some(((r, c), v)) = source.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::invalid_param(
                format!("12CO source pixel ({r}, {c})"),
                v,
                "finite",
            ));
        }
        let px = all_pixels(nr, nc);
        Ok((
            strip(Orientation::Horizontal, self.strip_len).features(source, &px)?,
            strip(Orientation::Vertical, self.strip_len).features(source, &px)?,
        ))
    }

    /// Predicted plane with the strip GPs' posterior variances.
    ///
    /// # Errors
    /// As [`PlaneRegressor::predict_plane`].
    pub fn predict_plane_with_variance(
        &self,
        velocity_bin: usize,
        source: ArrayView2<'_, f64>,
    ) -> Result<PlanePrediction> {
        let bin = self.bin(velocity_bin)?;
        let (fh, fv) = self.features(source)?;
        let (mh, vh) = bin.horizontal.predict_with_variance(fh.view())?;
        let (mv, vv) = bin.vertical.predict_with_variance(fv.view())?;
        let shape = source.dim();
        let to_plane = |a: Array1<f64>| {
            a.into_shape_with_order(shape)
                .map_err(|e| Error::shape("predicted plane", format!("{shape:?}"), e.to_string()))
        };
        let mean = to_plane((&mh + &mv) * 0.5)?;
        let var = to_plane(
            vh.iter()
                .zip(&vv)
                .map(|(a, b)| (0.5 * (a.sqrt() + b.sqrt())).powi(2))
                .collect(),
        )?;
        Ok(PlanePrediction {
            mean,
            variance_horizontal: to_plane(vh)?,
            variance_vertical: to_plane(vv)?,
            variance: var,
        })
    }
}

impl PlaneRegressor for StripGp {
    fn name(&self) -> &str {
        "gp"
    }

    fn predict_plane(
        &self,
        velocity_bin: usize,
        source: ArrayView2<'_, f64>,
    ) -> Result<Array2<f64>> {
        let bin = self.bin(velocity_bin)?;
        let (fh, fv) = self.features(source)?;
        let mh = bin.horizontal.predict(fh.view())?;
        let mv = bin.vertical.predict(fv.view())?;
        let shape = source.dim();
        ((&mh + &mv) * 0.5)
            .into_shape_with_order(shape)
            .map_err(|e| Error::shape("predicted plane", format!("{shape:?}"), e.to_string()))
    }
}
