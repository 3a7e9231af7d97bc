//! What every connection of a server shares: the settings, the router,
//! and the registry of open connections (which holds the shutting-down
//! flag). The listeners and what only the server and its acceptors use
//! stay in `server` and `accept`, so that the connection loop depends on
//! nothing above it.

use std::sync::Arc;

use crate::config::Config;
use crate::registry::Registry;
use crate::router::Router;

/// What the connections, the acceptors and the handles share.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) router: Router,
    pub(crate) conns: Registry,
}

impl Shared {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.conns.is_closing()
    }
}
