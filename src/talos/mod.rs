//! Talos Linux: secrets bundle, machine configuration and the Talos API client.
