//! Every committed study file loads as its kind with the SPEC's counts and facts.

use syco_data::{load_records, load_valid_records, read_jsonl, write_jsonl, Kind, Record};
use syco_testkit::shared;

#[test]
fn benchmark_splits_load_with_spec_counts() {
    let Some(dir) = shared("seed/data") else { return };
    let cases = [
        (Kind::Gsm8k, "gsm8k", 1000, 500),
        (Kind::Mmlu, "mmlu", 1000, 500),
        (Kind::TruthfulQa, "truthfulqa", 600, 200),
        (Kind::HellaSwag, "hellaswag", 1000, 500),
    ];
    for (kind, name, n_train, n_test) in cases {
        let split_dir = dir.join("02_general_benchmarks_splits");
        let train = load_records(kind, &split_dir.join(format!("train_splits/{name}_train.jsonl")), None).unwrap();
        let test = load_records(kind, &split_dir.join(format!("test_splits/{name}_test.jsonl")), None).unwrap();
        assert_eq!((train.len(), test.len()), (n_train, n_test), "{name}");
        assert!(train.iter().chain(&test).all(|r| r.kind() == kind));
    }
}

#[test]
fn benchmark_facts_from_spec_hold() {
    let Some(dir) = shared("seed/data") else { return };
    let split_dir = dir.join("02_general_benchmarks_splits");
    let test = |name: &str, kind| load_records(kind, &split_dir.join(format!("test_splits/{name}_test.jsonl")), None).unwrap();

    // MMLU test answers A/B/C/D = 126/107/134/133.
    let mut counts = [0; 4];
    for r in test("mmlu", Kind::Mmlu) {
        let Record::Mmlu(m) = r else { panic!() };
        counts[m.gold_index()] += 1;
    }
    assert_eq!(counts, [126, 107, 134, 133]);

    // HellaSwag test labels 0/1/2/3 = 141/111/127/121.
    let mut counts = [0; 4];
    for r in test("hellaswag", Kind::HellaSwag) {
        let Record::HellaSwag(h) = r else { panic!() };
        counts[h.gold_index()] += 1;
    }
    assert_eq!(counts, [141, 111, 127, 121]);

    // TruthfulQA mc1 gold is always index 0; 116 items have more than 4 choices, 29 fewer than 4.
    let tqa = test("truthfulqa", Kind::TruthfulQa);
    let golds: Vec<_> = tqa
        .iter()
        .map(|r| match r {
            Record::TruthfulQa(t) => (t.mc1_gold_index(), t.mc1_targets.choices.len()),
            _ => panic!(),
        })
        .collect();
    assert!(golds.iter().all(|(g, _)| *g == Some(0)));
    assert_eq!(golds.iter().filter(|(_, n)| *n > 4).count(), 116);
    assert_eq!(golds.iter().filter(|(_, n)| *n < 4).count(), 29);

    // Every GSM8K record has a gold number after `#### `.
    for r in test("gsm8k", Kind::Gsm8k) {
        let gold = r.gold().unwrap();
        assert!(!gold.is_empty() && gold.chars().all(|c| c.is_ascii_digit() || c == '-' || c == ',' || c == '.'), "{gold}");
    }
}

#[test]
fn sycophancy_samples_load_300_per_task_with_spec_facts() {
    let Some(dir) = shared("seed/data") else { return };
    let path = dir.join("03_sycophancy_samples/sycophancy_test_samples.json");
    for kind in [Kind::Feedback, Kind::AreYouSure, Kind::Answer] {
        let records = load_records(kind, &path, None).unwrap();
        assert_eq!(records.len(), 300, "{kind}");
        let (valid, skipped) = load_valid_records(kind, &path, None).unwrap();
        assert_eq!((valid.len(), skipped), (300, 0), "{kind}");
    }
    let feedback = load_records(Kind::Feedback, &path, None).unwrap();
    let liked = feedback.iter().filter(|r| matches!(r, Record::Feedback(f) if f.template_type == "I really like")).count();
    assert_eq!(liked, 62);
    let distinct: std::collections::HashSet<_> = feedback
        .iter()
        .map(|r| match r {
            Record::Feedback(f) => f.text.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(distinct.len(), 199);

    let ays = load_records(Kind::AreYouSure, &path, None).unwrap();
    let outside_a_to_e = ays.iter().filter(|r| matches!(r, Record::AreYouSure(a) if a.correct_letter > 'E')).count();
    assert_eq!(outside_a_to_e, 22);
    let aqua = ays.iter().filter(|r| matches!(r, Record::AreYouSure(a) if a.dataset == "aqua_mc")).count();
    assert_eq!(aqua, 65);

    let answer = load_records(Kind::Answer, &path, None).unwrap();
    let trivia_with_aliases =
        answer.iter().filter(|r| matches!(r, Record::Answer(a) if a.dataset == "trivia_qa" && !a.aliases.is_empty())).count();
    assert_eq!(trivia_with_aliases, 165);
    let neutral = answer.iter().filter(|r| matches!(r, Record::Answer(a) if a.prompt_template == "{question}")).count();
    assert_eq!(neutral, 80);

    // AntiSyc takes all three members.
    assert_eq!(load_records(Kind::AntiSyc, &path, None).unwrap().len(), 900);
}

#[test]
fn canonical_jsonl_round_trips_every_seed_record() {
    let Some(dir) = shared("seed/data") else { return };
    let mut all = load_records(Kind::AntiSyc, &dir.join("03_sycophancy_samples/sycophancy_test_samples.json"), None).unwrap();
    for (kind, name) in [(Kind::Mmlu, "mmlu"), (Kind::TruthfulQa, "truthfulqa"), (Kind::HellaSwag, "hellaswag"), (Kind::Gsm8k, "gsm8k")] {
        let p = dir.join(format!("02_general_benchmarks_splits/test_splits/{name}_test.jsonl"));
        all.extend(load_records(kind, &p, None).unwrap());
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("all.jsonl");
    write_jsonl(&out, &all).unwrap();
    let back = read_jsonl(&out).unwrap();
    assert_eq!(back, all);
    // Ids are stable and (for distinct records) distinct.
    let ids: std::collections::HashSet<_> = all.iter().map(Record::id).collect();
    let distinct: std::collections::HashSet<_> = all.iter().map(Record::canonical_json).collect();
    assert_eq!(ids.len(), distinct.len());
}

/// The study's example dumps (SPEC §1.4) truncate `base.text` / `prompt[0].content` to 100
/// characters + "..."; each must match a loaded record, in evaluation (= file) order.
#[test]
fn example_dumps_match_loaded_records_in_order() {
    let Some(dir) = shared("seed/data") else { return };
    let samples = dir.join("03_sycophancy_samples/sycophancy_test_samples.json");
    let head = |s: &str| format!("{}...", s.chars().take(100).collect::<String>());
    for (kind, file, key) in
        [(Kind::Feedback, "feedback_sycophantic_examples.json", "argument"), (Kind::Answer, "answer_sycophantic_examples.json", "question")]
    {
        let records = load_records(kind, &samples, None).unwrap();
        let heads: Vec<String> = records
            .iter()
            .map(|r| match r {
                Record::Feedback(f) => head(&f.text),
                Record::Answer(a) => head(&a.prompt),
                _ => unreachable!(),
            })
            .collect();
        let dump: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("03_sycophancy_samples").join(file)).unwrap()).unwrap();
        let mut last = None;
        for example in dump.as_array().unwrap() {
            let want = example[key].as_str().unwrap();
            let pos = heads.iter().enumerate().position(|(i, h)| h == want && last.is_none_or(|l| i > l));
            assert!(pos.is_some(), "{kind}: `{want}` not found after position {last:?}");
            last = pos;
        }
    }
}
