//! Open tasks through `analyze` and the report: a manifest of open tasks only, and open tasks
//! beside the study's results leaving the study's outputs as they were.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use syco_analysis::open_tasks::TaskResult;
use syco_analysis::{analyze, report, AnalysisOptions, ModelResults};

fn model(name: &str, tasks: &[(&str, Value, &str)]) -> ModelResults {
    ModelResults {
        name: name.into(),
        is_baseline: false,
        timestamp: String::new(),
        benchmarks: BTreeMap::new(),
        sycophancy: BTreeMap::new(),
        items: None,
        provenance: tasks.iter().map(|(t, _, _)| (t.to_string(), format!("eval/{name}/{t} abc123"))).collect(),
        open_tasks: tasks
            .iter()
            .map(|(t, metrics, correct)| {
                // One item per character: 1 right, 0 wrong, under the task's first metric.
                let metric = metrics.as_object().unwrap().keys().find(|k| *k != "task" && !k.contains("stderr")).unwrap().clone();
                let items: Vec<Value> = correct
                    .chars()
                    .enumerate()
                    .map(|(i, c)| json!({"doc_id": i, "id": format!("{t}-{i}"), metric.clone(): (c == '1') as u8}))
                    .collect();
                (t.to_string(), TaskResult::from_json(metrics, &items).unwrap())
            })
            .collect(),
        probes: BTreeMap::new(),
    }
}

/// The base model and an adapter on a multiple-choice and a generate task (40 items each).
fn open_only() -> Vec<ModelResults> {
    let base = model(
        "base",
        &[
            (
                "capitals",
                json!({"task": "capitals", "acc": 0.5, "acc_stderr": 0.0801, "acc_norm": 0.45, "acc_norm_stderr": 0.0797, "n": 40}),
                &"1".repeat(20).chars().chain("0".repeat(20).chars()).collect::<String>(),
            ),
            (
                "capitals_gen",
                json!({"task": "capitals_gen", "exact_match": 0.25, "exact_match_stderr": 0.0693, "n": 40}),
                &"1".repeat(10).chars().chain("0".repeat(30).chars()).collect::<String>(),
            ),
        ],
    );
    let adapter = model(
        "capitals",
        &[
            // Loses items 0..2, gains 20..32: 30 of 40 right.
            (
                "capitals",
                json!({"task": "capitals", "acc": 0.75, "acc_stderr": 0.0693, "acc_norm": 0.7, "acc_norm_stderr": 0.0734, "n": 40}),
                &"00".chars().chain("1".repeat(30).chars()).chain("0".repeat(8).chars()).collect::<String>(),
            ),
            (
                "capitals_gen",
                json!({"task": "capitals_gen", "exact_match": null, "exact_match_stderr": null, "n": 40}),
                &"1".repeat(12).chars().chain("0".repeat(28).chars()).collect::<String>(),
            ),
        ],
    );
    vec![base, adapter]
}

fn opts(figures: bool) -> AnalysisOptions {
    AnalysisOptions { baseline: "base".into(), figures, ..AnalysisOptions::default() }
}

fn have_fonts() -> bool {
    let font = Path::new(syco_analysis::figures::FONT_DIR).join("DejaVuSans.ttf");
    let ok = font.is_file();
    if !ok {
        syco_testkit::skip(&format!("needs the DejaVu fonts ({} is absent; Debian package fonts-dejavu-core)", font.display()));
    }
    ok
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn open_tasks_only_give_tasks_csv_summary_figure_and_report() {
    if !have_fonts() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let results = open_only();
    let summary = analyze(&results, &opts(true), out.path()).unwrap();

    // The study's CSVs and figures need its benchmarks or sycophancy tasks: none here.
    assert_eq!(files(out.path()), ["figures", "summary.json", "tasks.csv"]);
    assert_eq!(files(&out.path().join("figures")), ["tasks.png", "tasks.svg"]);
    let png = std::fs::read(out.path().join("figures/tasks.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);

    let csv = std::fs::read_to_string(out.path().join("tasks.csv")).unwrap();
    assert_eq!(
        csv,
        "model,task,metric,value,stderr,n\n\
         base,capitals,acc,0.5,0.0801,40\nbase,capitals,acc_norm,0.45,0.0797,40\nbase,capitals_gen,exact_match,0.25,0.0693,40\n\
         capitals,capitals,acc,0.75,0.0693,40\ncapitals,capitals,acc_norm,0.7,0.0734,40\ncapitals,capitals_gen,exact_match,,,40\n"
    );

    let json: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap()).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["meta", "tasks"], "no study numbers without the study: {json}");
    let d = &json["tasks"]["capitals"]["capitals"]["delta_vs_baseline"]["acc"];
    assert!((d["delta"].as_f64().unwrap() - 0.25).abs() < 1e-12);
    assert_eq!((d["lost"].as_f64(), d["gained"].as_f64(), d["n_paired"].as_f64()), (Some(2.0), Some(12.0), Some(40.0)));
    // Exact two-sided McNemar: 2 * P(X <= 2), X ~ Bin(14, 1/2) = 2 * 106 / 16384.
    assert!((d["p_value"].as_f64().unwrap() - 212.0 / 16384.0).abs() < 1e-12, "{d}");
    // acc_norm has no per-item values: a change, no test.
    assert_eq!(json["tasks"]["capitals"]["capitals"]["delta_vs_baseline"]["acc_norm"]["p_value"], Value::Null);
    assert_eq!(json["tasks"]["capitals_gen"]["capitals"]["exact_match"], Value::Null);
    assert_eq!(summary.get("tasks.capitals.base.acc_stderr"), Some(0.0801));

    let outcomes = vec![];
    let input = report::ReportInput {
        title: "syco: new-benchmark".into(),
        results: &results,
        summary: &summary,
        outcomes: &outcomes,
        figures_dir: Some(out.path().join("figures")),
        records: BTreeMap::new(),
        training: vec![],
    };
    let (md, html) = report::write(&input, out.path()).unwrap();
    let (md, html) = (std::fs::read_to_string(md).unwrap(), std::fs::read_to_string(html).unwrap());
    for text in [&md, &html] {
        assert!(!text.contains("Benchmark accuracy") && !text.contains("Sycophancy rate") && !text.contains("Ranking"), "{text}");
        assert!(text.contains("tasks.capitals.base.acc"), "the intro's example path exists");
        assert!(text.contains("eval/capitals/capitals_gen abc123"), "provenance");
    }
    assert!(md.contains("## Tasks\n"));
    assert!(md.contains(
        "### capitals\n\n| model | n | acc | Δ acc | McNemar p (acc) | acc_norm | Δ acc_norm | McNemar p (acc_norm) |\n|---|---|---|---|---|---|---|---|\n\
         | base | 40 | 0.5000 ± 0.0801 |  |  | 0.4500 ± 0.0797 |  |  |\n\
         | capitals | 40 | 0.7500 ± 0.0693 | +0.2500 | 0.013 (+12 −2) | 0.7000 ± 0.0734 | +0.2500 | n/a |\n"
    ), "{md}");
    // A null value has no change; its items still pair (items 10 and 11 gained).
    assert!(md.contains("| capitals | 40 | n/a | n/a | 0.500 (+2 −0) |"), "a null metric: {md}");
    assert!(md.contains("![tasks](figures/tasks.png)"));
    assert!(!md.contains("## Figures"), "the only figure is in the Tasks section");
    assert_eq!(html.matches("<svg").count(), 1);
    if let Some(d) = std::env::var_os("SYCO_REPORT_DIR") {
        std::fs::write(Path::new(&d).join("tasks_report.html"), &html).unwrap();
        std::fs::write(Path::new(&d).join("tasks_report.md"), &md).unwrap();
        std::fs::copy(out.path().join("figures/tasks.png"), Path::new(&d).join("tasks.png")).unwrap();
    }
}

#[test]
fn open_tasks_leave_the_study_outputs_unchanged() {
    let Some(data) = syco_testkit::shared("seed/data") else { return };
    let study = syco_analysis::import::read_study_dir(&data.join("04_results")).unwrap();
    let plain = tempfile::tempdir().unwrap();
    let with = tempfile::tempdir().unwrap();
    let no_figures = AnalysisOptions { figures: false, ..AnalysisOptions::default() };
    analyze(&study, &no_figures, plain.path()).unwrap();
    // The same study with an open task on the baseline and one adapter.
    let mut both = study.clone();
    let task = |acc: f64| model("x", &[("capitals", json!({"acc": acc, "acc_stderr": 0.1, "n": 4}), "1010")]).open_tasks;
    both[0].open_tasks = task(0.5);
    both[1].open_tasks = task(0.75);
    analyze(&both, &no_figures, with.path()).unwrap();

    assert_eq!(files(plain.path()), ["complete_results.csv", "correlation_analysis.csv", "performance_changes.csv", "summary.json"]);
    assert_eq!(
        files(with.path()),
        ["complete_results.csv", "correlation_analysis.csv", "performance_changes.csv", "summary.json", "tasks.csv"]
    );
    for f in ["complete_results.csv", "correlation_analysis.csv", "performance_changes.csv"] {
        assert_eq!(std::fs::read(plain.path().join(f)).unwrap(), std::fs::read(with.path().join(f)).unwrap(), "{f}");
    }
    let read = |p: &Path| -> Value { serde_json::from_slice(&std::fs::read(p.join("summary.json")).unwrap()).unwrap() };
    let (plain_json, mut with_json) = (read(plain.path()), read(with.path()));
    assert!(plain_json.get("tasks").is_none(), "no open tasks, no `tasks` key");
    let tasks = with_json.as_object_mut().unwrap().remove("tasks").expect("a `tasks` key");
    assert_eq!(with_json, plain_json, "open tasks change none of the study's numbers");
    assert_eq!(tasks["capitals"]["gsm8k"]["delta_vs_baseline"]["acc"]["delta"], json!(0.25));
    // The study's results files keep their shape: no `open_tasks` key when there are none.
    assert!(!serde_json::to_string(&study[0]).unwrap().contains("open_tasks"));
}
