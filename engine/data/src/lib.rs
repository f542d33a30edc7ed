//! syco-data: canonical records for the study's seven kinds, loaders for the study's and the
//! public layouts, CPython-exact `random` for the study's splits and samples, the built-in
//! mini-suite, prompt and training formats, and anti-sycophancy SFT data.

pub mod error;
pub mod kind;
pub mod record;

pub use error::{DataError, FieldError};
pub use kind::{Kind, UnknownKind};
pub use record::{
    letter, letter_index, Answer, AreYouSure, Feedback, Gsm8k, HellaSwag, McTargets, Message, Mmlu,
    Record, Role, TruthfulQa,
};
pub mod layouts;
pub mod load;

pub use load::{
    load_records, load_valid_records, read_jsonl, to_canonical_value, write_jsonl, Format,
};
pub mod pyrandom;
pub mod split;

pub use pyrandom::PyRandom;
pub use split::{
    sample, sample_indices, select, split, split_indices, SplitIndices, SplitMethod, SplitSizes,
    SplitSpec,
};
pub mod antisyc;
pub mod prompts;

pub use prompts::{
    eval_prompts, train_example, EvalPrompts, Prompt, PromptFormat, Templates, TrainExample,
};
pub mod builtin;
pub mod dataset;

pub use dataset::{Dataset, DatasetMeta};
