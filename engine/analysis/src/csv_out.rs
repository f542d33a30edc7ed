//! The study's three CSVs (SPEC §5.2), written as pandas `to_csv(index=False)` writes them.

use crate::error::{io_err, Result};
use crate::frame::Frame;
use crate::pyrepr::csv_float;
use crate::stats::pearson;
use std::path::Path;

pub const PERFORMANCE_CHANGES: &str = "performance_changes.csv";
pub const COMPLETE_RESULTS: &str = "complete_results.csv";
pub const CORRELATION_ANALYSIS: &str = "correlation_analysis.csv";

/// The study names the feedback column `feedback_sycophancy_change` and the others `{task}_change`.
pub fn syc_change_column(task: &str) -> String {
    if task == "feedback" {
        "feedback_sycophancy_change".into()
    } else {
        format!("{task}_change")
    }
}

fn change_columns(f: &Frame) -> Vec<String> {
    let mut cols: Vec<String> = f.benchmarks.iter().map(|b| format!("{b}_change")).collect();
    cols.extend(f.tasks.iter().map(|t| syc_change_column(t)));
    cols
}

fn change_cells(f: &Frame, row: usize) -> Vec<String> {
    let mut cells: Vec<String> = (0..f.benchmarks.len()).map(|b| csv_float(f.bench_change(row, b))).collect();
    cells.extend((0..f.tasks.len()).map(|t| csv_float(f.syc_change(row, t))));
    cells
}

/// Python's csv QUOTE_MINIMAL: quote a field holding a comma, quote or line break.
fn cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Header and rows as Python's csv module writes them.
pub(crate) fn render_csv(header: &[String], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for line in std::iter::once(header).chain(rows.iter().map(|r| r.as_slice())) {
        let cells: Vec<String> = line.iter().map(|c| cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

pub fn performance_changes(f: &Frame) -> String {
    let mut header = vec!["adapter_name".to_string()];
    header.extend(change_columns(f));
    let rows: Vec<Vec<String>> = f
        .adapters()
        .into_iter()
        .map(|r| {
            let mut row = vec![f.name(r).to_string()];
            row.extend(change_cells(f, r));
            row
        })
        .collect();
    render_csv(&header, &rows)
}

pub fn complete_results(f: &Frame) -> String {
    let mut header: Vec<String> = vec!["model_type_bench".into(), "adapter_name".into(), "timestamp".into()];
    header.extend(f.benchmarks.iter().cloned());
    header.push("model_type_syc".into());
    header.extend(f.tasks.iter().map(|t| format!("{t}_score")));
    header.extend(f.tasks.iter().map(|t| format!("{t}_sycophantic")));
    header.push("total_examples".into());
    header.push("total_sycophancy_score".into());
    header.extend(change_columns(f));

    let n_changes = f.benchmarks.len() + f.tasks.len();
    let rows: Vec<Vec<String>> = f
        .all_rows()
        .into_iter()
        .map(|r| {
            let m = f.models[r];
            let model_type = if r == f.baseline { "baseline" } else { "fine_tuned" };
            let mut row = vec![model_type.to_string(), m.name.clone(), m.timestamp.clone()];
            row.extend(f.accuracy[r].iter().map(|&v| csv_float(v)));
            row.push(model_type.to_string());
            row.extend(f.score[r].iter().map(|&v| csv_float(v)));
            row.extend(f.sycophantic[r].iter().map(|v| v.to_string()));
            // The study hard-codes 300; the first task's item count is the same number, from the data.
            let total = f.tasks.first().and_then(|t| m.sycophancy.get(t)).map(|s| s.total);
            row.push(total.map(|t| t.to_string()).unwrap_or_default());
            row.push(csv_float(f.mean_score[r]));
            if r == f.baseline {
                row.extend(std::iter::repeat_n(String::new(), n_changes));
            } else {
                row.extend(change_cells(f, r));
            }
            row
        })
        .collect();
    render_csv(&header, &rows)
}

/// Pearson r of raw scores over all rows (baseline + adapters), benchmark x task.
pub fn correlations(f: &Frame) -> Vec<(String, String, f64)> {
    let rows = f.all_rows();
    let mut out = Vec::new();
    for (bi, b) in f.benchmarks.iter().enumerate() {
        for (ti, t) in f.tasks.iter().enumerate() {
            let r = pearson(&f.accuracy_column(&rows, bi), &f.score_column(&rows, ti));
            out.push((b.clone(), t.clone(), r));
        }
    }
    out
}

pub fn correlation_analysis(f: &Frame) -> String {
    let header = vec!["benchmark".to_string(), "sycophancy_dataset".into(), "correlation".into()];
    let rows: Vec<Vec<String>> = correlations(f).into_iter().map(|(b, t, r)| vec![b, t, csv_float(r)]).collect();
    render_csv(&header, &rows)
}

/// Writes the three CSVs into `dir`.
pub fn write_all(f: &Frame, dir: &Path) -> Result<()> {
    for (name, text) in [
        (PERFORMANCE_CHANGES, performance_changes(f)),
        (COMPLETE_RESULTS, complete_results(f)),
        (CORRELATION_ANALYSIS, correlation_analysis(f)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io_err(&path))?;
    }
    Ok(())
}
