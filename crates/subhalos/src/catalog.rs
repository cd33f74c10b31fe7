//! Source catalogs: the records the analysis needs, selections (latitude,
//! ROI, class group) and readers for the text tables darkprobe ships with.
//!
//! | reader | table | labels | photon flux |
//! | --- | --- | --- | --- |
//! | [`read_feature_table`] | `fermi-4fgl-dr4-lp-features/{assoc,unas}_E0_1GeV.csv` (the paper's own feature arrays, already at $\lvert b\rvert > 10°$) | none (associated or not) | given (band sum) |
//! | [`read_probcat_dr2`] | `fermi-4fgl-dr2-probcat-bhat-malyshev/4FGL-DR2_prob_catalog_2classes.csv` | 4FGL-DR2 CLASS1 | from the LP shape and `Energy_Flux100` (see [`crate::features`]) |
//! | `read_4fgl_fits` (feature `fits`) | the official 4FGL FITS catalog | CLASS1 | band sum |

use std::path::Path;

use darkprobe_core::table::{Table, TableOptions};
use darkprobe_core::{Error, Location};
use ndarray::Array2;

use crate::error::Result;
use crate::features::{ClassGroup, Features, LogParabola, ReferenceEnergy, Roi, N_FEATURES};

/// The paper's latitude cut: $|b| > 10°$.
pub const PAPER_MIN_ABS_GLAT_DEG: f64 = 10.0;

/// One source: its name, position (when known), association and features.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Catalog name (empty when the table has none).
    pub name: String,
    /// Galactic latitude in degrees, when the table gives it.
    pub glat_deg: Option<f64>,
    /// The class group; `None` for associated sources whose class the table
    /// does not give (the DR4 feature table).
    pub group: Option<ClassGroup>,
    /// The CLASS1 label as written in the table (empty when unassociated or unknown).
    pub class1: String,
    /// The three features.
    pub features: Features,
}

impl Source {
    /// Whether the source has an association (any non-empty CLASS1, or the
    /// associated half of the DR4 feature table).
    pub fn is_associated(&self) -> bool {
        self.group != Some(ClassGroup::Unassociated)
    }
}

/// A list of sources with the name of the file they came from.
///
/// ```
/// use darkprobe_subhalos::{Catalog, ClassGroup, Features, ReferenceEnergy, Roi, Source};
/// let src = |b: f64, beta: f64| Source {
///     name: String::new(), glat_deg: Some(b), group: Some(ClassGroup::Unassociated),
///     class1: String::new(),
///     features: Features { log10_flux_ph_cm2_s: -9.0, alpha_1gev: 1.2, beta },
/// };
/// let cat = Catalog::new("demo", vec![src(30.0, 0.3), src(5.0, 0.3), src(-40.0, 0.9)]);
/// let sel = cat.high_latitude(10.0).in_roi(&Roi::paper(ReferenceEnergy::OneGeV));
/// assert_eq!(sel.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalog {
    /// Where the sources came from (a path or a description).
    pub origin: String,
    /// The sources, in file order.
    pub sources: Vec<Source>,
}

impl Catalog {
    /// A catalog from a list of sources.
    pub fn new(origin: impl Into<String>, sources: Vec<Source>) -> Self {
        Self {
            origin: origin.into(),
            sources,
        }
    }

    /// Number of sources.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there is no source.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    fn filtered(&self, keep: impl Fn(&Source) -> bool) -> Catalog {
        Catalog {
            origin: self.origin.clone(),
            sources: self.sources.iter().filter(|s| keep(s)).cloned().collect(),
        }
    }

    /// Sources with $|b| >$ `min_abs_glat_deg` (sources without a latitude are
    /// kept: the DR4 feature table is already cut at $|b| > 10°$).
    pub fn high_latitude(&self, min_abs_glat_deg: f64) -> Catalog {
        self.filtered(|s| s.glat_deg.is_none_or(|b| b.abs() > min_abs_glat_deg))
    }

    /// Sources inside `roi`.
    pub fn in_roi(&self, roi: &Roi) -> Catalog {
        self.filtered(|s| roi.contains(&s.features))
    }

    /// Sources of one class group.
    pub fn in_group(&self, group: ClassGroup) -> Catalog {
        self.filtered(|s| s.group == Some(group))
    }

    /// Associated sources.
    pub fn associated(&self) -> Catalog {
        self.filtered(Source::is_associated)
    }

    /// Unassociated sources.
    pub fn unassociated(&self) -> Catalog {
        self.filtered(|s| !s.is_associated())
    }

    /// The features as an $n \times 3$ matrix, with the index at `energy`.
    pub fn feature_matrix(&self, energy: ReferenceEnergy) -> Array2<f64> {
        let mut m = Array2::zeros((self.sources.len(), N_FEATURES));
        for (mut row, s) in m.outer_iter_mut().zip(&self.sources) {
            for (r, v) in row.iter_mut().zip(s.features.vector(energy)) {
                *r = v;
            }
        }
        m
    }
}

fn read_table(path: &Path) -> Result<Table> {
    Ok(Table::read(path, &TableOptions::default())?)
}

/// Reads one of the DR4 feature tables of the paper
/// (`fermi-4fgl-dr4-lp-features/assoc_E0_1GeV.csv` or `unas_E0_1GeV.csv`):
/// columns `alpha_1GeV`, `beta`, `log10_flux_100MeV_1TeV`. The table carries
/// no names, positions or classes: every source gets group `None` when
/// `associated` is true, [`ClassGroup::Unassociated`] otherwise.
///
/// # Errors
/// I/O errors naming the file; a missing column; a cell that is not a finite
/// number (naming file, line, column and text).
pub fn read_feature_table(path: impl AsRef<Path>, associated: bool) -> Result<Catalog> {
    let path = path.as_ref();
    let t = read_table(path)?;
    let alpha = t.column_f64("alpha_1GeV")?;
    let beta = t.column_f64("beta")?;
    let flux = t.column_f64("log10_flux_100MeV_1TeV")?;
    let sources = (0..t.n_rows())
        .map(|i| Source {
            name: String::new(),
            glat_deg: None,
            group: (!associated).then_some(ClassGroup::Unassociated),
            class1: String::new(),
            features: Features {
                log10_flux_ph_cm2_s: flux[i],
                alpha_1gev: alpha[i],
                beta: beta[i],
            },
        })
        .collect();
    Ok(Catalog::new(path.display().to_string(), sources))
}

/// Reads the 4FGL-DR2 probabilistic catalog of Bhat & Malyshev (2022)
/// (`4FGL-DR2_prob_catalog_2classes.csv`), building the features from its
/// columns: $\alpha(1\,\mathrm{GeV})$ = `LP_Index` + 2 `LP_beta` ln(1000 MeV /
/// exp(`ln(Pivot_Energy)`)), $\beta$ = `LP_beta`, and the 100 MeV-1 TeV photon
/// flux from the LP shape normalised to exp(`ln(Energy_Flux100)`) (an
/// approximation, see [`crate::features`]). The class is `CLASS_4FGL`, where
/// the table writes `None` for unassociated sources.
///
/// Rows flagged `Missing_Values_Flag = 1` (14 sources whose spectral values
/// were imputed by the table's authors) are skipped unless `keep_imputed`.
///
/// # Errors
/// I/O errors; missing columns; non-numeric cells; unknown class labels; and
/// spectra whose flux integral is not finite, all naming file and line.
pub fn read_probcat_dr2(path: impl AsRef<Path>, keep_imputed: bool) -> Result<Catalog> {
    let path = path.as_ref();
    let t = read_table(path)?;
    let file = path.display().to_string();
    let mut sources = Vec::with_capacity(t.n_rows());
    for row in t.rows() {
        if !keep_imputed && row.get_f64("Missing_Values_Flag")? != 0.0 {
            continue;
        }
        let loc = |col: &str| Location::new(&file, row.line()).with_column(col);
        let name = row.get("Source_Name_4FGL")?.to_string();
        let glat = row.get_f64("GLAT")?;
        let ln_s = row.get_f64("ln(Energy_Flux100)")?;
        let ln_pivot = row.get_f64("ln(Pivot_Energy)")?;
        let alpha = row.get_f64("LP_Index")?;
        let beta = row.get_f64("LP_beta")?;
        let raw_class = row.get("CLASS_4FGL")?;
        let class1 = if raw_class.trim().eq_ignore_ascii_case("none") {
            ""
        } else {
            raw_class.trim()
        };
        let group = ClassGroup::parse_class1(class1, loc("CLASS_4FGL"))?;
        let pivot = ln_pivot.exp();
        let flux = LogParabola::photon_flux_from_energy_flux(ln_s.exp(), pivot, alpha, beta)
            .map_err(|e| {
                Error::parse(
                    loc("ln(Energy_Flux100)"),
                    row.get("ln(Energy_Flux100)").unwrap_or_default().trim(),
                    format!("cannot build the photon flux of this LP spectrum: {e}"),
                )
            })?;
        sources.push(Source {
            name,
            glat_deg: Some(glat),
            group: Some(group),
            class1: class1.to_string(),
            features: Features {
                log10_flux_ph_cm2_s: flux.log10(),
                alpha_1gev: alpha + 2.0 * beta * (1000.0 / pivot).ln(),
                beta,
            },
        });
    }
    Ok(Catalog::new(file, sources))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("darkprobe-subhalos-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        p
    }

    const DR2_HEADER: &str = "Source_Name_4FGL,GLAT,ln(Energy_Flux100),ln(Pivot_Energy),LP_Index,LP_beta,CLASS_4FGL,Missing_Values_Flag\n";

    #[test]
    fn feature_table_reads_and_selects() {
        let p = temp_file(
            "feat.csv",
            "alpha_1GeV,beta,log10_flux_100MeV_1TeV\n1.2,0.3,-9.0\n2.0,0.05,-8.0\n0.8,0.1,-10.3\n",
        );
        let c = read_feature_table(&p, false).unwrap();
        assert_eq!(c.len(), 3);
        assert!(c.sources.iter().all(|s| !s.is_associated()));
        let roi = Roi::paper(ReferenceEnergy::OneGeV);
        assert_eq!(c.in_roi(&roi).len(), 2);
        let m = c.in_roi(&roi).feature_matrix(ReferenceEnergy::OneGeV);
        assert_eq!(m.row(0).to_vec(), vec![-9.0, 1.2, 0.3]);
        let a = read_feature_table(&p, true).unwrap();
        assert!(a
            .sources
            .iter()
            .all(|s| s.is_associated() && s.group.is_none()));
    }

    #[test]
    fn feature_table_errors_name_file_line_and_value() {
        let p = temp_file(
            "bad.csv",
            "alpha_1GeV,beta,log10_flux_100MeV_1TeV\n1.2,0.3,-9.0\n2.0,nan,-8.0\n",
        );
        let e = read_feature_table(&p, false).unwrap_err().to_string();
        assert!(
            e.contains("bad.csv") && e.contains("line 3") && e.contains("beta"),
            "{e}"
        );
        let p = temp_file("nocol.csv", "alpha,beta,flux\n1.2,0.3,-9.0\n");
        let e = read_feature_table(&p, false).unwrap_err().to_string();
        assert!(e.contains("alpha_1GeV"), "{e}");
        let e = read_feature_table("/nonexistent/x.csv", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/x.csv"), "{e}");
    }

    #[test]
    fn dr2_reader_builds_features_and_groups() {
        let p = temp_file(
            "dr2.csv",
            &format!(
                "{DR2_HEADER}4FGL J0001.2-0747,-67.30501,-25.4149277,7.38561183,2.0718932,0.04876986,bll,0\n\
                 4FGL JXXXX,20.0,-26.0,7.0,2.5,0.3,PSR,0\n\
                 4FGL JYYYY,5.0,-26.0,7.0,2.5,0.3,None,0\n\
                 4FGL JZZZZ,50.0,-26.0,7.0,2.5,0.21288,unk,1\n"
            ),
        );
        let c = read_probcat_dr2(&p, false).unwrap();
        assert_eq!(c.len(), 3);
        let s = &c.sources[0];
        assert_eq!(s.group, Some(ClassGroup::Extragalactic));
        assert!((s.features.log10_flux_ph_cm2_s - (-8.017967185548386)).abs() < 1e-6);
        let alpha = 2.0718932 + 2.0 * 0.04876986 * (1000.0 / 7.38561183f64.exp()).ln();
        assert!((s.features.alpha_1gev - alpha).abs() < 1e-12);
        assert_eq!(c.sources[1].group, Some(ClassGroup::Galactic));
        assert_eq!(c.sources[2].group, Some(ClassGroup::Unassociated));
        assert_eq!(c.high_latitude(10.0).len(), 2);
        assert_eq!(read_probcat_dr2(&p, true).unwrap().len(), 4);
    }

    #[test]
    fn dr2_reader_rejects_unknown_classes_with_location() {
        let p = temp_file(
            "dr2bad.csv",
            &format!("{DR2_HEADER}4FGL JXXXX,20.0,-26.0,7.0,2.5,0.3,quasar,0\n"),
        );
        let e = read_probcat_dr2(&p, false).unwrap_err().to_string();
        assert!(
            e.contains("dr2bad.csv, line 2") && e.contains("quasar"),
            "{e}"
        );
    }
}
