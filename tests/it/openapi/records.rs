//! The record types the checker reads: the emulator's own `RequestRecord`, so
//! `openapi::assert_conforms(&sim.request_log())` works on the log as it is, and
//! [`RecordedExchange`], the same facts owned, for traffic logged elsewhere (the standalone
//! emulator's JSON log, hcloud-python's `selftest.py`) or written by hand in tests.

use serde_json::Value;

use super::Exchange;

/// One exchange with the fields of the emulator's `RequestRecord` (without its time and
/// fault), as its JSON log and `selftest.py` write them.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RecordedExchange {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path as requested, with `/v1`.
    pub path: String,
    /// Raw query string without `?`.
    pub query: String,
    /// Response status.
    pub status: u16,
    /// JSON request body, if any.
    pub request_body: Option<Value>,
    /// JSON response body, if any.
    pub response_body: Option<Value>,
}

/// `Exchange` for a record type that keeps the six facts in fields of these names.
macro_rules! exchange_by_fields {
    ($record:ty) => {
        impl Exchange for $record {
            fn method(&self) -> &str {
                &self.method
            }
            fn path(&self) -> &str {
                &self.path
            }
            fn query(&self) -> &str {
                &self.query
            }
            fn status(&self) -> u16 {
                self.status
            }
            fn request_body(&self) -> Option<&Value> {
                self.request_body.as_ref()
            }
            fn response_body(&self) -> Option<&Value> {
                self.response_body.as_ref()
            }
        }
    };
}

exchange_by_fields!(talos_hcloud::sim::RequestRecord);
exchange_by_fields!(RecordedExchange);
