//! Training-loss curves from `train_log.jsonl` files (one JSON object per line: step, loss, ...).

use super::draw::{label_font, model_color, small_font, title_font};
use super::{render, DrawResult, Figure, HEIGHT, WIDTH};
use crate::error::{io_err, AnalysisError, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossPoint {
    pub step: f64,
    pub loss: f64,
}

/// Reads the `step` and `loss` of every line; lines without a loss (e.g. evaluation records) are skipped.
pub fn read_train_log(path: &Path) -> Result<Vec<LossPoint>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let mut points = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| AnalysisError::Json {
            path: path.into(),
            line: i + 1,
            column: e.column(),
            msg: e.to_string(),
        })?;
        let field = |name: &str| v.get(name).and_then(serde_json::Value::as_f64);
        let Some(loss) = field("loss") else { continue };
        let step = field("step").ok_or_else(|| AnalysisError::Field {
            path: path.into(),
            field: "step".into(),
            msg: format!("line {} has a loss but no numeric step", i + 1),
        })?;
        points.push(LossPoint { step, loss });
    }
    Ok(points)
}

/// One figure, `training_loss.png|svg` in `dir`, with a line per run `(name, train_log.jsonl)`.
pub fn loss_curves(runs: &[(String, PathBuf)], dir: &Path) -> Result<Vec<PathBuf>> {
    let curves = runs.iter().map(|(name, path)| Ok((name.clone(), read_train_log(path)?))).collect::<Result<Vec<_>>>()?;
    render(dir, "training_loss", (WIDTH, HEIGHT), &LossFigure { curves })
}

struct LossFigure {
    curves: Vec<(String, Vec<LossPoint>)>,
}

impl Figure for LossFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let all = self.curves.iter().flat_map(|(_, c)| c.iter());
        let (mut x1, mut y0, mut y1) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
        for p in all {
            x1 = x1.max(p.step);
            y0 = y0.min(p.loss);
            y1 = y1.max(p.loss);
        }
        if !y0.is_finite() {
            (y0, y1) = (0.0, 1.0);
        }
        let pad = ((y1 - y0) * 0.08).max(1e-3);
        let mut chart = ChartBuilder::on(root)
            .caption("Training loss", title_font())
            .margin(24)
            .x_label_area_size(70)
            .y_label_area_size(100)
            .build_cartesian_2d(0.0..x1 * 1.02, (y0 - pad)..(y1 + pad))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("loss")
            .axis_desc_style(label_font())
            .x_label_style(label_font())
            .y_label_style(label_font())
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for (i, (name, points)) in self.curves.iter().enumerate() {
            let color = model_color(name, i);
            chart
                .draw_series(LineSeries::new(points.iter().map(|p| (p.step, p.loss)), color.stroke_width(3)))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3)));
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_losses_and_reports_bad_lines_by_number() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train_log.jsonl");
        std::fs::write(
            &p,
            "{\"step\": 1, \"loss\": 2.5, \"lr\": 0.1}\n{\"step\": 2, \"eval_loss\": 2.0}\n\n{\"step\": 3, \"loss\": 2.0}\n",
        )
        .unwrap();
        let pts = read_train_log(&p).unwrap();
        assert_eq!(pts, vec![LossPoint { step: 1.0, loss: 2.5 }, LossPoint { step: 3.0, loss: 2.0 }]);

        std::fs::write(&p, "{\"step\": 1, \"loss\": 2.5}\n{\"loss\": 2.0}\n").unwrap();
        let err = read_train_log(&p).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("step"), "{err}");

        std::fs::write(&p, "{\"step\": 1, \"loss\": 2.5}\nnot json\n").unwrap();
        let err = read_train_log(&p).unwrap_err().to_string();
        assert!(err.contains("train_log.jsonl:2:"), "{err}");
    }
}
