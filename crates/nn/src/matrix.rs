//! [`Matrix`]: the batch-major, row-major buffer every layer reads and writes.

use crate::error::{invalid, shape, Result};
use crate::float::Float;
use ndarray::{Array2, ArrayView2};

/// A dense row-major matrix: one row per sample, one column per feature.
///
/// Element $(i, j)$ is `data[i * cols + j]`. Layers resize their output
/// matrices in place with [`Matrix::resize`], so a training loop that keeps
/// its matrices allocates nothing after the first step.
///
/// ```
/// use darkprobe_nn::Matrix;
/// let m = Matrix::from_vec(2, 3, vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// assert_eq!(m.get(1, 0), 4.0);
/// assert_eq!(m.row(1), &[4.0, 5.0, 6.0]);
/// assert!(Matrix::from_vec(2, 2, vec![1.0f64]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Matrix<T> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

impl<T: Float> Matrix<T> {
    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![T::ZERO; rows * cols],
        }
    }

    /// A matrix with element $(i, j)$ equal to `f(i, j)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> T) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                data.push(f(i, j));
            }
        }
        Self { rows, cols, data }
    }

    /// Wraps a row-major buffer.
    ///
    /// # Errors
    /// A shape error when `data.len() != rows * cols`.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<T>) -> Result<Self> {
        let want = rows.checked_mul(cols);
        if want != Some(data.len()) {
            return Err(shape(
                "matrix buffer",
                format!("{rows} x {cols} = {} values", rows.saturating_mul(cols)),
                format!("{} values", data.len()),
            ));
        }
        Ok(Self { rows, cols, data })
    }

    /// Copies an `ndarray` view (any memory layout).
    pub fn from_array(a: ArrayView2<'_, T>) -> Self {
        let (rows, cols) = a.dim();
        Self {
            rows,
            cols,
            data: a.iter().copied().collect(),
        }
    }

    /// Copies `f64` data from an `ndarray` view, converting to `T`.
    ///
    /// # Errors
    /// An invalid-parameter error naming `what`, the row and the column of the
    /// first NaN or infinite value.
    pub fn from_f64_array(a: ArrayView2<'_, f64>, what: &str) -> Result<Self> {
        let (rows, cols) = a.dim();
        let mut data = Vec::with_capacity(rows * cols);
        for ((i, j), &v) in a.indexed_iter() {
            if !v.is_finite() {
                return Err(invalid(
                    &format!("{what}[row {i}, column {j}]"),
                    v,
                    "a finite number",
                ));
            }
            data.push(T::from_f64(v));
        }
        Ok(Self { rows, cols, data })
    }

    /// Copies into an `ndarray` array.
    pub fn to_array(&self) -> Array2<T> {
        Array2::from_shape_vec((self.rows, self.cols), self.data.clone())
            .unwrap_or_else(|_| Array2::from_elem((0, 0), T::ZERO))
    }

    /// Converts every element to `f64`.
    pub fn to_f64(&self) -> Matrix<f64> {
        Matrix {
            rows: self.rows,
            cols: self.cols,
            data: self.data.iter().map(|v| v.to_f64()).collect(),
        }
    }

    /// Number of rows (samples).
    #[inline]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (features).
    #[inline]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    #[inline]
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The row-major buffer.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The row-major buffer, mutable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// Consumes the matrix, returning its buffer.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }

    /// Row `i`.
    ///
    /// # Panics
    /// When `i >= rows`.
    #[inline]
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i`, mutable.
    ///
    /// # Panics
    /// When `i >= rows`.
    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [T] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Element $(i, j)$.
    ///
    /// # Panics
    /// When out of bounds.
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> T {
        assert!(j < self.cols, "column {j} out of bounds ({})", self.cols);
        self.data[i * self.cols + j]
    }

    /// Sets element $(i, j)$.
    ///
    /// # Panics
    /// When out of bounds.
    #[inline]
    pub fn set(&mut self, i: usize, j: usize, v: T) {
        assert!(j < self.cols, "column {j} out of bounds ({})", self.cols);
        self.data[i * self.cols + j] = v;
    }

    /// Reshapes to `rows × cols`, keeping the allocation when it is large
    /// enough. The contents are unspecified afterwards (callers overwrite them).
    pub fn resize(&mut self, rows: usize, cols: usize) {
        self.rows = rows;
        self.cols = cols;
        self.data.resize(rows * cols, T::ZERO);
    }

    /// Sets every element to `v`.
    pub fn fill(&mut self, v: T) {
        self.data.fill(v);
    }

    /// Copies the rows `indices` of `self` into `out` (resized), in that order.
    ///
    /// # Errors
    /// An invalid-parameter error when an index is out of range.
    pub fn gather_rows_into(&self, indices: &[usize], out: &mut Matrix<T>) -> Result<()> {
        out.resize(indices.len(), self.cols);
        for (k, &i) in indices.iter().enumerate() {
            if i >= self.rows {
                return Err(invalid("row index", i, &format!("< {}", self.rows)));
            }
            out.data[k * self.cols..(k + 1) * self.cols].copy_from_slice(self.row(i));
        }
        Ok(())
    }

    /// The rows `indices` of `self` as a new matrix.
    ///
    /// # Errors
    /// An invalid-parameter error when an index is out of range.
    pub fn select_rows(&self, indices: &[usize]) -> Result<Matrix<T>> {
        let mut out = Matrix::zeros(0, self.cols);
        self.gather_rows_into(indices, &mut out)?;
        Ok(out)
    }

    /// The position `(row, column)` of the first NaN or infinite element.
    pub fn first_non_finite(&self) -> Option<(usize, usize)> {
        let cols = self.cols.max(1);
        self.data
            .iter()
            .position(|v| !v.is_finite())
            .map(|p| (p / cols, p % cols))
    }

    /// Checks that the matrix has `cols` columns.
    ///
    /// # Errors
    /// A shape error naming `what`.
    pub(crate) fn expect_cols(&self, what: &str, cols: usize) -> Result<()> {
        if self.cols != cols {
            return Err(shape(
                what,
                format!("{cols} columns"),
                format!("{} columns", self.cols),
            ));
        }
        Ok(())
    }

    /// Checks that the matrix is `rows × cols`.
    ///
    /// # Errors
    /// A shape error naming `what`.
    pub(crate) fn expect_shape(&self, what: &str, rows: usize, cols: usize) -> Result<()> {
        if self.shape() != (rows, cols) {
            return Err(shape(
                what,
                format!("{rows} x {cols}"),
                format!("{} x {}", self.rows, self.cols),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn ndarray_round_trip_and_transposed_views() {
        let a = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let m = Matrix::<f64>::from_array(a.view());
        assert_eq!(m.to_array(), a);
        let t = Matrix::<f64>::from_array(a.t());
        assert_eq!(t.shape(), (3, 2));
        assert_eq!(t.row(0), &[1.0, 4.0]);
        let f = Matrix::<f32>::from_f64_array(a.view(), "x").unwrap();
        assert_eq!(f.get(1, 2), 6.0f32);
    }

    #[test]
    fn non_finite_input_is_located() {
        let a = array![[1.0, 2.0], [f64::NAN, 0.0]];
        let e = Matrix::<f32>::from_f64_array(a.view(), "inputs").unwrap_err();
        assert!(e.to_string().contains("inputs[row 1, column 0]"), "{e}");
        let m = Matrix::<f64>::from_array(a.view());
        assert_eq!(m.first_non_finite(), Some((1, 0)));
    }

    #[test]
    fn gather_and_resize() {
        let m = Matrix::from_fn(4, 2, |i, j| (10 * i + j) as f64);
        let s = m.select_rows(&[3, 0, 3]).unwrap();
        assert_eq!(s.as_slice(), &[30.0, 31.0, 0.0, 1.0, 30.0, 31.0]);
        assert!(m.select_rows(&[4]).is_err());
        let mut r = m.clone();
        r.resize(1, 3);
        assert_eq!(r.shape(), (1, 3));
        assert_eq!(r.as_slice().len(), 3);
    }
}
