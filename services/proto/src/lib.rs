//! Generated protobuf and gRPC types (`coalition.ledger.v1`) and the explicit conversions between them and the
//! domain. Nothing outside the service edges should touch a generated type.
pub mod codec;
pub mod convert;
pub mod stored;

#[allow(clippy::all, clippy::unwrap_used, clippy::expect_used, missing_docs)]
pub mod v1 {
    tonic::include_proto!("coalition.ledger.v1");
}

/// Encoded `FileDescriptorSet` of every proto file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("ledger_descriptor");

pub use stored::{DecodeError, RecordedEvent};
