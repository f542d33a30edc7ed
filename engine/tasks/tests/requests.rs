//! `build_requests` against lm-evaluation-harness itself (golden/prompts.golden.json, written by
//! golden/make_prompts.py from the *_mini.yaml tasks), and the request forms lm-eval does not
//! have (letters, chat turns, training texts).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use syco_data::Message;
use syco_tasks::request::{build_requests, check_templates, training_text};
use syco_tasks::{ChoiceScoring, Doc, DocTemplate, FewShot, Generation, Gold, OutputType, Prompt, Request, TaskSpec};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn read_docs(name: &str) -> Vec<Doc> {
    let text = std::fs::read_to_string(golden_dir().join("data").join(name)).expect("golden data");
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("a JSON object per line")).collect()
}

fn t(s: &str) -> DocTemplate {
    DocTemplate::Text(s.into())
}

fn base(text: DocTemplate, target: DocTemplate, choices: Option<DocTemplate>, output: OutputType) -> TaskSpec {
    TaskSpec {
        text,
        target,
        choices,
        description: String::new(),
        output,
        choice_scoring: ChoiceScoring::Loglikelihood,
        target_delimiter: " ".into(),
        fewshot: FewShot::default(),
        generation: Generation::default(),
        chat: false,
        filters: vec![],
        metrics: vec![],
        lines: Default::default(),
    }
}

/// arc_mini.yaml, by hand.
fn arc_spec() -> TaskSpec {
    let mut spec = base(
        t("Question: {{question.strip()}}\nAnswer:"),
        t("{{choices.label.index(answerKey)}}"),
        Some(t("{{choices.text}}")),
        OutputType::MultipleChoice,
    );
    spec.fewshot = FewShot { n: 3, seed: 1234, ..FewShot::default() };
    spec
}

/// arith_mini.yaml, by hand.
fn arith_spec() -> TaskSpec {
    let mut spec = base(t("Q: {{question.strip()}}\nA:"), t("{{answer}}"), None, OutputType::GenerateUntil);
    spec.description = "Answer the arithmetic question.\n\n".into();
    spec.fewshot = FewShot { n: 2, seed: 42, delimiter: "\n###\n".into(), as_turns: false };
    spec.generation = Generation { until: vec!["\n###\n".into(), "Q:".into()], max_gen_toks: 32 };
    spec
}

/// lastword_mini.yaml, by hand.
fn lastword_spec() -> TaskSpec {
    base(t("{{text.split(' ')[:-1]|join(' ')}}"), t("{{' ' + text.split(' ')[-1]}}"), None, OutputType::Loglikelihood)
}

/// The golden requests of one task as (context, continuation-or-until, max_gen_toks) rows.
fn golden(task_file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(golden_dir().join("prompts.golden.json")).expect("prompts.golden.json");
    let all: Value = serde_json::from_str(&text).expect("golden JSON");
    all["tasks"][task_file]["items"].as_array().expect("items").clone()
}

/// Our requests in the golden file's shape.
fn as_golden(request: &Request) -> Value {
    match request {
        Request::Loglik { context, continuation } => json!({"context": context.text, "continuation": continuation}),
        Request::Generate { prompt, until, max_gen_toks } => json!({"context": prompt.text, "until": until, "max_gen_toks": max_gen_toks}),
    }
}

fn assert_matches_lm_eval(spec: &TaskSpec, docs: &[Doc], fewshot: Option<&[Doc]>, task_file: &str) {
    let ours = build_requests(spec, docs, fewshot).expect("requests");
    let want = golden(task_file);
    assert_eq!(ours.len(), want.len(), "{task_file}: number of items");
    for (item, want) in ours.iter().zip(&want) {
        assert_eq!(Value::from(item.doc_id), want["doc_id"]);
        let got: Vec<Value> = item.requests.iter().map(as_golden).collect();
        assert_eq!(Value::from(got), want["requests"], "{task_file}: doc {}", item.doc_id);
        let gold = match &item.gold {
            Gold::Choices(c) => json!(c[0]),
            Gold::Text(texts) => json!(texts[0]),
        };
        assert_eq!(gold, want["target"], "{task_file}: doc {} gold", item.doc_id);
    }
}

#[test]
fn multiple_choice_matches_lm_eval() {
    // Few-shot examples from the evaluated split itself: each record is kept out of its own.
    let docs = read_docs("arc.jsonl");
    assert_matches_lm_eval(&arc_spec(), &docs, None, "arc_mini.yaml");
}

#[test]
fn generation_with_a_fewshot_split_matches_lm_eval() {
    let (train, test) = (read_docs("arith_train.jsonl"), read_docs("arith_test.jsonl"));
    assert_matches_lm_eval(&arith_spec(), &test, Some(&train), "arith_mini.yaml");
}

#[test]
fn loglikelihood_matches_lm_eval() {
    assert_matches_lm_eval(&lastword_spec(), &read_docs("sentences.jsonl"), None, "lastword_mini.yaml");
}

#[test]
fn items_carry_ids_choices_and_gold() {
    let docs = read_docs("arc.jsonl");
    let items = build_requests(&arc_spec(), &docs, None).unwrap();
    assert_eq!(items[0].id, "Mercury_01");
    assert_eq!(items[2].choices, ["a ruler", "a thermometer", "It's \"obvious\"", "a scale"]);
    assert_eq!(items[3].choices.len(), 5);
    assert_eq!(items[3].gold, Gold::Choices(vec![2]));
    // No `id` field: the position.
    let arith = build_requests(&arith_spec(), &read_docs("arith_test.jsonl"), Some(&read_docs("arith_train.jsonl"))).unwrap();
    assert_eq!(arith[1].id, "1");
    assert_eq!(arith[1].gold, Gold::Text(vec!["20".into()]));
    assert!(arith[1].choices.is_empty());
}

#[test]
fn delimiters_are_the_tasks() {
    let docs = read_docs("arith_train.jsonl");
    let mut spec = arith_spec();
    spec.description = String::new();
    spec.target_delimiter = " => ".into();
    spec.fewshot = FewShot { n: 1, seed: 7, delimiter: "\n--\n".into(), as_turns: false };
    let items = build_requests(&spec, &docs[..3], Some(&docs[3..])).unwrap();
    let Request::Generate { prompt, .. } = &items[0].requests[0] else { panic!("a generation") };
    let (example, question) = prompt.text.split_once("\n--\n").expect("one example, then the question");
    assert!(example.starts_with("Q: What is ") && example.contains("\nA: => "), "{example:?}");
    assert_eq!(question, "Q: What is 2 + 3?\nA:");
}

#[test]
fn chat_turns_one_pair_per_example() {
    let (train, test) = (read_docs("arith_train.jsonl"), read_docs("arith_test.jsonl"));
    let mut spec = arith_spec();
    spec.fewshot.as_turns = true;
    let items = build_requests(&spec, &test, Some(&train)).unwrap();
    let Request::Generate { prompt, .. } = &items[0].requests[0] else { panic!("a generation") };
    // The same examples as the plain text (golden above): 9 - 9, then 2 + 3.
    assert_eq!(
        prompt.turns,
        vec![
            Message::user("Answer the arithmetic question.\n\nQ: What is 9 - 9?\nA:"),
            Message::assistant("0"),
            Message::user("Q: What is 2 + 3?\nA:"),
            Message::assistant("5"),
            Message::user("Q: What is 6 + 1?\nA:"),
        ]
    );
    // Without turns the chat form is the plain text as one user turn.
    let items = build_requests(&arith_spec(), &test, Some(&train)).unwrap();
    let Request::Generate { prompt: Prompt { text, turns }, .. } = &items[0].requests[0] else { panic!("a generation") };
    assert_eq!(turns, &vec![Message::user(text.clone())]);
}

#[test]
fn chat_continuations_drop_the_target_delimiter() {
    let docs = read_docs("arc.jsonl");
    let mut spec = arc_spec();
    spec.chat = true;
    let items = build_requests(&spec, &docs, None).unwrap();
    let Request::Loglik { continuation, .. } = &items[0].requests[1] else { panic!("log-likelihoods") };
    assert_eq!(continuation, "carbon dioxide");
}

#[test]
fn letter_prompts() {
    let docs = read_docs("arc.jsonl");
    let mut spec = arc_spec();
    spec.choice_scoring = ChoiceScoring::Letter;
    spec.fewshot.n = 1;
    spec.generation = Generation { until: vec!["\n".into()], max_gen_toks: 4 };
    let items = build_requests(&spec, &docs, None).unwrap();
    let item = &items[5];
    assert_eq!(item.requests.len(), 1);
    assert_eq!(item.gold, Gold::Choices(vec![1]));
    let Request::Generate { prompt, until, max_gen_toks } = &item.requests[0] else { panic!("a generation") };
    assert_eq!((until.clone(), *max_gen_toks), (vec!["\n".to_string()], 4));
    let question = "Question: What force pulls objects toward Earth?\nAnswer:\nA. magnetism\nB. gravity\nC. friction\n\
                    Answer with the letter of the correct option (A, B, or C).";
    let (example, last) = prompt.text.split_once("\n\n").expect("one example");
    assert_eq!(last, question);
    // The example (record 0: python3 -c "import random; r = random.Random(1234); print([[x for x in
    // r.sample(range(10), 2) if x != d][:1] for d in range(6)])" -> record 5 gets [0]) answers
    // with its gold letter after the target delimiter.
    assert_eq!(
        example,
        "Question: Which gas do plants take in from the air to make food?\nAnswer:\nA. oxygen\nB. carbon dioxide\nC. nitrogen\nD. helium\n\
         Answer with the letter of the correct option (A, B, C, or D). B"
    );
}

#[test]
fn training_texts() {
    let docs = read_docs("arc.jsonl");
    let t = training_text(&arc_spec(), &docs[0], 0).unwrap();
    assert_eq!(t.prompt.text, "Question: Which gas do plants take in from the air to make food?\nAnswer:");
    assert_eq!(t.target, " carbon dioxide");
    assert_eq!(t.prompt.turns, vec![Message::user(t.prompt.text.clone())]);
    let mut letter = arc_spec();
    letter.choice_scoring = ChoiceScoring::Letter;
    assert_eq!(training_text(&letter, &docs[0], 0).unwrap().target, " B");
    let arith = read_docs("arith_test.jsonl");
    let t = training_text(&arith_spec(), &arith[1], 1).unwrap();
    assert_eq!((t.prompt.text.as_str(), t.target.as_str()), ("Answer the arithmetic question.\n\nQ: What is 5 * 4?\nA:", " 20"));
    let t = training_text(&lastword_spec(), &read_docs("sentences.jsonl")[2], 2).unwrap();
    assert_eq!((t.prompt.text.as_str(), t.target.as_str()), ("Rain fell all night", " long"));
}

#[test]
fn errors_name_key_and_record() {
    let mut docs = read_docs("arc.jsonl");
    docs[4].insert("answerKey".into(), json!("Z"));
    let err = build_requests(&arc_spec(), &docs, None).unwrap_err();
    assert_eq!(err.key, "doc_to_target");
    assert!(err.message.contains("'Z' is not in list"), "{err}");
    let mut spec = arc_spec();
    spec.target = DocTemplate::Int(4);
    spec.fewshot.n = 0;
    let err = build_requests(&spec, &docs[..1], None).unwrap_err();
    assert_eq!((err.key.as_str(), err.doc), ("doc_to_target", Some(0)));
    assert!(err.message.contains("out of range: the record has 4 choices"), "{err}");
    // Too few records to draw n + 1 from.
    let err = build_requests(&arc_spec(), &docs[..3], None).unwrap_err();
    assert_eq!(err.key, "num_fewshot");
}

#[test]
fn templates_are_checked_by_key() {
    assert!(check_templates(&arc_spec()).is_ok());
    let mut spec = arc_spec();
    spec.choices = Some(t("{{ choices.text "));
    assert_eq!(check_templates(&spec).unwrap_err().key, "doc_to_choice");
    let mut spec = arc_spec();
    spec.description = "{% if %}".into();
    assert_eq!(check_templates(&spec).unwrap_err().key, "description");
}
