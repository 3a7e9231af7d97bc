//! A small REST service: JSON CRUD over an in-memory store behind a
//! `coro::sync::Mutex`, held as the router's state, with JSON errors from
//! the error hook and a logging middleware.
//!
//! `RUST_LOG=info cargo run --release -p examples --example rest -- --port 8081`
//! (`RUST_LOG=info` shows the access log)
//!
//! ```text
//! curl -X POST localhost:8081/todos -d '{"title":"write tests"}'
//! curl localhost:8081/todos
//! curl 'localhost:8081/todos?done=false'
//! curl -X PUT localhost:8081/todos/1 -d '{"title":"write tests","done":true}'
//! curl -X DELETE localhost:8081/todos/1
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use coro::sync::Mutex;
use coro_http::{Error, ErrorContext, Next, Request, Response, Router, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize)]
struct Todo {
    id: u64,
    title: String,
    done: bool,
}

#[derive(Debug, Deserialize)]
struct NewTodo {
    title: String,
    #[serde(default)]
    done: bool,
}

#[derive(Debug, Default)]
struct Store {
    next_id: u64,
    todos: BTreeMap<u64, Todo>,
}

type Shared = Arc<Mutex<Store>>;

/// The `{id}` of the path, or a 400 naming it.
fn id_param(req: &Request<'_>) -> Result<u64, Error> {
    req.param("id")
        .and_then(|id| id.parse().ok())
        .ok_or(Error::BadRequest("the id must be a number"))
}

fn not_found() -> Response {
    Response::json(&serde_json::json!({ "error": "no such todo" })).status(StatusCode::NOT_FOUND)
}

/// `GET /todos?done=true`: the filter of the list.
#[derive(Debug, Deserialize)]
struct ListQuery {
    done: Option<bool>,
}

fn routes(store: &Shared) -> Router {
    let mut router = Router::new();
    // Every handler reaches the store through the router, none captures it.
    router.state(Arc::clone(store));
    router.get(
        "/todos",
        |req: &mut Request<'_>| -> Result<Response, Error> {
            let query: ListQuery = req.query_as()?;
            let store = req.state::<Shared>().lock();
            let list: Vec<&Todo> = store
                .todos
                .values()
                .filter(|t| query.done.is_none_or(|done| t.done == done))
                .collect();
            Ok(Response::json(&list))
        },
    );
    router.post(
        "/todos",
        |req: &mut Request<'_>| -> Result<Response, Error> {
            let new: NewTodo = req.json()?;
            let mut store = req.state::<Shared>().lock();
            store.next_id += 1;
            let todo = Todo {
                id: store.next_id,
                title: new.title,
                done: new.done,
            };
            store.todos.insert(todo.id, todo.clone());
            Ok(Response::json(&todo).status(StatusCode::CREATED))
        },
    );
    router.get(
        "/todos/{id}",
        |req: &mut Request<'_>| -> Result<Response, Error> {
            let id = id_param(req)?;
            let store = req.state::<Shared>().lock();
            Ok(store.todos.get(&id).map_or_else(not_found, Response::json))
        },
    );
    router.put(
        "/todos/{id}",
        |req: &mut Request<'_>| -> Result<Response, Error> {
            let id = id_param(req)?;
            let new: NewTodo = req.json()?;
            let mut store = req.state::<Shared>().lock();
            Ok(match store.todos.get_mut(&id) {
                Some(todo) => {
                    todo.title = new.title;
                    todo.done = new.done;
                    Response::json(todo)
                }
                None => not_found(),
            })
        },
    );
    router.delete(
        "/todos/{id}",
        |req: &mut Request<'_>| -> Result<Response, Error> {
            let id = id_param(req)?;
            let removed = req.state::<Shared>().lock().todos.remove(&id);
            Ok(match removed {
                Some(_) => Response::new(StatusCode::NO_CONTENT),
                None => not_found(),
            })
        },
    );
    // Every error, the server's own refusals included, answers JSON.
    router.on_error(|cx: &ErrorContext<'_>| {
        let message = match cx.error() {
            // An I/O error's text stays on the server.
            Error::Io(_) => cx
                .status()
                .canonical_reason()
                .unwrap_or("error")
                .to_string(),
            other => other.to_string(),
        };
        Response::json(&serde_json::json!({ "error": message }))
    });
    router.wrap(|req: &mut Request<'_>, next: Next<'_>| {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.path().to_string();
        let response = next.run(req);
        log::info!(
            "{method} {path} -> {} in {:?}",
            response.status_code().as_u16(),
            start.elapsed()
        );
        response
    });
    router
}

/// A JSON REST service: CRUD on /todos, with an access log at info level.
#[derive(Debug, clap::Parser)]
struct Args {
    #[command(flatten)]
    server: examples::ServerArgs,
}

fn main() -> std::process::ExitCode {
    let args: Args = examples::parse_args(8081);
    examples::init_logger();
    let store: Shared = Arc::default();
    examples::serve(routes(&store), &args.server)
}
