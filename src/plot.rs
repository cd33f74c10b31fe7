//! Plots for the CLI, the demo and the examples: PNG or SVG (by file
//! extension), drawn with `plotters` and the embedded DejaVu Sans font, so no
//! system font is ever needed.
//!
//! ```no_run
//! use darkprobe::plot::{LinePlot, Series};
//! LinePlot::new("Upper limits", "mass [GeV]", "<sigma v> [cm^3/s]")
//!     .log_x(true)
//!     .log_y(true)
//!     .series(Series::line("stacked", vec![(10.0, 1e-26), (100.0, 5e-26)]))
//!     .save("limits.png")
//!     .unwrap();
//! ```

use darkprobe_core::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// The font family name the plots use (registered from the embedded DejaVu Sans).
pub const FONT: &str = "sans-serif";

fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::numerical(
            "registering the embedded plot font",
            0,
            f64::NAN,
            "the embedded DejaVu font could not be parsed",
        ))
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A solid line through the points.
    Line,
    /// A dashed line through the points.
    Dashed,
    /// Filled circles.
    Points,
}

/// One data series of a [`LinePlot`].
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label (empty for none).
    pub label: String,
    /// The (x, y) points.
    pub points: Vec<(f64, f64)>,
    /// How to draw them.
    pub mark: Mark,
    /// Colour index into the palette (`None`: next in turn).
    pub colour: Option<usize>,
}

impl Series {
    /// A solid line.
    pub fn line(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            mark: Mark::Line,
            colour: None,
        }
    }
    /// A dashed line.
    pub fn dashed(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            mark: Mark::Dashed,
            ..Self::line(label, points)
        }
    }
    /// Points.
    pub fn points(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            mark: Mark::Points,
            ..Self::line(label, points)
        }
    }
    /// The same series in palette colour `i`.
    pub fn colour(mut self, i: usize) -> Self {
        self.colour = Some(i);
        self
    }
}

const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(255, 187, 120),
];

/// Tick label: plain for moderate magnitudes, scientific (`3e-26`) otherwise,
/// so logarithmic axes over many decades stay readable.
fn tick_label(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-3..1e5).contains(&a) {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        let s = format!("{v:.2e}");
        // 1.00e3 -> 1e3, 2.50e-26 -> 2.5e-26
        match s.split_once('e') {
            Some((m, e)) => {
                let m = m.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{e}")
            }
            None => s,
        }
    }
}

/// Tick positions of a logarithmic axis over `[lo, hi]` (`0 < lo < hi`):
/// 1, 2, 5 times each power of ten when the range spans less than three
/// decades, the powers of ten otherwise (thinned to at most a dozen), plus the
/// 1..9 multiples as light grid lines. Given to plotters explicitly because
/// its own log-axis ticks vanish for ranges far below 1 (e.g. 1e-27..1e-24).
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return (Vec::new(), Vec::new());
    }
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let decades = (hi / lo).log10();
    let in_range = |v: f64| v >= lo * (1.0 - 1e-12) && v <= hi * (1.0 + 1e-12);
    let mults: &[f64] = if decades < 3.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let step = ((k1 - k0) as usize).div_ceil(12).max(1);
    let mut bold = Vec::new();
    let mut light = Vec::new();
    for k in k0..=k1 {
        // Parsed, not powi: exact decimal powers (1e-26, not 9.999999999999999e-27).
        let p: f64 = format!("1e{k}").parse().unwrap_or(10f64.powi(k));
        for m in 1..10 {
            let v = m as f64 * p;
            if in_range(v) {
                light.push(v);
            }
        }
        if ((k - k0) as usize).is_multiple_of(step) {
            bold.extend(mults.iter().map(|m| m * p).filter(|&v| in_range(v)));
        }
    }
    if bold.len() < 2 {
        // A narrow range: every multiple inside, or else the two ends.
        bold = if light.len() >= 2 {
            light.clone()
        } else {
            vec![lo, hi]
        };
    }
    (bold, light)
}

/// An x-y plot with lines and points, linear or logarithmic axes.
#[derive(Debug, Clone)]
pub struct LinePlot {
    title: String,
    x_label: String,
    y_label: String,
    log_x: bool,
    log_y: bool,
    series: Vec<Series>,
    size: (u32, u32),
}

impl LinePlot {
    /// An empty plot with a title and axis labels.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
            series: Vec::new(),
            size: (900, 640),
        }
    }
    /// Logarithmic x axis.
    pub fn log_x(mut self, on: bool) -> Self {
        self.log_x = on;
        self
    }
    /// Logarithmic y axis.
    pub fn log_y(mut self, on: bool) -> Self {
        self.log_y = on;
        self
    }
    /// Adds a series.
    pub fn series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }
    /// Image size in pixels.
    pub fn size(mut self, w: u32, h: u32) -> Self {
        self.size = (w, h);
        self
    }

    fn range(&self, pick: impl Fn(&(f64, f64)) -> f64, log: bool) -> Result<(f64, f64)> {
        let vals: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(&pick))
            .filter(|v| v.is_finite() && (!log || *v > 0.0))
            .collect();
        if vals.is_empty() {
            return Err(Error::empty(
                format!("plot '{}'", self.title),
                "give at least one finite point (positive on log axes)",
            ));
        }
        let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Ok(if log {
            let (a, b) = (lo.log10(), hi.log10());
            let pad = ((b - a) * 0.05).max(0.05);
            (10f64.powf(a - pad), 10f64.powf(b + pad))
        } else {
            let pad = ((hi - lo) * 0.05).max(1e-12 * hi.abs().max(1.0));
            (lo - pad, hi + pad)
        })
    }

    /// Draws the plot to `path` (`.png` or `.svg`), atomically.
    ///
    /// # Errors
    /// No finite points, an unknown extension, or a drawing/I/O failure.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        ensure_font()?;
        let xr = self.range(|p| p.0, self.log_x)?;
        let yr = self.range(|p| p.1, self.log_y)?;
        with_backend(path.as_ref(), self.size, |root| {
            root.draw_line_plot(self, xr, yr)
        })
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        xr: (f64, f64),
        yr: (f64, f64),
    ) -> std::result::Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&self.title, (FONT, 24))
            .margin(18)
            .x_label_area_size(50)
            .y_label_area_size(80);
        macro_rules! body {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(self.x_label.as_str())
                    .y_desc(self.y_label.as_str())
                    .label_style((FONT, 15))
                    .x_label_formatter(&|v| tick_label(*v))
                    .y_label_formatter(&|v| tick_label(*v))
                    .axis_desc_style((FONT, 17))
                    .light_line_style(RGBColor(235, 235, 235))
                    .draw()
                    .map_err(|e| e.to_string())?;
                let mut any_label = false;
                for (i, s) in self.series.iter().enumerate() {
                    let c = PALETTE[s.colour.unwrap_or(i) % PALETTE.len()];
                    let pts: Vec<(f64, f64)> = s
                        .points
                        .iter()
                        .copied()
                        .filter(|(x, y)| {
                            x.is_finite()
                                && y.is_finite()
                                && (!self.log_x || *x > 0.0)
                                && (!self.log_y || *y > 0.0)
                        })
                        .collect();
                    let anno = match s.mark {
                        Mark::Line => chart
                            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                            .map_err(|e| e.to_string())?,
                        Mark::Dashed => chart
                            .draw_series(DashedLineSeries::new(pts, 8, 5, c.stroke_width(2)))
                            .map_err(|e| e.to_string())?,
                        Mark::Points => chart
                            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled())))
                            .map_err(|e| e.to_string())?,
                    };
                    if !s.label.is_empty() {
                        any_label = true;
                        anno.label(s.label.as_str()).legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                        });
                    }
                }
                if any_label {
                    chart
                        .configure_series_labels()
                        .label_font((FONT, 15))
                        .background_style(WHITE.mix(0.85))
                        .border_style(BLACK)
                        .draw()
                        .map_err(|e| e.to_string())?;
                }
            }};
        }
        let (xb, xl) = log_ticks(xr.0, xr.1);
        let (yb, yl) = log_ticks(yr.0, yr.1);
        let log_x = || {
            (xr.0..xr.1)
                .log_scale()
                .with_key_points(xb.clone())
                .with_light_points(xl.clone())
        };
        let log_y = || {
            (yr.0..yr.1)
                .log_scale()
                .with_key_points(yb.clone())
                .with_light_points(yl.clone())
        };
        match (self.log_x, self.log_y) {
            (false, false) => body!(builder
                .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
                .map_err(|e| e.to_string())?),
            (true, false) => body!(builder
                .build_cartesian_2d(log_x(), yr.0..yr.1)
                .map_err(|e| e.to_string())?),
            (false, true) => body!(builder
                .build_cartesian_2d(xr.0..xr.1, log_y())
                .map_err(|e| e.to_string())?),
            (true, true) => body!(builder
                .build_cartesian_2d(log_x(), log_y())
                .map_err(|e| e.to_string())?),
        }
        root.present().map_err(|e| e.to_string())
    }
}

/// Colour of `t` in [0, 1] on a perceptually ordered dark-blue → yellow scale
/// (five anchors of the viridis map, linearly interpolated).
fn colour_scale(t: f64) -> RGBColor {
    const ANCHORS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (ANCHORS.len() - 1) as f64;
    let i = (x.floor() as usize).min(ANCHORS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    let mix = |p: f64, q: f64| (p + f * (q - p)).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Cell edges from cell centres: midpoints, with the end cells as wide as
/// their neighbours (unit width for a single cell).
fn edges_from_centres(c: &[f64]) -> Vec<f64> {
    match c.len() {
        0 => Vec::new(),
        1 => vec![c[0] - 0.5, c[0] + 0.5],
        n => {
            let mut e = Vec::with_capacity(n + 1);
            e.push(c[0] - 0.5 * (c[1] - c[0]));
            for w in c.windows(2) {
                e.push(0.5 * (w[0] + w[1]));
            }
            e.push(c[n - 1] + 0.5 * (c[n - 1] - c[n - 2]));
            e
        }
    }
}

/// A heat map of values on a grid of cells (e.g. a metric over velocity bin
/// × longitude), with a colour bar. Non-finite cells are drawn light grey.
///
/// ```no_run
/// use darkprobe::plot::HeatMap;
/// HeatMap::new("Scaled absolute error", "longitude [deg]", "velocity bin", "error")
///     .cells(vec![345.0, 347.0, 349.0], vec![0.0, 1.0], vec![vec![0.1, 0.2, 0.3], vec![0.0, 0.5, f64::NAN]])
///     .save("heat.png")
///     .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct HeatMap {
    title: String,
    x_label: String,
    y_label: String,
    value_label: String,
    x_centres: Vec<f64>,
    y_centres: Vec<f64>,
    values: Vec<Vec<f64>>,
    size: (u32, u32),
}

impl HeatMap {
    /// An empty heat map with a title, axis labels and the colour-bar label.
    pub fn new(title: &str, x_label: &str, y_label: &str, value_label: &str) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            value_label: value_label.into(),
            x_centres: Vec::new(),
            y_centres: Vec::new(),
            values: Vec::new(),
            size: (1000, 560),
        }
    }
    /// The cells: centres along x and y (each strictly monotonic) and
    /// `values[i_y][i_x]`.
    pub fn cells(
        mut self,
        x_centres: Vec<f64>,
        y_centres: Vec<f64>,
        values: Vec<Vec<f64>>,
    ) -> Self {
        self.x_centres = x_centres;
        self.y_centres = y_centres;
        self.values = values;
        self
    }
    /// Image size in pixels.
    pub fn size(mut self, w: u32, h: u32) -> Self {
        self.size = (w, h);
        self
    }

    fn check(&self) -> Result<(f64, f64)> {
        let (nx, ny) = (self.x_centres.len(), self.y_centres.len());
        if nx == 0 || ny == 0 {
            return Err(Error::empty(
                format!("heat map '{}'", self.title),
                "give at least one cell",
            ));
        }
        if self.values.len() != ny || self.values.iter().any(|r| r.len() != nx) {
            return Err(Error::shape(
                format!("heat map '{}' values", self.title),
                format!("{ny} rows of {nx}"),
                format!(
                    "{} rows of {:?}",
                    self.values.len(),
                    self.values.iter().map(Vec::len).collect::<Vec<_>>()
                ),
            ));
        }
        let monotonic = |c: &[f64]| {
            c.iter().all(|x| x.is_finite())
                && (c.windows(2).all(|w| w[1] > w[0]) || c.windows(2).all(|w| w[1] < w[0]))
        };
        if !monotonic(&self.x_centres) || !monotonic(&self.y_centres) {
            return Err(Error::invalid_param(
                format!("heat map '{}' cell centres", self.title),
                "non-monotonic",
                "finite and strictly increasing or decreasing",
            ));
        }
        let finite: Vec<f64> = self
            .values
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        if finite.is_empty() {
            return Err(Error::empty(
                format!("heat map '{}'", self.title),
                "give at least one finite value",
            ));
        }
        let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Ok(if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, hi + 0.5)
        })
    }

    /// Draws the heat map to `path` (`.png` or `.svg`), atomically.
    ///
    /// # Errors
    /// No cells or no finite value, values not matching the centres,
    /// non-monotonic centres, an unknown extension, or a drawing/I/O failure.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        ensure_font()?;
        let vr = self.check()?;
        with_backend(path.as_ref(), self.size, |root| {
            root.draw_heat_map(self, vr)
        })
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        vr: (f64, f64),
    ) -> std::result::Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (w, _) = root.dim_in_pixel();
        let (main, bar) = root.split_horizontally(w.saturating_sub(130));
        let xe = edges_from_centres(&self.x_centres);
        let ye = edges_from_centres(&self.y_centres);
        let span = |e: &[f64]| {
            let a = e[0].min(e[e.len() - 1]);
            let b = e[0].max(e[e.len() - 1]);
            a..b
        };
        let mut chart = ChartBuilder::on(&main)
            .caption(&self.title, (FONT, 24))
            .margin(18)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(span(&xe), span(&ye))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style((FONT, 15))
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .axis_desc_style((FONT, 17))
            .draw()
            .map_err(|e| e.to_string())?;
        let norm = |v: f64| (v - vr.0) / (vr.1 - vr.0);
        let mut rects = Vec::new();
        for (iy, row) in self.values.iter().enumerate() {
            for (ix, &v) in row.iter().enumerate() {
                let colour = if v.is_finite() {
                    colour_scale(norm(v))
                } else {
                    RGBColor(220, 220, 220)
                };
                rects.push(Rectangle::new(
                    [(xe[ix], ye[iy]), (xe[ix + 1], ye[iy + 1])],
                    colour.filled(),
                ));
            }
        }
        chart.draw_series(rects).map_err(|e| e.to_string())?;
        // Colour bar.
        let mut cb = ChartBuilder::on(&bar)
            .margin_top(60)
            .margin_bottom(68)
            .margin_right(10)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..1.0, vr.0..vr.1)
            .map_err(|e| e.to_string())?;
        cb.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_desc(self.value_label.as_str())
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .y_label_formatter(&|v| tick_label(*v))
            .draw()
            .map_err(|e| e.to_string())?;
        let n = 64;
        cb.draw_series((0..n).map(|k| {
            let a = vr.0 + (vr.1 - vr.0) * k as f64 / n as f64;
            let b = vr.0 + (vr.1 - vr.0) * (k + 1) as f64 / n as f64;
            Rectangle::new(
                [(0.0, a), (1.0, b)],
                colour_scale((k as f64 + 0.5) / n as f64).filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    }
}

/// Runs `draw` on a PNG or SVG backend (chosen by `path`'s extension) writing
/// a temporary file, then renames it onto `path`.
fn with_backend<F>(path: &Path, size: (u32, u32), draw: F) -> Result<()>
where
    F: FnOnce(&dyn AnyArea) -> std::result::Result<(), String>,
{
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plot".into());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}.{ext}", std::process::id()));
    let drawn = match ext.as_str() {
        "png" => {
            let root = BitMapBackend::new(&tmp, size).into_drawing_area();
            draw(&root)
        }
        "svg" => {
            let root = SVGBackend::new(&tmp, size).into_drawing_area();
            draw(&root)
        }
        _ => {
            return Err(Error::invalid_param(
                "plot file name",
                path.display(),
                "a name ending in .png or .svg",
            ))
        }
    };
    if let Err(reason) = drawn {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::numerical(
            format!("drawing {}", path.display()),
            0,
            f64::NAN,
            reason,
        ));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Object-safe view of the two drawing areas, so one drawing routine serves both.
pub trait AnyArea {
    /// Draws a [`LinePlot`].
    fn draw_line_plot(
        &self,
        plot: &LinePlot,
        xr: (f64, f64),
        yr: (f64, f64),
    ) -> std::result::Result<(), String>;

    /// Draws a [`HeatMap`] whose colour scale spans `vr`.
    fn draw_heat_map(&self, plot: &HeatMap, vr: (f64, f64)) -> std::result::Result<(), String>;
}

impl<DB: DrawingBackend> AnyArea for DrawingArea<DB, Shift> {
    fn draw_line_plot(
        &self,
        plot: &LinePlot,
        xr: (f64, f64),
        yr: (f64, f64),
    ) -> std::result::Result<(), String> {
        plot.draw(self, xr, yr)
    }

    fn draw_heat_map(&self, plot: &HeatMap, vr: (f64, f64)) -> std::result::Result<(), String> {
        plot.draw(self, vr)
    }
}

#[cfg(test)]
mod tests {
    use super::{colour_scale, edges_from_centres, log_ticks, tick_label, HeatMap};
    use plotters::style::RGBColor;

    #[test]
    fn log_ticks_exist_far_below_one_and_thin_out_over_many_decades() {
        let (bold, light) = log_ticks(2e-27, 3e-24);
        assert_eq!(bold, vec![1e-26, 1e-25, 1e-24]);
        assert!(
            light.iter().any(|&v| (v / 3e-26 - 1.0).abs() < 1e-12)
                && light.iter().all(|&v| (2e-27..=3e-24).contains(&v))
        );
        let (bold, _) = log_ticks(8.0, 1000.0);
        assert_eq!(bold, vec![10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]);
        let (bold, _) = log_ticks(1e-30, 1e10);
        assert!(bold.len() <= 13 && bold.contains(&1e-30), "{bold:?}");
        assert_eq!(log_ticks(2.0, 3.0).0, vec![2.0, 3.0]);
        assert_eq!(log_ticks(2.1, 2.9).0, vec![2.1, 2.9]);
        assert_eq!(log_ticks(0.0, 1.0).0.len(), 0);
    }

    #[test]
    fn heat_map_cells_and_colours() {
        assert_eq!(
            edges_from_centres(&[1.0, 2.0, 4.0]),
            vec![0.5, 1.5, 3.0, 5.0]
        );
        assert_eq!(edges_from_centres(&[3.0]), vec![2.5, 3.5]);
        assert_eq!(colour_scale(0.0), RGBColor(68, 1, 84));
        assert_eq!(colour_scale(1.0), RGBColor(253, 231, 37));
        let dir = std::env::temp_dir().join(format!("darkprobe-heat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("h.png");
        HeatMap::new("t", "x", "y", "v")
            .cells(
                vec![350.0, 349.0],
                vec![0.0, 1.0, 2.0],
                vec![vec![0.1, 0.2], vec![0.3, f64::NAN], vec![0.0, 1.0]],
            )
            .size(400, 300)
            .save(&p)
            .unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() > 0);
        // Values not matching the centres are an error, and nothing is written.
        let q = dir.join("bad.png");
        assert!(HeatMap::new("t", "x", "y", "v")
            .cells(vec![1.0, 2.0], vec![0.0], vec![vec![0.1]])
            .save(&q)
            .is_err());
        assert!(!q.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tick_labels_are_short_at_every_magnitude() {
        assert_eq!(tick_label(100.0), "100");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(2.2e-26), "2.2e-26");
        assert_eq!(tick_label(1e7), "1e7");
        assert_eq!(tick_label(0.0), "0");
    }
}
