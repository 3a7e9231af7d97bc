//! A WebSocket chat room beside plain HTTP routes, on one port: `GET /`
//! serves a page whose script joins the room at `GET /ws`; every message
//! a member sends goes to every member. `GET /members` says how many are
//! in.
//!
//! `cargo run --release -p examples --example chat -- --port 8082`, then
//! open <http://127.0.0.1:8082/> in two browser tabs.
//!
//! Each member is served by its connection's coroutine, which blocks in
//! its WebSocket's read. A broadcast reaches it through a `coro::chan`
//! of its own (its outbox) and a wake-up: the sender puts the message in
//! the outbox and interrupts the member's read
//! ([`coro_http::Interrupter`]), whose `read` then returns `WouldBlock`;
//! the member sends what its outbox holds and reads again. A member whose
//! outbox is full (it does not keep up) misses the message rather than
//! hold up the room. At the server's shutdown (SIGINT), every member gets
//! a close frame with code 1001 ("going away").

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use coro::chan::{self, Receiver, Sender};
use coro::sync::Mutex;
use coro_http::ws::{Message, Rejection, WebSocket, WebSocketUpgrade, WsError};
use coro_http::{Interrupter, Request, Response, Router};

/// Messages a member's outbox holds before the room skips it.
const OUTBOX: usize = 256;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>coro chat</title>
<style>body{font:16px sans-serif;max-width:40em;margin:2em auto}#log{height:20em;overflow-y:auto;border:1px solid #ccc;padding:.5em;white-space:pre-wrap}</style>
<div id="log"></div>
<form id="say"><input id="text" autofocus autocomplete="off" size="50"> <button>Send</button></form>
<script>
const log = document.getElementById("log");
const show = (line) => { log.textContent += line + "\n"; log.scrollTop = log.scrollHeight; };
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
ws.onmessage = (e) => show(e.data);
ws.onclose = (e) => show("* disconnected (" + e.code + ")");
document.getElementById("say").onsubmit = (e) => {
  e.preventDefault();
  const text = document.getElementById("text");
  if (text.value) { ws.send(text.value); text.value = ""; }
};
</script>
"#;

/// One member: where its messages go, and how to wake its coroutine.
struct Member {
    outbox: Sender<String>,
    wake: Interrupter,
}

/// The members, by id.
#[derive(Default)]
struct Room {
    next_id: AtomicU64,
    members: Mutex<HashMap<u64, Member>>,
}

impl Room {
    fn join(&self, wake: Interrupter) -> (u64, Receiver<String>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (outbox, inbox) = chan::bounded(OUTBOX);
        self.members.lock().insert(id, Member { outbox, wake });
        (id, inbox)
    }

    fn leave(&self, id: u64) {
        self.members.lock().remove(&id);
    }

    /// Puts `line` in every member's outbox and wakes them.
    fn broadcast(&self, line: &str) {
        for member in self.members.lock().values() {
            if member.outbox.try_send(line.to_string()).is_ok() {
                member.wake.interrupt();
            }
        }
    }
}

/// A member's coroutine: reads what it says (for the room), and between
/// reads sends what the room said (from its outbox).
fn chat(mut ws: WebSocket, room: &Room) {
    let Some(wake) = ws.interrupter() else {
        log::error!("a chat member on a stream that cannot be woken");
        return;
    };
    let (id, inbox) = room.join(wake);
    room.broadcast(&format!("* member {id} joined"));
    'serve: loop {
        match ws.read() {
            Ok(Message::Text(text)) => room.broadcast(&format!("member {id}: {}", text.as_str())),
            Ok(_) => {}
            // Woken: the outbox has something.
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        while let Ok(line) = inbox.try_recv() {
            if ws.send(Message::text(line)).is_err() {
                break 'serve;
            }
        }
    }
    room.leave(id);
    room.broadcast(&format!("* member {id} left"));
}

fn routes(room: &Arc<Room>) -> Router {
    let mut router = Router::new();
    router.state(Arc::clone(room));
    router.get("/", |_req: &mut Request<'_>| Response::html(PAGE));
    router.get("/members", |req: &mut Request<'_>| {
        format!("{}\n", req.state::<Arc<Room>>().members.lock().len())
    });
    router.get(
        "/ws",
        |req: &mut Request<'_>| -> Result<Response, Rejection> {
            let room = Arc::clone(req.state::<Arc<Room>>());
            Ok(WebSocketUpgrade::from_request(req)?.on_upgrade(move |ws| chat(ws, &room)))
        },
    );
    router
}

/// A WebSocket chat room (GET /ws) with its page (GET /) on one port.
#[derive(Debug, clap::Parser)]
struct Args {
    #[command(flatten)]
    server: examples::ServerArgs,
}

fn main() -> std::process::ExitCode {
    let args: Args = examples::parse_args(8082);
    examples::init_logger();
    let room = Arc::new(Room::default());
    examples::serve(routes(&room), &args.server)
}
