//! [`select!`](crate::select!) and [`select_biased!`](crate::select_biased!).
//!
//! The macros parse their arms into a list, then expand in three steps,
//! each a recursion over that list (each step of a recursion has its own
//! hygiene, so every name it binds is its own):
//!
//! 1. `@bind`: evaluate each channel expression once, in order, and bind a
//!    reference to it with `match &expr { chan => ... }`. A temporary in
//!    the expression (`recv(c.rx())`, `recv(get())`) lives to the end of
//!    that `match`, so to the end of the whole select.
//! 2. `@register`: make the `Select` and add each operation. A send arm's
//!    message becomes a closure, called only if that arm's channel is
//!    ready or the select has to wait (then it waits holding its message,
//!    as a partner a receiver can meet); the select performs the send
//!    itself, never the macro; so `send(s, expensive()), default => ...` on a
//!    full channel does not run `expensive()`.
//! 3. `@dispatch`: run it (`select`, `try_select` for `default`,
//!    `select_timeout` for `default(timeout)`), drop the `Select` (which
//!    ends the borrows its closures hold, so an arm's body may change what
//!    a message expression read), complete the chosen operation, and run
//!    its body.

/// Waits on several channel operations and runs the arm of the one that
/// happens; when several are ready, one is chosen at random.
///
/// Arms, separated by commas (optional after a block):
/// * `recv(rx) -> msg => expr`: `msg` is `Result<T, RecvError>`;
/// * `send(tx, value) -> res => expr`: `res` is `Result<(), SendError<T>>`;
///   `value` is evaluated only if this arm's channel is ready or the select
///   has to wait (and dropped if another arm then happens first);
/// * `default => expr` (or `default() => expr`): runs if no operation is
///   ready right away;
/// * `default(timeout) => expr`: runs if none becomes ready in time.
///
/// With no arms at all, `select! {}` blocks forever, as crossbeam's does (see
/// [`Select::select`](crate::chan::Select::select)).
///
/// `rx` and `tx` may be any expression, temporaries included; each is
/// evaluated once, in order, before anything else happens.
///
/// ```
/// use std::time::Duration;
/// use coro::chan::bounded;
///
/// let (tx, rx) = bounded::<u32>(0);
/// let (done_tx, done_rx) = bounded::<()>(0);
/// coro::spawn(move || {
///     tx.send(7).unwrap();
///     done_tx.send(()).unwrap();
/// });
/// let mut got = 0;
/// loop {
///     coro::select! {
///         recv(rx) -> v => got += v.unwrap(),
///         recv(done_rx) -> _ => break,
///         default(Duration::from_secs(10)) => panic!("nothing happened"),
///     }
/// }
/// assert_eq!(got, 7);
/// ```
#[macro_export]
macro_rules! select {
    // Step 0: parse the arms into `[(recv, rx, pat, body) (send, tx, value,
    // pat, body) ...]` and at most one default.
    (@parse $mode:ident [$($ops:tt)*] [$($def:tt)*]) => {
        $crate::select!(@bind $mode [] [$($def)*] $($ops)*)
    };
    (@parse $mode:ident [$($ops:tt)*] [$($def:tt)*] , $($rest:tt)*) => {
        $crate::select!(@parse $mode [$($ops)*] [$($def)*] $($rest)*)
    };
    (@parse $mode:ident [$($ops:tt)*] [$($def:tt)*]
        recv($rx:expr $(,)?) -> $m:pat => $body:block $($rest:tt)*) => {
        $crate::select!(@parse $mode [$($ops)* (recv, $rx, $m, $body)] [$($def)*] $($rest)*)
    };
    (@parse $mode:ident [$($ops:tt)*] [$($def:tt)*]
        recv($rx:expr $(,)?) -> $m:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse $mode [$($ops)* (recv, $rx, $m, $body)] [$($def)*] $($($rest)*)?)
    };
    (@parse $mode:ident [$($ops:tt)*] [$($def:tt)*]
        send($tx:expr, $v:expr $(,)?) -> $m:pat => $body:block $($rest:tt)*) => {
        $crate::select!(@parse $mode [$($ops)* (send, $tx, $v, $m, $body)] [$($def)*] $($rest)*)
    };
    (@parse $mode:ident [$($ops:tt)*] [$($def:tt)*]
        send($tx:expr, $v:expr $(,)?) -> $m:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse $mode [$($ops)* (send, $tx, $v, $m, $body)] [$($def)*] $($($rest)*)?)
    };
    (@parse $mode:ident [$($ops:tt)*] [] default($t:expr $(,)?) => $body:block $($rest:tt)*) => {
        $crate::select!(@parse $mode [$($ops)*] [(Some($t), $body)] $($rest)*)
    };
    (@parse $mode:ident [$($ops:tt)*] [] default($t:expr $(,)?) => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse $mode [$($ops)*] [(Some($t), $body)] $($($rest)*)?)
    };
    (@parse $mode:ident [$($ops:tt)*] [] default $(())? => $body:block $($rest:tt)*) => {
        $crate::select!(@parse $mode [$($ops)*] [(None, $body)] $($rest)*)
    };
    (@parse $mode:ident [$($ops:tt)*] [] default $(())? => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse $mode [$($ops)*] [(None, $body)] $($($rest)*)?)
    };
    (@parse $mode:ident [$($ops:tt)*] [$($def:tt)+] default $($rest:tt)*) => {
        ::core::compile_error!("a `select!` has at most one `default` arm")
    };
    (@parse $mode:ident [$($ops:tt)*] [$($def:tt)*] $($rest:tt)+) => {
        ::core::compile_error!(
            "expected a `select!` arm: `recv(r) -> pat => body`, \
             `send(s, msg) -> pat => body`, `default => body` or `default(timeout) => body`"
        )
    };

    // Step 1: bind each channel expression, in order.
    (@bind $mode:ident [$($bound:tt)*] [$($def:tt)*] (recv, $rx:expr, $m:pat, $body:expr) $($ops:tt)*) => {
        match &$rx {
            chan => $crate::select!(@bind $mode [$($bound)* (recv, chan, (), $m, $body)] [$($def)*] $($ops)*),
        }
    };
    (@bind $mode:ident [$($bound:tt)*] [$($def:tt)*] (send, $tx:expr, $v:expr, $m:pat, $body:expr) $($ops:tt)*) => {
        match &$tx {
            chan => $crate::select!(@bind $mode [$($bound)* (send, chan, ($v), $m, $body)] [$($def)*] $($ops)*),
        }
    };
    (@bind $mode:ident [$($bound:tt)*] [$($def:tt)*]) => {{
        let mut sel = $crate::select!(@new $mode);
        $crate::select!(@register sel [] [$($def)*] $($bound)*)
    }};
    (@new fair) => { $crate::chan::Select::new() };
    (@new biased) => { $crate::chan::Select::new_biased() };

    // Step 2: add each operation under a name of its own.
    (@register $sel:ident [$($named:tt)*] [$($def:tt)*] (recv, $chan:ident, (), $m:pat, $body:expr) $($ops:tt)*) => {{
        let index = $sel.recv($chan);
        $crate::select!(@register $sel [$($named)* (recv, index, $chan, $m, $body)] [$($def)*] $($ops)*)
    }};
    (@register $sel:ident [$($named:tt)*] [$($def:tt)*] (send, $chan:ident, ($v:expr), $m:pat, $body:expr) $($ops:tt)*) => {{
        let index = $sel.__send_lazy($chan, || $v);
        $crate::select!(@register $sel [$($named)* (send, index, $chan, $m, $body)] [$($def)*] $($ops)*)
    }};

    // Step 3: run, complete the chosen operation, run its arm.
    (@register $sel:ident [$($named:tt)*] []) => {{
        let oper = $sel.select();
        ::core::mem::drop($sel);
        $crate::select!(@dispatch oper [$($named)*])
    }};
    (@register $sel:ident [$($named:tt)*] [(None, $dbody:expr)]) => {{
        let chosen = $sel.try_select();
        ::core::mem::drop($sel);
        match chosen {
            ::core::result::Result::Ok(oper) => $crate::select!(@dispatch oper [$($named)*]),
            ::core::result::Result::Err(_) => $dbody,
        }
    }};
    (@register $sel:ident [$($named:tt)*] [(Some($t:expr), $dbody:expr)]) => {{
        let chosen = $sel.select_timeout($t);
        ::core::mem::drop($sel);
        match chosen {
            ::core::result::Result::Ok(oper) => $crate::select!(@dispatch oper [$($named)*]),
            ::core::result::Result::Err(_) => $dbody,
        }
    }};
    (@dispatch $oper:ident [$(($kind:ident, $i:ident, $chan:ident, $m:pat, $body:expr))*]) => {{
        let chosen = $oper.index();
        $(
            if chosen == $i {
                let $m = $crate::select!(@complete $kind $oper $chan);
                $body
            } else
        )* {
            ::core::unreachable!("select! chose an operation it does not have")
        }
    }};
    (@complete recv $oper:ident $chan:ident) => { $oper.recv($chan) };
    (@complete send $oper:ident $chan:ident) => { $oper.__send_lazy($chan) };

    // Entry (last, so that it does not swallow the internal rules).
    ($($arms:tt)*) => {
        $crate::select!(@parse fair [] [] $($arms)*)
    };
}

/// As [`select!`](crate::select!), but when several operations are ready,
/// the first of them (in the order written) is chosen, every time.
///
/// ```
/// let (tx1, rx1) = coro::chan::unbounded::<u32>();
/// let (tx2, rx2) = coro::chan::unbounded::<u32>();
/// tx1.send(1).unwrap();
/// tx2.send(2).unwrap();
/// let got = coro::select_biased! {
///     recv(rx1) -> v => v.unwrap(),
///     recv(rx2) -> v => v.unwrap(),
/// };
/// assert_eq!(got, 1);
/// ```
#[macro_export]
macro_rules! select_biased {
    ($($arms:tt)*) => {
        $crate::select!(@parse biased [] [] $($arms)*)
    };
}
