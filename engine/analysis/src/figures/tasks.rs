//! `figures/tasks.png|svg`: the open tasks side by side, one group of bars per task (its primary
//! metric), one bar per model, with standard-error bars.

use super::draw::{grouped_bar_panel, model_color, GroupedBars};
use super::{render, DrawResult, Figure, WIDTH};
use crate::error::Result;
use crate::open_tasks::{TaskTable, TASKS_FIGURE};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// A single panel: shorter than the study's grids.
const TASKS_HEIGHT: u32 = 900;

/// Renders `tasks.png` and `tasks.svg` into `dir`; returns the files written.
pub fn task_figure(tables: &[TaskTable], baseline: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    render(dir, TASKS_FIGURE, (WIDTH, TASKS_HEIGHT), &TasksFigure { tables, baseline })
}

struct TasksFigure<'a> {
    tables: &'a [TaskTable],
    baseline: &'a str,
}

impl Figure for TasksFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        // Every model evaluated on some task, in analysis order (the tables keep that order).
        let mut models: Vec<&str> = Vec::new();
        for row in self.tables.iter().flat_map(|t| &t.rows) {
            if !models.contains(&row.model.as_str()) {
                models.push(&row.model);
            }
        }
        let cell = |t: &TaskTable, m: &str| t.value(m, &t.primary).unwrap_or((None, None));
        let series = models
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let values = self.tables.iter().map(|t| cell(t, m).0.unwrap_or(f64::NAN)).collect();
                // The baseline in the study's baseline grey, whatever its name.
                let color = if *m == self.baseline { model_color("baseline", 0) } else { model_color(m, i) };
                (m.to_string(), color, values)
            })
            .collect::<Vec<_>>();
        let errors = models.iter().map(|m| self.tables.iter().map(|t| cell(t, m).1.unwrap_or(f64::NAN)).collect()).collect();
        let annotations = series
            .iter()
            .map(|(_, _, values): &(String, RGBColor, Vec<f64>)| {
                values.iter().map(|v| if v.is_finite() { format!("{v:.3}") } else { "n/a".into() }).collect()
            })
            .collect();
        grouped_bar_panel(
            &root.margin(14, 0, 0, 0),
            &GroupedBars {
                title: "Tasks: each task's primary metric per model (± standard error)",
                y_desc: "score",
                groups: self.tables.iter().map(|t| format!("{} ({})", t.task, t.primary)).collect(),
                series,
                annotations: Some(annotations),
                reference: None,
                errors: Some(errors),
            },
        )
    }
}
