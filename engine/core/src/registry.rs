//! Which stage kinds exist and which planners turn manifest sections into stages.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::command::{CommandKind, CommandPlanner};
use crate::manifest::{Manifest, ManifestError};
use crate::stage::{SectionPlanner, StageDef, StageKind};

pub struct Registry {
    kinds: HashMap<String, Arc<dyn StageKind>>,
    planners: Vec<Box<dyn SectionPlanner>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// The command stage kind and its planner for `[stages.*]`.
    pub fn new() -> Self {
        let mut r = Registry { kinds: HashMap::new(), planners: Vec::new() };
        r.register_kind(Arc::new(CommandKind));
        r.register_planner(Box::new(CommandPlanner));
        r
    }

    pub fn register_kind(&mut self, kind: Arc<dyn StageKind>) {
        self.kinds.insert(kind.name().to_string(), kind);
    }

    pub fn register_planner(&mut self, planner: Box<dyn SectionPlanner>) {
        self.planners.push(planner);
    }

    pub fn kind(&self, name: &str) -> Option<&Arc<dyn StageKind>> {
        self.kinds.get(name)
    }

    /// Every stage the manifest declares; rejects unknown top-level keys and duplicate ids.
    pub fn plan(&self, m: &Manifest) -> Result<Vec<StageDef>, ManifestError> {
        let owned: Vec<&str> = self.planners.iter().flat_map(|p| p.sections().iter().copied()).collect();
        m.check_sections(&owned)?;
        let mut defs = Vec::new();
        for p in &self.planners {
            p.plan(m, &mut defs)?;
        }
        let mut seen = HashSet::new();
        for d in &defs {
            if !seen.insert(d.id.as_str()) {
                return Err(ManifestError::new(d.origin.clone(), None, format!("two stages have the id `{}`", d.id)));
            }
            if !self.kinds.contains_key(&d.kind) {
                return Err(ManifestError::new(
                    d.origin.clone(),
                    None,
                    format!("stage `{}` has kind `{}`, which is not registered", d.id, d.kind),
                ));
            }
        }
        Ok(defs)
    }
}
