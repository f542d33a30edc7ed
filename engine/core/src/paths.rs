//! Checks on paths written in manifests.

use std::path::{Component, Path};

/// Whether `rel` names a place under a folder: relative, without `..`.
pub fn is_inside(rel: &str) -> bool {
    !rel.is_empty() && Path::new(rel).components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

#[cfg(test)]
mod tests {
    use super::is_inside;

    #[test]
    fn only_relative_paths_without_parent_steps_are_inside() {
        for ok in ["a", "a/b", "./a", "a/./b"] {
            assert!(is_inside(ok), "{ok}");
        }
        for bad in ["", "/a", "../a", "a/../../b", "a/.."] {
            assert!(!is_inside(bad), "{bad}");
        }
    }
}
