//! `Content-Type` from a file name's extension.
//!
//! The table is `mime_guess`'s (the one tower-http's `ServeDir` uses): the
//! IANA and Apache `mime.types` registrations, about a thousand
//! extensions, kept up to date by its maintainers. A table of our own
//! would be shorter and so answer `application/octet-stream` for types a
//! browser needs right (`.wasm`, `.mjs`, `.avif`, `.webmanifest`); the
//! crate's lookup is a static match with no allocation.
//!
//! `text/*` types get `; charset=utf-8`, as Go's `FileServer` gives its
//! HTML, CSS and text: without it a browser guesses the encoding of a
//! page, and UTF-8 is what files are written in today. An unknown
//! extension, or none, is `application/octet-stream`: a download, never a
//! page a browser would render from a guess.

use std::path::Path;

use http::HeaderValue;

const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// The `Content-Type` of a file named `path`.
pub(crate) fn content_type(path: &Path) -> HeaderValue {
    let Some(essence) = mime_guess::from_path(path).first_raw() else {
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
        assert_eq!(ct("x.unknown-ext"), "application/octet-stream");
    }
}
