//! Reading the text tables physicists hand around, and writing CSV safely.
//!
//! # Reading
//! [`Table`] reads whitespace-separated tables (MLFermiDwarfs `.dat` files,
//! PPPC spectra with a header of channel names), comma-separated catalogs
//! with a header line, and tables with any other one-character delimiter.
//! The cells are kept as strings together with the 1-based source line of
//! every row, so that typed access ([`Table::column_f64`], [`Row::get_f64`],
//! ...) can name the file, line, column and offending text when a value is
//! unusable.
//!
//! The reader works line by line through [`std::io::BufRead`]. A line is the
//! bytes up to `\n`; a trailing `\r` is dropped (CRLF files), a UTF-8 byte
//! order mark on line 1 is ignored, and invalid UTF-8 is an error naming the
//! line. No line is held in memory beyond [`TableOptions::with_max_line_bytes`]
//! bytes: a longer line is an error as soon as the limit is passed.
//!
//! The rules, in order:
//! 1. The first `skip_lines` physical lines are discarded unread.
//! 2. Blank lines, and lines whose first non-blank characters are the comment
//!    prefix (default `#`, so `####` also starts a comment), are skipped.
//! 3. The delimiter: [`Delimiter::Auto`] picks a comma when the first data
//!    line contains one, otherwise whitespace. Because the header may not
//!    yet be known, "first data line" means the *second* non-comment line
//!    when the input may have a header ([`Header::Auto`], [`Header::Present`])
//!    and one exists, otherwise the first. This keeps PPPC headers such as
//!    `Log[10,x]` from switching a whitespace table to comma mode. (When the
//!    second line has no comma but a `"` and the first has a comma, it is
//!    taken as the continuation of a multi-line quoted CSV field: comma mode.)
//! 4. Cells: in whitespace mode, runs of whitespace separate cells. In
//!    delimiter mode (comma or [`Delimiter::Char`]) every delimiter separates
//!    cells (so empty cells exist), cells are trimmed of surrounding
//!    whitespace unless [`TableOptions::with_trim`] turns it off, and a cell
//!    that starts with `"` is a quoted field as in RFC 4180: it may contain the
//!    delimiter, `""` stands for one `"`, and it may span several lines.
//! 5. Trailing comments (`1.0 2.0 # note`) are stripped in whitespace mode and
//!    kept in delimiter mode (where `#` may legitimately appear in a name);
//!    [`TableOptions::with_strip_trailing_comments`] overrides both defaults.
//! 6. The header: with [`Header::Auto`], write $A$ for the first record and
//!    $B$ for the second. A cell is *text* when it is non-empty and does not
//!    parse as a number. $A$ is a header when it has a text cell and either
//!    there is no $B$, or every non-empty cell of $A$ is text, or some column
//!    is text in $A$ but a number in $B$. (Testing $A$ alone would take the
//!    first row of a dwarf table, whose column 0 holds names, for a header.)
//! 7. Every row must have as many cells as the first record (header or data);
//!    otherwise the error names the line and both counts. A table without
//!    data rows is an [`Error::Empty`] naming the source.
//!
//! Numbers follow Rust's `f64` grammar (`1`, `-2.5e-3`, `.5`, `inf`, `NaN`)
//! extended by Fortran's `D` exponent (`1.0D+03`), which old tables use.
//! [`Table::column_f64`] demands finite values; [`Table::column_u64`] accepts
//! non-negative integers, also written as integral floats (`12.0`, `1e3`).
//!
//! # Writing
//! [`CsvWriter`] writes into a temporary file `.<name>.tmp-<pid>-<n>` next to
//! the target and renames it onto the target in [`CsvWriter::finish`]; a
//! writer dropped before `finish` deletes its temporary file, so the target
//! is either untouched or complete. Numbers are written as the shortest
//! decimal string $d$ with $\mathrm{parse}(d) = x$ (the round-trip criterion
//! of Steele & White 1990, "How to print floating-point numbers accurately",
//! as implemented by Rust's float formatting), so reading back gives the
//! identical bits. Plain notation is used for $10^{-5} \le |x| < 10^{16}$ and
//! for $0$; outside that range exponent notation (`1e-300`, `6.02214076e23`),
//! because Rust's plain notation never uses an exponent and would spell
//! $10^{-300}$ with 300 zeros. Strings are quoted when they contain a comma,
//! a quote or a line break, are empty, start with `#` or have surrounding
//! whitespace, so that [`Table`] in comma mode reads them back unchanged
//! (except that `\r\n` inside a quoted field comes back as `\n`).
//!
//! ```
//! use darkprobe_core::table::{Table, TableOptions};
//! let text = "#### J-factors\n\
//!             Draco  260.05  57.92  18.83\n\
//!             UMi    227.28  67.22  18.93\n";
//! let t = Table::parse_str(text, "dwarfs.dat", &TableOptions::default())?;
//! assert_eq!(t.n_rows(), 2);
//! assert!(t.column_names().is_none()); // names in column 0 are data, not a header
//! assert_eq!(t.column_str(0)?, vec!["Draco", "UMi"]);
//! assert_eq!(t.column_f64(3)?, vec![18.83, 18.93]);
//! assert_eq!(t.line_of(1), Some(3));
//!
//! let err = Table::parse_str("x,y\n1,oops\n", "cat.csv", &TableOptions::default())?
//!     .column_f64("y")
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "cat.csv, line 2, column 'y': not a number (found 'oops')");
//! # Ok::<(), darkprobe_core::Error>(())
//! ```

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Location, Result};

/// How cells are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delimiter {
    /// Comma if the first data line contains one, otherwise whitespace
    /// (see the module documentation for what "first data line" means).
    #[default]
    Auto,
    /// Runs of whitespace separate cells; no quoting.
    Whitespace,
    /// Commas separate cells; `"`-quoted fields are supported.
    Comma,
    /// The given character separates cells; `"`-quoted fields are supported.
    /// It must not be `"`, `\n` or `\r`.
    Char(char),
}

/// Whether the first non-comment line holds column names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Header {
    /// Decide from the first two records (see the module documentation).
    #[default]
    Auto,
    /// The first non-comment line is a header.
    Present,
    /// Every non-comment line is data; columns have no names.
    Absent,
    /// Every non-comment line is data; the columns are called by these names
    /// (combine with [`TableOptions::with_skip_lines`] to replace a header).
    Names(Vec<String>),
}

/// Options for reading a [`Table`]; build with the consuming `with_*` setters.
///
/// ```
/// use darkprobe_core::table::{Delimiter, Header, TableOptions};
/// let opts = TableOptions::default()
///     .with_delimiter(Delimiter::Char(';'))
///     .with_header(Header::Present)
///     .with_skip_lines(2);
/// assert_eq!(opts, opts.clone());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    delimiter: Delimiter,
    comment_prefix: String,
    strip_trailing_comments: Option<bool>,
    header: Header,
    skip_lines: usize,
    max_line_bytes: usize,
    trim: bool,
}

/// The default limit on the length of one line: 16 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

impl Default for TableOptions {
    fn default() -> Self {
        Self {
            delimiter: Delimiter::Auto,
            comment_prefix: "#".to_string(),
            strip_trailing_comments: None,
            header: Header::Auto,
            skip_lines: 0,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            trim: true,
        }
    }
}

impl TableOptions {
    /// Sets the delimiter (default [`Delimiter::Auto`]).
    #[must_use]
    pub fn with_delimiter(mut self, delimiter: Delimiter) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// Sets the comment prefix (default `"#"`); an empty prefix disables comments.
    #[must_use]
    pub fn with_comment_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.comment_prefix = prefix.into();
        self
    }

    /// Whether text from the comment prefix to the end of a data line is
    /// dropped. Default: yes in whitespace mode, no in delimiter mode.
    #[must_use]
    pub fn with_strip_trailing_comments(mut self, strip: bool) -> Self {
        self.strip_trailing_comments = Some(strip);
        self
    }

    /// Sets the header handling (default [`Header::Auto`]).
    #[must_use]
    pub fn with_header(mut self, header: Header) -> Self {
        self.header = header;
        self
    }

    /// Discards the first `n` physical lines before anything else (default 0).
    #[must_use]
    pub fn with_skip_lines(mut self, n: usize) -> Self {
        self.skip_lines = n;
        self
    }

    /// Sets the longest allowed line in bytes, without the line terminator
    /// (default [`DEFAULT_MAX_LINE_BYTES`]); a quoted field spanning several
    /// lines counts as one line. Must be at least 1.
    #[must_use]
    pub fn with_max_line_bytes(mut self, max: usize) -> Self {
        self.max_line_bytes = max;
        self
    }

    /// Whether cells are trimmed of surrounding whitespace in delimiter mode
    /// (default true; whitespace mode never yields whitespace in cells).
    #[must_use]
    pub fn with_trim(mut self, trim: bool) -> Self {
        self.trim = trim;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.max_line_bytes == 0 {
            return Err(Error::invalid_param("max_line_bytes", 0, ">= 1"));
        }
        if let Delimiter::Char(c) = self.delimiter {
            if matches!(c, '"' | '\n' | '\r') {
                return Err(Error::invalid_param(
                    "delimiter",
                    format!("{c:?}"),
                    "any character except '\"', '\\n' and '\\r'",
                ));
            }
        }
        if self.comment_prefix.contains(['\n', '\r']) {
            return Err(Error::invalid_param(
                "comment_prefix",
                format!("{:?}", self.comment_prefix),
                "text without line breaks",
            ));
        }
        if let Header::Names(names) = &self.header {
            if names.is_empty() {
                return Err(Error::invalid_param(
                    "header names",
                    "[]",
                    "at least one column name",
                ));
            }
        }
        Ok(())
    }
}

/// A column given by name or by 0-based index.
///
/// Built from `&str`/`&String` (a name) or `usize` (an index), so table
/// methods accept `t.column_f64("mass")` as well as `t.column_f64(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRef<'a> {
    /// A column name: an exact match is preferred, otherwise a unique
    /// case-insensitive match.
    Name(&'a str),
    /// A 0-based column index.
    Index(usize),
}

impl<'a> From<&'a str> for ColumnRef<'a> {
    fn from(name: &'a str) -> Self {
        ColumnRef::Name(name)
    }
}

impl<'a> From<&'a String> for ColumnRef<'a> {
    fn from(name: &'a String) -> Self {
        ColumnRef::Name(name)
    }
}

impl From<usize> for ColumnRef<'_> {
    fn from(index: usize) -> Self {
        ColumnRef::Index(index)
    }
}

/// A table of string cells read from text, with the source line of every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    source: String,
    names: Option<Vec<String>>,
    header_line: Option<usize>,
    n_cols: usize,
    /// Row-major cells, `n_rows * n_cols` of them.
    cells: Vec<String>,
    /// 1-based source line of each row.
    lines: Vec<usize>,
}

impl Table {
    /// Reads the table in the file at `path`.
    ///
    /// # Errors
    /// [`Error::Io`] carrying `path` when the file cannot be opened or read;
    /// otherwise as [`Table::from_reader`], with the path as source name.
    pub fn read(path: impl AsRef<Path>, opts: &TableOptions) -> Result<Table> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let reader = BufReader::with_capacity(64 * 1024, file);
        Self::from_reader(reader, &path.display().to_string(), opts)
    }

    /// Parses a table held in memory; `source_name` appears in error messages.
    ///
    /// # Errors
    /// As [`Table::from_reader`].
    pub fn parse_str(text: &str, source_name: &str, opts: &TableOptions) -> Result<Table> {
        Self::from_reader(text.as_bytes(), source_name, opts)
    }

    /// Reads a table from `reader`; `source_name` (a path or a description)
    /// appears in error messages.
    ///
    /// # Errors
    /// - [`Error::InvalidParameter`] for inconsistent options (zero
    ///   `max_line_bytes`, `"` as delimiter, empty [`Header::Names`]).
    /// - [`Error::Io`] (with `source_name` as path) when reading fails.
    /// - [`Error::Parse`] naming the line for invalid UTF-8, a line longer than
    ///   `max_line_bytes`, an unterminated quoted field, text after a closing
    ///   quote, or a row whose cell count differs from the first record's.
    /// - [`Error::Empty`] naming the source when there is no data row.
    pub fn from_reader<R: BufRead>(
        reader: R,
        source_name: &str,
        opts: &TableOptions,
    ) -> Result<Table> {
        opts.validate()?;
        let mut lines = Lines {
            reader,
            source: source_name,
            max: opts.max_line_bytes,
            line_no: 0,
            buf: Vec::new(),
            pending: VecDeque::new(),
        };
        for _ in 0..opts.skip_lines {
            if !lines.skip_physical()? {
                break;
            }
        }
        let prefix = opts.comment_prefix.as_str();
        let is_content = |l: &str| {
            !l.trim().is_empty() && (prefix.is_empty() || !l.trim_start().starts_with(prefix))
        };

        let split = match opts.delimiter {
            Delimiter::Whitespace => Split::Whitespace,
            Delimiter::Comma => Split::Char(','),
            Delimiter::Char(c) => Split::Char(c),
            Delimiter::Auto => {
                let want = match opts.header {
                    Header::Auto | Header::Present => 2,
                    Header::Absent | Header::Names(_) => 1,
                };
                // Indexes into `lines.pending` of the first `want` content lines.
                let mut content: Vec<usize> = Vec::with_capacity(want);
                while content.len() < want {
                    let Some(line) = lines.read_physical()? else {
                        break;
                    };
                    if is_content(&line.1) {
                        content.push(lines.pending.len());
                    }
                    lines.pending.push_back(line);
                }
                let text = |k: usize| {
                    content
                        .get(k)
                        .and_then(|&i| lines.pending.get(i))
                        .map_or("", |(_, l)| l.as_str())
                };
                let comma = if content.len() >= 2 {
                    // The second line may continue a quoted field of the first.
                    text(1).contains(',') || (text(1).contains('"') && text(0).contains(','))
                } else {
                    text(0).contains(',')
                };
                if comma {
                    Split::Char(',')
                } else {
                    Split::Whitespace
                }
            }
        };
        let strip = !prefix.is_empty()
            && opts
                .strip_trailing_comments
                .unwrap_or(split == Split::Whitespace);
        let comment = strip.then_some(prefix);

        let mut builder = Builder::new(source_name, &opts.header);
        let mut cells: Vec<String> = Vec::new();
        while let Some((line_no, line)) = lines.next()? {
            if !is_content(&line) {
                continue;
            }
            let mut record = line;
            match split {
                Split::Whitespace => {
                    let data = match comment.and_then(|p| record.find(p)) {
                        Some(i) => &record[..i],
                        None => record.as_str(),
                    };
                    cells.clear();
                    cells.extend(data.split_whitespace().map(str::to_string));
                    if cells.is_empty() {
                        continue;
                    }
                }
                Split::Char(delim) => loop {
                    match split_delimited(&record, delim, opts.trim, comment, &mut cells) {
                        Ok(Fields::Complete) => break,
                        Ok(Fields::OpenQuote) => {
                            let Some((_, more)) = lines.next()? else {
                                return Err(Error::parse(
                                    Location::new(source_name, line_no),
                                    &record,
                                    "quoted field opened on this line is never closed",
                                ));
                            };
                            if record.len() + 1 + more.len() > opts.max_line_bytes {
                                return Err(Error::parse(
                                    Location::new(source_name, line_no),
                                    &record,
                                    format!(
                                        "record with a multi-line quoted field is longer than \
                                         max_line_bytes = {}",
                                        opts.max_line_bytes
                                    ),
                                ));
                            }
                            record.push('\n');
                            record.push_str(&more);
                        }
                        Err(reason) => {
                            return Err(Error::parse(
                                Location::new(source_name, line_no),
                                &record,
                                reason,
                            ))
                        }
                    }
                },
            }
            builder.record(line_no, &mut cells, &record)?;
        }
        builder.finish()
    }

    /// The source name given when reading (file path or description).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Number of data rows (the header is not a row).
    pub fn n_rows(&self) -> usize {
        self.lines.len()
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// The column names, when the table has a header or was given names.
    pub fn column_names(&self) -> Option<&[String]> {
        self.names.as_deref()
    }

    /// The 1-based source line of the header, when one was read.
    pub fn header_line(&self) -> Option<usize> {
        self.header_line
    }

    /// The 1-based source line of data row `row`, or `None` past the end.
    pub fn line_of(&self, row: usize) -> Option<usize> {
        self.lines.get(row).copied()
    }

    /// The cell at data row `row` and 0-based column `col`, or `None` outside
    /// the table.
    pub fn cell(&self, row: usize, col: usize) -> Option<&str> {
        if col >= self.n_cols {
            return None;
        }
        let k = row.checked_mul(self.n_cols)?.checked_add(col)?;
        self.cells.get(k).map(String::as_str)
    }

    /// The cells of data row `row`, or `None` past the end.
    pub fn row_cells(&self, row: usize) -> Option<&[String]> {
        let start = row.checked_mul(self.n_cols)?;
        self.cells.get(start..start.checked_add(self.n_cols)?)
    }

    /// A view of data row `row`, or `None` past the end.
    pub fn row(&self, row: usize) -> Option<Row<'_>> {
        (row < self.n_rows()).then_some(Row { table: self, row })
    }

    /// The data rows in order, as [`Row`] views for typed access.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = Row<'_>> + DoubleEndedIterator {
        (0..self.n_rows()).map(move |row| Row { table: self, row })
    }

    /// The 0-based index of a column.
    ///
    /// A name matches exactly (case-sensitive) if it can, otherwise it must
    /// match exactly one column ignoring ASCII/Unicode case.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an index `>= n_cols()`, an unknown or
    /// ambiguous name (the message lists the available names), or a name when
    /// the table has no header.
    pub fn column_index<'c>(&self, col: impl Into<ColumnRef<'c>>) -> Result<usize> {
        match col.into() {
            ColumnRef::Index(i) if i < self.n_cols => Ok(i),
            ColumnRef::Index(i) => Err(Error::invalid_param(
                "column index",
                i,
                format!(
                    "< {} (table '{}' has {} columns)",
                    self.n_cols, self.source, self.n_cols
                ),
            )),
            ColumnRef::Name(name) => {
                let Some(names) = &self.names else {
                    return Err(Error::invalid_param(
                        "column",
                        format!("'{name}'"),
                        format!(
                            "a 0-based index below {}: table '{}' has no header, so its \
                             columns have no names",
                            self.n_cols, self.source
                        ),
                    ));
                };
                let exact: Vec<usize> = positions(names, |n| n == name);
                let found = if exact.is_empty() {
                    let lower = name.to_lowercase();
                    positions(names, |n| n.to_lowercase() == lower)
                } else {
                    exact
                };
                match found.as_slice() {
                    [i] => Ok(*i),
                    [] => Err(Error::invalid_param(
                        "column",
                        format!("'{name}'"),
                        format!(
                            "one of the columns of '{}': {}",
                            self.source,
                            list_names(names)
                        ),
                    )),
                    many => Err(Error::invalid_param(
                        "column",
                        format!("'{name}'"),
                        format!(
                            "a name matching one column of '{}', but it matches columns {:?}; \
                             use an index",
                            self.source, many
                        ),
                    )),
                }
            }
        }
    }

    /// A column as finite `f64` values.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an unknown column (see
    /// [`Table::column_index`]); [`Error::Parse`] naming file, line, column and
    /// text for the first cell that is "not a number" or "not finite".
    pub fn column_f64<'c>(&self, col: impl Into<ColumnRef<'c>>) -> Result<Vec<f64>> {
        self.map_column(col.into(), |s| parse_number(s, true))
    }

    /// A column as `f64` values, accepting `NaN` and `±inf`.
    ///
    /// # Errors
    /// As [`Table::column_f64`], except that non-finite values are accepted.
    pub fn column_f64_allow_nonfinite<'c>(
        &self,
        col: impl Into<ColumnRef<'c>>,
    ) -> Result<Vec<f64>> {
        self.map_column(col.into(), |s| parse_number(s, false))
    }

    /// A column of counts: non-negative integers, also written as integral
    /// floats (`12.0`, `1e3`). Integers without a decimal point or exponent are
    /// converted exactly; integral floats via their `f64` value.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an unknown column; [`Error::Parse`]
    /// naming file, line, column and text for a cell that is not a number, is
    /// negative ("counts must be >= 0"), is not an integer, or exceeds
    /// `u64::MAX`.
    pub fn column_u64<'c>(&self, col: impl Into<ColumnRef<'c>>) -> Result<Vec<u64>> {
        self.map_column(col.into(), parse_count)
    }

    /// A column as string slices.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an unknown column.
    pub fn column_str<'c>(&self, col: impl Into<ColumnRef<'c>>) -> Result<Vec<&str>> {
        let j = self.column_index(col)?;
        Ok(self
            .cells
            .iter()
            .skip(j)
            .step_by(self.n_cols)
            .map(String::as_str)
            .collect())
    }

    /// The name of column `j` if it has one, else its index, for messages.
    fn column_label(&self, j: usize) -> String {
        self.names
            .as_ref()
            .and_then(|n| n.get(j))
            .cloned()
            .unwrap_or_else(|| j.to_string())
    }

    fn location(&self, row: usize, j: usize) -> Location {
        Location::new(&self.source, self.lines.get(row).copied().unwrap_or(0))
            .with_column(self.column_label(j))
    }

    fn map_column<T>(
        &self,
        col: ColumnRef<'_>,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<Vec<T>> {
        let j = self.column_index(col)?;
        self.cells
            .iter()
            .skip(j)
            .step_by(self.n_cols)
            .enumerate()
            .map(|(row, text)| {
                parse(text).map_err(|reason| Error::parse(self.location(row, j), text, reason))
            })
            .collect()
    }
}

/// A view of one data row of a [`Table`], for row-wise typed access whose
/// errors name the row's source line.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    table: &'a Table,
    row: usize,
}

impl<'a> Row<'a> {
    /// The 0-based index of this row among the data rows.
    pub fn index(&self) -> usize {
        self.row
    }

    /// The 1-based source line of this row.
    pub fn line(&self) -> usize {
        self.table.lines.get(self.row).copied().unwrap_or(0)
    }

    /// All cells of this row.
    pub fn cells(&self) -> &'a [String] {
        self.table.row_cells(self.row).unwrap_or(&[])
    }

    /// The cell in column `col`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an unknown column.
    pub fn get<'c>(&self, col: impl Into<ColumnRef<'c>>) -> Result<&'a str> {
        let j = self.table.column_index(col)?;
        Ok(self.text(j))
    }

    /// The cell in column `col` as a finite `f64`.
    ///
    /// # Errors
    /// As [`Table::column_f64`], for this row.
    pub fn get_f64<'c>(&self, col: impl Into<ColumnRef<'c>>) -> Result<f64> {
        self.typed(col.into(), |s| parse_number(s, true))
    }

    /// The cell in column `col` as an `f64`, accepting `NaN` and `±inf`.
    ///
    /// # Errors
    /// As [`Table::column_f64_allow_nonfinite`], for this row.
    pub fn get_f64_allow_nonfinite<'c>(&self, col: impl Into<ColumnRef<'c>>) -> Result<f64> {
        self.typed(col.into(), |s| parse_number(s, false))
    }

    /// The cell in column `col` as a count.
    ///
    /// # Errors
    /// As [`Table::column_u64`], for this row.
    pub fn get_u64<'c>(&self, col: impl Into<ColumnRef<'c>>) -> Result<u64> {
        self.typed(col.into(), parse_count)
    }

    fn text(&self, j: usize) -> &'a str {
        self.table.cell(self.row, j).unwrap_or("")
    }

    fn typed<T>(
        &self,
        col: ColumnRef<'_>,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<T> {
        let j = self.table.column_index(col)?;
        let text = self.text(j);
        parse(text).map_err(|reason| Error::parse(self.table.location(self.row, j), text, reason))
    }
}

/// Parses `text` (surrounding whitespace ignored) as a finite `f64`, with
/// errors located at `location`; for parsers outside this module.
///
/// Accepts Rust's float grammar and Fortran's `D` exponent (`1.5D-3`).
///
/// # Errors
/// [`Error::Parse`] at `location` with reason "not a number" or "not finite".
///
/// ```
/// use darkprobe_core::{table::parse_f64_at, Location};
/// let at = Location::new("spectrum.dat", 12).with_column("dN/dE");
/// assert_eq!(parse_f64_at(" 2.5e-3 ", &at)?, 2.5e-3);
/// assert_eq!(parse_f64_at("1.0D+02", &at)?, 100.0);
/// assert!(parse_f64_at("inf", &at).unwrap_err().to_string().contains("not finite"));
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn parse_f64_at(text: &str, location: &Location) -> Result<f64> {
    parse_number(text, true).map_err(|reason| Error::parse(location.clone(), text, reason))
}

/// Reads a whole text file with the same guarantees as [`Table::read`]: no
/// line longer than `max_line_bytes` is held in memory (the error names the
/// line as soon as the limit is passed), invalid UTF-8 is an error naming the
/// line and byte, a UTF-8 byte order mark on line 1 is dropped, and lines are
/// returned joined by `\n` (a `\r` before a `\n` is dropped). For parsers that
/// need the raw text (headers, free-form layouts) of files a user supplies.
///
/// ```
/// use darkprobe_core::table::read_text;
/// let dir = std::env::temp_dir().join(format!("dp-read-text-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).map_err(|e| darkprobe_core::Error::io(&dir, e))?;
/// let p = dir.join("t.dat");
/// std::fs::write(&p, b"a b\r\nc d\n").map_err(|e| darkprobe_core::Error::io(&p, e))?;
/// assert_eq!(read_text(&p, 1024)?, "a b\nc d\n");
/// std::fs::write(&p, b"ok\n\xff\n").map_err(|e| darkprobe_core::Error::io(&p, e))?;
/// assert!(read_text(&p, 1024).unwrap_err().to_string().contains("line 2"));
/// std::fs::write(&p, "x".repeat(100)).map_err(|e| darkprobe_core::Error::io(&p, e))?;
/// assert!(read_text(&p, 10).unwrap_err().to_string().contains("line 1"));
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`] naming the path; [`Error::Parse`] naming the line for a line
/// that is too long or not UTF-8; [`Error::InvalidParameter`] for a zero limit.
pub fn read_text(path: impl AsRef<Path>, max_line_bytes: usize) -> Result<String> {
    let path = path.as_ref();
    if max_line_bytes == 0 {
        return Err(Error::invalid_param("max_line_bytes", 0, ">= 1"));
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let source = path.display().to_string();
    let mut lines = Lines {
        reader: BufReader::with_capacity(64 * 1024, file),
        source: &source,
        max: max_line_bytes,
        line_no: 0,
        buf: Vec::new(),
        pending: VecDeque::new(),
    };
    let mut text = String::new();
    while let Some((_, line)) = lines.next()? {
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text)
}

/// The default limit on the size of a whole file read at once (JSON model
/// files, checkpoints): 256 MiB.
///
/// Tables and spectra are read line by line and bounded per line by
/// [`DEFAULT_MAX_LINE_BYTES`]; a JSON model is parsed as a whole, so its bound
/// is on the file. The largest model darkprobe writes is a few MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Reads a whole file into memory, refusing a file larger than `max_bytes`
/// before anything is read (the size comes from the file's metadata; reading
/// also stops after `max_bytes + 1` bytes, for files that grow or report no
/// size). For formats parsed as a whole, such as JSON model files; tables are
/// read with [`Table::read`] or [`read_text`].
///
/// ```
/// use darkprobe_core::table::read_file_limited;
/// let p = std::env::temp_dir().join(format!("dp-limited-{}.json", std::process::id()));
/// std::fs::write(&p, b"{\"a\": 1}").map_err(|e| darkprobe_core::Error::io(&p, e))?;
/// assert_eq!(read_file_limited(&p, 100)?.len(), 8);
/// let e = read_file_limited(&p, 4).unwrap_err().to_string();
/// assert!(e.contains("8 bytes") && e.contains("limit of 4 bytes"));
/// # std::fs::remove_file(&p).ok();
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`] naming the path; [`Error::Parse`] naming the file and its
/// size when it is larger than `max_bytes`; [`Error::InvalidParameter`] for a
/// zero limit.
pub fn read_file_limited(path: impl AsRef<Path>, max_bytes: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let path = path.as_ref();
    if max_bytes == 0 {
        return Err(Error::invalid_param("max_bytes", 0, ">= 1"));
    }
    let too_large = |size: u64, exact: bool| {
        Error::parse(
            Location::new(path.display().to_string(), 0),
            &size.to_string(),
            format!(
                "the file is {}{size} bytes, larger than the limit of {max_bytes} bytes for a \
                 file read whole",
                if exact { "" } else { "at least " }
            ),
        )
    };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if size > max_bytes {
        return Err(too_large(size, true));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(bytes.len() as u64, false));
    }
    Ok(bytes)
}

/// Reads a whole UTF-8 text file with the size bound of
/// [`read_file_limited`]; invalid UTF-8 is an error naming the line and the
/// byte offset.
///
/// ```
/// use darkprobe_core::table::read_to_string_limited;
/// let p = std::env::temp_dir().join(format!("dp-limited-s-{}.json", std::process::id()));
/// std::fs::write(&p, b"{}\n\xff").map_err(|e| darkprobe_core::Error::io(&p, e))?;
/// let e = read_to_string_limited(&p, 100).unwrap_err().to_string();
/// assert!(e.contains("line 2") && e.contains("byte 3"));
/// # std::fs::remove_file(&p).ok();
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
///
/// # Errors
/// As [`read_file_limited`], and [`Error::Parse`] for invalid UTF-8.
pub fn read_to_string_limited(path: impl AsRef<Path>, max_bytes: u64) -> Result<String> {
    let path = path.as_ref();
    let bytes = read_file_limited(path, max_bytes)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        let start = bytes[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        Error::parse(
            Location::new(path.display().to_string(), line),
            &String::from_utf8_lossy(&bytes[start..at.saturating_add(1).min(bytes.len())]),
            format!("invalid UTF-8 at byte {at} of the file"),
        )
    })
}

/// Parses a number; `None` when `text` is not one.
fn number(text: &str) -> Option<f64> {
    let t = text.trim();
    if let Ok(v) = t.parse::<f64>() {
        return Some(v);
    }
    // Fortran writes exponents with D (1.0D+03); no valid Rust float
    // contains a 'd', so the substitution cannot change a valid number.
    if t.contains(['d', 'D']) {
        t.replace(['d', 'D'], "e").parse().ok()
    } else {
        None
    }
}

fn parse_number(text: &str, finite: bool) -> std::result::Result<f64, String> {
    match number(text) {
        None => Err("not a number".to_string()),
        Some(v) if finite && !v.is_finite() => {
            Err("not finite (a finite number is required)".to_string())
        }
        Some(v) => Ok(v),
    }
}

fn parse_count(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    let v = number(t).ok_or_else(|| "not a number (expected a count)".to_string())?;
    if v.is_nan() {
        Err("not a number (expected a count)".to_string())
    } else if v < 0.0 {
        Err("negative count: counts must be >= 0".to_string())
    } else if v.is_infinite() {
        Err("not finite (expected a count)".to_string())
    } else if v.fract() != 0.0 {
        Err("not an integer (expected a count)".to_string())
    } else if v >= 18_446_744_073_709_551_616.0 {
        Err(format!("count too large (maximum {})", u64::MAX))
    } else {
        // Integral and in [0, 2^64): the conversion is exact.
        Ok(v as u64)
    }
}

fn positions(names: &[String], pred: impl Fn(&str) -> bool) -> Vec<usize> {
    names
        .iter()
        .enumerate()
        .filter(|(_, n)| pred(n))
        .map(|(i, _)| i)
        .collect()
}

/// The names as `'a', 'b', ...`, at most 30 of them.
fn list_names(names: &[String]) -> String {
    const MAX: usize = 30;
    let mut out: Vec<String> = names.iter().take(MAX).map(|n| format!("'{n}'")).collect();
    if names.len() > MAX {
        out.push(format!("... ({} columns)", names.len()));
    }
    out.join(", ")
}

/// The resolved way of splitting a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    Whitespace,
    Char(char),
}

/// Physical lines from a reader, with bounded memory and a push-back queue.
struct Lines<'s, R> {
    reader: R,
    source: &'s str,
    max: usize,
    line_no: usize,
    buf: Vec<u8>,
    pending: VecDeque<(usize, String)>,
}

impl<R: BufRead> Lines<'_, R> {
    fn next(&mut self) -> Result<Option<(usize, String)>> {
        match self.pending.pop_front() {
            Some(line) => Ok(Some(line)),
            None => self.read_physical(),
        }
    }

    /// Discards one line; false at end of input.
    fn skip_physical(&mut self) -> Result<bool> {
        let mut got_any = false;
        loop {
            let chunk = fill(&mut self.reader, self.source)?;
            if chunk.is_empty() {
                break;
            }
            got_any = true;
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.reader.consume(i + 1);
                    break;
                }
                None => {
                    let n = chunk.len();
                    self.reader.consume(n);
                }
            }
        }
        if got_any {
            self.line_no += 1;
        }
        Ok(got_any)
    }

    /// Reads one line, without its terminator, as UTF-8; `None` at end of input.
    fn read_physical(&mut self) -> Result<Option<(usize, String)>> {
        self.buf.clear();
        let mut got_any = false;
        // The line may hold max + 1 bytes while reading, to allow for a '\r'.
        let cap = self.max.saturating_add(1);
        loop {
            let chunk = fill(&mut self.reader, self.source)?;
            if chunk.is_empty() {
                break;
            }
            got_any = true;
            let (take, newline) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if self.buf.len() + take > cap {
                let mut preview = self.buf.clone();
                preview.extend(chunk.iter().take(take.min(100)));
                return Err(too_long(self.source, self.line_no + 1, &preview, self.max));
            }
            let chunk = &chunk[..take];
            self.buf.extend_from_slice(chunk);
            self.reader.consume(take + usize::from(newline));
            if newline {
                break;
            }
        }
        if !got_any {
            return Ok(None);
        }
        self.line_no += 1;
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.buf.len() > self.max {
            return Err(too_long(self.source, self.line_no, &self.buf, self.max));
        }
        let mut bytes = self.buf.as_slice();
        if self.line_no == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some((self.line_no, s.to_string()))),
            Err(e) => {
                let at = e.valid_up_to();
                let byte = bytes.get(at).copied().unwrap_or(0);
                Err(Error::parse(
                    Location::new(self.source, self.line_no),
                    &String::from_utf8_lossy(bytes),
                    format!(
                        "invalid UTF-8: byte 0x{byte:02X} at byte {} of the line",
                        at + 1
                    ),
                ))
            }
        }
    }
}

/// The reader's buffered bytes, refilled if empty; empty at end of input.
fn fill<'r, R: BufRead>(reader: &'r mut R, source: &str) -> Result<&'r [u8]> {
    loop {
        match reader.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(source, e)),
        }
    }
    // The data is buffered now, so this second call does not read again; it
    // exists because a borrow returned from inside the loop would outlive it.
    reader.fill_buf().map_err(|e| Error::io(source, e))
}

fn too_long(source: &str, line: usize, head: &[u8], max: usize) -> Error {
    let head = &head[..head.len().min(100)];
    Error::parse(
        Location::new(source, line),
        &String::from_utf8_lossy(head),
        format!("line is longer than max_line_bytes = {max}"),
    )
}

/// The outcome of splitting a delimited record.
enum Fields {
    Complete,
    /// The record ends inside a quoted field: it continues on the next line.
    OpenQuote,
}

/// Splits one delimited record into `out`; `Err` holds a reason.
fn split_delimited(
    text: &str,
    delim: char,
    trim: bool,
    comment: Option<&str>,
    out: &mut Vec<String>,
) -> std::result::Result<Fields, String> {
    let blank = |c: char| c.is_whitespace() && c != delim;
    let trim_start = |s: &'_ str| -> usize {
        if trim {
            s.len() - s.trim_start_matches(blank).len()
        } else {
            0
        }
    };
    out.clear();
    let mut rest = text;
    loop {
        let field = &rest[trim_start(rest)..];
        if let Some(quoted) = field.strip_prefix('"') {
            let mut value = String::new();
            let mut s = quoted;
            loop {
                let Some(i) = s.find('"') else {
                    return Ok(Fields::OpenQuote);
                };
                value.push_str(&s[..i]);
                s = &s[i + 1..];
                match s.strip_prefix('"') {
                    Some(after) => {
                        value.push('"');
                        s = after;
                    }
                    None => break,
                }
            }
            out.push(value);
            let s = &s[trim_start(s)..];
            if s.is_empty() || comment.is_some_and(|p| s.starts_with(p)) {
                return Ok(Fields::Complete);
            }
            match s.strip_prefix(delim) {
                Some(after) => rest = after,
                None => {
                    return Err(format!(
                        "unexpected text after the closing quote of field {} \
                         (a quoted field must be followed by '{delim}' or the line end)",
                        out.len()
                    ))
                }
            }
        } else {
            let end_delim = field.find(delim);
            let end_comment = comment.and_then(|p| field.find(p));
            let (end, last) = match (end_delim, end_comment) {
                (Some(d), Some(c)) if c < d => (c, true),
                (Some(d), _) => (d, false),
                (None, Some(c)) => (c, true),
                (None, None) => (field.len(), true),
            };
            let value = &field[..end];
            out.push(
                if trim {
                    value.trim_end_matches(blank)
                } else {
                    value
                }
                .to_string(),
            );
            if last {
                return Ok(Fields::Complete);
            }
            rest = &field[end + delim.len_utf8()..];
        }
    }
}

/// Collects records into a [`Table`], deciding on the header and checking
/// that all rows have the same number of cells.
struct Builder<'a> {
    source: &'a str,
    header: &'a Header,
    names: Option<Vec<String>>,
    header_line: Option<usize>,
    /// First record while a [`Header::Auto`] decision waits for the second.
    first: Option<(usize, Vec<String>)>,
    n_cols: Option<usize>,
    /// Where the expected cell count came from, for messages.
    width_from: String,
    cells: Vec<String>,
    lines: Vec<usize>,
    records: usize,
}

impl<'a> Builder<'a> {
    fn new(source: &'a str, header: &'a Header) -> Self {
        let (names, n_cols, width_from) = match header {
            Header::Names(n) => (
                Some(n.clone()),
                Some(n.len()),
                format!("as given by the {} column names", n.len()),
            ),
            _ => (None, None, String::new()),
        };
        Self {
            source,
            header,
            names,
            header_line: None,
            first: None,
            n_cols,
            width_from,
            cells: Vec::new(),
            lines: Vec::new(),
            records: 0,
        }
    }

    fn record(&mut self, line: usize, cells: &mut Vec<String>, raw: &str) -> Result<()> {
        self.records += 1;
        match (self.header, self.records) {
            (Header::Present, 1) => {
                self.set_header(line, std::mem::take(cells));
                Ok(())
            }
            (Header::Auto, 1) => {
                self.first = Some((line, std::mem::take(cells)));
                Ok(())
            }
            (Header::Auto, 2) => {
                if let Some((l1, first)) = self.first.take() {
                    if looks_like_header(&first, Some(cells)) {
                        self.set_header(l1, first);
                    } else {
                        self.push(l1, first, "")?;
                    }
                }
                self.push(line, std::mem::take(cells), raw)
            }
            _ => self.push(line, std::mem::take(cells), raw),
        }
    }

    fn set_header(&mut self, line: usize, names: Vec<String>) {
        self.n_cols = Some(names.len());
        self.width_from = format!("as in the header on line {line}");
        self.names = Some(names);
        self.header_line = Some(line);
    }

    fn push(&mut self, line: usize, cells: Vec<String>, raw: &str) -> Result<()> {
        match self.n_cols {
            None => {
                self.n_cols = Some(cells.len());
                self.width_from = format!("as in the first data row on line {line}");
            }
            Some(n) if n != cells.len() => {
                return Err(Error::parse(
                    Location::new(self.source, line),
                    raw,
                    format!(
                        "row has {} cells but {n} were expected ({})",
                        cells.len(),
                        self.width_from
                    ),
                ));
            }
            Some(_) => {}
        }
        self.cells.extend(cells);
        self.lines.push(line);
        Ok(())
    }

    fn finish(mut self) -> Result<Table> {
        if let Some((l1, first)) = self.first.take() {
            if looks_like_header(&first, None) {
                self.set_header(l1, first);
            } else {
                self.push(l1, first, "")?;
            }
        }
        if self.lines.is_empty() {
            let hint = match self.header_line {
                Some(h) => format!("the header on line {h} is followed by no data rows"),
                None => "no data rows found (blank and comment lines are skipped)".to_string(),
            };
            return Err(Error::empty(format!("table '{}'", self.source), hint));
        }
        Ok(Table {
            source: self.source.to_string(),
            names: self.names,
            header_line: self.header_line,
            n_cols: self.n_cols.unwrap_or(0),
            cells: self.cells,
            lines: self.lines,
        })
    }
}

/// The [`Header::Auto`] rule: see the module documentation.
fn looks_like_header(a: &[String], b: Option<&[String]>) -> bool {
    let is_text = |c: &str| !c.trim().is_empty() && number(c).is_none();
    if !a.iter().any(|c| is_text(c)) {
        return false;
    }
    match b {
        None => true,
        Some(b) => {
            a.iter()
                .filter(|c| !c.trim().is_empty())
                .all(|c| is_text(c))
                || a.iter()
                    .zip(b)
                    .any(|(x, y)| is_text(x) && number(y).is_some())
        }
    }
}

/// Formats `x` as the shortest decimal string that parses back to the same
/// bits: plain notation for `0` and $10^{-5} \le |x| < 10^{16}$, exponent
/// notation otherwise; non-finite values as `NaN`, `inf`, `-inf`.
///
/// ```
/// use darkprobe_core::table::format_f64;
/// assert_eq!(format_f64(0.1), "0.1");
/// assert_eq!(format_f64(1e-300), "1e-300");
/// assert_eq!(format_f64(6.02214076e23), "6.02214076e23");
/// assert_eq!(format_f64(-0.0), "-0");
/// ```
pub fn format_f64(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 || !x.is_finite() || (1e-5..1e16).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// One field of a mixed CSV record for [`CsvWriter::write_record`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CsvField<'a> {
    /// A number, formatted by [`format_f64`].
    F64(f64),
    /// An unsigned integer.
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// Text, quoted when needed.
    Str(&'a str),
}

impl From<f64> for CsvField<'_> {
    fn from(x: f64) -> Self {
        CsvField::F64(x)
    }
}

impl From<u64> for CsvField<'_> {
    fn from(x: u64) -> Self {
        CsvField::U64(x)
    }
}

impl From<i64> for CsvField<'_> {
    fn from(x: i64) -> Self {
        CsvField::I64(x)
    }
}

impl<'a> From<&'a str> for CsvField<'a> {
    fn from(s: &'a str) -> Self {
        CsvField::Str(s)
    }
}

/// Whether `s` must be quoted so that [`Table`] reads it back unchanged.
fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.contains([',', '"', '\n', '\r'])
        || s.starts_with('#')
        || s.starts_with(char::is_whitespace)
        || s.ends_with(char::is_whitespace)
}

fn push_str_field(out: &mut String, s: &str) {
    if needs_quotes(s) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Distinguishes temporary files of writers in the same process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A CSV writer that never leaves a partial file behind.
///
/// Rows go to a temporary file `.<name>.tmp-<pid>-<n>` in the target's
/// directory; [`CsvWriter::finish`] flushes, syncs and renames it onto the
/// target. Dropping the writer without `finish` (for instance after an error
/// with `?`) removes the temporary file and leaves any existing target alone.
///
/// ```
/// use darkprobe_core::table::{CsvField, CsvWriter, Table, TableOptions};
/// let path = std::env::temp_dir().join(format!("darkprobe-doc-{}.csv", std::process::id()));
/// let mut w = CsvWriter::create(&path, &["name", "mass_gev", "n"])?;
/// w.write_record(&[CsvField::Str("wimp, heavy"), CsvField::F64(1e4), CsvField::U64(3)])?;
/// w.finish()?;
/// let t = Table::read(&path, &TableOptions::default())?;
/// assert_eq!(t.cell(0, 0), Some("wimp, heavy"));
/// assert_eq!(t.column_f64("mass_gev")?, vec![1e4]);
/// std::fs::remove_file(&path).ok();
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
#[derive(Debug)]
pub struct CsvWriter {
    path: PathBuf,
    tmp_path: PathBuf,
    out: Option<BufWriter<File>>,
    n_cols: usize,
    rows: usize,
    failed: bool,
    line: String,
}

impl CsvWriter {
    /// Starts writing a CSV file at `path` with the given header.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an empty header or a path without a
    /// file name; [`Error::Io`] naming the temporary file when it cannot be
    /// created or the header cannot be written.
    pub fn create(path: impl AsRef<Path>, header: &[&str]) -> Result<Self> {
        let path = path.as_ref();
        if header.is_empty() {
            return Err(Error::invalid_param(
                "header",
                "[]",
                "at least one column name",
            ));
        }
        let Some(name) = path.file_name() else {
            return Err(Error::invalid_param(
                "path",
                path.display(),
                "a path ending in a file name",
            ));
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let pid = std::process::id();
        let (file, tmp_path) = loop {
            let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let mut tmp_name = std::ffi::OsString::from(".");
            tmp_name.push(name);
            tmp_name.push(format!(".tmp-{pid}-{n}"));
            let tmp = dir.join(tmp_name);
            match File::options().write(true).create_new(true).open(&tmp) {
                Ok(f) => break (f, tmp),
                // A stale file from an earlier process with the same id.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(tmp, e)),
            }
        };
        let mut writer = CsvWriter {
            path: path.to_path_buf(),
            tmp_path,
            out: Some(BufWriter::with_capacity(64 * 1024, file)),
            n_cols: header.len(),
            rows: 0,
            failed: false,
            line: String::new(),
        };
        writer.line.clear();
        for (k, h) in header.iter().enumerate() {
            if k > 0 {
                writer.line.push(',');
            }
            push_str_field(&mut writer.line, h);
        }
        writer.emit()?;
        Ok(writer)
    }

    /// The target path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of data rows written so far.
    pub fn rows_written(&self) -> usize {
        self.rows
    }

    /// Writes a row of numbers (see [`format_f64`]; non-finite values are
    /// written as `NaN`, `inf`, `-inf`).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `row.len()` differs from the header
    /// length (nothing is written); [`Error::Io`] when writing fails.
    pub fn write_row_f64(&mut self, row: &[f64]) -> Result<()> {
        self.check_len(row.len())?;
        self.line.clear();
        for (k, &x) in row.iter().enumerate() {
            if k > 0 {
                self.line.push(',');
            }
            self.line.push_str(&format_f64(x));
        }
        self.emit_row()
    }

    /// Writes a row of strings, quoting where needed.
    ///
    /// # Errors
    /// As [`CsvWriter::write_row_f64`].
    pub fn write_row_str(&mut self, row: &[&str]) -> Result<()> {
        self.check_len(row.len())?;
        self.line.clear();
        for (k, s) in row.iter().enumerate() {
            if k > 0 {
                self.line.push(',');
            }
            push_str_field(&mut self.line, s);
        }
        self.emit_row()
    }

    /// Writes a row of mixed fields.
    ///
    /// # Errors
    /// As [`CsvWriter::write_row_f64`].
    pub fn write_record(&mut self, row: &[CsvField<'_>]) -> Result<()> {
        self.check_len(row.len())?;
        self.line.clear();
        for (k, field) in row.iter().enumerate() {
            if k > 0 {
                self.line.push(',');
            }
            match *field {
                CsvField::F64(x) => self.line.push_str(&format_f64(x)),
                CsvField::U64(n) => self.line.push_str(&n.to_string()),
                CsvField::I64(n) => self.line.push_str(&n.to_string()),
                CsvField::Str(s) => push_str_field(&mut self.line, s),
            }
        }
        self.emit_row()
    }

    /// Flushes, syncs and renames the temporary file onto the target path.
    ///
    /// # Errors
    /// [`Error::Io`] when an earlier write failed (the target is then not
    /// created), or when flushing, syncing or renaming fails; the temporary
    /// file is removed in every error case.
    pub fn finish(mut self) -> Result<()> {
        let Some(out) = self.out.take() else {
            return Err(self.earlier_failure());
        };
        if self.failed {
            self.out = Some(out);
            return Err(self.earlier_failure());
        }
        let file = out
            .into_inner()
            .map_err(|e| Error::io(&self.tmp_path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.tmp_path, e))?;
        drop(file);
        std::fs::rename(&self.tmp_path, &self.path).map_err(|e| Error::io(&self.path, e))?;
        // Renamed: nothing left for Drop to remove.
        self.tmp_path = PathBuf::new();
        Ok(())
    }

    fn earlier_failure(&self) -> Error {
        Error::io(
            &self.tmp_path,
            std::io::Error::other("an earlier write failed; the output file was not created"),
        )
    }

    fn check_len(&self, found: usize) -> Result<()> {
        if found == self.n_cols {
            Ok(())
        } else {
            Err(Error::shape(
                format!("row {} written to '{}'", self.rows + 1, self.path.display()),
                format!("{} fields (as in the header)", self.n_cols),
                format!("{found} fields"),
            ))
        }
    }

    fn emit_row(&mut self) -> Result<()> {
        self.emit()?;
        self.rows += 1;
        Ok(())
    }

    /// Writes `self.line` and a newline.
    fn emit(&mut self) -> Result<()> {
        if self.failed {
            return Err(self.earlier_failure());
        }
        let Some(out) = self.out.as_mut() else {
            return Err(self.earlier_failure());
        };
        self.line.push('\n');
        if let Err(e) = out.write_all(self.line.as_bytes()) {
            self.failed = true;
            return Err(Error::io(&self.tmp_path, e));
        }
        Ok(())
    }
}

impl Drop for CsvWriter {
    fn drop(&mut self) {
        if let Some(out) = self.out.take() {
            // Discard buffered data instead of flushing it into a file that
            // is about to be deleted.
            let (file, _unwritten) = out.into_parts();
            drop(file);
        }
        if !self.tmp_path.as_os_str().is_empty() {
            // Best effort: a failure here cannot be reported from Drop.
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}

/// Writes named columns of equal length as a CSV file, atomically.
///
/// # Errors
/// [`Error::InvalidParameter`] when `columns` is empty; [`Error::ShapeMismatch`]
/// when the columns differ in length; [`Error::Io`] as for [`CsvWriter`].
///
/// ```
/// use darkprobe_core::table::{write_csv_columns, Table, TableOptions};
/// let path = std::env::temp_dir().join(format!("darkprobe-cols-{}.csv", std::process::id()));
/// write_csv_columns(&path, &[("m", &[10.0, 100.0]), ("sigma_v", &[3e-26, 2.5e-25])])?;
/// let t = Table::read(&path, &TableOptions::default())?;
/// assert_eq!(t.column_f64("sigma_v")?, vec![3e-26, 2.5e-25]);
/// std::fs::remove_file(&path).ok();
/// # Ok::<(), darkprobe_core::Error>(())
/// ```
pub fn write_csv_columns(path: impl AsRef<Path>, columns: &[(&str, &[f64])]) -> Result<()> {
    let Some((_, first)) = columns.first() else {
        return Err(Error::invalid_param("columns", "[]", "at least one column"));
    };
    let n = first.len();
    if let Some((name, col)) = columns.iter().find(|(_, c)| c.len() != n) {
        return Err(Error::shape(
            format!("column '{name}' for '{}'", path.as_ref().display()),
            format!("{n} values (as in the first column)"),
            format!("{} values", col.len()),
        ));
    }
    let header: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let mut w = CsvWriter::create(path, &header)?;
    let mut row = vec![0.0; columns.len()];
    for i in 0..n {
        for (slot, (_, col)) in row.iter_mut().zip(columns) {
            *slot = col.get(i).copied().unwrap_or(f64::NAN);
        }
        w.write_row_f64(&row)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use proptest::prelude::*;
    use std::cell::Cell;
    use std::io::Read;
    use std::rc::Rc;

    fn opts() -> TableOptions {
        TableOptions::default()
    }

    fn parse(text: &str) -> Result<Table> {
        Table::parse_str(text, "test.dat", &opts())
    }

    /// A directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("darkprobe-table-{}-{tag}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }

        fn entries(&self) -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(&self.0)
                .expect("read temp dir")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const DWARFS: &str = "\
#### MLFermiDwarfs-style J-factor table
#### columns: name  l[deg]  b[deg]  log10J  sigma
Draco        86.37   34.72  18.83  0.12
UrsaMinor   104.97   44.80  18.93  0.19

#### classical dwarfs end here
Segue1      220.48   50.43  19.36  0.35
";

    #[test]
    fn mlfermi_dwarfs_style_table() {
        let t = Table::parse_str(DWARFS, "dwarfs.dat", &opts()).unwrap();
        assert_eq!(t.n_rows(), 3);
        assert_eq!(t.n_cols(), 5);
        assert!(t.column_names().is_none());
        assert_eq!(t.header_line(), None);
        assert_eq!(t.column_str(0).unwrap(), ["Draco", "UrsaMinor", "Segue1"]);
        assert_eq!(t.column_f64(3).unwrap(), [18.83, 18.93, 19.36]);
        assert_eq!(t.column_f64(1).unwrap(), [86.37, 104.97, 220.48]);
        assert_eq!(
            (0..3).map(|r| t.line_of(r).unwrap()).collect::<Vec<_>>(),
            [3, 4, 7]
        );
        assert_eq!(t.line_of(3), None);
        assert_eq!(t.cell(2, 4), Some("0.35"));
        assert_eq!(t.cell(2, 5), None);
        assert_eq!(t.cell(3, 0), None);
        // Column 0 holds names: asking for it as numbers names the line.
        let e = t.column_f64(0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dwarfs.dat, line 3, column '0': not a number (found 'Draco')"
        );
    }

    #[test]
    fn csv_with_header_and_quoted_fields() {
        let text = "name,RA,Dec,comment\n\
                    \"Draco, dSph\",260.05,57.92,\"said \"\"hi\"\"\"\n\
                    UMi , 227.28 , 67.22 ,  plain  \n\
                    \"multi\nline\",1,2,\"\"\n";
        let t = Table::parse_str(text, "cat.csv", &opts()).unwrap();
        assert_eq!(t.column_names().unwrap(), ["name", "RA", "Dec", "comment"]);
        assert_eq!(t.header_line(), Some(1));
        assert_eq!(t.n_rows(), 3);
        assert_eq!(
            t.column_str("name").unwrap(),
            ["Draco, dSph", "UMi", "multi\nline"]
        );
        assert_eq!(
            t.column_str("comment").unwrap(),
            ["said \"hi\"", "plain", ""]
        );
        // Case-insensitive lookup when there is no exact match.
        assert_eq!(t.column_f64("ra").unwrap(), [260.05, 227.28, 1.0]);
        assert_eq!(t.column_f64("DEC").unwrap(), [57.92, 67.22, 2.0]);
        // The multi-line record is attributed to the line it starts on.
        assert_eq!(t.line_of(2), Some(4));
    }

    #[test]
    fn untrimmed_cells_keep_spaces() {
        let o = opts().with_trim(false).with_header(Header::Absent);
        let t = Table::parse_str("a , b\n", "x", &o).unwrap();
        assert_eq!(t.row_cells(0).unwrap(), ["a ", " b"]);
    }

    #[test]
    fn pppc_style_header_with_commas_in_names_stays_whitespace() {
        let text = "mDM      Log[10,x]   eL         b          W\n\
                    5        -8.9        1.2e-3     4.0e-2     0\n\
                    5        -8.85       1.3e-3     4.1e-2     0\n";
        let t = Table::parse_str(text, "AtProduction_gammas.dat", &opts()).unwrap();
        assert_eq!(t.n_cols(), 5);
        assert_eq!(t.column_index("Log[10,x]").unwrap(), 1);
        assert_eq!(t.column_f64("log[10,x]").unwrap(), [-8.9, -8.85]);
        assert_eq!(t.column_u64("W").unwrap(), [0, 0]);
    }

    #[test]
    fn ragged_row_error_names_file_line_and_counts() {
        let text = "name ra dec\nDraco 260.05 57.92\n# c\nUMi 227.28\n";
        let e = Table::parse_str(text, "dwarfs.dat", &opts()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dwarfs.dat, line 4: row has 2 cells but 3 were expected \
             (as in the header on line 1) (found 'UMi 227.28')"
        );
        let e = Table::parse_str(
            "1,2,3\n4,5\n",
            "nums.csv",
            &opts().with_header(Header::Absent),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "nums.csv, line 2: row has 2 cells but 3 were expected \
             (as in the first data row on line 1) (found '4,5')"
        );
        let o = opts().with_header(Header::Names(vec!["a".into(), "b".into()]));
        let e = Table::parse_str("1 2\n3 4 5\n", "n.dat", &o).unwrap_err();
        assert!(e
            .to_string()
            .contains("line 2: row has 3 cells but 2 were expected"));
    }

    #[test]
    fn non_numeric_cell_names_line_and_column() {
        let text = "energy flux\n1.0 2.0\n2.0 abc\n";
        let t = Table::parse_str(text, "spec.dat", &opts()).unwrap();
        let e = t.column_f64("flux").unwrap_err();
        assert_eq!(
            e.to_string(),
            "spec.dat, line 3, column 'flux': not a number (found 'abc')"
        );
        assert!(e.is_bad_input());
        let Error::Parse { location, .. } = &e else {
            panic!("wrong variant {e:?}")
        };
        assert_eq!(location.line, 3);
        // Row-wise access reports the same place.
        let row = t.rows().nth(1).unwrap();
        assert_eq!(row.line(), 3);
        assert_eq!(row.get_f64("energy").unwrap(), 2.0);
        assert_eq!(row.get_f64(1).unwrap_err().to_string(), e.to_string());
    }

    #[test]
    fn nan_and_inf_rejected_unless_allowed() {
        let text = "a b\n1 nan\n2 inf\n3 -Infinity\n";
        let t = parse(text).unwrap();
        let e = t.column_f64("b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "test.dat, line 2, column 'b': not finite (a finite number is required) \
             (found 'nan')"
        );
        let v = t.column_f64_allow_nonfinite("b").unwrap();
        assert!(v[0].is_nan());
        assert_eq!(v[1], f64::INFINITY);
        assert_eq!(v[2], f64::NEG_INFINITY);
        assert!(t.row(1).unwrap().get_f64("b").is_err());
        assert_eq!(
            t.row(2).unwrap().get_f64_allow_nonfinite("b").unwrap(),
            f64::NEG_INFINITY
        );
        // Overflow to infinity is also rejected.
        let t = parse("1e400\n").unwrap();
        assert!(t
            .column_f64(0)
            .unwrap_err()
            .to_string()
            .contains("not finite"));
    }

    #[test]
    fn counts_accept_integers_and_reject_negatives() {
        let t = parse("n\n12\n12.0\n1e3\n+4\n18446744073709551615\n-0\n").unwrap();
        assert_eq!(t.column_u64("n").unwrap(), [12, 12, 1000, 4, u64::MAX, 0]);
        let neg = parse("n\n3\n-2\n").unwrap().column_u64("n").unwrap_err();
        assert_eq!(
            neg.to_string(),
            "test.dat, line 3, column 'n': negative count: counts must be >= 0 (found '-2')"
        );
        for (bad, reason) in [
            ("1.5", "not an integer"),
            ("-0.5", "counts must be >= 0"),
            ("x", "not a number"),
            ("inf", "not finite"),
            ("nan", "not a number"),
            ("1e20", "count too large"),
        ] {
            let t = parse(&format!("n\n{bad}\n")).unwrap();
            let e = t.column_u64(0).unwrap_err().to_string();
            assert!(e.contains(reason), "{bad}: {e}");
            let r = t.row(0).unwrap().get_u64("n").unwrap_err().to_string();
            assert_eq!(r, e);
        }
    }

    #[test]
    fn empty_inputs_are_empty_errors() {
        for (text, hint) in [
            ("", "no data rows"),
            ("\n\n   \n", "no data rows"),
            ("# only\n#### comments\n", "no data rows"),
            (
                "name,ra,dec\n",
                "header on line 1 is followed by no data rows",
            ),
            (
                "# c\nmass sigma\n\n",
                "header on line 2 is followed by no data rows",
            ),
        ] {
            let e = Table::parse_str(text, "void.dat", &opts()).unwrap_err();
            assert!(
                matches!(&e, Error::Empty { what, .. } if what == "table 'void.dat'"),
                "{text:?}: {e:?}"
            );
            assert!(e.to_string().contains(hint), "{e}");
        }
        let e = Table::parse_str("a\n", "x", &opts().with_header(Header::Present)).unwrap_err();
        assert!(matches!(e, Error::Empty { .. }));
        // An empty file on disk names the path.
        let dir = TempDir::new("empty");
        let path = dir.0.join("empty.csv");
        std::fs::write(&path, b"").unwrap();
        let e = Table::read(&path, &opts()).unwrap_err();
        assert!(matches!(e, Error::Empty { .. }));
        assert!(e.to_string().contains("empty.csv"), "{e}");
    }

    #[test]
    fn non_utf8_bytes_name_the_line() {
        let bytes: &[u8] = b"a b\n1 2\n3 \xFF4\n";
        let e = Table::from_reader(bytes, "bin.dat", &opts()).unwrap_err();
        let Error::Parse {
            location, reason, ..
        } = &e
        else {
            panic!("wrong variant {e:?}")
        };
        assert_eq!(location.line, 3);
        assert_eq!(location.file, "bin.dat");
        assert_eq!(reason, "invalid UTF-8: byte 0xFF at byte 3 of the line");
        assert!(e.to_string().starts_with("bin.dat, line 3: invalid UTF-8"));
    }

    /// A reader of `x` bytes that counts how many it handed out.
    struct Counting {
        inner: std::io::Take<std::io::Repeat>,
        count: Rc<Cell<usize>>,
    }

    impl Read for Counting {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.count.set(self.count.get() + n);
            Ok(n)
        }
    }

    #[test]
    fn overlong_line_is_an_error_without_reading_it_all() {
        let count = Rc::new(Cell::new(0));
        let head = std::io::Cursor::new(b"a b\n1 2\n".to_vec());
        let body = Counting {
            inner: std::io::repeat(b'x').take(1 << 30),
            count: Rc::clone(&count),
        };
        let reader = BufReader::with_capacity(1024, head.chain(body));
        let o = opts().with_max_line_bytes(100);
        let e = Table::from_reader(reader, "huge.dat", &o).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("huge.dat, line 3: line is longer than max_line_bytes = 100"),
            "{e}"
        );
        assert!(count.get() <= 4096, "read {} bytes", count.get());
        // Exactly at the limit is fine, also with CRLF; one more byte is not.
        let line = "y".repeat(10);
        let o = opts().with_max_line_bytes(10);
        assert!(Table::parse_str(&format!("{line}\r\n{line}\n"), "f", &o).is_ok());
        let e = Table::parse_str(&format!("{line}\n{line}z\n"), "f", &o).unwrap_err();
        assert!(
            e.to_string().starts_with("f, line 2: line is longer"),
            "{e}"
        );
        let e = Table::parse_str(&format!("{line}z"), "f", &o).unwrap_err();
        assert!(
            e.to_string().starts_with("f, line 1: line is longer"),
            "{e}"
        );
    }

    #[test]
    fn crlf_and_bom_are_handled() {
        let text = "\u{feff}name,x\r\nDraco,1.5\r\n\r\n\"a\r\nb\",2\r\n";
        let t = Table::parse_str(text, "w.csv", &opts()).unwrap();
        assert_eq!(t.column_names().unwrap(), ["name", "x"]);
        assert_eq!(t.column_str(0).unwrap(), ["Draco", "a\nb"]);
        assert_eq!(t.column_f64("x").unwrap(), [1.5, 2.0]);
        let t = parse("1 2\r\n3 4\r\n").unwrap();
        assert_eq!(t.column_f64(1).unwrap(), [2.0, 4.0]);
    }

    #[test]
    fn options_skip_lines_comments_delimiters_and_names() {
        let text = "garbage line one\n\"junk\nmass;sigma\n10;1e-26 # keep?\n";
        let o = opts()
            .with_skip_lines(2)
            .with_delimiter(Delimiter::Char(';'));
        let t = Table::parse_str(text, "s", &o).unwrap();
        assert_eq!(t.column_names().unwrap(), ["mass", "sigma"]);
        // Delimiter mode keeps trailing comments by default ...
        assert_eq!(t.cell(0, 1), Some("1e-26 # keep?"));
        assert_eq!(t.line_of(0), Some(4));
        // ... unless asked to strip them.
        let t = Table::parse_str(text, "s", &o.clone().with_strip_trailing_comments(true)).unwrap();
        assert_eq!(t.column_f64("sigma").unwrap(), [1e-26]);
        // Whitespace mode strips them by default, and a custom prefix works.
        let t =
            Table::parse_str("% c\n1 2 % note\n", "p", &opts().with_comment_prefix("%")).unwrap();
        assert_eq!(t.row_cells(0).unwrap(), ["1", "2"]);
        let t = Table::parse_str(
            "1 2 # x\n",
            "p",
            &opts()
                .with_strip_trailing_comments(false)
                .with_header(Header::Absent),
        )
        .unwrap();
        assert_eq!(t.n_cols(), 4);
        // No comment prefix: '#' is data.
        let o = opts().with_comment_prefix("").with_header(Header::Absent);
        let t = Table::parse_str("#1 2\n", "p", &o).unwrap();
        assert_eq!(t.cell(0, 0), Some("#1"));
        // Given names, every line is data.
        let o = opts().with_header(Header::Names(vec!["m".into(), "Sv".into()]));
        let t = Table::parse_str("a b\n1 2\n", "n", &o).unwrap();
        assert_eq!(t.n_rows(), 2);
        assert_eq!(t.column_str("sv").unwrap(), ["b", "2"]);
        // Forced whitespace mode does not split on commas.
        let o = opts()
            .with_delimiter(Delimiter::Whitespace)
            .with_header(Header::Absent);
        let t = Table::parse_str("1,2 3\n", "w", &o).unwrap();
        assert_eq!(t.row_cells(0).unwrap(), ["1,2", "3"]);
        // Tab-separated with an empty cell.
        let o = opts().with_delimiter(Delimiter::Char('\t'));
        let t = Table::parse_str("a\tb\tc\n1\t\t3\n", "t", &o).unwrap();
        assert_eq!(t.row_cells(0).unwrap(), ["1", "", "3"]);
    }

    #[test]
    fn header_auto_detection() {
        // All numbers: no header.
        assert!(parse("1 2\n3 4\n").unwrap().column_names().is_none());
        // Names over numbers: header.
        assert!(parse("a b\n3 4\n").unwrap().column_names().is_some());
        // All-text first line over a text-and-number line: header.
        let t = parse("name type\nDraco dSph\n").unwrap();
        assert_eq!(t.column_names().unwrap(), ["name", "type"]);
        // A single text line counts as a header (and then has no data).
        assert!(matches!(parse("a b\n").unwrap_err(), Error::Empty { .. }));
        // A single numeric line is data.
        assert_eq!(parse("1 2\n").unwrap().n_rows(), 1);
        // Empty cells are neutral: missing data is not a header.
        let t = Table::parse_str("1,,3\n4,5,6\n", "m", &opts()).unwrap();
        assert_eq!(t.n_rows(), 2);
        let t = Table::parse_str(",a,b\n1,2,3\n", "m", &opts()).unwrap();
        assert_eq!(t.column_names().unwrap(), ["", "a", "b"]);
        // Fortran exponents are numbers.
        let t = parse("1.0D+03 2d-1\n").unwrap();
        assert_eq!(t.column_f64(0).unwrap(), [1000.0]);
        assert_relative_eq!(t.column_f64(1).unwrap()[0], 0.2);
    }

    #[test]
    fn column_lookup_errors() {
        let t = parse("mass Mass sigma\n1 2 3\n").unwrap();
        assert_eq!(t.column_index("Mass").unwrap(), 1);
        assert_eq!(t.column_index("mass").unwrap(), 0);
        assert_eq!(t.column_index("SIGMA").unwrap(), 2);
        let e = t.column_index("MASS").unwrap_err().to_string();
        assert!(e.contains("matches columns [0, 1]"), "{e}");
        let e = t.column_f64("energy").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid column = 'energy': allowed one of the columns of 'test.dat': \
             'mass', 'Mass', 'sigma'"
        );
        let e = t.column_str(3).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid column index = 3: allowed < 3 (table 'test.dat' has 3 columns)"
        );
        let t = parse("1 2\n").unwrap();
        let e = t.column_u64("n").unwrap_err().to_string();
        assert!(e.contains("has no header"), "{e}");
        assert!(t.row(0).unwrap().get("n").is_err());
        assert_eq!(t.row(0).unwrap().get(1).unwrap(), "2");
        assert!(t.row(1).is_none());
        let name = String::from("1");
        assert!(t.column_index(&name).is_err());
    }

    #[test]
    fn malformed_quotes_are_errors() {
        let e = Table::parse_str("a,b\n\"open,1\n2,3\n", "q.csv", &opts()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "q.csv, line 2: quoted field opened on this line is never closed \
             (found '\"open,1\n2,3')"
        );
        let e = Table::parse_str("a,b\n\"x\"y,1\n", "q.csv", &opts()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("q.csv, line 2: unexpected text after the closing quote of field 1"),
            "{e}"
        );
        // A multi-line record longer than the limit is an error.
        let o = opts().with_max_line_bytes(8);
        let e = Table::parse_str("a,b\n\"12345\n6789\",1\n", "q", &o).unwrap_err();
        assert!(
            e.to_string().contains("multi-line quoted field is longer"),
            "{e}"
        );
    }

    #[test]
    fn invalid_options_are_rejected() {
        let e = parse_with(opts().with_max_line_bytes(0));
        assert_eq!(e, "invalid max_line_bytes = 0: allowed >= 1");
        let e = parse_with(opts().with_delimiter(Delimiter::Char('"')));
        assert!(e.starts_with("invalid delimiter = '\"'"), "{e}");
        let e = parse_with(opts().with_header(Header::Names(vec![])));
        assert!(e.starts_with("invalid header names"), "{e}");
        let e = parse_with(opts().with_comment_prefix("#\n"));
        assert!(e.starts_with("invalid comment_prefix"), "{e}");

        fn parse_with(o: TableOptions) -> String {
            Table::parse_str("1 2\n", "x", &o).unwrap_err().to_string()
        }
    }

    #[test]
    fn missing_file_is_io_error_with_path() {
        let dir = TempDir::new("missing");
        let path = dir.0.join("nope.dat");
        let e = Table::read(&path, &opts()).unwrap_err();
        assert!(
            matches!(&e, Error::Io { path: p, .. } if *p == path),
            "{e:?}"
        );
        assert!(e.is_bad_input());
    }

    #[test]
    fn parse_f64_at_reports_location() {
        let at = Location::new("f.dat", 9).with_column("J");
        assert_eq!(parse_f64_at("-1.25e2", &at).unwrap(), -125.0);
        assert_eq!(
            parse_f64_at("1,5", &at).unwrap_err().to_string(),
            "f.dat, line 9, column 'J': not a number (found '1,5')"
        );
        assert!(parse_f64_at("NaN", &at).is_err());
        assert!(parse_f64_at("", &at).is_err());
    }

    #[test]
    fn format_f64_chooses_notation_and_round_trips() {
        let cases = [
            (0.0, "0"),
            (-0.0, "-0"),
            (0.1, "0.1"),
            (1e-5, "0.00001"),
            (9.99e-6, "9.99e-6"),
            (123456.789, "123456.789"),
            (1e15, "1000000000000000"),
            (1e16, "1e16"),
            (1e-300, "1e-300"),
            (6.02214076e23, "6.02214076e23"),
            (f64::MAX, "1.7976931348623157e308"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "NaN"),
        ];
        for (x, s) in cases {
            assert_eq!(format_f64(x), s);
            let back = number(s).unwrap();
            assert!(back.to_bits() == x.to_bits() || (x.is_nan() && back.is_nan()));
        }
    }

    #[test]
    fn writer_round_trip_is_bit_identical() {
        let dir = TempDir::new("roundtrip");
        let path = dir.0.join("out.csv");
        let values = [
            1e-300,
            0.1,
            -0.0,
            6.02214076e23,
            5e-324,
            -f64::MAX,
            1.0 / 3.0,
        ];
        let mut w = CsvWriter::create(&path, &["name", "x", "n", "k"]).unwrap();
        for (i, &x) in values.iter().enumerate() {
            let name = format!("src \"{i}\", #{i}");
            w.write_record(&[
                CsvField::Str(&name),
                CsvField::F64(x),
                CsvField::U64(i as u64),
                CsvField::I64(-(i as i64)),
            ])
            .unwrap();
        }
        assert_eq!(w.rows_written(), values.len());
        assert_eq!(w.path(), path.as_path());
        w.finish().unwrap();
        assert_eq!(dir.entries(), ["out.csv"]);
        let t = Table::read(&path, &opts()).unwrap();
        assert_eq!(t.source(), path.display().to_string());
        let xs = t.column_f64("x").unwrap();
        let bits: Vec<u64> = xs.iter().map(|x| x.to_bits()).collect();
        let want: Vec<u64> = values.iter().map(|x| x.to_bits()).collect();
        assert_eq!(bits, want);
        assert_eq!(t.column_u64("n").unwrap(), [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(t.cell(2, 0), Some("src \"2\", #2"));
        assert_eq!(t.cell(3, 3), Some("-3"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("name,x,n,k\n\"src \"\"0\"\", #0\",1e-300,0,0\n"));
    }

    #[test]
    fn writer_checks_row_length() {
        let dir = TempDir::new("shape");
        let path = dir.0.join("s.csv");
        let mut w = CsvWriter::create(&path, &["a", "b"]).unwrap();
        let e = w.write_row_f64(&[1.0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "shape mismatch in row 1 written to '{}': expected 2 fields \
                 (as in the header), found 1 fields",
                path.display()
            )
        );
        assert!(w.write_row_str(&["x", "y", "z"]).is_err());
        w.write_row_str(&["x", ""]).unwrap();
        w.finish().unwrap();
        let t = Table::read(&path, &opts()).unwrap();
        assert_eq!(t.n_rows(), 1);
        assert_eq!(t.row_cells(0).unwrap(), ["x", ""]);
        assert!(CsvWriter::create(&path, &[]).is_err());
        assert!(CsvWriter::create(dir.0.join(".."), &["a"]).is_err());
    }

    #[test]
    fn no_temporary_file_survives_finish_or_drop() {
        let dir = TempDir::new("atomic");
        let path = dir.0.join("result.csv");
        {
            let mut w = CsvWriter::create(&path, &["x"]).unwrap();
            w.write_row_f64(&[1.0]).unwrap();
            let entries = dir.entries();
            assert_eq!(entries.len(), 1);
            assert!(
                entries[0].starts_with(&format!(".result.csv.tmp-{}-", std::process::id())),
                "{entries:?}"
            );
            // Dropped without finish.
        }
        assert!(dir.entries().is_empty());
        write_csv_columns(&path, &[("x", &[1.0, 2.0])]).unwrap();
        assert_eq!(dir.entries(), ["result.csv"]);
        let before = std::fs::read_to_string(&path).unwrap();
        assert_eq!(before, "x\n1\n2\n");
        {
            let mut w = CsvWriter::create(&path, &["y"]).unwrap();
            w.write_row_f64(&[3.0]).unwrap();
        }
        // The abandoned writer neither replaced nor damaged the old file.
        assert_eq!(dir.entries(), ["result.csv"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        // finish replaces it.
        let mut w = CsvWriter::create(&path, &["y"]).unwrap();
        w.write_row_f64(&[3.0]).unwrap();
        w.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "y\n3\n");
        assert_eq!(dir.entries(), ["result.csv"]);
    }

    #[test]
    fn write_csv_columns_validates_input() {
        let dir = TempDir::new("cols");
        let path = dir.0.join("c.csv");
        let e = write_csv_columns(&path, &[("a", &[1.0, 2.0]), ("b", &[1.0])]).unwrap_err();
        assert!(e.to_string().contains("expected 2 values"), "{e}");
        assert!(write_csv_columns(&path, &[]).is_err());
        assert!(dir.entries().is_empty());
        write_csv_columns(&path, &[("a", &[0.5, -2.0]), ("b", &[1e-20, 7.0])]).unwrap();
        let t = Table::read(&path, &opts()).unwrap();
        assert_eq!(t.column_f64("a").unwrap(), [0.5, -2.0]);
        assert_eq!(t.column_f64("b").unwrap(), [1e-20, 7.0]);
    }

    fn any_finite() -> impl Strategy<Value = f64> {
        prop_oneof![
            proptest::num::f64::NORMAL
                | proptest::num::f64::SUBNORMAL
                | proptest::num::f64::ZERO
                | proptest::num::f64::NEGATIVE
                | proptest::num::f64::POSITIVE,
            -1e3..1e3f64,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_f64_tables_round_trip(
            n_cols in 1usize..5,
            data in proptest::collection::vec(any_finite(), 1..60),
        ) {
            let dir = TempDir::new("prop");
            let path = dir.0.join("t.csv");
            let names: Vec<String> = (0..n_cols).map(|j| format!("c{j}")).collect();
            let header: Vec<&str> = names.iter().map(String::as_str).collect();
            let rows: Vec<&[f64]> = data.chunks_exact(n_cols).collect();
            prop_assume!(!rows.is_empty());
            let mut w = CsvWriter::create(&path, &header).unwrap();
            for r in &rows {
                w.write_row_f64(r).unwrap();
            }
            w.finish().unwrap();
            let t = Table::read(&path, &TableOptions::default()).unwrap();
            prop_assert_eq!(t.n_rows(), rows.len());
            prop_assert_eq!(t.column_names().unwrap(), names.as_slice());
            for j in 0..n_cols {
                let col = t.column_f64(j).unwrap();
                for (i, r) in rows.iter().enumerate() {
                    prop_assert_eq!(col[i].to_bits(), r[j].to_bits());
                }
            }
            prop_assert_eq!(dir.entries(), ["t.csv"]);
        }

        #[test]
        fn random_strings_round_trip(
            cells in proptest::collection::vec("[ -~\t\n]{0,10}", 2..12),
        ) {
            let dir = TempDir::new("strs");
            let path = dir.0.join("s.csv");
            let mut w = CsvWriter::create(&path, &["a", "b"]).unwrap();
            let pairs: Vec<[&str; 2]> =
                cells.chunks_exact(2).map(|c| [c[0].as_str(), c[1].as_str()]).collect();
            for p in &pairs {
                w.write_row_str(p).unwrap();
            }
            w.finish().unwrap();
            let o = TableOptions::default()
                .with_delimiter(Delimiter::Comma)
                .with_header(Header::Present);
            let t = Table::read(&path, &o).unwrap();
            prop_assert_eq!(t.n_rows(), pairs.len());
            for (i, p) in pairs.iter().enumerate() {
                prop_assert_eq!(t.cell(i, 0), Some(p[0]));
                prop_assert_eq!(t.cell(i, 1), Some(p[1]));
            }
        }

        #[test]
        fn whitespace_split_matches_reference(
            rows in proptest::collection::vec(
                proptest::collection::vec(-1e6..1e6f64, 3), 1..20),
            pad in "[ \t]{1,3}",
        ) {
            // Independent check: build the text with arbitrary padding and
            // compare against the numbers it was built from.
            let text: String = rows
                .iter()
                .map(|r| {
                    let cells: Vec<String> = r.iter().map(|x| format!("{x:e}")).collect();
                    format!("{pad}{}{pad}\n", cells.join(&pad))
                })
                .collect();
            let t = Table::parse_str(&text, "p", &TableOptions::default()).unwrap();
            prop_assert_eq!(t.n_rows(), rows.len());
            for j in 0..3 {
                let col = t.column_f64(j).unwrap();
                for (i, r) in rows.iter().enumerate() {
                    prop_assert_eq!(col[i], r[j]);
                    prop_assert_eq!(t.line_of(i), Some(i + 1));
                }
            }
        }
    }
}
