//! syco-data: canonical records for the study's seven kinds, loaders for the study's and the
//! public layouts, CPython-exact `random` for the study's splits and samples, the built-in
//! mini-suite, prompt and training formats, and anti-sycophancy SFT data.
//!
//! - `record`, `kind`: the record types (`Record::kind`, `Record::id`, gold accessors).
//! - `layouts`, `load`: JSON/JSONL/CSV in the study's or public layouts -> records; canonical JSONL.
//! - `pyrandom`, `split`: `random.seed/shuffle/sample` bit for bit; splits and samples.
//! - `prompts`: the study's prompts and training texts as overridable templates.
//! - `antisyc`: anti-sycophancy SFT examples from sycophancy records.
//! - `builtin`: the mini-suite generators (`builtin = "mini/<kind>"`).
//! - `docs`: an arbitrary task's records ("docs") from JSONL/JSON/CSV/parquet; canonical docs JSONL.
//! - `dataset`: a built dataset directory (`train.jsonl`, `test.jsonl`, `dataset.json`).
//! - `probe`: sycophancy probe items (answer, are_you_sure, feedback, mimicry) and their conditions.
//! - `probe_load`: raw SycophancyEval files -> probe items; the study's sample of them.
//! - `rng`: the engine's one SplitMix64 generator and FNV-1a hash, shared by every crate.

pub mod antisyc;
pub mod builtin;
pub mod dataset;
pub mod docs;
pub mod error;
pub mod kind;
pub mod layouts;
pub mod load;
mod parquet;
pub mod probe;
pub mod probe_load;
pub mod prompts;
pub mod pyrandom;
pub mod record;
pub mod rng;
pub mod split;

pub use dataset::{Dataset, DatasetMeta};
pub use docs::{load_docs, read_docs_jsonl, write_docs_jsonl, DocFormat, LocatedDoc};
pub use error::{DataError, FieldError};
pub use kind::{Kind, UnknownKind};
pub use load::{load_records, load_valid_records, read_jsonl, to_canonical_value, write_jsonl, Format};
pub use probe_load::{load_probe_items, study_sample, LoadedProbe};
pub use prompts::{eval_prompts, train_example, EvalPrompts, Prompt, PromptFormat, Templates, TrainExample};
pub use pyrandom::PyRandom;
pub use record::{
    letter, letter_index, Answer, AreYouSure, Feedback, Gsm8k, HellaSwag, McTargets, Message, Mmlu, Record, Role, TruthfulQa,
};
pub use split::{sample, sample_indices, select, split, split_indices, Draw, SplitIndices, SplitMethod, SplitSizes, SplitSpec, Stream};
