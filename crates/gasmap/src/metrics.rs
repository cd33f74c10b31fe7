//! The paper's per-plane metrics and the model comparison table.
//!
//! For a predicted plane $f$ and the true plane $T$, over the $n$ pixels of a
//! region (the test longitudes):
//! - **correlation**: Pearson's $r = \mathrm{cov}(f, T) / (s_f s_T)$;
//! - **scaled absolute error**: $\frac{1}{n}\sum_i |f_i - T_i| \,/\, \max_i T_i$;
//! - **hot-spot error**: the scaled absolute error restricted to the pixels
//!   with $T_i > \bar T + s_T$ (more than one standard deviation above the
//!   plane's mean in the region), still divided by $\max_i T_i$.
//!
//! A metric that is undefined on a plane (constant or empty plane, no hot
//! spot, $\max T \le 0$) is NaN there, and the medians over planes skip NaN
//! values, as Table 1 of Shmakov et al. (2020) reports medians over the
//! images.

use crate::cube::{LonRange, MapCube};
use crate::model::Result;
use darkprobe_core::table::{CsvField, CsvWriter};
use darkprobe_core::Error;
use ndarray::ArrayView2;
use std::path::Path;

/// Pearson correlation of two equally long samples (NaN when either is
/// constant or fewer than 2 values are given).
///
/// ```
/// use darkprobe_gasmap::metrics::pearson;
/// assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]) - 0.997949).abs() < 1e-5);
/// assert!(pearson(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
/// ```
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return f64::NAN;
    }
    let ma = a[..n].iter().sum::<f64>() / n as f64;
    let mb = b[..n].iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return f64::NAN;
    }
    sab / (saa * sbb).sqrt()
}

/// Scaled absolute error $\mathrm{mean}|f - T| / \max T$ (NaN when empty or
/// $\max T \le 0$).
pub fn scaled_abs_error(pred: &[f64], truth: &[f64]) -> f64 {
    let max_t = truth.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    scaled_abs_error_with_max(pred, truth, max_t)
}

fn scaled_abs_error_with_max(pred: &[f64], truth: &[f64], max_t: f64) -> f64 {
    let n = pred.len().min(truth.len());
    if n == 0 || max_t.is_nan() || max_t <= 0.0 {
        return f64::NAN;
    }
    let s: f64 = pred.iter().zip(truth).map(|(f, t)| (f - t).abs()).sum();
    s / n as f64 / max_t
}

/// Hot-spot scaled absolute error: [`scaled_abs_error`] over the pixels with
/// $T > \bar T + s_T$, divided by the maximum of all of `truth`.
pub fn hot_spot_error(pred: &[f64], truth: &[f64]) -> f64 {
    let n = truth.len();
    if n == 0 {
        return f64::NAN;
    }
    let m = truth.iter().sum::<f64>() / n as f64;
    let s = (truth.iter().map(|t| (t - m).powi(2)).sum::<f64>() / n as f64).sqrt();
    let max_t = truth.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (p, t): (Vec<f64>, Vec<f64>) = pred
        .iter()
        .zip(truth)
        .filter(|(_, &t)| t > m + s)
        .map(|(&p, &t)| (p, t))
        .unzip();
    scaled_abs_error_with_max(&p, &t, max_t)
}

/// The metrics of one velocity bin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaneMetrics {
    /// Velocity bin.
    pub velocity_bin: usize,
    /// Pixels compared.
    pub n_pixels: usize,
    /// Pearson correlation.
    pub correlation: f64,
    /// Scaled absolute error.
    pub scaled_abs_error: f64,
    /// Hot-spot scaled absolute error.
    pub hot_spot_error: f64,
}

/// The metrics of one plane over the pixels where `mask` is true.
///
/// # Errors
/// Planes or mask of different shapes.
pub fn plane_metrics(
    velocity_bin: usize,
    pred: ArrayView2<'_, f64>,
    truth: ArrayView2<'_, f64>,
    mask: ArrayView2<'_, bool>,
) -> Result<PlaneMetrics> {
    if pred.dim() != truth.dim() || pred.dim() != mask.dim() {
        return Err(Error::shape(
            format!("metrics of velocity bin {velocity_bin}"),
            format!("{:?}", truth.dim()),
            format!("prediction {:?}, mask {:?}", pred.dim(), mask.dim()),
        ));
    }
    let (mut p, mut t) = (Vec::new(), Vec::new());
    for ((a, b), &m) in pred.iter().zip(truth.iter()).zip(mask.iter()) {
        if m && a.is_finite() && b.is_finite() {
            p.push(*a);
            t.push(*b);
        }
    }
    Ok(PlaneMetrics {
        velocity_bin,
        n_pixels: p.len(),
        correlation: pearson(&p, &t),
        scaled_abs_error: scaled_abs_error(&p, &t),
        hot_spot_error: hot_spot_error(&p, &t),
    })
}

/// Mask of the pixels of `cube`'s grid whose longitude lies in `region`.
pub fn region_mask(cube: &MapCube, region: &LonRange) -> ndarray::Array2<bool> {
    let cols: Vec<bool> = (0..cube.n_lon())
        .map(|c| region.contains(cube.lon_deg(c)))
        .collect();
    ndarray::Array2::from_shape_fn((cube.n_lat(), cube.n_lon()), |(_, c)| cols[c])
}

/// Metrics of every velocity bin of `pred` against `truth` over the
/// longitudes in `region`.
///
/// # Errors
/// Cubes on different grids, or a region holding no column of the grid.
pub fn evaluate_planes(
    pred: &MapCube,
    truth: &MapCube,
    region: &LonRange,
) -> Result<Vec<PlaneMetrics>> {
    truth.check_same_grid(pred, "prediction and target cubes")?;
    let mask = region_mask(truth, region);
    if !mask.iter().any(|&m| m) {
        return Err(Error::invalid_param(
            "test longitude range",
            region,
            format!(
                "a range overlapping the cube's longitudes ({:.3} .. {:.3} deg)",
                truth.lon_deg(truth.n_lon() - 1),
                truth.lon_deg(0)
            ),
        ));
    }
    (0..truth.n_vel())
        .map(|v| plane_metrics(v, pred.plane(v)?, truth.plane(v)?, mask.view()))
        .collect()
}

/// Median of the finite values (NaN when there are none).
pub fn nan_median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// One model's row of the comparison table: medians over velocity bins.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSummary {
    /// Model name.
    pub model: String,
    /// Median correlation.
    pub correlation: f64,
    /// Median scaled absolute error.
    pub scaled_abs_error: f64,
    /// Median hot-spot error.
    pub hot_spot_error: f64,
    /// Planes evaluated.
    pub n_planes: usize,
}

impl MetricSummary {
    /// Medians of per-plane metrics.
    pub fn from_planes(model: impl Into<String>, planes: &[PlaneMetrics]) -> Self {
        Self {
            model: model.into(),
            correlation: nan_median(planes.iter().map(|p| p.correlation)),
            scaled_abs_error: nan_median(planes.iter().map(|p| p.scaled_abs_error)),
            hot_spot_error: nan_median(planes.iter().map(|p| p.hot_spot_error)),
            n_planes: planes.len(),
        }
    }
}

/// Models x metrics, like Table 1 of Shmakov et al. (2020).
///
/// ```
/// use darkprobe_gasmap::metrics::{ComparisonTable, MetricSummary, PlaneMetrics};
/// let p = PlaneMetrics { velocity_bin: 0, n_pixels: 10, correlation: 0.9,
///     scaled_abs_error: 0.01, hot_spot_error: 0.02 };
/// let mut t = ComparisonTable::default();
/// t.push(MetricSummary::from_planes("linear", &[p]));
/// assert!(t.to_text().contains("linear"));
/// assert_eq!(t.rows[0].correlation, 0.9);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComparisonTable {
    /// One row per model.
    pub rows: Vec<MetricSummary>,
}

impl ComparisonTable {
    /// Adds a model's row.
    pub fn push(&mut self, row: MetricSummary) {
        self.rows.push(row);
    }

    /// The table as aligned text.
    pub fn to_text(&self) -> String {
        let w = self
            .rows
            .iter()
            .map(|r| r.model.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut s = format!(
            "{:<w$}  {:>11}  {:>18}  {:>14}  {:>6}\n",
            "model", "correlation", "scaled abs. error", "hot-spot error", "planes"
        );
        for r in &self.rows {
            s.push_str(&format!(
                "{:<w$}  {:>11.4}  {:>18.5}  {:>14.5}  {:>6}\n",
                r.model, r.correlation, r.scaled_abs_error, r.hot_spot_error, r.n_planes
            ));
        }
        s
    }

    /// Writes the table as CSV (`model,correlation,scaled_abs_error,hot_spot_error,n_planes`),
    /// atomically.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut w = CsvWriter::create(
            path,
            &[
                "model",
                "correlation",
                "scaled_abs_error",
                "hot_spot_error",
                "n_planes",
            ],
        )?;
        for r in &self.rows {
            w.write_record(&[
                CsvField::Str(&r.model),
                CsvField::F64(r.correlation),
                CsvField::F64(r.scaled_abs_error),
                CsvField::F64(r.hot_spot_error),
                CsvField::U64(r.n_planes as u64),
            ])?;
        }
        w.finish()
    }
}

/// Writes per-plane metrics as CSV
/// (`velocity_bin,n_pixels,correlation,scaled_abs_error,hot_spot_error`).
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn write_plane_csv(path: impl AsRef<Path>, planes: &[PlaneMetrics]) -> Result<()> {
    let mut w = CsvWriter::create(
        path,
        &[
            "velocity_bin",
            "n_pixels",
            "correlation",
            "scaled_abs_error",
            "hot_spot_error",
        ],
    )?;
    for p in planes {
        w.write_record(&[
            CsvField::U64(p.velocity_bin as u64),
            CsvField::U64(p.n_pixels as u64),
            CsvField::F64(p.correlation),
            CsvField::F64(p.scaled_abs_error),
            CsvField::F64(p.hot_spot_error),
        ])?;
    }
    w.finish()
}

/// Mean scaled absolute error in one bin of distance from the training region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistanceBin {
    /// Lower edge of the distance bin, deg (0 = inside the training region).
    pub distance_lo_deg: f64,
    /// Upper edge, deg.
    pub distance_hi_deg: f64,
    /// Pixels (over all velocity bins) in the bin.
    pub n_pixels: usize,
    /// Mean of $|f - T| / \max T$ (the maximum of each plane), over the pixels.
    pub scaled_abs_error: f64,
}

/// Scaled absolute error versus longitude distance from the training region,
/// in bins of `bin_deg` (the first bin, `[0, bin_deg)`, includes the training
/// region itself at distance 0). Each pixel's error is divided by the maximum
/// of its plane; planes with $\max T \le 0$ are skipped.
///
/// # Errors
/// Cubes on different grids, or a non-positive `bin_deg`.
pub fn error_vs_distance(
    pred: &MapCube,
    truth: &MapCube,
    train: &LonRange,
    bin_deg: f64,
) -> Result<Vec<DistanceBin>> {
    truth.check_same_grid(pred, "prediction and target cubes")?;
    darkprobe_core::error::check_positive("distance bin width (deg)", bin_deg)?;
    let dist: Vec<f64> = (0..truth.n_lon())
        .map(|c| train.distance_deg(truth.lon_deg(c)))
        .collect();
    let max_d = dist.iter().copied().fold(0.0, f64::max);
    let n_bins = ((max_d / bin_deg).floor() as usize) + 1;
    let mut sum = vec![0.0; n_bins];
    let mut cnt = vec![0usize; n_bins];
    for v in 0..truth.n_vel() {
        let t = truth.plane(v)?;
        let f = pred.plane(v)?;
        let max_t = t
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        if max_t.is_nan() || max_t <= 0.0 {
            continue;
        }
        for ((r, c), &tv) in t.indexed_iter() {
            let fv = f[[r, c]];
            if !(tv.is_finite() && fv.is_finite()) {
                continue;
            }
            let b = ((dist[c] / bin_deg).floor() as usize).min(n_bins - 1);
            sum[b] += (fv - tv).abs() / max_t;
            cnt[b] += 1;
        }
    }
    Ok((0..n_bins)
        .map(|b| DistanceBin {
            distance_lo_deg: b as f64 * bin_deg,
            distance_hi_deg: (b + 1) as f64 * bin_deg,
            n_pixels: cnt[b],
            scaled_abs_error: if cnt[b] > 0 {
                sum[b] / cnt[b] as f64
            } else {
                f64::NAN
            },
        })
        .collect())
}

/// A metric on a (velocity bin x longitude block) grid, for heat maps.
#[derive(Debug, Clone, PartialEq)]
pub struct LonProfile {
    /// Longitude at the centre of each block, deg.
    pub lon_centres_deg: Vec<f64>,
    /// `values[v][k]`: mean $|f - T| / \max T$ of velocity bin `v` in block `k`
    /// (NaN when the plane has $\max T \le 0$).
    pub values: Vec<Vec<f64>>,
}

/// Scaled absolute error per velocity bin and per block of `block_cols`
/// longitude columns (the last block may be narrower).
///
/// # Errors
/// Cubes on different grids, or `block_cols == 0`.
pub fn lon_profile(pred: &MapCube, truth: &MapCube, block_cols: usize) -> Result<LonProfile> {
    truth.check_same_grid(pred, "prediction and target cubes")?;
    if block_cols == 0 {
        return Err(Error::invalid_param("longitude block (columns)", 0, ">= 1"));
    }
    let nc = truth.n_lon();
    let n_blocks = nc.div_ceil(block_cols);
    let lon_centres_deg = (0..n_blocks)
        .map(|k| {
            let lo = k * block_cols;
            let hi = ((k + 1) * block_cols).min(nc) - 1;
            truth
                .lon_axis()
                .world(0.5 * (lo + hi) as f64)
                .rem_euclid(360.0)
        })
        .collect();
    let mut values = Vec::with_capacity(truth.n_vel());
    for v in 0..truth.n_vel() {
        let t = truth.plane(v)?;
        let f = pred.plane(v)?;
        let max_t = t
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        let mut row = vec![f64::NAN; n_blocks];
        if max_t > 0.0 {
            for (k, cell) in row.iter_mut().enumerate() {
                let cols = k * block_cols..((k + 1) * block_cols).min(nc);
                let ts = t.slice(ndarray::s![.., cols.clone()]);
                let fs = f.slice(ndarray::s![.., cols]);
                let (mut s, mut n) = (0.0, 0usize);
                for (a, b) in fs.iter().zip(ts.iter()) {
                    if a.is_finite() && b.is_finite() {
                        s += (a - b).abs();
                        n += 1;
                    }
                }
                if n > 0 {
                    *cell = s / n as f64 / max_t;
                }
            }
        }
        values.push(row);
    }
    Ok(LonProfile {
        lon_centres_deg,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cube::LinearAxis;
    use approx::assert_relative_eq;
    use ndarray::Array3;

    #[test]
    fn metrics_against_hand_computation() {
        let t = [0.0, 1.0, 2.0, 3.0, 10.0];
        let f = [0.5, 1.0, 1.0, 3.0, 8.0];
        // mean |f - T| = (0.5 + 0 + 1 + 0 + 2) / 5 = 0.7; max T = 10.
        assert_relative_eq!(scaled_abs_error(&f, &t), 0.07);
        // mean T = 3.2, sd = sqrt(mean(T^2) - 3.2^2) = sqrt(22.8 - 10.24) = 3.544...
        // hot spots: T > 6.744 -> only T = 10: |8 - 10| / 10 = 0.2.
        assert_relative_eq!(hot_spot_error(&f, &t), 0.2);
        // Pearson by the textbook formula.
        let mf = f.iter().sum::<f64>() / 5.0;
        let mt = t.iter().sum::<f64>() / 5.0;
        let cov: f64 = f.iter().zip(&t).map(|(a, b)| (a - mf) * (b - mt)).sum();
        let vf: f64 = f.iter().map(|a| (a - mf).powi(2)).sum();
        let vt: f64 = t.iter().map(|b| (b - mt).powi(2)).sum();
        assert_relative_eq!(
            pearson(&f, &t),
            cov / (vf * vt).sqrt(),
            max_relative = 1e-12
        );
        // Perfect prediction.
        assert_relative_eq!(pearson(&t, &t), 1.0);
        assert_eq!(scaled_abs_error(&t, &t), 0.0);
        assert!(scaled_abs_error(&[1.0], &[0.0]).is_nan());
        assert_eq!(nan_median([3.0, f64::NAN, 1.0, 2.0]), 2.0);
        assert_eq!(nan_median([4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    fn cubes() -> (MapCube, MapCube) {
        let lon = LinearAxis::new("GLON-CAR", 1.0, 349.5, -1.0, "deg").unwrap();
        let lat = LinearAxis::new("GLAT-CAR", 1.0, -0.5, 1.0, "deg").unwrap();
        // 50 columns: l = 349.5 .. 300.5.
        let truth = Array3::from_shape_fn((2, 2, 50), |(v, r, c)| (1 + v + r + c % 7) as f64);
        // Error grows with the column index's distance from the training region.
        let pred = Array3::from_shape_fn((2, 2, 50), |(v, r, c)| {
            let l = 349.5 - c as f64;
            let err = if l >= 340.0 { 0.1 * (l - 339.5) } else { 0.0 };
            (1 + v + r + c % 7) as f64 + err
        });
        let t = MapCube::new(
            truth,
            lon.clone(),
            lat.clone(),
            LinearAxis::bin_index(),
            "K",
        )
        .unwrap();
        let p = t.with_data(pred).unwrap();
        (p, t)
    }

    #[test]
    fn evaluation_over_a_region_and_error_versus_distance() {
        let (p, t) = cubes();
        let test = LonRange::parse("340:350").unwrap();
        let planes = evaluate_planes(&p, &t, &test).unwrap();
        assert_eq!(planes.len(), 2);
        assert_eq!(planes[0].n_pixels, 20);
        assert!(planes[0].scaled_abs_error > 0.0);
        // Inside the training region the prediction is exact.
        let train = LonRange::parse("300:340").unwrap();
        let tr = evaluate_planes(&p, &t, &train).unwrap();
        assert_eq!(tr[0].scaled_abs_error, 0.0);
        let d = error_vs_distance(&p, &t, &train, 2.0).unwrap();
        assert_eq!(d[0].distance_lo_deg, 0.0);
        assert_eq!(d[0].n_pixels, 2 * 2 * 42); // 40 training columns + 2 nearby
                                               // The error grows with distance.
        for w in d.windows(2) {
            assert!(w[1].scaled_abs_error > w[0].scaled_abs_error);
        }
        // Per-plane maxima: plane 0 has max T = 1 + 1 + 6 = 8.
        let last = d.last().unwrap();
        assert!(last.scaled_abs_error > 0.0);
        let prof = lon_profile(&p, &t, 10).unwrap();
        assert_eq!(prof.values.len(), 2);
        assert_eq!(prof.values[0].len(), 5);
        assert_relative_eq!(prof.lon_centres_deg[0], 345.0);
        assert!(prof.values[0][0] > 0.0 && prof.values[0][4] == 0.0);
        assert!(evaluate_planes(&p, &t, &LonRange::parse("10:20").unwrap()).is_err());
        let mut table = ComparisonTable::default();
        table.push(MetricSummary::from_planes("x", &planes));
        let dir = std::env::temp_dir().join(format!("gasmap-metrics-{}.csv", std::process::id()));
        table.write_csv(&dir).unwrap();
        let text = std::fs::read_to_string(&dir).unwrap();
        assert!(text.starts_with("model,correlation"));
        let _ = std::fs::remove_file(&dir);
    }
}
