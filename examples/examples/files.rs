//! A static file server: a directory at `/`, through `coro_http::fs`.
//!
//! `cargo run --release -p examples --example files -- --root public --port 8080`
//! (`--help` for the options)
//!
//! Every file under `--root` is served at its path, a directory by its
//! `index.html`, with types, `HEAD`, `ETag`/`Last-Modified`, conditional
//! requests and single ranges; file bodies go out with `sendfile(2)`. It
//! is the target of `benches/files.sh`. Prints `listening on
//! 127.0.0.1:PORT` once it accepts connections; stops gracefully on SIGINT
//! or SIGTERM.

use std::path::PathBuf;

use coro_http::fs::ServeDir;
use coro_http::Router;

/// A static file server.
#[derive(Debug, clap::Parser)]
struct Args {
    /// The directory to serve.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    #[command(flatten)]
    server: examples::ServerArgs,
}

fn main() -> std::process::ExitCode {
    let args: Args = examples::parse_args(8080);
    examples::init_logger();
    let dir = match ServeDir::new(&args.root) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("error: cannot serve {}: {e}", args.root.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut router = Router::new();
    router.serve_dir("/", dir);
    examples::serve(router, &args.server)
}
