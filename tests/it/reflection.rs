//! Server reflection, both `grpc.reflection.v1` and `v1alpha` (grpcurl before 1.8.8 speaks
//! only v1alpha): every dsched service is listed and its descriptors are served.

use tokio_stream::StreamExt;

use crate::support::TestServer;

const SERVICES: &[&str] = &[
    "dsched.v1.DaemonSets",
    "dsched.v1.Inventory",
    "dsched.v1.Placement",
    "dsched.v1.Rollout",
    "grpc.health.v1.Health",
];

/// One reflection request/response exchange per protocol version, written once.
macro_rules! ask {
    ($pb:path, $channel:expr, $request:expr) => {{
        use $pb as pb;
        let mut client = pb::server_reflection_client::ServerReflectionClient::new($channel);
        let request = pb::ServerReflectionRequest {
            host: String::new(),
            message_request: Some($request),
        };
        let mut answers = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("reflection call")
            .into_inner();
        answers
            .next()
            .await
            .expect("an answer")
            .expect("not an error")
            .message_response
            .expect("a response")
    }};
}

#[tokio::test]
async fn v1_lists_services_and_serves_descriptors() {
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = TestServer::start().await;
    let listed = ask!(
        tonic_reflection::pb::v1,
        server.channel().await,
        MessageRequest::ListServices(String::new())
    );
    let MessageResponse::ListServicesResponse(list) = listed else {
        panic!("want a service list, got {listed:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in SERVICES {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    let file = ask!(
        tonic_reflection::pb::v1,
        server.channel().await,
        MessageRequest::FileContainingSymbol("dsched.v1.Placement".into())
    );
    let MessageResponse::FileDescriptorResponse(files) = file else {
        panic!("want descriptors, got {file:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

#[tokio::test]
async fn v1alpha_lists_services() {
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let server = TestServer::start().await;
    let listed = ask!(
        tonic_reflection::pb::v1alpha,
        server.channel().await,
        MessageRequest::ListServices(String::new())
    );
    let MessageResponse::ListServicesResponse(list) = listed else {
        panic!("want a service list, got {listed:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in SERVICES {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
}
