//! Binding the emulator's TCP listeners (Hetzner API, Image Factory), with the one error
//! they report when the address is taken or not available.

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// A listener could not be bound (or its address not read).
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}")]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr` and returns the listener with the address it got (port 0 picks one).
///
/// # Errors
/// [`BindError`] naming `addr`.
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), BindError> {
    let fail = |source| BindError { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(fail)?;
    let bound = listener.local_addr().map_err(fail)?;
    Ok((listener, bound))
}
