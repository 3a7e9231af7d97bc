//! Turning a stack overflow into a message instead of a bare segfault.
//!
//! Every coroutine stack has a guard page below it (see [`crate::stack`]).
//! Running into it raises `SIGSEGV` on the coroutine's (exhausted) stack, so
//! the handler runs on an alternate signal stack that every worker thread
//! has ([`AltStack`]). If the faulting address lies in the guard page of the
//! coroutine running on that thread, the handler writes
//!
//! ```text
//! coroutine 'NAME' (id N) overflowed its stack of S bytes; raise it with coro::Builder::stack_size
//! ```
//!
//! (or with the setting its spawner named, `coro::Builder::overflow_hint`)
//!
//! to stderr and aborts: the coroutine cannot be resumed, and unwinding
//! from a signal handler is not an option. Coroutine stacks keep their
//! addresses for life, so this holds for coroutines whose stacks were
//! evicted and restored too.
//!
//! A fault on *any* thread in the stack of a coroutine that is suspended and
//! evicted (see [`crate::stack`]) means that code outside the coroutine
//! kept a pointer into its stack (a `std::thread::scope` thread, a rayon
//! job) across a suspension. The handler writes
//!
//! ```text
//! coroutine 'NAME' (id N): its stack was evicted while lent; keep it resident with coro::pin_stack ...
//! ```
//!
//! and aborts. Any other fault goes to the
//! handler that was installed before ours (the standard library's, which
//! reports overflows of thread stacks), or to the default action.
//!
//! The handler only reads memory and calls `write` and `abort`, which are
//! async-signal-safe.

use std::io;
use std::mem::{self, MaybeUninit};
use std::ptr;
use std::sync::OnceLock;

use crate::stack::region::Fault;
use crate::stack::GUARD_SIZE;
use crate::switch::CoroState;
use crate::task::{Slot, TaskRef};

/// Size of the alternate signal stack we give threads that lack one.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// The handlers that were installed before ours, for `SIGSEGV` and `SIGBUS`.
/// Read before ours is installed, so the handler always finds them.
static PREVIOUS: OnceLock<[libc::sigaction; 2]> = OnceLock::new();

const SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

/// Installs the overflow handler for `SIGSEGV` and `SIGBUS`, once.
pub(crate) fn install_handler() {
    PREVIOUS.get_or_init(|| {
        SIGNALS.map(|sig| {
            let mut old = MaybeUninit::<libc::sigaction>::zeroed();
            // SAFETY: a null new action only queries the current one.
            unsafe { libc::sigaction(sig, ptr::null(), old.as_mut_ptr()) };
            // SAFETY: zeroed, then filled by the kernel.
            unsafe { old.assume_init() }
        })
    });
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        for sig in SIGNALS {
            // SAFETY: `sigaction` with a zeroed struct plus the fields we set
            // is the documented way to install a handler.
            unsafe {
                let mut action: libc::sigaction = mem::zeroed();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, ptr::null_mut());
            }
        }
    });
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let current = crate::switch::current_raw();
    if !current.is_null() {
        // SAFETY: a non-null current pointer refers to the live state of the
        // coroutine running on this thread (the one that faulted).
        let cs: &CoroState = unsafe { &*current };
        let guard = cs.image.guard_bottom;
        if addr >= guard && addr < guard + GUARD_SIZE {
            report(cs);
            // SAFETY: abort is async-signal-safe.
            unsafe { libc::abort() };
        }
    }
    match crate::stack::region::classify_fault(addr) {
        Fault::Evicted(owner) => {
            // The owner of an evicted range is a live coroutine's task, and
            // cannot run (hence finish) until we are gone (the protocol of
            // `stack::region`).
            report_evicted(owner, addr);
            // SAFETY: abort is async-signal-safe.
            unsafe { libc::abort() };
        }
        // The range was restored meanwhile: the access now succeeds.
        Fault::Retry => return,
        Fault::Other => {}
    }
    let index = usize::from(sig == libc::SIGBUS);
    let Some(previous) = PREVIOUS.get().map(|p| &p[index]) else {
        // SAFETY: resetting a signal disposition.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
        return;
    };
    if previous.sa_sigaction == libc::SIG_DFL || previous.sa_sigaction == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction
        // runs again and the process dies the usual way.
        // SAFETY: resetting a signal disposition.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { mem::transmute(previous.sa_sigaction) };
        f(sig, info, ctx);
    } else {
        // SAFETY: the previous handler was installed with this signature.
        let f: extern "C" fn(libc::c_int) = unsafe { mem::transmute(previous.sa_sigaction) };
        f(sig);
    }
}

/// A message assembled with no allocation, then written to stderr.
struct Message {
    buf: [u8; 512],
    len: usize,
}

impl Message {
    fn new() -> Message {
        Message {
            buf: [0; 512],
            len: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    /// `coroutine 'NAME' (id N)`.
    fn put_coroutine(&mut self, task: *const Slot) {
        self.put(b"coroutine '");
        // SAFETY: the task of a live coroutine is alive (its worker's live
        // list holds it); its name is written before it is spawned and
        // never changed, its id before its first resume.
        let task = mem::ManuallyDrop::new(unsafe { TaskRef::from_raw(task) });
        match task.extra().and_then(|e| e.name.as_deref()) {
            Some(name) => self.put(name.as_bytes()),
            None => self.put(b"<unnamed>"),
        }
        self.put(b"' (id ");
        self.put(decimal(task.id(), &mut [0u8; 20]));
        self.put(b")");
    }

    fn write(&self) {
        // SAFETY: write is async-signal-safe; `buf[..len]` is initialized.
        unsafe { libc::write(2, self.buf.as_ptr().cast(), self.len) };
    }
}

/// Writes the overflow message.
fn report(cs: &CoroState) {
    let mut m = Message::new();
    m.put_coroutine(cs.task());
    m.put(b" overflowed its stack of ");
    m.put(decimal(cs.image.stack_size as u64, &mut [0u8; 20]));
    m.put(b" bytes; raise it with ");
    // SAFETY: as in `put_coroutine`: the task of the live coroutine that
    // faulted is alive, and its extra data is written before it is spawned.
    let task = mem::ManuallyDrop::new(unsafe { TaskRef::from_raw(cs.task()) });
    match task.extra().and_then(|e| e.overflow_hint) {
        Some(hint) => m.put(hint.as_bytes()),
        None => m.put(b"coro::Builder::stack_size"),
    }
    m.put(b"\n");
    m.write();
}

/// Writes the message for an access to an evicted coroutine's stack.
fn report_evicted(owner: *const Slot, addr: usize) {
    let mut m = Message::new();
    if owner.is_null() {
        m.put(b"a coroutine");
    } else {
        m.put_coroutine(owner);
    }
    m.put(b": its stack was evicted while lent; keep it resident with coro::pin_stack. ");
    m.put(b"A thread accessed address 0x");
    m.put(hex(addr as u64, &mut [0u8; 16]));
    m.put(b" of its stack while the coroutine was suspended and its frames were copied out ");
    m.put(b"(past runtime::Builder::resident_stacks); aborting\n");
    m.write();
}

fn hex(mut n: u64, buf: &mut [u8; 16]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[(n % 16) as usize];
        n /= 16;
        if n == 0 {
            return &buf[i..];
        }
    }
}

fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// An alternate signal stack for the current thread, if it had none.
#[derive(Debug)]
pub(crate) struct AltStack {
    mem: Option<crate::stack::StackMem>,
}

impl AltStack {
    /// Makes sure the calling thread has an alternate signal stack.
    pub(crate) fn ensure() -> io::Result<AltStack> {
        // SAFETY: querying the current alternate stack.
        let mut old: libc::stack_t = unsafe { mem::zeroed() };
        // SAFETY: `old` is a valid place for the result; a null new stack
        // only queries the current alternate stack.
        unsafe { libc::sigaltstack(ptr::null(), &mut old) };
        if old.ss_flags & libc::SS_DISABLE == 0 {
            return Ok(AltStack { mem: None });
        }
        let mem = crate::stack::StackMem::new(ALT_STACK_SIZE)?;
        let st = libc::stack_t {
            ss_sp: (mem.top() - mem.size()) as *mut libc::c_void,
            ss_flags: 0,
            ss_size: mem.size(),
        };
        // SAFETY: installs a stack that lives until `AltStack` is dropped,
        // which disables it first.
        unsafe { libc::sigaltstack(&st, ptr::null_mut()) };
        Ok(AltStack { mem: Some(mem) })
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if self.mem.is_some() {
            let st = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            // SAFETY: disables the alternate stack before its memory goes.
            unsafe { libc::sigaltstack(&st, ptr::null_mut()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_decimals() {
        assert_eq!(decimal(0, &mut [0; 20]), b"0");
        assert_eq!(decimal(262144, &mut [0; 20]), b"262144");
        assert_eq!(decimal(u64::MAX, &mut [0; 20]), b"18446744073709551615");
    }

    #[test]
    fn formats_hex() {
        assert_eq!(hex(0, &mut [0; 16]), b"0");
        assert_eq!(hex(0x7f00_dead_beef, &mut [0; 16]), b"7f00deadbeef");
        assert_eq!(hex(u64::MAX, &mut [0; 16]), b"ffffffffffffffff");
    }
}
