//! The request log tests read: one record per API request (control routes excluded), with
//! both JSON bodies, so a test can assert "no API call was made" or count retries.

use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

/// One request as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path as requested, including `/v1`.
    pub path: String,
    /// The raw query string (empty if none).
    pub query: String,
    /// The HTTP status sent; 0 when the connection was dropped instead (fault `drop`).
    pub status: u16,
    /// The request body, when it was JSON.
    pub request_body: Option<Value>,
    /// The response body, when it was JSON. For a dropped connection: what would have been
    /// sent (the mutation was applied).
    pub response_body: Option<Value>,
    /// When the request arrived (real time).
    #[serde(serialize_with = "serialize_time")]
    pub at: SystemTime,
    /// The injected fault that shaped this answer (`503`, `drop`, `429`, …), if any.
    pub fault: Option<String>,
    /// The client's `User-Agent`, so benchmarks can tell the tool's requests from those of
    /// the emulated nodes (the Talos VIP controller calls the API too).
    pub user_agent: Option<String>,
}

fn serialize_time<S: serde::Serializer>(at: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::sim::clock::rfc3339(*at))
}

/// The log, shared by the HTTP layer and the test controls.
#[derive(Debug, Default)]
pub struct RequestLog {
    records: Mutex<Vec<RequestRecord>>,
}

impl RequestLog {
    /// Appends a record.
    pub fn push(&self, record: RequestRecord) {
        self.lock().push(record);
    }

    /// A copy of every record so far.
    pub fn snapshot(&self) -> Vec<RequestRecord> {
        self.lock().clone()
    }

    /// Forgets every record.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RequestRecord>> {
        crate::lock::lock(&self.records)
    }
}
