//! Filters, metrics and scoring: unit cases, and golden cases computed by lm-eval 0.4.13's own
//! filters, `process_results` and aggregation (golden/make_scoring.py).

use serde_json::{json, Value};
use syco_tasks::filter::{self, extract_letter, Found, Pipeline, PyRegex};
use syco_tasks::metric::{self, argmax, choice_predictions, numeric_match, parse_number, TextMetric};
use syco_tasks::score::score;
use syco_tasks::{
    ChoiceScoring, DocTemplate, FewShot, FilterPipeline, FilterStep, Generation, Gold, ItemRequests, Metric, MetricName, OutputType,
    Prompt, Request, Response, TaskSpec,
};

fn spec(output: OutputType, scoring: ChoiceScoring, filters: Vec<FilterPipeline>, metrics: Vec<Metric>) -> TaskSpec {
    TaskSpec {
        text: DocTemplate::Text("{{q}}".into()),
        target: DocTemplate::Text("{{a}}".into()),
        choices: None,
        description: String::new(),
        output,
        choice_scoring: scoring,
        target_delimiter: " ".into(),
        fewshot: FewShot::default(),
        generation: Generation::default(),
        chat: false,
        filters,
        metrics,
        lines: Default::default(),
    }
}

fn plain(names: &[MetricName]) -> Vec<Metric> {
    names.iter().map(|m| Metric::plain(*m)).collect()
}

fn pipeline(name: &str, steps: Vec<FilterStep>) -> FilterPipeline {
    FilterPipeline { name: name.into(), steps }
}

fn apply(steps: Vec<FilterStep>, response: &str) -> String {
    Pipeline::compile(&pipeline("p", steps)).unwrap().apply(response)
}

fn regex(pattern: &str, group_select: i64, fallback: &str) -> FilterStep {
    FilterStep::Regex { regex_pattern: pattern.into(), group_select, fallback: fallback.into() }
}

fn prompt() -> Prompt {
    Prompt { text: "Q".into(), turns: vec![] }
}

fn loglik_req(c: &str) -> Request {
    Request::Loglik { context: prompt(), continuation: c.into() }
}

fn gen_req() -> Request {
    Request::Generate { prompt: prompt(), until: vec![], max_gen_toks: 8 }
}

fn ll(logprob: f64, greedy: bool) -> Response {
    Response::Loglik { logprob, greedy, tokens: 1 }
}

fn text(t: &str) -> Response {
    Response::Text { text: t.into() }
}

fn mc_item(doc_id: usize, choices: &[&str], gold: Vec<usize>) -> ItemRequests {
    ItemRequests {
        doc_id,
        id: format!("r{doc_id}"),
        requests: choices.iter().map(|c| loglik_req(c)).collect(),
        choices: choices.iter().map(|c| c.to_string()).collect(),
        gold: Gold::Choices(gold),
    }
}

fn gen_item(doc_id: usize, refs: &[&str]) -> ItemRequests {
    ItemRequests {
        doc_id,
        id: format!("r{doc_id}"),
        requests: vec![gen_req()],
        choices: vec![],
        gold: Gold::Text(refs.iter().map(|r| r.to_string()).collect()),
    }
}

fn letter_item(doc_id: usize, n: usize, gold: usize) -> ItemRequests {
    ItemRequests {
        doc_id,
        id: format!("r{doc_id}"),
        requests: vec![gen_req()],
        choices: (0..n).map(|i| format!("choice {i}")).collect(),
        gold: Gold::Choices(vec![gold]),
    }
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(|k| k.as_str()).collect()
}

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/scoring.golden.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The golden value, or syco's documented result where the case says syco differs.
fn expected(case: &Value) -> &Value {
    case.get("syco").unwrap_or(&case["expected"])
}

// ---- golden: lm-eval's own functions ----

#[test]
fn golden_filters_match_lm_eval() {
    let g = golden();
    let cases = g["filters"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let steps: Vec<FilterStep> = serde_json::from_value(case["steps"].clone()).unwrap();
        let got = apply(steps, case["response"].as_str().unwrap());
        assert_eq!(json!(got), *expected(case), "case {case}");
    }
}

#[test]
fn golden_exact_match_matches_lm_eval() {
    let g = golden();
    for case in g["exact_match"].as_array().unwrap() {
        let mut m = case["options"].as_object().unwrap().clone();
        m.insert("metric".into(), json!("exact_match"));
        let metric: Metric = serde_json::from_value(Value::Object(m)).unwrap();
        let refs: Vec<String> = serde_json::from_value(case["references"].clone()).unwrap();
        let got = TextMetric::compile(&metric).unwrap().matches(case["prediction"].as_str().unwrap(), &refs).unwrap();
        assert_eq!(json!(got as u8), *expected(case), "case {case}");
    }
}

#[test]
fn golden_multiple_choice_matches_lm_eval() {
    let g = golden();
    let cases = g["multiple_choice"].as_array().unwrap();
    let s = spec(OutputType::MultipleChoice, ChoiceScoring::Loglikelihood, vec![], plain(&[MetricName::Acc, MetricName::AccNorm]));
    let mut items = Vec::new();
    let mut responses = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let choices: Vec<String> = serde_json::from_value(case["choices"].clone()).unwrap();
        let lls: Vec<f64> = serde_json::from_value(case["lls"].clone()).unwrap();
        let gold: Vec<usize> = serde_json::from_value(case["gold"].clone()).unwrap();
        let (pred, pred_norm) = choice_predictions(&lls, &choices).unwrap();
        assert_eq!((json!(pred), json!(pred_norm)), (case["pred"].clone(), case["pred_norm"].clone()), "case {case}");
        let refs: Vec<&str> = choices.iter().map(|c| c.as_str()).collect();
        items.push(mc_item(i, &refs, gold));
        responses.push(lls.iter().map(|l| ll(*l, false)).collect());
    }
    let scored = score(&s, &items, &responses).unwrap();
    for (item, case) in scored.items.iter().zip(cases) {
        assert_eq!(item["pred"], case["pred"], "case {case}");
        assert_eq!(item["pred_norm"], case["pred_norm"], "case {case}");
        assert_eq!(item["acc"].as_f64(), case["acc"].as_f64(), "case {case}");
        assert_eq!(item["acc_norm"].as_f64(), case["acc_norm"].as_f64(), "case {case}");
    }
}

#[test]
fn golden_mean_and_stderr_match_lm_eval() {
    let g = golden();
    let s = spec(OutputType::Loglikelihood, ChoiceScoring::Loglikelihood, vec![], plain(&[MetricName::Acc]));
    for case in g["aggregate"].as_array().unwrap() {
        let values: Vec<f64> = serde_json::from_value(case["values"].clone()).unwrap();
        let items: Vec<ItemRequests> = (0..values.len())
            .map(|i| ItemRequests {
                doc_id: i,
                id: i.to_string(),
                requests: vec![loglik_req("x")],
                choices: vec![],
                gold: Gold::Text(vec![]),
            })
            .collect();
        let responses: Vec<Vec<Response>> = values.iter().map(|v| vec![ll(-1.0, *v == 1.0)]).collect();
        let m = score(&s, &items, &responses).unwrap().metrics;
        assert_eq!(m["acc"].as_f64(), case["mean"].as_f64(), "case {case}");
        assert_eq!(m["acc_stderr"].as_f64(), case["stderr"].as_f64(), "case {case}");
        assert_eq!(m["n"], json!(values.len()));
    }
}

// ---- filters ----

#[test]
fn regex_group_select_and_fallback() {
    let p = r"#### (\-?[0-9\.\,]+)";
    let r = "#### 1\n#### 2\n#### 3";
    assert_eq!(apply(vec![regex(p, 0, "F")], r), "1");
    assert_eq!(apply(vec![regex(p, 1, "F")], r), "2");
    assert_eq!(apply(vec![regex(p, -1, "F")], r), "3");
    assert_eq!(apply(vec![regex(p, -3, "F")], r), "1");
    // Past the matches: lm-eval raises IndexError; syco gives the fallback.
    assert_eq!(apply(vec![regex(p, 3, "F")], r), "F");
    assert_eq!(apply(vec![regex(p, -4, "F")], r), "F");
    // No match: the fallback as written (not stripped); the serde default is "[invalid]".
    assert_eq!(apply(vec![regex(p, 0, " F ")], "nothing"), " F ");
    let step: FilterStep = serde_json::from_value(json!({"function": "regex", "regex_pattern": "z"})).unwrap();
    assert_eq!(apply(vec![step], "abc"), "[invalid]");
    // The chosen match is stripped.
    assert_eq!(apply(vec![regex(r"(\s+\d+\s*)", 0, "F")], "a  12 \n"), "12");
}

#[test]
fn regex_groups_give_the_first_non_empty() {
    let flex = r"(-?[$0-9.,]{2,})|(-?[0-9]+)";
    assert_eq!(apply(vec![regex(flex, -1, "F")], "3 apples cost $12."), "$12.");
    assert_eq!(apply(vec![regex(flex, 0, "F")], "3 apples cost $12."), "3");
    // Every group empty: the fallback, stripped (lm-eval strips it on this path).
    assert_eq!(apply(vec![regex(r"(a)?(b)?", 0, " F ")], "xyz"), "F");
    // One group that matched empty is "" (findall gives strings, not tuples, for one group).
    assert_eq!(apply(vec![regex(r"(a?)x", 0, "F")], "x"), "");
}

#[test]
fn findall_is_pythons() {
    let r = PyRegex::new(r"(\d)(x)?").unwrap();
    assert_eq!(r.findall("1x 2"), vec![Found::Groups(vec!["1".into(), "x".into()]), Found::Groups(vec!["2".into(), "".into()])]);
    let whole = PyRegex::new(r"\d+").unwrap();
    assert_eq!(whole.findall("a1 22"), vec![Found::Text("1".into()), Found::Text("22".into())]);
    // Python keeps the empty match right after a non-empty one: ['', 'aaa', ''].
    let star = PyRegex::new("a*").unwrap();
    assert_eq!(star.findall("baaa"), vec![Found::Text("".into()), Found::Text("aaa".into()), Found::Text("".into())]);
    assert_eq!(star.remove("baaab"), "bb");
    // `\Z` is Python's end of text.
    assert_eq!(PyRegex::new(r"\d\Z").unwrap().findall("1 2"), vec![Found::Text("2".into())]);
}

#[test]
fn numbers_first_and_last() {
    let first = || FilterStep::FirstNumber { fallback: "F".into() };
    let last = || FilterStep::LastNumber { fallback: "F".into() };
    let r = "I paid $1,234.50 for -3 items, i.e. 7.";
    assert_eq!(apply(vec![first()], r), "1234.50");
    assert_eq!(apply(vec![last()], r), "7");
    assert_eq!(apply(vec![first()], "loss of -$5 today"), "-5");
    assert_eq!(apply(vec![last()], "pages 3-5"), "5");
    assert_eq!(apply(vec![first()], "no digits"), "F");
    let default: FilterStep = serde_json::from_value(json!({"function": "last_number"})).unwrap();
    assert_eq!(apply(vec![default], ""), "[invalid]");
}

#[test]
fn text_steps() {
    assert_eq!(apply(vec![FilterStep::Lowercase], " AbΣ "), " abς ");
    assert_eq!(apply(vec![FilterStep::Uppercase], "straße"), "STRASSE");
    assert_eq!(apply(vec![FilterStep::Strip], "\u{1c} a b \n"), "a b");
    // lm-eval 0.4.13's remove_whitespace strips both ends.
    assert_eq!(apply(vec![FilterStep::RemoveWhitespace], "\t a b \n"), "a b");
    assert_eq!(apply(vec![FilterStep::TakeFirst], " same "), " same ");
    // Steps run in order.
    assert_eq!(apply(vec![FilterStep::Uppercase, regex(r"ANSWER: (\w)", 0, "F"), FilterStep::Lowercase], "answer: c"), "c");
}

#[test]
fn bad_regex_is_a_filter_list_error() {
    let s = spec(
        OutputType::GenerateUntil,
        ChoiceScoring::Loglikelihood,
        vec![pipeline("flan", vec![regex(r"(?<=The answer is )(.*)", 0, "F")])],
        plain(&[MetricName::ExactMatch]),
    );
    let e = filter::check(&s).unwrap_err();
    assert_eq!(e.key, "filter_list");
    assert!(e.message.contains("(?<=The answer is )(.*)") && e.message.contains("look-around"), "{}", e.message);
    assert!(!e.message.contains('\n'));
    // score checks too, before anything is scored.
    assert_eq!(score(&s, &[], &[]).unwrap_err().key, "filter_list");
}

#[test]
fn filter_check_rules() {
    let gen = |filters| spec(OutputType::GenerateUntil, ChoiceScoring::Loglikelihood, filters, plain(&[MetricName::ExactMatch]));
    assert!(filter::check(&gen(vec![pipeline("a", vec![FilterStep::Strip]), pipeline("b", vec![])])).is_ok());
    let dup = filter::check(&gen(vec![pipeline("a", vec![]), pipeline("a", vec![])])).unwrap_err();
    assert!(dup.message.contains("two filters are named `a`"));
    assert_eq!(filter::check(&gen(vec![pipeline("a,b", vec![])])).unwrap_err().key, "filter_list");
    let mc = |filters| spec(OutputType::MultipleChoice, ChoiceScoring::Loglikelihood, filters, plain(&[MetricName::Acc]));
    assert!(filter::check(&mc(vec![pipeline("none", vec![FilterStep::TakeFirst])])).is_ok());
    assert_eq!(filter::check(&mc(vec![pipeline("x", vec![FilterStep::Strip])])).unwrap_err().key, "filter_list");
}

// ---- metrics ----

fn em(options: Value) -> TextMetric {
    let mut m = options.as_object().unwrap().clone();
    m.insert("metric".into(), json!("exact_match"));
    TextMetric::compile(&serde_json::from_value(Value::Object(m)).unwrap()).unwrap()
}

fn hit(m: &TextMetric, pred: &str, refs: &[&str]) -> bool {
    m.matches(pred, &refs.iter().map(|r| r.to_string()).collect::<Vec<_>>()).unwrap()
}

#[test]
fn exact_match_options() {
    let bare = em(json!({}));
    assert!(hit(&bare, "Paris", &["Paris"]));
    assert!(!hit(&bare, "paris", &["Paris"]));
    assert!(!hit(&bare, "Paris ", &["Paris"]));
    assert!(hit(&em(json!({"ignore_case": true})), "PARIS", &["paris"]));
    assert!(hit(&em(json!({"ignore_punctuation": true})), "a.b,c!", &["abc"]));
    assert!(!hit(&em(json!({"ignore_punctuation": true})), "a–b", &["ab"]));
    assert!(hit(&em(json!({"ignore_numbers": true})), "room 101", &["room "]));
    assert!(!hit(&em(json!({"ignore_numbers": true})), "room \u{663}", &["room "]));
    let gsm = em(json!({"ignore_case": true, "regexes_to_ignore": [",", "\\$", "(?s).*#### ", "\\.$"]}));
    assert!(hit(&gsm, "$1,000.", &["So it is 1000.\n#### 1000"]));
    assert!(!hit(&gsm, "999", &["#### 1000"]));
    // Any reference matching is a match.
    assert!(hit(&bare, "b", &["a", "b"]));
    assert!(!hit(&bare, "c", &["a", "b"]));
}

#[test]
fn numeric_match_parses_decimals_exactly() {
    assert!(numeric_match("1,000", "1000"));
    assert!(numeric_match("$1000.", "1000.00"));
    assert!(numeric_match(" -0.50 ", "-.5"));
    assert!(numeric_match("-0", "0"));
    assert!(!numeric_match("1000", "100"));
    assert!(!numeric_match("12 apples", "12"));
    assert!(!numeric_match("[invalid]", "[invalid]"));
    assert!(!numeric_match("1e3", "1000"));
    assert!(!numeric_match("inf", "inf"));
    // Exact decimals: two numbers f64 cannot tell apart are still different.
    assert!(!numeric_match("9007199254740993", "9007199254740992"));
    assert_eq!(parse_number("5.."), None);
    assert_eq!(parse_number("-"), None);
    assert_eq!(parse_number("007.100").map(|d| (d.int, d.frac)), Some(("7".into(), "1".into())));
    let s = spec(OutputType::GenerateUntil, ChoiceScoring::Loglikelihood, vec![], plain(&[MetricName::NumericMatch]));
    let scored = score(&s, &[gen_item(0, &["1,000"])], &[vec![text("1000.")]]).unwrap();
    assert_eq!(scored.items[0]["numeric_match"], json!(1));
}

#[test]
fn argmax_is_numpys() {
    assert_eq!(argmax(&[-1.0, -1.0, -3.0]), Some(0));
    assert_eq!(argmax(&[-3.0, -1.0, -1.0]), Some(1));
    assert_eq!(argmax(&[-1.0, f64::NAN, f64::NAN]), Some(1));
    assert_eq!(argmax(&[f64::NEG_INFINITY, f64::NEG_INFINITY]), Some(0));
    assert_eq!(argmax(&[]), None);
    // acc_norm divides by the choice's length in characters (code points), not bytes.
    let choices = vec!["é".to_string(), "ab".to_string()];
    assert_eq!(choice_predictions(&[-1.0, -1.9], &choices), Some((0, 1)));
    assert_eq!(choice_predictions(&[-1.0], &choices), None);
}

#[test]
fn metric_check_rules() {
    let check = |out, scoring, names: &[MetricName]| metric::check(&spec(out, scoring, vec![], plain(names)));
    use ChoiceScoring::{Letter, Loglikelihood as LL};
    use MetricName::*;
    assert!(check(OutputType::MultipleChoice, LL, &[Acc, AccNorm]).is_ok());
    assert!(check(OutputType::MultipleChoice, Letter, &[Acc]).is_ok());
    assert!(check(OutputType::GenerateUntil, LL, &[ExactMatch, NumericMatch]).is_ok());
    assert!(check(OutputType::Loglikelihood, LL, &[Acc]).is_ok());
    for (out, scoring, names) in [
        (OutputType::GenerateUntil, LL, vec![AccNorm]),
        (OutputType::MultipleChoice, LL, vec![ExactMatch]),
        (OutputType::MultipleChoice, Letter, vec![AccNorm]),
        (OutputType::Loglikelihood, LL, vec![ExactMatch]),
        (OutputType::MultipleChoice, LL, vec![Acc, Acc]),
        (OutputType::MultipleChoice, LL, vec![]),
    ] {
        let e = check(out, scoring, &names).unwrap_err();
        assert_eq!(e.key, "metric_list", "{names:?}");
    }
    let e = check(OutputType::GenerateUntil, LL, &[AccNorm]).unwrap_err();
    assert!(e.message.contains("`acc_norm` does not apply to generate_until"), "{}", e.message);
    let mut with_option = spec(OutputType::MultipleChoice, LL, vec![], plain(&[Acc]));
    with_option.metrics[0].ignore_case = true;
    assert_eq!(metric::check(&with_option).unwrap_err().key, "metric_list");
    let mut bad = spec(OutputType::GenerateUntil, LL, vec![], plain(&[ExactMatch]));
    bad.metrics[0].regexes_to_ignore = vec!["(?=x)".into()];
    let e = metric::check(&bad).unwrap_err();
    assert!(e.key == "metric_list" && e.message.contains("(?=x)"), "{e}");
}

// ---- scoring ----

#[test]
fn multiple_choice_items_and_metrics() {
    let s = spec(OutputType::MultipleChoice, ChoiceScoring::Loglikelihood, vec![], plain(&[MetricName::Acc, MetricName::AccNorm]));
    let items = vec![mc_item(0, &[" a", " bbbb"], vec![1]), mc_item(1, &[" a", " b"], vec![0, 1]), mc_item(2, &[" a", " b"], vec![1])];
    let responses =
        vec![vec![ll(-2.0, true), ll(-3.0, false)], vec![ll(-1.0, false), ll(-1.0, true)], vec![ll(-1.0, true), ll(-2.0, false)]];
    let scored = score(&s, &items, &responses).unwrap();
    let first = &scored.items[0];
    assert_eq!(keys(first), ["doc_id", "id", "choices", "loglik", "greedy", "pred", "pred_norm", "gold", "acc", "acc_norm"]);
    assert_eq!(
        *first,
        json!({"doc_id": 0, "id": "r0", "choices": [" a", " bbbb"], "loglik": [-2.0, -3.0], "greedy": [true, false],
               "pred": 0, "pred_norm": 1, "gold": 1, "acc": 0, "acc_norm": 1})
    );
    assert_eq!(scored.items[1]["gold"], json!([0, 1]));
    assert_eq!(scored.items[1]["acc"], json!(1));
    let m = &scored.metrics;
    assert_eq!(keys(&Value::Object(m.clone())), ["acc", "acc_stderr", "acc_norm", "acc_norm_stderr", "n"]);
    // acc = [0, 1, 0]: mean 1/3; sample variance (2 * 1/9 + 4/9) / 2 = 1/3; stderr sqrt(1/9) = 1/3.
    assert!((m["acc"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-15);
    assert!((m["acc_stderr"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-15);
    assert_eq!(m["n"], json!(3));
}

#[test]
fn stderr_by_hand_and_small_n() {
    let s = spec(OutputType::Loglikelihood, ChoiceScoring::Loglikelihood, vec![], plain(&[MetricName::Acc]));
    let item =
        |i| ItemRequests { doc_id: i, id: i.to_string(), requests: vec![loglik_req("x")], choices: vec![], gold: Gold::Text(vec![]) };
    let run = |greedy: &[bool]| {
        let items: Vec<_> = (0..greedy.len()).map(item).collect();
        let responses: Vec<_> = greedy.iter().map(|g| vec![ll(-0.5, *g)]).collect();
        score(&s, &items, &responses).unwrap()
    };
    // [1,0,0,1,1]: mean 0.6; sample variance (3 * 0.16 + 2 * 0.36) / 4 = 0.3; stderr sqrt(0.3 / 5).
    let m = run(&[true, false, false, true, true]).metrics;
    assert!((m["acc"].as_f64().unwrap() - 0.6).abs() < 1e-15);
    assert!((m["acc_stderr"].as_f64().unwrap() - 0.06f64.sqrt()).abs() < 1e-15);
    let one = run(&[true]);
    assert_eq!(keys(&one.items[0]), ["doc_id", "id", "loglik", "greedy", "acc"]);
    assert_eq!((one.metrics["acc"].clone(), one.metrics["acc_stderr"].clone()), (json!(1.0), Value::Null));
    let none = run(&[]).metrics;
    assert_eq!((none["acc"].clone(), none["acc_stderr"].clone(), none["n"].clone()), (Value::Null, Value::Null, json!(0)));
}

#[test]
fn letters_are_extracted() {
    for (response, want) in [
        ("B", Some(1)),
        ("(B)", Some(1)),
        ("B.", Some(1)),
        ("The answer is B", Some(1)),
        ("B) Paris", Some(1)),
        (" c ", Some(2)),
        ("(d).", Some(3)),
        ("A good answer is C", Some(2)),
        ("I think D", Some(3)),
        ("A", Some(0)),
        ("Sure, CORRECT", None),
        ("E", None),
        ("the answer is b", None),
        ("", None),
    ] {
        assert_eq!(extract_letter(response, 4), want, "{response:?}");
    }
    assert_eq!(extract_letter("E", 5), Some(4));
    assert_eq!(extract_letter("A", 0), None);
}

#[test]
fn letter_scoring_items() {
    let s = spec(OutputType::MultipleChoice, ChoiceScoring::Letter, vec![], plain(&[MetricName::Acc]));
    let items = vec![letter_item(0, 4, 1), letter_item(1, 4, 2), letter_item(2, 4, 0)];
    let responses = vec![vec![text("The answer is B.")], vec![text("D")], vec![text("no idea")]];
    let scored = score(&s, &items, &responses).unwrap();
    assert_eq!(keys(&scored.items[0]), ["doc_id", "id", "choices", "response", "extracted", "pred", "gold", "acc"]);
    assert_eq!(
        (scored.items[0]["extracted"].clone(), scored.items[0]["pred"].clone(), scored.items[0]["acc"].clone()),
        (json!("B"), json!(1), json!(1))
    );
    assert_eq!(scored.items[1]["acc"], json!(0));
    assert_eq!((scored.items[2]["extracted"].clone(), scored.items[2]["pred"].clone()), (Value::Null, Value::Null));
    assert!((scored.metrics["acc"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-15);
}

#[test]
fn generate_until_with_several_pipelines() {
    let strict = pipeline("strict-match", vec![regex(r"#### (\-?[0-9\.\,]+)", 0, "[invalid]"), FilterStep::TakeFirst]);
    let flex = pipeline("flexible-extract", vec![regex(r"(-?[$0-9.,]{2,})|(-?[0-9]+)", -1, "[invalid]"), FilterStep::TakeFirst]);
    let mut em = Metric::plain(MetricName::ExactMatch);
    em.regexes_to_ignore = vec![",".into(), "\\$".into(), "(?s).*#### ".into(), "\\.$".into()];
    let s = spec(OutputType::GenerateUntil, ChoiceScoring::Loglikelihood, vec![strict, flex], vec![em]);
    let items = vec![gen_item(0, &["Because.\n#### 18"]), gen_item(1, &["#### 7"])];
    let responses = vec![vec![text("6+12 = 18.\n#### 18")], vec![text("It is 7.")]];
    let scored = score(&s, &items, &responses).unwrap();
    let a = &scored.items[0];
    assert_eq!(
        keys(a),
        [
            "doc_id",
            "id",
            "response",
            "filtered",
            "extracted",
            "target",
            "exact_match",
            "exact_match,strict-match",
            "exact_match,flexible-extract"
        ]
    );
    assert_eq!(a["filtered"], json!({"strict-match": "18", "flexible-extract": "18"}));
    assert_eq!(
        (a["extracted"].clone(), a["target"].clone(), a["exact_match"].clone()),
        (json!("18"), json!("Because.\n#### 18"), json!(1))
    );
    let b = &scored.items[1];
    // flexible-extract keeps the sentence's period; exact_match's `\\.$` removes it.
    assert_eq!(b["filtered"], json!({"strict-match": "[invalid]", "flexible-extract": "7."}));
    assert_eq!((b["exact_match,strict-match"].clone(), b["exact_match,flexible-extract"].clone()), (json!(0), json!(1)));
    let m = Value::Object(scored.metrics.clone());
    assert_eq!(
        keys(&m),
        [
            "exact_match",
            "exact_match_stderr",
            "exact_match,strict-match",
            "exact_match_stderr,strict-match",
            "exact_match,flexible-extract",
            "exact_match_stderr,flexible-extract",
            "n"
        ]
    );
    assert_eq!(
        (m["exact_match"].clone(), m["exact_match,strict-match"].clone(), m["exact_match,flexible-extract"].clone()),
        (json!(0.5), json!(0.5), json!(1.0))
    );
    assert_eq!(m["exact_match_stderr,flexible-extract"], json!(0.0));
    assert_eq!(m["exact_match_stderr,strict-match"], json!(0.5));
}

#[test]
fn generate_until_without_filters_uses_the_raw_response() {
    let s = spec(OutputType::GenerateUntil, ChoiceScoring::Loglikelihood, vec![], plain(&[MetricName::ExactMatch]));
    let scored = score(&s, &[gen_item(0, &["Paris", " Paris"])], &[vec![text(" Paris")]]).unwrap();
    let item = &scored.items[0];
    assert_eq!(item["filtered"], json!({"none": " Paris"}));
    assert_eq!((item["target"].clone(), item["exact_match"].clone()), (json!(["Paris", " Paris"]), json!(1)));
    assert_eq!(keys(&Value::Object(scored.metrics)), ["exact_match", "exact_match_stderr", "n"]);
}

#[test]
fn mismatched_responses_are_errors() {
    let s = spec(OutputType::MultipleChoice, ChoiceScoring::Loglikelihood, vec![], plain(&[MetricName::Acc]));
    let items = vec![mc_item(0, &["a", "b"], vec![0]), mc_item(7, &["a", "b"], vec![0])];
    let e = score(&s, &items, &[vec![ll(-1.0, true), ll(-2.0, false)]]).unwrap_err();
    assert_eq!((e.key.as_str(), e.doc), ("responses", None));
    assert!(e.message.contains("2 items but 1 lists"), "{e}");
    let e = score(&s, &items, &[vec![ll(-1.0, true), ll(-2.0, false)], vec![ll(-1.0, true)]]).unwrap_err();
    assert_eq!((e.key.as_str(), e.doc), ("responses", Some(7)));
    let e = score(&s, &items[..1], &[vec![ll(-1.0, true), text("b")]]).unwrap_err();
    assert_eq!(e.key, "responses");
    let g = spec(OutputType::GenerateUntil, ChoiceScoring::Loglikelihood, vec![], plain(&[MetricName::ExactMatch]));
    assert_eq!(score(&g, &[gen_item(0, &["x"])], &[vec![ll(-1.0, true)]]).unwrap_err().key, "responses");
}

#[test]
fn bad_gold_is_an_error_on_the_record() {
    let s = spec(OutputType::MultipleChoice, ChoiceScoring::Loglikelihood, vec![], plain(&[MetricName::Acc]));
    let e = score(&s, &[mc_item(3, &["a", "b"], vec![2])], &[vec![ll(-1.0, true), ll(-2.0, false)]]).unwrap_err();
    assert_eq!((e.key.as_str(), e.doc), ("doc_to_target", Some(3)));
    assert!(e.message.contains("gold choice 2 is outside the 2 choices"), "{e}");
    let g = spec(OutputType::GenerateUntil, ChoiceScoring::Loglikelihood, vec![], plain(&[MetricName::ExactMatch]));
    assert_eq!(score(&g, &[gen_item(0, &[])], &[vec![text("x")]]).unwrap_err().key, "doc_to_target");
}
