//! WebSocket (RFC 6455) on the server's connections, through tungstenite
//! (feature `ws`): axum's `WebSocketUpgrade`, in blocking style.
//!
//! A handler checks the opening handshake with
//! [`WebSocketUpgrade::from_request`] (a [`Rejection`] answers a bad one)
//! and answers
//! [`WebSocketUpgrade::on_upgrade`]: the 101 goes out (see `upgrade`),
//! and the closure runs in the connection's coroutine with a
//! [`WebSocket`], tungstenite's protocol on the [`Upgraded`] stream
//! unmodified. Frames the client sent right behind its handshake were
//! buffered with the request and are read first.
//!
//! # The handshake's checks (RFC 6455 §4.2.1)
//!
//! | the request | answer |
//! | --- | --- |
//! | not `GET` | 400 |
//! | HTTP/1.0 | 400 |
//! | no `Connection: upgrade` or no `Upgrade: websocket` | 426, with `Upgrade: websocket` |
//! | `Sec-WebSocket-Version` other than 13 (or none) | 426, with `Sec-WebSocket-Version: 13` (§4.4) |
//! | `Sec-WebSocket-Key` missing, or not 16 bytes in base64 | 400 |
//!
//! Each refusal's text says what was wrong. The 101 carries
//! `Sec-WebSocket-Accept`, from tungstenite's `derive_accept_key`.
//!
//! Subprotocols (`Sec-WebSocket-Protocol`, §4.2.2): the handler names
//! those it speaks, in its order of preference
//! ([`WebSocketUpgrade::protocols`]), and the 101 names the first of them
//! the client offered; none if the client offered none of them, which the
//! client may then refuse.
//!
//! # Shutdown
//!
//! When the server shuts down, it interrupts the connection's read (see
//! `upgrade`): [`WebSocket::read`] then sends a close frame with code 1001
//! ("going away") and goes on reading, so the closure sees the peer's
//! close as for any closing handshake (`Message::Close`, then
//! `Error::ConnectionClosed`) and returns. A peer that does not answer is
//! shut at the end of the grace period.
//!
//! # Waking a WebSocket blocked in its read
//!
//! A coroutine serves one WebSocket: it reads, and writes between reads.
//! To send it something from elsewhere (a chat room's broadcast), hand it
//! the message over a `coro::chan` and wake it with its
//! [`Interrupter`]: its `read` returns `Error::Io` with `WouldBlock`
//! (tungstenite keeps its state across it), it sends what its channel
//! holds, and reads again. See `examples/examples/chat.rs`.

use std::io;

use http::header::{HeaderName, HeaderValue, UPGRADE};
use http::{Method, Version};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
pub use tungstenite::{self, Error as WsError, Message};

use crate::error::Error;
use crate::parse::list_items;
use crate::request::Request;
use crate::response::{IntoResponse, Response};
use crate::upgraded::{Interrupter, Upgraded};

/// The WebSocket version this server speaks (RFC 6455 §4.1).
const VERSION: &str = "13";

/// Length of a `Sec-WebSocket-Key`: 16 bytes in base64 (RFC 6455 §4.1).
const KEY_LEN: usize = 24;

const SEC_WEBSOCKET_ACCEPT: HeaderName = HeaderName::from_static("sec-websocket-accept");
const SEC_WEBSOCKET_PROTOCOL: HeaderName = HeaderName::from_static("sec-websocket-protocol");
const SEC_WEBSOCKET_VERSION: HeaderName = HeaderName::from_static("sec-websocket-version");
const WEBSOCKET: HeaderValue = HeaderValue::from_static("websocket");

/// A request's valid WebSocket opening handshake, ready to be answered
/// with [`on_upgrade`](Self::on_upgrade).
///
/// ```
/// use coro_http::ws::{Rejection, WebSocketUpgrade};
/// use coro_http::{Request, Response, Router};
///
/// let mut router = Router::new();
/// router.get("/echo", |req: &mut Request<'_>| -> Result<Response, Rejection> {
///     Ok(WebSocketUpgrade::from_request(req)?.on_upgrade(|mut ws| {
///         while let Ok(msg) = ws.read() {
///             if (msg.is_text() || msg.is_binary()) && ws.send(msg).is_err() {
///                 break;
///             }
///         }
///     }))
/// });
/// ```
#[derive(Debug)]
pub struct WebSocketUpgrade {
    accept: HeaderValue,
    config: Option<WebSocketConfig>,
    /// The subprotocols the client offered, in its order.
    offered: Vec<String>,
    /// The one the 101 names.
    selected: Option<HeaderValue>,
}

impl WebSocketUpgrade {
    /// Checks the request's opening handshake (see the module docs).
    ///
    /// # Errors
    /// What refuses it: a 400 or a 426, with a text that says what was
    /// wrong (see [`Rejection`]).
    pub fn from_request(req: &Request<'_>) -> Result<WebSocketUpgrade, Rejection> {
        check(req).map_err(Rejection)
    }

    /// Sets tungstenite's limits (message and frame sizes, buffers) for
    /// this WebSocket; tungstenite's defaults otherwise.
    pub fn config(mut self, config: WebSocketConfig) -> WebSocketUpgrade {
        self.config = Some(config);
        self
    }

    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in
    /// its order.
    pub fn offered_protocols(&self) -> impl Iterator<Item = &str> {
        self.offered.iter().map(String::as_str)
    }

    /// The subprotocols this endpoint speaks, in its order of preference:
    /// the 101 names the first the client offered (compared exactly, as
    /// RFC 6455 has them), or none if it offered none of them.
    pub fn protocols<I, S>(mut self, supported: I) -> WebSocketUpgrade
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.selected = supported
            .into_iter()
            .find(|s| self.offered.iter().any(|o| o == s.as_ref()))
            .and_then(|s| HeaderValue::from_str(s.as_ref()).ok());
        self
    }

    /// The subprotocol the 101 will name, if any (see
    /// [`protocols`](Self::protocols)).
    pub fn selected_protocol(&self) -> Option<&str> {
        self.selected.as_ref().and_then(|v| v.to_str().ok())
    }

    /// The 101 that accepts the handshake; once it is sent, `on_socket`
    /// runs in the connection's coroutine with the WebSocket, and the
    /// connection closes when it returns.
    pub fn on_upgrade<F>(self, on_socket: F) -> Response
    where
        F: FnOnce(WebSocket) + Send + 'static,
    {
        let config = self.config;
        let response = Response::upgrade(WEBSOCKET, move |upgraded| {
            on_socket(WebSocket {
                inner: tungstenite::WebSocket::from_raw_socket(upgraded, Role::Server, config),
                said_going_away: false,
            });
        })
        .header(SEC_WEBSOCKET_ACCEPT, self.accept);
        match self.selected {
            Some(protocol) => response.header(SEC_WEBSOCKET_PROTOCOL, protocol),
            None => response,
        }
    }
}

/// The handshake's checks, in the order of the module docs' table.
fn check(req: &Request<'_>) -> Result<WebSocketUpgrade, Error> {
    if *req.method() != Method::GET {
        return Err(Error::WebSocketHandshake("the method must be GET"));
    }
    if req.version() != Version::HTTP_11 {
        return Err(Error::WebSocketHandshake("HTTP/1.0 cannot upgrade"));
    }
    if !has_token(req, "connection", "upgrade") || !has_token(req, "upgrade", "websocket") {
        return Err(Error::UpgradeRequired(
            "this resource speaks WebSocket: send `Connection: upgrade` and `Upgrade: websocket`",
        ));
    }
    if req.header("sec-websocket-version").map(str::trim) != Some(VERSION) {
        return Err(Error::UpgradeRequired(
            "the WebSocket version must be 13 (Sec-WebSocket-Version)",
        ));
    }
    let key = req
        .header_bytes("sec-websocket-key")
        .map(<[u8]>::trim_ascii)
        .ok_or(Error::WebSocketHandshake("Sec-WebSocket-Key is missing"))?;
    if !is_key(key) {
        return Err(Error::WebSocketHandshake(
            "Sec-WebSocket-Key must be 16 bytes in base64",
        ));
    }
    let accept = tungstenite::handshake::derive_accept_key(key);
    let offered = req
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
        .flat_map(|(_, v)| list_items(v))
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    Ok(WebSocketUpgrade {
        accept: HeaderValue::from_str(&accept).expect("base64 is a valid field value"),
        config: None,
        offered,
        selected: None,
    })
}

/// Whether any `name` field of the request lists `token` (any case).
fn has_token(req: &Request<'_>, name: &str, token: &str) -> bool {
    req.headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| list_items(v))
        .any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether `key` is 16 bytes in base64: 22 characters of the alphabet,
/// the last of them carrying 2 bits (so its low 4 are zero), then `==`.
fn is_key(key: &[u8]) -> bool {
    let is_base64 = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    key.len() == KEY_LEN
        && key[..22].iter().all(is_base64)
        && matches!(key[21], b'A' | b'Q' | b'g' | b'w')
        && &key[22..] == b"=="
}

/// A refused WebSocket handshake (axum's `WebSocketUpgradeRejection`):
/// as a response, the error's status and text, and for a 426 the fields
/// that say what to send (`Upgrade: websocket`, RFC 9110 §15.5.22, and
/// `Sec-WebSocket-Version: 13`, RFC 6455 §4.4).
#[derive(Debug)]
pub struct Rejection(Error);

impl Rejection {
    /// Why the handshake was refused: [`Error::WebSocketHandshake`] (400)
    /// or [`Error::UpgradeRequired`] (426).
    pub fn error(&self) -> &Error {
        &self.0
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let upgrade_required = matches!(self.0, Error::UpgradeRequired(_));
        let response = Response::for_error(self.0);
        if upgrade_required {
            response
                .header(UPGRADE, WEBSOCKET)
                .header(SEC_WEBSOCKET_VERSION, HeaderValue::from_static(VERSION))
        } else {
            response
        }
    }
}

/// A WebSocket on an upgraded connection: tungstenite's, with the
/// server's shutdown handled in [`read`](Self::read).
#[derive(Debug)]
pub struct WebSocket {
    inner: tungstenite::WebSocket<Upgraded>,
    /// The close frame for the shutdown is sent.
    said_going_away: bool,
}

impl WebSocket {
    /// The next message, as tungstenite's `read`. When the server shuts
    /// down, it first sends a close frame with code 1001 ("going away")
    /// and goes on reading the peer's close.
    ///
    /// # Errors
    /// As tungstenite's: `ConnectionClosed` once the closing handshake is
    /// done. `Io` with `WouldBlock` when an [`Interrupter`] interrupted
    /// the read: do what it was for and read again.
    pub fn read(&mut self) -> Result<Message, WsError> {
        loop {
            match self.inner.read() {
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.said_going_away || !self.is_shutting_down() {
                        return Err(WsError::Io(e));
                    }
                    self.said_going_away = true;
                    let going_away = CloseFrame {
                        code: CloseCode::Away,
                        reason: "the server is shutting down".into(),
                    };
                    match self.inner.close(Some(going_away)) {
                        // Already closing: the peer's close is what is left.
                        Ok(()) | Err(WsError::AlreadyClosed) => {}
                        Err(e) => return Err(e),
                    }
                }
                read => return read,
            }
        }
    }

    /// Sends `message`, as tungstenite's `send`.
    ///
    /// # Errors
    /// As tungstenite's.
    pub fn send(&mut self, message: Message) -> Result<(), WsError> {
        self.inner.send(message)
    }

    /// Starts the closing handshake, as tungstenite's `close`: keep
    /// reading until `ConnectionClosed`.
    ///
    /// # Errors
    /// As tungstenite's.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), WsError> {
        self.inner.close(frame)
    }

    /// Whether the server is shutting down (see the module docs).
    pub fn is_shutting_down(&self) -> bool {
        self.inner.get_ref().is_shutting_down()
    }

    /// A handle that interrupts this WebSocket's read from elsewhere (see
    /// the module docs); `None` on a stream that cannot be interrupted.
    pub fn interrupter(&self) -> Option<Interrupter> {
        self.inner.get_ref().interrupter()
    }

    /// tungstenite's WebSocket, for what this type does not forward.
    pub fn get_mut(&mut self) -> &mut tungstenite::WebSocket<Upgraded> {
        &mut self.inner
    }

    /// tungstenite's WebSocket.
    pub fn get_ref(&self) -> &tungstenite::WebSocket<Upgraded> {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sixteen_bytes_of_base64() {
        // RFC 6455 §1.3's example key, and its accept value.
        assert!(is_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(
            tungstenite::handshake::derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(!is_key(b"dGhlIHNhbXBsZSBub25jZQ="), "short");
        assert!(!is_key(b"dGhlIHNhbXBsZSBub25jZR=="), "17 bits in the last");
        assert!(!is_key(b"dGhlIHNhbXBsZSBub2*jZQ=="), "not base64");
        assert!(!is_key(b"dGhlIHNhbXBsZSBub25jZQAA"), "no padding");
    }
}
