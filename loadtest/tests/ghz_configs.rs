//! The ghz configs in `loadtest/ghz/` stay runnable: every `*.json` there is a ghz config
//! whose keys ghz knows, whose `call` names a unary method the server serves by reflection,
//! and whose request data decodes into that method's input message as proto3 JSON. Between
//! them the configs cover every scenario the README lists.
//!
//! ghz itself ignores a key it does not know and, for `data-file`, only reads the file, so a
//! typo'd key or field would silently load-test something else; this test is where it fails.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor};
use serde::Deserialize;
use serde_json::Value;

/// Methods the configs must cover, as ghz's `call` names them (`package.Service.Method`).
const REQUIRED_METHODS: &[&str] = &[
    "grpc.health.v1.Health.Check",
    "dsched.v1.Placement.Evaluate",
    "dsched.v1.Placement.Explain",
    "dsched.v1.Placement.DaemonSetsForNode",
    "dsched.v1.Rollout.NextBatch",
    "dsched.v1.Inventory.GetNode",
    "dsched.v1.Inventory.ListNodes",
];

/// Evaluate has several shapes worth measuring apart: selective, broad, count-only, inline.
const MIN_EVALUATE_CONFIGS: usize = 4;

/// ghz's config file keys: the json tags of `runner.Config` (bojand/ghz `runner/config.go`),
/// plus the keys of later releases, which are named after their command-line flags as every
/// other key is (`stream-call-*`, `count-errors`, `lb-strategy`, message sizes, templates).
/// ghz reads durations as Go duration strings ("10s", "1m30s"). `binary` has no key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Fields are here to be recognized; only some are checked.
struct GhzConfig {
    proto: Option<String>,
    protoset: Option<String>,
    #[serde(rename = "import-paths")]
    import_paths: Option<Vec<String>>,
    call: Option<String>,
    host: Option<String>,

    cacert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    #[serde(rename = "skipTLS")]
    skip_tls: Option<bool>,
    cname: Option<String>,
    authority: Option<String>,
    insecure: Option<bool>,

    total: Option<u64>,
    #[serde(rename = "skipFirst")]
    skip_first: Option<u64>,
    #[serde(rename = "count-errors")]
    count_errors: Option<bool>,
    #[serde(rename = "async")]
    async_: Option<bool>,
    concurrency: Option<u64>,
    #[serde(rename = "concurrency-schedule")]
    concurrency_schedule: Option<String>,
    #[serde(rename = "concurrency-start")]
    concurrency_start: Option<u64>,
    #[serde(rename = "concurrency-end")]
    concurrency_end: Option<u64>,
    #[serde(rename = "concurrency-step")]
    concurrency_step: Option<i64>,
    #[serde(rename = "concurrency-step-duration")]
    concurrency_step_duration: Option<String>,
    #[serde(rename = "concurrency-max-duration")]
    concurrency_max_duration: Option<String>,
    connections: Option<u64>,
    rps: Option<u64>,
    #[serde(rename = "load-schedule")]
    load_schedule: Option<String>,
    #[serde(rename = "load-start")]
    load_start: Option<u64>,
    #[serde(rename = "load-end")]
    load_end: Option<u64>,
    #[serde(rename = "load-step")]
    load_step: Option<i64>,
    #[serde(rename = "load-step-duration")]
    load_step_duration: Option<String>,
    #[serde(rename = "load-max-duration")]
    load_max_duration: Option<String>,
    duration: Option<String>,
    #[serde(rename = "duration-stop")]
    duration_stop: Option<String>,
    #[serde(rename = "max-duration")]
    max_duration: Option<String>,
    timeout: Option<String>,
    #[serde(rename = "connect-timeout")]
    connect_timeout: Option<String>,
    keepalive: Option<String>,

    data: Option<Value>,
    #[serde(rename = "data-file")]
    data_file: Option<String>,
    #[serde(rename = "binary-file")]
    binary_file: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    #[serde(rename = "metadata-file")]
    metadata_file: Option<String>,
    #[serde(rename = "reflect-metadata")]
    reflect_metadata: Option<BTreeMap<String, String>>,
    #[serde(rename = "stream-interval")]
    stream_interval: Option<String>,
    #[serde(rename = "stream-call-duration")]
    stream_call_duration: Option<String>,
    #[serde(rename = "stream-call-count")]
    stream_call_count: Option<u64>,
    #[serde(rename = "stream-dynamic-messages")]
    stream_dynamic_messages: Option<bool>,
    #[serde(rename = "disable-template-functions")]
    disable_template_functions: Option<bool>,
    #[serde(rename = "disable-template-data")]
    disable_template_data: Option<bool>,

    output: Option<String>,
    format: Option<String>,
    name: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    cpus: Option<u64>,
    debug: Option<String>,
    #[serde(rename = "enable-compression")]
    enable_compression: Option<bool>,
    #[serde(rename = "lb-strategy")]
    lb_strategy: Option<String>,
    #[serde(rename = "max-recv-message-size")]
    max_recv_message_size: Option<String>,
    #[serde(rename = "max-send-message-size")]
    max_send_message_size: Option<String>,
}

const FORMATS: &[&str] = &[
    "summary",
    "csv",
    "json",
    "pretty",
    "html",
    "influx-summary",
    "influx-details",
];

/// The descriptors the server serves by reflection (dsched and grpc.health.v1).
fn served_pool() -> DescriptorPool {
    let mut pool = DescriptorPool::decode(dsched::grpc::pb::FILE_DESCRIPTOR_SET)
        .expect("the dsched descriptor set decodes");
    pool.decode_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .expect("the grpc.health.v1 descriptor set decodes");
    pool
}

/// Where ghz resolves a relative `data-file`: its working directory, which the README makes
/// the repository root (ghz passes the path to `os.ReadFile` as written).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("loadtest/ lives inside the repository")
        .to_path_buf()
}

fn ghz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ghz")
}

/// Whether `s` is a Go `time.ParseDuration` string: "0", or signed number-unit pairs.
fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .into_iter()
            .filter(|u| rest.starts_with(u))
            .max_by_key(|u| u.len())
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

/// Splits ghz's `package.Service.Method` or `package.Service/Method`.
fn split_call(call: &str) -> Option<(&str, &str)> {
    let call = call.trim();
    let (service, method) = match call.rsplit_once('/') {
        Some(split) => split,
        None => call.rsplit_once('.')?,
    };
    (!service.is_empty() && !method.is_empty() && !method.contains(['.', '/']))
        .then_some((service, method))
}

/// Decodes one request as proto3 JSON, unknown fields denied. `text` is the original JSON
/// when there is one, for serde's line and column.
fn decode_request(
    input: &MessageDescriptor,
    value: &Value,
    text: Option<&str>,
) -> Result<(), String> {
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    match text {
        Some(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            DynamicMessage::deserialize_with_options(input.clone(), &mut de, &options)
                .and_then(|_| de.end())
                .map_err(|e| e.to_string())
        }
        None => DynamicMessage::deserialize_with_options(input.clone(), value, &options)
            .map(drop)
            .map_err(|e| e.to_string()),
    }
}

/// Checks one config; `Ok` is the method it calls, `Package.Service.Method`. `data_root` is
/// the directory a relative `data-file` is resolved against; `None` forbids data files.
/// Every error names `file`.
fn check_config(
    file: &str,
    text: &str,
    pool: &DescriptorPool,
    data_root: Option<&Path>,
) -> Result<String, String> {
    let fail = |what: String| format!("{file}: {what}");
    let config: GhzConfig = serde_json::from_str(text)
        .map_err(|e| fail(format!("not a ghz config (unknown or mistyped key?): {e}")))?;

    // Reflection is the point: no local protos.
    for (key, set) in [
        ("proto", config.proto.is_some()),
        ("protoset", config.protoset.is_some()),
        ("import-paths", config.import_paths.is_some()),
    ] {
        if set {
            return Err(fail(format!(
                "`{key}` is set; these configs use server reflection"
            )));
        }
    }
    let host = config.host.as_deref().unwrap_or("").trim();
    if host.is_empty() {
        return Err(fail("`host` is required".into()));
    }
    if config.insecure != Some(true) {
        return Err(fail(
            "`insecure` must be true: the server speaks plaintext gRPC".into(),
        ));
    }
    let concurrency = config.concurrency.unwrap_or(50);
    let connections = config.connections.unwrap_or(1);
    if connections > concurrency {
        return Err(fail(format!(
            "`connections` ({connections}) exceeds `concurrency` ({concurrency}); ghz refuses that"
        )));
    }
    if let (Some(skip), Some(total)) = (config.skip_first, config.total)
        && skip > total
    {
        return Err(fail(format!(
            "`skipFirst` ({skip}) exceeds `total` ({total})"
        )));
    }
    if let Some(format) = &config.format
        && !FORMATS.contains(&format.as_str())
    {
        return Err(fail(format!(
            "`format` {format:?} is not one of {FORMATS:?}"
        )));
    }
    for (key, value) in [
        ("timeout", &config.timeout),
        ("duration", &config.duration),
        ("max-duration", &config.max_duration),
        ("connect-timeout", &config.connect_timeout),
        ("keepalive", &config.keepalive),
        ("stream-interval", &config.stream_interval),
        ("stream-call-duration", &config.stream_call_duration),
        ("load-step-duration", &config.load_step_duration),
        ("load-max-duration", &config.load_max_duration),
        (
            "concurrency-step-duration",
            &config.concurrency_step_duration,
        ),
        ("concurrency-max-duration", &config.concurrency_max_duration),
    ] {
        if let Some(value) = value
            && !is_go_duration(value)
        {
            return Err(fail(format!(
                "`{key}` {value:?} is not a Go duration such as \"10s\""
            )));
        }
    }

    // The method, as reflection serves it.
    let call = config.call.as_deref().unwrap_or("").trim();
    if call.is_empty() {
        return Err(fail("`call` is required".into()));
    }
    let (service_name, method_name) = split_call(call).ok_or_else(|| {
        fail(format!(
            "`call` {call:?} is not `package.Service.Method` or `package.Service/Method`"
        ))
    })?;
    let service = pool.get_service_by_name(service_name).ok_or_else(|| {
        fail(format!(
            "`call` {call:?}: the server serves no service {service_name:?}"
        ))
    })?;
    let method = service
        .methods()
        .find(|m| m.name() == method_name)
        .ok_or_else(|| {
            fail(format!(
                "`call` {call:?}: service {service_name} has no method {method_name:?}"
            ))
        })?;
    if method.is_client_streaming() || method.is_server_streaming() {
        return Err(fail(format!(
            "`call` {call:?} is a streaming method; these configs measure unary calls"
        )));
    }
    let input = method.input();

    // The request data: inline, or the data file (ghz uses the file when both are set).
    let (value, text, source) = match (&config.data, &config.data_file) {
        (Some(_), Some(_)) => {
            return Err(fail(
                "both `data` and `data-file` are set; ghz would ignore `data`".into(),
            ));
        }
        (None, None) => {
            return Err(fail("no request data: set `data` or `data-file`".into()));
        }
        (Some(data), None) => (data.clone(), None, "`data`".to_owned()),
        (None, Some(path)) => {
            let root =
                data_root.ok_or_else(|| fail("`data-file` cannot be checked here".into()))?;
            let path = path.trim();
            if Path::new(path).is_absolute() {
                return Err(fail(format!(
                    "`data-file` {path:?} is absolute; use a path relative to the repository root"
                )));
            }
            let resolved = root.join(path);
            let resolved = resolved.canonicalize().map_err(|e| {
                fail(format!(
                    "`data-file` {path:?} (from the repository root: {}): {e}",
                    resolved.display()
                ))
            })?;
            let ghz_dir = ghz_dir()
                .canonicalize()
                .map_err(|e| fail(format!("{}: {e}", ghz_dir().display())))?;
            if !resolved.starts_with(&ghz_dir) {
                return Err(fail(format!(
                    "`data-file` {path:?} is outside {}",
                    ghz_dir.display()
                )));
            }
            let text = fs::read_to_string(&resolved)
                .map_err(|e| fail(format!("`data-file` {path:?}: {e}")))?;
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| fail(format!("`data-file` {path:?} is not JSON: {e}")))?;
            (value, Some(text), format!("`data-file` {path:?}"))
        }
    };
    let what = format!("{source} as {} for {call}", input.full_name());
    match &value {
        Value::Object(_) => decode_request(&input, &value, text.as_deref())
            .map_err(|e| fail(format!("{what}: {e}")))?,
        // ghz sends the messages of an array round-robin.
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if !item.is_object() {
                    return Err(fail(format!("{what}: element {i} is not an object")));
                }
                decode_request(&input, item, None)
                    .map_err(|e| fail(format!("{what}: element {i}: {e}")))?;
            }
        }
        _ => {
            return Err(fail(format!(
                "{what}: must be an object or a non-empty array of objects"
            )));
        }
    }
    Ok(format!("{service_name}.{method_name}"))
}

/// The config files: `loadtest/ghz/*.json` (data files live in `loadtest/ghz/data/`).
fn config_files() -> Vec<PathBuf> {
    let dir = ghz_dir();
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_ghz_config_is_valid_and_the_scenarios_are_covered() {
    let pool = served_pool();
    let root = repo_root();
    let files = config_files();
    assert!(
        !files.is_empty(),
        "no ghz configs in {}",
        ghz_dir().display()
    );

    let mut errors = Vec::new();
    let mut methods: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in &files {
        let file = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let checked = fs::read_to_string(path)
            .map_err(|e| format!("{file}: {e}"))
            .and_then(|text| check_config(&file, &text, &pool, Some(&root)));
        match checked {
            Ok(method) => methods.entry(method).or_default().push(file),
            Err(e) => errors.push(e),
        }
    }
    assert!(
        errors.is_empty(),
        "invalid ghz configs:\n  {}",
        errors.join("\n  ")
    );

    let missing: Vec<&str> = REQUIRED_METHODS
        .iter()
        .copied()
        .filter(|m| !methods.contains_key(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "no ghz config in {} calls {missing:?}; configs by method: {methods:#?}",
        ghz_dir().display()
    );
    let evaluate = methods
        .get("dsched.v1.Placement.Evaluate")
        .map_or(0, Vec::len);
    assert!(
        evaluate >= MIN_EVALUATE_CONFIGS,
        "{evaluate} Evaluate configs, want at least {MIN_EVALUATE_CONFIGS} \
         (selective, broad, count-only, inline placement): {methods:#?}"
    );
}

mod checker {
    use super::*;

    const GOOD: &str = r#"{
        "call": "dsched.v1.Placement.Evaluate",
        "host": "127.0.0.1:50051",
        "insecure": true,
        "total": 100,
        "concurrency": 4,
        "data": {"daemonset": {"namespace": "loadtest", "name": "broad"}, "countOnly": true}
    }"#;

    fn check(text: &str) -> Result<String, String> {
        check_config("probe.json", text, &served_pool(), None)
    }

    fn rejected(text: &str, why: &str) {
        match check(text) {
            Ok(method) => panic!("accepted a config with {why} (calls {method}): {text}"),
            Err(e) => assert!(
                e.starts_with("probe.json: "),
                "the error does not name the file: {e}"
            ),
        }
    }

    #[test]
    fn accepts_a_good_config_and_both_call_spellings() {
        assert_eq!(check(GOOD).as_deref(), Ok("dsched.v1.Placement.Evaluate"));
        let slash = GOOD.replace("Placement.Evaluate", "Placement/Evaluate");
        assert_eq!(check(&slash).as_deref(), Ok("dsched.v1.Placement.Evaluate"));
        let health = r#"{"call": "grpc.health.v1.Health/Check", "host": "127.0.0.1:50051",
                         "insecure": true, "data": {"service": ""}}"#;
        assert_eq!(check(health).as_deref(), Ok("grpc.health.v1.Health.Check"));
    }

    #[test]
    fn rejects_bad_configs() {
        // (what GOOD says, what the bad config says instead, what is wrong with it)
        for (from, to, why) in [
            ("\"total\"", "\"totl\"", "an unknown key"),
            (
                "\"host\"",
                "\"proto\": \"placement.proto\", \"host\"",
                "a proto file",
            ),
            ("\"host\": \"127.0.0.1:50051\",", "", "no host"),
            (
                "Placement.Evaluate",
                "Placement.Evaluat",
                "an unknown method",
            ),
            (
                "dsched.v1.Placement",
                "dsched.v1.Placements",
                "an unknown service",
            ),
            ("Placement.Evaluate", "Inventory.Sync", "a streaming method"),
            ("countOnly", "countOnlyy", "a misspelled field"),
            ("countOnly", "count_onl", "a misspelled snake_case field"),
            (
                "\"countOnly\": true",
                "\"limit\": \"many\"",
                "a field of the wrong type",
            ),
            (
                "\"total\": 100",
                "\"timeout\": 10",
                "a duration without a unit",
            ),
            (
                "\"concurrency\": 4",
                "\"concurrency\": 4, \"connections\": 8",
                "more connections than concurrency",
            ),
        ] {
            rejected(&GOOD.replace(from, to), why);
        }
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let err = check(&GOOD.replace("countOnly", "countOnlyy")).expect_err("a misspelled field");
        assert!(
            err.contains("probe.json") && err.contains("countOnlyy"),
            "{err}"
        );
        let err = check(&GOOD.replace("\"total\"", "\"totl\"")).expect_err("an unknown key");
        assert!(err.contains("probe.json") && err.contains("totl"), "{err}");
    }

    #[test]
    fn go_durations() {
        for ok in ["0", "10s", "1m30s", "250ms", "1.5h", "100us"] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in ["", "10", "s", "1.2.3s", "10 s", "ten seconds"] {
            assert!(!is_go_duration(bad), "{bad}");
        }
    }
}

/// Every config's request, sent as ghz would send it, gets `OK` from a server seeded the
/// way the README says: the node names and DaemonSets the configs name exist.
mod against_a_seeded_server {
    use super::*;

    use dsched::grpc::pb;
    use dsched::grpc::pb::inventory_client::InventoryClient;
    use dsched::grpc::pb::placement_client::PlacementClient;
    use dsched::grpc::pb::rollout_client::RolloutClient;
    use dsched::local_server::LocalServer;
    use dsched_loadtest::seed::{self, SeedSpec};
    use prost::Message;
    use tonic::transport::Channel;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    /// The request of the config at `path`, encoded as protobuf, and its method.
    fn request(path: &Path, pool: &DescriptorPool) -> (String, Vec<u8>) {
        let text = fs::read_to_string(path).expect("readable");
        let config: GhzConfig = serde_json::from_str(&text).expect("a ghz config");
        let call = config.call.expect("call");
        let (service, method) = split_call(&call).expect("a call");
        let input = pool
            .get_service_by_name(service)
            .and_then(|s| s.methods().find(|m| m.name() == method))
            .expect("a served method")
            .input();
        let data: Value = match (&config.data_file, &config.data) {
            (Some(file), _) => serde_json::from_str(
                &fs::read_to_string(repo_root().join(file)).expect("data file"),
            )
            .expect("JSON data"),
            (None, Some(data)) => data.clone(),
            (None, None) => Value::Object(Default::default()),
        };
        let message = DynamicMessage::deserialize(input, &data).expect("decodes");
        (format!("{service}.{method}"), message.encode_to_vec())
    }

    async fn send(channel: Channel, method: &str, bytes: &[u8]) -> Result<(), tonic::Status> {
        let bad = |e: prost::DecodeError| tonic::Status::internal(e.to_string());
        match method {
            "grpc.health.v1.Health.Check" => {
                HealthClient::new(channel)
                    .check(HealthCheckRequest::decode(bytes).map_err(bad)?)
                    .await?;
            }
            "dsched.v1.Placement.Evaluate" => {
                let answer = PlacementClient::new(channel)
                    .evaluate(pb::EvaluateRequest::decode(bytes).map_err(bad)?)
                    .await?
                    .into_inner();
                if answer.should_run_count + answer.keep_count == 0 {
                    return Err(tonic::Status::failed_precondition(
                        "the placement matches no seeded node",
                    ));
                }
            }
            "dsched.v1.Placement.Explain" => {
                let answer = PlacementClient::new(channel)
                    .explain(pb::ExplainRequest::decode(bytes).map_err(bad)?)
                    .await?
                    .into_inner();
                if let Some(v) = answer.verdicts.iter().find(|v| !v.found) {
                    return Err(tonic::Status::not_found(format!(
                        "node {} is not seeded",
                        v.node
                    )));
                }
            }
            "dsched.v1.Placement.DaemonSetsForNode" => {
                let answer = PlacementClient::new(channel)
                    .daemon_sets_for_node(pb::DaemonSetsForNodeRequest::decode(bytes).map_err(bad)?)
                    .await?
                    .into_inner();
                if answer.daemonsets.is_empty() {
                    return Err(tonic::Status::failed_precondition(
                        "no seeded DaemonSet runs there",
                    ));
                }
            }
            "dsched.v1.Rollout.NextBatch" => {
                RolloutClient::new(channel)
                    .next_batch(pb::NextBatchRequest::decode(bytes).map_err(bad)?)
                    .await?;
            }
            "dsched.v1.Inventory.GetNode" => {
                InventoryClient::new(channel)
                    .get_node(pb::GetNodeRequest::decode(bytes).map_err(bad)?)
                    .await?;
            }
            "dsched.v1.Inventory.ListNodes" => {
                let answer = InventoryClient::new(channel)
                    .list_nodes(pb::ListNodesRequest::decode(bytes).map_err(bad)?)
                    .await?
                    .into_inner();
                if answer.nodes.is_empty() {
                    return Err(tonic::Status::failed_precondition(
                        "the selector matches no node",
                    ));
                }
            }
            other => panic!("a config calls {other}; add it to this test"),
        }
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_config_request_succeeds() {
        let server = LocalServer::start_default().await.expect("server");
        let channel = dsched_loadtest::connect(&server.url(), 1)
            .await
            .expect("connect")
            .remove(0);
        // The README seeds 5,000 nodes; the configs must not depend on more than the first
        // few hundred.
        seed::seed(channel.clone(), &SeedSpec::nodes(500))
            .await
            .expect("seed");

        let pool = served_pool();
        let mut failures = Vec::new();
        for path in config_files() {
            let (method, bytes) = request(&path, &pool);
            if let Err(status) = send(channel.clone(), &method, &bytes).await {
                failures.push(format!(
                    "{}: {:?}: {}",
                    path.display(),
                    status.code(),
                    status.message()
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "ghz configs that fail against a seeded server:\n  {}",
            failures.join("\n  ")
        );
        server
            .stop(std::time::Duration::from_secs(30))
            .await
            .expect("clean shutdown");
    }
}
