//! Reading the 4FGL catalog from its FITS file (feature `fits`).
//!
//! The catalog table is the binary-table extension `LAT_Point_Source_Catalog`
//! (or, failing that, the first binary table). Columns are matched by their
//! official 4FGL names, ignoring case:
//!
//! | column | use |
//! | --- | --- |
//! | `Source_Name` | name |
//! | `GLAT` | Galactic latitude (deg) |
//! | `CLASS1` | association class (empty: unassociated) |
//! | `Pivot_Energy` | LP pivot $E_p$ (MeV) |
//! | `LP_Index`, `LP_beta` | LP index at $E_p$ and curvature |
//! | `Flux_Band` (vector) | band photon fluxes (cm$^{-2}$ s$^{-1}$), summed over the bands from 100 MeV to 1 TeV |
//! | `LP_Flux_Density` (optional) | LP normalisation at $E_p$ (cm$^{-2}$ s$^{-1}$ MeV$^{-1}$) |
//! | `Energy_Flux100` (optional) | 100 MeV-100 GeV energy flux (erg cm$^{-2}$ s$^{-1}$) |
//!
//! The band edges come from the `EnergyBounds` extension (columns
//! `LowerEnergy`, `UpperEnergy` in MeV) when the file has it; otherwise from
//! the number of bands: 7 (4FGL, DR2: 50, 100, 300 MeV, 1, 3, 10, 30 GeV,
//! 1 TeV) or 8 (DR3, DR4: the last band split at 100 GeV). The photon flux of
//! a source is the sum of its band fluxes above 100 MeV, as in the paper; if a
//! band value is not finite, the LP integral normalised by `LP_Flux_Density`
//! (or, without it, by `Energy_Flux100`) is used instead.

use std::path::Path;

use fitsio::hdu::{FitsHdu, HduInfo};
use fitsio::FitsFile;

use crate::catalog::{Catalog, Source};
use crate::error::{Result, SubhaloError};
use crate::features::{ClassGroup, Features, LogParabola, FLUX_E_MAX_MEV, FLUX_E_MIN_MEV};
use darkprobe_core::Location;

/// Default band edges (MeV) of catalogs with 7 bands (4FGL, 4FGL-DR2).
pub const BAND_EDGES_7_MEV: [f64; 8] = [50.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4, 1e6];
/// Default band edges (MeV) of catalogs with 8 bands (4FGL-DR3, 4FGL-DR4).
pub const BAND_EDGES_8_MEV: [f64; 9] = [50.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4, 1e5, 1e6];

fn fits_err(path: &Path, reason: impl Into<String>) -> SubhaloError {
    SubhaloError::Fits {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// The table's column names with their repeat counts.
fn columns(f: &mut FitsFile, hdu: &FitsHdu, path: &Path) -> Result<Vec<(String, usize)>> {
    match &hdu.info {
        HduInfo::TableInfo {
            column_descriptions,
            ..
        } => {
            let _ = f;
            Ok(column_descriptions
                .iter()
                .map(|c| (c.name.clone(), c.data_type.repeat))
                .collect())
        }
        _ => Err(fits_err(path, "the catalog extension is not a table")),
    }
}

fn find_col<'a>(cols: &'a [(String, usize)], name: &str) -> Option<&'a (String, usize)> {
    cols.iter().find(|(c, _)| c.eq_ignore_ascii_case(name))
}

fn need_col<'a>(
    cols: &'a [(String, usize)],
    name: &str,
    path: &Path,
) -> Result<&'a (String, usize)> {
    find_col(cols, name).ok_or_else(|| {
        fits_err(
            path,
            format!(
                "no column '{name}' in the catalog table (columns: {})",
                cols.iter()
                    .map(|c| c.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

fn read_f64(f: &mut FitsFile, hdu: &FitsHdu, name: &str, path: &Path) -> Result<Vec<f64>> {
    hdu.read_col::<f64>(f, name)
        .map_err(|e| fits_err(path, format!("cannot read column '{name}': {e}")))
}

fn read_str(f: &mut FitsFile, hdu: &FitsHdu, name: &str, path: &Path) -> Result<Vec<String>> {
    hdu.read_col::<String>(f, name)
        .map_err(|e| fits_err(path, format!("cannot read column '{name}': {e}")))
}

/// Band edges from the `EnergyBounds` extension, if present.
fn energy_bounds(f: &mut FitsFile, path: &Path) -> Result<Option<Vec<(f64, f64)>>> {
    let Ok(hdu) = f.hdu("EnergyBounds") else {
        return Ok(None);
    };
    let cols = columns(f, &hdu, path)?;
    let lo_name = need_col(&cols, "LowerEnergy", path)?.0.clone();
    let hi_name = need_col(&cols, "UpperEnergy", path)?.0.clone();
    let lo = read_f64(f, &hdu, &lo_name, path)?;
    let hi = read_f64(f, &hdu, &hi_name, path)?;
    Ok(Some(lo.into_iter().zip(hi).collect()))
}

/// Reads the 4FGL catalog in the FITS file at `path` (see the module docs for
/// the columns used and the photon-flux rule).
///
/// # Errors
/// [`SubhaloError::Fits`] when the file cannot be opened or lacks a catalog
/// table or a required column, or when the band count is neither given by an
/// `EnergyBounds` extension nor 7 or 8; a [`darkprobe_core::Error::Parse`]
/// naming the file, row (as "line", 1-based) and column for a non-finite
/// spectral value or an LP spectrum whose flux cannot be computed; and
/// [`SubhaloError::UnknownClass`] for an unknown CLASS1 label.
pub fn read_4fgl_fits(path: impl AsRef<Path>) -> Result<Catalog> {
    let path = path.as_ref();
    if path.is_file() {
        // Absurd sizes in a header would make cfitsio allocate them.
        darkprobe_core::fitscheck::check_fits_headers(path)?;
    }
    // fitsio panics on table columns of some types: make that an error.
    darkprobe_core::fitscheck::without_panics(path, || read_4fgl_fits_checked(path))
}

fn read_4fgl_fits_checked(path: &Path) -> Result<Catalog> {
    let mut f = FitsFile::open(path).map_err(|e| fits_err(path, format!("cannot open: {e}")))?;
    let hdu = match f.hdu("LAT_Point_Source_Catalog") {
        Ok(h) => h,
        Err(_) => f
            .hdu(1)
            .map_err(|_| fits_err(path, "no catalog table (extension 1 is missing)"))?,
    };
    let cols = columns(&mut f, &hdu, path)?;
    let name_col = need_col(&cols, "Source_Name", path)?.0.clone();
    let names = read_str(&mut f, &hdu, &name_col, path)?;
    let n = names.len();
    let mut get = |name: &str| -> Result<Vec<f64>> {
        let c = need_col(&cols, name, path)?.0.clone();
        read_f64(&mut f, &hdu, &c, path)
    };
    let glat = get("GLAT")?;
    let pivot = get("Pivot_Energy")?;
    let alpha = get("LP_Index")?;
    let beta = get("LP_beta")?;
    let k_lp = match find_col(&cols, "LP_Flux_Density") {
        Some(_) => Some(get("LP_Flux_Density")?),
        None => None,
    };
    let eflux = match find_col(&cols, "Energy_Flux100") {
        Some(_) => Some(get("Energy_Flux100")?),
        None => None,
    };
    let class_col = need_col(&cols, "CLASS1", path)?.0.clone();
    let classes = read_str(&mut f, &hdu, &class_col, path)?;
    let bands = match find_col(&cols, "Flux_Band") {
        Some((c, repeat)) => {
            let c = c.clone();
            let repeat = *repeat;
            let values = read_f64(&mut f, &hdu, &c, path)?;
            let edges: Vec<(f64, f64)> = match energy_bounds(&mut f, path)? {
                Some(e) => e,
                None => match repeat {
                    7 => BAND_EDGES_7_MEV.windows(2).map(|w| (w[0], w[1])).collect(),
                    8 => BAND_EDGES_8_MEV.windows(2).map(|w| (w[0], w[1])).collect(),
                    r => {
                        return Err(fits_err(
                            path,
                            format!(
                                "Flux_Band has {r} bands and the file has no EnergyBounds \
                                 extension: cannot tell the band edges (known: 7 or 8 bands)"
                            ),
                        ))
                    }
                },
            };
            if edges.len() != repeat || values.len() != n * repeat {
                return Err(fits_err(
                    path,
                    format!(
                        "Flux_Band has {repeat} values per source but {} band edges are defined",
                        edges.len()
                    ),
                ));
            }
            let use_band: Vec<bool> = edges
                .iter()
                .map(|(lo, hi)| {
                    *lo >= FLUX_E_MIN_MEV * (1.0 - 1e-9) && *hi <= FLUX_E_MAX_MEV * (1.0 + 1e-9)
                })
                .collect();
            Some((values, repeat, use_band))
        }
        None => None,
    };
    if bands.is_none() && k_lp.is_none() && eflux.is_none() {
        return Err(fits_err(
            path,
            "none of Flux_Band, LP_Flux_Density and Energy_Flux100 is present: cannot build the photon flux",
        ));
    }
    let file = path.display().to_string();
    let mut sources = Vec::with_capacity(n);
    for i in 0..n {
        let loc = |col: &str| Location::new(&file, i + 1).with_column(col);
        for (col, v) in [
            ("GLAT", glat[i]),
            ("Pivot_Energy", pivot[i]),
            ("LP_Index", alpha[i]),
            ("LP_beta", beta[i]),
        ] {
            if !v.is_finite() {
                return Err(darkprobe_core::Error::parse(
                    loc(col),
                    &v.to_string(),
                    format!("source {}: not a finite number", names[i].trim()),
                )
                .into());
            }
        }
        let band_sum = bands.as_ref().and_then(|(values, r, use_band)| {
            let row = &values[i * r..(i + 1) * r];
            let s: f64 = row
                .iter()
                .zip(use_band)
                .filter(|(_, u)| **u)
                .map(|(v, _)| *v)
                .sum();
            (s.is_finite() && s > 0.0).then_some(s)
        });
        let flux = match band_sum {
            Some(s) => s,
            None => {
                let lp = |k: f64| {
                    LogParabola::new(k, pivot[i], alpha[i], beta[i])?
                        .photon_flux(FLUX_E_MIN_MEV, FLUX_E_MAX_MEV)
                };
                let r = match (&k_lp, &eflux) {
                    (Some(k), _) if k[i].is_finite() && k[i] > 0.0 => lp(k[i]),
                    (_, Some(s)) => {
                        LogParabola::photon_flux_from_energy_flux(s[i], pivot[i], alpha[i], beta[i])
                    }
                    _ => Err(darkprobe_core::Error::invalid_param(
                        "LP_Flux_Density",
                        k_lp.as_ref().map_or(f64::NAN, |k| k[i]),
                        "finite and > 0",
                    )
                    .into()),
                };
                r.map_err(|e| {
                    darkprobe_core::Error::parse(
                        loc("Flux_Band"),
                        names[i].trim(),
                        format!("no usable band fluxes and no LP flux: {e}"),
                    )
                })?
            }
        };
        let class1 = classes[i].trim().to_string();
        let group = ClassGroup::parse_class1(&class1, loc(&class_col))?;
        sources.push(Source {
            name: names[i].trim().to_string(),
            glat_deg: Some(glat[i]),
            group: Some(group),
            class1,
            features: Features {
                log10_flux_ph_cm2_s: flux.log10(),
                alpha_1gev: alpha[i] + 2.0 * beta[i] * (1000.0 / pivot[i]).ln(),
                beta: beta[i],
            },
        });
    }
    Ok(Catalog::new(file, sources))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitsio::tables::{ColumnDataType, ColumnDescription};

    struct Row {
        name: &'static str,
        glat: f32,
        pivot: f32,
        alpha: f32,
        beta: f32,
        k: f32,
        eflux: f32,
        class1: &'static str,
        bands: [f32; 8],
    }

    fn rows() -> Vec<Row> {
        vec![
            Row {
                name: "4FGL J0001.0+0001",
                glat: 45.0,
                pivot: 1500.0,
                alpha: 2.1,
                beta: 0.3,
                k: 2e-13,
                eflux: 3e-12,
                class1: "bll",
                bands: [9e-9, 1e-9, 8e-10, 3e-10, 1e-10, 3e-11, 1e-11, 2e-12],
            },
            Row {
                name: "4FGL J0002.0-0002",
                glat: -5.0,
                pivot: 900.0,
                alpha: 1.7,
                beta: 0.45,
                k: 1e-12,
                eflux: 5e-12,
                class1: "PSR",
                bands: [1e-8, 2e-9, 1e-9, 4e-10, 5e-11, 1e-12, 0.0, 0.0],
            },
            Row {
                name: "4FGL J0003.0+0003",
                glat: -30.0,
                pivot: 2000.0,
                alpha: 2.3,
                beta: 0.1,
                k: 5e-14,
                eflux: 1e-12,
                class1: "",
                bands: [1e-9, f32::NAN, 1e-10, 5e-11, 1e-11, 1e-12, 1e-13, 0.0],
            },
        ]
    }

    fn write_catalog(path: &Path, rows: &[Row], with_bounds: bool) {
        let _ = std::fs::remove_file(path);
        let mut f = FitsFile::create(path).open().unwrap();
        let float = |name: &str| {
            ColumnDescription::new(name)
                .with_type(ColumnDataType::Float)
                .create()
                .unwrap()
        };
        let desc = vec![
            ColumnDescription::new("Source_Name")
                .with_type(ColumnDataType::String)
                .that_repeats(18)
                .create()
                .unwrap(),
            float("GLAT"),
            float("Pivot_Energy"),
            float("LP_Index"),
            float("LP_beta"),
            float("LP_Flux_Density"),
            float("Energy_Flux100"),
            ColumnDescription::new("Flux_Band")
                .with_type(ColumnDataType::Float)
                .that_repeats(8)
                .create()
                .unwrap(),
            ColumnDescription::new("CLASS1")
                .with_type(ColumnDataType::String)
                .that_repeats(5)
                .create()
                .unwrap(),
        ];
        let hdu = f.create_table("LAT_Point_Source_Catalog", &desc).unwrap();
        let col = |g: fn(&Row) -> f32| rows.iter().map(g).collect::<Vec<f32>>();
        let names: Vec<String> = rows.iter().map(|r| r.name.to_string()).collect();
        hdu.write_col(&mut f, "Source_Name", &names).unwrap();
        hdu.write_col(&mut f, "GLAT", &col(|r| r.glat)).unwrap();
        hdu.write_col(&mut f, "Pivot_Energy", &col(|r| r.pivot))
            .unwrap();
        hdu.write_col(&mut f, "LP_Index", &col(|r| r.alpha))
            .unwrap();
        hdu.write_col(&mut f, "LP_beta", &col(|r| r.beta)).unwrap();
        hdu.write_col(&mut f, "LP_Flux_Density", &col(|r| r.k))
            .unwrap();
        hdu.write_col(&mut f, "Energy_Flux100", &col(|r| r.eflux))
            .unwrap();
        let bands: Vec<f32> = rows.iter().flat_map(|r| r.bands).collect();
        hdu.write_col(&mut f, "Flux_Band", &bands).unwrap();
        let classes: Vec<String> = rows.iter().map(|r| r.class1.to_string()).collect();
        hdu.write_col(&mut f, "CLASS1", &classes).unwrap();
        if with_bounds {
            let desc = vec![float("LowerEnergy"), float("UpperEnergy")];
            let eb = f.create_table("EnergyBounds", &desc).unwrap();
            let e = BAND_EDGES_8_MEV.map(|v| v as f32);
            eb.write_col(&mut f, "LowerEnergy", &e[..8]).unwrap();
            eb.write_col(&mut f, "UpperEnergy", &e[1..]).unwrap();
        }
    }

    fn temp_path(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("darkprobe-subhalos-fits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn reads_a_4fgl_style_bintable() {
        for with_bounds in [false, true] {
            let p = temp_path(&format!("cat{with_bounds}.fits"));
            let rs = rows();
            write_catalog(&p, &rs, with_bounds);
            let cat = read_4fgl_fits(&p).unwrap();
            assert_eq!(cat.len(), 3);
            let s = &cat.sources[0];
            assert_eq!(s.name, "4FGL J0001.0+0001");
            assert_eq!(s.group, Some(ClassGroup::Extragalactic));
            assert_eq!(cat.sources[1].group, Some(ClassGroup::Galactic));
            assert_eq!(cat.sources[2].group, Some(ClassGroup::Unassociated));
            // Band sum above 100 MeV (bands 2..8), in f32 precision.
            let expected: f64 = rs[0].bands[1..].iter().map(|v| *v as f64).sum();
            assert!((s.features.log10_flux_ph_cm2_s - expected.log10()).abs() < 1e-6);
            let alpha = 2.1f32 as f64 + 2.0 * 0.3f32 as f64 * (1000.0 / 1500.0f64).ln();
            assert!((s.features.alpha_1gev - alpha).abs() < 1e-6);
            // A NaN band: the LP integral normalised by LP_Flux_Density instead.
            let lp =
                LogParabola::new(5e-14f32 as f64, 2000.0, 2.3f32 as f64, 0.1f32 as f64).unwrap();
            let f = lp.photon_flux(100.0, 1e6).unwrap();
            assert!((cat.sources[2].features.log10_flux_ph_cm2_s - f.log10()).abs() < 1e-6);
            assert_eq!(cat.high_latitude(10.0).len(), 2);
        }
    }

    #[test]
    fn seven_band_catalog_without_optional_columns() {
        // 4FGL / DR2 layout: 7 bands, the last one 30 GeV - 1 TeV; no
        // LP_Flux_Density or Energy_Flux100 (the band sum is the only flux).
        let p = temp_path("seven.fits");
        let _ = std::fs::remove_file(&p);
        let mut f = FitsFile::create(&p).open().unwrap();
        let col = |name: &str, t: ColumnDataType, r: usize| {
            ColumnDescription::new(name)
                .with_type(t)
                .that_repeats(r)
                .create()
                .unwrap()
        };
        let desc = vec![
            col("SOURCE_NAME", ColumnDataType::String, 18),
            col("glat", ColumnDataType::Double, 1),
            col("Pivot_Energy", ColumnDataType::Double, 1),
            col("LP_Index", ColumnDataType::Double, 1),
            col("LP_beta", ColumnDataType::Double, 1),
            col("Flux_Band", ColumnDataType::Double, 7),
            col("CLASS1", ColumnDataType::String, 5),
        ];
        let hdu = f.create_table("LAT_Point_Source_Catalog", &desc).unwrap();
        hdu.write_col(
            &mut f,
            "SOURCE_NAME",
            &["4FGL J1".to_string(), "4FGL J2".to_string()],
        )
        .unwrap();
        hdu.write_col(&mut f, "glat", &[20.0f64, -60.0]).unwrap();
        hdu.write_col(&mut f, "Pivot_Energy", &[1000.0f64, 3000.0])
            .unwrap();
        hdu.write_col(&mut f, "LP_Index", &[2.0f64, 1.8]).unwrap();
        hdu.write_col(&mut f, "LP_beta", &[0.2f64, 0.35]).unwrap();
        let bands: Vec<f64> = (0..14).map(|i| 1e-9 / (1 + i % 7) as f64).collect();
        hdu.write_col(&mut f, "Flux_Band", &bands).unwrap();
        hdu.write_col(&mut f, "CLASS1", &["fsrq".to_string(), "msp".to_string()])
            .unwrap();
        drop(f);
        let cat = read_4fgl_fits(&p).unwrap();
        let expected: f64 = bands[1..7].iter().sum();
        assert!((cat.sources[0].features.log10_flux_ph_cm2_s - expected.log10()).abs() < 1e-12);
        assert_eq!(cat.sources[1].group, Some(ClassGroup::Galactic));
        assert!(
            (cat.sources[1].features.alpha_1gev - (1.8 + 0.7 * (1.0f64 / 3.0).ln())).abs() < 1e-12
        );
    }

    #[test]
    fn unknown_class_and_missing_file_are_clear_errors() {
        let p = temp_path("badclass.fits");
        let mut rs = rows();
        rs[1].class1 = "xyz";
        write_catalog(&p, &rs, false);
        let e = read_4fgl_fits(&p).unwrap_err().to_string();
        assert!(
            e.contains("badclass.fits") && e.contains("line 2") && e.contains("xyz"),
            "{e}"
        );
        let e = read_4fgl_fits(temp_path("missing.fits"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.fits"), "{e}");
        let p = temp_path("nanbeta.fits");
        let mut rs = rows();
        rs[0].beta = f32::NAN;
        write_catalog(&p, &rs, false);
        let e = read_4fgl_fits(&p).unwrap_err().to_string();
        assert!(e.contains("LP_beta") && e.contains("line 1"), "{e}");
    }

    /// A catalog table with a complex (`C`) column: fitsio 0.21 panics when it
    /// opens the HDU (no Rust type for `C`); the reader must give an error.
    #[test]
    fn a_table_column_type_fitsio_cannot_open_is_an_error_not_a_panic() {
        let card = |c: &str| format!("{c:<80}");
        let block = |cards: &[&str]| {
            let mut h: String = cards.iter().map(|c| card(c)).collect();
            h.push_str(&" ".repeat(2880 - h.len()));
            h.into_bytes()
        };
        let mut bytes = block(&[
            "SIMPLE  =                    T",
            "BITPIX  =                    8",
            "NAXIS   =                    0",
            "EXTEND  =                    T",
            "END",
        ]);
        bytes.extend(block(&[
            "XTENSION= 'BINTABLE'",
            "BITPIX  =                    8",
            "NAXIS   =                    2",
            "NAXIS1  =                    8",
            "NAXIS2  =                    1",
            "PCOUNT  =                    0",
            "GCOUNT  =                    1",
            "TFIELDS =                    1",
            "TTYPE1  = 'Phase   '",
            "TFORM1  = '1C      '",
            "EXTNAME = 'LAT_Point_Source_Catalog'",
            "END",
        ]));
        bytes.extend(vec![0u8; 2880]);
        let path = temp_path("complex-column.fits");
        std::fs::write(&path, &bytes).unwrap();
        // The file is well formed: the header pre-check accepts it.
        darkprobe_core::fitscheck::check_fits_headers(&path).unwrap();
        let e = read_4fgl_fits(&path).unwrap_err().to_string();
        assert!(
            e.contains("complex-column.fits") && e.contains("fitsio"),
            "{e}"
        );
        std::fs::remove_file(&path).ok();
    }
}
