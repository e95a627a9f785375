//! The `cluster.yaml` model: loading, validation and diagnostics (issue: foundation).
