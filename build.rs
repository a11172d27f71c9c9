//! Compiles `proto/` with protox (a pure-Rust protobuf compiler, so no system `protoc` is
//! needed) and writes the encoded descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

const PROTOS: &[&str] = &[
    "proto/dsched/v1/types.proto",
    "proto/dsched/v1/inventory.proto",
    "proto/dsched/v1/daemonsets.proto",
    "proto/dsched/v1/placement.proto",
    "proto/dsched/v1/rollout.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out.join("dsched_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Sorted maps: deterministic output for grpcurl and golden tests.
        .btree_map(".")
        .compile_fds(fds)?;
    Ok(())
}
