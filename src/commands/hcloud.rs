//! The Hetzner client of the commands that talk to the API, from `--hcloud-endpoint` and
//! HCLOUD_TOKEN (the token is checked before any request and never shown).

use talos_hcloud::hcloud::{Client, Credentials, Endpoint, Token};

use super::CliError;
use crate::cli::GlobalArgs;

/// A client for the endpoint and token of the global options.
///
/// # Errors
/// Exit 2 when the token is missing or malformed or the endpoint is not a URL.
pub fn client(global: &GlobalArgs) -> Result<Client, CliError> {
    let token = global
        .hcloud_token
        .as_ref()
        .map_or_else(|| Token::new(""), |token| Token::new(token.expose().as_str()))?;
    let endpoint = Endpoint::parse(&global.hcloud_endpoint)?;
    Ok(Client::new(Credentials { token, endpoint })?)
}
