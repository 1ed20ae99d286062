//! Free loopback ports for the private servers.
//!
//! The kernel picks an unused port for a throw-away listener, which is then
//! closed so the server can bind it. Another process could grab the port in
//! between; callers handle that by retrying the start once on a fresh port
//! rather than by anything cleverer here.

use std::net::TcpListener;

use super::Error;

/// Returns a loopback TCP port that was unused a moment ago.
pub fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("binding 127.0.0.1:0 to find a free port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("reading the address of a probe listener", e))?
        .port();
    Ok(port)
}
