//! `figures/best_of_n_{NAME}.png|svg`: one figure per best-of-N result, one panel per group
//! (condition, `variant/condition`, `domain/condition`) in a grid, the metric of the best of N
//! samples against N on a log2 axis (ticks at each N of the curves), one line per PM with its
//! interval at each point. The y axis is shared by the panels; for `more_positive` the line of
//! no preference (0.5) is drawn.

use super::draw::{label_font, small_font, title_font};
use super::{render, DrawResult, Figure, WIDTH};
use crate::best_of_n::{figure_name, pm_label, BestOfNResult, NON_SYCOPHANTIC_PM, PM};
use crate::error::Result;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// Title, subtitle and legend above the panels.
const HEADER: u32 = 160;
const PANEL: u32 = 540;
const MIN_HEIGHT: u32 = 760;
/// Half the horizontal offset between the PMs' points at one N (log2 units), so their
/// interval bars do not overlap.
const DODGE: f64 = 0.035;

/// Renders one figure per result into `dir`; returns the files written.
pub fn best_of_n_figures(results: &[BestOfNResult], dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for r in results {
        let groups = r.groups().len().max(1);
        let cols = columns(groups);
        let rows = groups.div_ceil(cols) as u32;
        let height = (HEADER + PANEL * rows).max(MIN_HEIGHT);
        written.extend(render(dir, &figure_name(&r.name), (WIDTH, height), &BestOfNFigure { r, cols })?);
    }
    Ok(written)
}

/// Panels per row: one alone, two per row up to four, then three.
fn columns(groups: usize) -> usize {
    match groups {
        0 | 1 => 1,
        2..=4 => 2,
        _ => 3,
    }
}

struct BestOfNFigure<'a> {
    r: &'a BestOfNResult,
    cols: usize,
}

fn pm_color(pm: &str, index: usize) -> RGBColor {
    match pm {
        PM => RGBColor(0xD6, 0x28, 0x28),
        NON_SYCOPHANTIC_PM => RGBColor(0x21, 0x66, 0xAC),
        _ => {
            let (r, g, b) = Palette99::pick(index + 2).rgb();
            RGBColor(r, g, b)
        }
    }
}

/// The line of no preference, for a share rated more positive than the neutral response's.
fn reference(metric: &str) -> Option<f64> {
    (metric == "more_positive").then_some(0.5)
}

impl BestOfNFigure<'_> {
    /// The y range shared by the panels: every mean and interval end, padded; a share's axis
    /// stays within [0, 1].
    fn y_range(&self) -> (f64, f64) {
        let values = self.r.curves.iter().flat_map(|c| c.points.iter()).flat_map(|p| [p.mean, p.ci_low, p.ci_high]);
        let values: Vec<f64> = values.chain(reference(&self.r.metric)).filter(|v| v.is_finite()).collect();
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !lo.is_finite() {
            return (0.0, 1.0);
        }
        let pad = ((hi - lo) * 0.12).max(0.03);
        let (mut y0, mut y1) = (lo - pad, hi + pad);
        if lo >= 0.0 {
            y0 = y0.max(0.0);
        }
        if hi <= 1.0 {
            y1 = y1.min(1.0);
        }
        (y0, y1)
    }

    fn legend<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, y: i32) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let mut x = 24i32;
        for (i, pm) in self.r.pms().into_iter().enumerate() {
            let color = pm_color(pm, i);
            let style = ShapeStyle::from(&color).stroke_width(3);
            area.draw(&PathElement::new(vec![(x, y), (x + 40, y)], style))?;
            draw_marker(area, i, (x + 20, y), color)?;
            let label = pm_label(pm);
            area.draw_text(&label, &label_font().pos(Pos::new(HPos::Left, VPos::Center)), (x + 50, y))?;
            x += 50 + (label.chars().count() as f64 * 11.0) as i32 + 36;
        }
        if reference(&self.r.metric).is_some() {
            area.draw(&DashedPathElement::new(vec![(x, y), (x + 40, y)], 8, 6, BLACK.stroke_width(2)))?;
            area.draw_text("no preference (0.5)", &label_font().pos(Pos::new(HPos::Left, VPos::Center)), (x + 50, y))?;
        }
        Ok(())
    }

    fn panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, group: &str, (y0, y1): (f64, f64)) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let sizes = self.r.sizes();
        let last = sizes.last().map_or(0.0, |&n| (n as f64).log2());
        let (x0, x1) = (-0.3, last + 0.3);
        let caption = ("sans-serif", 24).into_font().style(FontStyle::Bold);
        let mut chart = ChartBuilder::on(area)
            .caption(group, caption)
            .margin(16)
            .x_label_area_size(70)
            .y_label_area_size(90)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let decimals = if y1 - y0 < 0.1 { 3 } else { 2 };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(8)
            .y_label_style(label_font())
            .y_label_formatter(&|y| format!("{y:.*}", decimals))
            .y_desc(self.r.metric.as_str())
            .x_desc("N (samples, log scale)")
            .axis_desc_style(label_font())
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(TRANSPARENT)
            .draw()?;
        // A tick, a grid line and the label at each N.
        let base = area.get_base_pixel();
        let grid = ShapeStyle::from(&RGBColor(225, 225, 225)).stroke_width(1);
        let tick_font = label_font().pos(Pos::new(HPos::Center, VPos::Top));
        for &n in &sizes {
            let x = (n as f64).log2();
            chart.draw_series(std::iter::once(PathElement::new(vec![(x, y0), (x, y1)], grid)))?;
            let (px, py) = chart.backend_coord(&(x, y0));
            area.draw(&PathElement::new(vec![(px - base.0, py - base.1), (px - base.0, py - base.1 + 6)], BLACK.stroke_width(1)))?;
            area.draw_text(&n.to_string(), &tick_font, (px - base.0, py - base.1 + 10))?;
        }
        if let Some(r) = reference(&self.r.metric) {
            chart.draw_series(std::iter::once(DashedPathElement::new(vec![(x0, r), (x1, r)], 8, 6, BLACK.stroke_width(2))))?;
        }
        let pms = self.r.pms();
        let k = pms.len();
        for (i, pm) in pms.into_iter().enumerate() {
            let Some(curve) = self.r.curve(group, pm) else { continue };
            let color = pm_color(pm, i);
            let dx = (i as f64 - (k as f64 - 1.0) / 2.0) * 2.0 * DODGE;
            let mut points: Vec<_> = curve.points.iter().filter(|p| p.mean.is_finite() && p.n > 0).collect();
            points.sort_by_key(|p| p.n);
            let at = |n: usize| (n as f64).log2() + dx;
            chart.draw_series(std::iter::once(PathElement::new(
                points.iter().map(|p| (at(p.n), p.mean)).collect::<Vec<_>>(),
                ShapeStyle::from(&color).stroke_width(3),
            )))?;
            let whisker = ShapeStyle::from(&color).stroke_width(2);
            for p in &points {
                let x = at(p.n);
                if p.ci_low.is_finite() && p.ci_high.is_finite() {
                    let cap = 0.04;
                    for path in [
                        vec![(x, p.ci_low), (x, p.ci_high)],
                        vec![(x - cap, p.ci_low), (x + cap, p.ci_low)],
                        vec![(x - cap, p.ci_high), (x + cap, p.ci_high)],
                    ] {
                        chart.draw_series(std::iter::once(PathElement::new(path, whisker)))?;
                    }
                }
                let (px, py) = chart.backend_coord(&(x, p.mean));
                draw_marker(area, i, (px - base.0, py - base.1), color)?;
            }
        }
        Ok(())
    }
}

/// A filled circle for the first PM, a triangle for the second, a square for any other.
fn draw_marker<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, index: usize, (x, y): (i32, i32), color: RGBColor) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let white = ShapeStyle::from(&WHITE).stroke_width(2);
    match index {
        0 => {
            area.draw(&Circle::new((x, y), 8, color.filled()))?;
            area.draw(&Circle::new((x, y), 8, white))?;
        }
        1 => {
            let pts = vec![(x, y - 10), (x - 9, y + 7), (x + 9, y + 7)];
            area.draw(&Polygon::new(pts.clone(), color.filled()))?;
            area.draw(&PathElement::new(pts.into_iter().chain([(x, y - 10)]).collect::<Vec<_>>(), white))?;
        }
        _ => area.draw(&Rectangle::new([(x - 7, y - 7), (x + 7, y + 7)], color.filled()))?,
    }
    Ok(())
}

impl Figure for BestOfNFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let r = self.r;
        let (header, body) = root.split_vertically(HEADER);
        let title = format!("Best-of-N against a preference model: {}", r.name);
        header.draw_text(&title, &title_font(), (24, 14))?;
        let what = format!(
            "policy {} on probe {}{}, N_max = {}; each point: mean over the conversations of the best-scored of N samples, with its 95% interval",
            r.policy,
            r.probe,
            if r.family.is_empty() || r.family == r.probe { String::new() } else { format!(" ({})", r.family) },
            r.n_max
        );
        header.draw_text(&what, &small_font(), (24, 58))?;
        let meaning = if r.metric_meaning.is_empty() { r.metric.clone() } else { format!("{}: {}", r.metric, r.metric_meaning) };
        header.draw_text(&meaning, &small_font(), (24, 84))?;
        self.legend(&header, 132)?;
        let groups = r.groups();
        let rows = groups.len().max(1).div_ceil(self.cols);
        let panels = body.split_evenly((rows, self.cols));
        let y = self.y_range();
        for (panel, group) in panels.iter().zip(&groups) {
            self.panel(panel, group, y)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn grid_columns() {
        assert_eq!([1, 2, 3, 4, 5, 9].map(super::columns), [1, 2, 2, 2, 3, 3]);
    }
}
