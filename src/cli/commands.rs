//! One function per client subcommand.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use serde_json::{Value, json};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::convert;
use super::input::{self, Document};
use super::output::{Table, or_none, print_value, to_json};
use super::{
    ApplyArgs, CliError, CliResult, ClientOpts, DeleteArgs, DeleteResource, EvalArgs, ExplainArgs,
    GetArgs, GetResource, NodesArgs, NodesCommand, RolloutArgs, RolloutCommand, connect,
};
use crate::grpc::pb;
use crate::grpc::pb::daemon_sets_client::DaemonSetsClient;
use crate::grpc::pb::inventory_client::InventoryClient;
use crate::grpc::pb::placement_client::PlacementClient;
use crate::grpc::pb::rollout_client::RolloutClient;

const MAX_MESSAGE: usize = 1 << 30;

fn inventory(ch: &Channel) -> InventoryClient<Channel> {
    InventoryClient::new(ch.clone())
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
}

fn daemonsets(ch: &Channel) -> DaemonSetsClient<Channel> {
    DaemonSetsClient::new(ch.clone()).max_decoding_message_size(MAX_MESSAGE)
}

fn placement(ch: &Channel) -> PlacementClient<Channel> {
    PlacementClient::new(ch.clone()).max_decoding_message_size(MAX_MESSAGE)
}

fn rollout_client(ch: &Channel) -> RolloutClient<Channel> {
    RolloutClient::new(ch.clone()).max_decoding_message_size(MAX_MESSAGE)
}

/// A server's refusal as one actionable line: the code, the message (which names the field
/// path for an invalid field) and, for an `Apply`, the manifest's own field paths.
fn describe_status(server: &str, s: &Status) -> String {
    if s.code() == Code::Unavailable && s.message().contains("transport") {
        return format!(
            "cannot reach the dsched server at {server}: {}",
            s.message()
        );
    }
    let mut text = format!("server ({:?}): {}", s.code(), s.message());
    if s.code() == Code::InvalidArgument
        && let Some(bad) = s.get_details_bad_request()
    {
        let fields: Vec<String> = bad
            .field_violations
            .iter()
            .filter_map(|v| convert::manifest_path(&v.field))
            .collect();
        if !fields.is_empty() {
            text.push_str(&format!(" [manifest field: {}]", fields.join(", ")));
        }
    }
    text
}

fn failed(server: &str, s: Status) -> CliError {
    CliError::Failed(describe_status(server, &s))
}

fn print_or<F: FnOnce()>(opts: &ClientOpts, value: impl FnOnce() -> Value, table: F) -> CliResult {
    match opts.output {
        Some(format) => print_value(&value(), format),
        None => {
            table();
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------
// apply
// ---------------------------------------------------------------------------------------

pub async fn apply(args: ApplyArgs) -> CliResult {
    let opts = &args.client;
    let docs = input::read_all(&args.files)?;
    let classes = convert::priority_classes(&docs).map_err(CliError::Usage)?;
    let mut channel: Option<Channel> = None;
    let mut any_failed = false;
    let mut applied = Vec::new();
    let mut found = 0usize;
    for doc in &docs {
        match doc.kind.as_str() {
            "DaemonSet" => found += 1,
            "PriorityClass" => {
                eprintln!(
                    "priorityclass.scheduling.k8s.io/{}: used to resolve priorityClassName, not stored",
                    doc.name()
                );
                continue;
            }
            _ => {
                doc.skip_notice("dsched apply reads apps/v1 DaemonSet and PriorityClass documents");
                continue;
            }
        }
        let ds = match convert::daemonset(doc, &opts.namespace, &classes) {
            Ok(ds) => ds,
            Err(e) => {
                eprintln!("error: {} ({}): {e}", doc.describe(), doc.location());
                any_failed = true;
                continue;
            }
        };
        if channel.is_none() {
            channel = Some(connect(&opts.server).await?);
        }
        let ch = channel.as_ref().expect("connected");
        match apply_one(&opts.server, ch, ds).await {
            Ok((ds, verb)) => {
                if opts.output.is_none() {
                    println!(
                        "daemonset.apps/{} {verb} (revision {})",
                        ds.name, ds.revision
                    );
                }
                applied.push(to_json(&ds, "DaemonSet"));
            }
            Err(e) => {
                eprintln!("error: {} ({}): {e}", doc.describe(), doc.location());
                any_failed = true;
            }
        }
    }
    if found == 0 {
        return Err(CliError::Usage(format!(
            "no DaemonSet in {}",
            args.files.join(", ")
        )));
    }
    if let Some(format) = opts.output {
        let value = if applied.len() == 1 {
            applied.remove(0)
        } else {
            json!({"kind": "List", "items": applied})
        };
        print_value(&value, format)?;
    }
    if any_failed {
        Err(CliError::Reported)
    } else {
        Ok(())
    }
}

/// Applies one DaemonSet; the verb says whether it was created, changed or left alone.
async fn apply_one(
    server: &str,
    ch: &Channel,
    ds: pb::DaemonSet,
) -> Result<(pb::DaemonSet, &'static str), String> {
    let mut client = daemonsets(ch);
    let before = match client
        .get(pb::DaemonSetRef {
            namespace: ds.namespace.clone(),
            name: ds.name.clone(),
        })
        .await
    {
        Ok(r) => Some(r.into_inner().revision),
        Err(s) if s.code() == Code::NotFound => None,
        // An invalid name or namespace: let Apply say which field.
        Err(s) if s.code() == Code::InvalidArgument => None,
        Err(s) => return Err(describe_status(server, &s)),
    };
    let after = client
        .apply(pb::ApplyRequest {
            daemonset: Some(ds),
        })
        .await
        .map_err(|s| describe_status(server, &s))?
        .into_inner();
    let verb = match before {
        None => "created",
        Some(r) if r == after.revision => "unchanged",
        Some(_) => "configured",
    };
    Ok((after, verb))
}

// ---------------------------------------------------------------------------------------
// nodes sync
// ---------------------------------------------------------------------------------------

pub async fn nodes(args: NodesArgs) -> CliResult {
    match args.command {
        NodesCommand::Sync { files, batch_size } => sync(&args.client, &files, batch_size).await,
    }
}

#[derive(Default)]
struct SyncTotals {
    applied: u64,
    unchanged: u64,
    stale: u64,
    swept: u64,
    revision: u64,
    rejected: Vec<Value>,
}

async fn sync(opts: &ClientOpts, files: &[String], batch_size: usize) -> CliResult {
    let docs = input::read_all(files)?;
    let mut nodes = Vec::new();
    let mut sources: Vec<&Document> = Vec::new();
    let mut bad = 0;
    for doc in &docs {
        // `kubectl get nodes` items may come without `kind` (client-go leaves it out).
        if doc.kind != "Node" && !doc.kind.is_empty() {
            doc.skip_notice(
                "dsched nodes sync reads Node objects (kubectl get nodes -o json|yaml)",
            );
            continue;
        }
        match convert::node(doc) {
            Ok(n) => {
                nodes.push(n);
                sources.push(doc);
            }
            Err(e) => {
                eprintln!("error: {} ({}): {e}", doc.describe(), doc.location());
                bad += 1;
            }
        }
    }
    if bad > 0 {
        return Err(CliError::Usage(format!(
            "{bad} node(s) could not be read; nothing was sent (a resync without them would delete them)"
        )));
    }
    if nodes.is_empty() {
        return Err(CliError::Usage(format!(
            "no nodes in {}: a resync with no nodes would delete every node; nothing was sent",
            files.join(", ")
        )));
    }
    let total = nodes.len();
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let mut batches: Vec<pb::SyncRequest> = Vec::new();
    let mut iter = nodes.into_iter().peekable();
    while iter.peek().is_some() {
        let chunk: Vec<pb::Node> = iter.by_ref().take(batch_size).collect();
        batches.push(pb::SyncRequest {
            batch_id: batches.len() as u64 + 1,
            upsert_nodes: chunk,
            ..Default::default()
        });
    }
    if batches.len() == 1 {
        batches.push(pb::SyncRequest {
            batch_id: 2,
            ..Default::default()
        });
    }
    let last = batches.len() - 1;
    batches[0].resync = pb::Resync::Begin as i32;
    batches[last].resync = pb::Resync::End as i32;
    let offsets: Vec<usize> = batches
        .iter()
        .scan(0usize, |acc, b| {
            let start = *acc;
            *acc += b.upsert_nodes.len();
            Some(start)
        })
        .collect();
    let count = batches.len();

    let channel = connect(&opts.server).await?;
    let progress = (std::io::stderr().is_terminal() && count > 2).then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} nodes {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::SyncRequest>(4);
    let sender = tokio::spawn(async move {
        for batch in batches {
            if tx.send(batch).await.is_err() {
                break;
            }
        }
        // Keep the stream open until every ack is in: dropping tx here ends it cleanly.
    });
    let mut stream = inventory(&channel)
        .sync(ReceiverStream::new(rx))
        .await
        .map_err(|s| failed(&opts.server, s))?
        .into_inner();
    let mut totals = SyncTotals::default();
    let mut acks = 0;
    while acks < count {
        let ack = match stream.message().await {
            Ok(Some(ack)) => ack,
            Ok(None) => {
                return Err(CliError::Failed(format!(
                    "the server ended the sync after {acks} of {count} batches; the resync was abandoned and nothing was swept"
                )));
            }
            Err(s) => {
                return Err(CliError::Failed(format!(
                    "sync failed after {acks} of {count} batches (the resync was abandoned and nothing was swept): {}",
                    describe_status(&opts.server, &s)
                )));
            }
        };
        let offset = offsets.get(acks).copied().unwrap_or(0);
        totals.applied += u64::from(ack.applied);
        totals.unchanged += u64::from(ack.unchanged);
        totals.stale += u64::from(ack.stale);
        totals.swept += u64::from(ack.swept);
        totals.revision = ack.revision;
        for r in &ack.rejected {
            let global = offset + r.index as usize;
            let location = sources
                .get(global)
                .map(|d| d.location())
                .unwrap_or_default();
            let name = names.get(global).cloned().unwrap_or_else(|| r.name.clone());
            eprintln!("rejected node {name} ({location}): {}", r.reason);
            totals.rejected.push(json!({
                "name": name, "field": r.field, "reason": r.reason, "source": location,
            }));
        }
        if let Some(bar) = &progress {
            bar.inc(u64::from(ack.applied + ack.unchanged + ack.stale) + ack.rejected.len() as u64);
        }
        acks += 1;
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let _ = sender.await;
    let rejected = totals.rejected.len();
    print_or(
        opts,
        || {
            json!({
                "nodes": total, "batches": count, "applied": totals.applied,
                "unchanged": totals.unchanged, "stale": totals.stale, "swept": totals.swept,
                "rejected": totals.rejected, "revision": totals.revision,
            })
        },
        || {
            println!(
                "synced {total} nodes in {count} batches: {} applied, {} unchanged, {} stale, {} swept, {rejected} rejected (inventory revision {})",
                totals.applied, totals.unchanged, totals.stale, totals.swept, totals.revision
            )
        },
    )?;
    if rejected > 0 {
        Err(CliError::Reported)
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// get
// ---------------------------------------------------------------------------------------

pub async fn get(args: GetArgs) -> CliResult {
    let opts = &args.client;
    let channel = connect(&opts.server).await?;
    match args.resource {
        GetResource::Nodes { selector } => {
            let mut client = inventory(&channel);
            let mut all = pb::ListNodesResponse::default();
            loop {
                let page = client
                    .list_nodes(pb::ListNodesRequest {
                        label_selector: selector.clone().unwrap_or_default(),
                        limit: 0,
                        page_token: std::mem::take(&mut all.next_page_token),
                    })
                    .await
                    .map_err(|s| failed(&opts.server, s))?
                    .into_inner();
                all.nodes.extend(page.nodes);
                all.revision = page.revision;
                all.total = page.total;
                if page.next_page_token.is_empty() {
                    break;
                }
                all.next_page_token = page.next_page_token;
            }
            if opts.output.is_none() && all.nodes.is_empty() {
                eprintln!("No resources found");
                return Ok(());
            }
            print_or(
                opts,
                || to_json(&all, "ListNodesResponse"),
                || {
                    let mut t = Table::new(&["NAME", "STATUS", "ROLES", "TAINTS"]);
                    for n in &all.nodes {
                        t.row(vec![
                            n.name.clone(),
                            node_status(n),
                            or_none(node_roles(n)),
                            or_none(
                                n.taints
                                    .iter()
                                    .map(format_taint)
                                    .collect::<Vec<_>>()
                                    .join(","),
                            ),
                        ]);
                    }
                    t.print();
                },
            )
        }
        GetResource::Daemonsets { all_namespaces } => {
            let namespace = if all_namespaces {
                String::new()
            } else {
                opts.namespace.clone()
            };
            let list = daemonsets(&channel)
                .list(pb::ListDaemonSetsRequest { namespace })
                .await
                .map_err(|s| failed(&opts.server, s))?
                .into_inner();
            if let Some(format) = opts.output {
                return print_value(&to_json(&list, "ListDaemonSetsResponse"), format);
            }
            if list.daemonsets.is_empty() {
                eprintln!("No resources found");
                return Ok(());
            }
            let mut headers = vec![
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "REVISION",
            ];
            if all_namespaces {
                headers.insert(0, "NAMESPACE");
            }
            let mut t = Table::new(&headers);
            let mut rollout = rollout_client(&channel);
            for ds in &list.daemonsets {
                let st = rollout
                    .status(pb::StatusRequest {
                        namespace: ds.namespace.clone(),
                        name: ds.name.clone(),
                        now: None,
                    })
                    .await
                    .map_err(|s| failed(&opts.server, s))?
                    .into_inner();
                let selector = ds
                    .placement
                    .as_ref()
                    .map(|p| {
                        p.node_selector
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                let mut row = vec![
                    ds.name.clone(),
                    st.desired_number_scheduled.to_string(),
                    st.current_number_scheduled.to_string(),
                    st.number_ready.to_string(),
                    st.updated_number_scheduled.to_string(),
                    st.number_available.to_string(),
                    or_none(selector),
                    ds.revision.to_string(),
                ];
                if all_namespaces {
                    row.insert(0, ds.namespace.clone());
                }
                t.row(row);
            }
            t.print();
            Ok(())
        }
    }
}

fn node_status(n: &pb::Node) -> String {
    let ready = n.conditions.iter().find(|c| c.r#type == "Ready");
    let mut s = match ready.map(|c| c.status.as_str()) {
        Some("True") => "Ready".to_owned(),
        Some("False") => "NotReady".to_owned(),
        _ => "Unknown".to_owned(),
    };
    if n.unschedulable {
        s.push_str(",SchedulingDisabled");
    }
    s
}

fn node_roles(n: &pb::Node) -> String {
    let mut roles: Vec<&str> = n
        .labels
        .keys()
        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
        .filter(|r| !r.is_empty())
        .collect();
    if n.labels
        .get("kubernetes.io/role")
        .is_some_and(|r| !r.is_empty())
    {
        roles.push(&n.labels["kubernetes.io/role"]);
    }
    roles.sort();
    roles.dedup();
    roles.join(",")
}

fn format_taint(t: &pb::Taint) -> String {
    if t.value.is_empty() {
        format!("{}:{}", t.key, t.effect)
    } else {
        format!("{}={}:{}", t.key, t.value, t.effect)
    }
}

// ---------------------------------------------------------------------------------------
// eval, explain
// ---------------------------------------------------------------------------------------

enum Target {
    Registered(pb::DaemonSetRef),
    Inline(Box<pb::PodPlacement>),
}

/// The DaemonSet named on the command line, or the one DaemonSet of `file`.
fn target(opts: &ClientOpts, name: &Option<String>, file: &Option<String>) -> CliResult<Target> {
    if let Some(name) = name {
        return Ok(Target::Registered(pb::DaemonSetRef {
            namespace: opts.namespace.clone(),
            name: name.clone(),
        }));
    }
    let file = file
        .as_ref()
        .ok_or_else(|| CliError::Usage("give a NAME or -f FILE".into()))?;
    let docs = input::read_all(std::slice::from_ref(file))?;
    let classes = convert::priority_classes(&docs).map_err(CliError::Usage)?;
    let sets: Vec<&Document> = docs.iter().filter(|d| d.kind == "DaemonSet").collect();
    match sets.as_slice() {
        [doc] => {
            let ds = convert::daemonset(doc, &opts.namespace, &classes).map_err(|e| {
                CliError::Usage(format!("{} ({}): {e}", doc.describe(), doc.location()))
            })?;
            Ok(Target::Inline(Box::new(ds.placement.unwrap_or_default())))
        }
        [] => Err(CliError::Usage(format!("no DaemonSet in {file}"))),
        many => Err(CliError::Usage(format!(
            "{file} has {} DaemonSets: evaluate one at a time",
            many.len()
        ))),
    }
}

pub async fn eval(args: EvalArgs) -> CliResult {
    let opts = &args.client;
    let target = target(opts, &args.name, &args.file)?;
    let channel = connect(&opts.server).await?;
    let mut client = placement(&channel);
    let mut all = pb::EvaluateResponse::default();
    loop {
        let req = pb::EvaluateRequest {
            target: Some(match &target {
                Target::Registered(r) => pb::evaluate_request::Target::Daemonset(r.clone()),
                Target::Inline(p) => pb::evaluate_request::Target::Placement((**p).clone()),
            }),
            limit: 0,
            page_token: std::mem::take(&mut all.next_page_token),
            count_only: args.count,
        };
        let page = client
            .evaluate(req)
            .await
            .map_err(|s| failed(&opts.server, s))?
            .into_inner();
        all.nodes.extend(page.nodes);
        all.keep_nodes.extend(page.keep_nodes);
        all.revision = page.revision;
        all.should_run_count = page.should_run_count;
        all.keep_count = page.keep_count;
        all.total_nodes = page.total_nodes;
        if args.count || page.next_page_token.is_empty() {
            break;
        }
        all.next_page_token = page.next_page_token;
    }
    print_or(
        opts,
        || to_json(&all, "EvaluateResponse"),
        || {
            if args.count {
                let mut t = Table::new(&["SHOULD-RUN", "KEEP", "TOTAL"]);
                t.row(vec![
                    all.should_run_count.to_string(),
                    all.keep_count.to_string(),
                    all.total_nodes.to_string(),
                ]);
                t.print();
                return;
            }
            let mut rows: Vec<(&str, &str)> = all
                .nodes
                .iter()
                .map(|n| (n.as_str(), "Run"))
                .chain(all.keep_nodes.iter().map(|n| (n.as_str(), "Keep")))
                .collect();
            rows.sort();
            if rows.is_empty() {
                eprintln!("No nodes should run it (of {})", all.total_nodes);
                return;
            }
            let mut t = Table::new(&["NODE", "DECISION"]);
            for (n, d) in rows {
                t.row(vec![n.to_owned(), d.to_owned()]);
            }
            t.print();
        },
    )
}

pub async fn explain(args: ExplainArgs) -> CliResult {
    let opts = &args.client;
    let target = target(opts, &args.name, &args.file)?;
    let channel = connect(&opts.server).await?;
    let resp = placement(&channel)
        .explain(pb::ExplainRequest {
            target: Some(match target {
                Target::Registered(r) => pb::explain_request::Target::Daemonset(r),
                Target::Inline(p) => pb::explain_request::Target::Placement(*p),
            }),
            nodes: args.nodes.clone(),
        })
        .await
        .map_err(|s| failed(&opts.server, s))?
        .into_inner();
    print_or(
        opts,
        || to_json(&resp, "ExplainResponse"),
        || {
            if !resp.verdicts.is_empty() {
                let mut t = Table::new(&["NODE", "SHOULD-RUN", "KEEP", "FITS", "REASONS"]);
                for v in &resp.verdicts {
                    let reasons = if !v.found {
                        "node not found".to_owned()
                    } else {
                        let mut r: Vec<String> = v
                            .reasons
                            .iter()
                            .map(|r| format!("{}: {}", r.code, r.message))
                            .collect();
                        r.extend(v.insufficient.iter().map(|i| format!("Insufficient: {i}")));
                        r.join("; ")
                    };
                    t.row(vec![
                        v.node.clone(),
                        yes_no(v.should_run),
                        yes_no(v.should_continue_running),
                        yes_no(v.fits),
                        or_none(reasons),
                    ]);
                }
                t.print();
            } else {
                let mut t = Table::new(&["NODES", "REASON", "MESSAGE"]);
                for s in &resp.summary {
                    t.row(vec![s.count.to_string(), s.code.clone(), s.message.clone()]);
                }
                t.print();
            }
        },
    )
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

// ---------------------------------------------------------------------------------------
// rollout
// ---------------------------------------------------------------------------------------

pub async fn rollout(args: RolloutArgs) -> CliResult {
    let opts = &args.client;
    let channel = connect(&opts.server).await?;
    let ns = opts.namespace.clone();
    match args.command {
        RolloutCommand::Next { name } => {
            let next = rollout_client(&channel)
                .next_batch(pb::NextBatchRequest {
                    namespace: ns,
                    name: name.clone(),
                    now: None,
                })
                .await
                .map_err(|s| failed(&opts.server, s))?
                .into_inner();
            print_or(
                opts,
                || to_json(&next, "NextBatchResponse"),
                || {
                    let mut head = format!(
                        "daemonset.apps/{name}: target revision {} ({})",
                        next.target_revision, next.target_revision_hash
                    );
                    if next.complete {
                        head.push_str(", rollout complete");
                    }
                    if !next.waiting_reason.is_empty() {
                        head.push_str(&format!(", waiting: {}", next.waiting_reason));
                    }
                    println!("{head}");
                    if next.create_on.is_empty() && next.delete.is_empty() {
                        println!("nothing to do now");
                        return;
                    }
                    let mut t = Table::new(&["ACTION", "NODE", "POD", "REASON"]);
                    for n in &next.create_on {
                        t.row(vec![
                            "create".into(),
                            n.clone(),
                            String::new(),
                            String::new(),
                        ]);
                    }
                    for d in &next.delete {
                        t.row(vec![
                            "delete".into(),
                            d.node.clone(),
                            d.pod.clone(),
                            d.reason.clone(),
                        ]);
                    }
                    t.print();
                },
            )
        }
        RolloutCommand::Status { name } => {
            let st = rollout_client(&channel)
                .status(pb::StatusRequest {
                    namespace: ns,
                    name: name.clone(),
                    now: None,
                })
                .await
                .map_err(|s| failed(&opts.server, s))?
                .into_inner();
            print_or(
                opts,
                || to_json(&st, "RolloutStatus"),
                || {
                    let d = st.desired_number_scheduled;
                    if st.updated_number_scheduled < d {
                        println!(
                            "Waiting for daemon set \"{name}\" rollout to finish: {} out of {d} new pods have been updated...",
                            st.updated_number_scheduled
                        );
                    } else if st.number_available < d {
                        println!(
                            "Waiting for daemon set \"{name}\" rollout to finish: {} of {d} updated pods are available...",
                            st.number_available
                        );
                    } else {
                        println!("daemon set \"{name}\" successfully rolled out");
                    }
                },
            )
        }
        RolloutCommand::History { name } => {
            let history = daemonsets(&channel)
                .history(pb::DaemonSetRef {
                    namespace: ns,
                    name: name.clone(),
                })
                .await
                .map_err(|s| failed(&opts.server, s))?
                .into_inner();
            print_or(
                opts,
                || to_json(&history, "HistoryResponse"),
                || {
                    println!("daemonset.apps/{name}");
                    let mut t = Table::new(&["REVISION", "CURRENT", "CHANGE-CAUSE"]);
                    for r in &history.revisions {
                        t.row(vec![
                            r.revision.to_string(),
                            if r.current { "*".into() } else { String::new() },
                            or_none(r.change_cause.clone()),
                        ]);
                    }
                    t.print();
                },
            )
        }
        RolloutCommand::Undo { name, to_revision } => {
            let resp = daemonsets(&channel)
                .rollback(pb::RollbackRequest {
                    namespace: ns,
                    name: name.clone(),
                    to_revision,
                })
                .await
                .map_err(|s| failed(&opts.server, s))?
                .into_inner();
            print_or(
                opts,
                || to_json(&resp, "RollbackResponse"),
                || {
                    let now = resp.daemonset.as_ref().map(|d| d.revision).unwrap_or(0);
                    if resp.skipped {
                        println!(
                            "daemonset.apps/{name} skipped rollback (current template already matches revision {})",
                            resp.restored_revision
                        );
                    } else {
                        println!(
                            "daemonset.apps/{name} rolled back: revision {} restored as revision {now}",
                            resp.restored_revision
                        );
                    }
                },
            )
        }
    }
}

// ---------------------------------------------------------------------------------------
// delete
// ---------------------------------------------------------------------------------------

pub async fn delete(args: DeleteArgs) -> CliResult {
    let opts = &args.client;
    let DeleteResource::Daemonset { name } = args.resource;
    let channel = connect(&opts.server).await?;
    let resp = daemonsets(&channel)
        .delete(pb::DaemonSetRef {
            namespace: opts.namespace.clone(),
            name: name.clone(),
        })
        .await
        .map_err(|s| failed(&opts.server, s))?
        .into_inner();
    print_or(
        opts,
        || to_json(&resp, "DeleteResponse"),
        || {
            println!("daemonset.apps \"{name}\" deleted");
            if !resp.pods.is_empty() {
                let by_ns: BTreeMap<&str, Vec<&str>> =
                    resp.pods.iter().fold(BTreeMap::new(), |mut m, p| {
                        m.entry(p.namespace.as_str())
                            .or_default()
                            .push(p.name.as_str());
                        m
                    });
                for (ns, pods) in by_ns {
                    println!("pods left to delete in {ns}: {}", pods.join(" "));
                }
            }
        },
    )
}
