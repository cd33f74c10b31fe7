//! Conversions darkprobe runs itself to make a dataset's derived files.
//!
//! Only formats simple enough to read exactly without a new dependency are
//! handled here: NumPy `.npz` archives stored without compression, holding
//! little-endian `float64` 1-D arrays. Every result is checked against the
//! registry's SHA-256 before it is kept.

use super::check::{hex, partial_path};
use super::{Builtin, DataError, DataFile};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Column names of `fig3_accelerations.csv`, in order, and the `.npz` keys they come from.
const FIG3_COLUMNS: [(&str, &str); 6] = [
    ("x_over_a", "x"),
    ("acc_exact", "y0"),
    ("acc_iso_noiseless", "y1"),
    ("acc_iso_1pc_noise", "y2"),
    ("acc_iso_10pc_noise", "y3"),
    ("acc_aniso_noiseless", "y4"),
];

/// Makes derived file `target` (inside dataset folder `dir`) from its source
/// file `source_path` with conversion `builtin`, checks the SHA-256 and
/// renames it into place.
///
/// # Errors
/// [`DataError::Derive`] if the source cannot be parsed,
/// [`DataError::ChecksumMismatch`] if the result differs from the registry
/// (nothing is left on disk), [`DataError::Io`] on write failures.
pub fn derive_file(
    builtin: Builtin,
    source_path: &Path,
    dir: &Path,
    target: &DataFile,
) -> Result<(), DataError> {
    let bytes = std::fs::read(source_path).map_err(|e| DataError::io(source_path, e))?;
    let text = match builtin {
        Builtin::Fig3NpzToCsv => fig3_csv(&bytes).map_err(|reason| DataError::Derive {
            file: target.path.clone(),
            from: source_path.display().to_string(),
            reason,
        })?,
    };
    let dest = super::check::file_path(dir, target);
    let actual = hex(&Sha256::digest(text.as_bytes()));
    if actual != target.sha256 {
        return Err(DataError::ChecksumMismatch {
            path: dest,
            origin: format!("conversion of {}", source_path.display()),
            expected: target.sha256.clone(),
            actual,
        });
    }
    let part = partial_path(dir, target);
    if let Some(parent) = part.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    std::fs::write(&part, text.as_bytes()).map_err(|e| DataError::io(&part, e))?;
    std::fs::rename(&part, &dest).map_err(|e| DataError::io(&dest, e))
}

/// The CSV text of HernquistFlows' figure-3 accelerations from `fig3_data.npz`.
fn fig3_csv(npz: &[u8]) -> Result<String, String> {
    let entries = stored_zip_entries(npz)?;
    let mut columns = Vec::with_capacity(FIG3_COLUMNS.len());
    for (_, key) in FIG3_COLUMNS {
        let name = format!("{key}.npy");
        let data = entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| *d)
            .ok_or_else(|| format!("the archive has no array '{key}'"))?;
        columns.push(npy_f64_vector(data).map_err(|e| format!("array '{key}': {e}"))?);
    }
    let n = columns[0].len();
    if let Some(((_, key), c)) = FIG3_COLUMNS
        .iter()
        .zip(&columns)
        .find(|(_, c)| c.len() != n)
    {
        return Err(format!("array '{key}' has {} values, 'x' has {n}", c.len()));
    }
    let header: Vec<&str> = FIG3_COLUMNS.iter().map(|(h, _)| *h).collect();
    let mut out = header.join(",");
    out.push('\n');
    for i in 0..n {
        let row: Vec<String> = columns.iter().map(|c| python_repr(c[i])).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    Ok(out)
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| "archive is truncated".to_string())
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| "archive is truncated".to_string())
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, String> {
    b.get(at..at + 8)
        .map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_le_bytes(a)
        })
        .ok_or_else(|| "archive is truncated".to_string())
}

/// The (name, data) pairs of a ZIP archive whose members are stored without
/// compression, read through its central directory.
fn stored_zip_entries(zip: &[u8]) -> Result<Vec<(String, &[u8])>, String> {
    const EOCD: u32 = 0x0605_4b50;
    const CENTRAL: u32 = 0x0201_4b50;
    const LOCAL: u32 = 0x0403_4b50;
    // The end-of-central-directory record is in the last 22 + 65535 bytes.
    let lo = zip.len().saturating_sub(22 + 65_535);
    let eocd = (lo..=zip.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(zip, i).ok() == Some(EOCD))
        .ok_or("not a ZIP archive (no end-of-central-directory record)")?;
    let n_entries = u16_at(zip, eocd + 10)? as usize;
    let mut at = u32_at(zip, eocd + 16)? as usize;
    let mut out = Vec::with_capacity(n_entries);
    for _ in 0..n_entries {
        if u32_at(zip, at)? != CENTRAL {
            return Err("corrupt central directory".into());
        }
        let method = u16_at(zip, at + 10)?;
        let mut comp = u64::from(u32_at(zip, at + 20)?);
        let mut uncomp = u64::from(u32_at(zip, at + 24)?);
        let name_len = u16_at(zip, at + 28)? as usize;
        let extra_len = u16_at(zip, at + 30)? as usize;
        let comment_len = u16_at(zip, at + 32)? as usize;
        let mut local = u64::from(u32_at(zip, at + 42)?);
        let name_bytes = zip
            .get(at + 46..at + 46 + name_len)
            .ok_or("archive is truncated")?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        // ZIP64: fields saturated at 0xFFFFFFFF are in the 0x0001 extra block, in order.
        let mut e = at + 46 + name_len;
        let e_end = e + extra_len;
        while e + 4 <= e_end {
            let id = u16_at(zip, e)?;
            let len = u16_at(zip, e + 2)? as usize;
            if id == 1 {
                let mut p = e + 4;
                for field in [&mut uncomp, &mut comp, &mut local] {
                    if *field == u64::from(u32::MAX) {
                        *field = u64_at(zip, p)?;
                        p += 8;
                    }
                }
            }
            e += 4 + len;
        }
        if method != 0 || comp != uncomp {
            return Err(format!(
                "member '{name}' is compressed (method {method}); only stored archives are read"
            ));
        }
        let local = usize::try_from(local).map_err(|_| "offset too large")?;
        if u32_at(zip, local)? != LOCAL {
            return Err(format!("member '{name}': corrupt local header"));
        }
        let start =
            local + 30 + u16_at(zip, local + 26)? as usize + u16_at(zip, local + 28)? as usize;
        let len = usize::try_from(comp).map_err(|_| "member too large")?;
        let data = zip
            .get(start..start + len)
            .ok_or_else(|| format!("member '{name}' is truncated"))?;
        out.push((name, data));
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// The values of a NumPy `.npy` file holding a 1-D little-endian `float64` array.
fn npy_f64_vector(npy: &[u8]) -> Result<Vec<f64>, String> {
    if npy.get(..6) != Some(b"\x93NUMPY".as_slice()) {
        return Err("not a .npy array (bad magic)".into());
    }
    let major = *npy.get(6).ok_or("truncated header")?;
    let (header_len, header_start) = match major {
        1 => (u16_at(npy, 8)? as usize, 10),
        2 | 3 => (u32_at(npy, 8)? as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = npy
        .get(header_start..header_start + header_len)
        .ok_or("truncated header")?;
    let header = String::from_utf8_lossy(header);
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.contains("'descr':'<f8'") {
        return Err(format!(
            "dtype is not little-endian float64: {}",
            header.trim()
        ));
    }
    if compact.contains("'fortran_order':True") {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shape = compact
        .split("'shape':(")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or("no shape in header")?;
    let dims: Vec<&str> = shape.split(',').filter(|s| !s.is_empty()).collect();
    let n: usize = match dims.as_slice() {
        [d] => d.parse().map_err(|_| format!("bad shape ({shape})"))?,
        _ => return Err(format!("expected a 1-D array, shape is ({shape})")),
    };
    let data = &npy[header_start + header_len..];
    if data.len() != 8 * n {
        return Err(format!("{} data bytes for {n} float64 values", data.len()));
    }
    Ok(data
        .chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            f64::from_le_bytes(a)
        })
        .collect())
}

/// `v` formatted as Python's `repr(float)`: the shortest digits that round-trip,
/// positional for exponents in [-4, 16), scientific (`1e-05`, `1.5e+16`) otherwise.
pub(crate) fn python_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_matches_python() {
        // Expected strings are what CPython prints for repr(float(...)).
        let cases: [(f64, &str); 14] = [
            (0.4, "0.4"),
            (1.2000000000000002, "1.2000000000000002"),
            (20.0, "20.0"),
            (0.5102040816326532, "0.5102040816326532"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (-2.5e-7, "-2.5e-07"),
            (1.0e100, "1e+100"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (123456.789, "123456.789"),
        ];
        for (v, want) in cases {
            assert_eq!(python_repr(v), want, "{v:e}");
            if v.is_finite() {
                assert_eq!(python_repr(v).parse::<f64>().unwrap(), v);
            }
        }
        assert_eq!(python_repr(f64::NAN), "nan");
        assert_eq!(python_repr(f64::NEG_INFINITY), "-inf");
    }

    /// A .npy file (format 1.0) of a 1-D float64 array, written as NumPy does.
    fn npy(values: &[f64]) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}",
            values.len()
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// A stored (uncompressed) ZIP archive; CRCs are left at 0 (not checked here).
    pub(crate) fn stored_zip(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in members {
            let offset = out.len() as u32;
            let size = data.len() as u32;
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&0u32.to_le_bytes());
            central.extend_from_slice(&size.to_le_bytes());
            central.extend_from_slice(&size.to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0u8; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        let cd_size = central.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        let n = members.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&cd_size.to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    #[test]
    fn fig3_conversion_of_a_generated_archive() {
        let x = [0.4, 0.8, 1.2000000000000002];
        let ys: Vec<Vec<f64>> = (0..5)
            .map(|k| {
                x.iter()
                    .map(|v| 1.0 / (1.0 + v) / (k as f64 + 1.0))
                    .collect()
            })
            .collect();
        let mut members = vec![("x.npy", npy(&x))];
        let names = ["y0.npy", "y1.npy", "y2.npy", "y3.npy", "y4.npy"];
        for (n, y) in names.iter().zip(&ys) {
            members.push((n, npy(y)));
        }
        let csv = fig3_csv(&stored_zip(&members)).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "x_over_a,acc_exact,acc_iso_noiseless,acc_iso_1pc_noise,acc_iso_10pc_noise,acc_aniso_noiseless"
        );
        assert_eq!(lines.len(), 4);
        // Every value round-trips exactly.
        for (i, line) in lines[1..].iter().enumerate() {
            let vals: Vec<f64> = line.split(',').map(|s| s.parse().unwrap()).collect();
            assert_eq!(vals[0], x[i]);
            for k in 0..5 {
                assert_eq!(vals[k + 1], ys[k][i]);
            }
        }
        assert!(lines[3].starts_with("1.2000000000000002,"));
        assert!(csv.ends_with('\n'));
    }

    #[test]
    fn malformed_archives_are_errors_not_panics() {
        assert!(fig3_csv(b"").is_err());
        assert!(fig3_csv(b"PK\x03\x04 not really").is_err());
        let missing_y4 = stored_zip(&[("x.npy", npy(&[1.0])), ("y0.npy", npy(&[1.0]))]);
        let e = fig3_csv(&missing_y4).unwrap_err();
        assert!(e.contains("'y1'"), "{e}");
        let mut bad = npy(&[1.0, 2.0]);
        bad.pop();
        let e = npy_f64_vector(&bad).unwrap_err();
        assert!(e.contains("data bytes"), "{e}");
        let mut f4 = npy(&[1.0]);
        let at = f4.windows(3).position(|w| w == b"<f8").unwrap();
        f4[at + 2] = b'4';
        assert!(npy_f64_vector(&f4).unwrap_err().contains("float64"));
        let names = ["x.npy", "y0.npy", "y1.npy", "y2.npy", "y3.npy", "y4.npy"];
        let short: Vec<(&str, Vec<u8>)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, npy(if i == 3 { &[1.0][..] } else { &[1.0, 2.0][..] })))
            .collect();
        let e = fig3_csv(&stored_zip(&short)).unwrap_err();
        assert!(e.contains("'y2' has 1 values"), "{e}");
    }

    #[test]
    #[ignore = "needs DARKPROBE_DATA"]
    fn fig3_conversion_reproduces_the_registered_checksum() {
        let root = std::env::var_os("DARKPROBE_DATA").expect("DARKPROBE_DATA");
        let dir = Path::new(&root).join("hernquist-flows-reference");
        let bytes = std::fs::read(dir.join("fig3_data.npz")).unwrap();
        let csv = fig3_csv(&bytes).unwrap();
        let registry = super::super::Registry::builtin().unwrap();
        let target = registry
            .get("hernquist-flows-reference")
            .unwrap()
            .file("fig3_accelerations.csv")
            .unwrap()
            .clone();
        assert_eq!(hex(&Sha256::digest(csv.as_bytes())), target.sha256);
        assert_eq!(
            csv,
            std::fs::read_to_string(dir.join("fig3_accelerations.csv")).unwrap()
        );
    }
}
