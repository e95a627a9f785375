//! Command dispatch: one file per command, each resolving its arguments into plain values,
//! calling the library and returning a [`Report`] for the printer.

mod apply;
mod completions;
mod config;
mod destroy;
mod doctor;
mod factory;
mod hcloud;
mod image;
mod node;
mod plan;
mod schematic;
mod secrets;
mod sim;
mod sim_node;
mod sim_serve;
mod status;
mod talos;
mod talos_gen_config;
mod talos_version;
mod up;
mod validate;

use std::error::Error as StdError;
use std::fmt;

use talos_hcloud::error::{Class, Classify};

use talos_hcloud::interrupt::Interrupt;

use crate::cli::{Cli, Command, ImageCommand};
use crate::printer::Printer;

/// Runs the parsed command line. Ctrl-C stops a command (its future is dropped, so its
/// cleanup guards run) and yields an `interrupted` error (exit 3); `sim` and `sim node`
/// serve until Ctrl-C, so for them it is the normal way to stop. `image build` and `image
/// rebuild` handle SIGINT and SIGTERM themselves (their cleanup deletes cloud resources,
/// which needs the future alive), and so do `apply`, `up` and `node replace` (a node
/// replacement stops between two steps).
pub async fn run(cli: Cli, printer: &Printer) -> Result<(), CliError> {
    let handles_signals = matches!(
        cli.command,
        Command::Sim(_)
            | Command::Apply(_)
            | Command::Up(_)
            | Command::Image(ImageCommand::Build(_) | ImageCommand::Rebuild(_))
            | Command::Node(_)
    );
    if handles_signals {
        return dispatch(cli, printer).await;
    }
    tokio::select! {
        outcome = dispatch(cli, printer) => outcome,
        signal = tokio::signal::ctrl_c() => match signal {
            Ok(()) => Err(CliError::interrupted()),
            Err(e) => Err(CliError::failed(format!("cannot listen for Ctrl-C: {e}"))),
        },
    }
}

async fn dispatch(cli: Cli, printer: &Printer) -> Result<(), CliError> {
    match cli.command {
        Command::Completions(args) => completions::completions(&args, printer),
        Command::Config(command) => config::run(command, &cli.global, printer).await,
        Command::Man(args) => completions::man(&args, printer),
        Command::Secrets(args) => secrets::run(args, &cli.global, printer),
        Command::Sim(args) => sim::run(args, printer).await,
        Command::Talos(args) => talos::run(args, printer).await,
        Command::Validate => validate::run(&cli.global.config, printer),
        Command::Schematic(command) => schematic::run(command, &cli.global, printer).await,
        Command::Factory(command) => factory::run(command, &cli.global, printer).await,
        Command::Image(command) => image::run(command, &cli.global, printer).await,
        Command::Plan(args) => plan::run(&args, &cli.global, printer).await,
        Command::Apply(args) => apply::run(&args, &cli.global, printer).await,
        Command::Up(args) => up::run(&args, &cli.global, printer).await,
        Command::Destroy(args) => destroy::run(&args, &cli.global, printer).await,
        Command::Doctor => doctor::run(&cli.global, printer).await,
        Command::Status(args) => status::run(&args, &cli.global, printer).await,
        Command::Node(command) => node::run(command, &cli.global, printer).await,
    }
}

/// SIGINT (Ctrl-C) and SIGTERM from now on, counted (see [`Interrupt`]).
///
/// # Errors
/// Exit 1 when the signal handlers cannot be installed.
pub fn signals() -> Result<Interrupt, CliError> {
    Interrupt::from_signals().map_err(|e| CliError::failed(format!("cannot listen for SIGINT/SIGTERM: {e}")))
}

/// Shows `intro` on the terminal and asks for `expected` to be typed after `prompt`;
/// whether the answer matched, or `None` when there is no terminal to ask on.
///
/// # Errors
/// Exit 2 when the answer cannot be read.
fn ask_to_type(intro: &str, prompt: &str, expected: &str) -> Result<Option<bool>, CliError> {
    use std::io::{BufRead, IsTerminal, Write};
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Ok(None);
    }
    crate::printer::stderr_line(format_args!("{intro}"));
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{prompt}");
    let _ = stderr.flush();
    drop(stderr);
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::invalid(format!("cannot read the confirmation: {e}")))?;
    Ok(Some(answer.trim() == expected))
}

/// A failed command: the error chain, its class (which sets the exit code) and hints.
pub struct CliError {
    class: Class,
    context: Option<String>,
    error: Box<dyn StdError + Send + Sync + 'static>,
    hints: Vec<String>,
    details: Option<Box<serde_json::Value>>,
    silent: bool,
}

impl CliError {
    /// Invalid input or usage detected by the command itself (exit 2).
    pub fn invalid(message: impl Into<String>) -> Self {
        CliError::with_class(Class::InvalidInput, message)
    }

    /// The run was interrupted by Ctrl-C after the command's cleanup ran (exit 3).
    pub fn interrupted() -> Self {
        CliError::with_class(Class::Interrupted, "interrupted")
    }

    /// An operation failed (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        CliError::with_class(Class::Failed, message)
    }

    fn with_class(class: Class, message: impl Into<String>) -> Self {
        CliError {
            class,
            context: None,
            error: message.into().into(),
            hints: Vec::new(),
            details: None,
            silent: false,
        }
    }

    /// Exit 2 with nothing more printed: `plan --detailed-exitcode` found changes
    /// (terraform's convention); the result is already on stdout.
    pub fn changes_pending() -> Self {
        CliError {
            silent: true,
            ..CliError::with_class(Class::InvalidInput, "changes pending")
        }
    }

    /// Returns true if and only if the exit code is the whole message (nothing to print).
    pub fn is_silent(&self) -> bool {
        self.silent
    }

    /// Adds what was being done, printed before the cause: `while reading FILE`.
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Adds a `hint: …` line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// The class of the failure.
    pub fn class(&self) -> Class {
        self.class
    }

    /// The messages of the chain, outermost first: context (if any), error, its sources.
    pub fn chain(&self) -> Vec<String> {
        let mut chain: Vec<String> = self.context.iter().cloned().collect();
        chain.extend(talos_hcloud::error::chain(&*self.error));
        chain
    }

    /// The `hint: …` lines.
    pub fn hints(&self) -> &[String] {
        &self.hints
    }

    /// Adds structured facts for the JSON error document (`"details"`).
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// Structured facts for the JSON error document (e.g. diagnostics), if any.
    pub fn details(&self) -> Option<&serde_json::Value> {
        self.details.as_deref()
    }
}

impl<E> From<E> for CliError
where
    E: StdError + Classify + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        CliError {
            class: error.class(),
            context: None,
            hints: error.hints(),
            details: error.details().map(Box::new),
            error: Box::new(error),
            silent: false,
        }
    }
}

impl fmt::Debug for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CliError")
            .field("class", &self.class)
            .field("chain", &self.chain())
            .finish()
    }
}
