//! The `talos-hcloud` binary: parse, initialise logging, run, map the outcome to an exit
//! code. Everything that touches the terminal lives here, in `cli`, `commands` and
//! `printer`; the library (`talos_hcloud`) never prints.

mod cli;
mod commands;
mod printer;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, OutputFormat};
use commands::CliError;
use printer::Printer;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose, cli.global.output);
    let printer = Printer::new(cli.global.output, cli.global.verbose, cli.global.quiet);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli, &printer)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report_error(&printer, &error);
            ExitCode::from(error.class().exit_code())
        }
    }
}

/// Logs go to stderr through tracing: warnings by default, more with each `-v`, JSON lines
/// with `--output json`. `TALOS_HCLOUD_LOG` (an `EnvFilter` directive) overrides the level.
fn init_tracing(verbose: u8, format: OutputFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("TALOS_HCLOUD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        OutputFormat::Json => builder.json().try_init(),
        OutputFormat::Text => builder.try_init(),
    };
}

/// Prints `error: …`, one `caused by: …` per source and `hint: …` lines on stderr; with
/// `--output json` the same facts form one JSON document on stdout.
fn report_error(printer: &Printer, error: &CliError) {
    let chain = error.chain();
    match printer.format() {
        OutputFormat::Json => {
            let mut document = serde_json::json!({
                "ok": false,
                "error": {
                    "class": error.class().as_str(),
                    "exit_code": error.class().exit_code(),
                    "message": chain.first().cloned().unwrap_or_default(),
                    "causes": chain.iter().skip(1).collect::<Vec<_>>(),
                    "hints": error.hints(),
                }
            });
            if let Some(details) = error.details() {
                document["error"]["details"] = details.clone();
            }
            printer.result(&printer::Report::new(String::new(), document));
        }
        OutputFormat::Text => {
            let mut lines = chain.iter();
            if let Some(first) = lines.next() {
                eprintln!("error: {first}");
            }
            for cause in lines {
                eprintln!("  caused by: {cause}");
            }
            for hint in error.hints() {
                eprintln!("hint: {hint}");
            }
        }
    }
}
