//! Source catalogs: the records the analysis needs, selections (latitude,
//! ROI, class group) and readers for the text tables darkprobe ships with.
//!
//! | reader | table | labels | photon flux |
//! | --- | --- | --- | --- |
//! | [`read_feature_table`] | `fermi-4fgl-dr4-lp-features/{assoc,unas}_E0_1GeV.csv` (the paper's own feature arrays, already at $\lvert b\rvert > 10°$) | none (associated or not) | given (band sum) |
//! | [`read_probcat_dr2`] | `fermi-4fgl-dr2-probcat-bhat-malyshev/4FGL-DR2_prob_catalog_2classes.csv` | 4FGL-DR2 CLASS1 | from the LP shape and `Energy_Flux100` (see [`crate::features`]) |
//! | [`read_srcpop_uw1410`] | `fermi-4fgl-dr4-srcpop-uw1410/fermi_sources_v2.csv` (uw1410 pointlike fits of 4FGL-DR4 sources with TS > 25) | 4FGL-DR4 CLASS1 | from the LP shape and `eflux100` |
//! | `read_4fgl_fits` (feature `fits`) | the official 4FGL FITS catalog | CLASS1 | band sum |

use std::path::Path;

use darkprobe_core::table::{Delimiter, Header, Table, TableOptions};
use darkprobe_core::{Error, Location};
use ndarray::Array2;

use crate::error::Result;
use crate::features::{
    ClassGroup, Features, LogParabola, ReferenceEnergy, Roi, FLUX_E_MAX_MEV, FLUX_E_MIN_MEV,
    N_FEATURES,
};

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

/// How a table writes the log-parabola curvature, i.e. how its curvature
/// column $c$ maps to the $\beta$ of the catalog convention
/// $dN/dE = K (E/E_p)^{-\alpha - \beta \ln(E/E_p)}$ used for the features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurvatureConvention {
    /// The column is $\beta$ itself: $\beta = c$.
    Beta,
    /// The column is the second logarithmic derivative of the spectrum,
    /// $c = -d^2 \ln(dN/dE) / d(\ln E)^2 = 2\beta$: $\beta = c / 2$.
    TwiceBeta,
}

impl CurvatureConvention {
    /// The convention of the `curvature` column of the uw1410 srcpop table,
    /// measured on the data (see [`read_srcpop_uw1410`]): the column is
    /// $\beta$ itself. The dataset README suggests $2\beta$; a source-by-source
    /// comparison with the 4FGL catalog values does not support that.
    pub const SRCPOP_UW1410: Self = CurvatureConvention::Beta;

    /// $\beta$ from the curvature column value `curvature`.
    ///
    /// ```
    /// use darkprobe_subhalos::CurvatureConvention;
    /// assert_eq!(CurvatureConvention::Beta.beta(0.3), 0.3);
    /// assert_eq!(CurvatureConvention::TwiceBeta.beta(0.3), 0.15);
    /// ```
    pub fn beta(self, curvature: f64) -> f64 {
        match self {
            CurvatureConvention::Beta => curvature,
            CurvatureConvention::TwiceBeta => 0.5 * curvature,
        }
    }
}

/// The upper end of the energy band of the srcpop table's `eflux100` ("energy
/// flux above 100 MeV") assumed when normalising the LP shape: 100 GeV, the
/// band of the 4FGL `Energy_Flux100` column (the table does not state its
/// upper end; for the curved spectra of the ROI the 100 GeV-1 TeV part of the
/// energy flux is a small correction: normalising over
/// 100 MeV-1 TeV instead lowers $\log_{10} F$ of the ROI sources by a median
/// 0.017 dex).
pub const SRCPOP_EFLUX_E_MAX_MEV: f64 = 1.0e5;

/// The srcpop table as read by [`read_srcpop_uw1410`]: the usable sources
/// and the rows that were skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct SrcpopTable {
    /// The sources with a positive `eflux100`, in file order, with their
    /// 4FGL-DR4 CLASS1 labels and groups.
    pub catalog: Catalog,
    /// File lines (1-based) of the rows skipped because `eflux100` is 0 (no
    /// photon flux can be built for them).
    pub skipped_zero_eflux_lines: Vec<usize>,
}

/// Reads the srcpop list of T. Burnett (`fermi-4fgl-dr4-srcpop-uw1410/
/// fermi_sources_v2.csv`): 4FGL-DR4 sources present in the uw1410 pointlike
/// all-sky model with TS > 25, with their **4FGL-DR4 CLASS1 labels** and
/// uw1410 LP fits. The features are built as
///
/// - $\beta$ = `curvature` mapped through `convention` (use
///   [`CurvatureConvention::SRCPOP_UW1410`]);
/// - $\alpha(1\,\mathrm{GeV})$ = `pindex` + $2\beta \ln(1000\,\mathrm{MeV} /
///   e_0)$, the exact re-pivoting from the pivot `e0` (MeV);
/// - the 100 MeV-1 TeV photon flux of the LP shape normalised to the energy
///   flux `eflux100` (erg cm$^{-2}$ s$^{-1}$) over 100 MeV-[`SRCPOP_EFLUX_E_MAX_MEV`]
///   ([`LogParabola::with_energy_flux`], the same normalisation as
///   [`LogParabola::photon_flux_from_energy_flux`] in the DR2 reader).
///
/// The group comes from `class1` (case-insensitive, empty = unassociated);
/// the latitude from `glat`. Rows with `eflux100` = 0 are skipped and their
/// lines returned in [`SrcpopTable::skipped_zero_eflux_lines`].
///
/// ```
/// use darkprobe_subhalos::{read_srcpop_uw1410, ClassGroup, CurvatureConvention};
/// let dir = std::env::temp_dir().join(format!("dp-srcpop-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let p = dir.join("srcpop.csv");
/// std::fs::write(&p, "name,glat,eflux100,class1,pindex,curvature,e0\n\
///     4FGL JA,40.0,2e-12,bll,2.0,0.1,1000.0\n\
///     4FGL JB,-30.0,0,,2.0,0.3,1500.0\n").unwrap();
/// let t = read_srcpop_uw1410(&p, CurvatureConvention::SRCPOP_UW1410).unwrap();
/// assert_eq!(t.catalog.len(), 1);
/// assert_eq!(t.skipped_zero_eflux_lines, vec![3]);
/// let s = &t.catalog.sources[0];
/// assert_eq!(s.group, Some(ClassGroup::Extragalactic));
/// // Pivot at 1 GeV: alpha(1 GeV) is pindex itself.
/// assert_eq!((s.features.alpha_1gev, s.features.beta), (2.0, 0.1));
/// # std::fs::remove_dir_all(&dir).ok();
/// ```
///
/// # Errors
/// I/O errors naming the file; a missing column; a non-numeric or non-finite
/// cell; a negative `eflux100`, a non-positive `e0`, a latitude outside
/// $[-90°, 90°]$, an unknown CLASS1 label, or an LP spectrum whose flux
/// integral fails, each naming file, line, column and text.
pub fn read_srcpop_uw1410(
    path: impl AsRef<Path>,
    convention: CurvatureConvention,
) -> Result<SrcpopTable> {
    let path = path.as_ref();
    let t = Table::read(
        path,
        &TableOptions::default()
            .with_delimiter(Delimiter::Comma)
            .with_header(Header::Present),
    )?;
    let file = path.display().to_string();
    // Check the columns up front, so that a missing one is reported before
    // any cell error.
    for col in [
        "name",
        "glat",
        "eflux100",
        "class1",
        "pindex",
        "curvature",
        "e0",
    ] {
        t.column_index(col)?;
    }
    let mut sources = Vec::with_capacity(t.n_rows());
    let mut skipped = Vec::new();
    for row in t.rows() {
        let loc = |col: &str| Location::new(&file, row.line()).with_column(col);
        let bad = |col: &str, reason: &str| -> crate::error::SubhaloError {
            Error::parse(
                loc(col),
                row.get(col).unwrap_or_default(),
                reason.to_string(),
            )
            .into()
        };
        let glat = row.get_f64("glat")?;
        if !(-90.0..=90.0).contains(&glat) {
            return Err(bad("glat", "Galactic latitude outside [-90, 90] degrees"));
        }
        let eflux = row.get_f64("eflux100")?;
        if eflux < 0.0 {
            return Err(bad("eflux100", "negative energy flux"));
        }
        let pindex = row.get_f64("pindex")?;
        let beta = convention.beta(row.get_f64("curvature")?);
        let e0 = row.get_f64("e0")?;
        if e0 <= 0.0 {
            return Err(bad("e0", "the pivot energy must be positive (MeV)"));
        }
        let class1 = row.get("class1")?.trim();
        let group = ClassGroup::parse_class1(class1, loc("class1"))?;
        if eflux == 0.0 {
            skipped.push(row.line());
            continue;
        }
        let flux = LogParabola::new(1.0, e0, pindex, beta)
            .and_then(|lp| lp.with_energy_flux(eflux, FLUX_E_MIN_MEV, SRCPOP_EFLUX_E_MAX_MEV))
            .and_then(|lp| lp.photon_flux(FLUX_E_MIN_MEV, FLUX_E_MAX_MEV))
            .map_err(|e| {
                bad(
                    "eflux100",
                    &format!("cannot build the photon flux of this LP spectrum: {e}"),
                )
            })?;
        sources.push(Source {
            name: row.get("name")?.trim().to_string(),
            glat_deg: Some(glat),
            group: Some(group),
            class1: class1.to_string(),
            features: Features {
                log10_flux_ph_cm2_s: flux.log10(),
                alpha_1gev: pindex + 2.0 * beta * (1000.0 / e0).ln(),
                beta,
            },
        });
    }
    Ok(SrcpopTable {
        catalog: Catalog::new(file, sources),
        skipped_zero_eflux_lines: skipped,
    })
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

    const SRCPOP_HEADER: &str = "name,delta,ts,r95,glat,glon,eflux100,nbb,class1,variability,nickname,pindex,curvature,e0,sin_b,uw_name,category\n";

    fn srcpop_row(
        name: &str,
        glat: &str,
        eflux: &str,
        class1: &str,
        pindex: &str,
        curv: &str,
        e0: &str,
    ) -> String {
        format!("{name},0.01,50.0,0.05,{glat},10.0,{eflux},1,{class1},12.0,NICK,{pindex},{curv},{e0},0.5,J0000,unid\n")
    }

    /// The 100 MeV-1 TeV photon flux of an LP normalised to `eflux_erg` over
    /// 100 MeV-100 GeV, by a trapezoid rule in ln E with a million steps: an
    /// implementation independent of the crate's Gauss-Legendre path.
    fn trapezoid_photon_flux(eflux_erg: f64, e0: f64, alpha: f64, beta: f64) -> f64 {
        let dnde = |e: f64| {
            let x = (e / e0).ln();
            (-(alpha + beta * x) * x).exp()
        };
        let integral = |lo: f64, hi: f64, weight: &dyn Fn(f64) -> f64| {
            let (a, b) = (lo.ln(), hi.ln());
            let n = 1_000_000;
            let h = (b - a) / n as f64;
            let g = |le: f64| {
                let e = le.exp();
                e * dnde(e) * weight(e)
            };
            let mut s = 0.5 * (g(a) + g(b));
            for i in 1..n {
                s += g(a + i as f64 * h);
            }
            s * h
        };
        let s1_mev = integral(100.0, 1e5, &|e| e);
        let k = eflux_erg / crate::features::MEV_IN_ERG / s1_mev;
        k * integral(100.0, 1e6, &|_| 1.0)
    }

    #[test]
    fn srcpop_reader_builds_features_groups_and_skips_zero_flux() {
        let text = format!(
            "{SRCPOP_HEADER}{}{}{}{}{}",
            // The file's first row (unassociated).
            srcpop_row(
                "4FGL J0000.3-7355",
                "-42.73582741603842",
                "9.873368348164499e-13",
                "",
                "2.08395817",
                "0.21718765139538965",
                "2816.9848670665788"
            ),
            srcpop_row("4FGL JGAL", "20.0", "2e-12", "PSR", "1.5", "0.4", "1500.0"),
            srcpop_row("4FGL JEXT", "-5.0", "3e-12", " bll ", "2.0", "0.1", "900.0"),
            srcpop_row("4FGL JZERO", "30.0", "0", "fsrq", "2.0", "0.1", "900.0"),
            srcpop_row(
                "4FGL JUNK",
                "60.0",
                "1e-12",
                "unk",
                "2.2",
                "-0.05",
                "1000.0"
            ),
        );
        let p = temp_file("srcpop.csv", &text);
        let t = read_srcpop_uw1410(&p, CurvatureConvention::Beta).unwrap();
        assert_eq!(t.skipped_zero_eflux_lines, vec![5]);
        let c = &t.catalog;
        assert_eq!(c.len(), 4);
        let s = &c.sources[0];
        assert_eq!(s.name, "4FGL J0000.3-7355");
        assert_eq!(s.group, Some(ClassGroup::Unassociated));
        let (pindex, beta, e0) = (2.08395817, 0.21718765139538965, 2816.9848670665788f64);
        assert_eq!(s.features.beta, beta);
        assert!((s.features.alpha_1gev - (pindex + 2.0 * beta * (1000.0 / e0).ln())).abs() < 1e-14);
        let f = trapezoid_photon_flux(9.873368348164499e-13, e0, pindex, beta);
        assert!(
            (s.features.log10_flux_ph_cm2_s - f.log10()).abs() < 1e-9,
            "{} vs {}",
            s.features.log10_flux_ph_cm2_s,
            f.log10()
        );
        assert_eq!(c.sources[1].group, Some(ClassGroup::Galactic));
        assert_eq!(c.sources[1].class1, "PSR");
        assert_eq!(c.sources[2].group, Some(ClassGroup::Extragalactic));
        assert_eq!(c.sources[2].class1, "bll");
        assert_eq!(c.sources[3].group, Some(ClassGroup::Unknown));
        assert_eq!(c.high_latitude(10.0).len(), 3);
        // The other convention halves beta and re-pivots with it.
        let h = read_srcpop_uw1410(&p, CurvatureConvention::TwiceBeta).unwrap();
        let s2 = &h.catalog.sources[0];
        assert_eq!(s2.features.beta, 0.5 * beta);
        assert!((s2.features.alpha_1gev - (pindex + beta * (1000.0 / e0).ln())).abs() < 1e-14);
        let f2 = trapezoid_photon_flux(9.873368348164499e-13, e0, pindex, 0.5 * beta);
        assert!((s2.features.log10_flux_ph_cm2_s - f2.log10()).abs() < 1e-9);
    }

    #[test]
    fn srcpop_flux_matches_an_independent_integral_over_shapes() {
        // Curved, flat and slightly convex shapes at various pivots.
        for &(alpha, beta, e0) in &[
            (1.2, 0.45, 600.0),
            (2.3, 0.0, 4000.0),
            (1.9, -0.08, 250.0),
            (1.0, 0.6, 20000.0),
        ] {
            let lp = LogParabola::new(1.0, e0, alpha, beta).unwrap();
            let f = lp
                .with_energy_flux(4e-12, FLUX_E_MIN_MEV, SRCPOP_EFLUX_E_MAX_MEV)
                .unwrap()
                .photon_flux(FLUX_E_MIN_MEV, FLUX_E_MAX_MEV)
                .unwrap();
            let r = trapezoid_photon_flux(4e-12, e0, alpha, beta);
            assert!(
                (f / r - 1.0).abs() < 1e-9,
                "{alpha} {beta} {e0}: {f} vs {r}"
            );
        }
    }

    #[test]
    fn srcpop_reader_rejects_bad_input_with_location() {
        let check = |name: &str, text: String, needles: &[&str]| {
            let p = temp_file(name, &text);
            let e = read_srcpop_uw1410(&p, CurvatureConvention::Beta)
                .unwrap_err()
                .to_string();
            for n in needles {
                assert!(e.contains(n), "{name}: {e} lacks {n}");
            }
        };
        let good = srcpop_row("4FGL JOK", "20.0", "2e-12", "bll", "2.0", "0.1", "1000.0");
        check(
            "sp_nan.csv",
            format!(
                "{SRCPOP_HEADER}{good}{}",
                srcpop_row("4FGL JNAN", "20.0", "2e-12", "bll", "NaN", "0.1", "1000.0")
            ),
            &["sp_nan.csv", "line 3", "pindex", "NaN"],
        );
        check(
            "sp_label.csv",
            format!(
                "{SRCPOP_HEADER}{good}{good}{}",
                srcpop_row("4FGL JQ", "20.0", "2e-12", "quasar", "2.0", "0.1", "1000.0")
            ),
            &["sp_label.csv", "line 4", "quasar"],
        );
        check(
            "sp_neg.csv",
            format!(
                "{SRCPOP_HEADER}{}",
                srcpop_row("4FGL JN", "20.0", "-2e-12", "bll", "2.0", "0.1", "1000.0")
            ),
            &["sp_neg.csv", "line 2", "eflux100", "-2e-12"],
        );
        check(
            "sp_e0.csv",
            format!(
                "{SRCPOP_HEADER}{}",
                srcpop_row("4FGL JN", "20.0", "2e-12", "bll", "2.0", "0.1", "0")
            ),
            &["sp_e0.csv", "line 2", "e0"],
        );
        check(
            "sp_glat.csv",
            format!(
                "{SRCPOP_HEADER}{}",
                srcpop_row("4FGL JN", "120.0", "2e-12", "bll", "2.0", "0.1", "1000.0")
            ),
            &["sp_glat.csv", "line 2", "glat", "120"],
        );
        check(
            "sp_text.csv",
            format!(
                "{SRCPOP_HEADER}{}",
                srcpop_row("4FGL JN", "20.0", "abc", "bll", "2.0", "0.1", "1000.0")
            ),
            &["sp_text.csv", "line 2", "eflux100", "abc"],
        );
        let no_curv = SRCPOP_HEADER.replace("curvature", "curv");
        check("sp_nocol.csv", format!("{no_curv}{good}"), &["curvature"]);
        // A header without data rows is an error naming the file.
        check(
            "sp_empty.csv",
            SRCPOP_HEADER.to_string(),
            &["sp_empty.csv", "empty"],
        );
        let e = read_srcpop_uw1410("/nonexistent/srcpop.csv", CurvatureConvention::Beta)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/srcpop.csv"), "{e}");
    }
}
