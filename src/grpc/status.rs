//! The one place where errors become gRPC statuses.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::Error;

/// Longest status message, in bytes. Messages travel in HTTP/2 headers; one that echoes a
/// huge input would exceed the peer's header list limit and kill the whole connection.
pub const MAX_STATUS_MESSAGE: usize = 2048;
/// Longest description of one `BadRequest` field violation, and most violations attached.
const MAX_VIOLATION: usize = 256;
const MAX_VIOLATIONS: usize = 16;

/// `text` cut to at most `max` bytes on a character boundary, saying how much was cut.
pub fn bounded(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let total = text.len();
    let mut cut = max.saturating_sub(40);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!("… ({} more bytes)", total - cut));
    text
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let message = bounded(err.to_string(), MAX_STATUS_MESSAGE);
        match err {
            Error::Invalid(errs) => {
                let mut details = ErrorDetails::new();
                for e in errs.iter().take(MAX_VIOLATIONS) {
                    details.add_bad_request_violation(
                        bounded(e.field.as_str().to_owned(), MAX_VIOLATION),
                        bounded(e.body(), MAX_VIOLATION),
                    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_cuts_on_a_char_boundary() {
        assert_eq!(bounded("short".into(), 100), "short");
        let long = "é".repeat(5000);
        let cut = bounded(long, 1000);
        assert!(cut.len() <= 1000, "{}", cut.len());
        assert!(cut.ends_with("more bytes)"));
    }

    #[test]
    fn huge_inputs_make_small_statuses() {
        let err = Error::NotFound {
            kind: "node",
            name: "x".repeat(1 << 20),
        };
        let status = Status::from(err);
        assert_eq!(status.code(), Code::NotFound);
        assert!(status.message().len() <= MAX_STATUS_MESSAGE);
    }
}
