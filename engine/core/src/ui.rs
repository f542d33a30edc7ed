//! The terminal display of a run: progress bars on a terminal, plain lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::stage::StageProgress;

/// Progress display: bars on a terminal, plain lines otherwise.
pub struct Ui {
    multi: Option<MultiProgress>,
    overall: OnceLock<ProgressBar>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    quiet: bool,
}

impl Ui {
    pub fn new(quiet: bool) -> Ui {
        let tty = std::io::stdout().is_terminal() && !quiet;
        let multi = tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Ui { multi, overall: OnceLock::new(), bars: Default::default(), quiet }
    }

    pub(crate) fn start(&self, total: usize) {
        if let Some(m) = &self.multi {
            let bar = m.add(ProgressBar::new(total as u64));
            bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} stages {msg}").expect("valid template"));
            let _ = self.overall.set(bar);
        }
    }

    pub(crate) fn cached(&self) {
        if let Some(b) = self.overall.get() {
            b.inc(1);
        }
    }

    pub(crate) fn stage_started(&self, id: &str) -> StageProgress {
        match &self.multi {
            Some(m) => {
                let bar = m.add(ProgressBar::new_spinner());
                bar.set_style(ProgressStyle::with_template("  {spinner} {prefix} {wide_bar} {pos}/{len} {msg}").expect("valid template"));
                bar.set_prefix(id.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bars.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), bar.clone());
                StageProgress::new(Some(bar))
            }
            None => {
                if !self.quiet {
                    println!("run    {id}");
                }
                StageProgress::new(None)
            }
        }
    }

    pub(crate) fn line(&self, text: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => {
                if !self.quiet {
                    println!("{text}");
                }
            }
        }
    }

    fn end_bar(&self, id: &str) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(|e| e.into_inner()).remove(id) {
            bar.finish_and_clear();
            if let Some(m) = &self.multi {
                m.remove(&bar);
            }
        }
        if let Some(b) = self.overall.get() {
            b.inc(1);
        }
    }

    pub(crate) fn stage_done(&self, id: &str, what: &str, took: Duration) {
        self.end_bar(id);
        self.line(&format!("{what:<6} {id} ({:.2} s)", took.as_secs_f64()));
    }

    pub(crate) fn stage_failed(&self, id: &str, error: &str) {
        self.end_bar(id);
        // Failures go to stderr as well, so they are seen even when stdout is captured.
        eprintln!("FAILED {id}: {error}");
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = self.overall.get() {
            b.finish_and_clear();
        }
    }
}
