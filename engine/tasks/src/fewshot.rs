//! Few-shot contexts as lm-eval builds them.
//!
//! Selection is lm-eval's default `ContextSampler`: one `random.Random(seed)` for the whole
//! split, drawn from doc after doc in order (so the examples of a record depend on the records
//! before it). When the examples come from the evaluated split it draws `n + 1` and drops the
//! record itself (every copy equal to it), keeping the first `n`; if copies left fewer than
//! `n`, it draws again from the pool without them.
//!
//! Layout is lm-eval's `fewshot_context` without a chat template: the description, then per
//! example `question + target_delimiter + answer + fewshot_delimiter`, then the question. The
//! chat form puts the description at the head of the first user turn.

use syco_data::{Message, PyRandom};

use crate::spec::Doc;

/// lm-eval's `ContextSampler` with its seeded generator.
#[derive(Debug)]
pub struct Sampler {
    rng: PyRandom,
}

impl Sampler {
    /// `Random(seed)` (lm-eval's `fewshot_config.random_seed`, 1234 by default).
    pub fn new(seed: u64) -> Self {
        Sampler { rng: PyRandom::new(seed) }
    }

    /// Positions in `pool` of the `n` examples for one record, in order. `exclude`: the
    /// evaluated record when the pool is its own split.
    pub fn sample(&mut self, pool: &[Doc], n: usize, exclude: Option<&Doc>) -> Result<Vec<usize>, String> {
        if n == 0 {
            return Ok(vec![]);
        }
        let Some(doc) = exclude else {
            return self.rng.sample_indices(pool.len(), n).ok_or_else(|| too_few(pool.len(), n, ""));
        };
        let drawn = self
            .rng
            .sample_indices(pool.len(), n + 1)
            .ok_or_else(|| too_few(pool.len(), n + 1, " (n + 1: the record itself is drawn and dropped)"))?;
        let kept: Vec<usize> = drawn.into_iter().filter(|&j| &pool[j] != doc).take(n).collect();
        if kept.len() == n {
            return Ok(kept);
        }
        let others: Vec<usize> = (0..pool.len()).filter(|&j| &pool[j] != doc).collect();
        let picks = self.rng.sample_indices(others.len(), n).ok_or_else(|| too_few(others.len(), n, " other than copies of the record"))?;
        Ok(picks.into_iter().map(|k| others[k]).collect())
    }
}

fn too_few(have: usize, want: usize, why: &str) -> String {
    format!("{want} few-shot examples{why} are needed, but the few-shot split has {have} records")
}

/// One example: its question, and its answer (`None` when lm-eval sees none: an empty target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub question: String,
    pub answer: Option<String>,
}

/// Delimiters of a context.
#[derive(Debug, Clone, Copy)]
pub struct Delimiters<'a> {
    /// Between a question and its answer.
    pub target: &'a str,
    /// After each answered example.
    pub fewshot: &'a str,
}

/// The plain-text context: `description`, the examples, the question.
pub fn plain_context(description: &str, examples: &[Example], question: &str, delims: Delimiters) -> String {
    let mut out = String::from(description);
    for example in examples {
        out.push_str(&example.question);
        // lm-eval: no answer, no delimiters (the next text follows the question directly).
        if let Some(answer) = &example.answer {
            out.push_str(delims.target);
            out.push_str(answer);
            out.push_str(delims.fewshot);
        }
    }
    out.push_str(question);
    out
}

/// The chat turns: one user/assistant pair per example then the question (`as_turns`), or the
/// whole plain context as one user turn (lm-eval's single-turn collapse).
pub fn chat_turns(description: &str, examples: &[Example], question: &str, delims: Delimiters, as_turns: bool) -> Vec<Message> {
    if !as_turns {
        return vec![Message::user(plain_context(description, examples, question, delims))];
    }
    let mut turns = Vec::with_capacity(2 * examples.len() + 1);
    let mut prefix = description.to_string();
    for example in examples {
        turns.push(Message::user(std::mem::take(&mut prefix) + &example.question));
        if let Some(answer) = &example.answer {
            turns.push(Message::assistant(answer.clone()));
        }
    }
    turns.push(Message::user(prefix + question));
    turns
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn docs(n: usize) -> Vec<Doc> {
        (0..n).map(|i| json!({"i": i}).as_object().unwrap().clone()).collect()
    }

    #[test]
    fn seeded_selection_is_cpythons() {
        // python3 -c "import random; r = random.Random(1234); pool = list(range(10));
        //   print([r.sample(pool, 3) for _ in range(3)])"
        // -> [[7, 1, 0], [1, 0, 9], [1, 5, 3]]
        let pool = docs(10);
        let mut s = Sampler::new(1234);
        let got: Vec<Vec<usize>> = (0..3).map(|_| s.sample(&pool, 3, None).unwrap()).collect();
        assert_eq!(got, vec![vec![7, 1, 0], vec![1, 0, 9], vec![1, 5, 3]]);
    }

    #[test]
    fn own_split_draws_one_more_and_drops_the_record() {
        // python3 -c "import random; r = random.Random(1234); pool = list(range(10));
        //   print([[x for x in r.sample(pool, 4) if x != d][:3] for d in range(3)])"
        // -> [[7, 1, 9], [9, 0, 8], [5, 3, 0]]
        let pool = docs(10);
        let mut s = Sampler::new(1234);
        let got: Vec<Vec<usize>> = (0..3).map(|d| s.sample(&pool, 3, Some(&pool[d])).unwrap()).collect();
        assert_eq!(got, vec![vec![7, 1, 9], vec![9, 0, 8], vec![5, 3, 0]]);
        // Same seed, same draws: determinism.
        let mut again = Sampler::new(1234);
        assert_eq!(again.sample(&pool, 3, Some(&pool[0])).unwrap(), vec![7, 1, 9]);
    }

    #[test]
    fn copies_of_the_record_are_all_dropped() {
        // Pool [a, a, a, b, c]: drawing 3 of 5 for n = 2 keeps fewer than 2 when two copies of
        // `a` come up, then lm-eval draws 2 from [b, c].
        let mut pool = vec![json!({"x": "a"}).as_object().unwrap().clone(); 3];
        pool.push(json!({"x": "b"}).as_object().unwrap().clone());
        pool.push(json!({"x": "c"}).as_object().unwrap().clone());
        let mut s = Sampler::new(1);
        for _ in 0..20 {
            let got = s.sample(&pool, 2, Some(&pool[0].clone())).unwrap();
            assert_eq!(got.len(), 2);
            assert!(got.iter().all(|&j| j >= 3), "{got:?}");
        }
    }

    #[test]
    fn too_few_records_is_an_error() {
        let pool = docs(3);
        assert!(Sampler::new(1234).sample(&pool, 3, Some(&pool[0])).unwrap_err().contains("4 few-shot examples"));
        assert!(Sampler::new(1234).sample(&pool, 4, None).is_err());
        assert_eq!(Sampler::new(1234).sample(&pool, 0, None).unwrap(), Vec::<usize>::new());
    }

    #[test]
    fn layouts() {
        let ex = |q: &str, a: Option<&str>| Example { question: q.into(), answer: a.map(str::to_string) };
        let examples = [ex("Q1", Some("A1")), ex("Q2", None), ex("Q3", Some("A3"))];
        let d = Delimiters { target: " ", fewshot: "\n\n" };
        assert_eq!(plain_context("Desc\n\n", &examples, "Q", d), "Desc\n\nQ1 A1\n\nQ2Q3 A3\n\nQ");
        assert_eq!(plain_context("", &[], "Q", d), "Q");
        assert_eq!(chat_turns("D ", &examples, "Q", d, false), vec![Message::user("D Q1 A1\n\nQ2Q3 A3\n\nQ")]);
        let turns = chat_turns("D ", &examples, "Q", d, true);
        let want = vec![
            Message::user("D Q1"),
            Message::assistant("A1"),
            Message::user("Q2"),
            Message::user("Q3"),
            Message::assistant("A3"),
            Message::user("Q"),
        ];
        assert_eq!(turns, want);
        assert_eq!(chat_turns("D ", &[], "Q", d, true), vec![Message::user("D Q")]);
    }
}
