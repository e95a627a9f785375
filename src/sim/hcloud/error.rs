//! The Hetzner error envelope: `{"error": {"code", "message", "details"}}` with the HTTP
//! status the real API pairs with each code (reference `hcloud-api.md` §3).

use serde_json::{Value, json};

/// An error the emulated API answers with. Built by the state model, rendered by `http`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The Hetzner error code (`not_found`, `invalid_input`, `locked`, …).
    pub code: String,
    /// The human-readable message.
    pub message: String,
    /// `details` (fields for `invalid_input`, `uniqueness_error`, …); `{}` otherwise.
    /// Boxed to keep `Result<_, ApiError>` small.
    pub details: Box<Value>,
}

impl ApiError {
    /// An error with an explicit status and code and empty details.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            details: Box::new(json!({})),
        }
    }

    /// 404 `not_found` for a resource kind and ID.
    pub fn not_found(kind: &str, id: u64) -> Self {
        ApiError::new(404, "not_found", format!("{kind} with ID '{id}' not found"))
    }

    /// 422 `invalid_input` for one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::invalid_fields(vec![(field.to_string(), message.into())])
    }

    /// 422 `invalid_input` for several fields (name, message).
    pub fn invalid_fields(fields: Vec<(String, String)>) -> Self {
        let first = fields.first().map(|(name, _)| name.clone()).unwrap_or_default();
        let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
        for (name, message) in fields {
            match grouped.iter_mut().find(|(n, _)| *n == name) {
                Some((_, messages)) => messages.push(message),
                None => grouped.push((name, vec![message])),
            }
        }
        let details = json!({
            "fields": grouped
                .into_iter()
                .map(|(name, messages)| json!({"name": name, "messages": messages}))
                .collect::<Vec<_>>()
        });
        ApiError {
            status: 422,
            code: "invalid_input".to_string(),
            message: format!("invalid input in field '{first}'"),
            details: Box::new(details),
        }
    }

    /// 422 `invalid_input` that concerns no single field.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        ApiError::new(422, "invalid_input", message)
    }

    /// 409 `uniqueness_error` naming the colliding field.
    pub fn uniqueness(field: &str, message: impl Into<String>) -> Self {
        let mut error = ApiError::new(409, "uniqueness_error", message);
        error.details = Box::new(json!({"fields": [{"name": field}]}));
        error
    }

    /// 423 `locked`: an action is running on the resource.
    pub fn locked(kind: &str) -> Self {
        ApiError::new(
            423,
            "locked",
            format!("cannot perform operation because {kind} is locked"),
        )
    }

    /// 409 `conflict`: the resource is being changed by another request.
    pub fn conflict(kind: &str) -> Self {
        ApiError::new(
            409,
            "conflict",
            format!("{kind} is currently being modified by another request, please try again"),
        )
    }

    /// 423 `protected`: protection blocks the operation.
    pub fn protected(kind: &str) -> Self {
        ApiError::new(423, "protected", format!("{kind} is protected"))
    }

    /// 422 with an operation-specific code (`server_not_stopped`, `must_be_unassigned`, …).
    pub fn unprocessable(code: &str, message: impl Into<String>) -> Self {
        ApiError::new(422, code, message)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message, "details": self.details}})
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
