//! User spectrum tables: `mass E dN/dE` rows, several masses per file.

use std::path::Path;

use darkprobe_core::table::{Header, Table, TableOptions, DEFAULT_MAX_LINE_BYTES};
use darkprobe_core::{Error, Location};

use super::table::{Curve, MassInterp, Quantity, Support, TabulatedSpectrum};
use crate::error::Result;

const COLUMNS: [&str; 3] = ["mass_gev", "energy_gev", "dn_de_per_gev"];

/// The rows of one mass while reading.
struct Block {
    mass_gev: f64,
    /// The mass as written in the file (quoted in errors).
    mass_text: String,
    first_line: usize,
    energies_gev: Vec<f64>,
    dn_de: Vec<f64>,
    last_line: usize,
}

impl TabulatedSpectrum {
    /// Reads a user spectrum table from the file at `path`; see
    /// [`parse_user_table`](Self::parse_user_table) for the format.
    ///
    /// # Errors
    /// An I/O error naming the path; a parse error naming the line for a
    /// line longer than 16 MiB or invalid UTF-8; otherwise as
    /// [`parse_user_table`](Self::parse_user_table).
    pub fn read_user_table(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        // Bounded line length and UTF-8 errors naming the line, as for tables.
        let text = darkprobe_core::table::read_text(path, DEFAULT_MAX_LINE_BYTES)?;
        Self::parse_user_table(&text, &path.display().to_string())
    }

    /// Parses a user spectrum table held in memory; `source_name` appears in
    /// messages and in the spectrum's name.
    ///
    /// The format is the one MLFermiLATDwarfs reads: three columns, mass
    /// (GeV), photon energy $E$ (GeV), $dN/dE$ [GeV$^{-1}$] per annihilation,
    /// separated by whitespace (or commas); `#` starts a comment. The rows of
    /// one mass are contiguous, with $E$ strictly increasing; a file may hold
    /// several masses in any order. Outside the tabulated energies of a mass
    /// the spectrum is zero, as it is above the mass.
    ///
    /// The spectrum is interpolated log-log in energy
    /// ([`Interp::LogLog`](super::Interp::LogLog)) and accepts only the
    /// tabulated masses ([`MassInterp::TabulatedOnly`]); interpolation between
    /// masses is an explicit option,
    /// [`with_mass_interp`](Self::with_mass_interp).
    ///
    /// # Errors
    /// A parse error naming the source, line, column and offending text for a
    /// row without exactly three cells, a value that is not a finite number
    /// (`NaN`, `inf`, text), a mass or energy that is not > 0, a negative
    /// $dN/dE$, energies that do not increase strictly within a mass, a mass
    /// whose rows are split into two blocks (a duplicate mass), or a mass with
    /// a single row; an empty-input error when there are no data rows.
    pub fn parse_user_table(text: &str, source_name: &str) -> Result<Self> {
        let names = COLUMNS.iter().map(|s| s.to_string()).collect();
        let opts = TableOptions::default().with_header(Header::Names(names));
        let table = Table::parse_str(text, source_name, &opts)?;
        let at =
            |line: usize, col: usize| Location::new(source_name, line).with_column(COLUMNS[col]);

        let mut blocks: Vec<Block> = Vec::new();
        for row in table.rows() {
            let line = row.line();
            let cell = |c: usize| row.cells().get(c).map_or("", String::as_str);
            let mass = row.get_f64(0)?;
            let energy = row.get_f64(1)?;
            let dn_de = row.get_f64(2)?;
            if mass <= 0.0 {
                return Err(Error::parse(at(line, 0), cell(0), "the mass must be > 0").into());
            }
            if energy <= 0.0 {
                return Err(Error::parse(at(line, 1), cell(1), "the energy must be > 0").into());
            }
            if energy / mass < f64::MIN_POSITIVE {
                // E/m would underflow (to 0 or a subnormal) and its logarithm
                // in the log-log interpolation would not be usable.
                return Err(Error::parse(
                    at(line, 1),
                    cell(1),
                    format!("the energy must be >= {:e} x the mass", f64::MIN_POSITIVE),
                )
                .into());
            }
            if dn_de < 0.0 {
                return Err(Error::parse(at(line, 2), cell(2), "dN/dE must be >= 0").into());
            }
            let continues = blocks.last().is_some_and(|b| b.mass_gev == mass);
            if !continues {
                if let Some(earlier) = blocks.iter().find(|b| b.mass_gev == mass) {
                    return Err(Error::parse(
                        at(line, 0),
                        cell(0),
                        format!(
                            "duplicate mass: {mass} GeV already has rows at lines {}-{}; the \
                             rows of one mass must be contiguous",
                            earlier.first_line, earlier.last_line
                        ),
                    )
                    .into());
                }
                if let Some(prev) = blocks.last() {
                    check_block(prev, source_name)?;
                }
                blocks.push(Block {
                    mass_gev: mass,
                    mass_text: cell(0).trim().to_string(),
                    first_line: line,
                    energies_gev: Vec::new(),
                    dn_de: Vec::new(),
                    last_line: line,
                });
            }
            let Some(block) = blocks.last_mut() else {
                continue;
            };
            if let Some(&prev) = block.energies_gev.last() {
                if energy <= prev {
                    return Err(Error::parse(
                        at(line, 1),
                        cell(1),
                        format!(
                            "energies must increase strictly within a mass, but {energy} GeV \
                             follows {prev} GeV (line {}) at mass {mass} GeV",
                            block.last_line
                        ),
                    )
                    .into());
                }
            }
            block.energies_gev.push(energy);
            block.dn_de.push(dn_de);
            block.last_line = line;
        }
        if let Some(last) = blocks.last() {
            check_block(last, source_name)?;
        }
        blocks.sort_by(|a, b| a.mass_gev.total_cmp(&b.mass_gev));
        let curves = blocks
            .into_iter()
            .map(|b| {
                let m = b.mass_gev;
                let x = b.energies_gev.iter().map(|e| e / m).collect();
                Curve::new(m, x, b.dn_de, Support::Nodes)
            })
            .collect();
        let file = Path::new(source_name).file_name().map_or_else(
            || source_name.to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        Ok(TabulatedSpectrum::from_curves(
            format!("user table {file}"),
            source_name.to_string(),
            Quantity::DnDe,
            curves,
            MassInterp::TabulatedOnly,
            false,
        ))
    }
}

fn check_block(b: &Block, source: &str) -> Result<()> {
    if b.energies_gev.len() < 2 {
        return Err(Error::parse(
            Location::new(source, b.first_line).with_column(COLUMNS[0]),
            &b.mass_text,
            format!(
                "mass {} GeV has a single row; at least two energies are needed to interpolate",
                b.mass_gev
            ),
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectrum::{Interp, MassInterp, Spectrum};
    use crate::LimitsError;
    use approx::assert_relative_eq;

    fn err(text: &str) -> String {
        TabulatedSpectrum::parse_user_table(text, "spec.dat")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_several_masses_with_comments() {
        let text = "# my spectra\n\
                    # mass E dN/dE\n\
                    100 1 5.0   # a trailing comment\n\
                    100 10 0.5\n\
                    \n\
                    100 100 0.05\n\
                    10 1 2.0\n\
                    10 10 0.2\n";
        let s = TabulatedSpectrum::parse_user_table(text, "dir/spec.dat").unwrap();
        assert_eq!(s.tabulated_masses_gev(), &[10.0, 100.0]);
        assert_eq!(s.name(), "user table spec.dat");
        assert_eq!(s.source(), "dir/spec.dat");
        assert_eq!(s.mass_interp(), MassInterp::TabulatedOnly);
        // Table points are returned as written.
        assert_eq!(s.dn_de(100.0, 10.0).unwrap(), 0.5);
        assert_eq!(s.dn_de(10.0, 1.0).unwrap(), 2.0);
        // Log-log: 5/E between 1 and 100 GeV.
        assert_relative_eq!(
            s.dn_de(100.0, 3.0).unwrap(),
            5.0 / 3.0,
            max_relative = 1e-14
        );
        // Linear (the package): straight line in E.
        let lin = s.clone().with_interp(Interp::Linear);
        assert_relative_eq!(lin.dn_de(100.0, 5.5).unwrap(), 2.75, max_relative = 1e-14);
        // Zero outside the tabulated energies and above the mass.
        assert_eq!(s.dn_de(100.0, 0.5).unwrap(), 0.0);
        assert_eq!(s.dn_de(10.0, 10.5).unwrap(), 0.0);
        // A mass not in the file, without interpolation: a clear error.
        match s.dn_de(50.0, 1.0) {
            Err(LimitsError::MassOutOfRange {
                mass_gev,
                table,
                reason,
            }) => {
                assert_eq!(mass_gev, 50.0);
                assert!(table.contains("spec.dat"));
                assert!(reason.contains("10, 100") && reason.contains("with_mass_interp"));
            }
            other => panic!("expected MassOutOfRange, got {other:?}"),
        }
        assert!(s.dn_de(5.0, 1.0).is_err());
        assert!(s.dn_de(200.0, 1.0).is_err());
    }

    #[test]
    fn mass_interpolation_is_opt_in_and_uses_fixed_x() {
        // dN/dE = (1/m) f(x) with f(x) = x^-1: the same shape in x at both masses,
        // tabulated at the same x values (x = 0.01, 0.1, 1).
        let mut text = String::new();
        for m in [10.0f64, 1000.0] {
            for x in [0.01f64, 0.1, 1.0] {
                text += &format!("{m} {} {}\n", x * m, 1.0 / (m * x));
            }
        }
        let s = TabulatedSpectrum::parse_user_table(&text, "shape.dat")
            .unwrap()
            .with_mass_interp(MassInterp::LogLog);
        let m = 100.0;
        for x in [0.02, 0.3, 0.9] {
            assert_relative_eq!(
                s.dn_de(m, x * m).unwrap(),
                1.0 / (m * x),
                max_relative = 1e-12
            );
        }
    }

    #[test]
    fn every_error_names_file_line_and_value() {
        let cases: &[(&str, &[&str])] = &[
            ("100 1 5\n100 2\n", &["spec.dat, line 2", "2 cells but 3"]),
            ("100 1 5 7\n", &["spec.dat, line 1", "4 cells but 3"]),
            (
                "100 1 5\n100 2 NaN\n",
                &[
                    "spec.dat, line 2",
                    "column 'dn_de_per_gev'",
                    "'NaN'",
                    "not finite",
                ],
            ),
            ("100 1 5\n100 2 abc\n", &["line 2", "'abc'", "not a number"]),
            (
                "100 1 5\n100 inf 3\n",
                &["line 2", "column 'energy_gev'", "'inf'"],
            ),
            (
                "# c\n100 1 5\n100 2 -0.1\n",
                &["line 3", "column 'dn_de_per_gev'", "'-0.1'", ">= 0"],
            ),
            (
                "100 1 5\n100 0 3\n",
                &["line 2", "column 'energy_gev'", "'0'", "> 0"],
            ),
            (
                "-100 1 5\n-100 2 3\n",
                &["line 1", "column 'mass_gev'", "'-100'", "> 0"],
            ),
            (
                "100 1 5\n100 3 4\n100 2 3\n",
                &[
                    "line 3",
                    "column 'energy_gev'",
                    "'2'",
                    "follows 3 GeV (line 2)",
                ],
            ),
            (
                "100 1 5\n100 1 4\n",
                &["line 2", "'1'", "increase strictly"],
            ),
            (
                "100 1 5\n100 2 4\n10 1 5\n10 2 4\n100 3 1\n",
                &[
                    "line 5",
                    "column 'mass_gev'",
                    "'100'",
                    "duplicate mass",
                    "lines 1-2",
                ],
            ),
            (
                "100 1 5\n10 1 5\n10 2 4\n",
                &["line 1", "'100'", "single row"],
            ),
            (
                "100 1 5\n100 2 4\n10 1 5\n",
                &["line 3", "'10'", "single row"],
            ),
            ("# only comments\n\n", &["spec.dat", "empty"]),
        ];
        for (text, needles) in cases {
            let msg = err(text);
            for n in *needles {
                assert!(
                    msg.contains(n),
                    "message {msg:?} lacks {n:?} for input {text:?}"
                );
            }
        }
        let e = TabulatedSpectrum::read_user_table("/nonexistent/spec.dat").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/spec.dat"));
    }

    #[test]
    fn reads_from_a_file() {
        let dir = std::env::temp_dir().join(format!("darkprobe-spectra-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("user_spectrum.dat");
        std::fs::write(&path, "# m E dNdE\n50 1 2\n50 10 0.2\n").unwrap();
        let s = TabulatedSpectrum::read_user_table(&path).unwrap();
        assert_eq!(s.tabulated_masses_gev(), &[50.0]);
        assert_eq!(s.name(), "user table user_spectrum.dat");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
