//! A file outside the cache that changes while a stage reads it must not be recorded under the
//! key of its old content (issue 11: "a model file that changes under a running stage").

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use syco_core::cache::Cache;
use syco_core::exec::{RunOptions, Session};
use syco_core::manifest::{Manifest, ManifestError};
use syco_core::stage::{PlanEnv, SectionPlanner, StageCtx, StageDef, StageKind};
use syco_core::ui::Ui;
use syco_core::Registry;

/// `[reads] file = "PATH"`: one stage whose key holds the file's content hash, and whose run reads
/// the file and then, as another process might, appends to it (only while `grow` exists beside it).
struct ReadsFile;

impl StageKind for ReadsFile {
    fn name(&self) -> &'static str {
        "reads"
    }
    fn version(&self) -> u32 {
        1
    }
    fn key_extras(&self, def: &StageDef, env: &PlanEnv) -> anyhow::Result<BTreeMap<String, String>> {
        let file = PathBuf::from(def.params["file"].as_str().unwrap());
        Ok(BTreeMap::from([("file.content".to_string(), env.cache.hash_file(&file)?)]))
    }
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<()> {
        let file = PathBuf::from(ctx.def.params["file"].as_str().unwrap());
        let text = std::fs::read_to_string(&file)?;
        std::fs::write(ctx.out_dir.join("copy.txt"), &text)?;
        if file.with_file_name("grow").exists() {
            std::fs::write(&file, format!("{text}more\n"))?;
        }
        Ok(())
    }
}

struct ReadsPlanner;

impl SectionPlanner for ReadsPlanner {
    fn sections(&self) -> &'static [&'static str] {
        &["reads"]
    }
    fn plan(&self, m: &Manifest, out: &mut Vec<StageDef>) -> Result<(), ManifestError> {
        let file = m.get(&["reads", "file"]).and_then(|v| v.as_str()).unwrap();
        let file = m.dir().join(file);
        out.push(StageDef {
            id: "reads/file".into(),
            kind: "reads".into(),
            params: serde_json::json!({ "file": file.to_str().unwrap() }),
            inputs: vec![],
            resources: Default::default(),
            publish: None,
            origin: Some(m.locate(&["reads"])),
        });
        Ok(())
    }
}

fn run_once(dir: &std::path::Path) -> (usize, Vec<String>, usize) {
    let mut registry = Registry::new();
    registry.register_kind(Arc::new(ReadsFile));
    registry.register_planner(Box::new(ReadsPlanner));
    let cache = Cache::open(&dir.join("cache")).unwrap();
    let manifest = Manifest::load(&dir.join("m.toml"), &[]).unwrap();
    let session = Session::new(manifest, &registry, &cache).unwrap();
    let all: Vec<usize> = (0..session.graph.defs.len()).collect();
    let summary = session.run(&all, &RunOptions { jobs: 1, keep_going: false }, &Ui::new(true)).unwrap();
    let records = std::fs::read_dir(dir.join("cache/records")).unwrap().count();
    (summary.ran, summary.failed, records)
}

#[test]
fn a_file_changed_while_its_stage_ran_is_not_recorded_and_the_next_run_uses_the_new_content() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("m.toml"), "[reads]\nfile = \"data.txt\"\n").unwrap();
    std::fs::write(dir.join("data.txt"), "first\n").unwrap();
    std::fs::write(dir.join("grow"), "").unwrap();

    let (ran, failed, records) = run_once(dir);
    assert_eq!(ran, 0);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let log = std::fs::read_dir(dir.join("cache/failed"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(log.contains("an input changed while the stage ran (file.content: "), "{log}");
    assert_eq!(records, 0, "nothing may be recorded for a stage whose input changed under it");

    // The file holds still now: the stage runs on the new content and is recorded once.
    std::fs::remove_file(dir.join("grow")).unwrap();
    let (ran, failed, records) = run_once(dir);
    assert_eq!((ran, failed.len(), records), (1, 0, 1));
    let (ran, failed, _) = run_once(dir);
    assert_eq!((ran, failed.len()), (0, 0), "the result is cached under the key of what it read");
}
