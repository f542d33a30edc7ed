//! The ML stage kinds: the only place where the engine core meets data, models, training,
//! evaluation and analysis. One file per stage kind (plus the shared model runtime and sources).
//!
//! Each stage kind's params are one typed struct defined beside it (`ModelParams`,
//! `DatasetParams`, `TrainParams`, ...): the planner builds it, serialises it into
//! `StageDef::params` (part of the key) and the stage reads it back. Stages never see the planner.

pub mod analysis;
pub mod best_of_n;
pub mod dataset;
pub mod eval;
pub mod model;
pub mod probe;
pub mod runtime;
pub mod source;
pub mod task;
pub mod train;

use std::sync::Arc;

use syco_core::Registry;

pub fn register(r: &mut Registry) {
    r.register_kind(Arc::new(model::ModelStage));
    r.register_kind(Arc::new(dataset::DatasetStage));
    r.register_kind(Arc::new(train::TrainStage));
    r.register_kind(Arc::new(train::CombineStage));
    r.register_kind(Arc::new(eval::RespondStage));
    r.register_kind(Arc::new(eval::EvalStage));
    r.register_kind(Arc::new(task::TaskDataStage));
    r.register_kind(Arc::new(task::TaskRespondStage));
    r.register_kind(Arc::new(task::TaskEvalStage));
    r.register_kind(Arc::new(probe::ProbeStage));
    r.register_kind(Arc::new(probe::ProbeRespondStage));
    r.register_kind(Arc::new(probe::ProbeJudgeStage));
    r.register_kind(Arc::new(probe::ProbeEvalStage));
    r.register_kind(Arc::new(best_of_n::SampleStage));
    r.register_kind(Arc::new(best_of_n::PmStage));
    r.register_kind(Arc::new(best_of_n::BonJudgeStage));
    r.register_kind(Arc::new(best_of_n::BonEvalStage));
    r.register_kind(Arc::new(analysis::ImportStage));
    r.register_kind(Arc::new(analysis::AnalysisStage));
}
