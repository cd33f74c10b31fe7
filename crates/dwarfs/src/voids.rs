//! Void (control) regions: positions and counts per macro energy bin.
//!
//! A void is a circle of the high-latitude sky (radius 0.5 deg in the package)
//! away from dwarfs and known sources; its counts sample the background. The
//! package ships the positions (`misc/voids_all_25dSphs.dat`, rows `l b`) and
//! the counts per macro bin (`misc/Newbins_counts_voids.dat`, integers written
//! as floats, with two blank lines that are skipped); row $j$ of one belongs to
//! row $j$ of the other.
//!
//! ```
//! use darkprobe_dwarfs::VoidSample;
//! let v = VoidSample::new(
//!     vec![10.0, 20.0, 30.0], vec![40.0, -45.0, 50.0],
//!     vec![vec![5, 3], vec![0, 2], vec![7, 1]],
//! ).unwrap();
//! assert_eq!(v.positive_in_all_bins(), vec![0, 2]);
//! assert_eq!(v.positive_in_bin(1).unwrap(), vec![0, 1, 2]);
//! assert_eq!(v.mean_counts(), vec![4.0, 2.0]);
//! ```

use crate::error::Result;
use darkprobe_core::table::{Header, Table, TableOptions};
use darkprobe_core::Error;
use std::path::Path;

/// Positions and counts (and optionally exposures) of void regions.
#[derive(Debug, Clone, PartialEq)]
pub struct VoidSample {
    l_deg: Vec<f64>,
    b_deg: Vec<f64>,
    counts: Vec<Vec<u64>>,
    exposure_cm2_s: Option<Vec<Vec<f64>>>,
}

impl VoidSample {
    /// A sample from columns: longitudes, latitudes (deg) and counts `[void][bin]`.
    ///
    /// # Errors
    /// Columns of different lengths, no void, rows with different numbers of
    /// bins (or none), a non-finite longitude or $|b| > 90$.
    pub fn new(l_deg: Vec<f64>, b_deg: Vec<f64>, counts: Vec<Vec<u64>>) -> Result<Self> {
        if l_deg.len() != b_deg.len() || l_deg.len() != counts.len() {
            return Err(Error::shape(
                "void columns (l, b, counts)",
                l_deg.len(),
                format!("{} latitudes and {} count rows", b_deg.len(), counts.len()),
            )
            .into());
        }
        if l_deg.is_empty() {
            return Err(Error::empty("void sample", "give at least one void region").into());
        }
        let n_bins = counts[0].len();
        if n_bins == 0 {
            return Err(Error::invalid_param("void energy bins", 0, ">= 1").into());
        }
        for (i, row) in counts.iter().enumerate() {
            if row.len() != n_bins {
                return Err(Error::shape(format!("counts of void {i}"), n_bins, row.len()).into());
            }
        }
        for (i, (l, b)) in l_deg.iter().zip(&b_deg).enumerate() {
            if !(l.is_finite() && b.abs() <= 90.0) {
                return Err(Error::invalid_param(
                    format!("void {i} position"),
                    format!("({l}, {b})"),
                    "finite, with |b| <= 90 deg",
                )
                .into());
            }
        }
        Ok(Self {
            l_deg,
            b_deg,
            counts,
            exposure_cm2_s: None,
        })
    }

    /// Attaches the mean exposure of each void in each bin, `[void][bin]` (cm$^2$ s).
    ///
    /// # Errors
    /// A shape other than `n_voids x n_bins`, or a non-finite or negative value.
    pub fn with_exposure(mut self, exposure_cm2_s: Vec<Vec<f64>>) -> Result<Self> {
        if exposure_cm2_s.len() != self.n_voids()
            || exposure_cm2_s.iter().any(|r| r.len() != self.n_bins())
        {
            return Err(Error::shape(
                "void exposures",
                format!("{} x {}", self.n_voids(), self.n_bins()),
                format!("{} rows", exposure_cm2_s.len()),
            )
            .into());
        }
        if let Some(v) = exposure_cm2_s
            .iter()
            .flatten()
            .find(|e| !(e.is_finite() && **e >= 0.0))
        {
            return Err(
                Error::invalid_param("void exposure", v, "finite and >= 0 (cm^2 s)").into(),
            );
        }
        self.exposure_cm2_s = Some(exposure_cm2_s);
        Ok(self)
    }

    /// Reads the package's two void files: positions (`l b` per row) and counts
    /// (one column per macro bin). Blank lines and `#` comments are skipped.
    ///
    /// # Errors
    /// [`Error::Io`] for an unreadable file; [`Error::Parse`] naming the file,
    /// line and value for a non-numeric position, $|b| > 90$, a count that
    /// is negative or not an integer, or a positions file without exactly 2
    /// columns; [`Error::ShapeMismatch`] naming both files when their row
    /// counts differ.
    pub fn read(positions: impl AsRef<Path>, counts: impl AsRef<Path>) -> Result<Self> {
        let opts = TableOptions::default().with_header(Header::Absent);
        let pos = Table::read(positions.as_ref(), &opts)?;
        let cnt = Table::read(counts.as_ref(), &opts)?;
        Self::from_tables(&pos, &cnt)
    }

    /// As [`VoidSample::read`], from text held in memory.
    ///
    /// # Errors
    /// As [`VoidSample::read`].
    pub fn parse_str(
        positions: &str,
        positions_name: &str,
        counts: &str,
        counts_name: &str,
    ) -> Result<Self> {
        let opts = TableOptions::default().with_header(Header::Absent);
        let pos = Table::parse_str(positions, positions_name, &opts)?;
        let cnt = Table::parse_str(counts, counts_name, &opts)?;
        Self::from_tables(&pos, &cnt)
    }

    fn from_tables(pos: &Table, cnt: &Table) -> Result<Self> {
        if pos.n_cols() != 2 {
            return Err(Error::parse(
                darkprobe_core::Location::new(pos.source(), pos.line_of(0).unwrap_or(0)),
                &pos.row_cells(0).map(|c| c.join(" ")).unwrap_or_default(),
                format!(
                    "a void positions file has 2 columns (l b), found {}",
                    pos.n_cols()
                ),
            )
            .into());
        }
        if pos.n_rows() != cnt.n_rows() {
            return Err(Error::shape(
                format!(
                    "void files '{}' and '{}' (data rows)",
                    pos.source(),
                    cnt.source()
                ),
                pos.n_rows(),
                cnt.n_rows(),
            )
            .into());
        }
        let l = pos.column_f64(0)?;
        let b = pos.column_f64(1)?;
        for row in pos.rows() {
            let bv = row.get_f64(1)?;
            if bv.abs() > 90.0 {
                return Err(Error::parse(
                    darkprobe_core::Location::new(pos.source(), row.line()).with_column("1"),
                    row.get(1)?,
                    "latitude must be in [-90, 90] deg",
                )
                .into());
            }
        }
        let cols: Vec<Vec<u64>> = (0..cnt.n_cols())
            .map(|j| cnt.column_u64(j))
            .collect::<darkprobe_core::Result<_>>()?;
        let counts = (0..cnt.n_rows())
            .map(|i| cols.iter().map(|c| c[i]).collect())
            .collect();
        Self::new(l, b, counts)
    }

    /// Number of voids.
    pub fn n_voids(&self) -> usize {
        self.l_deg.len()
    }
    /// Number of energy bins.
    pub fn n_bins(&self) -> usize {
        self.counts[0].len()
    }
    /// Galactic longitudes, degrees.
    pub fn l_deg(&self) -> &[f64] {
        &self.l_deg
    }
    /// Galactic latitudes, degrees.
    pub fn b_deg(&self) -> &[f64] {
        &self.b_deg
    }
    /// The counts of void `v` in each bin.
    pub fn counts(&self, v: usize) -> Option<&[u64]> {
        self.counts.get(v).map(Vec::as_slice)
    }
    /// The mean exposures `[void][bin]`, when attached.
    pub fn exposure_cm2_s(&self) -> Option<&[Vec<f64>]> {
        self.exposure_cm2_s.as_deref()
    }

    fn check_bin(&self, bin: usize) -> Result<()> {
        if bin < self.n_bins() {
            Ok(())
        } else {
            Err(Error::invalid_param("energy bin", bin, format!("< {}", self.n_bins())).into())
        }
    }

    /// The counts of every void in `bin`.
    ///
    /// # Errors
    /// `bin >= n_bins()`.
    pub fn counts_in_bin(&self, bin: usize) -> Result<Vec<u64>> {
        self.check_bin(bin)?;
        Ok(self.counts.iter().map(|r| r[bin]).collect())
    }

    /// Indices of the voids with counts $> 0$ in every bin (the package's JB set).
    pub fn positive_in_all_bins(&self) -> Vec<usize> {
        (0..self.n_voids())
            .filter(|&v| self.counts[v].iter().all(|&c| c > 0))
            .collect()
    }

    /// Indices of the voids with counts $> 0$ in `bin`.
    ///
    /// # Errors
    /// `bin >= n_bins()`.
    pub fn positive_in_bin(&self, bin: usize) -> Result<Vec<usize>> {
        self.check_bin(bin)?;
        Ok((0..self.n_voids())
            .filter(|&v| self.counts[v][bin] > 0)
            .collect())
    }

    /// The voids at `indices`, in that order (exposures follow if attached).
    ///
    /// # Errors
    /// An index out of range, or no index.
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        if let Some(&i) = indices.iter().find(|&&i| i >= self.n_voids()) {
            return Err(
                Error::invalid_param("void index", i, format!("< {}", self.n_voids())).into(),
            );
        }
        let pick_f = |x: &[f64]| indices.iter().map(|&i| x[i]).collect::<Vec<_>>();
        let s = Self::new(
            pick_f(&self.l_deg),
            pick_f(&self.b_deg),
            indices.iter().map(|&i| self.counts[i].clone()).collect(),
        )?;
        match &self.exposure_cm2_s {
            Some(e) => s.with_exposure(indices.iter().map(|&i| e[i].clone()).collect()),
            None => Ok(s),
        }
    }

    /// Mean counts per void in each bin.
    pub fn mean_counts(&self) -> Vec<f64> {
        let n = self.n_voids() as f64;
        (0..self.n_bins())
            .map(|b| self.counts.iter().map(|r| r[b] as f64).sum::<f64>() / n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_with_blank_lines_and_checks_shapes() {
        let pos = "1.0 30.0\n2.0 -40.0\n3.0 50.0\n";
        let cnt = "1.0 2.0\n\n3.0 0.0\n\n5.0 6.0\n";
        let v = VoidSample::parse_str(pos, "p.dat", cnt, "c.dat").unwrap();
        assert_eq!(v.n_voids(), 3);
        assert_eq!(v.counts(1), Some(&[3u64, 0][..]));
        assert_eq!(v.counts_in_bin(1).unwrap(), vec![2, 0, 6]);
        assert_eq!(v.positive_in_all_bins(), vec![0, 2]);
        let s = v.subset(&[2, 0]).unwrap();
        assert_eq!(s.l_deg(), &[3.0, 1.0]);
        assert!(v.subset(&[3]).is_err());
        assert!(v.counts_in_bin(2).is_err());

        let e = VoidSample::parse_str(pos, "p.dat", "1 2\n3 4\n", "c.dat")
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.dat") && e.contains("c.dat"), "{e}");
        let e = VoidSample::parse_str(pos, "p.dat", "1 2\n3 -4\n5 6\n", "c.dat")
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.dat, line 2") && e.contains("-4"), "{e}");
        let e = VoidSample::parse_str(pos, "p.dat", "1 2\n3 4.5\n5 6\n", "c.dat")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("4.5"), "{e}");
        let e = VoidSample::parse_str("1 30\n2 95\n3 4\n", "p.dat", cnt, "c.dat")
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.dat, line 2") && e.contains("95"), "{e}");
        let e = VoidSample::parse_str("1 30 4\n", "p.dat", "1\n", "c.dat")
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.dat"), "{e}");
    }

    #[test]
    fn exposures_follow_subsets() {
        let v = VoidSample::new(vec![1.0, 2.0], vec![3.0, 4.0], vec![vec![1], vec![2]]).unwrap();
        assert!(v.clone().with_exposure(vec![vec![1.0]]).is_err());
        assert!(v
            .clone()
            .with_exposure(vec![vec![1.0], vec![f64::NAN]])
            .is_err());
        let v = v.with_exposure(vec![vec![10.0], vec![20.0]]).unwrap();
        assert_eq!(
            v.subset(&[1]).unwrap().exposure_cm2_s().unwrap(),
            &[vec![20.0]]
        );
        assert!(VoidSample::new(vec![], vec![], vec![]).is_err());
        assert!(VoidSample::new(vec![1.0], vec![1.0], vec![vec![]]).is_err());
        assert!(
            VoidSample::new(vec![1.0, 2.0], vec![1.0, 2.0], vec![vec![1], vec![1, 2]]).is_err()
        );
    }
}
