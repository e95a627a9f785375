//! Errors of the Hetzner client: the error codes the API sends, what went wrong with one
//! request ([`RequestError`]), and the module's [`Error`], which names the operation and
//! resource (`while creating server tc-prod-builder-arm64`) and keeps the cause as its
//! source. `Display` never repeats the source; the chain is printed once, at the edge.
//!
//! No variant carries the token: requests are described by method and path only.

use std::fmt;
use std::time::Duration;

use crate::error::{Class, Classify};

use super::ids::ActionId;

macro_rules! error_codes {
    ($($variant:ident => $text:literal,)*) => {
        /// An error code of the Hetzner API (`error.code` of an error answer), from the
        /// official error table, the per-operation tables and hcloud-go
        /// (reference/hcloud-api.md §3). Unknown codes are kept as [`ErrorCode::Other`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $text, "`")]
                $variant,
            )*
            /// A code this client does not know yet (kept verbatim).
            Other(String),
        }

        impl ErrorCode {
            /// The code as the API spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                    ErrorCode::Other(text) => text,
                }
            }

            /// The code for the API's spelling.
            pub fn parse(text: &str) -> ErrorCode {
                match text {
                    $($text => ErrorCode::$variant,)*
                    other => ErrorCode::Other(other.to_string()),
                }
            }
        }
    };
}

error_codes! {
    JsonError => "json_error",
    Unauthorized => "unauthorized",
    TokenReadonly => "token_readonly",
    Forbidden => "forbidden",
    Maintenance => "maintenance",
    ResourceLimitExceeded => "resource_limit_exceeded",
    LimitReached => "limit_reached",
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    UniquenessError => "uniqueness_error",
    Conflict => "conflict",
    DeprecatedApiEndpoint => "deprecated_api_endpoint",
    ResourceUnavailable => "resource_unavailable",
    InvalidInput => "invalid_input",
    ServiceError => "service_error",
    UnsupportedError => "unsupported_error",
    Locked => "locked",
    ResourceLocked => "resource_locked",
    Protected => "protected",
    RateLimitExceeded => "rate_limit_exceeded",
    ServerError => "server_error",
    BadGateway => "bad_gateway",
    Unavailable => "unavailable",
    Timeout => "timeout",
    UnknownError => "unknown_error",
    RobotUnavailable => "robot_unavailable",
    PlacementError => "placement_error",
    PlacementGroupMemberLimitReached => "placement_group_member_limit_reached",
    PrimaryIpAssigned => "primary_ip_assigned",
    PrimaryIpDatacenterMismatch => "primary_ip_datacenter_mismatch",
    PrimaryIpVersionMismatch => "primary_ip_version_mismatch",
    PrimaryIpAlreadyAssigned => "primary_ip_already_assigned",
    ServerNotStopped => "server_not_stopped",
    ServerHasIpv4 => "server_has_ipv4",
    ServerHasIpv6 => "server_has_ipv6",
    ServerIsLoadBalancerTarget => "server_is_load_balancer_target",
    AlreadyInPlacementGroup => "already_in_placement_group",
    ServerAlreadyAttached => "server_already_attached",
    IpNotAvailable => "ip_not_available",
    NoSubnetAvailable => "no_subnet_available",
    NetworksOverlap => "networks_overlap",
    InvalidServerType => "invalid_server_type",
    MustBeUnassigned => "must_be_unassigned",
    NotAssigned => "not_assigned",
    FloatingIpAssigned => "floating_ip_assigned",
    ServerAlreadyAdded => "server_already_added",
    IncompatibleNetworkType => "incompatible_network_type",
    FirewallResourceNotFound => "firewall_resource_not_found",
    FirewallAlreadyApplied => "firewall_already_applied",
    PrivateNetOnlyServer => "private_net_only_server",
    FirewallManagedByLabelSelector => "firewall_managed_by_label_selector",
    ResourceInUse => "resource_in_use",
    IpNotOwned => "ip_not_owned",
    LoadBalancerNotAttachedToNetwork => "load_balancer_not_attached_to_network",
    TargetAlreadyDefined => "target_already_defined",
    SourcePortAlreadyUsed => "source_port_already_used",
    LoadBalancerAlreadyAttached => "load_balancer_already_attached",
    InvalidLoadBalancerType => "invalid_load_balancer_type",
    ServerNotAttachedToNetwork => "server_not_attached_to_network",
    ActionFailed => "action_failed",
}

impl ErrorCode {
    /// Returns true if and only if a request that got this code may be sent again unchanged
    /// and succeed: the API was busy (rate limit, a running action, a concurrent change) or
    /// briefly broken. Exhaustive on purpose (style.md item 11): a new code forces a decision.
    pub fn is_retryable(&self) -> bool {
        match self {
            ErrorCode::RateLimitExceeded
            | ErrorCode::Locked
            | ErrorCode::ResourceLocked
            | ErrorCode::Conflict
            | ErrorCode::Timeout
            | ErrorCode::ServerError
            | ErrorCode::BadGateway
            | ErrorCode::Unavailable
            | ErrorCode::UnknownError
            | ErrorCode::ServiceError
            | ErrorCode::Maintenance
            | ErrorCode::NoSubnetAvailable => true,
            // Capacity: retrying the same location and type rarely helps at once; the
            // caller falls back to another location or type instead.
            ErrorCode::ResourceUnavailable | ErrorCode::PlacementError | ErrorCode::RobotUnavailable => false,
            ErrorCode::JsonError
            | ErrorCode::Unauthorized
            | ErrorCode::TokenReadonly
            | ErrorCode::Forbidden
            | ErrorCode::ResourceLimitExceeded
            | ErrorCode::LimitReached
            | ErrorCode::NotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::UniquenessError
            | ErrorCode::DeprecatedApiEndpoint
            | ErrorCode::InvalidInput
            | ErrorCode::UnsupportedError
            | ErrorCode::Protected
            | ErrorCode::PlacementGroupMemberLimitReached
            | ErrorCode::PrimaryIpAssigned
            | ErrorCode::PrimaryIpDatacenterMismatch
            | ErrorCode::PrimaryIpVersionMismatch
            | ErrorCode::PrimaryIpAlreadyAssigned
            | ErrorCode::ServerNotStopped
            | ErrorCode::ServerHasIpv4
            | ErrorCode::ServerHasIpv6
            | ErrorCode::ServerIsLoadBalancerTarget
            | ErrorCode::AlreadyInPlacementGroup
            | ErrorCode::ServerAlreadyAttached
            | ErrorCode::IpNotAvailable
            | ErrorCode::NetworksOverlap
            | ErrorCode::InvalidServerType
            | ErrorCode::MustBeUnassigned
            | ErrorCode::NotAssigned
            | ErrorCode::FloatingIpAssigned
            | ErrorCode::ServerAlreadyAdded
            | ErrorCode::IncompatibleNetworkType
            | ErrorCode::FirewallResourceNotFound
            | ErrorCode::FirewallAlreadyApplied
            | ErrorCode::PrivateNetOnlyServer
            | ErrorCode::FirewallManagedByLabelSelector
            | ErrorCode::ResourceInUse
            | ErrorCode::IpNotOwned
            | ErrorCode::LoadBalancerNotAttachedToNetwork
            | ErrorCode::TargetAlreadyDefined
            | ErrorCode::SourcePortAlreadyUsed
            | ErrorCode::LoadBalancerAlreadyAttached
            | ErrorCode::InvalidLoadBalancerType
            | ErrorCode::ServerNotAttachedToNetwork
            | ErrorCode::ActionFailed
            | ErrorCode::Other(_) => false,
        }
    }

    /// Returns true if and only if the code means "no capacity here" (try another location
    /// or server type).
    pub fn is_capacity(&self) -> bool {
        matches!(self, ErrorCode::ResourceUnavailable | ErrorCode::PlacementError)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong with one request (after any retries).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The API answered with an error.
    #[error("{method} {path}: the API answered {status} {code}: {message}")]
    Api {
        /// The request method.
        method: String,
        /// The request path (below the endpoint; no query).
        path: String,
        /// HTTP status.
        status: u16,
        /// `error.code` (for a body that was not a Hetzner error, derived from the status).
        code: ErrorCode,
        /// `error.message`, shortened.
        message: String,
        /// `X-Correlation-Id`, for Hetzner support.
        correlation_id: Option<String>,
    },
    /// The request could not be sent or its answer did not arrive.
    #[error("{method} {path}: no answer from the API")]
    Transport {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
        /// The cause (without the URL).
        #[source]
        source: reqwest::Error,
    },
    /// A create whose outcome is unknown (the connection dropped after it was sent, or a 5xx
    /// answer), and looking for the resource found nothing; not retried blindly.
    #[error("{method} {path}: the outcome is unknown ({reason})")]
    Ambiguous {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
        /// What happened ("connection closed", "503 unavailable").
        reason: String,
    },
    /// The answer was not what the API documents.
    #[error("{method} {path}: the answer could not be read")]
    Decode {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
}

impl RequestError {
    /// The API error code, when the API answered with one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            RequestError::Api { code, .. } => Some(code),
            RequestError::Transport { .. } | RequestError::Ambiguous { .. } | RequestError::Decode { .. } => None,
        }
    }

    /// Returns true if and only if the request may be sent again unchanged: a retryable
    /// code, or a transport failure of an idempotent request.
    pub fn is_retryable(&self) -> bool {
        match self {
            RequestError::Api { code, .. } => code.is_retryable(),
            RequestError::Transport { .. } => true,
            RequestError::Ambiguous { .. } | RequestError::Decode { .. } => false,
        }
    }
}

/// An error of the Hetzner client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No token configured.
    #[error("HCLOUD_TOKEN is not set: create an API token (Read & Write) in the Hetzner Console and export it")]
    MissingToken,
    /// The token has characters no token has (never shown).
    #[error("HCLOUD_TOKEN contains spaces or control characters; a token is 64 visible characters")]
    InvalidToken,
    /// `HCLOUD_ENDPOINT` is not a usable URL.
    #[error("HCLOUD_ENDPOINT '{endpoint}' is not usable: {reason}")]
    InvalidEndpoint {
        /// The endpoint, password redacted.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// A label breaks the Hetzner label rules.
    #[error("label {key}={value} is invalid: {reason}")]
    InvalidLabel {
        /// The key (shortened).
        key: String,
        /// The value (shortened).
        value: String,
        /// Which rule.
        reason: String,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("the HTTP client for the Hetzner API could not be set up")]
    Setup(#[source] reqwest::Error),
    /// A request of an operation failed.
    #[error("while {operation}")]
    Request {
        /// What was being done, naming the resource ("creating server tc-prod-cp-1").
        operation: String,
        /// The failed request.
        #[source]
        source: Box<RequestError>,
    },
    /// An awaited action ended in `error`.
    #[error("while {operation}: action {id} ({command}) failed with {code}: {message}")]
    ActionFailed {
        /// What was being done.
        operation: String,
        /// The action.
        id: ActionId,
        /// Its command (`create_image`).
        command: String,
        /// Its error code.
        code: ErrorCode,
        /// Its error message.
        message: String,
    },
    /// Actions were still running when the poll policy's deadline passed.
    #[error("while {operation}: actions {ids} still running after {waited:?}")]
    ActionTimeout {
        /// What was being done.
        operation: String,
        /// The running actions, comma-separated.
        ids: String,
        /// How long was waited.
        waited: Duration,
    },
}

impl Error {
    /// The API error code behind this error, if the API sent one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Request { source, .. } => source.code(),
            Error::ActionFailed { code, .. } => Some(code),
            Error::MissingToken
            | Error::InvalidToken
            | Error::InvalidEndpoint { .. }
            | Error::InvalidLabel { .. }
            | Error::Setup(_)
            | Error::ActionTimeout { .. } => None,
        }
    }

    /// Returns true if and only if doing the same operation again may succeed. Exhaustive.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Request { source, .. } => source.is_retryable(),
            Error::ActionFailed { .. } | Error::ActionTimeout { .. } => false,
            Error::MissingToken
            | Error::InvalidToken
            | Error::InvalidEndpoint { .. }
            | Error::InvalidLabel { .. }
            | Error::Setup(_) => false,
        }
    }
}

/// Maps a request error to [`Error::Request`] naming `operation`.
pub(super) fn during(operation: impl Into<String>) -> impl FnOnce(RequestError) -> Error {
    let operation = operation.into();
    move |source| Error::Request {
        operation,
        source: Box::new(source),
    }
}

/// Returns true if and only if the request failed because the resource does not exist.
pub(super) fn is_not_found(error: &RequestError) -> bool {
    error.code() == Some(&ErrorCode::NotFound)
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::MissingToken | Error::InvalidToken | Error::InvalidEndpoint { .. } | Error::InvalidLabel { .. } => {
                Class::InvalidInput
            }
            Error::Setup(_) | Error::Request { .. } | Error::ActionFailed { .. } | Error::ActionTimeout { .. } => {
                Class::Failed
            }
        }
    }

    fn hints(&self) -> Vec<String> {
        match self.code() {
            Some(ErrorCode::Unauthorized) => vec!["check HCLOUD_TOKEN: the API did not accept it".into()],
            Some(ErrorCode::TokenReadonly) => vec!["the token is read-only; create a Read & Write token".into()],
            Some(ErrorCode::ResourceLimitExceeded) => {
                vec!["a project limit is reached; ask Hetzner support to raise it or delete unused resources".into()]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_classify() {
        for text in [
            "locked",
            "conflict",
            "rate_limit_exceeded",
            "timeout",
            "placement_error",
        ] {
            assert_eq!(ErrorCode::parse(text).as_str(), text);
        }
        assert_eq!(ErrorCode::parse("brand_new"), ErrorCode::Other("brand_new".into()));
        assert!(ErrorCode::Locked.is_retryable());
        assert!(ErrorCode::RateLimitExceeded.is_retryable());
        assert!(ErrorCode::Conflict.is_retryable());
        assert!(!ErrorCode::InvalidInput.is_retryable());
        assert!(!ErrorCode::UniquenessError.is_retryable());
        assert!(!ErrorCode::ResourceLimitExceeded.is_retryable());
        assert!(!ErrorCode::Other("brand_new".into()).is_retryable());
        assert!(ErrorCode::ResourceUnavailable.is_capacity());
    }

    #[test]
    fn display_names_the_operation_and_not_the_source() {
        let error = Error::Request {
            operation: "creating server tc-prod-builder-arm64".into(),
            source: Box::new(RequestError::Api {
                method: "POST".into(),
                path: "/servers".into(),
                status: 422,
                code: ErrorCode::InvalidInput,
                message: "invalid input in field 'name'".into(),
                correlation_id: None,
            }),
        };
        assert_eq!(error.to_string(), "while creating server tc-prod-builder-arm64");
        assert_eq!(
            std::error::Error::source(&error).map(ToString::to_string).as_deref(),
            Some("POST /servers: the API answered 422 invalid_input: invalid input in field 'name'")
        );
        assert_eq!(error.class(), Class::Failed);
    }
}
