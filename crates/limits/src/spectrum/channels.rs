//! PPPC4DMID and CosmiXs tables: one column of $dN/d\log_{10}x$ per channel.

use std::path::Path;

use darkprobe_core::table::{Header, Table, TableOptions, DEFAULT_MAX_LINE_BYTES};
use darkprobe_core::{Error, Location};

use super::table::{Curve, MassInterp, Quantity, Support, TabulatedSpectrum};
use crate::error::{LimitsError, Result};

/// The smallest $\log_{10} x$ a channel table may hold: $10^{-300}$ is still a
/// normal `f64`, so its logarithm is finite.
const MIN_LOG10_X: f64 = -300.0;

/// Layout of a channel table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableFormat {
    /// PPPC4DMID `AtProduction_*.dat` (Cirelli et al. 2011): a `#` header
    /// line `mDM Log[10,x] <channel> ...` with Mathematica names such as
    /// `\[Tau]`, then rows `mass log10x value...`; the values are at the grid
    /// points, and zero outside the tabulated $x$ range.
    Pppc,
    /// CosmiXs `AtProduction-Gamma.dat` (Arina et al. 2024): a `#` header
    /// `DM Log10[x] dNdLog10x [eL] dNdLog10x [eR] ...`, then rows
    /// `mass log10x value...`; $\log_{10}x$ are bin centres, and the first and
    /// last values hold over the half bins beyond them.
    Cosmixs,
}

/// One mass of a channel table.
#[derive(Debug, Clone)]
struct Block {
    mass_gev: f64,
    /// The mass as written in the file (quoted in errors).
    mass_text: String,
    log10_x: Vec<f64>,
    /// `columns[c][k]`: channel `c` at `log10_x[k]`.
    columns: Vec<Vec<f64>>,
}

/// A PPPC4DMID or CosmiXs photon-yield table with all its channels; pick one
/// with [`spectrum`](ChannelTable::spectrum).
///
/// The reader checks that masses are > 0 and grouped in blocks of increasing
/// mass, that $\log_{10}x$ increases strictly within a block and is $\le 0$,
/// that every yield is finite and $\ge 0$, and that the header names as many
/// channels as the rows have values; errors name the file, line, column and
/// value.
///
/// ```
/// use darkprobe_limits::spectrum::{ChannelTable, Spectrum, TableFormat};
/// let text = "#  mDM  Log[10,x]  \\[Tau]   b
///    10   -2         0.5      2.0
///    10   -1         0.4      1.0
///    10    0         0.1      0.0
///    20   -2         0.6      2.5
///    20   -1         0.5      1.5
///    20    0         0.2      0.0
/// ";
/// let table = ChannelTable::parse_str(text, "toy.dat", TableFormat::Pppc)?;
/// assert_eq!(table.channels(), &["tau", "b"]);
/// assert_eq!(table.masses_gev(), vec![10.0, 20.0]);
/// let bb = table.spectrum("bb")?;
/// // At a grid point: dN/dE = (dN/dlog10x) / (E ln 10), with E = 10^-1 m.
/// let expected = 1.0 / (1.0 * std::f64::consts::LN_10);
/// assert!((bb.dn_de(10.0, 1.0)? - expected).abs() < 1e-15);
/// assert!(table.spectrum("WW").is_err());
/// # Ok::<(), darkprobe_limits::LimitsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChannelTable {
    source: String,
    format: TableFormat,
    channels: Vec<String>,
    raw_names: Vec<String>,
    blocks: Vec<Block>,
}

impl ChannelTable {
    /// Reads the table in the file at `path`.
    ///
    /// # Errors
    /// An I/O error naming the path; a parse error naming the line for a
    /// line longer than 16 MiB or invalid UTF-8; otherwise as [`parse_str`](Self::parse_str).
    pub fn read(path: impl AsRef<Path>, format: TableFormat) -> Result<Self> {
        let path = path.as_ref();
        // Bounded line length and UTF-8 errors naming the line, as for tables.
        let text = darkprobe_core::table::read_text(path, DEFAULT_MAX_LINE_BYTES)?;
        Self::parse_str(&text, &path.display().to_string(), format)
    }

    /// Reads a PPPC4DMID table (`AtProduction_gammas.dat`,
    /// `AtProductionNoEW_gammas.dat`).
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn read_pppc(path: impl AsRef<Path>) -> Result<Self> {
        Self::read(path, TableFormat::Pppc)
    }

    /// Reads a CosmiXs table (`AtProduction-Gamma.dat`).
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn read_cosmixs(path: impl AsRef<Path>) -> Result<Self> {
        Self::read(path, TableFormat::Cosmixs)
    }

    /// Parses a table held in memory; `source_name` appears in messages.
    ///
    /// # Errors
    /// A parse error naming the source and line when the header (the last
    /// `#` line before the data) is missing or names no channel, when a row's
    /// cell count differs from the header's, when a value is not a finite
    /// number, when a mass is not > 0, when a mass block repeats or masses
    /// decrease, when $\log_{10}x$ does not increase strictly within a mass,
    /// exceeds 0 or is below $-300$, when a yield is negative, or when a mass
    /// has a single row; an empty-input error when there are no data rows.
    pub fn parse_str(text: &str, source_name: &str, format: TableFormat) -> Result<Self> {
        let (header_line, raw_names) = header(text, source_name, format)?;
        let mut names = vec!["mass_gev".to_string(), "log10_x".to_string()];
        names.extend(raw_names.iter().cloned());
        let opts = TableOptions::default().with_header(Header::Names(names.clone()));
        let table = Table::parse_str(text, source_name, &opts)?;
        let n_ch = raw_names.len();
        let at =
            |line: usize, col: usize| Location::new(source_name, line).with_column(&names[col]);

        let mut blocks: Vec<Block> = Vec::new();
        // (mass, first line) of the block being filled, and the last line.
        let mut current: Option<(f64, usize)> = None;
        let mut last_line = header_line;
        for row in table.rows() {
            let line = row.line();
            let mass = row.get_f64(0)?;
            let log10_x = row.get_f64(1)?;
            let cell = |c: usize| row.cells().get(c).map_or("", String::as_str);
            if mass <= 0.0 {
                return Err(Error::parse(at(line, 0), cell(0), "mass must be > 0").into());
            }
            if log10_x > 1e-9 {
                return Err(Error::parse(
                    at(line, 1),
                    cell(1),
                    "log10 x must be <= 0 (photon energies cannot exceed the mass)",
                )
                .into());
            }
            if log10_x < MIN_LOG10_X {
                // 10^log10_x would underflow to 0 and its log-log interpolation to NaN
                // (found by the `spectra` fuzz target).
                return Err(Error::parse(
                    at(line, 1),
                    cell(1),
                    format!("log10 x must be >= {MIN_LOG10_X} (x = 10^log10 x underflows below)"),
                )
                .into());
            }
            let new_block = match current {
                Some((m, _)) if m == mass => false,
                Some((m, first)) => {
                    if mass < m {
                        return Err(Error::parse(
                            at(line, 0),
                            cell(0),
                            format!(
                                "masses must increase from block to block, but {mass} GeV \
                                 follows {m} GeV (block starting at line {first})"
                            ),
                        )
                        .into());
                    }
                    true
                }
                None => true,
            };
            if new_block {
                if let Some(b) = blocks.last() {
                    check_block_length(b, source_name, last_line)?;
                }
                blocks.push(Block {
                    mass_gev: mass,
                    mass_text: cell(0).trim().to_string(),
                    log10_x: Vec::new(),
                    columns: vec![Vec::new(); n_ch],
                });
                current = Some((mass, line));
            }
            let block = blocks
                .last_mut()
                .ok_or_else(|| Error::empty(source_name.to_string(), "no mass block (internal)"))?;
            if let Some(&prev) = block.log10_x.last() {
                if log10_x <= prev {
                    return Err(Error::parse(
                        at(line, 1),
                        cell(1),
                        format!(
                            "log10 x must increase strictly within a mass, but follows {prev} \
                             at mass {mass} GeV"
                        ),
                    )
                    .into());
                }
            }
            block.log10_x.push(log10_x);
            for (c, col) in block.columns.iter_mut().enumerate() {
                let v = row.get_f64(c + 2)?;
                if v < 0.0 {
                    return Err(Error::parse(
                        at(line, c + 2),
                        cell(c + 2),
                        "a photon yield must be >= 0",
                    )
                    .into());
                }
                col.push(v);
            }
            last_line = line;
        }
        if let Some(b) = blocks.last() {
            check_block_length(b, source_name, last_line)?;
        }
        let channels = raw_names.iter().map(|n| normalize(n)).collect();
        Ok(Self {
            source: source_name.to_string(),
            format,
            channels,
            raw_names,
            blocks,
        })
    }

    /// The file (or description) the table was read from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The layout the table was read with.
    pub fn format(&self) -> TableFormat {
        self.format
    }

    /// The channel names, in column order, with Mathematica escapes written
    /// out (`\[Tau]` becomes `tau`, `\[Nu]\[Mu]` becomes `numu`) and the
    /// CosmiXs `dNdLog10x [..]` wrappers removed.
    pub fn channels(&self) -> &[String] {
        &self.channels
    }

    /// The channel names exactly as the header writes them.
    pub fn raw_channel_names(&self) -> &[String] {
        &self.raw_names
    }

    /// The tabulated masses (GeV), increasing.
    pub fn masses_gev(&self) -> Vec<f64> {
        self.blocks.iter().map(|b| b.mass_gev).collect()
    }

    /// The column index (0-based among the channels) of the channel called
    /// `name`: a column name of the table, raw or normalised (see
    /// [`channels`](Self::channels)), or a final state such as `bb`,
    /// `tautau`, `WW`, `mumu`, `ee`, `tt`, `ZZ`, `hh`, `gg`, `cc`, `qq`,
    /// `gammagamma`, `Zgamma`, `b bbar`, `tau+tau-`; all case-insensitive.
    ///
    /// # Errors
    /// [`LimitsError::UnknownChannel`] listing the table's channels.
    pub fn channel_index(&self, name: &str) -> Result<usize> {
        for key in candidate_keys(name) {
            let hit = self
                .channels
                .iter()
                .zip(&self.raw_names)
                .position(|(c, r)| c.eq_ignore_ascii_case(&key) || r.eq_ignore_ascii_case(&key));
            if let Some(i) = hit {
                return Ok(i);
            }
        }
        Err(LimitsError::UnknownChannel {
            name: name.to_string(),
            table: self.source.clone(),
            available: self.channels.join(", "),
        })
    }

    /// The spectrum of channel `name` (see
    /// [`channel_index`](Self::channel_index) for the accepted names), with
    /// [`Interp::LogLog`](super::Interp::LogLog) in energy and
    /// [`MassInterp::LogLog`] between masses.
    ///
    /// # Errors
    /// [`LimitsError::UnknownChannel`] listing the table's channels.
    pub fn spectrum(&self, name: &str) -> Result<TabulatedSpectrum> {
        let c = self.channel_index(name)?;
        let support = match self.format {
            TableFormat::Pppc => Support::Nodes,
            TableFormat::Cosmixs => Support::BinCentres,
        };
        let curves = self
            .blocks
            .iter()
            .map(|b| {
                let x = b.log10_x.iter().map(|u| 10f64.powf(*u)).collect();
                Curve::new(b.mass_gev, x, b.columns[c].clone(), support)
            })
            .collect();
        let file = Path::new(&self.source)
            .file_name()
            .map_or_else(|| self.source.clone(), |f| f.to_string_lossy().into_owned());
        Ok(TabulatedSpectrum::from_curves(
            format!("{name} ({file}, column '{}')", self.raw_names[c]),
            self.source.clone(),
            Quantity::DnDlog10x,
            curves,
            MassInterp::LogLog,
            self.format == TableFormat::Pppc,
        ))
    }
}

fn check_block_length(b: &Block, source: &str, line: usize) -> Result<()> {
    if b.log10_x.len() < 2 {
        return Err(Error::parse(
            Location::new(source, line),
            &b.mass_text,
            format!(
                "mass {} GeV has a single row; at least two values of x are needed",
                b.mass_gev
            ),
        )
        .into());
    }
    Ok(())
}

/// The header: the last `#` line before the first data line, as (line
/// number, channel names).
fn header(text: &str, source: &str, format: TableFormat) -> Result<(usize, Vec<String>)> {
    let mut found: Option<(usize, &str)> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        match t.strip_prefix('#') {
            Some(rest) => found = Some((i + 1, rest)),
            None => break,
        }
    }
    let Some((line_no, rest)) = found else {
        return Err(Error::parse(
            Location::new(source, 1),
            text.lines().next().unwrap_or(""),
            "expected a '#' header line naming the channels before the data",
        )
        .into());
    };
    let tokens: Vec<&str> = rest.split_whitespace().collect();
    let after = tokens.get(2..).unwrap_or(&[]);
    let names: Vec<String> = match format {
        TableFormat::Pppc => after.iter().map(|s| s.to_string()).collect(),
        TableFormat::Cosmixs => bracketed(&after.join(" ")),
    };
    if names.is_empty() {
        return Err(Error::parse(
            Location::new(source, line_no),
            rest,
            match format {
                TableFormat::Pppc => {
                    "header names no channel (expected 'mDM Log[10,x] <channels>')"
                }
                TableFormat::Cosmixs => {
                    "header names no channel (expected 'DM Log10[x] dNdLog10x [<channel>] ...')"
                }
            },
        )
        .into());
    }
    Ok((line_no, names))
}

/// The contents of every `[...]` in `s`, in order.
fn bracketed(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('[') {
        let after = &rest[i + 1..];
        match after.find(']') {
            Some(j) => {
                out.push(after[..j].trim().to_string());
                rest = &after[j + 1..];
            }
            None => break,
        }
    }
    out
}

/// Writes Mathematica escapes `\[Name]` as lower-case `name`.
fn normalize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find("\\[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(']') {
            Some(j) => {
                out.push_str(&after[..j].to_lowercase());
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The column names a requested channel name may stand for, most literal
/// first (all lower case).
fn candidate_keys(name: &str) -> Vec<String> {
    let lower = name.trim().to_lowercase();
    let norm = normalize(&lower);
    let compact: String = norm
        .replace("bar", "")
        .chars()
        .filter(|c| !matches!(c, ' ' | '+' | '-' | '~' | '_'))
        .collect();
    let mut keys = vec![lower.clone(), norm.clone(), compact.clone()];
    // A doubled name (bb, tautau, WW, nuenue) is the channel of one particle.
    let half = compact.len() / 2;
    if compact.len() >= 2
        && compact.len().is_multiple_of(2)
        && compact.is_char_boundary(half)
        && compact[..half] == compact[half..]
    {
        keys.push(compact[..half].to_string());
    }
    let synonyms: &[(&[&str], &[&str])] = &[
        (&["gamma", "a", "photon"], &["gamma", "a"]),
        (&["zgamma", "gammaz", "az", "za"], &["az"]),
        (&["hz", "zh"], &["hz"]),
        (&["higgs"], &["h"]),
    ];
    let snapshot = keys.clone();
    for key in &snapshot {
        for (from, to) in synonyms {
            if from.contains(&key.as_str()) {
                keys.extend(to.iter().map(|s| s.to_string()));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| !k.is_empty() && seen.insert(k.clone()));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectrum::{Interp, Spectrum};
    use approx::assert_relative_eq;
    use std::f64::consts::LN_10;

    const PPPC_HEADER: &str = "#   mDM      Log[10,x]   eL   e   \\[Mu]   \\[Tau]   q   b   W   \\[Gamma]   h   \\[Nu]\\[Mu]   V->\\[Tau]";

    fn pppc_text(masses: &[f64]) -> String {
        let mut s = format!("{PPPC_HEADER}\n");
        for &m in masses {
            for k in 0..=8 {
                let u = -2.0 + 0.25 * k as f64;
                s += &format!("{m} {u}");
                for c in 0..11 {
                    // Channel c: F = (c + 1) m^0.5 x^0.3 (zero for h).
                    let v = if c == 8 {
                        0.0
                    } else {
                        (c + 1) as f64 * m.sqrt() * 10f64.powf(0.3 * u)
                    };
                    s += &format!(" {v}");
                }
                s.push('\n');
            }
        }
        s
    }

    #[test]
    fn pppc_header_names_are_normalised_and_resolved() {
        let t = ChannelTable::parse_str(&pppc_text(&[10.0, 20.0]), "toy.dat", TableFormat::Pppc)
            .unwrap();
        assert_eq!(
            t.channels(),
            &["eL", "e", "mu", "tau", "q", "b", "W", "gamma", "h", "numu", "V->tau"]
        );
        assert_eq!(t.raw_channel_names()[3], "\\[Tau]");
        let idx = |n: &str| t.channel_index(n).unwrap();
        assert_eq!(idx("bb"), 5);
        assert_eq!(idx("b"), 5);
        assert_eq!(idx("B BBAR"), 5);
        assert_eq!(idx("bbbar"), 5);
        assert_eq!(idx("tautau"), 3);
        assert_eq!(idx("tau+tau-"), 3);
        assert_eq!(idx("\\[Tau]"), 3);
        assert_eq!(idx("TAU"), 3);
        assert_eq!(idx("WW"), 6);
        assert_eq!(idx("W+W-"), 6);
        assert_eq!(idx("mumu"), 2);
        assert_eq!(idx("ee"), 1);
        assert_eq!(idx("eLeL"), 0);
        assert_eq!(idx("el"), 0);
        assert_eq!(idx("qq"), 4);
        assert_eq!(idx("hh"), 8);
        assert_eq!(idx("gammagamma"), 7);
        assert_eq!(idx("aa"), 7);
        assert_eq!(idx("numunumu"), 9);
        assert_eq!(idx("V->tau"), 10);
        assert_eq!(idx("v->\\[tau]"), 10);
        match t.channel_index("ZZ") {
            Err(LimitsError::UnknownChannel {
                name,
                table,
                available,
            }) => {
                assert_eq!(name, "ZZ");
                assert_eq!(table, "toy.dat");
                assert!(available.contains("b, W, gamma"), "{available}");
            }
            other => panic!("expected UnknownChannel, got {other:?}"),
        }
        let msg = t.spectrum("xx").unwrap_err().to_string();
        assert!(
            msg.contains("'xx'") && msg.contains("available: eL, e, mu, tau"),
            "{msg}"
        );
    }

    #[test]
    fn cosmixs_header_names_are_resolved() {
        let text = "# DM \t Log10[x]  dNdLog10x [eL]  dNdLog10x [b]\tdNdLog10x [a]  dNdLog10x [aZ] dNdLog10x [H] dNdLog10x [HZ] dNdLog10x [u]\n\
                    5 -1.5 1 2 3 4 5 6 7\n5 -0.5 1 2 3 4 5 6 7\n";
        let t = ChannelTable::parse_str(text, "cx.dat", TableFormat::Cosmixs).unwrap();
        assert_eq!(t.channels(), &["eL", "b", "a", "aZ", "H", "HZ", "u"]);
        let idx = |n: &str| t.channel_index(n).unwrap();
        assert_eq!(idx("bb"), 1);
        assert_eq!(idx("gammagamma"), 2);
        assert_eq!(idx("Zgamma"), 3);
        assert_eq!(idx("gammaZ"), 3);
        assert_eq!(idx("hh"), 4);
        assert_eq!(idx("Zh"), 5);
        assert_eq!(idx("uu"), 6);
        let err = t.channel_index("qq").unwrap_err().to_string();
        assert!(err.contains("available: eL, b, a, aZ, H, HZ, u"), "{err}");
    }

    #[test]
    fn channel_spectrum_is_dn_dlog10x_over_e_ln10() {
        let t = ChannelTable::parse_str(&pppc_text(&[10.0, 40.0]), "toy.dat", TableFormat::Pppc)
            .unwrap();
        let b = t.spectrum("bb").unwrap();
        assert!(
            b.name().contains("bb") && b.name().contains("'b'"),
            "{}",
            b.name()
        );
        for &m in &[10.0f64, 20.0, 40.0] {
            for &x in &[0.011f64, 0.2, 0.5, 1.0] {
                let e = x * m;
                let f = 6.0 * m.sqrt() * x.powf(0.3);
                assert_relative_eq!(
                    b.dn_de(m, e).unwrap(),
                    f / (e * LN_10),
                    max_relative = 1e-12
                );
            }
            // Zero below the table (x < 0.01) and above the mass.
            assert_eq!(b.dn_de(m, 0.009 * m).unwrap(), 0.0);
            assert_eq!(b.dn_de(m, 1.01 * m).unwrap(), 0.0);
        }
        // The all-zero channel is zero everywhere, also between masses.
        let h = t.spectrum("hh").unwrap();
        assert_eq!(h.dn_de(20.0, 3.0).unwrap(), 0.0);
        // PPPC tables under the package convention extrapolate linearly below.
        let lin = t.spectrum("bb").unwrap().with_mlfermilatdwarfs_convention();
        assert_eq!(lin.interp(), Interp::Linear);
        assert!(lin.dn_de(10.0, 0.099).unwrap() > 0.0);
        assert!(lin.dn_de(20.0, 3.0).is_err());
    }

    fn parse_err(text: &str) -> String {
        ChannelTable::parse_str(text, "bad.dat", TableFormat::Pppc)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn malformed_channel_tables_give_located_errors() {
        let h = "# mDM Log[10,x] b tau\n";
        let cases: &[(&str, &[&str])] = &[
            ("10 -1 1 2\n10 0 1 2\n", &["bad.dat, line 1", "header"]),
            (
                "# mDM Log[10,x]\n10 -1\n10 0\n",
                &["line 1", "names no channel"],
            ),
            (
                &format!("{h}10 -1 1 2\n10 0 1\n"),
                &["line 3", "3 cells but 4"],
            ),
            (
                &format!("{h}10 -1 1 2\n10 0 NaN 2\n"),
                &["line 3", "column 'b'", "not finite", "'NaN'"],
            ),
            (
                &format!("{h}10 -1 1 2\n10 0 1 -0.5\n"),
                &["line 3", "column 'tau'", "'-0.5'", ">= 0"],
            ),
            (
                &format!("{h}10 -1 1 2\n10 -1 1 2\n"),
                &["line 3", "column 'log10_x'", "increase strictly"],
            ),
            (
                &format!("{h}10 -1 1 2\n10 0.5 1 2\n"),
                &["line 3", "'0.5'", "<= 0"],
            ),
            (
                &format!("{h}0 -1 1 2\n0 0 1 2\n"),
                &["line 2", "column 'mass_gev'", "> 0"],
            ),
            (
                &format!("{h}20 -1 1 2\n20 0 1 2\n10 -1 1 2\n10 0 1 2\n"),
                &["line 4", "'10'", "follows 20 GeV", "line 2"],
            ),
            (
                &format!("{h}10 -1 1 2\n20 -1 1 2\n20 0 1 2\n"),
                &["line 2", "single row"],
            ),
            (
                &format!("{h}10 -1 1 2\n10 0 1 2\n20 0 1 2\n"),
                &["line 4", "single row"],
            ),
            (h, &["bad.dat", "empty"]),
        ];
        for (text, needles) in cases {
            let msg = parse_err(text);
            for n in *needles {
                assert!(
                    msg.contains(n),
                    "message {msg:?} lacks {n:?} for input {text:?}"
                );
            }
        }
        let err = ChannelTable::read_pppc("/nonexistent/AtProduction_gammas.dat").unwrap_err();
        assert!(err
            .to_string()
            .contains("/nonexistent/AtProduction_gammas.dat"));
    }

    #[test]
    fn repeated_mass_block_is_rejected() {
        let text = "# mDM Log[10,x] b\n10 -1 1\n10 0 1\n20 -1 1\n20 0 1\n10 -1 1\n10 0 1\n";
        let msg = parse_err(text);
        assert!(
            msg.contains("line 6") && msg.contains("follows 20 GeV"),
            "{msg}"
        );
    }

    #[test]
    fn normalize_and_bracketed() {
        assert_eq!(normalize("\\[Nu]\\[Tau]"), "nutau");
        assert_eq!(normalize("V->\\[Mu]"), "V->mu");
        assert_eq!(normalize("plain"), "plain");
        assert_eq!(normalize("broken\\[Mu"), "broken\\[Mu");
        assert_eq!(
            bracketed("dNdLog10x [eL]  dNdLog10x [ b ] x [c"),
            vec!["eL", "b"]
        );
    }
}
