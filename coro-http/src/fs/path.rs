//! From the path a client sent to a path under the served root, refusing
//! every form of escape before the file system is touched.
//!
//! The sent path is split at `/` first and each segment percent-decoded
//! on its own (RFC 3986 §2.1), so that an encoded slash (`%2F`) is never
//! taken for a separator. Then, per segment, the rules, each with its own
//! refusal (answered `400 Bad Request`):
//!
//! * a `%` not followed by two hex digits, or a segment that is not UTF-8
//!   once decoded: malformed;
//! * `..`, sent as is or encoded (`%2e%2e`, `.%2E`, ...): it would climb
//!   out of the root;
//! * a `/` or `\` inside a segment once decoded (`..%2f`, `%5c`), or a `\`
//!   sent as is: an encoded separator, which this server's file system
//!   would not treat as one but a proxy, a Windows share or a later
//!   rewrite might;
//! * a NUL (`%00`): no file name holds one, and C calls stop at it.
//!
//! Empty segments (`a//b`) and `.` add nothing and are skipped, as a file
//! system would. What this leaves is a relative path of plain names, which
//! cannot leave the root by itself; a symbolic link inside the root still
//! could, which is `open`'s concern.

/// A sent path, decoded and checked: plain names joined by `/`, empty for
/// the root itself.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Relative(pub(crate) String);

/// Decodes and checks `sent` (a path or the rest of one, without its
/// leading `/`), returning the relative path or why it is refused.
pub(crate) fn relative(sent: &str) -> Result<Relative, &'static str> {
    if sent.contains('\\') {
        return Err("a backslash in a file path");
    }
    let mut out = String::with_capacity(sent.len());
    for segment in sent.split('/') {
        let name = decode(segment)?;
        match &*name {
            "" | "." => continue,
            ".." => return Err("a `..` segment in a file path"),
            _ => {}
        }
        if name.contains(['/', '\\']) {
            return Err("an encoded separator in a file path");
        }
        if name.contains('\0') {
            return Err("a NUL in a file path");
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&name);
    }
    Ok(Relative(out))
}

fn decode(segment: &str) -> Result<std::borrow::Cow<'_, str>, &'static str> {
    let bytes = segment.as_bytes();
    let well_formed = memchr::memchr_iter(b'%', bytes).all(|at| {
        matches!(bytes.get(at + 1..at + 3), Some([hi, lo])
            if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit())
    });
    if !well_formed {
        return Err("a % not followed by two hex digits in a file path");
    }
    percent_encoding::percent_decode(bytes)
        .decode_utf8()
        .map_err(|_| "a file path that is not UTF-8 once decoded")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sent: &str) -> String {
        relative(sent)
            .unwrap_or_else(|e| panic!("{sent:?} refused: {e}"))
            .0
    }

    #[test]
    fn plain_paths_decode_and_skip_empty_and_dot_segments() {
        assert_eq!(ok(""), "");
        assert_eq!(ok("a.txt"), "a.txt");
        assert_eq!(ok("dir/"), "dir");
        assert_eq!(ok("a//b/./c"), "a/b/c");
        assert_eq!(ok("caf%C3%A9%20au%20lait.txt"), "café au lait.txt");
        assert_eq!(ok("...hidden/..x/x.."), "...hidden/..x/x..");
    }

    #[test]
    fn every_escape_is_refused() {
        for sent in [
            "..",
            "../etc/passwd",
            "a/../../b",
            "%2e%2e/x",
            "%2E%2e/x",
            ".%2e",
            "a/..%2fb",
            "..%2F..%2Fetc",
            "a%2fb",
            "a%5cb",
            "..\\x",
            "a\\b",
            "a%00.txt",
            "%",
            "a%2",
            "%zz",
            "%ff",
        ] {
            assert!(relative(sent).is_err(), "{sent:?} was let through");
        }
    }
}
