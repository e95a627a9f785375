//! The Talos API (apid) client: gRPC over mutual TLS, maintenance and configured modes.
