//! The `talos-hcloud` binary: parse, initialise logging, run, map the outcome to an exit
//! code. Everything that touches the terminal lives here, in `cli`, `commands` and
//! `printer`; the library (`talos_hcloud`) never prints.

mod cli;
mod commands;
mod printer;

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use cli::OutputFormat;
use commands::CliError;
use printer::Printer;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    init_tracing(cli.global.verbose, cli.global.output);
    let printer = Printer::new(cli.global.output, cli.global.verbose, cli.global.quiet);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            printer::stderr_line(format_args!("error: cannot start the async runtime: {e}"));
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
/// with `--output json`. `TALOS_HCLOUD_LOG` (an `EnvFilter` directive) overrides the level
/// unless it is empty.
fn init_tracing(verbose: u8, format: OutputFormat) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // Set but empty counts as unset, as for every other variable (see `cli::parse`).
    let filter = std::env::var("TALOS_HCLOUD_LOG")
        .ok()
        .filter(|directives| !directives.is_empty())
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
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
    if error.is_silent() {
        return;
    }
    let chain = error.chain();
    match printer.format() {
        OutputFormat::Json => {
            // `details` is always there (`{}` when the error has none), so scripts can
            // read `.error.details.diagnostics` without testing for the key first.
            let document = serde_json::json!({
                "ok": false,
                "error": {
                    "class": error.class().as_str(),
                    "exit_code": error.class().exit_code(),
                    "message": chain.first().cloned().unwrap_or_default(),
                    "causes": chain.iter().skip(1).collect::<Vec<_>>(),
                    "hints": error.hints(),
                    "details": error.details().cloned().unwrap_or_else(|| serde_json::json!({})),
                }
            });
            printer.result(&printer::Report::new(String::new(), document));
        }
        OutputFormat::Text => {
            let mut lines = chain.iter();
            if let Some(first) = lines.next() {
                printer::stderr_line(format_args!("error: {first}"));
            }
            for cause in lines {
                printer::stderr_line(format_args!("  caused by: {cause}"));
            }
            for hint in error.hints() {
                printer::stderr_line(format_args!("hint: {hint}"));
            }
        }
    }
}

/// A command line clap refused. `--help` and `--version` print as clap does (exit 0);
/// a usage error is clap's text on stderr (exit 2), or with `--output json` one error
/// document on stdout, like every other failure.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if informational || !json_requested(std::env::args_os().skip(1)) {
        let _ = error.print();
        return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
    }
    let rendered = error.render().to_string();
    let mut paragraphs = rendered.split("\n\n").map(str::trim).filter(|p| !p.is_empty());
    let message = paragraphs.next().unwrap_or_default();
    let message = message.strip_prefix("error: ").unwrap_or(message);
    let mut cli_error = CliError::invalid(message.to_owned());
    for paragraph in paragraphs {
        cli_error = cli_error.hint(paragraph.to_owned());
    }
    report_error(&Printer::new(OutputFormat::Json, 0, false), &cli_error);
    ExitCode::from(cli_error.class().exit_code())
}

/// Returns true if and only if the raw arguments ask for JSON output (`--output json` or
/// `--output=json`), for errors found before the arguments could be parsed.
fn json_requested(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let mut previous_was_flag = false;
    for arg in args {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            return false;
        }
        if arg == "--output=json" || (previous_was_flag && arg == "json") {
            return true;
        }
        previous_was_flag = arg == "--output";
    }
    false
}

#[cfg(test)]
mod tests {
    use super::json_requested;

    fn asks(args: &[&str]) -> bool {
        json_requested(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn json_is_recognised_in_both_spellings_and_nowhere_else() {
        assert!(asks(&["--output", "json", "validate", "--bogus"]));
        assert!(asks(&["validate", "--output=json"]));
        assert!(!asks(&["validate", "--output", "text"]));
        assert!(!asks(&[
            "talos",
            "gen",
            "config",
            "json",
            "https://x:6443",
            "--output-dir",
            "json"
        ]));
        assert!(!asks(&["schematic", "id", "--", "--output", "json"]));
        assert!(!asks(&[]));
    }
}
