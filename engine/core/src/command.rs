//! The generic `command` stage: `[stages.NAME]` runs a shell command in a fresh empty folder and
//! stores the files it names in `outs`.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::key::flatten_params;
use crate::manifest::{Manifest, ManifestError};
use crate::stage::{InputRef, Resources, SectionPlanner, StageCtx, StageDef, StageKind};
use crate::suggest::did_you_mean;

/// `[stages.NAME]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandSpec {
    cmd: String,
    #[serde(default)]
    inputs: Vec<String>,
    #[serde(default)]
    params: toml::Table,
    #[serde(default)]
    outs: Vec<String>,
    #[serde(default)]
    gpu: bool,
    /// Device the GPU stage holds exclusively ("cuda:0" by default).
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    publish: Option<String>,
}

/// `NAME` -> `NAME` with every non-alphanumeric as `_`, upper-cased.
pub fn env_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// An input written as a bare name is another `[stages.*]` entry; one with a `/` is a full stage id.
pub fn input_stage_id(input: &str) -> String {
    if input.contains('/') {
        input.to_string()
    } else {
        format!("stages/{input}")
    }
}

fn escapes_work_dir(path: &str) -> bool {
    !crate::paths::is_inside(path)
}

pub struct CommandPlanner;

impl SectionPlanner for CommandPlanner {
    fn sections(&self) -> &'static [&'static str] {
        &["stages"]
    }

    fn plan(&self, m: &Manifest, out: &mut Vec<StageDef>) -> Result<(), ManifestError> {
        let names = m.table_keys(&["stages"]);
        if m.get(&["stages"]).is_some_and(|v| !v.is_table()) {
            return Err(m.error(&["stages"], "expected a table of stages"));
        }
        let known: Vec<&str> = names.iter().map(String::as_str).collect();
        let known_set: std::collections::HashSet<&str> = known.iter().copied().collect();
        for name in &names {
            let spec: CommandSpec = m.deserialize(&["stages", name])?;
            for (i, out_path) in spec.outs.iter().enumerate() {
                if escapes_work_dir(out_path) {
                    let idx = i.to_string();
                    return Err(m.error(
                        &["stages", name, "outs", &idx],
                        format!("out `{out_path}` must be a relative path inside the working directory"),
                    ));
                }
            }
            if let Some(p) = spec.publish.as_deref().filter(|p| escapes_work_dir(p)) {
                return Err(m.error(&["stages", name, "publish"], format!("publish `{p}` must be a relative path inside the run folder")));
            }
            let mut inputs = Vec::new();
            for input in &spec.inputs {
                if !input.contains('/') && !known_set.contains(input.as_str()) {
                    let hint = did_you_mean(input, &known).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                    return Err(m.error(&["stages", name, "inputs"], format!("input `{input}` names no stage{hint}")));
                }
                inputs.push(InputRef { name: input.clone(), stage: input_stage_id(input) });
            }
            let params = serde_json::to_value(&spec.params).map_err(|e| m.error(&["stages", name, "params"], e))?;
            let resources = if spec.gpu {
                Resources { gpu: true, device: spec.device.clone().unwrap_or_else(|| "cuda:0".into()) }
            } else {
                Resources::default()
            };
            out.push(StageDef {
                id: format!("stages/{name}"),
                kind: "command".into(),
                params: json!({ "cmd": spec.cmd, "outs": spec.outs, "env": spec.env, "params": params }),
                inputs,
                resources,
                publish: spec.publish,
                // Located only when an error needs it (see Manifest::locate), to keep planning fast.
                origin: None,
            });
        }
        Ok(())
    }
}

pub struct CommandKind;

impl StageKind for CommandKind {
    fn name(&self) -> &'static str {
        "command"
    }

    fn version(&self) -> u32 {
        1
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let p = &ctx.def.params;
        let cmd = p["cmd"].as_str().context("command stage without `cmd`")?;
        let work = &ctx.scratch;
        let mut command = Command::new("sh");
        command.arg("-c").arg(cmd).current_dir(work).stdin(Stdio::null());
        for (name, dir) in &ctx.inputs {
            command.env(format!("SYCO_IN_{}", env_name(name)), dir);
        }
        if let Some(params) = p.get("params") {
            for (path, value) in flatten_params(params) {
                // Strings go in as they are, everything else as its JSON text.
                let text = match serde_json::from_str::<Value>(&value) {
                    Ok(Value::String(s)) => s,
                    _ => value,
                };
                command.env(format!("SYCO_PARAM_{}", env_name(&path)), text);
            }
        }
        if let Some(Value::Object(env)) = p.get("env") {
            for (k, v) in env {
                command.env(k, v.as_str().unwrap_or_default());
            }
        }
        command.env("SYCO_STAGE", &ctx.def.id);
        command.env("SYCO_STATE_DIR", &ctx.state_dir);
        ctx.log.line(&format!("$ {cmd}"));
        let log = ctx.log.file_handle()?;
        command.stdout(log.try_clone()?).stderr(log);
        let status = command.status().context("cannot start `sh`")?;
        if !status.success() {
            match status.code() {
                Some(code) => bail!("command exited with status {code}"),
                None => bail!("command was killed by a signal"),
            }
        }
        let outs: Vec<&str> = p["outs"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let missing: Vec<&str> = outs.iter().copied().filter(|o| std::fs::symlink_metadata(work.join(o)).is_err()).collect();
        if !missing.is_empty() {
            bail!("command did not create {}", missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "));
        }
        for o in outs {
            let dest = ctx.out_dir.join(o);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(work.join(o), &dest).with_context(|| format!("cannot move out `{o}`"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_and_escapes() {
        assert_eq!(env_name("s0001"), "S0001");
        assert_eq!(env_name("train/gsm8k-x"), "TRAIN_GSM8K_X");
        assert!(escapes_work_dir("../x"));
        assert!(escapes_work_dir("/etc/passwd"));
        assert!(escapes_work_dir("a/../../b"));
        assert!(!escapes_work_dir("a/b.txt"));
    }
}
