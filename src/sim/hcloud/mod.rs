//! The emulated Hetzner Cloud API v1, served over HTTP on loopback.
