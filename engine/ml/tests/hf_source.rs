//! HF sources read from a hub cache laid out exactly as `huggingface_hub` lays it out
//! (`models--ORG--NAME/{blobs/<hash>, snapshots/<commit>/<file> -> ../../blobs/<hash>,
//! refs/<revision>}`), offline: a model by branch and by commit, a sharded checkpoint (two
//! safetensors shards + index, from the repo's tiny golden Llama) fetched whole and loading with
//! the unsharded model's logits, the errors (a missing shard, config or revision), optional files,
//! a single GGUF, and dataset repos (a named file, a split of the parquet conversion).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use syco_ml::source::{fetch_hf_files, fetch_hf_model, fetch_hf_parquet_split, HfRepo, RepoType, PARQUET_REVISION};
use syco_ml::LoadedModel;
use syco_testkit::hf::put_snapshot;

const COMMIT_A: &str = "0123456789abcdef0123456789abcdef01234567";
const COMMIT_B: &str = "89abcdef0123456789abcdef0123456789abcdef";

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../train/tests/golden/tiny")
}

fn set_ref(cache: &Path, folder: &str, revision: &str, commit: &str) {
    let p = cache.join(folder).join("refs").join(revision);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, commit).unwrap();
}

/// The golden tiny model's files as a sharded repo: two shards (alternate tensors) + index,
/// tokenizer.json, special_tokens_map.json, generation_config.json (no tokenizer_config.json).
fn sharded_files() -> Vec<(&'static str, Vec<u8>)> {
    let g = golden();
    let all = candle_core::safetensors::load(g.join("model.safetensors"), &Device::Cpu).unwrap();
    let mut names: Vec<&String> = all.keys().collect();
    names.sort();
    let mut weight_map = serde_json::Map::new();
    let mut shards = [HashMap::new(), HashMap::new()];
    for (i, n) in names.iter().enumerate() {
        weight_map.insert(n.to_string(), format!("model-0000{}-of-00002.safetensors", i % 2 + 1).into());
        shards[i % 2].insert(n.to_string(), all[*n].clone());
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut shard_bytes = vec![];
    for (i, s) in shards.iter().enumerate() {
        let p = tmp.path().join(format!("{i}.safetensors"));
        candle_core::safetensors::save(s, &p).unwrap();
        shard_bytes.push(std::fs::read(p).unwrap());
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    vec![
        ("config.json", std::fs::read(g.join("config.json")).unwrap()),
        ("tokenizer.json", std::fs::read(g.join("tokenizer.json")).unwrap()),
        ("special_tokens_map.json", br#"{"bos_token": "<s>"}"#.to_vec()),
        ("generation_config.json", br#"{"do_sample": false, "max_new_tokens": 7}"#.to_vec()),
        ("model.safetensors.index.json", index.to_string().into_bytes()),
        ("model-00001-of-00002.safetensors", shard_bytes.remove(0)),
        ("model-00002-of-00002.safetensors", shard_bytes.remove(0)),
        ("README.md", b"not fetched".to_vec()),
    ]
}

fn single_files() -> Vec<(&'static str, Vec<u8>)> {
    let g = golden();
    ["config.json", "tokenizer.json", "model.safetensors"].into_iter().map(|f| (f, std::fs::read(g.join(f)).unwrap())).collect()
}

const TINY: &str = "models--test-org--tiny";

fn repo(cache: &Path, revision: &str) -> HfRepo {
    HfRepo { cache: cache.into(), repo_type: RepoType::Model, repo: "test-org/tiny".into(), revision: revision.into(), offline: true }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn max_abs_diff(a: &LoadedModel, b: &LoadedModel) -> f32 {
    let ids = Tensor::new(&[[1u32, 5, 9, 17, 3]], &Device::Cpu).unwrap();
    let x = a.model.forward(&ids, None, false).unwrap();
    let y = b.model.forward(&ids, None, false).unwrap();
    (x - y).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn a_sharded_model_is_fetched_whole_by_branch_and_by_commit_and_loads_like_the_single_file() {
    let cache = tempfile::tempdir().unwrap();
    put_snapshot(cache.path(), TINY, COMMIT_A, &sharded_files());
    set_ref(cache.path(), TINY, "main", COMMIT_A);

    let by_branch = repo(cache.path(), "main");
    assert_eq!(by_branch.cached_commit().as_deref(), Some(COMMIT_A));
    let dest = tempfile::tempdir().unwrap();
    let got = fetch_hf_model(&by_branch, dest.path()).unwrap();
    assert_eq!(got, dest.path());
    assert_eq!(
        listing(dest.path()),
        [
            "config.json",
            "generation_config.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "model.safetensors.index.json",
            "special_tokens_map.json",
            "tokenizer.json",
        ]
    );
    // Real files (hard links to the blobs or copies), not links into the cache.
    assert!(!std::fs::symlink_metadata(dest.path().join("config.json")).unwrap().file_type().is_symlink());
    let gen: serde_json::Value = serde_json::from_slice(&std::fs::read(dest.path().join("generation_config.json")).unwrap()).unwrap();
    assert_eq!(gen["max_new_tokens"], 7);

    let sharded = LoadedModel::load(dest.path(), &Device::Cpu, DType::F32).unwrap();
    let single = LoadedModel::load(&golden(), &Device::Cpu, DType::F32).unwrap();
    assert_eq!(max_abs_diff(&sharded, &single), 0.0);

    // By commit: the same files, without refs/.
    let by_commit = repo(cache.path(), COMMIT_A);
    assert_eq!(by_commit.cached_commit().as_deref(), Some(COMMIT_A));
    let dest2 = tempfile::tempdir().unwrap();
    fetch_hf_model(&by_commit, dest2.path()).unwrap();
    assert_eq!(listing(dest2.path()), listing(dest.path()));
}

#[test]
fn a_moved_branch_resolves_to_its_new_commit_and_the_old_commit_stays_readable() {
    let cache = tempfile::tempdir().unwrap();
    put_snapshot(cache.path(), TINY, COMMIT_A, &sharded_files());
    put_snapshot(cache.path(), TINY, COMMIT_B, &single_files());
    set_ref(cache.path(), TINY, "main", COMMIT_A);
    assert_eq!(repo(cache.path(), "main").pinned_commit().as_deref(), Some(COMMIT_A));
    set_ref(cache.path(), TINY, "main", COMMIT_B);
    let main = repo(cache.path(), "main");
    assert_eq!(main.pinned_commit().as_deref(), Some(COMMIT_B));
    let dest = tempfile::tempdir().unwrap();
    fetch_hf_model(&main, dest.path()).unwrap();
    assert_eq!(listing(dest.path()), ["config.json", "model.safetensors", "tokenizer.json"]);
    let old = tempfile::tempdir().unwrap();
    fetch_hf_model(&repo(cache.path(), COMMIT_A), old.path()).unwrap();
    assert!(old.path().join("model.safetensors.index.json").exists());
    // A commit the cache lacks still pins the key (it names the content), but cannot be read offline.
    let absent = "ffffffffffffffffffffffffffffffffffffffff";
    assert_eq!(repo(cache.path(), absent).pinned_commit().as_deref(), Some(absent));
    assert_eq!(repo(cache.path(), absent).cached_commit(), None);
    assert_eq!(repo(cache.path(), "v2").pinned_commit(), None);
}

#[test]
fn a_missing_shard_is_an_error_naming_repo_revision_and_file() {
    let cache = tempfile::tempdir().unwrap();
    let files: Vec<_> = sharded_files().into_iter().filter(|(f, _)| *f != "model-00002-of-00002.safetensors").collect();
    put_snapshot(cache.path(), TINY, COMMIT_A, &files);
    set_ref(cache.path(), TINY, "main", COMMIT_A);
    let dest = tempfile::tempdir().unwrap();
    let err = format!("{:#}", fetch_hf_model(&repo(cache.path(), "main"), dest.path()).unwrap_err());
    for want in ["test-org/tiny", "main", COMMIT_A, "model-00002-of-00002.safetensors", "HF_HUB_OFFLINE", "index.json"] {
        assert!(err.contains(want), "`{want}` not in: {err}");
    }
}

#[test]
fn missing_config_or_weights_are_errors_naming_the_file() {
    let cache = tempfile::tempdir().unwrap();
    let no_config: Vec<_> = single_files().into_iter().filter(|(f, _)| *f != "config.json").collect();
    put_snapshot(cache.path(), TINY, COMMIT_A, &no_config);
    let no_weights: Vec<_> = single_files().into_iter().filter(|(f, _)| *f != "model.safetensors").collect();
    put_snapshot(cache.path(), TINY, COMMIT_B, &no_weights);
    let dest = tempfile::tempdir().unwrap();
    let err = format!("{:#}", fetch_hf_model(&repo(cache.path(), COMMIT_A), dest.path()).unwrap_err());
    assert!(err.contains("`config.json`") && err.contains("test-org/tiny") && err.contains(COMMIT_A), "{err}");
    let err = format!("{:#}", fetch_hf_model(&repo(cache.path(), COMMIT_B), dest.path()).unwrap_err());
    assert!(err.contains("`model.safetensors`") && err.contains("model.safetensors.index.json"), "{err}");
}

#[test]
fn a_revision_not_in_the_cache_while_offline_is_an_error_saying_so() {
    let cache = tempfile::tempdir().unwrap();
    put_snapshot(cache.path(), TINY, COMMIT_A, &single_files());
    set_ref(cache.path(), TINY, "main", COMMIT_A);
    let dest = tempfile::tempdir().unwrap();
    let err = format!("{:#}", fetch_hf_model(&repo(cache.path(), "v9"), dest.path()).unwrap_err());
    let dir = cache.path().display().to_string();
    for want in ["test-org/tiny", "`v9`", "not in the HF cache", dir.as_str(), "HF_HUB_OFFLINE"] {
        assert!(err.contains(want), "`{want}` not in: {err}");
    }
    // An unknown repo too.
    let mut other = repo(cache.path(), "main");
    other.repo = "test-org/none".into();
    let err = format!("{:#}", fetch_hf_model(&other, dest.path()).unwrap_err());
    assert!(err.contains("test-org/none") && err.contains("not in the HF cache"), "{err}");
}

#[test]
fn named_files_a_single_gguf_and_the_environments_cache() {
    let cache = tempfile::tempdir().unwrap();
    put_snapshot(cache.path(), TINY, COMMIT_A, &[("m.Q8_0.gguf", b"GGUF-ish".to_vec()), ("sub/x.txt", b"x".to_vec())]);
    set_ref(cache.path(), TINY, "main", COMMIT_A);
    let dest = tempfile::tempdir().unwrap();
    let got = fetch_hf_files(&repo(cache.path(), "main"), &["sub/x.txt".into()], dest.path()).unwrap();
    assert_eq!(got, [dest.path().join("sub/x.txt")]);
    assert_eq!(std::fs::read(&got[0]).unwrap(), b"x");
    let err = format!("{:#}", fetch_hf_files(&repo(cache.path(), "main"), &["../x".into()], dest.path()).unwrap_err());
    assert!(err.contains("not a path inside the repo"), "{err}");

    // Through `fetch` and the environment: HF_HUB_CACHE, HF_HUB_OFFLINE (this is the only test of
    // this binary that reads the environment).
    std::env::set_var("HF_HUB_CACHE", cache.path());
    std::env::set_var("HF_HUB_OFFLINE", "1");
    assert_eq!(syco_ml::source::hf_cache_dir(), cache.path());
    assert!(syco_ml::source::hf_offline());
    let src = syco_ml::Source::Hf { repo: "test-org/tiny".into(), revision: "main".into(), files: vec!["m.Q8_0.gguf".into()] };
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(syco_ml::fetch(&src, dest.path()).unwrap(), dest.path().join("m.Q8_0.gguf"));
    let src = syco_ml::Source::Hf { repo: "test-org/tiny".into(), revision: "main".into(), files: vec![] };
    let err = format!("{:#}", syco_ml::fetch(&src, dest.path()).unwrap_err());
    assert!(err.contains("`config.json`") && err.contains("HF_HUB_OFFLINE"), "{err}");
}

#[test]
fn dataset_repos_give_named_files_and_parquet_splits() {
    let cache = tempfile::tempdir().unwrap();
    let folder = "datasets--test-org--colours";
    put_snapshot(cache.path(), folder, COMMIT_A, &[("data/test.jsonl", b"{\"q\": 1}\n".to_vec()), ("README.md", b"# c".to_vec())]);
    set_ref(cache.path(), folder, "main", COMMIT_A);
    // The parquet conversion: its own commit, reached through refs/refs/convert/parquet.
    put_snapshot(
        cache.path(),
        folder,
        COMMIT_B,
        &[
            ("default/test/0001.parquet", b"PAR1 b".to_vec()),
            ("default/test/0000.parquet", b"PAR1 a".to_vec()),
            ("default/train/0000.parquet", b"PAR1 t".to_vec()),
            ("other/colours-test.parquet", b"PAR1 o".to_vec()),
            ("other/colours-testing.parquet", b"PAR1 no".to_vec()),
        ],
    );
    set_ref(cache.path(), folder, PARQUET_REVISION, COMMIT_B);
    assert!(cache.path().join(folder).join("refs/refs/convert/parquet").is_file());

    let ds = |revision: &str| HfRepo {
        cache: cache.path().into(),
        repo_type: RepoType::Dataset,
        repo: "test-org/colours".into(),
        revision: revision.into(),
        offline: true,
    };
    let dest = tempfile::tempdir().unwrap();
    let got = fetch_hf_files(&ds("main"), &["data/test.jsonl".into()], dest.path()).unwrap();
    assert_eq!(got, [dest.path().join("data/test.jsonl")]);
    assert_eq!(std::fs::read_to_string(&got[0]).unwrap(), "{\"q\": 1}\n");
    // A dataset is not looked for among the models.
    let mut as_model = ds("main");
    as_model.repo_type = RepoType::Model;
    let err = format!("{:#}", fetch_hf_files(&as_model, &["data/test.jsonl".into()], dest.path()).unwrap_err());
    assert!(err.contains("not in the HF cache"), "{err}");
    let err = format!("{:#}", fetch_hf_files(&ds("main"), &["data/train.jsonl".into()], dest.path()).unwrap_err());
    assert!(err.contains("dataset test-org/colours@main") && err.contains("`data/train.jsonl`"), "{err}");

    let split = fetch_hf_parquet_split(&ds(PARQUET_REVISION), "default", "test", dest.path()).unwrap();
    assert_eq!(split, [dest.path().join("default/test/0000.parquet"), dest.path().join("default/test/0001.parquet")]);
    let old_naming = fetch_hf_parquet_split(&ds(PARQUET_REVISION), "other", "test", dest.path()).unwrap();
    assert_eq!(old_naming, [dest.path().join("other/colours-test.parquet")]);
    let err = format!("{:#}", fetch_hf_parquet_split(&ds(PARQUET_REVISION), "default", "validation", dest.path()).unwrap_err());
    assert!(err.contains("`default`") && err.contains("`validation`") && err.contains("HF_HUB_OFFLINE"), "{err}");
}

/// syco-testkit's tiny Llama-2-7b-chat-hf look-alike (two f16 shards + index), `String`-named.
fn llama2_files(reshape: Option<(&str, Vec<usize>)>) -> Vec<(String, Vec<u8>)> {
    syco_testkit::hf::tiny_llama2_chat(reshape)
}

const LLAMA2: &str = "models--meta-llama--Llama-2-7b-chat-hf";

fn llama2_repo(cache: &Path) -> HfRepo {
    HfRepo {
        cache: cache.into(),
        repo_type: RepoType::Model,
        repo: "meta-llama/Llama-2-7b-chat-hf".into(),
        revision: "main".into(),
        offline: true,
    }
}

#[test]
fn a_llama2_layout_checkpoint_fetches_and_loads_with_its_tokenizer() {
    let cache = tempfile::tempdir().unwrap();
    syco_testkit::hf::put_snapshot(cache.path(), LLAMA2, COMMIT_A, &llama2_files(None));
    syco_testkit::hf::set_ref(cache.path(), LLAMA2, "main", COMMIT_A);
    let dest = tempfile::tempdir().unwrap();
    fetch_hf_model(&llama2_repo(cache.path()), dest.path()).unwrap();
    assert_eq!(
        listing(dest.path()),
        [
            "config.json",
            "generation_config.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "model.safetensors.index.json",
            "special_tokens_map.json",
            "tokenizer.json",
            "tokenizer_config.json",
        ]
    );
    let m = LoadedModel::load(dest.path(), &Device::Cpu, DType::F32).unwrap();
    // Llama-2's tokenizer conventions: BOS `<s>` added, `</s>` ends generation, a literal `<s>`
    // in the text is the special token (the study's prompts start with one, SPEC §2.1).
    assert_eq!((m.tokenizer.bos, m.tokenizer.add_bos, m.tokenizer.eos.clone()), (Some(1), true, vec![2]));
    assert_eq!(m.tokenizer.encode_plain("<s>[INST] Hi").unwrap()[0], 1);
    assert_eq!(m.tokenizer.encode("Hi").unwrap()[0], 1);
    assert_eq!(m.tokenizer.decode(&m.tokenizer.encode_plain("Is the answer (B)?\n").unwrap(), true).unwrap(), "Is the answer (B)?\n");
    assert_eq!(m.model.config().vocab_size, 368);
}

#[test]
fn incomplete_or_inconsistent_checkpoints_are_errors_naming_the_file() {
    let shard2 = "model-00002-of-00002.safetensors";
    let index_name = "model.safetensors.index.json";
    let with_index = |edit: &dyn Fn(&mut serde_json::Value)| -> Vec<(String, Vec<u8>)> {
        let mut files = llama2_files(None);
        let (_, bytes) = files.iter_mut().find(|(f, _)| f == index_name).unwrap();
        let mut index: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        edit(&mut index);
        *bytes = serde_json::to_vec(&index).unwrap();
        files
    };
    type Files = Vec<(String, Vec<u8>)>;
    let cases: Vec<(&str, Files, Vec<String>)> = vec![
        (
            "a shard the index lists is not in the snapshot",
            llama2_files(None).into_iter().filter(|(f, _)| f != shard2).collect(),
            vec![format!("`{shard2}`"), "not in the HF cache".into(), index_name.into()],
        ),
        (
            "the index names a shard file the repo lacks",
            with_index(&|ix| ix["weight_map"]["lm_head.weight"] = "model-00003-of-00003.safetensors".into()),
            vec!["`model-00003-of-00003.safetensors`".into(), "not in the HF cache".into(), index_name.into()],
        ),
        (
            "the index puts a tensor in a shard that does not hold it",
            with_index(&|ix| ix["weight_map"]["lm_head.weight"] = "model-00001-of-00002.safetensors".into()),
            vec!["`lm_head.weight`".into(), "`model-00001-of-00002.safetensors`".into(), "no such tensor".into()],
        ),
        (
            "a tensor's shape differs from the config",
            llama2_files(Some(("model.layers.1.mlp.down_proj.weight", vec![64, 32]))),
            vec![
                "`model.layers.1.mlp.down_proj.weight`".into(),
                format!("`{shard2}`"),
                "[64, 32]".into(),
                "[32, 64]".into(),
                "config.json".into(),
            ],
        ),
    ];
    for (what, files, wants) in cases {
        let cache = tempfile::tempdir().unwrap();
        syco_testkit::hf::put_snapshot(cache.path(), LLAMA2, COMMIT_A, &files);
        syco_testkit::hf::set_ref(cache.path(), LLAMA2, "main", COMMIT_A);
        let dest = tempfile::tempdir().unwrap();
        let err = format!("{:#}", fetch_hf_model(&llama2_repo(cache.path()), dest.path()).unwrap_err());
        for want in wants.iter().map(String::as_str).chain(["meta-llama/Llama-2-7b-chat-hf", COMMIT_A]) {
            assert!(err.contains(want), "{what}: `{want}` not in: {err}");
        }
    }

    // The same checks on a local folder (`source = { path = ... }`), which never goes through a fetch.
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in llama2_files(Some(("model.layers.1.mlp.down_proj.weight", vec![64, 32]))) {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let err = format!("{:#}", LoadedModel::load(dir.path(), &Device::Cpu, DType::F32).err().expect("a misshapen folder loads"));
    for want in ["`model.layers.1.mlp.down_proj.weight`", shard2, "[64, 32]", "[32, 64]"] {
        assert!(err.contains(want), "local folder: `{want}` not in: {err}");
    }

    // A download that never finished: the snapshot's link points at a blob that is not there.
    let cache = tempfile::tempdir().unwrap();
    syco_testkit::hf::put_snapshot(cache.path(), LLAMA2, COMMIT_A, &llama2_files(None));
    syco_testkit::hf::set_ref(cache.path(), LLAMA2, "main", COMMIT_A);
    let link = cache.path().join(LLAMA2).join("snapshots").join(COMMIT_A).join(shard2);
    let blob = link.parent().unwrap().join(std::fs::read_link(&link).unwrap());
    std::fs::remove_file(blob).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let err = format!("{:#}", fetch_hf_model(&llama2_repo(cache.path()), dest.path()).unwrap_err());
    assert!(err.contains(&format!("`{shard2}`")) && err.contains("not in the HF cache"), "{err}");

    // The same checks on a local folder (what `{ path = ... }` models are), and a truncated shard.
    let dir = tempfile::tempdir().unwrap();
    for (f, bytes) in llama2_files(Some(("model.embed_tokens.weight", vec![368, 16]))) {
        std::fs::write(dir.path().join(f), bytes).unwrap();
    }
    let err = format!("{:#}", syco_ml::source::check_checkpoint(dir.path()).unwrap_err());
    assert!(err.contains("`model.embed_tokens.weight` in `model-00001-of-00002.safetensors` has shape [368, 16]"), "{err}");
    std::fs::write(dir.path().join(shard2), b"\x10\0\0\0\0\0\0\0{}").unwrap();
    std::fs::remove_file(dir.path().join("model-00001-of-00002.safetensors")).unwrap();
    let err = format!("{:#}", syco_ml::source::check_checkpoint(dir.path()).unwrap_err());
    assert!(err.contains("`model-00001-of-00002.safetensors`, which is missing"), "{err}");
    for (f, bytes) in llama2_files(None).into_iter().filter(|(f, _)| f.starts_with("model-00001")) {
        std::fs::write(dir.path().join(f), bytes).unwrap();
    }
    let err = format!("{:#}", syco_ml::source::check_checkpoint(dir.path()).unwrap_err());
    assert!(err.contains(&format!("`{shard2}` is not a safetensors file (or is truncated)")), "{err}");
}
