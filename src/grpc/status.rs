//! The one place where errors become gRPC statuses.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::Error;

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let message = err.to_string();
        match err {
            Error::Invalid(errs) => {
                let mut details = ErrorDetails::new();
                for e in errs.iter() {
                    details.add_bad_request_violation(e.field.as_str(), e.body());
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::NotFound { .. } => Status::not_found(message),
            Error::FailedPrecondition(_) => Status::failed_precondition(message),
            Error::LimitExceeded { .. } => Status::resource_exhausted(message),
            Error::Unavailable(_) => Status::unavailable(message),
        }
    }
}

/// tonic reports a message over the decoding limit as `OUT_OF_RANGE`; the API promises
/// `RESOURCE_EXHAUSTED` naming the limit. Recognized by tonic's wording.
pub(crate) fn is_message_too_large(code: Code, message: &str) -> bool {
    code == Code::OutOfRange && message.contains("message length too large")
}

/// Rewrites tonic's oversized-message status into the API's.
pub(crate) fn message_too_large(message: &str) -> Status {
    Status::resource_exhausted(format!(
        "max message size exceeded (--max-message-bytes): {message}"
    ))
}
