//! Glue between cubes and regressors: training pairs from a pair of survey
//! cubes, whole-cube prediction, and evaluation on the test longitudes.
//!
//! ```
//! use darkprobe_gasmap::pipeline::{evaluate, predict_cube, training_pairs, TrainingOptions};
//! use darkprobe_gasmap::preprocess::Preprocess;
//! use darkprobe_gasmap::synth::{generate, SynthParams};
//! use darkprobe_gasmap::{LinearBaseline, LonRange};
//! let p = SynthParams { lon_min_deg: 330.0, pixel_deg: 0.1, n_vel: 2, ..SynthParams::default() };
//! let s = generate(&p, 1).unwrap();
//! let opts = TrainingOptions::new(LonRange::parse("330:345").unwrap());
//! let train = training_pairs(&s.co12, &s.co13, &Preprocess::default(), &opts).unwrap();
//! let model = LinearBaseline::fit(&train.pairs()).unwrap();
//! let pred = predict_cube(&model, train.source()).unwrap();
//! let eval = evaluate("linear", &pred, train.target(), &LonRange::parse("345:350").unwrap()).unwrap();
//! assert!(eval.summary.correlation > 0.5);
//! ```

use crate::cube::{LonRange, MapCube};
use crate::metrics::{evaluate_planes, MetricSummary, PlaneMetrics};
use crate::model::{PlanePair, PlaneRegressor, Result};
use crate::preprocess::Preprocess;
use darkprobe_core::Error;
use ndarray::{Array2, Array3, Axis};
use serde::{Deserialize, Serialize};

/// Which pixels become training pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingOptions {
    /// Longitudes of the training region (the paper: 300°–340°).
    pub train_lon: LonRange,
    /// Keep at most this many training pixels per velocity bin, drawn
    /// uniformly without replacement (`None`: all).
    pub max_pixels_per_plane: Option<usize>,
    /// Seed of the subsampling (bin `v` uses `rng_for_index(seed, v)`).
    pub seed: u64,
}

impl TrainingOptions {
    /// All training pixels of `train_lon`, seed 0.
    pub fn new(train_lon: LonRange) -> Self {
        Self {
            train_lon,
            max_pixels_per_plane: None,
            seed: 0,
        }
    }
}

/// Preprocessed source and target cubes with the training mask of every bin.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingSet {
    source: MapCube,
    target: MapCube,
    masks: Vec<Array2<bool>>,
}

impl TrainingSet {
    /// One [`PlanePair`] per velocity bin.
    pub fn pairs(&self) -> Vec<PlanePair<'_>> {
        self.masks
            .iter()
            .enumerate()
            .map(|(v, m)| PlanePair {
                velocity_bin: v,
                source: self.source.data().index_axis(Axis(0), v),
                target: self.target.data().index_axis(Axis(0), v),
                train_mask: m.view(),
            })
            .collect()
    }
    /// The preprocessed ¹²CO cube.
    pub fn source(&self) -> &MapCube {
        &self.source
    }
    /// The preprocessed ¹³CO cube.
    pub fn target(&self) -> &MapCube {
        &self.target
    }
    /// The training masks, one per velocity bin.
    pub fn masks(&self) -> &[Array2<bool>] {
        &self.masks
    }
    /// Total training pixels over all bins.
    pub fn n_training_pixels(&self) -> usize {
        self.masks
            .iter()
            .map(|m| m.iter().filter(|&&x| x).count())
            .sum()
    }
}

/// Preprocesses the raw ¹²CO `source` and ¹³CO `target` cubes and selects the
/// training pixels: longitude in `opts.train_lon`, and neither raw value blank
/// (non-finite) nor exactly zero (a stripe artefact); then at most
/// `opts.max_pixels_per_plane` of them per bin, drawn with a seeded RNG.
/// Pixels zeroed by the noise threshold stay in the training set: the models
/// must learn to predict no emission too.
///
/// # Errors
/// Cubes on different grids, invalid preprocessing options, or a training
/// region without any usable pixel.
pub fn training_pairs(
    source: &MapCube,
    target: &MapCube,
    preprocess: &Preprocess,
    opts: &TrainingOptions,
) -> Result<TrainingSet> {
    source.check_same_grid(target, "12CO and 13CO cubes")?;
    let src = preprocess.apply(source)?.cube;
    let tgt = preprocess.apply(target)?.cube;
    let (nv, nr, nc) = source.dim();
    let in_lon: Vec<bool> = (0..nc)
        .map(|c| opts.train_lon.contains(source.lon_deg(c)))
        .collect();
    let mut masks = Vec::with_capacity(nv);
    for v in 0..nv {
        let mut m = Array2::from_shape_fn((nr, nc), |(r, c)| {
            let (a, b) = (source.data()[[v, r, c]], target.data()[[v, r, c]]);
            in_lon[c] && a.is_finite() && b.is_finite() && a != 0.0 && b != 0.0
        });
        if let Some(max) = opts.max_pixels_per_plane {
            let idx: Vec<(usize, usize)> = crate::preprocess::mask_pixels(m.view());
            if idx.len() > max {
                let mut rng = darkprobe_core::rng::rng_for_index(opts.seed, v as u64);
                let keep = rand::seq::index::sample(&mut rng, idx.len(), max);
                m.fill(false);
                for k in keep.iter() {
                    m[idx[k]] = true;
                }
            }
        }
        masks.push(m);
    }
    let set = TrainingSet {
        source: src,
        target: tgt,
        masks,
    };
    if set.n_training_pixels() == 0 {
        return Err(Error::empty(
            format!("training region {}", opts.train_lon),
            format!(
                "a longitude range overlapping the cube ({:.3} .. {:.3} deg) with non-blank pixels",
                source.lon_deg(nc - 1),
                source.lon_deg(0)
            ),
        ));
    }
    Ok(set)
}

/// Predicts every velocity bin of the (preprocessed) ¹²CO cube with `model`;
/// the result has the shape, axes and unit of `source` (bins in parallel).
///
/// # Errors
/// The first error of [`PlaneRegressor::predict_plane`], or a plane of the
/// wrong shape returned by the model.
pub fn predict_cube(model: &dyn PlaneRegressor, source: &MapCube) -> Result<MapCube> {
    let (nv, nr, nc) = source.dim();
    let planes: Vec<Result<Array2<f64>>> = darkprobe_core::par::map_indices(nv, |v| {
        let plane = model.predict_plane(v, source.data().index_axis(Axis(0), v))?;
        if plane.dim() != (nr, nc) {
            return Err(Error::shape(
                format!(
                    "prediction of model '{}' for velocity bin {v}",
                    model.name()
                ),
                format!("{:?}", (nr, nc)),
                format!("{:?}", plane.dim()),
            ));
        }
        Ok(plane)
    });
    let mut out = Array3::zeros((nv, nr, nc));
    for (v, p) in planes.into_iter().enumerate() {
        out.index_axis_mut(Axis(0), v).assign(&p?);
    }
    source.with_data(out)
}

/// Per-plane metrics and their medians.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Metrics of every velocity bin.
    pub planes: Vec<PlaneMetrics>,
    /// Medians over bins (one row of the comparison table).
    pub summary: MetricSummary,
}

/// Evaluates a predicted cube against the (preprocessed) target over the test
/// longitudes.
///
/// # Errors
/// As [`evaluate_planes`].
pub fn evaluate(
    model_name: &str,
    pred: &MapCube,
    target: &MapCube,
    test_lon: &LonRange,
) -> Result<Evaluation> {
    let planes = evaluate_planes(pred, target, test_lon)?;
    let summary = MetricSummary::from_planes(model_name, &planes);
    Ok(Evaluation { planes, summary })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{generate, SynthParams};
    use crate::LinearBaseline;

    fn small() -> crate::synth::SynthCubes {
        let p = SynthParams {
            lon_min_deg: 330.0,
            pixel_deg: 0.1,
            n_vel: 3,
            stripe_fraction: 0.05,
            ..SynthParams::default()
        };
        generate(&p, 21).unwrap()
    }

    #[test]
    fn training_masks_respect_region_stripes_and_subsampling() {
        let s = small();
        let train = LonRange::parse("330:345").unwrap();
        let mut opts = TrainingOptions::new(train);
        let set = training_pairs(&s.co12, &s.co13, &Preprocess::default(), &opts).unwrap();
        let pairs = set.pairs();
        assert_eq!(pairs.len(), 3);
        for p in &pairs {
            for ((_, c), &m) in p.train_mask.indexed_iter() {
                if m {
                    assert!(train.contains(s.co12.lon_deg(c)));
                    assert!(!s.stripe_columns.contains(&c));
                }
            }
        }
        let full = set.n_training_pixels();
        let stripes_in = s
            .stripe_columns
            .iter()
            .filter(|&&c| train.contains(s.co12.lon_deg(c)))
            .count();
        assert_eq!(full, 3 * 10 * (150 - stripes_in));
        opts.max_pixels_per_plane = Some(100);
        opts.seed = 4;
        let sub = training_pairs(&s.co12, &s.co13, &Preprocess::default(), &opts).unwrap();
        assert_eq!(sub.n_training_pixels(), 300);
        let again = training_pairs(&s.co12, &s.co13, &Preprocess::default(), &opts).unwrap();
        assert_eq!(again.masks(), sub.masks());
        opts.train_lon = LonRange::parse("10:20").unwrap();
        assert!(training_pairs(&s.co12, &s.co13, &Preprocess::default(), &opts).is_err());
    }

    #[test]
    fn predict_cube_keeps_the_grid_and_rejects_unknown_bins() {
        let s = small();
        let opts = TrainingOptions::new(LonRange::parse("330:345").unwrap());
        let set = training_pairs(&s.co12, &s.co13, &Preprocess::default(), &opts).unwrap();
        let pairs = set.pairs();
        let model = LinearBaseline::fit(&pairs).unwrap();
        let pred = predict_cube(&model, set.source()).unwrap();
        pred.check_same_grid(set.source(), "test").unwrap();
        assert_eq!(pred.vel_axis(), set.source().vel_axis());
        // Plane-by-plane equal to the model's own prediction.
        let direct = model
            .predict_plane(1, set.source().plane(1).unwrap())
            .unwrap();
        assert_eq!(pred.plane(1).unwrap(), direct.view());
        let only_bin0 = LinearBaseline::fit(&pairs[..1]).unwrap();
        assert!(predict_cube(&only_bin0, set.source()).is_err());
    }
}
