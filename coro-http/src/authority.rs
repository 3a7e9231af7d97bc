//! The authority of a request: the `Host` field, the authority of an
//! absolute-form target, and the target of `CONNECT` (RFC 9110 §4.2, §7.2,
//! §9.3.6; RFC 3986 §3.2).
//!
//! ```text
//! authority   = host [ ":" port ]          ; no userinfo in HTTP
//! host        = IP-literal / IPv4address / reg-name
//! IP-literal  = "[" ( IPv6address / IPvFuture ) "]"
//! IPvFuture   = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
//! reg-name    = *( unreserved / pct-encoded / sub-delims )
//! port        = *DIGIT
//! ```
//!
//! A server that routes by host, or a proxy in front of it, must read the
//! same host from these bytes as this server does; so anything that does
//! not match the grammar exactly is refused (400), and so is what the
//! grammar allows but HTTP does not:
//!
//! * userinfo (`user@host`): RFC 9110 §4.2.4 has it treated as an error,
//!   since it was used to disguise the host (`trusted.example@evil.example`);
//! * an empty host: an `http` URI with one must be rejected (§4.2.1);
//! * an empty port after the colon, which a sender must not generate
//!   (§4.1), and a port past 65535, which no TCP port is.
//!
//! An IPv4 address is a reg-name by this grammar (digits and dots), so it
//! needs no rule of its own.

use std::net::Ipv6Addr;

use crate::error::Error;

/// Most digits of a port: 65535 has five.
const MAX_PORT_DIGITS: usize = 5;

/// Whether an authority must carry a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// `Host` and absolute-form targets: `host` or `host:port`.
    Optional,
    /// The authority-form target of `CONNECT`: `host:port` only.
    Required,
}

/// Checks that `value` is `host[:port]` as the module docs say.
pub(crate) fn check(value: &[u8], port: Port) -> Result<(), Error> {
    // One pass for the common host (a `Host` field on every request); an
    // `@` can pass none of the rules, so it is looked for only to name the
    // error.
    check_parts(value, port).map_err(|e| {
        if value.contains(&b'@') {
            Error::BadRequest("userinfo in the authority")
        } else {
            e
        }
    })
}

fn check_parts(value: &[u8], port: Port) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::BadRequest("empty host"));
    }
    let after_host = if value[0] == b'[' {
        let close = memchr::memchr(b']', value)
            .ok_or(Error::BadRequest("unclosed IP literal in the authority"))?;
        check_ip_literal(&value[1..close])?;
        &value[close + 1..]
    } else {
        let end = reg_name_len(value)?;
        &value[end..]
    };
    match after_host {
        [] if port == Port::Required => Err(Error::BadRequest("no port in the authority")),
        [] => Ok(()),
        [b':', digits @ ..] => check_port(digits),
        _ => Err(Error::BadRequest("invalid host in the authority")),
    }
}

/// The length of the reg-name at the start of `value`, up to a `:` or the
/// end; an error for a character a reg-name may not have there.
fn reg_name_len(value: &[u8]) -> Result<usize, Error> {
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b if REG_NAME[usize::from(b)] => i += 1,
            b':' => break,
            b'%' => {
                let escape = value.get(i + 1..i + 3);
                if !escape.is_some_and(|e| e.iter().all(u8::is_ascii_hexdigit)) {
                    return Err(Error::BadRequest("invalid percent-escape in the host"));
                }
                i += 3;
            }
            _ => return Err(Error::BadRequest("invalid character in the host")),
        }
    }
    if i == 0 {
        return Err(Error::BadRequest("empty host"));
    }
    Ok(i)
}

/// The bytes a reg-name takes as they are: unreserved and sub-delims
/// (RFC 3986 §3.2.2); `%` starts an escape.
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_unreserved(b as u8) || is_sub_delim(b as u8);
        b += 1;
    }
    table
};

/// What lies between `[` and `]`: an IPv6 address or an IPvFuture.
fn check_ip_literal(inside: &[u8]) -> Result<(), Error> {
    let invalid = Error::BadRequest("invalid IP literal in the authority");
    if let [b'v' | b'V', rest @ ..] = inside {
        let dot = memchr::memchr(b'.', rest).ok_or(invalid)?;
        let (version, tail) = (&rest[..dot], &rest[dot + 1..]);
        let valid = !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && !tail.is_empty()
            && tail
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
        return if valid {
            Ok(())
        } else {
            Err(Error::BadRequest("invalid IP literal in the authority"))
        };
    }
    // The standard library parses RFC 4291 text forms, embedded IPv4
    // included, and nothing else (no zone identifier, no brackets).
    std::str::from_utf8(inside)
        .ok()
        .and_then(|text| text.parse::<Ipv6Addr>().ok())
        .map(|_| ())
        .ok_or(invalid)
}

fn check_port(digits: &[u8]) -> Result<(), Error> {
    if digits.is_empty() {
        return Err(Error::BadRequest("empty port in the authority"));
    }
    if digits.len() > MAX_PORT_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Error::BadRequest("invalid port in the authority"));
    }
    let port = digits
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    if port > u32::from(u16::MAX) {
        return Err(Error::BadRequest("invalid port in the authority"));
    }
    Ok(())
}

/// RFC 3986 §2.3.
const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2.
const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(value: &str) -> bool {
        check(value.as_bytes(), Port::Optional).is_ok()
    }

    #[test]
    fn hosts_of_every_form_are_accepted() {
        for value in [
            "example.com",
            "example.com:8080",
            "EXAMPLE.com:0",
            "localhost:65535",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:443",
            "[2001:db8::7]:80",
            "[::ffff:192.0.2.1]",
            "[v1.fe80::a+en1]",
            "xn--nxasmq6b.example",
            "a%20b",
            "sub-delims!$&'()*+,;=",
            "_service.example~",
        ] {
            assert!(ok(value), "{value} was refused");
        }
    }

    #[test]
    fn malformed_hosts_are_refused() {
        for value in [
            "",
            "user@example.com",
            "user:pass@example.com",
            "@example.com",
            "example.com:",
            ":80",
            "example.com:8o",
            "example.com:-1",
            "example.com:+80",
            "example.com:65536",
            "example.com:000080",
            "example.com:80:80",
            "example.com:80 ",
            "exa mple.com",
            "exa\"mple",
            "example.com/path",
            "example.com?q",
            "example.com#f",
            "a%2",
            "a%zz",
            "[::1",
            "[::1]x",
            "[::1]:",
            "[::1]:x",
            "[1.2.3.4]",
            "[::g]",
            "[fe80::1%25eth0]",
            "[]",
            "[v1.]",
            "[v.x]",
            "[vx.y]",
            "::1",
            "ex\u{e4}mple.com",
        ] {
            assert!(!ok(value), "{value:?} was accepted");
        }
    }

    #[test]
    fn connect_needs_a_port() {
        assert!(check(b"example.com:443", Port::Required).is_ok());
        assert!(check(b"[::1]:443", Port::Required).is_ok());
        assert!(check(b"example.com", Port::Required).is_err());
        assert!(check(b"[::1]", Port::Required).is_err());
    }
}
