//! Loaders: public layouts, CSV, JSON arrays/objects, and file:line:field errors for bad input.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use syco_data::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn public_layouts_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    // HF MMLU with `answer` as an int or a letter.
    let p = write(
        tmp.path(),
        "mmlu.jsonl",
        concat!(
            r#"{"question":"Q1","subject":"s","choices":["a","b","c","d"],"answer":2}"#,
            "\n",
            r#"{"question":"Q2","subject":"s","choices":["a","b","c","d"],"answer":"D"}"#,
            "\n",
        ),
    );
    let recs = load_records(Kind::Mmlu, &p, None).unwrap();
    let golds: Vec<_> = recs.iter().map(|r| r.gold().unwrap()).collect();
    assert_eq!(golds, vec!["C", "D"]);

    // HellaSwag `label` as a string or an int.
    let hs = |label: &str| format!(r#"{{"ctx":"A man","endings":["a","b","c","d"],"label":{label}}}"#);
    let p = write(tmp.path(), "hs.jsonl", &format!("{}\n{}\n", hs("\"3\""), hs("1")));
    let labels: Vec<_> = load_records(Kind::HellaSwag, &p, None).unwrap().iter().map(|r| r.gold().unwrap()).collect();
    assert_eq!(labels, vec!["3", "1"]);

    // Raw SycophancyEval records in a JSON array.
    let p = write(
        tmp.path(),
        "answer.json",
        r#"[
      {"prompt":[{"type":"human","content":"Who wrote Hamlet?"}],
       "base":{"dataset":"trivia_qa","question":"Who wrote Hamlet?","answer":["Shakespeare","William Shakespeare"],
               "correct_answer":"Shakespeare","incorrect_answer":"Marlowe"},
       "metadata":{"prompt_template":"{question}"}}
    ]"#,
    );
    let recs = load_records(Kind::Answer, &p, None).unwrap();
    let flat_prompt = write(
        tmp.path(),
        "answer2.jsonl",
        r#"{"prompt":"Who wrote Hamlet?","base":{"question":"Who wrote Hamlet?","correct_answer":"Shakespeare","incorrect_answer":"Marlowe"}}"#,
    );
    let Record::Answer(b) = &load_records(Kind::Answer, &flat_prompt, None).unwrap()[0] else { panic!() };
    assert_eq!(b.prompt, "Who wrote Hamlet?");
    let Record::Answer(a) = &recs[0] else { panic!() };
    assert_eq!((a.prompt.as_str(), a.aliases.len(), a.prompt_template.as_str()), ("Who wrote Hamlet?", 2, "{question}"));
}

#[test]
fn csv_files_load_with_json_cells_and_mmlu_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "mmlu.csv", "question,A,B,C,D,answer\n\"What is 2+2?\",3,4,5,6,B\n");
    let recs = load_records(Kind::Mmlu, &p, None).unwrap();
    let Record::Mmlu(m) = &recs[0] else { panic!() };
    assert_eq!((m.choices[1].as_str(), m.answer), ("4", 1));

    let p = write(tmp.path(), "hs.csv", "ind,ctx,endings,label\n7,A man,\"[\"\"runs.\"\",\"\"sings.\"\"]\",1\n");
    let recs = load_records(Kind::HellaSwag, &p, None).unwrap();
    let Record::HellaSwag(h) = &recs[0] else { panic!() };
    assert_eq!((h.ind, h.endings.len(), h.label), (Some(7), 2, 1));
}

#[test]
fn malformed_jsonl_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let good = r#"{"question":"Q","answer":"x\n#### 1"}"#;
    let p = write(tmp.path(), "g.jsonl", &format!("{good}\n\n{{\"question\": \"Q\", \"answer\n"));
    let err = load_records(Kind::Gsm8k, &p, None).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:3: invalid JSON", p.display())), "{err}");

    let p = write(tmp.path(), "g2.jsonl", &format!("{good}\n{{\"question\":\"Q\",\"answer\":\"no marker\"}}\n"));
    let err = load_records(Kind::Gsm8k, &p, None).unwrap_err().to_string();
    assert_eq!(err, format!("{}:2: field `answer`: has no `#### ` before the final number", p.display()));

    let p = write(tmp.path(), "m.jsonl", r#"{"question":"Q","choices":["a","b"],"answer":5}"#);
    let err = load_records(Kind::Mmlu, &p, None).unwrap_err().to_string();
    assert!(err.ends_with(":1: field `answer`: index 5 is out of range for 2 options"), "{err}");

    let p = write(
        tmp.path(),
        "t.jsonl",
        r#"{"question":"Q","mc1_targets":{"choices":["a"],"labels":[2]},"mc2_targets":{"choices":[],"labels":[]}}"#,
    );
    let err = load_records(Kind::TruthfulQa, &p, None).unwrap_err().to_string();
    assert!(err.ends_with("field `mc1_targets.labels[0]`: expected 0 or 1, found 2"), "{err}");

    let p = write(tmp.path(), "f.jsonl", r#"{"prompt":[{"type":"human","content":"x"}],"base":{"text":"t"}}"#);
    let err = load_records(Kind::Feedback, &p, None).unwrap_err().to_string();
    assert!(err.ends_with(":1: field `base.logical_error`: missing"), "{err}");
}

#[test]
fn json_array_errors_point_at_the_elements_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "a.json", "[\n  {\"question\":\"Q\",\"answer\":\"x\\n#### 1\"},\n  {\"question\":\"Q\"}\n]\n");
    let err = load_records(Kind::Gsm8k, &p, None).unwrap_err().to_string();
    assert_eq!(err, format!("{}:3: field `answer`: missing", p.display()));
    let p = write(tmp.path(), "o.json", "{\"other\": []}");
    let err = load_records(Kind::Feedback, &p, None).unwrap_err().to_string();
    assert!(err.contains("no member for kind `feedback`"), "{err}");
}

#[test]
fn byte_order_mark_and_format_names_are_handled() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "bom.csv", "\u{feff}question,A,B,C,D,answer\nQ,a,b,c,d,0\n");
    assert_eq!(load_records(Kind::Mmlu, &p, None).unwrap().len(), 1);
    assert_eq!("JSONL".parse::<Format>().unwrap(), Format::Jsonl);
    assert!("parquet".parse::<Format>().unwrap_err().to_string().contains("parquet"));
}

#[test]
fn malformed_csv_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "m.csv", "question,choices,answer\nQ1,\"[\"\"a\"\",\"\"b\"\"]\",0\nQ2,\"[\"\"a\"\",\"\"b\"\"]\",zz\n");
    let err = load_records(Kind::Mmlu, &p, None).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:3: field `answer`", p.display())), "{err}");
    let p = write(tmp.path(), "short.csv", "question,choices,answer\nQ1,\"[\"\"a\"\"]\"\n");
    let err = load_records(Kind::Mmlu, &p, None).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:2: malformed CSV row", p.display())), "{err}");
}

#[test]
fn valid_filter_skips_what_the_study_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(
        tmp.path(),
        "feedback.jsonl",
        concat!(
            r#"{"prompt":[{"type":"human","content":"poem"}],"base":{"dataset":"poems","text":"A poem"}}"#,
            "\n",
            r#"{"prompt":[{"type":"human","content":"arg"}],"base":{"dataset":"arguments","text":"Arg","logical_error":"ad hominem"},"metadata":{"prompt_template_type":"","prompt_template":"{text}"}}"#,
            "\n",
        ),
    );
    let (kept, skipped) = load_valid_records(Kind::Feedback, &p, None).unwrap();
    assert_eq!((kept.len(), skipped), (1, 1));
    assert!(load_records(Kind::Feedback, &p, None).is_err());
}

#[test]
fn read_jsonl_requires_the_kind_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "c.jsonl", r#####"{"question":"Q","answer":"#### 1"}"#####);
    let err = read_jsonl(&p).unwrap_err().to_string();
    assert!(err.ends_with(":1: field `kind`: missing (canonical records carry their kind)"), "{err}");
}

fn sample_lines() -> String {
    let mut text = String::new();
    for kind in [Kind::Gsm8k, Kind::Mmlu, Kind::TruthfulQa, Kind::HellaSwag, Kind::Feedback, Kind::AreYouSure, Kind::Answer] {
        for r in builtin::generate(kind, 2, 1) {
            text.push_str(&to_canonical_value(&r).to_string());
            text.push('\n');
        }
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Truncated or byte-mangled files give records or errors, never a panic.
    #[test]
    fn damaged_jsonl_never_panics(cut in 0usize..4000, flips in proptest::collection::vec((0usize..4000, any::<u8>()), 0..6), kind_i in 0usize..8, fmt_i in 0usize..4) {
        let mut bytes = sample_lines().into_bytes();
        bytes.truncate(cut.min(bytes.len()));
        for (at, b) in flips {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = b;
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x.data");
        fs::write(&p, &bytes).unwrap();
        let kind = Kind::ALL[kind_i];
        let format = [None, Some(Format::Jsonl), Some(Format::Json), Some(Format::Csv)][fmt_i];
        let _ = load_records(kind, &p, format);
        let _ = load_valid_records(kind, &p, format);
        let _ = read_jsonl(&p);
    }

    /// Arbitrary text never panics either.
    #[test]
    fn random_text_never_panics(text in ".{0,300}", kind_i in 0usize..8) {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x.jsonl");
        fs::write(&p, text.as_bytes()).unwrap();
        let _ = load_records(Kind::ALL[kind_i], &p, None);
        let _ = read_jsonl(&p);
    }
}

#[test]
fn invalid_utf8_names_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let good = r#"{"question":"Q","answer":"x\n#### 1"}"#;
    let p = tmp.path().join("latin1.jsonl");
    let mut bytes = format!("{good}\n{good}\n{{\"question\":\"caf").into_bytes();
    bytes.extend_from_slice(b"\xe9\",\"answer\":\"#### 2\"}\n");
    fs::write(&p, bytes).unwrap();
    let err = load_records(Kind::Gsm8k, &p, None).unwrap_err().to_string();
    assert_eq!(err, format!("{}:3: invalid UTF-8 at column 17 (byte 0xe9); dataset files must be UTF-8", p.display()));
}
