//! `figures/probe_{FAMILY}.png|svg`: one figure per probe family present, one panel per probe,
//! its shares per condition (variant, domain) as bars, one colour per model, with 95% Wilson
//! interval bars.
//!
//! - answer: accuracy per condition;
//! - are_you_sure: accuracy before and after the challenge, the share changed from correct and
//!   the share admitting a mistake, per variant;
//! - feedback: the share rated more positive than the neutral feedback per domain and condition
//!   (and pooled), with the line of no preference at 0.5;
//! - mimicry: the shares of mimicking, correcting and neither responses.

use super::draw::{label_font, model_color, title_font};
use super::{render, DrawResult, Figure, WIDTH};
use crate::error::Result;
use crate::probes::{figure_name, ProbeTable};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};
use syco_data::probe::Family;

/// Title and legend above the panels.
const HEADER: u32 = 120;
const PANEL: u32 = 560;
const MIN_HEIGHT: u32 = 800;
/// The y axis runs to here so a value's text fits above an interval reaching 1.
const Y_TOP: f64 = 1.1;

/// Renders one figure per family present in `tables` into `dir`; returns the files written.
pub fn probe_figures(tables: &[ProbeTable], baseline: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for family in crate::probes::families(tables) {
        let tables: Vec<&ProbeTable> = tables.iter().filter(|t| t.family == family).collect();
        // Every model on some probe of the family, in analysis order (the tables keep it).
        let mut models: Vec<&str> = Vec::new();
        for row in tables.iter().flat_map(|t| &t.rows) {
            if !models.contains(&row.model.as_str()) {
                models.push(&row.model);
            }
        }
        let height = (HEADER + PANEL * tables.len() as u32).max(MIN_HEIGHT);
        let figure = ProbeFigure { family, tables, models, baseline };
        written.extend(render(dir, &figure_name(family), (WIDTH, height), &figure)?);
    }
    Ok(written)
}

struct ProbeFigure<'a> {
    family: Family,
    tables: Vec<&'a ProbeTable>,
    models: Vec<&'a str>,
    baseline: &'a str,
}

/// One bar group: its label under the axis (lines split at `\n`) and the line it shows.
struct Slot {
    label: String,
    group: String,
    metric: String,
}

const AYS_METRICS: [(&str, &str); 4] = [
    ("accuracy_before", "accuracy before"),
    ("accuracy_after", "accuracy after"),
    ("changed_from_correct", "changed from correct"),
    ("admits_mistake", "admits mistake"),
];

impl ProbeFigure<'_> {
    fn title(&self) -> &'static str {
        match self.family {
            Family::Answer => "answer probes: accuracy per condition (95% Wilson intervals)",
            Family::AreYouSure => "are_you_sure probes: before and after \"Are you sure?\" (95% Wilson intervals)",
            Family::Feedback => "feedback probes: share rated more positive than the neutral feedback (95% Wilson intervals)",
            Family::Mimicry => "mimicry probes: share of responses per verdict (95% Wilson intervals)",
        }
    }

    fn y_desc(&self) -> &'static str {
        match self.family {
            Family::Answer => "accuracy",
            Family::AreYouSure => "share of items",
            Family::Feedback => "share more positive",
            Family::Mimicry => "share of responses",
        }
    }

    /// The bar groups of a probe's panel, in the lines' order, over every model's lines.
    fn slots(&self, table: &ProbeTable) -> Vec<Slot> {
        let mut slots: Vec<Slot> = Vec::new();
        let mut add = |label: String, group: &str, metric: &str| {
            if !slots.iter().any(|s| s.group == group && s.metric == metric) {
                slots.push(Slot { label, group: group.to_owned(), metric: metric.to_owned() });
            }
        };
        let own = table.rows.iter().flat_map(|r| r.lines.iter().filter(|l| l.versus.is_none()));
        for l in own {
            match self.family {
                // The conditions, not their split by prompt source.
                Family::Answer if l.metric == "accuracy" && !l.group.contains('/') => add(l.group.clone(), &l.group, &l.metric),
                Family::AreYouSure if l.metric == AYS_METRICS[0].0 => {
                    for (metric, label) in AYS_METRICS {
                        add(format!("{label}\n({})", l.group), &l.group, metric);
                    }
                }
                Family::Feedback if l.metric == "more_positive" => add(l.group.replace('/', "\n"), &l.group, &l.metric),
                Family::Mimicry if l.ci.is_some() => add(l.metric.clone(), &l.group, &l.metric),
                _ => {}
            }
        }
        slots
    }

    fn color(&self, i: usize) -> RGBColor {
        let m = self.models[i];
        // The baseline in the study's baseline grey, whatever its name.
        if m == self.baseline {
            model_color("baseline", 0)
        } else {
            model_color(m, i)
        }
    }

    fn legend<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let (mut x, mut y) = (24i32, 68i32);
        for (i, m) in self.models.iter().enumerate() {
            let w = 36 + (m.chars().count() as f64 * 12.0) as i32;
            if x + w > WIDTH as i32 - 16 && x > 24 {
                (x, y) = (24, y + 28);
            }
            area.draw(&Rectangle::new([(x, y), (x + 20, y + 20)], self.color(i).filled()))?;
            area.draw_text(m, &label_font().pos(Pos::new(HPos::Left, VPos::Center)), (x + 28, y + 10))?;
            x += w + 24;
        }
        if self.family == Family::Feedback {
            let text = "no preference (0.5)";
            let w = 48 + (text.chars().count() as f64 * 12.0) as i32;
            if x + w > WIDTH as i32 - 16 {
                (x, y) = (24, y + 28);
            }
            area.draw(&DashedPathElement::new(vec![(x, y + 10), (x + 36, y + 10)], 8, 6, reference_style()))?;
            area.draw_text(text, &label_font().pos(Pos::new(HPos::Left, VPos::Center)), (x + 44, y + 10))?;
        }
        Ok(())
    }

    fn panel<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, table: &ProbeTable) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let slots = self.slots(table);
        let n = slots.len().max(1);
        // Labels wrapped at `_` where a line would not fit its slot at 16 px (the slot's width
        // estimated from the panel's, less the y labels and margins).
        let slot_estimate = (area.dim_in_pixel().0 as f64 - 90.0 - 32.0) / n as f64;
        let labels: Vec<Vec<String>> = slots.iter().map(|s| wrap(&s.label, (slot_estimate * 0.95 / (0.58 * 16.0)) as usize)).collect();
        let lines_per_label = labels.iter().map(Vec::len).max().unwrap_or(1) as u32;
        let caption = ("sans-serif", 24).into_font().style(FontStyle::Bold);
        let mut chart = ChartBuilder::on(area)
            .caption(&table.probe, caption)
            .margin(16)
            .x_label_area_size(24 + 24 * lines_per_label)
            .y_label_area_size(90)
            .build_cartesian_2d(-0.6..n as f64 - 0.4, 0.0..Y_TOP)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(12)
            .y_label_style(label_font())
            .y_desc(self.y_desc())
            .axis_desc_style(label_font())
            .y_label_formatter(&|y| if *y > 1.0 + 1e-9 { String::new() } else { format!("{y:.1}") })
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(TRANSPARENT)
            .draw()?;

        // Category names under the slots, each line centred, the font shrunk until the longest fits.
        let base = area.get_base_pixel();
        let px = |x: f64, y: f64| {
            let (a, b) = chart.backend_coord(&(x, y));
            (a - base.0, b - base.1)
        };
        let slot_px = (px(1.0, 0.0).0 - px(0.0, 0.0).0).abs() as f64;
        let longest = labels.iter().flatten().map(|l| l.chars().count()).max().unwrap_or(1).max(1) as f64;
        let size = (slot_px * 0.95 / (0.58 * longest)).clamp(12.0, 20.0);
        let font = ("sans-serif", size).into_font().into_text_style(area).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, label) in labels.iter().enumerate() {
            let (x, y) = px(i as f64, 0.0);
            for (j, line) in label.iter().enumerate() {
                area.draw_text(line, &font, (x, y + 10 + (j as f64 * size * 1.2) as i32))?;
            }
        }

        let k = self.models.len().max(1);
        // Bars no wider than 0.3 of a slot, the group centred on it.
        let width = (0.8 / k as f64).min(0.3);
        let start = -width * k as f64 / 2.0;
        let bar_px = slot_px * width;
        let whisker = ShapeStyle::from(&BLACK).stroke_width(2);
        for (si, model) in self.models.iter().enumerate() {
            let row = table.rows.iter().find(|r| r.model == *model);
            let color = self.color(si);
            for (gi, slot) in slots.iter().enumerate() {
                let x0 = gi as f64 + start + si as f64 * width;
                let centre = x0 + width * 0.46;
                // A model without this line (not evaluated there) draws no bar, only "n/a".
                let Some(line) = row.and_then(|r| r.line(&slot.group, &slot.metric)).filter(|l| l.value.is_finite()) else {
                    if bar_px >= 30.0 {
                        let font =
                            ("sans-serif", 14).into_font().color(&RGBColor(0x80, 0x80, 0x80)).pos(Pos::new(HPos::Center, VPos::Bottom));
                        chart.draw_series(std::iter::once(Text::new("n/a", (centre, 0.012), font)))?;
                    }
                    continue;
                };
                let v = line.value;
                chart.draw_series(std::iter::once(Rectangle::new([(x0, 0.0), (x0 + width * 0.92, v)], color.filled())))?;
                let top = match line.ci {
                    Some([lo, hi]) => {
                        let cap = width * 0.18;
                        for path in [
                            vec![(centre, lo), (centre, hi)],
                            vec![(centre - cap, lo), (centre + cap, lo)],
                            vec![(centre - cap, hi), (centre + cap, hi)],
                        ] {
                            chart.draw_series(std::iter::once(PathElement::new(path, whisker)))?;
                        }
                        hi
                    }
                    None => v,
                };
                // The value above the interval, where the bar is wide enough to hold it.
                if bar_px >= 30.0 {
                    let text_size = if bar_px >= 44.0 { 18 } else { 14 };
                    let font = ("sans-serif", text_size).into_font().into_text_style(area).pos(Pos::new(HPos::Center, VPos::Bottom));
                    chart.draw_series(std::iter::once(Text::new(format!("{v:.2}"), (centre, top + 0.012), font)))?;
                }
            }
        }
        // The line of no preference, over the bars.
        if self.family == Family::Feedback {
            chart.draw_series(std::iter::once(DashedPathElement::new(
                vec![(-0.6, 0.5), (n as f64 - 0.4, 0.5)],
                8,
                6,
                reference_style(),
            )))?;
        }
        Ok(())
    }
}

/// The lines of a label: its own (`\n`), each broken after a `_` where longer than `max_chars`.
fn wrap(label: &str, max_chars: usize) -> Vec<String> {
    let mut out = Vec::new();
    for line in label.lines() {
        let mut current = String::new();
        for piece in line.split_inclusive('_') {
            if !current.is_empty() && current.chars().count() + piece.chars().count() > max_chars.max(1) {
                out.push(std::mem::take(&mut current));
            }
            current.push_str(piece);
        }
        out.push(current);
    }
    out
}

fn reference_style() -> ShapeStyle {
    ShapeStyle::from(&BLACK).stroke_width(2)
}

impl Figure for ProbeFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let (header, body) = root.split_vertically(HEADER);
        header.draw_text(self.title(), &title_font(), (24, 16))?;
        self.legend(&header)?;
        let panels = body.split_evenly((self.tables.len().max(1), 1));
        for (panel, table) in panels.iter().zip(&self.tables) {
            self.panel(panel, table)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_wrap_after_underscores_only_where_too_long() {
        assert_eq!(super::wrap("math\ndid_not_write", 9), ["math", "did_not_", "write"]);
        assert_eq!(super::wrap("suggest_wrong", 20), ["suggest_wrong"]);
        assert_eq!(super::wrap("changed from correct\n(prefill)", 5), ["changed from correct", "(prefill)"]);
    }
}
