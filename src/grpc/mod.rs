//! The transport: the only code that names tonic and prost types. Handlers convert requests
//! into domain calls (`convert`), and errors into statuses in one place (`status`).

pub mod convert;
pub mod convert_placement;
pub mod daemonsets;
pub mod edge;
pub mod inventory;
pub mod placement;
pub mod rollout;
pub mod state;
pub mod status;

/// The generated `dsched.v1` types, clients and servers.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("dsched.v1");

    /// The encoded descriptor set of every dsched proto, served by reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("dsched_descriptor");
}
