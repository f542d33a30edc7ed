//! `syco generate --adapter DIR` with PEFT adapters made elsewhere (the golden adapters of
//! engine/train/tests/golden/make_peft_configs.py, made with PEFT on the tiny Llama): the
//! adapter's config decides what is applied, what PEFT ignores is a warning line, what PEFT
//! refuses is an error naming the file.
use std::path::{Path, PathBuf};
use std::process::Output;

use syco_testkit::cli;
use syco_train::peft;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/train/tests/golden")
}

fn generate(adapter: Option<&Path>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let model = golden().join("tiny");
    let cache = dir.path().join("cache");
    let mut args = vec!["generate", "--model", model.to_str().unwrap(), "--prompt", "t5 t9 t33", "--max-new-tokens", "6"];
    args.extend(["--chat-template", "chatml", "--cache", cache.to_str().unwrap()]);
    if let Some(a) = adapter {
        args.extend(["--adapter", a.to_str().unwrap()]);
    }
    cli::run(env!("CARGO_BIN_EXE_syco"), dir.path(), &args)
}

fn ok(o: &Output) -> (String, String) {
    assert!(o.status.success(), "{}", cli::text(o));
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn the_config_decides_what_is_applied() {
    let cases = golden().join("peft_configs");
    let (base, _) = ok(&generate(None));

    // The q/v adapter whose file also holds k/o/gate/up/down tensors, and the same adapter with
    // only its q/v tensors: the same text, and a warning for the first only.
    let (extra, extra_err) = ok(&generate(Some(&cases.join("qv_extra"))));
    let mut files = peft::read(&cases.join("qv_extra"), &syco_ml::Device::Cpu).unwrap();
    files.tensors.retain(|k, _| k.contains("q_proj") || k.contains("v_proj"));
    let qv = tempfile::tempdir().unwrap();
    peft::save(qv.path(), &files.config, &files.tensors).unwrap();
    let (only, only_err) = ok(&generate(Some(qv.path())));
    assert_eq!(extra, only, "tensors the config does not select are not applied");
    assert_ne!(extra, base, "the adapter changes the text");
    let warning = extra_err.lines().find(|l| l.starts_with("warning: ")).unwrap_or_else(|| panic!("no warning line: {extra_err}"));
    assert!(
        warning.contains("20 tensors of 10 modules that adapter_config.json does not select are ignored, as PEFT ignores them"),
        "{warning}"
    );
    assert!(!only_err.contains("warning: "), "{only_err}");

    // Only layer 1 adapted.
    let (layers1, _) = ok(&generate(Some(&cases.join("layers1"))));
    assert_ne!(layers1, base);
}

#[test]
fn refused_adapters_name_the_file() {
    let cases = golden().join("peft_configs");
    let o = generate(Some(&cases.join("c_attn")));
    assert!(!o.status.success());
    let text = cli::text(&o);
    let cfg = cases.join("c_attn").join("adapter_config.json");
    assert!(text.contains(&format!("{}: Target modules [\"c_attn\"] not found in the base model", cfg.display())), "{text}");

    let missing = cases.join("no-such-adapter");
    let o = generate(Some(&missing));
    assert!(!o.status.success());
    let text = cli::text(&o);
    assert!(text.contains(&format!("{}: no such adapter folder", missing.display())), "{text}");
    assert!(!text.contains("adapter_config.json"), "a missing folder is not a missing config: {text}");
}
