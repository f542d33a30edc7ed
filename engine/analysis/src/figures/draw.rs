//! Chart pieces shared by the figures: colours, bar panels, scatter-with-fit panels, heatmaps.

use super::DrawResult;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The study's adapter colours (SPEC §5.4); other names cycle through a fallback palette.
pub fn model_color(name: &str, index: usize) -> RGBColor {
    match name {
        "baseline" => RGBColor(0x6C, 0x75, 0x7D),
        "gsm8k" => RGBColor(0x7B, 0x2C, 0xBF),
        "mmlu" => RGBColor(0x43, 0x61, 0xEE),
        "truthfulqa" => RGBColor(0xF7, 0x25, 0x85),
        "hellaswag" => RGBColor(0x06, 0xA7, 0x7D),
        "combined" => RGBColor(0xFF, 0x6B, 0x35),
        _ => fallback(index),
    }
}

/// The study's task colours.
pub fn task_color(name: &str, index: usize) -> RGBColor {
    match name {
        "feedback" => RGBColor(0xE6, 0x39, 0x46),
        "are_you_sure" => RGBColor(0xFF, 0xB7, 0x03),
        "answer" => RGBColor(0x21, 0x9E, 0xBC),
        _ => fallback(index + 3),
    }
}

fn fallback(index: usize) -> RGBColor {
    let (r, g, b) = Palette99::pick(index).rgb();
    RGBColor(r, g, b)
}

/// Red for an increase, green for a decrease, grey when |change| < 0.01 (the study's pin colours).
pub fn change_color(change: f64) -> RGBColor {
    if change.abs() < 0.01 {
        RGBColor(0x80, 0x80, 0x80)
    } else if change > 0.0 {
        RGBColor(0xD6, 0x28, 0x28)
    } else {
        RGBColor(0x2A, 0x9D, 0x3F)
    }
}

/// Diverging blue-white-red (matplotlib's RdBu_r end points) for `v` in [-range, range].
pub fn diverging(v: f64, range: f64) -> RGBColor {
    let t = if v.is_nan() { 0.0 } else { (v / range).clamp(-1.0, 1.0) };
    let (blue, white, red) = ((0x21, 0x66, 0xAC), (0xF7, 0xF7, 0xF7), (0xB2, 0x18, 0x2B));
    let (from, to, u) = if t < 0.0 { (white, blue, -t) } else { (white, red, t) };
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * u).round() as u8;
    RGBColor(mix(from.0, to.0), mix(from.1, to.1), mix(from.2, to.2))
}

pub fn title_font() -> TextStyle<'static> {
    ("sans-serif", 30).into_font().style(FontStyle::Bold).into()
}

pub fn label_font() -> TextStyle<'static> {
    ("sans-serif", 20).into_font().into()
}

pub fn small_font() -> TextStyle<'static> {
    ("sans-serif", 17).into_font().into()
}

/// Value range padded so bars and their labels fit, always including 0.
pub fn padded_range(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().filter(|v| v.is_finite()).fold(0.0f64, f64::min);
    let hi = values.iter().copied().filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    let pad = ((hi - lo) * 0.18).max(1e-3);
    (if lo < 0.0 { lo - pad } else { 0.0 }, if hi > 0.0 { hi + pad } else { pad })
}

/// One bar per label, each with its own colour and a text label above (or below) the bar.
pub struct Bars<'a> {
    pub title: &'a str,
    pub y_desc: &'a str,
    pub labels: Vec<String>,
    pub values: Vec<f64>,
    pub colors: Vec<RGBColor>,
    pub annotations: Vec<String>,
    /// Annotation colours; default black.
    pub annotation_colors: Option<Vec<RGBColor>>,
    /// A dashed horizontal reference line, e.g. the baseline.
    pub reference: Option<(f64, String)>,
    pub y_range: Option<(f64, f64)>,
}

pub fn bar_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, bars: &Bars) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let n = bars.labels.len();
    let mut all = bars.values.clone();
    if let Some((r, _)) = &bars.reference {
        all.push(*r);
    }
    let (lo, hi) = bars.y_range.unwrap_or_else(|| padded_range(&all));
    let mut chart = category_chart(area, bars.title, bars.y_desc, &bars.labels, lo..hi)?;
    chart.draw_series(bars.values.iter().enumerate().map(|(i, &v)| {
        let x = i as f64;
        Rectangle::new([(x - 0.35, 0.0), (x + 0.35, v)], bars.colors[i].filled())
    }))?;
    if let Some((r, name)) = &bars.reference {
        let style = ShapeStyle::from(&BLACK).stroke_width(2);
        chart.draw_series(std::iter::once(DashedPathElement::new(vec![(-0.6, *r), (n as f64 - 0.4, *r)], 8, 6, style)))?;
        // The study's "pins": a stem from the baseline to each bar top, coloured by the change.
        if let Some(colors) = &bars.annotation_colors {
            for (i, &v) in bars.values.iter().enumerate() {
                let x = i as f64 + 0.38;
                let style = ShapeStyle::from(&colors[i]).stroke_width(3);
                chart.draw_series(std::iter::once(PathElement::new(vec![(x, *r), (x, v)], style)))?;
                chart.draw_series(std::iter::once(Circle::new((x, v), 5, colors[i].filled())))?;
            }
        }
        let right = small_font().pos(Pos::new(HPos::Right, VPos::Bottom));
        chart.draw_series(std::iter::once(Text::new(name.clone(), (n as f64 - 0.45, *r + (hi - lo) * 0.005), right)))?;
    }
    let offset = (hi - lo) * 0.015;
    let ann_colors: Vec<RGBColor> = (0..n).map(|i| bars.annotation_colors.as_ref().map_or(BLACK, |c| c[i])).collect();
    chart.draw_series(bars.annotations.iter().enumerate().map(|(i, text)| {
        let v = bars.values[i];
        let font = small_font().color(&ann_colors[i]).pos(Pos::new(HPos::Center, if v >= 0.0 { VPos::Bottom } else { VPos::Top }));
        Text::new(text.clone(), (i as f64, if v >= 0.0 { v + offset } else { v - offset }), font)
    }))?;
    Ok(())
}

/// Groups of bars: one group per label, one bar per series (with a legend).
pub struct GroupedBars<'a> {
    pub title: &'a str,
    pub y_desc: &'a str,
    pub groups: Vec<String>,
    /// (series name, colour, one value per group)
    pub series: Vec<(String, RGBColor, Vec<f64>)>,
    /// Text above each bar, per series and group.
    pub annotations: Option<Vec<Vec<String>>>,
    pub reference: Option<(f64, String)>,
    /// Half-length of an error bar on each bar (a standard error), per series and group; NaN: none.
    pub errors: Option<Vec<Vec<f64>>>,
}

pub fn grouped_bar_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, g: &GroupedBars) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let n = g.groups.len();
    let k = g.series.len().max(1);
    let mut all: Vec<f64> = g.series.iter().flat_map(|s| s.2.iter().copied()).collect();
    // The error bar's end away from zero must fit too (the other end, past zero for a rate near
    // 0, is clipped at the axis rather than stretching it).
    let err = |si: usize, gi: usize| g.errors.as_ref().map_or(f64::NAN, |e| e[si][gi]);
    for (si, (_, _, values)) in g.series.iter().enumerate() {
        let ends = values.iter().enumerate().map(|(gi, &v)| if v >= 0.0 { v + err(si, gi) } else { v - err(si, gi) });
        all.extend(ends.filter(|e| e.is_finite()));
    }
    if let Some((r, _)) = &g.reference {
        all.push(*r);
    }
    let (lo, hi) = padded_range(&all);
    let hi = hi + (hi - lo) * 0.12; // room for the legend
    let mut chart = category_chart(area, g.title, g.y_desc, &g.groups, lo..hi)?;
    let width = 0.8 / k as f64;
    for (si, (name, color, values)) in g.series.iter().enumerate() {
        let color = *color;
        // A missing value (a model not evaluated on that group) draws no bar.
        chart
            .draw_series(values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(move |(gi, &v)| {
                let x0 = gi as f64 - 0.4 + si as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width * 0.92, v)], color.filled())
            }))?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 8), (x + 16, y + 8)], color.filled()));
        let centre = |gi: usize| gi as f64 - 0.4 + (si as f64 + 0.46) * width;
        if g.errors.is_some() {
            let style = ShapeStyle::from(&BLACK).stroke_width(2);
            let cap = width * 0.18;
            for (gi, &v) in values.iter().enumerate() {
                let e = err(si, gi);
                if !(v.is_finite() && e.is_finite()) {
                    continue;
                }
                let x = centre(gi);
                // An end past the axis stops at it, without a cap: it is cut off, not ended there.
                let (low, high) = ((v - e).max(lo), (v + e).min(hi));
                let mut paths = vec![vec![(x, low), (x, high)]];
                for (end, y) in [(v - e, low), (v + e, high)] {
                    if end == y {
                        paths.push(vec![(x - cap, y), (x + cap, y)]);
                    }
                }
                for path in paths {
                    chart.draw_series(std::iter::once(PathElement::new(path, style)))?;
                }
            }
        }
        if let Some(ann) = &g.annotations {
            let offset = (hi - lo) * 0.012;
            // A missing bar's text (e.g. "n/a") sits on the axis where the bar would be.
            chart.draw_series(ann[si].iter().enumerate().map(|(gi, text)| {
                let v = if values[gi].is_finite() { values[gi] } else { 0.0 };
                // Above the error bar's end, where there is one.
                let e = Some(err(si, gi)).filter(|e| e.is_finite()).unwrap_or(0.0);
                let font = ("sans-serif", 15)
                    .into_font()
                    .into_text_style(area)
                    .pos(Pos::new(HPos::Center, if v >= 0.0 { VPos::Bottom } else { VPos::Top }));
                Text::new(text.clone(), (centre(gi), if v >= 0.0 { v + e + offset } else { v - e - offset }), font)
            }))?;
        }
    }
    if let Some((r, name)) = &g.reference {
        let style = ShapeStyle::from(&BLACK).stroke_width(2);
        chart
            .draw_series(std::iter::once(DashedPathElement::new(vec![(-0.6, *r), (n as f64 - 0.4, *r)], 8, 6, style)))?
            .label(name.clone())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(small_font())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Points with their own colours and labels, a least-squares line and r in the title.
pub struct Scatter<'a> {
    pub title: String,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub points: Vec<(String, RGBColor, f64, f64)>,
    /// (slope, intercept) of the fitted line.
    pub fit: Option<(f64, f64)>,
}

pub fn scatter_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, s: &Scatter) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let xs: Vec<f64> = s.points.iter().map(|p| p.2).collect();
    let ys: Vec<f64> = s.points.iter().map(|p| p.3).collect();
    let span = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = ((hi - lo) * 0.15).max(0.01);
        (lo - pad, hi + pad)
    };
    let (x0, x1) = span(&xs);
    // Point names are written to the right of each point: leave room for them.
    let x1 = x1 + (x1 - x0) * 0.12;
    let (y0, y1) = span(&ys);
    // Enough decimals that neighbouring ticks read differently.
    let x_decimals = if x1 - x0 < 0.12 { 3 } else { 2 };
    let mut chart = ChartBuilder::on(area)
        .caption(&s.title, title_font())
        .margin(16)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(s.x_desc)
        .y_desc(s.y_desc)
        .axis_desc_style(label_font())
        .x_label_style(label_font())
        .y_label_style(label_font())
        .x_label_formatter(&|x| format!("{x:.*}", x_decimals))
        .y_label_formatter(&|y| format!("{y:.3}"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    if let Some((slope, intercept)) = s.fit.filter(|(m, b)| m.is_finite() && b.is_finite()) {
        let style = ShapeStyle::from(&RGBColor(0x55, 0x55, 0x55)).stroke_width(2);
        chart.draw_series(std::iter::once(DashedPathElement::new(
            vec![(x0, slope * x0 + intercept), (x1, slope * x1 + intercept)],
            10,
            6,
            style,
        )))?;
    }
    for (name, color, x, y) in &s.points {
        chart.draw_series(std::iter::once(Circle::new((*x, *y), 11, color.filled())))?;
        chart.draw_series(std::iter::once(Text::new(name.clone(), (*x, *y), small_font().pos(Pos::new(HPos::Left, VPos::Bottom)))))?;
    }
    Ok(())
}

/// A matrix of coloured cells with the value written in each.
pub struct Heatmap<'a> {
    pub title: &'a str,
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    /// values[row][col]
    pub values: Vec<Vec<f64>>,
    pub range: f64,
    pub decimals: usize,
}

pub fn heatmap_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, h: &Heatmap) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (nr, nc) = (h.rows.len(), h.cols.len());
    let rows = h.rows.clone();
    let cols = h.cols.clone();
    let mut chart = ChartBuilder::on(area)
        .caption(h.title, title_font())
        .margin(16)
        .x_label_area_size(60)
        .y_label_area_size(150)
        .build_cartesian_2d(0.0..nc as f64, 0.0..nr as f64)?;
    chart.configure_mesh().disable_mesh().x_labels(0).y_labels(0).draw()?;
    // Cell centres sit at +0.5; row 0 is drawn at the top, as a heatmap is read.
    let base = area.get_base_pixel();
    for (c, name) in cols.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(c as f64 + 0.5, 0.0));
        area.draw_text(name, &label_font().pos(Pos::new(HPos::Center, VPos::Top)), (px - base.0, py - base.1 + 10))?;
    }
    for (r, name) in rows.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(0.0, (nr - 1 - r) as f64 + 0.5));
        area.draw_text(name, &label_font().pos(Pos::new(HPos::Right, VPos::Center)), (px - base.0 - 10, py - base.1))?;
    }
    for (r, row) in h.values.iter().enumerate() {
        let y = (nr - 1 - r) as f64;
        for (c, &v) in row.iter().enumerate() {
            let x = c as f64;
            chart.draw_series(std::iter::once(Rectangle::new([(x, y), (x + 1.0, y + 1.0)], diverging(v, h.range).filled())))?;
            let text_color = if (v / h.range).abs() > 0.6 { WHITE } else { BLACK };
            let font = ("sans-serif", 24).into_font().color(&text_color).pos(Pos::new(HPos::Center, VPos::Center));
            let text = if v.is_nan() { "n/a".to_string() } else { format!("{v:.*}", h.decimals) };
            chart.draw_series(std::iter::once(Text::new(text, (x + 0.5, y + 0.5), font)))?;
        }
    }
    Ok(())
}

/// Category names under the x axis at integer positions, drawn on the panel (outside the
/// plotting area, which clips).
type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

/// Axes for one value per category (slot i at x = i), with the category names under the slots.
fn category_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    labels: &[String],
    y: std::ops::Range<f64>,
) -> Result<Chart2d<'a, DB>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let n = labels.len();
    let y_bottom = y.start;
    let mut chart = ChartBuilder::on(area)
        .caption(title, title_font())
        .margin(16)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(-0.6..n as f64 - 0.4, y)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .x_label_style(label_font())
        .y_label_style(label_font())
        .y_desc(y_desc)
        .axis_desc_style(label_font())
        .y_label_formatter(&|y| format!("{:.2}", if y.abs() < 1e-9 { 0.0 } else { *y }))
        .draw()?;
    category_labels_x(area, &chart, labels, y_bottom)?;
    Ok(chart)
}

fn category_labels_x<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &ChartContext<DB, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>,
    labels: &[String],
    y_bottom: f64,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let base = area.get_base_pixel();
    // Shrink the font until the longest name fits its slot (DejaVu averages ~0.6 em per char).
    let slot = (chart.backend_coord(&(1.0, y_bottom)).0 - chart.backend_coord(&(0.0, y_bottom)).0).abs() as f64;
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1).max(1) as f64;
    let size = (slot * 0.98 / (0.55 * longest)).clamp(13.0, 20.0);
    let font = ("sans-serif", size).into_font().into_text_style(area).pos(Pos::new(HPos::Center, VPos::Top));
    for (i, name) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64, y_bottom));
        area.draw_text(name, &font, (px - base.0, py - base.1 + 10))?;
    }
    Ok(())
}
