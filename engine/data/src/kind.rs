//! The record kinds a dataset can hold.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Gsm8k,
    Mmlu,
    #[serde(rename = "truthfulqa")]
    TruthfulQa,
    #[serde(rename = "hellaswag")]
    HellaSwag,
    Feedback,
    AreYouSure,
    Answer,
    /// Anti-sycophancy SFT data: records of the three sycophancy kinds, trained towards the
    /// answer that resists the user's stated opinion (see `antisyc`).
    #[serde(rename = "antisyc")]
    AntiSyc,
}

impl Kind {
    pub const ALL: [Kind; 8] =
        [Kind::Gsm8k, Kind::Mmlu, Kind::TruthfulQa, Kind::HellaSwag, Kind::Feedback, Kind::AreYouSure, Kind::Answer, Kind::AntiSyc];
    pub const BENCHMARKS: [Kind; 4] = [Kind::Gsm8k, Kind::Mmlu, Kind::TruthfulQa, Kind::HellaSwag];
    pub const SYCOPHANCY: [Kind; 3] = [Kind::Feedback, Kind::AreYouSure, Kind::Answer];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gsm8k => "gsm8k",
            Kind::Mmlu => "mmlu",
            Kind::TruthfulQa => "truthfulqa",
            Kind::HellaSwag => "hellaswag",
            Kind::Feedback => "feedback",
            Kind::AreYouSure => "are_you_sure",
            Kind::Answer => "answer",
            Kind::AntiSyc => "antisyc",
        }
    }

    pub fn is_benchmark(self) -> bool {
        Kind::BENCHMARKS.contains(&self)
    }

    pub fn is_sycophancy(self) -> bool {
        Kind::SYCOPHANCY.contains(&self)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dataset kind `{0}` (expected one of gsm8k, mmlu, truthfulqa, hellaswag, feedback, are_you_sure, answer, antisyc)")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Ok(match norm.as_str() {
            "gsm8k" => Kind::Gsm8k,
            "mmlu" => Kind::Mmlu,
            "truthfulqa" | "truthful_qa" => Kind::TruthfulQa,
            "hellaswag" | "hella_swag" => Kind::HellaSwag,
            "feedback" => Kind::Feedback,
            "are_you_sure" | "areyousure" => Kind::AreYouSure,
            "answer" => Kind::Answer,
            "antisyc" | "anti_sycophancy" => Kind::AntiSyc,
            _ => return Err(UnknownKind(s.to_string())),
        })
    }
}
