//! Switching protocols (RFC 9110 §7.8): a handler answers `101 Switching
//! Protocols` and takes the connection over, in the connection's own
//! coroutine, for WebSocket (see `ws`) or any other protocol.
//!
//! # The handshake
//!
//! A handler answers [`Response::upgrade`]: the 101 with its `Upgrade`
//! field, and the closure to run once it is sent. The connection loop
//! (`conn`) hands such a response to [`switch_protocols`], which:
//!
//! 1. refuses a 101 that carries no closure (`Response::new(101)`): there
//!    is nothing to hand the connection to. The client gets a 500 and the
//!    log says how to upgrade;
//! 2. refuses a 101 to a request that did not ask for it: an HTTP/1.1
//!    request with `Connection: upgrade` and an `Upgrade` field that
//!    names every protocol of the response's `Upgrade` (a server must not
//!    switch to a protocol the client did not offer, RFC 9110 §7.8). An
//!    HTTP/1.0 request cannot upgrade. Also a 500, logged: the handler is
//!    at fault, not the client;
//! 3. reads what is left of the request's body (RFC 9110 §7.8 lets the
//!    server read the whole request before it switches): the new protocol
//!    starts after the body, so a body must be read to its end, within
//!    the body limit, whether the handler read it or not. A body that
//!    breaks (too large, malformed, the client gone) is answered with its
//!    error instead of the 101;
//! 4. writes the 101 (with `Connection: upgrade`, and no length: a 1xx
//!    has no body) and sends it with every response before it.
//!
//! Then the connection leaves the HTTP loop for good ([`run_upgraded`]):
//! its registry entry is marked upgraded, the read timeout is lifted (the
//! write timeout stays), and the closure runs with an [`Upgraded`]: the
//! connection's stream, which reads first the bytes already buffered
//! behind the request (a client may send its first frames with the
//! upgrade request), then the socket. When the closure returns, the
//! connection closes and leaves the registry. A panic in it is logged and
//! ends only that connection. Until then the connection keeps its place
//! under the connection cap ([`Builder::max_connections`]), as any open
//! connection does.
//!
//! [`Builder::max_connections`]: crate::Builder::max_connections
//!
//! # Shutdown
//!
//! An upgraded connection is neither idle nor busy for the shutdown (see
//! `server`): it is not closed as idle, and it has no request to finish.
//! Instead the shutdown interrupts its read once
//! (`TcpStream::interrupt_read`): a read blocked in the closure then
//! returns `WouldBlock` (consuming nothing), and
//! [`Upgraded::is_shutting_down`] says why. The protocol says goodbye in
//! its own way (the `ws` helper sends a close frame with code 1001, "going
//! away", and waits for the peer's) and returns. This costs nothing while
//! no shutdown runs: no timer, no wake-up, one bit in a word the socket's
//! reads look at anyway. Connections still open at the end of the grace
//! period are shut like any other, so their reads and writes fail.
//!
//! Only the server's own TCP sockets can be interrupted. An upgraded
//! connection served over another [`Transport`](crate::Transport) learns
//! of the shutdown only when its socket is shut at the end of the grace
//! period, or if it looks at [`Upgraded::is_shutting_down`] itself.
//!
//! The same interrupt is open to the closure's program
//! ([`Upgraded::interrupter`]): a chat room's broadcaster wakes a client's
//! coroutine blocked in its read, to send it a message.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use http::header::UPGRADE;
use http::Version;

use crate::body::{self, ConnBody};
use crate::encode::write_response;
use crate::error::Error;
use crate::io::ConnIo;
use crate::parse::{list_items, Head};
use crate::registry::ConnEntry;
use crate::response::Response;
use crate::shared::Shared;
use crate::upgraded::{OnUpgrade, Upgraded};

/// Steps 1 to 4 of the module docs for a handler's 101: the closure to run
/// once the 101 is sent, or the error to answer instead (the connection
/// then closes).
pub(crate) fn switch_protocols(
    body: &mut ConnBody<'_>,
    head: &Head,
    mut response: Response,
) -> Result<OnUpgrade, Error> {
    let target = head.str(&head.target);
    let Some(on_upgrade) = response.upgrade.take() else {
        log::error!(
            "a handler answered {} {target} with 101 Switching Protocols but gave no upgrade \
             to run; sending 500. Answer with Response::upgrade(protocol, |upgraded| ...) (or, \
             for WebSocket, coro_http::ws::WebSocketUpgrade): Response::new(101) is not enough",
            head.method
        );
        return Err(Error::HandlerFailed(
            "it answered 101 without an upgrade (see Response::upgrade)",
        ));
    };
    let offered: Vec<&[u8]> = response
        .headers
        .iter()
        .filter(|(name, _)| *name == UPGRADE)
        .map(|(_, value)| value.as_bytes())
        .collect();
    if let Err(why) = asks_for(head, &offered) {
        log::error!(
            "a handler answered {} {target} with 101 Switching Protocols, but {why}; sending 500",
            head.method
        );
        return Err(Error::HandlerFailed(
            "it answered 101 to a request that cannot upgrade to it",
        ));
    }
    read_rest_of_body(body)?;
    write_response(body.io, head, &mut response, false)?;
    body.io.flush()?;
    Ok(on_upgrade)
}

/// Whether the request asked to upgrade to every protocol of `offered`
/// (the response's `Upgrade` values), or why not.
fn asks_for(head: &Head, offered: &[&[u8]]) -> Result<(), &'static str> {
    if head.version != Version::HTTP_11 {
        return Err("an HTTP/1.0 request cannot upgrade");
    }
    let values = |name: &'static str| {
        head.fields
            .iter()
            .filter(move |(n, _)| head.bytes[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .flat_map(|(_, v)| list_items(&head.bytes[v.clone()]))
    };
    if !values("connection").any(|t| t.eq_ignore_ascii_case(b"upgrade")) {
        return Err("the request has no `Connection: upgrade`");
    }
    let asked: Vec<&[u8]> = values("upgrade").collect();
    if asked.is_empty() {
        return Err("the request has no `Upgrade` field");
    }
    let mut protocols = offered.iter().flat_map(|v| list_items(v)).peekable();
    if protocols.peek().is_none() {
        return Err("the response has no `Upgrade` field");
    }
    if protocols.all(|p| asked.iter().any(|a| a.eq_ignore_ascii_case(p))) {
        Ok(())
    } else {
        Err("the response's `Upgrade` names a protocol the request did not offer")
    }
}

/// Step 3: reads the request's body to its end, within the body limit.
/// Never inlined, for its scratch buffer (see `body::finish`).
#[inline(never)]
fn read_rest_of_body(conn: &mut ConnBody<'_>) -> Result<(), Error> {
    let mut scratch = [0u8; 8 * 1024];
    loop {
        match body::read(conn, &mut scratch) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                return Err(conn.state.failed.take().unwrap_or(Error::Io(e)));
            }
        }
    }
}

/// Runs `on_upgrade` on the connection, after its 101 was sent, until it
/// returns; the caller then removes the connection from the registry.
pub(crate) fn run_upgraded(
    mut io: ConnIo,
    entry: &ConnEntry,
    shared: &Arc<Shared>,
    on_upgrade: OnUpgrade,
) {
    entry.enter_upgraded();
    if let Err(e) = io.link_mut().clear_read_timeout() {
        log::debug!("an upgraded connection could not lift its read timeout: {e}");
    }
    let upgraded = Upgraded::new(io, shared.conns.closing());
    let ran = catch_unwind(AssertUnwindSafe(move || (on_upgrade.0)(upgraded)));
    if let Err(unwind) = ran {
        if coro::is_cancelling() {
            // The runtime stops with the connection still open after the
            // grace period: let the coroutine's destructors run.
            std::panic::resume_unwind(unwind);
        }
        log::error!("an upgraded connection's closure panicked; closing the connection");
    }
    // The connection ends with the closure, even where the closure moved
    // its `Upgraded` elsewhere: the registry forgets it next.
    entry.shut(std::net::Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::parse::parse_head;

    fn head(text: &str) -> Head {
        let mut head = Head::default();
        parse_head(text.as_bytes(), &Limits::default(), &mut head)
            .unwrap()
            .unwrap();
        head
    }

    #[test]
    fn an_upgrade_needs_the_request_to_offer_the_protocol() {
        let asked =
            head("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: foo/2, WebSocket\r\n\r\n");
        assert_eq!(asks_for(&asked, &[b"websocket"]), Ok(()));
        assert_eq!(asks_for(&asked, &[b"foo/2"]), Ok(()));
        assert!(asks_for(&asked, &[b"h2c"]).is_err());
        assert!(asks_for(&asked, &[]).is_err());
        let no_connection = head("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n");
        assert!(asks_for(&no_connection, &[b"websocket"]).is_err());
        let no_upgrade = head("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n");
        assert!(asks_for(&no_upgrade, &[b"websocket"]).is_err());
        let old = head("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
        assert!(asks_for(&old, &[b"websocket"]).is_err());
    }
}
