//! FITS reading and writing of map cubes (feature `fits`).
//!
//! # Layout
//! The cube is the primary image HDU with three axes: `NAXIS1` = Galactic
//! longitude, `NAXIS2` = latitude, `NAXIS3` = velocity bin (so the data read
//! in FITS order is exactly `[v, i_lat, i_lon]`). Keywords, per axis
//! `n = 1, 2, 3`:
//!
//! | keyword | read | written |
//! |---|---|---|
//! | `CTYPEn` | required for n = 1, 2 (`GLON-…`, `GLAT-…`); optional for 3 (default `BIN`) | always |
//! | `CRPIXn`, `CRVALn`, `CDELTn` | required for n = 1, 2; optional for 3 (default: bin index) | always |
//! | `CUNITn` | optional (default `deg`, `deg`, empty) | always |
//! | `BUNIT` | optional (default `K`) | always |
//!
//! Rotated or `CDi_j`-matrix WCS are not supported (only `CDELTn`).
//!
//! # Blank pixels
//! Pixels are read as `f64`. In floating-point images IEEE NaN marks an
//! undefined pixel; in integer images cfitsio applies `BSCALE`/`BZERO` and
//! the `BLANK` value is returned as NaN. Either way blank pixels are NaN in the
//! [`MapCube`] ([`MapCube::n_blank`] counts them; the preprocessing treats them
//! as zero-valued survey artefacts). Cubes are written as `BITPIX = -64`
//! doubles with NaN for blank pixels (no `BLANK` keyword, which FITS reserves
//! for integer images).
//!
//! # Atomic writes
//! [`write_cube`] writes a temporary file next to the destination and renames
//! it into place, so an interrupted or failed write never leaves a partial
//! cube under the requested name.
//!
//! ```no_run
//! use darkprobe_gasmap::fits::{read_cube, write_cube};
//! let cube = read_cube("co12.fits").unwrap();
//! write_cube("copy.fits", &cube).unwrap();
//! assert_eq!(read_cube("copy.fits").unwrap(), cube);
//! ```

use crate::cube::{LinearAxis, MapCube};
use crate::model::Result;
use darkprobe_core::error::Location;
use darkprobe_core::Error;
use fitsio::hdu::{FitsHdu, HduInfo};
use fitsio::images::{ImageDescription, ImageType};
use fitsio::FitsFile;
use ndarray::Array3;
use std::path::Path;

fn unreadable(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::io(
        path,
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not a readable FITS file: {reason}"),
        ),
    )
}

fn keyword_error(path: &Path, key: &str, found: &str, reason: impl Into<String>) -> Error {
    Error::parse(
        Location::new(path.display().to_string(), 0).with_column(format!("FITS keyword {key}")),
        found,
        reason,
    )
}

fn read_f64(f: &mut FitsFile, h: &FitsHdu, path: &Path, key: &str) -> Result<f64> {
    let v: f64 = h
        .read_key(f, key)
        .map_err(|e| keyword_error(path, key, "", format!("missing or not a number ({e})")))?;
    if !v.is_finite() {
        return Err(keyword_error(path, key, &v.to_string(), "must be finite"));
    }
    Ok(v)
}

fn read_str(f: &mut FitsFile, h: &FitsHdu, key: &str) -> Option<String> {
    h.read_key::<String>(f, key)
        .ok()
        .map(|s| s.trim().to_string())
}

fn read_axis(
    f: &mut FitsFile,
    h: &FitsHdu,
    path: &Path,
    n: usize,
    prefix: Option<&str>,
) -> Result<LinearAxis> {
    let ctype_key = format!("CTYPE{n}");
    let ctype = match (read_str(f, h, &ctype_key), prefix) {
        (Some(c), Some(p)) if c.to_ascii_uppercase().starts_with(p) => c,
        (Some(c), Some(p)) => {
            return Err(keyword_error(
                path,
                &ctype_key,
                &c,
                format!("expected a {p}-... axis (NAXIS1 = longitude, NAXIS2 = latitude)"),
            ))
        }
        (None, Some(p)) => {
            return Err(keyword_error(
                path,
                &ctype_key,
                "",
                format!("missing; expected a {p}-... axis"),
            ))
        }
        (c, None) => c.unwrap_or_else(|| "BIN".into()),
    };
    let default_unit = if prefix.is_some() { "deg" } else { "" };
    let cunit = read_str(f, h, &format!("CUNIT{n}")).unwrap_or_else(|| default_unit.into());
    if prefix.is_none() && h.read_key::<f64>(f, &format!("CDELT{n}")).is_err() {
        return Ok(LinearAxis {
            ctype,
            cunit,
            ..LinearAxis::bin_index()
        });
    }
    let crpix = read_f64(f, h, path, &format!("CRPIX{n}"))?;
    let crval = read_f64(f, h, path, &format!("CRVAL{n}"))?;
    let cdelt = read_f64(f, h, path, &format!("CDELT{n}"))?;
    if cdelt == 0.0 {
        return Err(keyword_error(
            path,
            &format!("CDELT{n}"),
            "0",
            "must be non-zero",
        ));
    }
    Ok(LinearAxis {
        ctype,
        crpix,
        crval,
        cdelt,
        cunit,
    })
}

/// Reads a map cube from the primary HDU of a FITS file (see the module docs).
///
/// # Errors
/// A missing file ([`Error::Io`], not found), a file cfitsio cannot read, a
/// primary HDU that is not a 3-axis image, or a missing or invalid keyword
/// (a parse error naming the file and the keyword).
pub fn read_cube(path: impl AsRef<Path>) -> Result<MapCube> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such FITS file"),
        ));
    }
    // Absurd sizes in a header would make cfitsio allocate them.
    darkprobe_core::fitscheck::check_fits_headers(path)?;
    // fitsio panics on some inputs instead of returning an error.
    darkprobe_core::fitscheck::without_panics(path, || read_cube_checked(path))
}

fn read_cube_checked(path: &Path) -> Result<MapCube> {
    let mut f = FitsFile::open(path).map_err(|e| unreadable(path, e))?;
    let h = f.primary_hdu().map_err(|e| unreadable(path, e))?;
    let shape = match &h.info {
        HduInfo::ImageInfo { shape, .. } => shape.clone(),
        _ => {
            return Err(keyword_error(
                path,
                "NAXIS",
                "",
                "the primary HDU is not an image",
            ))
        }
    };
    if shape.len() != 3 {
        return Err(keyword_error(
            path,
            "NAXIS",
            &shape.len().to_string(),
            "a map cube needs 3 axes (longitude, latitude, velocity bin)",
        ));
    }
    if shape.contains(&0) {
        return Err(Error::empty(
            format!("FITS cube '{}'", path.display()),
            "every NAXISn must be >= 1",
        ));
    }
    let lon = read_axis(&mut f, &h, path, 1, Some("GLON"))?;
    let lat = read_axis(&mut f, &h, path, 2, Some("GLAT"))?;
    let vel = read_axis(&mut f, &h, path, 3, None)?;
    let bunit = read_str(&mut f, &h, "BUNIT").unwrap_or_else(|| "K".into());
    let data: Vec<f64> = h.read_image(&mut f).map_err(|e| unreadable(path, e))?;
    let data = Array3::from_shape_vec((shape[0], shape[1], shape[2]), data).map_err(|_| {
        Error::shape(
            format!("image data of '{}'", path.display()),
            format!("{} values", shape.iter().product::<usize>()),
            "another number of values",
        )
    })?;
    MapCube::new(data, lon, lat, vel, bunit)
}

/// Writes `cube` as a 3-axis `BITPIX = -64` primary image with its WCS
/// keywords, atomically (temporary file, then rename).
///
/// # Errors
/// [`Error::Io`] naming the destination when the file cannot be written.
pub fn write_cube(path: impl AsRef<Path>, cube: &MapCube) -> Result<()> {
    let path = path.as_ref();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cube.fits".into());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = write_to(&tmp, cube);
    match result {
        Ok(()) => std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(path, e)
        }),
        Err(reason) => {
            let _ = std::fs::remove_file(&tmp);
            Err(Error::io(
                path,
                std::io::Error::other(format!("writing the FITS cube failed: {reason}")),
            ))
        }
    }
}

fn write_to(tmp: &Path, cube: &MapCube) -> std::result::Result<(), fitsio::errors::Error> {
    let (nv, nr, nc) = cube.dim();
    let dims = [nv, nr, nc];
    let desc = ImageDescription {
        data_type: ImageType::Double,
        dimensions: &dims,
    };
    let mut f = FitsFile::create(tmp)
        .with_custom_primary(&desc)
        .overwrite()
        .open()?;
    let h = f.primary_hdu()?;
    for (n, ax) in [
        (1, cube.lon_axis()),
        (2, cube.lat_axis()),
        (3, cube.vel_axis()),
    ] {
        h.write_key(&mut f, &format!("CTYPE{n}"), ax.ctype.as_str())?;
        h.write_key(&mut f, &format!("CRPIX{n}"), ax.crpix)?;
        h.write_key(&mut f, &format!("CRVAL{n}"), ax.crval)?;
        h.write_key(&mut f, &format!("CDELT{n}"), ax.cdelt)?;
        h.write_key(&mut f, &format!("CUNIT{n}"), ax.cunit.as_str())?;
    }
    h.write_key(&mut f, "BUNIT", cube.bunit())?;
    h.write_key(&mut f, "ORIGIN", "darkprobe-gasmap")?;
    let flat: Vec<f64> = cube.data().iter().copied().collect();
    h.write_image(&mut f, &flat)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("gasmap-fits-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn cube() -> MapCube {
        let lon = LinearAxis::new("GLON-CAR", 1.0, 350.0, -0.25, "deg").unwrap();
        let lat = LinearAxis::new("GLAT-CAR", 3.0, 0.0, 0.25, "deg").unwrap();
        let vel = LinearAxis::new("VRAD", 1.0, -145.0, 10.0, "km/s").unwrap();
        let mut data = Array3::from_shape_fn((3, 5, 7), |(v, r, c)| {
            v as f64 * 100.0 + r as f64 * 10.0 + c as f64 + 0.5
        });
        data[[1, 2, 3]] = f64::NAN;
        MapCube::new(data, lon, lat, vel, "K").unwrap()
    }

    #[test]
    fn round_trip_keeps_data_axes_and_blanks() {
        let dir = scratch("rt");
        let p = dir.join("c.fits");
        let c = cube();
        write_cube(&p, &c).unwrap();
        let back = read_cube(&p).unwrap();
        assert_eq!(back.dim(), c.dim());
        assert_eq!(back.lon_axis(), c.lon_axis());
        assert_eq!(back.lat_axis(), c.lat_axis());
        assert_eq!(back.vel_axis(), c.vel_axis());
        assert_eq!(back.bunit(), "K");
        assert_eq!(back.n_blank(), 1);
        assert!(back.data()[[1, 2, 3]].is_nan());
        assert_eq!(back.data()[[2, 4, 6]], 246.5);
        assert_eq!(back.data()[[0, 1, 5]], 15.5);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn errors_name_the_file_and_keyword() {
        let dir = scratch("err");
        let missing = dir.join("missing.fits");
        let e = read_cube(&missing).unwrap_err();
        assert!(e.is_bad_input());
        assert!(e.to_string().contains("missing.fits"), "{e}");

        let garbage = dir.join("garbage.fits");
        std::fs::write(&garbage, "this is not FITS").unwrap();
        let e = read_cube(&garbage).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        assert!(e.to_string().contains("garbage.fits"), "{e}");

        // A 3-D image whose first axis is not longitude.
        let wrong = dir.join("wrong.fits");
        {
            let dims = [2usize, 3, 4];
            let desc = ImageDescription {
                data_type: ImageType::Double,
                dimensions: &dims,
            };
            let mut f = FitsFile::create(&wrong)
                .with_custom_primary(&desc)
                .open()
                .unwrap();
            let h = f.primary_hdu().unwrap();
            h.write_key(&mut f, "CTYPE1", "RA---CAR").unwrap();
            h.write_image(&mut f, &[0.0; 24]).unwrap();
        }
        let e = read_cube(&wrong).unwrap_err();
        let msg = e.to_string();
        assert!(e.is_bad_input());
        assert!(
            msg.contains("wrong.fits") && msg.contains("CTYPE1"),
            "{msg}"
        );

        // A 2-D image.
        let flat = dir.join("flat.fits");
        {
            let dims = [3usize, 4];
            let desc = ImageDescription {
                data_type: ImageType::Double,
                dimensions: &dims,
            };
            let mut f = FitsFile::create(&flat)
                .with_custom_primary(&desc)
                .open()
                .unwrap();
            let h = f.primary_hdu().unwrap();
            h.write_image(&mut f, &[0.0; 12]).unwrap();
        }
        let msg = read_cube(&flat).unwrap_err().to_string();
        assert!(msg.contains("NAXIS") && msg.contains("3 axes"), "{msg}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = scratch("nowrite");
        let p = dir.join("no-such-dir").join("c.fits");
        assert!(write_cube(&p, &cube()).is_err());
        assert!(!p.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
