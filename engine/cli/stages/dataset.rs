//! `data/NAME`: records of one kind from a source, split and sampled, written as canonical JSONL.
//!
//! Output: `train.jsonl`, `test.jsonl`, `dataset.json`. Without `split` every record serves both
//! training and evaluation (the sycophancy samples are only ever evaluated).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use syco_core::stage::{PlanEnv, StageCtx, StageDef, StageKind};
use syco_data::{Draw, Kind, Record, SplitMethod, SplitSizes, SplitSpec, Stream};

use super::source::{self, Source};

pub struct DatasetStage;

/// `[datasets.NAME]`, which is also the params of its `data/NAME` stage.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetParams {
    /// Any spelling `Kind::from_str` accepts; the params hold the canonical name.
    #[serde(deserialize_with = "kind_from_str")]
    pub kind: Kind,
    #[serde(default)]
    pub source: Option<Value>,
    /// Separate files for the two halves (the study's committed splits).
    #[serde(default)]
    pub train_source: Option<Value>,
    #[serde(default)]
    pub test_source: Option<Value>,
    /// A `SplitSpec` table.
    #[serde(default)]
    pub split: Option<Value>,
    /// A count, or a `Sample` table.
    #[serde(default)]
    pub sample: Option<Value>,
    /// Prompt / training-text templates replacing the study's defaults.
    #[serde(default)]
    pub templates: Option<Value>,
    /// `antisyc` datasets: the sycophancy datasets whose records become SFT examples.
    #[serde(default)]
    pub from: Vec<String>,
}

fn kind_from_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sample {
    n: usize,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    stream: Option<String>,
}

/// The input through which a dataset resumes carried stream NAME: the previous dataset drawing
/// from it, in declared order.
pub fn stream_input(name: &str) -> String {
    format!("stream:{name}")
}

/// The random streams one dataset draws from: its own `random.seed(seed)`, or a carried stream
/// resumed from the draws the previous dataset in it recorded in its `dataset.json`.
struct Streams<'a> {
    ctx: &'a StageCtx<'a>,
    carried: BTreeMap<String, Stream>,
}

impl<'a> Streams<'a> {
    fn draw_from(&mut self, name: Option<&str>, seed: u64) -> Result<&mut Stream> {
        let Some(name) = name else {
            // Not carried: a fresh stream, recorded nowhere.
            self.carried.insert(String::new(), Stream::new(seed));
            return Ok(self.carried.get_mut("").expect("just inserted"));
        };
        if !self.carried.contains_key(name) {
            let stream = match self.ctx.inputs.get(&stream_input(name)) {
                None => Stream::new(seed),
                Some(prev) => {
                    let meta_path = prev.join("dataset.json");
                    let meta: Value =
                        serde_json::from_slice(&std::fs::read(&meta_path)?).with_context(|| format!("{}", meta_path.display()))?;
                    let state = &meta["streams"][name];
                    let prev_seed = state["seed"].as_u64().context("the previous dataset recorded no seed for the stream")?;
                    if prev_seed != seed {
                        bail!("stream `{name}` was seeded with {prev_seed} by the previous dataset, not {seed}");
                    }
                    let draws: Vec<Draw> = serde_json::from_value(state["draws"].clone())?;
                    Stream::resume(seed, &draws)
                }
            };
            self.carried.insert(name.to_string(), stream);
        }
        let stream = self.carried.get_mut(name).expect("just inserted");
        if stream.seed() != seed {
            bail!("stream `{name}` is used with two seeds ({} and {seed})", stream.seed());
        }
        Ok(stream)
    }

    /// `{NAME: {seed, draws}}` for every carried stream, for the next dataset to resume from.
    fn record(&self) -> Value {
        let streams: serde_json::Map<String, Value> = self
            .carried
            .iter()
            .filter(|(name, _)| !name.is_empty())
            .map(|(name, s)| (name.clone(), json!({ "seed": s.seed(), "draws": s.draws() })))
            .collect();
        Value::Object(streams)
    }
}

impl StageKind for DatasetStage {
    fn name(&self) -> &'static str {
        "dataset"
    }
    fn version(&self) -> u32 {
        3 // 3: sycophancy files go through the study's validity filter (raw SycophancyEval files load)
    }

    fn key_extras(&self, def: &StageDef, env: &PlanEnv) -> Result<BTreeMap<String, String>> {
        let spec: DatasetParams = serde_json::from_value(def.params.clone())?;
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
        let spec: DatasetParams = serde_json::from_value(ctx.def.params.clone())?;
        let kind = spec.kind;
        let load = |v: &Value, tag: &str| -> Result<Vec<Record>> {
            let src = Source::parse(v)?;
            source::load_records(&src, kind, ctx, tag)
        };
        let mut streams = Streams { ctx, carried: BTreeMap::new() };
        let (mut train, mut test) = match (&spec.source, &spec.train_source, &spec.test_source) {
            (Some(v), _, _) => {
                let all = load(v, "source")?;
                match &spec.split {
                    Some(split) => {
                        let split: SplitSpec = serde_json::from_value(split.clone()).context("`split`")?;
                        if split.stream.is_some() && split.method == SplitMethod::Native {
                            bail!("`split`: a carried `stream` is the python method's; `native` gives every dataset its own");
                        }
                        let sizes = SplitSizes { len: all.len(), train: split.train, test: split.test };
                        let idx = streams.draw_from(split.stream.as_deref(), split.seed)?.split(sizes).context("`split`")?;
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
                Value::Number(n) => Sample { n: n.as_u64().context("`sample` must be a count")? as usize, seed: None, stream: None },
                other => serde_json::from_value(other.clone()).context("`sample`")?,
            };
            // `random.sample(records, n)` as the study drew its 300 per task (SPEC §1.3); asking
            // for all of them (or more) keeps the file order and draws nothing.
            if sample.n < test.len() {
                let stream = streams.draw_from(sample.stream.as_deref(), sample.seed.unwrap_or(42))?;
                let picked = stream.sample(test.len(), sample.n).expect("n < len");
                test = syco_data::select(&test, &picked);
            }
            if spec.split.is_none() && spec.train_source.is_none() {
                train = test.clone();
            }
        }
        if kind == Kind::AntiSyc && train.iter().any(|r| r.kind().is_benchmark()) {
            bail!("an antisyc dataset is built from sycophancy records (feedback, are_you_sure, answer)");
        }
        syco_data::write_jsonl(&ctx.out_dir.join("train.jsonl"), &train)?;
        syco_data::write_jsonl(&ctx.out_dir.join("test.jsonl"), &test)?;
        let meta = json!({ "kind": kind.as_str(), "train": train.len(), "test": test.len(), "templates": spec.templates, "streams": streams.record() });
        std::fs::write(ctx.out_dir.join("dataset.json"), serde_json::to_vec_pretty(&meta)?)?;
        ctx.log.line(&format!("{} train, {} test records of kind {}", train.len(), test.len(), kind.as_str()));
        Ok(())
    }
}

/// The records a stage's input dataset holds (`train.jsonl` or `test.jsonl`).
pub fn read_split(dir: &std::path::Path, split: &str) -> Result<Vec<Record>> {
    let path: PathBuf = dir.join(format!("{split}.jsonl"));
    Ok(syco_data::read_jsonl(&path)?)
}
