//! The unary scenarios: one request shape per RPC worth loading, the same ones the ghz
//! configs in `loadtest/ghz/` send, aimed at what [`crate::seed`] puts on the server.
//!
//! Requests vary with the request number where the RPC takes a node (GetNode, Explain,
//! DaemonSetsForNode), so a run touches the whole fleet instead of one hot record.

use std::sync::Arc;

use dsched::grpc::pb;
use dsched::grpc::pb::inventory_client::InventoryClient;
use dsched::grpc::pb::placement_client::PlacementClient;
use dsched::grpc::pb::rollout_client::RolloutClient;
use tonic::Status;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::MAX_MESSAGE_BYTES;
use crate::seed::{BROAD, NAMESPACE, ROLLOUT, SELECTIVE};

/// A unary scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Scenario {
    /// `grpc.health.v1.Health/Check`: the baseline every query is compared with.
    Health,
    /// `Placement/Evaluate` of the selective DaemonSet (~1 % of nodes), names returned.
    EvaluateSelective,
    /// `Placement/Evaluate` of the broad DaemonSet, first page of 500 names.
    EvaluateBroad,
    /// `Placement/Evaluate` of the broad DaemonSet, counts only.
    EvaluateCount,
    /// `Placement/Evaluate` of an inline placement (nodeSelector, affinity, tolerations).
    EvaluateInline,
    /// `Placement/Explain` of the selective DaemonSet on three nodes.
    Explain,
    /// `Placement/DaemonSetsForNode` by node name.
    DaemonsetsForNode,
    /// `Placement/DaemonSetsForNode` for an inline hypothetical node.
    DaemonsetsForHypothetical,
    /// `Rollout/NextBatch` of the rollout under way.
    NextBatch,
    /// `Inventory/GetNode`.
    GetNode,
    /// `Inventory/ListNodes` with a zone selector, pages of 100.
    ListNodes,
}

impl Scenario {
    pub const ALL: [Scenario; 11] = [
        Scenario::Health,
        Scenario::EvaluateSelective,
        Scenario::EvaluateBroad,
        Scenario::EvaluateCount,
        Scenario::EvaluateInline,
        Scenario::Explain,
        Scenario::DaemonsetsForNode,
        Scenario::DaemonsetsForHypothetical,
        Scenario::NextBatch,
        Scenario::GetNode,
        Scenario::ListNodes,
    ];

    /// The full method name, as ghz's `call` spells it.
    pub fn method(self) -> &'static str {
        match self {
            Scenario::Health => "grpc.health.v1.Health.Check",
            Scenario::EvaluateSelective
            | Scenario::EvaluateBroad
            | Scenario::EvaluateCount
            | Scenario::EvaluateInline => "dsched.v1.Placement.Evaluate",
            Scenario::Explain => "dsched.v1.Placement.Explain",
            Scenario::DaemonsetsForNode | Scenario::DaemonsetsForHypothetical => {
                "dsched.v1.Placement.DaemonSetsForNode"
            }
            Scenario::NextBatch => "dsched.v1.Rollout.NextBatch",
            Scenario::GetNode => "dsched.v1.Inventory.GetNode",
            Scenario::ListNodes => "dsched.v1.Inventory.ListNodes",
        }
    }

    /// The kebab-case name used on the command line and in reports.
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

fn daemonset(name: &str) -> pb::DaemonSetRef {
    pb::DaemonSetRef {
        namespace: NAMESPACE.to_owned(),
        name: name.to_owned(),
    }
}

/// The inline placement of [`Scenario::EvaluateInline`]: what a pod spec of a node agent
/// carries (Linux nodes of a few instance families, GPU taint tolerated).
pub fn inline_placement() -> pb::PodPlacement {
    pb::PodPlacement {
        node_selector: [("kubernetes.io/os".to_owned(), "linux".to_owned())].into(),
        affinity: Some(pb::Affinity {
            node_affinity: Some(pb::NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(pb::NodeSelector {
                    node_selector_terms: vec![pb::NodeSelectorTerm {
                        match_expressions: vec![
                            pb::NodeSelectorRequirement {
                                key: "karpenter.k8s.aws/instance-family".to_owned(),
                                operator: "In".to_owned(),
                                values: ["c6i", "m6i", "r6i", "g5"].map(str::to_owned).to_vec(),
                            },
                            pb::NodeSelectorRequirement {
                                key: "node.kubernetes.io/lifecycle".to_owned(),
                                operator: "NotIn".to_owned(),
                                values: vec!["spot".to_owned()],
                            },
                        ],
                        match_fields: vec![],
                    }],
                }),
                preferred_during_scheduling_ignored_during_execution: vec![],
            }),
            ..pb::Affinity::default()
        }),
        tolerations: vec![pb::Toleration {
            key: "nvidia.com/gpu".to_owned(),
            operator: "Exists".to_owned(),
            effect: "NoSchedule".to_owned(),
            ..pb::Toleration::default()
        }],
        ..pb::PodPlacement::default()
    }
}

/// Issues one scenario's requests over one channel.
#[derive(Clone, Debug)]
pub struct Caller {
    scenario: Scenario,
    names: Arc<[String]>,
    health: HealthClient<Channel>,
    placement: PlacementClient<Channel>,
    rollout: RolloutClient<Channel>,
    inventory: InventoryClient<Channel>,
}

impl Caller {
    /// `names` are the fleet's node names (not empty for node-taking scenarios).
    pub fn new(scenario: Scenario, channel: Channel, names: Arc<[String]>) -> Self {
        Caller {
            scenario,
            names,
            health: HealthClient::new(channel.clone()),
            placement: PlacementClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            rollout: RolloutClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            inventory: InventoryClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES),
        }
    }

    fn node(&self, i: u64) -> String {
        if self.names.is_empty() {
            return String::new();
        }
        // A stride coprime with most fleet sizes spreads consecutive requests over shards.
        let at = (i.wrapping_mul(7_919) % self.names.len() as u64) as usize;
        self.names[at].clone()
    }

    /// Request number `i` of the scenario; the answer is dropped, only the status counts.
    pub async fn call(&mut self, i: u64) -> Result<(), Status> {
        match self.scenario {
            Scenario::Health => {
                self.health
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await?;
            }
            Scenario::EvaluateSelective => {
                self.evaluate(
                    pb::evaluate_request::Target::Daemonset(daemonset(SELECTIVE)),
                    0,
                    false,
                )
                .await?;
            }
            Scenario::EvaluateBroad => {
                self.evaluate(
                    pb::evaluate_request::Target::Daemonset(daemonset(BROAD)),
                    500,
                    false,
                )
                .await?;
            }
            Scenario::EvaluateCount => {
                self.evaluate(
                    pb::evaluate_request::Target::Daemonset(daemonset(BROAD)),
                    0,
                    true,
                )
                .await?;
            }
            Scenario::EvaluateInline => {
                self.evaluate(
                    pb::evaluate_request::Target::Placement(inline_placement()),
                    100,
                    false,
                )
                .await?;
            }
            Scenario::Explain => {
                let nodes = (0..3).map(|k| self.node(i * 3 + k)).collect();
                self.placement
                    .explain(pb::ExplainRequest {
                        target: Some(pb::explain_request::Target::Daemonset(daemonset(SELECTIVE))),
                        nodes,
                    })
                    .await?;
            }
            Scenario::DaemonsetsForNode => {
                let node = self.node(i);
                self.placement
                    .daemon_sets_for_node(pb::DaemonSetsForNodeRequest {
                        node: Some(pb::daemon_sets_for_node_request::Node::Name(node)),
                    })
                    .await?;
            }
            Scenario::DaemonsetsForHypothetical => {
                self.placement
                    .daemon_sets_for_node(pb::DaemonSetsForNodeRequest {
                        node: Some(pb::daemon_sets_for_node_request::Node::Hypothetical(
                            hypothetical_node(i),
                        )),
                    })
                    .await?;
            }
            Scenario::NextBatch => {
                self.rollout
                    .next_batch(pb::NextBatchRequest {
                        namespace: NAMESPACE.to_owned(),
                        name: ROLLOUT.to_owned(),
                        now: None,
                    })
                    .await?;
            }
            Scenario::GetNode => {
                let name = self.node(i);
                self.inventory.get_node(pb::GetNodeRequest { name }).await?;
            }
            Scenario::ListNodes => {
                self.inventory
                    .list_nodes(pb::ListNodesRequest {
                        label_selector: "topology.kubernetes.io/zone=us-east-1a".to_owned(),
                        limit: 100,
                        page_token: String::new(),
                    })
                    .await?;
            }
        }
        Ok(())
    }

    async fn evaluate(
        &mut self,
        target: pb::evaluate_request::Target,
        limit: u32,
        count_only: bool,
    ) -> Result<(), Status> {
        self.placement
            .evaluate(pb::EvaluateRequest {
                target: Some(target),
                limit,
                page_token: String::new(),
                count_only,
            })
            .await?;
        Ok(())
    }
}

/// An autoscaler's node template: a node of the fleet's shape under a name no node has.
pub fn hypothetical_node(i: u64) -> pb::Node {
    let spec = dsched::fleet::FleetSpec::nodes(1);
    let mut node = dsched::fleet::to_pb(&spec.node((i % 1_000) as usize));
    node.name = format!("template-{}", i % 1_000);
    node.labels
        .insert("kubernetes.io/hostname".to_owned(), node.name.clone());
    node
}
