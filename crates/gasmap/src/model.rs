//! The interface shared by the gas-map regressors, and the neighbourhood
//! features they are trained on.
//!
//! # Conventions
//! - A *plane* is one velocity bin of a map cube, an `Array2<f64>` indexed
//!   `[i_lat, i_lon]` (row = latitude, column = longitude, as a FITS image
//!   whose first axis `NAXIS1` is longitude).
//! - Regressors predict one ¹³CO pixel from a neighbourhood of ¹²CO pixels
//!   centred on it: a horizontal or vertical *strip* of `len` pixels (the
//!   Gaussian process of the paper, `len = 9`) or a `rows × cols` *patch*
//!   (the patch network, 7 × 7 by default in the paper's notation D1 × D2).
//! - Neighbourhoods that reach past the edge of the plane are completed by
//!   half-sample symmetric reflection ([`reflect`]: `… c b a | a b c …`), so
//!   every pixel of a plane gets a prediction and a prediction has the shape
//!   of its input.

use ndarray::{Array2, ArrayView2};

/// Result type of this crate (errors are [`darkprobe_core::Error`]).
pub type Result<T> = std::result::Result<T, darkprobe_core::Error>;

/// Map an index that may lie outside `0..n` back into it by half-sample
/// symmetric reflection: `-1 → 0`, `-2 → 1`, `n → n-1`, `n+1 → n-2`, and
/// periodically with period `2n` beyond that.
///
/// # Panics
/// Never for `n > 0`; returns 0 when `n == 0` is given (callers check that
/// planes are non-empty first).
///
/// ```
/// use darkprobe_gasmap::model::reflect;
/// let idx: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
/// assert_eq!(idx, vec![2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
/// ```
pub fn reflect(i: isize, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let period = 2 * n as isize;
    let m = i.rem_euclid(period);
    if m < n as isize {
        m as usize
    } else {
        (period - 1 - m) as usize
    }
}

/// Direction of a strip neighbourhood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Orientation {
    /// Along longitude (a row of the plane).
    Horizontal,
    /// Along latitude (a column of the plane).
    Vertical,
}

/// The shape of the ¹²CO neighbourhood a regressor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Neighbourhood {
    /// A strip of `len` pixels (odd) centred on the target pixel.
    Strip {
        /// Direction of the strip.
        orientation: Orientation,
        /// Number of pixels, odd.
        len: usize,
    },
    /// A `rows × cols` patch (both odd) centred on the target pixel.
    Patch {
        /// Extent along latitude, odd.
        rows: usize,
        /// Extent along longitude, odd.
        cols: usize,
    },
}

impl Neighbourhood {
    /// Number of features (pixels) in the neighbourhood.
    pub fn n_features(&self) -> usize {
        match *self {
            Neighbourhood::Strip { len, .. } => len,
            Neighbourhood::Patch { rows, cols } => rows * cols,
        }
    }

    fn check(&self) -> Result<()> {
        let odd = |name: &str, v: usize| {
            if v == 0 || v.is_multiple_of(2) {
                Err(darkprobe_core::Error::invalid_param(
                    name,
                    v.to_string(),
                    "an odd number of pixels >= 1",
                ))
            } else {
                Ok(())
            }
        };
        match *self {
            Neighbourhood::Strip { len, .. } => odd("strip length", len),
            Neighbourhood::Patch { rows, cols } => {
                odd("patch rows", rows)?;
                odd("patch cols", cols)
            }
        }
    }

    /// The `(d_lat, d_lon)` offsets of the neighbourhood, in feature order
    /// (row-major for patches, increasing offset for strips).
    pub fn offsets(&self) -> Vec<(isize, isize)> {
        match *self {
            Neighbourhood::Strip { orientation, len } => {
                let h = (len / 2) as isize;
                (-h..=h)
                    .map(|d| match orientation {
                        Orientation::Horizontal => (0, d),
                        Orientation::Vertical => (d, 0),
                    })
                    .collect()
            }
            Neighbourhood::Patch { rows, cols } => {
                let (hr, hc) = ((rows / 2) as isize, (cols / 2) as isize);
                let mut out = Vec::with_capacity(rows * cols);
                for dr in -hr..=hr {
                    for dc in -hc..=hc {
                        out.push((dr, dc));
                    }
                }
                out
            }
        }
    }

    /// Feature matrix (one row per pixel, `n_features()` columns) of the
    /// neighbourhoods of `pixels` (`(i_lat, i_lon)` pairs) in `plane`, with
    /// reflection at the edges.
    ///
    /// # Errors
    /// An even or zero extent, an empty plane, or a pixel outside the plane.
    ///
    /// ```
    /// use darkprobe_gasmap::model::{Neighbourhood, Orientation};
    /// let plane = ndarray::array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
    /// let h = Neighbourhood::Strip { orientation: Orientation::Horizontal, len: 3 };
    /// let f = h.features(plane.view(), &[(0, 0), (1, 1)]).unwrap();
    /// assert_eq!(f.row(0).to_vec(), vec![1.0, 1.0, 2.0]); // reflected left edge
    /// assert_eq!(f.row(1).to_vec(), vec![4.0, 5.0, 6.0]);
    /// ```
    pub fn features(
        &self,
        plane: ArrayView2<'_, f64>,
        pixels: &[(usize, usize)],
    ) -> Result<Array2<f64>> {
        self.check()?;
        let (nr, nc) = plane.dim();
        if nr == 0 || nc == 0 {
            return Err(darkprobe_core::Error::empty(
                "plane",
                "a plane with at least one pixel",
            ));
        }
        let offsets = self.offsets();
        let mut out = Array2::zeros((pixels.len(), offsets.len()));
        for (k, &(r, c)) in pixels.iter().enumerate() {
            if r >= nr || c >= nc {
                return Err(darkprobe_core::Error::invalid_param(
                    "pixel",
                    format!("({r}, {c})"),
                    format!("inside a {nr} x {nc} plane"),
                ));
            }
            for (j, &(dr, dc)) in offsets.iter().enumerate() {
                let rr = reflect(r as isize + dr, nr);
                let cc = reflect(c as isize + dc, nc);
                out[[k, j]] = plane[[rr, cc]];
            }
        }
        Ok(out)
    }
}

/// Every pixel of an `n_lat × n_lon` plane, row-major: the order in which
/// [`PlaneRegressor::predict_plane`] implementations should evaluate and
/// return pixels.
pub fn all_pixels(n_lat: usize, n_lon: usize) -> Vec<(usize, usize)> {
    (0..n_lat)
        .flat_map(|r| (0..n_lon).map(move |c| (r, c)))
        .collect()
}

/// A trained ¹²CO → ¹³CO regressor that predicts whole planes.
///
/// Fitting is model specific (each model has its own options); once fitted,
/// every model predicts a plane of the same shape as its input, covering every
/// pixel.
pub trait PlaneRegressor: Send + Sync {
    /// Short name used in tables and model files (`"linear"`, `"gp"`,
    /// `"net-wmae"`, `"net-poisson"`).
    fn name(&self) -> &str;

    /// Predicted ¹³CO brightness for every pixel of the ¹²CO `source` plane
    /// of velocity bin `velocity_bin`.
    ///
    /// # Errors
    /// A velocity bin the model was not trained for, an empty plane, or
    /// non-finite input.
    fn predict_plane(
        &self,
        velocity_bin: usize,
        source: ArrayView2<'_, f64>,
    ) -> Result<Array2<f64>>;
}

/// One velocity bin of training data: the full ¹²CO `source` plane, the ¹³CO
/// `target` plane, and the mask of pixels usable for training (the full
/// source plane is given so neighbourhoods near the mask edge read real ¹²CO
/// values).
#[derive(Debug, Clone, Copy)]
pub struct PlanePair<'a> {
    /// Velocity bin of the planes.
    pub velocity_bin: usize,
    /// ¹²CO plane, `[i_lat, i_lon]`.
    pub source: ArrayView2<'a, f64>,
    /// ¹³CO plane, same shape.
    pub target: ArrayView2<'a, f64>,
    /// `true` for the pixels usable for training, same shape.
    pub train_mask: ArrayView2<'a, bool>,
}
