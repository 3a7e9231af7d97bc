//! Shared helpers for the example programs in `examples/`.

/// The process's peak resident set size in KiB (`VmHWM`), or 0 if unknown.
pub fn peak_rss_kib() -> u64 {
    proc_status_kib("VmHWM:")
}

/// The process's current resident set size in KiB (`VmRSS`), or 0 if unknown.
pub fn rss_kib() -> u64 {
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Positional argument `index` (0 is the first after the program name),
/// parsed, or `default` when absent.
///
/// # Panics
/// With a message naming the argument if it does not parse.
pub fn arg<T: std::str::FromStr>(index: usize, name: &str, default: T) -> T {
    match std::env::args().nth(index + 1) {
        Some(a) => a
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {a:?}")),
        None => default,
    }
}
