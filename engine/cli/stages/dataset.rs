//! `data/NAME`: records of one kind from a source, split and sampled, written as canonical JSONL.
//!
//! Output: `train.jsonl`, `test.jsonl`, `dataset.json`. Without `split` every record serves both
//! training and evaluation (the sycophancy samples are only ever evaluated).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use syco_core::stage::{PlanEnv, StageCtx, StageDef, StageKind};
use syco_data::{Kind, PyRandom, Record, SplitSizes, SplitSpec};

use super::source::{self, Source};
use crate::plan::DatasetSpec;

pub struct DatasetStage;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sample {
    n: usize,
    #[serde(default)]
    seed: Option<u64>,
}

impl StageKind for DatasetStage {
    fn name(&self) -> &'static str {
        "dataset"
    }
    fn version(&self) -> u32 {
        1
    }

    fn key_extras(&self, def: &StageDef, env: &PlanEnv) -> Result<BTreeMap<String, String>> {
        let spec: DatasetSpec = serde_json::from_value(def.params.clone())?;
        let mut extras = BTreeMap::new();
        for (field, value) in [("source", &spec.source), ("train_source", &spec.train_source), ("test_source", &spec.test_source)] {
            if let Some(v) = value {
                let src = Source::parse(v).with_context(|| format!("{}: `{field}`", def.id))?;
                extras.extend(source::identity(&src, field, def, env)?);
            }
        }
        Ok(extras)
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let spec: DatasetSpec = serde_json::from_value(ctx.def.params.clone())?;
        let kind: Kind = spec.kind.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        let load = |v: &Value, tag: &str| -> Result<Vec<Record>> {
            let src = Source::parse(v)?;
            source::load_records(&src, kind, ctx, tag)
        };
        let (mut train, mut test) = match (&spec.source, &spec.train_source, &spec.test_source) {
            (Some(v), _, _) => {
                let all = load(v, "source")?;
                match &spec.split {
                    Some(split) => {
                        let split: SplitSpec = serde_json::from_value(split.clone()).context("`split`")?;
                        let sizes = SplitSizes { len: all.len(), train: split.train, test: split.test };
                        let idx = syco_data::split_indices(split.seed, split.method, &[sizes])?.remove(0);
                        (syco_data::select(&all, &idx.train), syco_data::select(&all, &idx.test))
                    }
                    None => (all.clone(), all),
                }
            }
            (None, train, test) if train.is_some() || test.is_some() => {
                let train = train.as_ref().map(|v| load(v, "train_source")).transpose()?.unwrap_or_default();
                let test = test.as_ref().map(|v| load(v, "test_source")).transpose()?.unwrap_or_default();
                (train, test)
            }
            _ => {
                // antisyc: the sycophancy datasets named in `from` (their test records).
                let mut all = vec![];
                for name in &spec.from {
                    let dir = ctx.inputs.get(name).with_context(|| format!("input {name}"))?;
                    all.extend(syco_data::read_jsonl(&dir.join("test.jsonl"))?);
                }
                (all.clone(), all)
            }
        };
        if let Some(sample) = &spec.sample {
            let sample: Sample = match sample {
                Value::Number(n) => Sample { n: n.as_u64().context("`sample` must be a count")? as usize, seed: None },
                other => serde_json::from_value(other.clone()).context("`sample`")?,
            };
            let seed = sample.seed.unwrap_or(42);
            test = sample_records(&test, sample.n, seed).context("`sample`")?;
            if spec.split.is_none() && spec.train_source.is_none() {
                train = test.clone();
            }
        }
        if kind == Kind::AntiSyc && train.iter().any(|r| r.kind().is_benchmark()) {
            bail!("an antisyc dataset is built from sycophancy records (feedback, are_you_sure, answer)");
        }
        syco_data::write_jsonl(&ctx.out_dir.join("train.jsonl"), &train)?;
        syco_data::write_jsonl(&ctx.out_dir.join("test.jsonl"), &test)?;
        let meta = json!({ "kind": kind.as_str(), "train": train.len(), "test": test.len(), "templates": spec.templates });
        std::fs::write(ctx.out_dir.join("dataset.json"), serde_json::to_vec_pretty(&meta)?)?;
        ctx.log.line(&format!("{} train, {} test records of kind {}", train.len(), test.len(), kind.as_str()));
        Ok(())
    }
}

/// `random.seed(seed); random.sample(records, n)` as the study drew its 300 per task (SPEC §1.3).
fn sample_records(records: &[Record], n: usize, seed: u64) -> Result<Vec<Record>> {
    if n >= records.len() {
        return Ok(records.to_vec());
    }
    PyRandom::new(seed).sample(records, n).context("sample larger than the dataset")
}

/// The records a stage's input dataset holds (`train.jsonl` or `test.jsonl`).
pub fn read_split(dir: &std::path::Path, split: &str) -> Result<Vec<Record>> {
    let path: PathBuf = dir.join(format!("{split}.jsonl"));
    Ok(syco_data::read_jsonl(&path)?)
}
