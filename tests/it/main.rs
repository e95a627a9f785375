//! Integration tests: one binary, a module per area. Each test that needs the emulator
//! starts its own on 127.0.0.1:0 through `harness`.

mod cli;
mod cluster_destroy;
mod config_gen;
mod doctor;
mod factory;
mod factory_server;
mod harness;
mod hcloud_cli;
mod hcloud_client;
mod openapi;
mod python_client;
mod schematic;
mod secrets;
mod sim_cli;
mod sim_common;
mod sim_core;
mod sim_crate;
mod sim_e2e;
mod sim_factory;
mod sim_faults;
mod sim_machines;
mod sim_rescue;
mod sim_resources;
mod sim_servers;
mod sim_traffic;
mod snapshots;
mod spec;
mod ssh;
mod talos_api;
mod talos_config;
mod talos_golden;
mod talos_nodes;
mod talos_patch;
mod talos_schema;
mod talos_validate;
