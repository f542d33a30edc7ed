//! The ML stage kinds: the only place where the engine core meets data, models, training,
//! evaluation and analysis. One file per stage kind (plus the shared model runtime and sources).

mod analysis;
pub mod dataset;
mod eval;
mod model;
pub mod runtime;
pub mod source;
mod train;

use std::sync::Arc;

use syco_core::Registry;

/// Validates an adapter's `lora` or `train` table as its stage will read it: `Err((field, message))`.
pub fn check_table(table: &str, value: &serde_json::Value) -> Result<(), (String, String)> {
    let result = match table {
        "lora" => train::check_lora(value),
        _ => train::check_train(value),
    };
    result.map_err(|(field, msg)| (field, format!("{table}: {msg}")))
}

pub fn register(r: &mut Registry) {
    r.register_kind(Arc::new(model::ModelStage));
    r.register_kind(Arc::new(dataset::DatasetStage));
    r.register_kind(Arc::new(train::TrainStage));
    r.register_kind(Arc::new(train::CombineStage));
    r.register_kind(Arc::new(eval::RespondStage));
    r.register_kind(Arc::new(eval::EvalStage));
    r.register_kind(Arc::new(analysis::ImportStage));
    r.register_kind(Arc::new(analysis::AnalysisStage));
}
