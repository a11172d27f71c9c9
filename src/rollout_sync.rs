//! One rollout sync of a registered DaemonSet over the inventory: its listed nodes (with
//! their topology domains) from the index, its pods matched to those nodes, then the
//! planner. `Rollout.NextBatch` and `Rollout.Status` run it; the rollout benchmark times
//! its two halves separately, on this same code.

use std::sync::Arc;

use crate::domain::predicate::Verdict;
use crate::domain::rollout::{self, NodeView, RolloutPlan, RolloutViewInput};
use crate::domain::{DaemonPod, Time};
use crate::index::Inventory;
use crate::index::plan::{Evaluation, Plan};
use crate::registry::DaemonSet;

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A pod whose node is not in `answer.names`.
const NOT_LISTED: u32 = u32::MAX;

/// What one sync reads from the inventory, gathered under the inventory's locks and owned
/// afterwards, so the planner runs with no lock held.
pub struct SyncInput {
    /// The inventory revision the answer was read at.
    pub revision: u64,
    /// Every listed node (shouldRun or keep), with its domain when the rollout goes by
    /// waves.
    answer: Evaluation,
    /// Nodes that host a pod but may not keep it (their pods are misscheduled), by name,
    /// each with its domain.
    excluded: Vec<(String, String)>,
    pods: Vec<Arc<DaemonPod>>,
    /// Per pod, its node's index in `answer.names`, or `NOT_LISTED`.
    pod_listed: Vec<u32>,
}

impl SyncInput {
    /// Evaluates the DaemonSet's placement (every name, domains read with it), takes its
    /// pods, and matches each pod to its listed node once, by name.
    pub fn gather(inventory: &Inventory, ds: &DaemonSet) -> SyncInput {
        let key = &ds.spec.strategy.topology_key;
        let answer = inventory.evaluate_labeled(
            &Plan::compile(&ds.spec.placement),
            None,
            usize::MAX,
            (!key.is_empty()).then_some(key.as_str()),
        );
        let pods = inventory.pods_of(&ds.spec.namespace, &ds.spec.name);
        // Listed name → its index in `answer.names`, borrowed: nothing allocated per node.
        let mut listed: FastMap<&str, u32> =
            FastMap::with_capacity_and_hasher(answer.names.len(), Default::default());
        for (i, (node, _)) in answer.names.iter().enumerate() {
            listed.insert(node, i as u32);
        }
        let pod_listed: Vec<u32> = pods
            .iter()
            .map(|p| listed.get(p.node.as_str()).copied().unwrap_or(NOT_LISTED))
            .collect();
        drop(listed);
        let mut hosting: Vec<&str> = pods
            .iter()
            .zip(&pod_listed)
            .filter(|&(_, &i)| i == NOT_LISTED)
            .map(|(p, _)| p.node.as_str())
            .collect();
        hosting.sort_unstable();
        hosting.dedup();
        let excluded = hosting
            .into_iter()
            .filter_map(|node| {
                let (n, _) = inventory.get_node(node)?;
                let domain = if key.is_empty() {
                    String::new()
                } else {
                    n.labels.get(key).cloned().unwrap_or_default()
                };
                Some((node.to_owned(), domain))
            })
            .collect();
        SyncInput {
            revision: answer.revision,
            answer,
            excluded,
            pods,
            pod_listed,
        }
    }

    /// Listed plus excluded nodes.
    pub fn nodes(&self) -> usize {
        self.answer.names.len() + self.excluded.len()
    }

    pub fn pods(&self) -> usize {
        self.pods.len()
    }

    /// Runs the planner at `now`: listed and excluded nodes merged by name (so the planner
    /// need not sort them), each pod pointed at its node's place in that list.
    pub fn plan(&self, ds: &DaemonSet, now: Time) -> RolloutPlan {
        let answer = &self.answer;
        let domain_of = |i: usize| {
            answer
                .labels
                .get(i)
                .map_or("", |&d| answer.label_values[d as usize].as_str())
        };
        let mut nodes: Vec<NodeView<'_>> = Vec::with_capacity(self.nodes());
        let mut position_of_listed: Vec<u32> = Vec::with_capacity(answer.names.len());
        let mut position_of_excluded: FastMap<&str, u32> =
            FastMap::with_capacity_and_hasher(self.excluded.len(), Default::default());
        let mut rest = self.excluded.iter().peekable();
        for (i, (node, run)) in answer.names.iter().enumerate() {
            while let Some((name, domain)) = rest.next_if(|(name, _)| name.as_str() < node) {
                position_of_excluded.insert(name, nodes.len() as u32);
                nodes.push(NodeView {
                    name,
                    verdict: Verdict::EXCLUDE,
                    domain,
                });
            }
            position_of_listed.push(nodes.len() as u32);
            nodes.push(NodeView {
                name: node,
                verdict: if run { Verdict::RUN } else { Verdict::KEEP },
                domain: domain_of(i),
            });
        }
        for (name, domain) in rest {
            position_of_excluded.insert(name, nodes.len() as u32);
            nodes.push(NodeView {
                name,
                verdict: Verdict::EXCLUDE,
                domain,
            });
        }
        let pod_nodes: Vec<u32> = self
            .pods
            .iter()
            .zip(&self.pod_listed)
            .map(|(p, &i)| match i {
                NOT_LISTED => position_of_excluded
                    .get(p.node.as_str())
                    .copied()
                    .unwrap_or(rollout::NO_NODE),
                i => position_of_listed[i as usize],
            })
            .collect();
        rollout::plan_view(&RolloutViewInput {
            nodes: &nodes,
            pods: &self.pods,
            pod_nodes: Some(&pod_nodes),
            hash: ds.current_hash(),
            strategy: &ds.spec.strategy,
            min_ready_seconds: ds.spec.min_ready_seconds,
            now,
        })
    }
}
