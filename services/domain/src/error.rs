//! Errors of the domain: a malformed value (names the field) or a broken rule (names the rule).
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// The input has the wrong shape; `field` is a path such as `events[0].payload.country`.
    #[error("invalid {field}: {reason}")]
    Validation { field: String, reason: String },
    /// The input is well-formed but the current state forbids it.
    #[error("rule `{rule}` broken: {detail}")]
    Rule { rule: &'static str, detail: String },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation { field: field.into(), reason: reason.into() }
    }

    pub fn rule(rule: &'static str, detail: impl Into<String>) -> Self {
        Self::Rule { rule, detail: detail.into() }
    }

    /// Says where the error is: prefixes a validation error's field path (e.g. with `events[2].`) and a broken
    /// rule's detail (`events[2]: ...`).
    #[must_use]
    pub fn in_field(self, prefix: &str) -> Self {
        match self {
            Self::Validation { field, reason } => Self::Validation { field: format!("{prefix}{field}"), reason },
            Self::Rule { rule, detail } => {
                Self::Rule { rule, detail: format!("{}: {detail}", prefix.trim_end_matches('.')) }
            }
        }
    }
}

/// A value from outside, quoted for an error message: whole if short, else its first [`ECHO_CHARS`] characters
/// and its length, so that a huge input is never sent back whole (in `grpc-message`, in logs).
pub fn echo(value: &str) -> String {
    match value.char_indices().nth(ECHO_CHARS) {
        None => format!("{value:?}"),
        Some((end, _)) => format!("{:?}… ({} bytes)", &value[..end], value.len()),
    }
}

/// How much of an outside value an error message quotes.
pub const ECHO_CHARS: usize = 40;

#[cfg(test)]
mod echo_tests {
    use super::*;

    #[test]
    fn a_short_value_is_quoted_whole_and_a_long_one_cut_with_its_length() {
        assert_eq!(echo("se"), "\"se\"");
        let long = "é".repeat(3_000_000);
        let quoted = echo(&long);
        assert!(quoted.len() < 120, "{quoted}");
        assert!(quoted.ends_with("… (6000000 bytes)"), "{quoted}");
    }
}
