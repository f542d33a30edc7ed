//! The study's eight figures (SPEC §5.4), the open tasks' figure, one figure per sycophancy probe
//! family, one per best-of-N result and training-loss curves, as PNG and SVG.
//!
//! Every figure is drawn by one function generic over the plotters backend, so the PNG and the
//! SVG come from the same code. Text uses DejaVu Sans loaded at runtime (no system font lookup).

mod best_of_n;
mod draw;
mod loss;
mod probes;
mod study;
mod tasks;

pub use best_of_n::best_of_n_figures;
pub use loss::{loss_curves, read_train_log, LossPoint};
pub use probes::probe_figures;
pub use study::study_figures;
pub use tasks::task_figure;

use crate::error::{io_err, AnalysisError, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where Debian's `fonts-dejavu-core` puts the fonts.
pub const FONT_DIR: &str = "/usr/share/fonts/truetype/dejavu";

/// Pixel size of every PNG: 1600x1200 keeps labels readable and files modest.
pub const WIDTH: u32 = 1600;
pub const HEIGHT: u32 = 1200;

pub(crate) type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Registers DejaVu Sans (regular and bold) as plotters' `sans-serif`, once per process.
pub fn ensure_fonts() -> Result<()> {
    static LOADED: OnceLock<std::result::Result<(), (PathBuf, String)>> = OnceLock::new();
    let outcome = LOADED.get_or_init(|| {
        for (file, style) in [("DejaVuSans.ttf", FontStyle::Normal), ("DejaVuSans-Bold.ttf", FontStyle::Bold)] {
            let path = Path::new(FONT_DIR).join(file);
            let bytes = std::fs::read(&path).map_err(|e| (path.clone(), e.to_string()))?;
            // plotters keeps fonts for the whole process, so the bytes live as long.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", style, bytes).map_err(|_| (path.clone(), "not a TrueType font".to_string()))?;
        }
        Ok(())
    });
    outcome.clone().map_err(|(path, detail)| AnalysisError::Font { path, detail })
}

/// A figure that can draw itself on any plotters backend.
pub(crate) trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Draws one figure as `NAME.png` and `NAME.svg` in `dir` and returns both paths.
pub(crate) fn render(dir: &Path, name: &str, size: (u32, u32), figure: &impl Figure) -> Result<Vec<PathBuf>> {
    ensure_fonts()?;
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let plot_err = |e: Box<dyn std::error::Error>| AnalysisError::Plot { figure: name.to_string(), msg: e.to_string() };
    let png = dir.join(format!("{name}.png"));
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(e.into()))?;
        figure.draw(&root).map_err(plot_err)?;
        root.present().map_err(|e| plot_err(e.into()))?;
    }
    let svg = dir.join(format!("{name}.svg"));
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(e.into()))?;
        figure.draw(&root).map_err(plot_err)?;
        root.present().map_err(|e| plot_err(e.into()))?;
    }
    Ok(vec![png, svg])
}
