//! The study's eight figure types (SPEC §5.4), drawn from a [`Summary`].

use super::draw::*;
use super::{render, DrawResult, Figure, HEIGHT, WIDTH};
use crate::error::Result;
use crate::summary::{Summary, RANKING_SCHEMES};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy)]
enum Kind {
    BenchmarkPerformance,
    SycophancyAllAdapters,
    SycophancyChangeSummary,
    CorrelationHeatmap,
    Tradeoff,
    Progression,
    Rankings,
    EachAdapter,
}

/// File names follow the notebook's own names.
const FIGURES: [(Kind, &str); 8] = [
    (Kind::BenchmarkPerformance, "benchmark_performance_comparison"),
    (Kind::SycophancyAllAdapters, "combined_pin_plot_all_adapters"),
    (Kind::SycophancyChangeSummary, "sycophancy_change_summary"),
    (Kind::CorrelationHeatmap, "correlation_heatmap"),
    (Kind::Tradeoff, "performance_sycophancy_tradeoff"),
    (Kind::Progression, "sycophancy_progression"),
    (Kind::Rankings, "adapter_rankings"),
    (Kind::EachAdapter, "pin_plots_benchmark_sycophancy_impact"),
];

/// Renders the eight figures into `dir` (PNG and SVG each); returns the files written. A figure
/// whose numbers were not evaluated (no benchmark, no sycophancy task, no adapter) is left out
/// rather than drawn empty.
pub fn study_figures(summary: &Summary, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (kind, name) in FIGURES {
        if drawable(kind, summary) {
            files.extend(render(dir, name, (WIDTH, HEIGHT), &StudyFigure { kind, s: summary })?);
        }
    }
    Ok(files)
}

/// Whether a figure has the numbers it plots.
fn drawable(kind: Kind, s: &Summary) -> bool {
    let (bench, syc, adapters) = (!s.meta.benchmarks.is_empty(), !s.meta.tasks.is_empty(), !s.adapters().is_empty());
    match kind {
        Kind::BenchmarkPerformance => bench,
        Kind::SycophancyAllAdapters | Kind::SycophancyChangeSummary | Kind::EachAdapter => syc && adapters,
        Kind::CorrelationHeatmap | Kind::Tradeoff => bench && syc,
        // Both plot benchmark changes against sycophancy changes (or combine the two).
        Kind::Progression | Kind::Rankings => bench && syc && adapters,
    }
}

struct StudyFigure<'a> {
    kind: Kind,
    s: &'a Summary,
}

fn num(s: &Summary, path: &str) -> f64 {
    s.get(path).unwrap_or(f64::NAN)
}

fn pretty(task: &str) -> String {
    match task {
        "feedback" => "Feedback".into(),
        "are_you_sure" => "Are You Sure".into(),
        "answer" => "Answer".into(),
        "gsm8k" => "GSM8K".into(),
        "mmlu" => "MMLU".into(),
        "truthfulqa" => "TruthfulQA".into(),
        "hellaswag" => "HellaSwag".into(),
        other => other.into(),
    }
}

/// Splits `root` under a title line into a grid of `n` panels with `cols` columns.
fn grid<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, n: usize, cols: usize) -> Result2<Vec<DrawingArea<DB, Shift>>>
where
    DB::ErrorType: 'static,
{
    let root = root.margin(14, 0, 0, 0).titled(title, ("sans-serif", 36).into_font().style(FontStyle::Bold))?;
    let rows = n.div_ceil(cols);
    Ok(root.split_evenly((rows, cols)).into_iter().take(n).collect())
}

type Result2<T> = std::result::Result<T, Box<dyn std::error::Error>>;

impl Figure for StudyFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let s = self.s;
        let meta = &s.meta;
        let adapters = s.adapters();
        let colors = |names: &[String]| names.iter().enumerate().map(|(i, m)| model_color(m, i)).collect::<Vec<_>>();
        match self.kind {
            Kind::BenchmarkPerformance => {
                let panels = grid(root, "Benchmark accuracy: baseline and adapters", meta.benchmarks.len(), 2)?;
                for (area, b) in panels.iter().zip(&meta.benchmarks) {
                    let values: Vec<f64> = meta.models.iter().map(|m| num(s, &format!("accuracy.{b}.{m}"))).collect();
                    bar_panel(
                        area,
                        &Bars {
                            title: &pretty(b),
                            y_desc: "accuracy",
                            labels: meta.models.clone(),
                            annotations: values.iter().map(|v| format!("{v:.3}")).collect(),
                            values,
                            colors: colors(&meta.models),
                            annotation_colors: None,
                            reference: None,
                            y_range: Some((0.0, 1.1)),
                        },
                    )?;
                }
            }
            Kind::SycophancyAllAdapters => {
                let panels = grid(root, "Sycophancy rate per adapter (change vs baseline)", meta.tasks.len(), meta.tasks.len())?;
                for (area, t) in panels.iter().zip(&meta.tasks) {
                    let values: Vec<f64> = adapters.iter().map(|m| num(s, &format!("score.{t}.{m}"))).collect();
                    let changes: Vec<f64> = adapters.iter().map(|m| num(s, &format!("change.{t}.{m}"))).collect();
                    let base = num(s, &format!("score.{t}.{}", meta.baseline));
                    let mut all = values.clone();
                    all.push(base);
                    let (_, hi) = padded_range(&all);
                    bar_panel(
                        area,
                        &Bars {
                            title: &pretty(t),
                            y_desc: "sycophancy rate",
                            labels: adapters.clone(),
                            annotations: changes.iter().map(|c| format!("{c:+.3}")).collect(),
                            annotation_colors: Some(changes.iter().map(|c| change_color(*c)).collect()),
                            values,
                            colors: colors(&adapters),
                            reference: Some((base, format!("baseline {base:.3}"))),
                            y_range: Some((0.0, hi.max(0.05))),
                        },
                    )?;
                }
            }
            Kind::SycophancyChangeSummary => {
                let panels = grid(root, "Sycophancy change after fine-tuning", 4, 2)?;
                let series = |prefix: &str| -> Vec<(String, RGBColor, Vec<f64>)> {
                    meta.tasks
                        .iter()
                        .enumerate()
                        .map(|(i, t)| {
                            (pretty(t), task_color(t, i), adapters.iter().map(|m| num(s, &format!("{prefix}.{t}.{m}"))).collect())
                        })
                        .collect()
                };
                grouped_bar_panel(
                    &panels[0],
                    &GroupedBars {
                        title: "Absolute change",
                        y_desc: "change in rate",
                        groups: adapters.clone(),
                        series: series("change"),
                        annotations: None,
                        reference: None,
                        errors: None,
                    },
                )?;
                grouped_bar_panel(
                    &panels[1],
                    &GroupedBars {
                        title: "Percentage change",
                        y_desc: "% of baseline",
                        groups: adapters.clone(),
                        series: series("percent_change"),
                        annotations: None,
                        reference: None,
                        errors: None,
                    },
                )?;
                let avg: Vec<f64> = adapters.iter().map(|m| num(s, &format!("avg_syc_change.{m}"))).collect();
                bar_panel(
                    &panels[2],
                    &Bars {
                        title: "Average change per adapter",
                        y_desc: "mean change",
                        labels: adapters.clone(),
                        annotations: avg.iter().map(|v| format!("{v:+.3}")).collect(),
                        annotation_colors: Some(avg.iter().map(|v| change_color(*v)).collect()),
                        values: avg,
                        colors: colors(&adapters),
                        reference: None,
                        y_range: None,
                    },
                )?;
                heatmap_panel(
                    &panels[3],
                    &Heatmap {
                        title: "Change (adapter x task)",
                        rows: adapters.clone(),
                        cols: meta.tasks.iter().map(|t| pretty(t)).collect(),
                        values: adapters.iter().map(|m| meta.tasks.iter().map(|t| num(s, &format!("change.{t}.{m}"))).collect()).collect(),
                        range: 0.2,
                        decimals: 3,
                    },
                )?;
            }
            Kind::CorrelationHeatmap => {
                // The study's pivot sorts rows and columns alphabetically (SPEC §5.4).
                let mut rows = meta.benchmarks.clone();
                rows.sort();
                let mut cols = meta.tasks.clone();
                cols.sort();
                let area = root.margin(14, 0, 0, 0).titled(
                    "Pearson r: benchmark accuracy vs sycophancy rate (all models)",
                    ("sans-serif", 36).into_font().style(FontStyle::Bold),
                )?;
                heatmap_panel(
                    &area.margin(20, 20, 60, 60),
                    &Heatmap {
                        title: "",
                        values: rows.iter().map(|b| cols.iter().map(|t| num(s, &format!("correlation.{b}.{t}"))).collect()).collect(),
                        rows,
                        cols,
                        range: 1.0,
                        decimals: 3,
                    },
                )?;
            }
            Kind::Tradeoff => {
                let panels = grid(root, "Benchmark accuracy vs mean sycophancy rate", meta.benchmarks.len(), 2)?;
                for (area, b) in panels.iter().zip(&meta.benchmarks) {
                    let points = meta
                        .models
                        .iter()
                        .enumerate()
                        .map(|(i, m)| {
                            (
                                m.clone(),
                                model_color(m, i),
                                num(s, &format!("accuracy.{b}.{m}")),
                                num(s, &format!("total_sycophancy_score.{m}")),
                            )
                        })
                        .collect();
                    scatter_panel(
                        area,
                        &Scatter {
                            title: format!("{}  (r = {:+.3})", pretty(b), num(s, &format!("tradeoff.r.{b}"))),
                            x_desc: "accuracy",
                            y_desc: "mean sycophancy rate",
                            points,
                            fit: Some((num(s, &format!("tradeoff.slope.{b}")), num(s, &format!("tradeoff.intercept.{b}")))),
                        },
                    )?;
                }
            }
            Kind::Progression => {
                let panels = grid(root, "Average benchmark change vs sycophancy change", meta.tasks.len(), meta.tasks.len())?;
                for (area, t) in panels.iter().zip(&meta.tasks) {
                    let points = adapters
                        .iter()
                        .enumerate()
                        .map(|(i, m)| {
                            (m.clone(), model_color(m, i), num(s, &format!("avg_bench_change.{m}")), num(s, &format!("change.{t}.{m}")))
                        })
                        .collect();
                    scatter_panel(
                        area,
                        &Scatter {
                            title: format!(
                                "{} (r {:+.3}, slope {:+.3})",
                                pretty(t),
                                num(s, &format!("progression.r.{t}")),
                                num(s, &format!("progression.slope.{t}"))
                            ),
                            x_desc: "avg benchmark change",
                            y_desc: "sycophancy change",
                            points,
                            fit: Some((num(s, &format!("progression.slope.{t}")), num(s, &format!("progression.intercept.{t}")))),
                        },
                    )?;
                }
            }
            Kind::Rankings => {
                let panels = grid(root, "Adapter ranking under five weightings (benchmark, sycophancy)", RANKING_SCHEMES.len(), 3)?;
                for (area, (scheme, wb, ws)) in panels.iter().zip(RANKING_SCHEMES) {
                    let mut order = adapters.clone();
                    order.sort_by_key(|m| num(s, &format!("rank.{scheme}.{m}")) as i64);
                    let values: Vec<f64> = order.iter().map(|m| num(s, &format!("ranking.{scheme}.{m}"))).collect();
                    bar_panel(
                        area,
                        &Bars {
                            title: &format!("{} ({wb}/{ws})", scheme.replace('_', " ")),
                            y_desc: "score",
                            annotations: values.iter().map(|v| format!("{v:.3}")).collect(),
                            values,
                            colors: colors(&order),
                            labels: order,
                            annotation_colors: None,
                            reference: None,
                            y_range: Some((0.0, 1.15)),
                        },
                    )?;
                }
            }
            Kind::EachAdapter => {
                // The four single-task adapters: every adapter but the combined one.
                let singles: Vec<String> = adapters.iter().filter(|m| *m != "combined").cloned().collect();
                let panels = grid(root, "Each adapter: sycophancy vs baseline", singles.len().max(1), 2)?;
                let base_scores: Vec<f64> = meta.tasks.iter().map(|t| num(s, &format!("score.{t}.{}", meta.baseline))).collect();
                let base_mean = crate::stats::mean(&base_scores);
                for (i, (area, m)) in panels.iter().zip(&singles).enumerate() {
                    let scores: Vec<f64> = meta.tasks.iter().map(|t| num(s, &format!("score.{t}.{m}"))).collect();
                    let changes: Vec<String> = meta.tasks.iter().map(|t| format!("{:+.3}", num(s, &format!("change.{t}.{m}")))).collect();
                    grouped_bar_panel(
                        area,
                        &GroupedBars {
                            title: &format!("{m} adapter"),
                            y_desc: "sycophancy rate",
                            groups: meta.tasks.iter().map(|t| pretty(t)).collect(),
                            series: vec![
                                ("baseline".into(), model_color("baseline", 0), base_scores.clone()),
                                (m.clone(), model_color(m, i), scores),
                            ],
                            annotations: Some(vec![base_scores.iter().map(|v| format!("{v:.3}")).collect(), changes]),
                            reference: Some((base_mean, format!("baseline mean {base_mean:.3}"))),
                            errors: None,
                        },
                    )?;
                }
            }
        }
        Ok(())
    }
}
