//! talos-hcloud is to take a Talos Linux Kubernetes cluster on Hetzner Cloud from nothing
//! to running, replacing a Packer template, an OpenTofu layer and the Talos Terraform
//! provider with one idempotent binary. Today it checks the cluster description, computes
//! and pushes schematics, builds, lists and prunes Talos snapshots ([`image`]), generates
//! secrets, machine configs and talosconfig, plans the cluster against what Hetzner holds,
//! destroys it and checks a project ([`cluster`]), and talks to nodes over the Talos API;
//! applying the plan (`apply`, `up`) and the node runbook ([`node`] holds its Kubernetes
//! and etcd parts) come next.
//!
//! This library holds everything but the terminal: the binary (`src/main.rs`, `src/cli.rs`,
//! `src/commands/`) parses arguments, renders output and decides the exit code. Data flows
//! one way: [`spec`] → ([`factory`], [`talos`]) → plans → cloud, SSH and Talos API effects;
//! [`yaml`] is the go-yaml-compatible YAML model that schematics and machine configs share.
//! [`sim`] is the local emulator of Hetzner Cloud, the Image Factory and Talos nodes; it
//! shares wire types with the client side but no behaviour.

pub mod cluster;
pub mod error;
pub mod excerpt;
pub mod factory;
pub mod hcloud;
pub mod image;
pub mod input_file;
pub mod interrupt;
pub mod lock;
pub mod node;
pub mod redact;
pub mod retry;
pub mod secure_file;
pub mod sim;
pub mod spec;
pub mod ssh;
pub mod suggest;
pub mod talos;
pub mod yaml;
