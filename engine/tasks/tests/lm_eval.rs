//! lm-eval task YAML files: the fixtures under tests/fixtures/lm_eval read into TaskSpecs, checked
//! against what lm-evaluation-harness 0.4.13 itself resolves from them (golden/configs.golden.json,
//! written by golden/make_configs.py), and each unsupported construct an error naming file, line
//! and key.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use syco_tasks::lm_eval::{read_task_file, DataBuilder, LmEvalData, LmEvalError, LmEvalTask};
use syco_tasks::{DocTemplate, FilterStep, Metric, MetricName, OutputType};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lm_eval")
}

fn read(rel: &str) -> LmEvalTask {
    read_task_file(&fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn read_err(rel: &str) -> LmEvalError {
    match read_task_file(&fixtures().join(rel)) {
        Ok(task) => panic!("{rel}: read without error: {task:?}"),
        Err(e) => e,
    }
}

/// Asserts the error's file (relative to the fixtures), line, key, and a part of its message.
fn assert_err(e: &LmEvalError, file: &str, line: Option<usize>, key: &str, message: &str) {
    assert_eq!(e.file, fixtures().join(file), "{e}");
    assert_eq!(e.line, line, "{e}");
    assert_eq!(e.key, key, "{e}");
    assert!(e.message.contains(message), "{e}\n  expected the message to contain: {message}");
}

/// A task file written into a temporary directory (with the fixtures' data next to it).
fn read_text(text: &str) -> Result<LmEvalTask, LmEvalError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("task.yaml");
    std::fs::write(&path, text).unwrap();
    read_task_file(&path)
}

const HEAD: &str = "task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: {train: a.jsonl, test: b.jsonl}\ntest_split: test\n";

fn read_with(rest: &str) -> Result<LmEvalTask, LmEvalError> {
    read_text(&format!("{HEAD}{rest}"))
}

fn err_with(rest: &str) -> LmEvalError {
    read_with(rest).expect_err(rest)
}

#[test]
fn arc_like_multiple_choice_file() {
    let task = read("arc_like.yaml");
    let path = fixtures().join("arc_like.yaml");
    assert_eq!(task.name, "arc_like");
    assert_eq!(task.files, vec![path.clone()]);
    let s = &task.spec;
    assert_eq!(s.output, OutputType::MultipleChoice);
    assert_eq!(s.text, DocTemplate::Text("Question: {{question}}\nAnswer:".into()));
    assert_eq!(s.target, DocTemplate::Text("{{choices.label.index(answerKey)}}".into()));
    assert_eq!(s.choices, Some(DocTemplate::Text("{{choices.text}}".into())));
    assert_eq!(s.description, "The following are science questions.\n\n");
    assert_eq!(s.target_delimiter, " ");
    assert_eq!((s.fewshot.n, s.fewshot.seed, s.fewshot.delimiter.as_str(), s.fewshot.as_turns), (3, 1234, "\n\n", false));
    assert!(!s.chat);
    assert_eq!(s.metrics, vec![Metric::plain(MetricName::Acc), Metric::plain(MetricName::AccNorm)]);
    assert!(s.filters.is_empty());
    let at = |line: usize| format!("{}:{line}", path.display());
    assert_eq!(s.lines.get("doc_to_text"), Some(&at(17)));
    assert_eq!(s.lines.get("doc_to_choice"), Some(&at(19)));
    assert_eq!(s.lines.get("metric_list"), Some(&at(25)));
    assert_eq!(s.lines.get("metric_list[1]"), Some(&at(29)));
    let data = &task.data;
    assert_eq!(data.builder, DataBuilder::Json);
    assert_eq!(data.dataset_name, None);
    let dir = fixtures();
    assert_eq!(data.data_files["train"], vec![dir.join("data/arc_train.jsonl"), dir.join("data/arc_train_extra.jsonl")]);
    assert_eq!(data.data_files["test"], vec![dir.join("data/arc_test.jsonl")]);
    assert_eq!((data.eval_split(), data.fewshot_source()), (Some("test"), Some("train")));
}

#[test]
fn gsm8k_like_generate_file_with_two_pipelines() {
    let task = read("gsm8k_like.yaml");
    let s = &task.spec;
    assert_eq!(s.output, OutputType::GenerateUntil);
    assert_eq!(s.generation.until, ["Question:", "</s>", "<|im_end|>"]);
    assert_eq!(s.generation.max_gen_toks, 256);
    assert_eq!(s.fewshot.n, 2);
    let names: Vec<&str> = s.filters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["strict-match", "flexible-extract"]);
    assert_eq!(
        s.filters[1].steps,
        vec![
            FilterStep::Regex { regex_pattern: "(-?[$0-9.,]{2,})|(-?[0-9]+)".into(), group_select: -1, fallback: "[invalid]".into() },
            FilterStep::TakeFirst,
            FilterStep::RemoveWhitespace,
            FilterStep::Lowercase,
        ]
    );
    let m = &s.metrics[0];
    assert_eq!((m.metric, m.ignore_case, m.ignore_punctuation, m.ignore_numbers), (MetricName::ExactMatch, true, false, false));
    assert_eq!(m.regexes_to_ignore, [",", "\\$", "(?s).*#### ", "\\.$"]);
    assert!(s.lines.contains_key("filter_list[0]") && s.lines.contains_key("filter_list[1]"));
    assert_eq!((task.data.eval_split(), task.data.fewshot_source()), (Some("test"), Some("train")));
}

#[test]
fn include_override_and_paths_relative_to_the_writing_file() {
    let task = read("nested/arc_child.yaml");
    let child = fixtures().join("nested/arc_child.yaml");
    let base = fixtures().join("arc_like.yaml");
    assert_eq!(task.files, vec![child.clone(), base.clone()]);
    assert_eq!(task.name, "arc_child");
    assert_eq!(task.spec.description, "");
    assert_eq!(task.spec.fewshot.n, 0);
    assert_eq!(task.spec.target_delimiter, ": ");
    // Kept from the base, and its line points into the base.
    assert_eq!(task.spec.text, DocTemplate::Text("Question: {{question}}\nAnswer:".into()));
    assert_eq!(task.spec.lines["doc_to_text"], format!("{}:17", base.display()));
    assert_eq!(task.spec.lines["target_delimiter"], format!("{}:6", child.display()));
    // data_files were written in the base, next to data/.
    assert_eq!(task.data.data_files["validation"], vec![fixtures().join("data/arc_validation.jsonl")]);

    // Later includes override earlier ones; the file's own `test_split: null` unsets the base's.
    let two = read("include_two.yaml");
    assert_eq!(two.files.len(), 3);
    assert_eq!(two.spec.text, DocTemplate::Text("Q: {{question}}\nA:".into()));
    assert_eq!(two.spec.fewshot.delimiter, "\n---\n");
    assert_eq!(two.data.test_split, None);
    assert_eq!(two.data.eval_split(), Some("validation"));
}

#[test]
fn data_files_forms_and_defaults() {
    let one = read("files_string.yaml");
    assert_eq!(one.data.data_files.keys().collect::<Vec<_>>(), ["train"]);
    assert_eq!(one.data.data_files["train"], vec![fixtures().join("data/qa.jsonl")]);
    // TaskConfig defaults: generate_until, exact_match, until = [fewshot_delimiter], 256 tokens.
    let s = &one.spec;
    assert_eq!(s.output, OutputType::GenerateUntil);
    assert_eq!(s.text, DocTemplate::Text("{{q}}".into()));
    assert_eq!(s.target, DocTemplate::Text("a".into()));
    assert_eq!(s.choices, None);
    assert_eq!((s.description.as_str(), s.target_delimiter.as_str()), ("", " "));
    assert_eq!((s.fewshot.n, s.fewshot.seed, s.fewshot.delimiter.as_str()), (0, 1234, "\n\n"));
    assert_eq!((s.generation.until.clone(), s.generation.max_gen_toks), (vec!["\n\n".to_string()], 256));
    assert_eq!(s.metrics, vec![Metric::plain(MetricName::ExactMatch)]);
    assert!(s.filters.is_empty() && !s.chat);
    // The only split is evaluated, and lm-eval falls back to it for few-shot examples too.
    assert_eq!((one.data.eval_split(), one.data.fewshot_source()), (Some("train"), Some("train")));

    let list = read("files_list.yaml");
    assert_eq!(list.data.data_files["train"], vec![fixtures().join("data/qa.jsonl"), fixtures().join("data/qa_more.jsonl")]);
    assert_eq!(list.spec.generation.until, ["\n###\n"]);
    assert_eq!(list.spec.generation.max_gen_toks, 32);

    let mc = read("mc_defaults.yaml");
    assert_eq!(mc.spec.target, DocTemplate::Int(0));
    assert_eq!(mc.spec.choices, Some(DocTemplate::List(vec!["{{choices.text[0]}}".into(), "{{choices.text[1]}}".into()])));
    assert_eq!(mc.spec.metrics, vec![Metric::plain(MetricName::Acc), Metric::plain(MetricName::AccNorm)]);
    assert_eq!((mc.data.eval_split(), mc.data.fewshot_source()), (Some("validation"), Some("validation")));
}

#[test]
fn split_choice_follows_lm_eval() {
    let data = |test: Option<&str>, validation: Option<&str>, training: Option<&str>, fewshot: Option<&str>| LmEvalData {
        builder: DataBuilder::Csv,
        dataset_name: None,
        data_files: Default::default(),
        test_split: test.map(String::from),
        validation_split: validation.map(String::from),
        training_split: training.map(String::from),
        fewshot_split: fewshot.map(String::from),
    };
    let d = data(Some("te"), Some("va"), Some("tr"), Some("fs"));
    assert_eq!((d.eval_split(), d.fewshot_source()), (Some("te"), Some("fs")));
    let d = data(Some("te"), Some("va"), Some("tr"), None);
    assert_eq!(d.fewshot_source(), Some("tr"));
    let d = data(Some("te"), Some("va"), None, None);
    assert_eq!((d.eval_split(), d.fewshot_source()), (Some("te"), Some("va")));
    let d = data(None, Some("va"), None, None);
    assert_eq!((d.eval_split(), d.fewshot_source()), (Some("va"), Some("va")));
    let d = data(Some("te"), None, None, None);
    assert_eq!(d.fewshot_source(), Some("te"));
}

/// Every fixture lm-eval itself resolved (golden/make_configs.py) reads to the same values.
#[test]
fn matches_lm_eval_resolved_configs() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/configs.golden.json");
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(golden["lm_eval_version"], "0.4.13");
    let cases = golden["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 8);
    for (rel, want) in cases {
        let task = read(rel);
        let s = &task.spec;
        let ctx = |what: &str| format!("{rel}: {what}");
        assert_eq!(want["task"], task.name.as_str(), "{}", ctx("task"));
        assert_eq!(want["output_type"], serde_json::to_value(s.output).unwrap(), "{}", ctx("output_type"));
        assert_eq!(want["doc_to_text"], serde_json::to_value(&s.text).unwrap(), "{}", ctx("doc_to_text"));
        assert_eq!(want["doc_to_target"], serde_json::to_value(&s.target).unwrap(), "{}", ctx("doc_to_target"));
        assert_eq!(want["doc_to_choice"], serde_json::to_value(&s.choices).unwrap(), "{}", ctx("doc_to_choice"));
        assert_eq!(want["description"], s.description.as_str(), "{}", ctx("description"));
        assert_eq!(want["target_delimiter"], s.target_delimiter.as_str(), "{}", ctx("target_delimiter"));
        assert_eq!(want["fewshot_delimiter"], s.fewshot.delimiter.as_str(), "{}", ctx("fewshot_delimiter"));
        assert_eq!(want["num_fewshot"], s.fewshot.n, "{}", ctx("num_fewshot"));
        assert_eq!(want["fewshot_sampler"], "default", "{}", ctx("sampler"));
        assert_eq!(want["dataset_name"], serde_json::to_value(&task.data.dataset_name).unwrap(), "{}", ctx("dataset_name"));
        assert_eq!(want["eval_split"], task.data.eval_split().unwrap(), "{}", ctx("eval split"));
        assert_eq!(want["fewshot_split"], task.data.fewshot_source().unwrap(), "{}", ctx("few-shot split"));
        let files: serde_json::Map<String, Value> = task
            .data
            .data_files
            .iter()
            .map(|(split, files)| {
                let rel: Vec<Value> = files.iter().map(|f| json!(f.strip_prefix(fixtures()).unwrap().to_str().unwrap())).collect();
                (split.clone(), Value::Array(rel))
            })
            .collect();
        let mut want_files = want["data_files"].as_object().unwrap().clone();
        want_files.sort_keys();
        assert_eq!(Value::Object(want_files), Value::Object(files), "{}", ctx("data_files"));
        // Metrics: lm-eval's kwargs as written; absent ones are lm-eval's defaults.
        let metrics: Vec<Value> = s
            .metrics
            .iter()
            .map(|m| {
                json!({"metric": m.metric, "ignore_case": m.ignore_case, "ignore_punctuation": m.ignore_punctuation,
                       "ignore_numbers": m.ignore_numbers, "regexes_to_ignore": m.regexes_to_ignore})
            })
            .collect();
        let want_metrics: Vec<Value> = want["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                json!({"metric": m["metric"], "ignore_case": m.get("ignore_case").unwrap_or(&json!(false)),
                       "ignore_punctuation": m.get("ignore_punctuation").unwrap_or(&json!(false)),
                       "ignore_numbers": m.get("ignore_numbers").unwrap_or(&json!(false)),
                       "regexes_to_ignore": m.get("regexes_to_ignore").unwrap_or(&json!([]))})
            })
            .collect();
        assert_eq!(want_metrics, metrics, "{}", ctx("metrics"));
        if s.output == OutputType::GenerateUntil {
            let g = &want["generation"];
            assert_eq!(g["until"], json!(s.generation.until), "{}", ctx("until"));
            assert_eq!(g["max_gen_toks"], s.generation.max_gen_toks, "{}", ctx("max_gen_toks"));
            assert_eq!(g["do_sample"], false, "{}", ctx("do_sample"));
        } else {
            assert!(want.get("generation").is_none());
        }
        assert_eq!(want["filters"], serde_json::to_value(&s.filters).unwrap(), "{}", ctx("filters"));
    }
}

#[test]
fn function_tags_are_errors_at_their_line() {
    let e = read_err("errors/function_tag.yaml");
    assert_err(&e, "errors/function_tag.yaml", Some(7), "doc_to_text", "`!function utils.doc_to_text` names a Python function");
    assert_eq!(
        e.to_string(),
        format!(
            "{}:7: `doc_to_text`: `!function utils.doc_to_text` names a Python function; syco cannot run Python, so a task must use templates, fields and literals only",
            fixtures().join("errors/function_tag.yaml").display()
        )
    );
    let e = read_err("errors/function_nested.yaml");
    assert_err(&e, "errors/function_nested.yaml", Some(10), "metric_list[0].aggregation", "Python function");
    // Even under a key that is otherwise ignored.
    let e = err_with("doc_to_text: q\ndoc_to_target: a\nmetadata:\n  version: !function utils.v\n");
    assert_eq!((e.line, e.key.as_str()), (Some(9), "metadata.version"), "{e}");
}

#[test]
fn unknown_and_unsupported_keys() {
    assert_err(&read_err("errors/unknown_key.yaml"), "errors/unknown_key.yaml", Some(7), "doc_to_targt", "unknown key");
    assert_err(&read_err("errors/process_docs.yaml"), "errors/process_docs.yaml", Some(2), "process_docs", "Python function");
    assert_err(&read_err("errors/generation_key.yaml"), "errors/generation_key.yaml", Some(5), "generation_kwargs.top_p", "not supported");
    // The fault is in the included file, so the error names it.
    assert_err(&read_err("errors/include_bad.yaml"), "errors/bad_base.yaml", Some(8), "use_prompt", "promptsource");
    let e = err_with("doc_to_text: q\ndoc_to_target: a\nfewshot_config:\n  random_seed: 42\n");
    assert_eq!((e.line, e.key.as_str()), (Some(9), "fewshot_config.random_seed"), "{e}");
    let e = err_with("doc_to_text: q\ndoc_to_target: a\nfewshot_config:\n  sampler: first_n\n");
    assert_eq!((e.line, e.key.as_str()), (Some(9), "fewshot_config.sampler"), "{e}");
    let e = err_with("doc_to_text: q\ndoc_to_target: a\nrepeats: 5\n");
    assert_eq!((e.line, e.key.as_str()), (Some(8), "repeats"), "{e}");
    let e = err_with("doc_to_text: q\ndoc_to_target: a\nfilter_list:\n  - name: x\n    filter:\n      - function: majority_vote\n");
    assert_eq!((e.line, e.key.as_str()), (Some(11), "filter_list[0].filter[0].function"), "{e}");
    let e =
        err_with("doc_to_text: q\ndoc_to_target: a\nfilter_list:\n  - name: x\n    filter:\n      - function: take_first\n        k: 2\n");
    assert_eq!((e.line, e.key.as_str()), (Some(12), "filter_list[0].filter[0].k"), "{e}");
    let e = err_with("doc_to_text: q\ndoc_to_target: a\nmetric_list:\n  - metric: exact_match\n    regexes_to_ignore: ','\n");
    assert_eq!((e.line, e.key.as_str()), (Some(10), "metric_list[0].regexes_to_ignore"), "{e}");
    // Ignored keys are accepted.
    let ok = read_with("doc_to_text: q\ndoc_to_target: a\ntag: [x]\ngroup: g\nmetadata: {version: 2}\nshould_decontaminate: false\n");
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn unsupported_output_type_and_metrics() {
    assert_err(
        &read_err("errors/output_type.yaml"),
        "errors/output_type.yaml",
        Some(8),
        "output_type",
        "`loglikelihood_rolling` is not supported",
    );
    assert_err(&read_err("errors/metric.yaml"), "errors/metric.yaml", Some(10), "metric_list[1].metric", "metric `bleu` is not supported");
    let e = err_with("doc_to_text: q\ndoc_to_target: a\nmetric_list:\n  - metric: acc\n");
    assert_eq!((e.line, e.key.as_str()), (Some(9), "metric_list[0].metric"), "{e}");
    assert!(e.message.contains("not supported for output_type generate_until"), "{e}");
    let e = err_with("doc_to_text: q\ndoc_to_target: a\nmetric_list:\n  - metric: exact_match\n    aggregation: median\n");
    assert_eq!((e.line, e.key.as_str()), (Some(10), "metric_list[0].aggregation"), "{e}");
    let e = err_with("doc_to_text: q\ndoc_to_target: a\nmetric_list:\n  - metric: exact_match\n    higher_is_better: false\n");
    assert_eq!(e.key, "metric_list[0].higher_is_better", "{e}");
    // loglikelihood's lm-eval default includes perplexity, which syco does not have.
    let e = err_with("doc_to_text: q\ndoc_to_target: a\noutput_type: loglikelihood\n");
    assert_eq!((e.line, e.key.as_str()), (None, "metric_list"), "{e}");
    // multiple_choice needs doc_to_choice.
    let e = err_with("doc_to_text: q\ndoc_to_target: 0\noutput_type: multiple_choice\n");
    assert_eq!(e.key, "doc_to_choice", "{e}");
}

#[test]
fn sampling_is_an_error_greedy_is_accepted() {
    assert_err(
        &read_err("errors/sampling.yaml"),
        "errors/sampling.yaml",
        Some(10),
        "generation_kwargs.do_sample",
        "sampling is not supported",
    );
    let e = err_with("doc_to_text: q\ndoc_to_target: a\ngeneration_kwargs:\n  temperature: 0.7\n");
    assert_eq!((e.line, e.key.as_str()), (Some(9), "generation_kwargs.temperature"), "{e}");
    // do_sample: false is greedy whatever the temperature (lm-eval sets it to 0).
    let ok = read_with(
        "doc_to_text: q\ndoc_to_target: a\ngeneration_kwargs:\n  do_sample: false\n  temperature: 0.7\n  until: x\n  max_new_tokens: 9\n",
    )
    .unwrap();
    assert_eq!((ok.spec.generation.until.clone(), ok.spec.generation.max_gen_toks), (vec!["x".to_string()], 9));
    // max_gen_toks wins over its aliases.
    let ok = read_with("doc_to_text: q\ndoc_to_target: a\ngeneration_kwargs:\n  max_tokens: 9\n  max_gen_toks: 7\n").unwrap();
    assert_eq!(ok.spec.generation.max_gen_toks, 7);
}

#[test]
fn data_errors() {
    assert_err(&read_err("errors/hub.yaml"), "errors/hub.yaml", Some(2), "dataset_path", "download the data");
    let e = read_with("doc_to_text: q\ndoc_to_target: a\nvalidation_split: dev\n").unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (Some(8), "validation_split"), "{e}");
    assert!(e.message.contains("split `dev` is not in dataset_kwargs.data_files (splits: test, train)"), "{e}");
    let e = read_text(
        "task: t\ndataset_path: csv\ndataset_kwargs:\n  data_files: 'data/*.csv'\ntest_split: train\ndoc_to_text: q\ndoc_to_target: a\n",
    )
    .unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (Some(4), "dataset_kwargs.data_files"), "{e}");
    let e = read_text("task: t\ndataset_path: parquet\ndataset_kwargs:\n  data_files: x.parquet\ndoc_to_text: q\ndoc_to_target: a\n")
        .unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (None, "test_split"), "{e}");
    let ok = read_text("task: t\ndataset_path: parquet\ndataset_kwargs:\n  data_files: x.parquet\nvalidation_split: train\ndoc_to_text: q\ndoc_to_target: a\n")
        .unwrap();
    assert_eq!(ok.data.builder, DataBuilder::Parquet);
}

#[test]
fn include_errors() {
    assert_err(
        &read_err("errors/include_missing.yaml"),
        "errors/include_missing.yaml",
        Some(2),
        "include",
        "no_such_base.yaml does not exist",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), "include: b.yaml\ntask: a\n").unwrap();
    std::fs::write(dir.path().join("b.yaml"), "task: b\ninclude: [a.yaml]\n").unwrap();
    let e = read_task_file(&dir.path().join("a.yaml")).unwrap_err();
    assert_eq!((e.file.clone(), e.line, e.key.as_str()), (dir.path().join("b.yaml"), Some(2), "include"), "{e}");
    assert!(e.message.contains("includes itself"), "{e}");
}

#[test]
fn yaml_errors_and_pyyaml_scalars() {
    let e = read_err("errors/syntax.yaml");
    assert_eq!((e.line, e.key.as_str()), (Some(4), ""), "{e}");
    assert!(e.to_string().starts_with(&format!("{}:4: YAML: ", fixtures().join("errors/syntax.yaml").display())), "{e}");
    let e = err_with("doc_to_text: q\ndoc_to_text: a\n");
    assert_eq!(e.line, Some(7), "{e}");
    assert!(e.message.contains("duplicate key `doc_to_text`"), "{e}");
    // `no` is a boolean to PyYAML (YAML 1.1), so lm-eval would not see a string.
    let e = err_with("doc_to_text: q\ndoc_to_target: a\ndoc_to_choice: [no, yes]\noutput_type: multiple_choice\n");
    assert_eq!((e.line, e.key.as_str()), (Some(8), "doc_to_choice[0]"), "{e}");
    assert!(e.message.contains("boolean"), "{e}");
    let ok = read_with("doc_to_text: q\ndoc_to_target: a\nnum_fewshot: 010\n").unwrap();
    assert_eq!(ok.spec.fewshot.n, 8);
    let e = read_task_file(&fixtures().join("errors/absent.yaml")).unwrap_err();
    assert_eq!((e.line, e.key.as_str()), (None, ""), "{e}");
    let e = read_text("- a\n- b\n").unwrap_err();
    assert_eq!(e.line, Some(1), "{e}");
    let e = read_text("").unwrap_err();
    assert!(e.message.contains("mapping"), "{e}");
}

/// What rendering and scoring would reject (template syntax, regexes) is an error at read time,
/// at the key's line.
#[test]
fn templates_and_regexes_are_checked_at_their_line() {
    let e = err_with("doc_to_text: \"{{ q\"\ndoc_to_target: a\n");
    assert_eq!((e.line, e.key.as_str()), (Some(6), "doc_to_text"), "{e}");
    let e = err_with(
        "doc_to_text: q\ndoc_to_target: a\nfilter_list:\n  - name: x\n    filter:\n      - function: regex\n        regex_pattern: \"(\"\n",
    );
    assert_eq!(e.line.map(|l| (8..=12).contains(&l)), Some(true), "{e}");
    assert!(e.key.starts_with("filter_list"), "{e}");
    let e = err_with("doc_to_text: q\ndoc_to_target: a\nmetric_list:\n  - metric: exact_match\n    regexes_to_ignore: [\"(\"]\n");
    assert_eq!(e.line.map(|l| (8..=10).contains(&l)), Some(true), "{e}");
    assert!(e.key.starts_with("metric_list"), "{e}");
}
