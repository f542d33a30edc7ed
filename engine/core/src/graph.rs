//! The stage DAG: stage ids -> nodes, edges from each input to the stage reading it, cycle
//! reports naming the stages, and selection of stages by id, prefix or suffix.

use std::collections::HashMap;

use anyhow::{bail, Result};
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::location::Location;
use crate::manifest::{Manifest, ManifestError};
use crate::stage::StageDef;
use crate::suggest::did_you_mean;

pub struct Graph {
    pub defs: Vec<StageDef>,
    dag: DiGraph<usize, ()>,
    by_id: HashMap<String, usize>,
    /// Stage indices in dependency order.
    order: Vec<usize>,
}

/// Where a stage was declared: its own origin, or for `[stages.NAME]` that table (located lazily).
pub fn origin_of(def: &StageDef, m: &Manifest) -> Option<Location> {
    def.origin.clone().or_else(|| def.id.strip_prefix("stages/").map(|name| m.locate(&["stages", name])))
}

impl Graph {
    pub fn build(defs: Vec<StageDef>, m: &Manifest) -> Result<Graph, ManifestError> {
        let mut dag = DiGraph::with_capacity(defs.len(), defs.len() * 2);
        let mut by_id = HashMap::with_capacity(defs.len());
        for (i, d) in defs.iter().enumerate() {
            dag.add_node(i);
            by_id.insert(d.id.clone(), i);
        }
        for (i, d) in defs.iter().enumerate() {
            for input in &d.inputs {
                let Some(&j) = by_id.get(&input.stage) else {
                    let ids: Vec<&str> = defs.iter().map(|d| d.id.as_str()).collect();
                    let hint = did_you_mean(&input.stage, &ids).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                    return Err(ManifestError::new(
                        origin_of(d, m),
                        None,
                        format!("stage `{}`: input `{}` names no stage{hint}", d.id, input.stage),
                    ));
                };
                dag.add_edge(NodeIndex::new(j), NodeIndex::new(i), ());
            }
        }
        let order = match toposort(&dag, None) {
            Ok(nodes) => nodes.into_iter().map(|n| dag[n]).collect(),
            Err(_) => return Err(cycle_error(&dag, &defs, m)),
        };
        Ok(Graph { defs, dag, by_id, order })
    }

    pub fn order(&self) -> &[usize] {
        &self.order
    }

    pub fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Stages whose outputs `i` reads.
    pub fn deps(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.dag.neighbors_directed(NodeIndex::new(i), Direction::Incoming).map(|n| self.dag[n])
    }

    /// Stages that read the outputs of `i`.
    pub fn dependents(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.dag.neighbors_directed(NodeIndex::new(i), Direction::Outgoing).map(|n| self.dag[n])
    }

    /// Stages matching one pattern: the exact id, every id under a prefix (`train` -> `train/*`),
    /// or the one id ending in `/pattern` (`NAME` -> `stages/NAME`).
    pub fn find(&self, pattern: &str) -> Result<Vec<usize>> {
        let pattern = pattern.trim_end_matches('/');
        if let Some(&i) = self.by_id.get(pattern) {
            return Ok(vec![i]);
        }
        let prefix = format!("{pattern}/");
        let under: Vec<usize> = self.order.iter().copied().filter(|&i| self.defs[i].id.starts_with(&prefix)).collect();
        if !under.is_empty() {
            return Ok(under);
        }
        let suffix = format!("/{pattern}");
        let ending: Vec<usize> = self.order.iter().copied().filter(|&i| self.defs[i].id.ends_with(&suffix)).collect();
        match ending.len() {
            1 => Ok(ending),
            0 => {
                let ids: Vec<&str> = self.defs.iter().map(|d| d.id.as_str()).collect();
                let hint = did_you_mean(pattern, &ids).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                bail!("no stage matches `{pattern}`{hint}")
            }
            _ => bail!(
                "`{pattern}` matches several stages: {}",
                ending.iter().map(|&i| self.defs[i].id.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The stages named by `patterns` (all when empty) and everything they need, in dependency order.
    pub fn select(&self, patterns: &[String]) -> Result<Vec<usize>> {
        if patterns.is_empty() {
            return Ok(self.order.clone());
        }
        let mut wanted = vec![false; self.defs.len()];
        let mut stack = Vec::new();
        for p in patterns {
            stack.extend(self.find(p)?);
        }
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut wanted[i], true) {
                stack.extend(self.deps(i));
            }
        }
        Ok(self.order.iter().copied().filter(|&i| wanted[i]).collect())
    }
}

fn cycle_error(dag: &DiGraph<usize, ()>, defs: &[StageDef], m: &Manifest) -> ManifestError {
    for scc in tarjan_scc(dag) {
        let is_cycle = scc.len() > 1 || dag.contains_edge(scc[0], scc[0]);
        if !is_cycle {
            continue;
        }
        // Walk the cycle inside the component so the message reads as a path a -> b -> a.
        let members: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
        let start = *scc.iter().min_by_key(|n| dag[**n]).expect("non-empty component");
        let mut path = vec![start];
        let mut cur = start;
        loop {
            let next = dag
                .neighbors_directed(cur, Direction::Outgoing)
                .filter(|n| members.contains(n))
                .min_by_key(|n| {
                    if *n == start {
                        0
                    } else if path.contains(n) {
                        usize::MAX
                    } else {
                        1 + dag[*n]
                    }
                })
                .expect("a node in a cycle has a successor in it");
            if next == start || path.contains(&next) || path.len() > members.len() {
                path.push(next);
                break;
            }
            path.push(next);
            cur = next;
        }
        let names: Vec<&str> = path.iter().map(|n| defs[dag[*n]].id.as_str()).collect();
        let first = &defs[dag[start]];
        return ManifestError::new(origin_of(first, m), None, format!("dependency cycle: {}", names.join(" -> ")));
    }
    ManifestError::new(None, None, "dependency cycle")
}
