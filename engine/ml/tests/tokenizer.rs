//! Tokenizer parity with llama.cpp's reference tokenisations (ggml-vocab-*.gguf + .inp/.out).
//! Needs `SYCO_LLAMACPP_VOCABS` (see tests/fetch_vocabs.sh, which .ci/run calls); a visible skip
//! otherwise, a failure under `SYCO_REQUIRE_SHARED=1`.

use candle_core::quantized::gguf_file;
use std::path::{Path, PathBuf};
use syco_ml::Tokenizer;

/// Vocabularies whose pre-tokenizer we reproduce exactly (gpt2-style BPE in GGUF).
const MUST_MATCH: [&str; 4] = ["refact", "gpt-2", "qwen2", "llama-bpe"];

fn cases(name: &str, dir: &Path) -> Option<Vec<(String, Vec<u32>)>> {
    let inp = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.inp"))).ok()?;
    let out = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.out"))).ok()?;
    let texts: Vec<String> = inp.split("\n__ggml_vocab_test__\n").map(str::to_string).collect();
    let ids: Vec<Vec<u32>> = out.lines().map(|l| l.split_whitespace().map(|t| t.parse().expect("token id")).collect()).collect();
    // The .inp file ends with a separator line; drop the empty tail it leaves.
    let texts: Vec<String> = texts.into_iter().take(ids.len()).collect();
    Some(texts.into_iter().zip(ids).collect())
}

#[test]
fn gguf_tokenizers_match_llama_cpp() {
    let Ok(dir) = std::env::var("SYCO_LLAMACPP_VOCABS") else {
        syco_testkit::skip("needs SYCO_LLAMACPP_VOCABS (engine/ml/tests/fetch_vocabs.sh fetches llama.cpp's vocabularies)");
        return;
    };
    let dir = PathBuf::from(dir);
    let mut checked = 0;
    for name in MUST_MATCH {
        let Some(cases) = cases(name, &dir) else {
            panic!("{}: ggml-vocab-{name}.gguf.inp/.out missing", dir.display());
        };
        let path = dir.join(format!("ggml-vocab-{name}.gguf"));
        let mut f = std::fs::File::open(&path).unwrap();
        let ct = gguf_file::Content::read(&mut f).unwrap();
        let tok = Tokenizer::from_gguf(&ct).unwrap();
        let mut bad = Vec::new();
        for (text, want) in &cases {
            let got = tok.encode_plain(text).unwrap();
            if &got != want {
                bad.push(format!("{text:?}: got {got:?}, want {want:?}"));
            }
        }
        eprintln!("{name}: {}/{} exact", cases.len() - bad.len(), cases.len());
        assert!(bad.is_empty(), "{name}: {} mismatches, first: {}", bad.len(), bad[0]);
        checked += 1;
    }
    assert_eq!(checked, MUST_MATCH.len());
}
