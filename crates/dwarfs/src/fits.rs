//! Reading and writing counts and exposure cubes in FITS (feature `fits`).
//!
//! Two layouts, as the Fermi Science Tools write them:
//! - **CAR**: the primary HDU is an image of shape (NAXIS1 = longitude,
//!   NAXIS2 = latitude, NAXIS3 = energy plane) with `CTYPE1/2` = `GLON-CAR`/`GLAT-CAR`
//!   (or `RA---CAR`/`DEC--CAR`), `CRPIX`, `CRVAL`, `CDELT` (and `CRVAL2 = 0`);
//! - **HEALPix**: a binary-table extension with `PIXTYPE = 'HEALPIX'`, `ORDERING`
//!   (`RING` or `NESTED`), `NSIDE`, `INDXSCHM = 'IMPLICIT'` (or absent) and
//!   `COORDSYS = 'GAL'`; every numeric column is one energy plane (scalar or vector
//!   columns, read in row order).
//!
//! Energies: an `EBOUNDS` table (`E_MIN`, `E_MAX`, in keV unless `TUNITn` says
//! MeV or GeV) gives the count-bin edges; an `ENERGIES` table (first column, in
//! MeV unless its unit says otherwise) the energies of exposure planes. Both are
//! returned in GeV.
//!
//! ```no_run
//! use darkprobe_dwarfs::fits::{read_cube, write_cube, EnergyAxis};
//! use darkprobe_dwarfs::skymap::{CarGrid, Pixelization, SkyCube};
//! let pix = Pixelization::Car(CarGrid::all_sky(1.0).unwrap());
//! let cube = SkyCube::new(pix, vec![1.0; pix.n_pix() * 2]).unwrap();
//! write_cube("counts.fits", &cube, Some(&EnergyAxis::Edges(vec![1.0, 2.0, 4.0]))).unwrap();
//! let back = read_cube("counts.fits").unwrap();
//! assert_eq!(back.cube, cube);
//! assert_eq!(back.energy_edges_gev, Some(vec![1.0, 2.0, 4.0]));
//! ```

use crate::error::{DwarfsError, Result};
use crate::healpix::{Healpix, Ordering};
use crate::skymap::{CarGrid, Frame, Pixelization, SkyCube};
use fitsio::hdu::{FitsHdu, HduInfo};
use fitsio::images::{ImageDescription, ImageType};
use fitsio::tables::{ColumnDataType, ColumnDescription};
use fitsio::FitsFile;
use std::path::Path;

/// A cube read from FITS, with its energies when the file has them.
#[derive(Debug, Clone, PartialEq)]
pub struct FitsCube {
    /// The maps.
    pub cube: SkyCube,
    /// Count-bin edges from `EBOUNDS`, GeV (`n_planes + 1` values).
    pub energy_edges_gev: Option<Vec<f64>>,
    /// Plane energies from `ENERGIES`, GeV.
    pub energies_gev: Option<Vec<f64>>,
}

/// The energy information written with a cube.
#[derive(Debug, Clone, PartialEq)]
pub enum EnergyAxis {
    /// Count-bin edges in GeV (an `EBOUNDS` table, written in keV).
    Edges(Vec<f64>),
    /// Plane energies in GeV (an `ENERGIES` table, written in MeV).
    Energies(Vec<f64>),
}

fn fits_err(path: &Path, e: impl std::fmt::Display) -> DwarfsError {
    DwarfsError::Fits {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> DwarfsError {
    DwarfsError::Fits {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Reads a CAR or HEALPix cube (see the module docs), with `EBOUNDS` and
/// `ENERGIES` when present.
///
/// # Errors
/// [`DwarfsError::Fits`] naming the file for an unreadable file, a layout that
/// is neither (other projections, equatorial HEALPix, explicit pixel indices),
/// missing or inconsistent keywords, or invalid values.
pub fn read_cube(path: impl AsRef<Path>) -> Result<FitsCube> {
    let path = path.as_ref();
    if path.is_file() {
        // Absurd sizes in a header would make cfitsio allocate them.
        darkprobe_core::fitscheck::check_fits_headers(path)?;
    }
    // fitsio panics on table columns of some types: make that an error.
    darkprobe_core::fitscheck::without_panics(path, || read_cube_checked(path))
}

fn read_cube_checked(path: &Path) -> Result<FitsCube> {
    let mut f = FitsFile::open(path).map_err(|e| fits_err(path, e))?;
    let primary = f.primary_hdu().map_err(|e| fits_err(path, e))?;
    let cube = match &primary.info {
        HduInfo::ImageInfo { shape, .. } if shape.len() >= 2 => {
            read_car(&mut f, &primary, shape, path)?
        }
        _ => read_healpix(&mut f, path)?,
    };
    let energy_edges_gev = match f.hdu("EBOUNDS") {
        Ok(h) => {
            let lo: Vec<f64> = h
                .read_col(&mut f, "E_MIN")
                .map_err(|e| fits_err(path, format!("EBOUNDS E_MIN: {e}")))?;
            let hi: Vec<f64> = h
                .read_col(&mut f, "E_MAX")
                .map_err(|e| fits_err(path, format!("EBOUNDS E_MAX: {e}")))?;
            let scale = unit_scale(&mut f, &h, "E_MIN", 1e-6);
            if lo.is_empty()
                || lo.len() != hi.len()
                || lo
                    .windows(2)
                    .zip(&hi)
                    .any(|(w, h)| (w[1] - h).abs() > 1e-6 * h.abs())
            {
                return Err(bad(
                    path,
                    "EBOUNDS rows must be contiguous bins (E_MAX of a row = E_MIN of the next)",
                ));
            }
            let mut edges: Vec<f64> = lo.iter().map(|x| x * scale).collect();
            edges.push(hi[hi.len() - 1] * scale);
            Some(edges)
        }
        Err(_) => None,
    };
    let energies_gev = match f.hdu("ENERGIES") {
        Ok(h) => {
            let name = first_column_name(&h).ok_or_else(|| bad(path, "ENERGIES has no column"))?;
            let e: Vec<f64> = h
                .read_col(&mut f, &name)
                .map_err(|e| fits_err(path, format!("ENERGIES: {e}")))?;
            let scale = unit_scale(&mut f, &h, &name, 1e-3);
            Some(e.iter().map(|x| x * scale).collect::<Vec<f64>>())
        }
        Err(_) => None,
    };
    if let Some(e) = &energy_edges_gev {
        if e.len() != cube.n_planes() + 1 {
            return Err(bad(
                path,
                format!(
                    "EBOUNDS has {} bins but the cube {} planes",
                    e.len() - 1,
                    cube.n_planes()
                ),
            ));
        }
    }
    if let Some(e) = &energies_gev {
        if e.len() != cube.n_planes() {
            return Err(bad(
                path,
                format!(
                    "ENERGIES has {} rows but the cube {} planes",
                    e.len(),
                    cube.n_planes()
                ),
            ));
        }
    }
    Ok(FitsCube {
        cube,
        energy_edges_gev,
        energies_gev,
    })
}

fn first_column_name(h: &FitsHdu) -> Option<String> {
    match &h.info {
        HduInfo::TableInfo {
            column_descriptions,
            ..
        } => column_descriptions.first().map(|c| c.name.clone()),
        _ => None,
    }
}

/// The factor to GeV of a column's unit (`TUNITn`), `default` when absent or unknown.
fn unit_scale(f: &mut FitsFile, h: &FitsHdu, column: &str, default: f64) -> f64 {
    let HduInfo::TableInfo {
        column_descriptions,
        ..
    } = &h.info
    else {
        return default;
    };
    let Some(i) = column_descriptions
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(column))
    else {
        return default;
    };
    match h.read_key::<String>(f, &format!("TUNIT{}", i + 1)) {
        Ok(u) => match u.trim().to_ascii_lowercase().as_str() {
            "kev" => 1e-6,
            "mev" => 1e-3,
            "gev" => 1.0,
            _ => default,
        },
        Err(_) => default,
    }
}

fn key_f64(f: &mut FitsFile, h: &FitsHdu, name: &str, path: &Path) -> Result<f64> {
    h.read_key::<f64>(f, name)
        .map_err(|e| bad(path, format!("keyword {name}: {e}")))
}

fn read_car(f: &mut FitsFile, h: &FitsHdu, shape: &[usize], path: &Path) -> Result<SkyCube> {
    let c1: String = h
        .read_key(f, "CTYPE1")
        .map_err(|e| bad(path, format!("keyword CTYPE1: {e}")))?;
    let c2: String = h
        .read_key(f, "CTYPE2")
        .map_err(|e| bad(path, format!("keyword CTYPE2: {e}")))?;
    let (c1, c2) = (
        c1.trim().to_ascii_uppercase(),
        c2.trim().to_ascii_uppercase(),
    );
    if !(c1.ends_with("-CAR") && c2.ends_with("-CAR")) {
        return Err(bad(
            path,
            format!("projection {c1}/{c2} is not supported: only CAR images (or HEALPix tables)"),
        ));
    }
    let frame = if c1.starts_with("GLON") && c2.starts_with("GLAT") {
        Frame::Galactic
    } else if c1.starts_with("RA") && c2.starts_with("DEC") {
        Frame::Equatorial
    } else {
        return Err(bad(
            path,
            format!("axes {c1}/{c2}: expected GLON/GLAT or RA/DEC"),
        ));
    };
    let crval2 = h.read_key::<f64>(f, "CRVAL2").unwrap_or(0.0);
    if crval2 != 0.0 {
        return Err(bad(path, format!("CRVAL2 = {crval2}: a CAR grid with CRVAL2 != 0 is an oblique projection, not supported")));
    }
    let (n_lon, n_lat) = (shape[shape.len() - 1], shape[shape.len() - 2]);
    let grid = CarGrid::new(
        n_lon,
        n_lat,
        key_f64(f, h, "CRPIX1", path)?,
        key_f64(f, h, "CRVAL1", path)?,
        key_f64(f, h, "CDELT1", path)?,
        key_f64(f, h, "CRPIX2", path)?,
        key_f64(f, h, "CDELT2", path)?,
        frame,
    )
    .map_err(|e| bad(path, e.to_string()))?;
    let data: Vec<f64> = h.read_image(f).map_err(|e| fits_err(path, e))?;
    SkyCube::new(Pixelization::Car(grid), data).map_err(|e| bad(path, e.to_string()))
}

fn read_healpix(f: &mut FitsFile, path: &Path) -> Result<SkyCube> {
    for i in 1..64usize {
        let Ok(h) = f.hdu(i) else { break };
        let HduInfo::TableInfo {
            column_descriptions,
            num_rows,
        } = &h.info
        else {
            continue;
        };
        let pixtype: String = match h.read_key(f, "PIXTYPE") {
            Ok(s) => s,
            Err(_) => continue,
        };
        if !pixtype.trim().eq_ignore_ascii_case("HEALPIX") {
            continue;
        }
        let ordering: String = h
            .read_key(f, "ORDERING")
            .map_err(|e| bad(path, format!("keyword ORDERING: {e}")))?;
        let ordering = match ordering.trim().to_ascii_uppercase().as_str() {
            "RING" => Ordering::Ring,
            "NESTED" | "NEST" => Ordering::Nested,
            other => {
                return Err(bad(
                    path,
                    format!("ORDERING = '{other}': expected RING or NESTED"),
                ))
            }
        };
        let nside: i64 = h
            .read_key(f, "NSIDE")
            .map_err(|e| bad(path, format!("keyword NSIDE: {e}")))?;
        if let Ok(s) = h.read_key::<String>(f, "INDXSCHM") {
            if !s.trim().eq_ignore_ascii_case("IMPLICIT") {
                return Err(bad(
                    path,
                    format!(
                        "INDXSCHM = '{}': only IMPLICIT (full-sky) HEALPix maps are supported",
                        s.trim()
                    ),
                ));
            }
        }
        if let Ok(s) = h.read_key::<String>(f, "COORDSYS") {
            let s = s.trim().to_ascii_uppercase();
            if !(s.starts_with('G')) {
                return Err(bad(
                    path,
                    format!("COORDSYS = '{s}': only Galactic HEALPix maps are supported"),
                ));
            }
        }
        let hp = Healpix::new(u64::try_from(nside).unwrap_or(0), ordering)
            .map_err(|e| bad(path, e.to_string()))?;
        let npix = hp.n_pix() as usize;
        let mut data = Vec::new();
        for c in column_descriptions {
            let numeric = matches!(
                c.data_type.typ,
                ColumnDataType::Float
                    | ColumnDataType::Double
                    | ColumnDataType::Int
                    | ColumnDataType::Long
                    | ColumnDataType::Short
                    | ColumnDataType::Byte
            );
            if !numeric {
                continue;
            }
            let col: Vec<f64> = h
                .read_col(f, &c.name)
                .map_err(|e| fits_err(path, format!("column {}: {e}", c.name)))?;
            if col.len() != npix {
                return Err(bad(
                    path,
                    format!(
                        "column {} holds {} values ({} rows) but NSIDE = {nside} needs {npix}",
                        c.name,
                        col.len(),
                        num_rows
                    ),
                ));
            }
            data.extend(col);
        }
        if data.is_empty() {
            return Err(bad(path, "the HEALPix table has no numeric column"));
        }
        return SkyCube::new(Pixelization::Healpix(hp), data).map_err(|e| bad(path, e.to_string()));
    }
    Err(bad(
        path,
        "neither a CAR image in the primary HDU nor a HEALPix binary table (PIXTYPE = 'HEALPIX')",
    ))
}

/// Writes `cube` (overwriting `path`): a CAR grid as the primary image, a
/// HEALPix grid as a `SKYMAP` table with one column `CHANNELk` per plane; then
/// the energy axis if given.
///
/// # Errors
/// [`DwarfsError::Fits`] when writing fails or the energy axis does not match
/// the number of planes.
pub fn write_cube(
    path: impl AsRef<Path>,
    cube: &SkyCube,
    energies: Option<&EnergyAxis>,
) -> Result<()> {
    let path = path.as_ref();
    let e = |x: fitsio::errors::Error| fits_err(path, x);
    match energies {
        Some(EnergyAxis::Edges(v)) if v.len() != cube.n_planes() + 1 => {
            return Err(bad(
                path,
                format!("{} energy edges for {} planes", v.len(), cube.n_planes()),
            ))
        }
        Some(EnergyAxis::Energies(v)) if v.len() != cube.n_planes() => {
            return Err(bad(
                path,
                format!("{} energies for {} planes", v.len(), cube.n_planes()),
            ))
        }
        _ => {}
    }
    let mut f = match cube.pixelization() {
        Pixelization::Car(g) => {
            let dims = [cube.n_planes(), g.n_lat, g.n_lon];
            let desc = ImageDescription {
                data_type: ImageType::Double,
                dimensions: &dims,
            };
            let mut f = FitsFile::create(path)
                .with_custom_primary(&desc)
                .overwrite()
                .open()
                .map_err(e)?;
            let h = f.primary_hdu().map_err(e)?;
            let (c1, c2) = match g.frame {
                Frame::Galactic => ("GLON-CAR", "GLAT-CAR"),
                Frame::Equatorial => ("RA---CAR", "DEC--CAR"),
            };
            h.write_key(&mut f, "CTYPE1", c1).map_err(e)?;
            h.write_key(&mut f, "CTYPE2", c2).map_err(e)?;
            for (k, v) in [
                ("CRPIX1", g.crpix1),
                ("CRVAL1", g.crval1),
                ("CDELT1", g.cdelt1),
                ("CRPIX2", g.crpix2),
                ("CRVAL2", 0.0),
                ("CDELT2", g.cdelt2),
            ] {
                h.write_key(&mut f, k, v).map_err(e)?;
            }
            h.write_image(&mut f, cube.data()).map_err(e)?;
            f
        }
        Pixelization::Healpix(hp) => {
            let mut f = FitsFile::create(path).overwrite().open().map_err(e)?;
            let cols = (0..cube.n_planes())
                .map(|k| {
                    ColumnDescription::new(format!("CHANNEL{}", k + 1))
                        .with_type(ColumnDataType::Double)
                        .create()
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(e)?;
            let h = f.create_table("SKYMAP", &cols).map_err(e)?;
            for k in 0..cube.n_planes() {
                let plane = cube.plane(k).unwrap_or(&[]);
                h.write_col(&mut f, format!("CHANNEL{}", k + 1), plane)
                    .map_err(e)?;
            }
            let ord = match hp.ordering() {
                Ordering::Ring => "RING",
                Ordering::Nested => "NESTED",
            };
            h.write_key(&mut f, "PIXTYPE", "HEALPIX").map_err(e)?;
            h.write_key(&mut f, "ORDERING", ord).map_err(e)?;
            h.write_key(&mut f, "NSIDE", hp.nside() as i64).map_err(e)?;
            h.write_key(&mut f, "FIRSTPIX", 0i64).map_err(e)?;
            h.write_key(&mut f, "LASTPIX", hp.n_pix() as i64 - 1)
                .map_err(e)?;
            h.write_key(&mut f, "INDXSCHM", "IMPLICIT").map_err(e)?;
            h.write_key(&mut f, "COORDSYS", "GAL").map_err(e)?;
            f
        }
    };
    match energies {
        Some(EnergyAxis::Edges(v)) => {
            let cols = ["CHANNEL", "E_MIN", "E_MAX"]
                .iter()
                .map(|n| {
                    ColumnDescription::new(*n)
                        .with_type(if *n == "CHANNEL" {
                            ColumnDataType::Long
                        } else {
                            ColumnDataType::Double
                        })
                        .create()
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(e)?;
            let h = f.create_table("EBOUNDS", &cols).map_err(e)?;
            let ch: Vec<i64> = (1..v.len() as i64).collect();
            let lo: Vec<f64> = v[..v.len() - 1].iter().map(|x| x * 1e6).collect();
            let hi: Vec<f64> = v[1..].iter().map(|x| x * 1e6).collect();
            h.write_col(&mut f, "CHANNEL", &ch).map_err(e)?;
            h.write_col(&mut f, "E_MIN", &lo).map_err(e)?;
            h.write_col(&mut f, "E_MAX", &hi).map_err(e)?;
            h.write_key(&mut f, "TUNIT2", "keV").map_err(e)?;
            h.write_key(&mut f, "TUNIT3", "keV").map_err(e)?;
        }
        Some(EnergyAxis::Energies(v)) => {
            let cols = [ColumnDescription::new("Energy")
                .with_type(ColumnDataType::Double)
                .create()
                .map_err(e)?];
            let h = f.create_table("ENERGIES", &cols).map_err(e)?;
            let mev: Vec<f64> = v.iter().map(|x| x * 1e3).collect();
            h.write_col(&mut f, "Energy", &mev).map_err(e)?;
            h.write_key(&mut f, "TUNIT1", "MeV").map_err(e)?;
        }
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skymap::CarGrid;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("darkprobe-dwarfs-fits-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join(name)
    }

    #[test]
    fn car_round_trip_with_ebounds() {
        let g = CarGrid::patch((10.0, 14.0), (20.0, 23.0), 0.5).unwrap();
        let pix = Pixelization::Car(g);
        let data: Vec<f64> = (0..pix.n_pix() * 3).map(|i| (i % 17) as f64).collect();
        let cube = SkyCube::new(pix, data).unwrap();
        let p = tmp("car.fits");
        let edges = vec![0.5, 1.0, 2.0, 4.0];
        write_cube(&p, &cube, Some(&EnergyAxis::Edges(edges.clone()))).unwrap();
        let back = read_cube(&p).unwrap();
        assert_eq!(back.cube, cube);
        let e = back.energy_edges_gev.unwrap();
        for (a, b) in e.iter().zip(&edges) {
            assert!((a - b).abs() < 1e-12 * b);
        }
        assert!(back.energies_gev.is_none());
        // The pixel geometry survives: a direction maps to the same pixel.
        assert_eq!(
            back.cube.pixelization().lb_to_pix(12.1, 21.3).unwrap(),
            pix.lb_to_pix(12.1, 21.3).unwrap()
        );
        assert!(write_cube(&p, &cube, Some(&EnergyAxis::Edges(vec![1.0, 2.0]))).is_err());
    }

    #[test]
    fn healpix_round_trips_ring_and_nested() {
        for ord in [Ordering::Ring, Ordering::Nested] {
            let pix = Pixelization::Healpix(Healpix::new(8, ord).unwrap());
            let data: Vec<f64> = (0..pix.n_pix() * 2).map(|i| i as f64 * 0.5).collect();
            let cube = SkyCube::new(pix, data).unwrap();
            let p = tmp(&format!("hp-{ord:?}.fits"));
            write_cube(&p, &cube, Some(&EnergyAxis::Energies(vec![1.0, 10.0]))).unwrap();
            let back = read_cube(&p).unwrap();
            assert_eq!(back.cube, cube);
            let e = back.energies_gev.unwrap();
            assert!((e[0] - 1.0).abs() < 1e-12 && (e[1] - 10.0).abs() < 1e-12);
        }
    }

    #[test]
    fn unreadable_files_name_the_path() {
        let p = tmp("not-fits.fits");
        std::fs::write(&p, "hello").unwrap();
        let e = read_cube(&p).unwrap_err().to_string();
        assert!(e.contains("not-fits.fits"), "{e}");
        let e = read_cube(tmp("missing.fits")).unwrap_err().to_string();
        assert!(e.contains("missing.fits"), "{e}");
    }
}
