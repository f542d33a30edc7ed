//! "Did you mean …?" for every error that names an unknown word (keys, stage ids, inputs).

/// The closest known name, when one is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(word, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_only_close_names() {
        assert_eq!(did_you_mean("n_trian", &["n_test", "n_train", "steps"]), Some("n_train"));
        assert_eq!(did_you_mean("zzz", &["n_test", "n_train"]), None);
        assert_eq!(did_you_mean("x", &[]), None);
    }
}
