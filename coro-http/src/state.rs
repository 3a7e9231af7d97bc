//! Router-level state: values shared by every request of a router, found
//! by their type.
//!
//! Handlers are closures over `&mut Request`, so a typed state parameter
//! (axum's `State<S>`) would change every handler's signature, and an
//! `Arc` captured by each closure is the glue this replaces. Instead the
//! router holds a small map from `TypeId` to one value of each type
//! ([`Router::state`](crate::Router::state)), and a request reaches it by
//! type ([`Request::state`](crate::Request::state)), as axum's `Extension`
//! does. A request served on a connection borrows the server's map, so
//! reaching the state costs no reference count; a request built with
//! `Request::from_http` and run through `Router::handle` holds an `Arc`
//! of it.
//!
//! The map is a vector searched linearly: a service has a handful of state
//! types, few enough that a scan of their `TypeId`s needs no hash map.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

/// One value of each type, shared by every request of a router.
#[derive(Default, Clone)]
pub(crate) struct StateMap {
    values: Vec<(TypeId, &'static str, Arc<dyn Any + Send + Sync>)>,
}

impl StateMap {
    /// Adds `value`, replacing an earlier value of its type.
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        let id = TypeId::of::<T>();
        let value: Arc<dyn Any + Send + Sync> = Arc::new(value);
        match self.values.iter_mut().find(|(t, _, _)| *t == id) {
            Some(slot) => slot.2 = value,
            None => self.values.push((id, std::any::type_name::<T>(), value)),
        }
    }

    /// The value of type `T`.
    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.values
            .iter()
            .find(|(t, _, _)| *t == id)
            .and_then(|(_, _, v)| v.downcast_ref())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl fmt::Debug for StateMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.values.iter().map(|(_, name, _)| name))
            .finish()
    }
}

/// How a request reaches its router's state.
#[derive(Debug, Default)]
pub(crate) enum StateRef<'c> {
    /// Not yet known (a request from `Request::from_http` before
    /// `Router::handle`).
    #[default]
    Unset,
    /// The server's router's, borrowed for the request.
    Borrowed(&'c StateMap),
    /// A router's, shared.
    Shared(Arc<StateMap>),
}

impl StateRef<'_> {
    pub(crate) fn map(&self) -> Option<&StateMap> {
        match self {
            StateRef::Unset => None,
            StateRef::Borrowed(m) => Some(m),
            StateRef::Shared(m) => Some(m),
        }
    }
}
