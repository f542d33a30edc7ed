//! Test-only helpers for tests that need something outside the repository: the study's data
//! (`SYCO_SHARED`, default `../shared` beside the workspace) or a downloaded model.
//!
//! Such a test never passes without checking. When what it needs is absent it prints
//! `SKIP <test>: <reason>` on stderr and returns; with `SYCO_REQUIRE_SHARED=1` (set by `.ci/run`)
//! the same message is a panic, so CI cannot go green on a machine that lacks the data.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the study's data lives; relative values are taken from the workspace root.
pub const SHARED_VAR: &str = "SYCO_SHARED";
/// Set (to anything but empty or `0`) to turn every skip into a failure.
pub const REQUIRE_VAR: &str = "SYCO_REQUIRE_SHARED";

/// The workspace root (this crate sits at `engine/testkit`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().and_then(Path::parent).expect("engine/testkit is two levels below the workspace root").to_path_buf()
}

/// The study's shared folder: `SYCO_SHARED`, else `../shared`, both relative to the workspace root.
pub fn shared_root() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os(SHARED_VAR).filter(|v| !v.is_empty()) {
        Some(v) => root.join(v),
        None => root.join("../shared"),
    }
}

/// Whether skips are failures (`SYCO_REQUIRE_SHARED`).
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `rel` under the shared folder, or `None` after a visible skip (a panic when [`required`]).
#[track_caller]
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = shared_root().join(rel);
    if p.exists() {
        return Some(p);
    }
    skip(&format!("needs {SHARED_VAR}/{rel} ({} is absent)", p.display()));
    None
}

/// Report that the calling test cannot check anything: `SKIP <test>: <reason>` on stderr, or a
/// panic with that message when [`required`].
#[track_caller]
pub fn skip(reason: &str) {
    let line = format!("SKIP {}: {reason}", test_name());
    if required() {
        panic!("{line}; {REQUIRE_VAR} is set, so this is a failure");
    }
    // Straight to the stream: libtest captures `eprintln!` of passing tests, which would hide it.
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// libtest runs each test on a thread named after it; elsewhere the caller's location stands in.
#[track_caller]
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => std::panic::Location::caller().to_string(),
    }
}

/// A folder for files tests download (models), kept between runs in the build's target dir:
/// `<target>/syco-test-cache/<name>`, found from the running test or example binary
/// (`<target>/<profile>/{deps,examples}/<binary>`).
pub fn cache_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the running binary's path");
    let target = exe.ancestors().nth(3).expect("a binary under <target>/<profile>/<kind>/").to_path_buf();
    target.join("syco-test-cache").join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test touches the environment: tests in a binary share it and run in parallel.
    #[test]
    fn shared_resolves_from_the_workspace_root_and_skips_or_fails_when_absent() {
        std::env::remove_var(REQUIRE_VAR);
        std::env::set_var(SHARED_VAR, "engine");
        assert_eq!(shared_root(), workspace_root().join("engine"));
        assert_eq!(shared("testkit/Cargo.toml"), Some(workspace_root().join("engine/testkit/Cargo.toml")));
        assert_eq!(shared("no-such-dir"), None);

        std::env::set_var(SHARED_VAR, "/nonexistent-syco-shared");
        std::env::set_var(REQUIRE_VAR, "1");
        let err = std::panic::catch_unwind(|| shared("seed/data")).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.starts_with("SKIP tests::shared_resolves_from_the_workspace_root_and_skips_or_fails_when_absent: needs SYCO_SHARED/seed/data (/nonexistent-syco-shared/seed/data is absent)"),
            "{msg}"
        );
        std::env::set_var(REQUIRE_VAR, "0");
        assert!(!required());
        std::env::remove_var(SHARED_VAR);
        std::env::remove_var(REQUIRE_VAR);
        assert_eq!(shared_root(), workspace_root().join("../shared"));
    }

    #[test]
    fn cache_dir_is_inside_the_target_dir() {
        let dir = cache_dir("models");
        assert!(dir.ends_with("syco-test-cache/models"), "{}", dir.display());
        let exe = std::env::current_exe().unwrap();
        assert!(exe.starts_with(dir.parent().unwrap().parent().unwrap()), "{} / {}", exe.display(), dir.display());
    }
}

/// Helpers of the CLI integration tests (tests/cli_*.rs): running the binary, reading its output.
/// Every file below `dir` (recursively, in no particular order); none when `dir` is absent.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

pub mod cli {
    use std::path::Path;
    use std::process::{Command, Output};

    /// Runs `bin` (the test's `env!("CARGO_BIN_EXE_syco")`) with `args` in `dir`.
    pub fn run(bin: &str, dir: &Path, args: &[&str]) -> Output {
        Command::new(bin).args(args).current_dir(dir).output().expect("the binary runs")
    }

    /// stdout then stderr, for assertions and their messages.
    pub fn text(o: &Output) -> String {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    }

    /// Every line of a JSON Lines file.
    pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
            .collect()
    }
}

/// Hub caches for tests, laid out as `huggingface_hub` lays them out
/// (`<cache>/models--ORG--NAME/{blobs/<hash>, snapshots/<commit>/<file> -> ../../blobs/<hash>,
/// refs/<revision>}`), and a tiny random checkpoint with Llama-2-7b-chat-hf's files and config keys.
pub mod hf {
    use serde_json::{json, Value};
    use std::path::Path;

    /// FNV-1a over `bytes` from `seed`, for blob names (unique per content; the hub uses sha256
    /// or git's sha1, which no reader of the cache recomputes).
    fn fnv(bytes: &[u8], seed: u64) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
    }

    /// Writes `files` as the snapshot `commit` of `folder` (e.g. `models--org--name`): each
    /// content once under `blobs/`, the snapshot's entries relative symlinks to it.
    pub fn put_snapshot<S: AsRef<str>>(cache: &Path, folder: &str, commit: &str, files: &[(S, Vec<u8>)]) {
        let root = cache.join(folder);
        std::fs::create_dir_all(root.join("blobs")).unwrap();
        for (rel, bytes) in files {
            let rel = rel.as_ref();
            let hash = format!("{:016x}{:016x}", fnv(bytes, 0), fnv(bytes, 1));
            let blob = root.join("blobs").join(&hash);
            if !blob.exists() {
                std::fs::write(&blob, bytes).unwrap();
            }
            let link = root.join("snapshots").join(commit).join(rel);
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            let up = "../".repeat(rel.split('/').count() + 1);
            std::os::unix::fs::symlink(format!("{up}blobs/{hash}"), &link).unwrap();
        }
    }

    /// `refs/<revision>` of `folder` names `commit`.
    pub fn set_ref(cache: &Path, folder: &str, revision: &str, commit: &str) {
        let p = cache.join(folder).join("refs").join(revision);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, commit).unwrap();
    }

    /// One tensor of a safetensors file: name, dtype (`F16`, `F32`, ...), shape, little-endian data.
    pub type StTensor<'a> = (String, &'a str, Vec<usize>, Vec<u8>);

    /// A safetensors file: an 8-byte little-endian header length, the JSON header (each tensor's
    /// dtype, shape and byte range, padded to 8 bytes), then the data in order.
    pub fn safetensors(tensors: &[StTensor]) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        header.insert("__metadata__".into(), json!({ "format": "pt" }));
        let mut data = vec![];
        for (name, dtype, shape, bytes) in tensors {
            let start = data.len();
            data.extend_from_slice(bytes);
            header.insert(name.clone(), json!({ "dtype": dtype, "shape": shape, "data_offsets": [start, data.len()] }));
        }
        let mut h = Value::Object(header).to_string().into_bytes();
        while !h.len().is_multiple_of(8) {
            h.push(b' ');
        }
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend(h);
        out.extend(data);
        out
    }

    /// The tiny model's sizes; everything else is Llama-2-7b-chat-hf's.
    pub const TINY_HIDDEN: usize = 32;
    pub const TINY_INTERMEDIATE: usize = 64;
    pub const TINY_LAYERS: usize = 2;
    pub const TINY_HEADS: usize = 4;

    /// A Llama-2-style SentencePiece BPE vocabulary in tokenizer.json form: `<unk>` `<s>` `</s>`,
    /// the 256 byte-fallback tokens, `▁`, printable ASCII, and a few merges.
    fn llama2_tokenizer() -> (Value, usize) {
        let mut vocab = serde_json::Map::new();
        let mut add = |t: String| {
            let id = vocab.len();
            vocab.insert(t, id.into());
        };
        for t in ["<unk>", "<s>", "</s>"] {
            add(t.into());
        }
        for b in 0..=255u8 {
            add(format!("<0x{b:02X}>"));
        }
        add("▁".into());
        for c in 0x21u8..=0x7e {
            add((c as char).to_string());
        }
        let merges = ["▁ t", "h e", "▁t he", "i n", "e r", "o n", "▁ a", "r e", "a n", "e n", "o r", "▁ s", "▁ w", "▁ o"];
        for m in merges {
            add(m.replace(' ', ""));
        }
        let n = vocab.len();
        let special = |id: usize, content: &str| json!({ "id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true });
        let tok = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
            "normalizer": { "type": "Sequence", "normalizers": [
                { "type": "Prepend", "prepend": "▁" },
                { "type": "Replace", "pattern": { "String": " " }, "content": "▁" }
            ] },
            "pre_tokenizer": null,
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{ "SpecialToken": { "id": "<s>", "type_id": 0 } }, { "Sequence": { "id": "A", "type_id": 0 } }],
                "pair": [
                    { "SpecialToken": { "id": "<s>", "type_id": 0 } }, { "Sequence": { "id": "A", "type_id": 0 } },
                    { "SpecialToken": { "id": "<s>", "type_id": 1 } }, { "Sequence": { "id": "B", "type_id": 1 } }
                ],
                "special_tokens": { "<s>": { "id": "<s>", "ids": [1], "tokens": ["<s>"] } }
            },
            "decoder": { "type": "Sequence", "decoders": [
                { "type": "Replace", "pattern": { "String": "▁" }, "content": " " },
                { "type": "ByteFallback" },
                { "type": "Fuse" },
                { "type": "Strip", "content": " ", "start": 1, "stop": 0 }
            ] },
            "model": {
                "type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true,
                "vocab": vocab, "merges": merges
            }
        });
        (tok, n)
    }

    /// Llama-2's chat template, as its tokenizer_config.json carries it.
    const LLAMA2_CHAT_TEMPLATE: &str = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

    /// `x` (a multiple of 2^-10 below 2 in magnitude) as IEEE half-precision bits.
    fn f16_bits(x: f32) -> u16 {
        if x == 0.0 {
            return 0;
        }
        let b = x.to_bits();
        let sign = ((b >> 31) as u16) << 15;
        let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
        assert!((1..31).contains(&exp), "{x} is outside the half-precision normal range");
        assert_eq!(b & 0x1fff, 0, "{x} is not exact in half precision");
        sign | ((exp as u16) << 10) | ((b >> 13) & 0x3ff) as u16
    }

    /// A tensor of `shape` in f16: deterministic pseudo-random multiples of 2^-10 within
    /// +-0.04 (about N(0, 0.02), Llama's initializer range), or all `fill`.
    fn f16_tensor(shape: &[usize], seed: u64, fill: Option<f32>) -> Vec<u8> {
        let n: usize = shape.iter().product();
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5151;
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let v = match fill {
                Some(v) => v,
                None => {
                    // SplitMix64.
                    state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    let mut z = state;
                    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                    z ^= z >> 31;
                    (z % 81) as f32 / 1024.0 - 40.0 / 1024.0
                }
            };
            out.extend_from_slice(&f16_bits(v).to_le_bytes());
        }
        out
    }

    /// The tensors of the tiny model in HF names, with their shard (0 or 1): the embedding and
    /// layer 0 in the first, the rest in the second, as Llama-2-7b-chat-hf splits its 32 layers.
    pub fn tiny_llama2_tensors(vocab: usize) -> Vec<(String, Vec<usize>, usize, Option<f32>)> {
        let (h, i) = (TINY_HIDDEN, TINY_INTERMEDIATE);
        let mut t = vec![("model.embed_tokens.weight".to_string(), vec![vocab, h], 0, None)];
        for l in 0..TINY_LAYERS {
            let shard = usize::from(l > 0);
            let p = format!("model.layers.{l}");
            for (name, shape) in [
                ("self_attn.q_proj", vec![h, h]),
                ("self_attn.k_proj", vec![h, h]),
                ("self_attn.v_proj", vec![h, h]),
                ("self_attn.o_proj", vec![h, h]),
                ("mlp.gate_proj", vec![i, h]),
                ("mlp.up_proj", vec![i, h]),
                ("mlp.down_proj", vec![h, i]),
            ] {
                t.push((format!("{p}.{name}.weight"), shape, shard, None));
            }
            t.push((format!("{p}.input_layernorm.weight"), vec![h], shard, Some(1.0)));
            t.push((format!("{p}.post_attention_layernorm.weight"), vec![h], shard, Some(1.0)));
        }
        t.push(("model.norm.weight".to_string(), vec![h], 1, Some(1.0)));
        t.push(("lm_head.weight".to_string(), vec![vocab, h], 1, None));
        t
    }

    /// The files of a tiny random model that looks like meta-llama/Llama-2-7b-chat-hf to a
    /// loader: the same file names (two safetensors shards in f16 + `model.safetensors.index.json`,
    /// tokenizer.json / tokenizer_config.json / special_tokens_map.json, generation_config.json)
    /// and config.json with exactly Llama-2-7b-chat-hf's keys, only the sizes tiny (hidden 32,
    /// 2 layers, 4 heads, a 368-token byte-fallback BPE vocabulary). `reshape` replaces the shape
    /// of one tensor (a checkpoint that disagrees with its config).
    pub fn tiny_llama2_chat(reshape: Option<(&str, Vec<usize>)>) -> Vec<(String, Vec<u8>)> {
        let (tokenizer, vocab) = llama2_tokenizer();
        let config = json!({
            "_name_or_path": "meta-llama/Llama-2-7b-chat-hf",
            "architectures": ["LlamaForCausalLM"],
            "bos_token_id": 1,
            "eos_token_id": 2,
            "hidden_act": "silu",
            "hidden_size": TINY_HIDDEN,
            "initializer_range": 0.02,
            "intermediate_size": TINY_INTERMEDIATE,
            "max_position_embeddings": 4096,
            "model_type": "llama",
            "num_attention_heads": TINY_HEADS,
            "num_hidden_layers": TINY_LAYERS,
            "num_key_value_heads": TINY_HEADS,
            "pretraining_tp": 1,
            "rms_norm_eps": 1e-05,
            "rope_scaling": null,
            "tie_word_embeddings": false,
            "torch_dtype": "float16",
            "transformers_version": "4.32.0.dev0",
            "use_cache": true,
            "vocab_size": vocab
        });
        let generation = json!({
            "bos_token_id": 1, "do_sample": true, "eos_token_id": 2, "max_length": 4096, "pad_token_id": 0,
            "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.32.0.dev0"
        });
        let added = |content: &str| json!({ "__type": "AddedToken", "content": content, "lstrip": false, "normalized": false, "rstrip": false, "single_word": false });
        // model_max_length as the hub has it: 1e30 written as an integer.
        let tokenizer_config = format!(
            r#"{{"add_bos_token": true, "add_eos_token": false, "bos_token": {}, "chat_template": {}, "clean_up_tokenization_spaces": false, "eos_token": {}, "legacy": false, "model_max_length": 1000000000000000019884624838656, "pad_token": null, "padding_side": "right", "sp_model_kwargs": {{}}, "tokenizer_class": "LlamaTokenizer", "unk_token": {}}}"#,
            added("<s>"),
            Value::String(LLAMA2_CHAT_TEMPLATE.into()),
            added("</s>"),
            added("<unk>")
        );
        let special_tokens_map = json!({ "bos_token": added("<s>"), "eos_token": added("</s>"), "unk_token": added("<unk>") });

        let shard_name = |s: usize| format!("model-0000{}-of-00002.safetensors", s + 1);
        let mut shards: [Vec<StTensor>; 2] = [vec![], vec![]];
        let mut weight_map = serde_json::Map::new();
        let mut total = 0;
        for (k, (name, shape, shard, fill)) in tiny_llama2_tensors(vocab).into_iter().enumerate() {
            let shape = match &reshape {
                Some((n, s)) if *n == name => s.clone(),
                _ => shape,
            };
            let bytes = f16_tensor(&shape, k as u64, fill);
            total += bytes.len();
            weight_map.insert(name.clone(), shard_name(shard).into());
            shards[shard].push((name, "F16", shape, bytes));
        }
        let index = json!({ "metadata": { "total_size": total }, "weight_map": weight_map });
        let pretty = |v: &Value| serde_json::to_vec_pretty(v).unwrap();
        vec![
            ("config.json".into(), pretty(&config)),
            ("generation_config.json".into(), pretty(&generation)),
            ("tokenizer.json".into(), pretty(&tokenizer)),
            ("tokenizer_config.json".into(), tokenizer_config.into_bytes()),
            ("special_tokens_map.json".into(), pretty(&special_tokens_map)),
            ("model.safetensors.index.json".into(), pretty(&index)),
            (shard_name(0), safetensors(&shards[0])),
            (shard_name(1), safetensors(&shards[1])),
            ("README.md".into(), b"tiny random stand-in for meta-llama/Llama-2-7b-chat-hf\n".to_vec()),
        ]
    }
}
