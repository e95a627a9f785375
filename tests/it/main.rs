//! Integration tests: one binary, a module per area. Each test that needs the emulator
//! starts its own on 127.0.0.1:0 through `harness`.

mod cli;
mod harness;
mod talos_patch;
mod talos_schema;
mod talos_validate;
