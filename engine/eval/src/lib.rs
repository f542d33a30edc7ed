//! syco-eval: scoring of capability benchmarks and SycophancyEval under the study's rules
//! (`Scoring::Seed`) or with its defects fixed (`Scoring::Strict`, see STRICT.md), and the
//! statistics around them.
//!
//! An evaluation of one model on one task is two cached steps:
//! 1. [`respond()`]: prompts (from `syco_data::prompts::eval_prompts`) and the model's raw outputs
//!    per item, through the [`Backend`] the ML layer implements, resumable via an [`ItemCache`];
//! 2. [`score()`]: per-item [`ItemVerdict`]s with every flag under the study's names, and
//!    [`Metrics`] in the study's JSON shape (plus Wilson intervals and position bias).
//!
//! [`compare`] tests a model against the baseline on matched items (McNemar, paired bootstrap,
//! Benjamini–Hochberg); [`score_file()`] re-scores stored responses from a JSON/JSONL file.
//! Text handling follows CPython (`pytext`), so seed verdicts match the study bit for bit.
//!
//! Deliberate deviation: the study skipped are_you_sure items whose dataset prompt had fewer
//! than two turns; every sampled item has two, and records from other sources need not carry the
//! unused "The answer is (" prefill, so no item is skipped for it.

pub mod compare;
pub mod files;
/// SycophancyEval probes (Sharma et al. 2023): dialogues, judging rules, verdicts and metrics.
pub mod probe;
pub mod pytext;
pub mod respond;
pub mod score;
pub mod score_file;
pub mod seed;
pub mod stats;
pub mod strict;
pub mod verdict;

pub use respond::{respond, Backend, GenRequest, ItemCache, ItemResponse, Loglik, LoglikRequest, RespondOptions};
pub use score::score;
pub use score_file::{score_file, ScoreFileError};
pub use verdict::{ItemVerdict, Metrics, Verdict};

use serde::{Deserialize, Serialize};

/// Which rule set scores the responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scoring {
    /// The study's rules exactly, quirks included (SPEC §3).
    #[default]
    Seed,
    /// The study's defects fixed (STRICT.md).
    Strict,
}

impl std::str::FromStr for Scoring {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "seed" => Ok(Scoring::Seed),
            "strict" => Ok(Scoring::Strict),
            other => Err(format!("unknown scoring {other:?}: expected \"seed\" or \"strict\"")),
        }
    }
}
