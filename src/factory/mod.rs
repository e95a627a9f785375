//! The Talos Image Factory: schematics and their IDs, the HTTP client, image streams.
