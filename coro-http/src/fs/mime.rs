//! `Content-Type` from a file name's extension.
//!
//! The table is `mime_guess`'s (the one tower-http's `ServeDir` uses): the
//! IANA and Apache `mime.types` registrations, about a thousand
//! extensions, kept up to date by its maintainers. A table of our own
//! would be shorter and so answer `application/octet-stream` for types a
//! browser needs right (`.wasm`, `.mjs`, `.avif`, `.webmanifest`); the
//! crate's lookup is a static match with no allocation.
//!
//! The types most requests ask for (pages, styles, scripts, images,
//! fonts) are answered first from a short table of ready-made values,
//! without the table search or a value built per request; it also fixes
//! `.js` and `.mjs` as `text/javascript` (RFC 9239), whatever the crate's
//! version says.
//!
//! `text/*` types get `; charset=utf-8`, as Go's `FileServer` gives its
//! HTML, CSS and text: without it a browser guesses the encoding of a
//! page, and UTF-8 is what files are written in today. An unknown
//! extension, or none, is `application/octet-stream`: a download, never a
//! page a browser would render from a guess.

use std::path::Path;

use http::HeaderValue;

const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// The common types, by extension (compared ignoring ASCII case).
const COMMON: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("txt", "text/plain; charset=utf-8"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("ico", "image/x-icon"),
    ("woff2", "font/woff2"),
    ("woff", "font/woff"),
    ("wasm", "application/wasm"),
];

/// The `Content-Type` of a file named `path`.
pub(crate) fn content_type(path: &Path) -> HeaderValue {
    let name = path.as_os_str().as_encoded_bytes();
    let ext = match name.iter().rposition(|&b| b == b'.' || b == b'/') {
        Some(dot) if name[dot] == b'.' => &name[dot + 1..],
        _ => return OCTETS,
    };
    if let Some((_, value)) = COMMON
        .iter()
        .find(|(e, _)| e.as_bytes().eq_ignore_ascii_case(ext))
    {
        return HeaderValue::from_static(value);
    }
    let Some(essence) = std::str::from_utf8(ext)
        .ok()
        .and_then(|ext| mime_guess::from_ext(ext).first_raw())
    else {
        return OCTETS;
    };
    if essence.starts_with("text/") {
        return HeaderValue::from_str(&format!("{essence}; charset=utf-8")).unwrap_or(OCTETS);
    }
    HeaderValue::from_static(essence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_extensions_and_the_fallback() {
        let ct = |p: &str| content_type(Path::new(p));
        assert_eq!(ct("index.html"), "text/html; charset=utf-8");
        assert_eq!(ct("a/style.CSS"), "text/css; charset=utf-8");
        assert_eq!(ct("logo.png"), "image/png");
        assert_eq!(ct("app.wasm"), "application/wasm");
        assert_eq!(ct("data.json"), "application/json");
        assert_eq!(ct("README"), "application/octet-stream");
        assert_eq!(ct("a.d/README"), "application/octet-stream");
        assert_eq!(ct("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(ct("notes.md"), "text/markdown; charset=utf-8");
        assert_eq!(ct("doc.pdf"), "application/pdf");
        assert_eq!(ct("x.unknown-ext"), "application/octet-stream");
    }
}
