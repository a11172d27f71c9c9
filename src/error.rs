//! The errors a request can end with, in domain terms. `grpc::status` maps them to gRPC
//! status codes in one place.

use crate::domain::validate::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed or invalid field; every error names its field path.
    #[error("{}", .0.to_strings().join("; "))]
    Invalid(FieldErrors),
    #[error("{kind} {name:?} not found")]
    NotFound { kind: &'static str, name: String },
    /// A protocol misuse, e.g. `RESYNC_END` with no open resync.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A size or count limit exceeded; says which limit and its value.
    #[error("{what} exceeds the limit of {limit}")]
    LimitExceeded { what: String, limit: u64 },
    /// Overload or shutdown: the caller should retry, elsewhere or later.
    #[error("{0}")]
    Unavailable(String),
}

impl From<FieldErrors> for Error {
    fn from(errs: FieldErrors) -> Self {
        Error::Invalid(errs)
    }
}

impl From<crate::domain::validate::FieldError> for Error {
    fn from(err: crate::domain::validate::FieldError) -> Self {
        Error::Invalid(vec![err].into())
    }
}
