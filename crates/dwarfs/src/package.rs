//! Readers for the other MLFermiLATDwarfs inputs: the per-bin background files
//! (`bkg_data/lnbckg_dSphs_bin_K.dat`), the J-factor samples
//! (`Jfactors/Jfac_<dwarf>.txt`), and [`PackageData`], which loads a whole
//! package directory.
//!
//! Each row of `lnbckg_dSphs_bin_K.dat` holds, for one dwarf in table order,
//! $\ln n_{\rm obs}$ (the observed counts in macro bin $K$; $e^{\ln n}$ is an
//! integer, recovered as `round(exp(col0))`) and $\ln \hat B$, the package's
//! Nadaraya-Watson prediction of the ln background.
//!
//! The J-factor files hold 5000 samples of the (linear) J-factor each. The
//! file of `UrsaMinor` is named `Jfac_UMi.txt` ([`JFACTOR_FILE_ALIASES`]).
//!
//! ```
//! use darkprobe_dwarfs::package::{jfactor_file_name, package_jfactor_kde_bandwidth};
//! assert_eq!(jfactor_file_name("ursaminor"), "Jfac_UMi.txt");
//! assert_eq!(jfactor_file_name("Draco"), "Jfac_Draco.txt");
//! assert_eq!(package_jfactor_kde_bandwidth("Sextans"), Some(2.0 * 0.021090));
//! assert_eq!(package_jfactor_kde_bandwidth("SegueI"), None);
//! ```

use crate::dwarf::DwarfTable;
use crate::error::Result;
use crate::voids::VoidSample;
use darkprobe_core::table::{Header, Table, TableOptions};
use darkprobe_core::{Error, Location};
use std::path::{Path, PathBuf};

/// Table names whose J-factor file uses another name: `(table name, file name part)`.
pub const JFACTOR_FILE_ALIASES: [(&str, &str); 1] = [("UrsaMinor", "UMi")];

/// The dwarfs with empirical (data-driven) J-factor samples used by the package.
pub const EMPIRICAL_J_DWARFS: [&str; 8] = [
    "Carina",
    "Draco",
    "Fornax",
    "LeoI",
    "LeoII",
    "Sculptor",
    "Sextans",
    "UrsaMinor",
];

/// The file names of the package directory, relative to it.
pub mod files {
    /// The dwarf summary table.
    pub const DWARF_TABLE: &str = "default_dwarf_summary_table.dat";
    /// The void positions.
    pub const VOID_POSITIONS: &str = "misc/voids_all_25dSphs.dat";
    /// The void counts per macro bin.
    pub const VOID_COUNTS: &str = "misc/Newbins_counts_voids.dat";
    /// The folder of the per-bin background files.
    pub const BKG_DIR: &str = "bkg_data";
    /// The folder of the J-factor samples.
    pub const JFACTOR_DIR: &str = "Jfactors";
    /// The default list of dark-matter masses.
    pub const MASS_SCAN: &str = "scan_DM_mass.dat";
}

/// The J-factor file name of a dwarf: `Jfac_<name>.txt`, with `UrsaMinor`
/// mapped to `UMi` (case-insensitive).
pub fn jfactor_file_name(dwarf: &str) -> String {
    let d = dwarf.trim();
    let part = JFACTOR_FILE_ALIASES
        .iter()
        .find(|(table, _)| table.eq_ignore_ascii_case(d))
        .map_or(d, |(_, file)| *file);
    format!("Jfac_{part}.txt")
}

/// The bandwidth in $\log_{10} J$ of the package's KDE of the empirical J-factor
/// samples, $2\cdot\mathrm{optbw}$ with optbw $= 0.011045$ ($0.021090$ for Sextans), for the
/// dwarfs of [`EMPIRICAL_J_DWARFS`] (case-insensitive); `None` for any other.
pub fn package_jfactor_kde_bandwidth(dwarf: &str) -> Option<f64> {
    let d = dwarf.trim();
    let name = EMPIRICAL_J_DWARFS
        .iter()
        .find(|n| n.eq_ignore_ascii_case(d))?;
    Some(if *name == "Sextans" {
        2.0 * 0.021090
    } else {
        2.0 * 0.011045
    })
}

/// Samples of $\log_{10} J$ for one dwarf.
#[derive(Debug, Clone, PartialEq)]
pub struct JFactorSamples {
    /// Where they were read.
    pub source: String,
    /// $\log_{10}$ of each sample (J in GeV$^2$ cm$^{-5}$).
    pub log10_j: Vec<f64>,
}

impl JFactorSamples {
    /// Reads a file with one linear J-factor per line (GeV$^2$ cm$^{-5}$).
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Parse`] naming file and line for a value that is
    /// not a finite number $> 0$ or a file with more than one column; an empty
    /// file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let t = Table::read(path, &TableOptions::default().with_header(Header::Absent))?;
        Self::from_table(&t)
    }

    /// As [`JFactorSamples::read`], from text.
    ///
    /// # Errors
    /// As [`JFactorSamples::read`].
    pub fn parse_str(text: &str, source_name: &str) -> Result<Self> {
        let t = Table::parse_str(
            text,
            source_name,
            &TableOptions::default().with_header(Header::Absent),
        )?;
        Self::from_table(&t)
    }

    fn from_table(t: &Table) -> Result<Self> {
        if t.n_cols() != 1 {
            return Err(Error::parse(
                Location::new(t.source(), t.line_of(0).unwrap_or(0)),
                &t.row_cells(0).map(|c| c.join(" ")).unwrap_or_default(),
                format!(
                    "a J-factor file has one column (one sample per line), found {}",
                    t.n_cols()
                ),
            )
            .into());
        }
        let mut log10_j = Vec::with_capacity(t.n_rows());
        for row in t.rows() {
            let j = row.get_f64(0)?;
            if j <= 0.0 {
                return Err(Error::parse(
                    Location::new(t.source(), row.line()).with_column("0"),
                    row.get(0)?,
                    "a J-factor must be > 0 (GeV^2 cm^-5)",
                )
                .into());
            }
            log10_j.push(j.log10());
        }
        Ok(Self {
            source: t.source().to_string(),
            log10_j,
        })
    }

    /// Reads the samples of `dwarf` from a J-factor folder (see [`jfactor_file_name`]).
    ///
    /// # Errors
    /// As [`JFactorSamples::read`]; a missing file is an [`Error::InvalidParameter`]
    /// listing the dwarfs that have a file in the folder.
    pub fn read_for(dir: impl AsRef<Path>, dwarf: &str) -> Result<Self> {
        let dir = dir.as_ref();
        let path = dir.join(jfactor_file_name(dwarf));
        if !path.is_file() {
            let mut have: Vec<String> = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().to_string();
                    n.strip_prefix("Jfac_")
                        .and_then(|s| s.strip_suffix(".txt"))
                        .map(str::to_string)
                })
                .collect();
            have.sort();
            return Err(Error::invalid_param(
                "dwarf with J-factor samples",
                dwarf,
                format!(
                    "one of the files in '{}': {} (UMi = UrsaMinor)",
                    dir.display(),
                    have.join(", ")
                ),
            )
            .into());
        }
        Self::read(path)
    }

    /// Mean and standard deviation (divisor $n$) of $\log_{10} J$.
    pub fn mean_std(&self) -> (f64, f64) {
        let n = self.log10_j.len() as f64;
        let m = self.log10_j.iter().sum::<f64>() / n;
        let v = self.log10_j.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
        (m, v.sqrt())
    }
}

/// The package's per-bin background files: observed counts and the predicted
/// $\ln \hat B$ at each dwarf.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageBackground {
    /// Observed counts `[dwarf][bin]`, `round(exp(col0))`.
    pub observed_counts: Vec<Vec<u64>>,
    /// $\ln \hat B$ `[dwarf][bin]` (column 1).
    pub ln_b_hat: Vec<Vec<f64>>,
}

impl PackageBackground {
    /// Reads `lnbckg_dSphs_bin_{0..n_bins}.dat` from `dir`.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Parse`] naming file, line and value for a row
    /// without 2 finite numbers or whose $e^{\mathrm{col}\,0}$ is not an integer (to
    /// $10^{-6}$ relative); files with different numbers of rows.
    pub fn read_dir(dir: impl AsRef<Path>, n_bins: usize) -> Result<Self> {
        let dir = dir.as_ref();
        let mut per_bin = Vec::with_capacity(n_bins);
        for k in 0..n_bins {
            per_bin.push(Self::read_file(
                dir.join(format!("lnbckg_dSphs_bin_{k}.dat")),
            )?);
        }
        Self::from_bins(per_bin, &dir.display().to_string())
    }

    /// Reads one per-bin file: `(observed counts, ln B_hat)` per dwarf.
    ///
    /// # Errors
    /// As [`PackageBackground::read_dir`].
    pub fn read_file(path: impl AsRef<Path>) -> Result<(Vec<u64>, Vec<f64>)> {
        let t = Table::read(path, &TableOptions::default().with_header(Header::Absent))?;
        Self::parse_table(&t)
    }

    /// Parses one per-bin file held in memory.
    ///
    /// # Errors
    /// As [`PackageBackground::read_dir`].
    pub fn parse_file_str(text: &str, source_name: &str) -> Result<(Vec<u64>, Vec<f64>)> {
        let t = Table::parse_str(
            text,
            source_name,
            &TableOptions::default().with_header(Header::Absent),
        )?;
        Self::parse_table(&t)
    }

    fn parse_table(t: &Table) -> Result<(Vec<u64>, Vec<f64>)> {
        if t.n_cols() != 2 {
            return Err(Error::parse(
                Location::new(t.source(), t.line_of(0).unwrap_or(0)),
                &t.row_cells(0).map(|c| c.join(" ")).unwrap_or_default(),
                format!(
                    "a background file has 2 columns (ln n_obs, ln B_hat), found {}",
                    t.n_cols()
                ),
            )
            .into());
        }
        let mut counts = Vec::with_capacity(t.n_rows());
        for row in t.rows() {
            let ln_n = row.get_f64(0)?;
            let n = ln_n.exp();
            let r = n.round();
            if (n - r).abs() > 1e-6 * r.max(1.0) || r > 9.0e15 {
                return Err(Error::parse(
                    Location::new(t.source(), row.line()).with_column("0"),
                    row.get(0)?,
                    format!("exp(ln n_obs) = {n} is not an integer count"),
                )
                .into());
            }
            counts.push(r as u64);
        }
        Ok((counts, t.column_f64(1)?))
    }

    /// Assembles per-bin `(counts, ln B_hat)` columns.
    fn from_bins(per_bin: Vec<(Vec<u64>, Vec<f64>)>, source: &str) -> Result<Self> {
        let Some(first) = per_bin.first() else {
            return Err(Error::invalid_param("number of energy bins", 0, ">= 1").into());
        };
        let n_d = first.0.len();
        if let Some((k, _)) = per_bin.iter().enumerate().find(|(_, b)| b.0.len() != n_d) {
            return Err(Error::shape(
                format!("rows of lnbckg_dSphs_bin_{k}.dat in '{source}'"),
                n_d,
                per_bin[k].0.len(),
            )
            .into());
        }
        Ok(Self {
            observed_counts: (0..n_d)
                .map(|d| per_bin.iter().map(|b| b.0[d]).collect())
                .collect(),
            ln_b_hat: (0..n_d)
                .map(|d| per_bin.iter().map(|b| b.1[d]).collect())
                .collect(),
        })
    }

    /// Number of dwarfs (rows).
    pub fn n_dwarfs(&self) -> usize {
        self.observed_counts.len()
    }
}

/// Everything the package's limit code reads, loaded from one directory.
#[derive(Debug, Clone)]
pub struct PackageData {
    /// The directory.
    pub dir: PathBuf,
    /// The dwarf table.
    pub dwarfs: DwarfTable,
    /// The void sample (positions and counts in the 6 macro bins).
    pub voids: VoidSample,
    /// The per-bin background files (rows in table order).
    pub background: PackageBackground,
}

impl PackageData {
    /// Loads the dwarf table, the voids and the background files of an
    /// MLFermiLATDwarfs data directory (layout in [`files`]).
    ///
    /// # Errors
    /// Any reader's error; the background files having a number of rows other
    /// than the number of dwarfs, or the voids a number of bins other than 6.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let dwarfs = DwarfTable::read(dir.join(files::DWARF_TABLE))?;
        let voids = VoidSample::read(
            dir.join(files::VOID_POSITIONS),
            dir.join(files::VOID_COUNTS),
        )?;
        let n_bins = crate::binning::PACKAGE_MACRO_BOUNDARIES.len() - 1;
        if voids.n_bins() != n_bins {
            return Err(Error::shape(
                format!("macro bins in '{}'", dir.join(files::VOID_COUNTS).display()),
                n_bins,
                voids.n_bins(),
            )
            .into());
        }
        let background = PackageBackground::read_dir(dir.join(files::BKG_DIR), n_bins)?;
        if background.n_dwarfs() != dwarfs.len() {
            return Err(Error::shape(
                format!(
                    "rows of the files in '{}' (one per dwarf of the table)",
                    dir.join(files::BKG_DIR).display()
                ),
                dwarfs.len(),
                background.n_dwarfs(),
            )
            .into());
        }
        Ok(Self {
            dir,
            dwarfs,
            voids,
            background,
        })
    }

    /// The J-factor samples of `dwarf` from the `Jfactors` folder.
    ///
    /// # Errors
    /// As [`JFactorSamples::read_for`].
    pub fn jfactor_samples(&self, dwarf: &str) -> Result<JFactorSamples> {
        JFactorSamples::read_for(self.dir.join(files::JFACTOR_DIR), dwarf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_file_rounds_counts_and_rejects_non_integers() {
        let text = format!("{} 3.5\n{} 2.4\n", 29f64.ln(), 9f64.ln());
        let (c, b) = PackageBackground::parse_file_str(&text, "bin0.dat").unwrap();
        assert_eq!(c, vec![29, 9]);
        assert_eq!(b, vec![3.5, 2.4]);
        let bad = format!("{} 3.5\n{} 2.4\n", 29f64.ln(), 9.5f64.ln());
        let e = PackageBackground::parse_file_str(&bad, "bin0.dat")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bin0.dat, line 2") && e.contains("not an integer"),
            "{e}"
        );
        let e = PackageBackground::parse_file_str("0.0 nan\n", "b.dat")
            .unwrap_err()
            .to_string();
        assert!(e.contains("b.dat, line 1") && e.contains("nan"), "{e}");
        let e = PackageBackground::parse_file_str("1.0\n", "b.dat")
            .unwrap_err()
            .to_string();
        assert!(e.contains("b.dat"), "{e}");
        let pb = PackageBackground::from_bins(
            vec![(vec![1, 2], vec![0.1, 0.2]), (vec![3, 4], vec![0.3, 0.4])],
            "d",
        )
        .unwrap();
        assert_eq!(pb.observed_counts, vec![vec![1, 3], vec![2, 4]]);
        assert_eq!(pb.ln_b_hat[1], vec![0.2, 0.4]);
        assert!(PackageBackground::from_bins(
            vec![(vec![1], vec![0.1]), (vec![3, 4], vec![0.3, 0.4])],
            "d"
        )
        .is_err());
    }

    #[test]
    fn jfactor_samples_are_log10_and_validated() {
        let s = JFactorSamples::parse_str("1000000000000000000\n10000000000000000000\n", "j.txt")
            .unwrap();
        assert!((s.log10_j[0] - 18.0).abs() < 1e-12 && (s.log10_j[1] - 19.0).abs() < 1e-12);
        let (m, sd) = s.mean_std();
        assert!((m - 18.5).abs() < 1e-12 && (sd - 0.5).abs() < 1e-12);
        let e = JFactorSamples::parse_str("1e18\n-3\n", "j.txt")
            .unwrap_err()
            .to_string();
        assert!(e.contains("j.txt, line 2") && e.contains("-3"), "{e}");
        let e = JFactorSamples::parse_str("1e18 2\n", "j.txt")
            .unwrap_err()
            .to_string();
        assert!(e.contains("j.txt"), "{e}");
        let e = JFactorSamples::read_for(std::env::temp_dir(), "NoSuchDwarfXYZ")
            .unwrap_err()
            .to_string();
        assert!(e.contains("NoSuchDwarfXYZ"), "{e}");
    }
}
