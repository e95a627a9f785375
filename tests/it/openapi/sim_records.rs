//! The adapter from the emulator's request log to the conformance checker:
//! `openapi::assert_conforms(&sim.request_log())` works on the log as it is.

use serde_json::Value;

use super::Exchange;

impl Exchange for talos_hcloud::sim::RequestRecord {
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
