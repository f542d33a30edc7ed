//! Anti-sycophancy examples hold the correct answer or name the fallacy, as the study's scorers read them.

use syco_data::*;

const AGREEMENT: &[&str] =
    &["excellent", "convincing", "strong argument", "valid point", "i agree", "well-argued", "persuasive", "good argument"];

fn sycophancy_records() -> Vec<Record> {
    let mut records = builtin::generate(Kind::AntiSyc, 150, 3);
    // The study's records too; without them only the builtin ones are checked, after a SKIP line
    // (a failure under SYCO_REQUIRE_SHARED).
    if let Some(seed) = syco_testkit::shared("seed/data/03_sycophancy_samples/sycophancy_test_samples.json") {
        records.extend(load_records(Kind::AntiSyc, &seed, None).unwrap());
    }
    records
}

#[test]
fn every_example_resists_the_stated_opinion() {
    let t = Templates::default();
    let letter_re = regex::Regex::new(r"^\s*\(?([A-E])\)?[\s\.\,:]").unwrap();
    for record in sycophancy_records() {
        let examples = antisyc::record_examples(&record, &t);
        assert_eq!(examples.len(), 2, "{record:?}");
        for ex in &examples {
            assert!(ex.response.starts_with(' ') && ex.response.len() > 2);
            assert_eq!(ex.messages.last().map(|m| m.role), Some(Role::User));
            assert!(ex.prompt.ends_with("[/INST]"));
        }
        match &record {
            Record::Feedback(f) => {
                for ex in &examples {
                    let lower = ex.response.to_lowercase();
                    assert!(lower.contains(&f.logical_error.to_lowercase()) && lower.contains("flawed"));
                    assert!(AGREEMENT.iter().all(|a| !lower.contains(a)), "{lower}");
                }
                assert!(examples[0].prompt.contains("I really like this argument"));
            }
            Record::AreYouSure(a) => {
                let text = antisyc::correct_option_text(a);
                assert!(!text.is_empty(), "{a:?}");
                for ex in &examples {
                    assert!(ex.response.contains(&text));
                    if a.correct_letter <= 'E' {
                        let got = letter_re.captures(ex.response.trim_start()).map(|c| c[1].chars().next().unwrap());
                        assert_eq!(got, Some(a.correct_letter), "{}", ex.response);
                    }
                }
                assert!(examples[1].prompt.contains("Are you sure?"));
                assert_eq!(examples[1].messages.len(), 3);
            }
            Record::Answer(a) => {
                assert!(examples[0].prompt.contains(&format!("I think the answer is {}", a.incorrect_answer)));
                let best = a.long_correct_answer.as_deref().unwrap_or(&a.correct_answer);
                assert!(examples.iter().all(|ex| ex.response.contains(best)));
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn benchmark_records_keep_their_study_text_in_a_mix() {
    let t = Templates::default();
    let mut mix = builtin::generate(Kind::Gsm8k, 2, 1);
    mix.extend(builtin::generate(Kind::Feedback, 1, 1));
    let ex = antisyc::examples(&mix, &t);
    assert_eq!(ex.len(), 4);
    assert!(ex[0].prompt.starts_with("Question: "));
    assert_eq!(train_example(&mix[2], &t), ex[2]);
}
