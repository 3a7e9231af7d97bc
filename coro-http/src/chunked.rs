//! A strict decoder for the chunked transfer coding (RFC 9112 §7.1).
//!
//! ```text
//! chunked-body = *chunk last-chunk trailer-section CRLF
//! chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size   = 1*HEXDIG
//! last-chunk   = 1*("0") [ chunk-ext ] CRLF
//! ```
//!
//! The decoder is a state machine fed whatever bytes have arrived; it
//! copies chunk data out and consumes framing, so it works on any split of
//! the input. It refuses everything a lenient parser might read
//! differently: a size that is not plain hex digits (no `0x`, no sign, no
//! spaces before the digits), more than 16 digits, a size that overflows,
//! a line ended by a bare LF, data longer than its size (anything but CRLF
//! right after the data), and extensions or trailers past their limits
//! (per line and per body for extensions).
//!
//! Chunk extensions are read to their grammar (see [`Ext`]) and dropped: a
//! `;` without a name, an `=` without a value, a value that is neither a
//! token nor a closed quoted string, a byte outside the grammar, are all
//! refused: a lenient parser ahead of this server (one that skips to the
//! CR, one that lets a quoted string run on) could otherwise disagree with
//! it about where the chunk data starts.
//!
//! Trailer fields are read as field lines (RFC 9112 §7.1.2, §5: a token
//! name, a colon right after it, a value of visible characters, spaces,
//! tabs and obs-text) and dropped: they never change the framing.

use crate::error::Error;

/// Most hex digits of a chunk size: 16 fill a `u64`.
const MAX_SIZE_DIGITS: u8 = 16;

/// Longest chunk extension accepted on one chunk-size line.
const MAX_EXTENSION_BYTES: usize = 1024;

/// Most chunk extension bytes in one body, all lines together. The body
/// limit counts data only, and a chunk may carry one byte of it behind a
/// kilobyte of extension: without this, a client could make the server
/// read a thousand bytes of framing per byte of body (hyper bounds them
/// the same way; Go, CVE-2023-39326, by their ratio to the data).
const MAX_EXTENSION_TOTAL: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size.
    Size,
    /// After the digits: chunk extensions (see [`Ext`]), until CR.
    Extension(Ext),
    /// Expecting the LF of the chunk-size line.
    SizeLf,
    /// Copying chunk data.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    TrailerStart,
    /// In the name of a trailer field, until its colon.
    TrailerName,
    /// In the value of a trailer field, until CR.
    TrailerValue,
    /// Expecting the LF of a trailer line.
    TrailerLf,
    /// Expecting the LF of the final blank line.
    EndLf,
    /// The body is complete.
    Done,
}

/// Where in the chunk extensions of a chunk-size line the decoder is
/// (RFC 9112 §7.1.1, with quoted-string from RFC 9110 §5.6.4):
///
/// ```text
/// chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
/// chunk-ext-name = token
/// chunk-ext-val  = token / quoted-string
/// quoted-string  = DQUOTE *( qdtext / quoted-pair ) DQUOTE
/// ```
///
/// Every state but `Next`, `Name`, `Token` and `AfterQuoted` refuses the
/// CR that ends the line: a `;` with no name, an `=` with no value and an
/// unclosed quote are all errors; so is whitespace before the CR (BWS is
/// allowed only around `;` and `=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// After the size or a whole extension: `;`, whitespace, or CR.
    Next,
    /// After whitespace that follows the size or an extension: only a
    /// `;` (or more whitespace) may come.
    NextAfterSpace,
    /// After `;`: whitespace, then the first character of a name.
    NameStart,
    /// In a name.
    Name,
    /// After whitespace that follows a name: `=` or `;`.
    AfterName,
    /// After `=`: whitespace, then a token or a quoted string.
    ValueStart,
    /// In a token value.
    Token,
    /// In a quoted value.
    Quoted,
    /// After a quoted value: `;`, whitespace, or CR.
    AfterQuoted,
    /// After a backslash in a quoted value.
    QuotedPair,
}

/// The progress of one chunked body.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// Data bytes left in the current chunk, or the size being read.
    remaining: u64,
    digits: u8,
    extension_bytes: usize,
    /// Extension bytes of every chunk so far.
    extension_total: usize,
    trailer_bytes: usize,
    max_trailer_bytes: usize,
}

/// What one call of [`ChunkedDecoder::decode`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Input bytes used.
    pub(crate) consumed: usize,
    /// Data bytes written to the output.
    pub(crate) produced: usize,
}

impl ChunkedDecoder {
    /// A decoder for one body, allowing `max_trailer_bytes` of trailers.
    pub(crate) fn new(max_trailer_bytes: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            remaining: 0,
            digits: 0,
            extension_bytes: 0,
            extension_total: 0,
            trailer_bytes: 0,
            max_trailer_bytes,
        }
    }

    /// Counts one byte of the trailer section against its limit.
    fn count_trailer_byte(&mut self) -> Result<(), Error> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > self.max_trailer_bytes {
            return Err(Error::HeadersTooLarge);
        }
        Ok(())
    }

    /// Whether the whole body, trailers included, has been decoded.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input` into `out` until one of them runs out or the
    /// body ends. Data is only produced while `out` has room; framing is
    /// consumed either way.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, Error> {
        let mut i = 0;
        let mut produced = 0;
        while i < input.len() && self.state != State::Done {
            let b = input[i];
            match self.state {
                State::Data => {
                    if produced == out.len() {
                        break;
                    }
                    let n = (input.len() - i)
                        .min(out.len() - produced)
                        .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                    out[produced..produced + n].copy_from_slice(&input[i..i + n]);
                    produced += n;
                    i += n;
                    self.remaining -= n as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    continue;
                }
                State::Size => match char::from(b).to_digit(16) {
                    Some(v) => {
                        if self.digits == MAX_SIZE_DIGITS {
                            return Err(Error::BadRequest("chunk size has too many digits"));
                        }
                        self.remaining = self.remaining << 4 | u64::from(v);
                        self.digits += 1;
                    }
                    None if self.digits == 0 => {
                        return Err(Error::BadRequest("invalid chunk size"));
                    }
                    None => {
                        self.extension_bytes = 0;
                        self.state = State::Extension(Ext::Next);
                        continue;
                    }
                },
                State::Extension(ext) => {
                    if b == b'\r' {
                        if !matches!(ext, Ext::Next | Ext::Name | Ext::Token | Ext::AfterQuoted) {
                            return Err(Error::BadRequest(extension_error(ext)));
                        }
                        self.state = State::SizeLf;
                    } else {
                        self.extension_bytes += 1;
                        self.extension_total += 1;
                        if self.extension_bytes > MAX_EXTENSION_BYTES {
                            return Err(Error::BadRequest("chunk extension too long"));
                        }
                        if self.extension_total > MAX_EXTENSION_TOTAL {
                            return Err(Error::BadRequest(
                                "chunk extensions past their limit for one body",
                            ));
                        }
                        let next =
                            next_ext(ext, b).ok_or(Error::BadRequest(extension_error(ext)))?;
                        self.state = State::Extension(next);
                    }
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(Error::BadRequest("chunk size line not ended by CRLF"));
                    }
                    self.digits = 0;
                    if self.remaining == 0 {
                        self.trailer_bytes = 0;
                        self.state = State::TrailerStart;
                    } else {
                        self.state = State::Data;
                    }
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(Error::BadRequest("chunk data longer than its size"));
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(Error::BadRequest("chunk data not followed by CRLF"));
                    }
                    self.state = State::Size;
                }
                State::TrailerStart => {
                    if b == b'\r' {
                        self.state = State::EndLf;
                    } else if is_token(b) {
                        // Counted from here: the name's first byte is in.
                        self.count_trailer_byte()?;
                        self.state = State::TrailerName;
                    } else {
                        // A colon with no name, or whitespace first (obs-fold,
                        // RFC 9112 §5.2).
                        return Err(Error::BadRequest("invalid trailer field"));
                    }
                }
                State::TrailerName => {
                    self.count_trailer_byte()?;
                    match b {
                        b':' => self.state = State::TrailerValue,
                        b if is_token(b) => {}
                        _ => return Err(Error::BadRequest("invalid trailer field name")),
                    }
                }
                State::TrailerValue => {
                    self.count_trailer_byte()?;
                    match b {
                        b'\r' => self.state = State::TrailerLf,
                        b'\t' | b' ' => {}
                        b if b >= 0x21 && b != 0x7f => {}
                        _ => return Err(Error::BadRequest("invalid trailer field value")),
                    }
                }
                State::TrailerLf => {
                    if b != b'\n' {
                        return Err(Error::BadRequest("trailer line not ended by CRLF"));
                    }
                    self.state = State::TrailerStart;
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(Error::BadRequest("chunked body not ended by CRLF"));
                    }
                    self.state = State::Done;
                }
                State::Done => unreachable!("the loop stops at Done"),
            }
            i += 1;
        }
        Ok(Progress {
            consumed: i,
            produced,
        })
    }
}

/// The extension state after byte `b` (not CR) in state `ext`, or `None`
/// when `b` cannot come there.
fn next_ext(ext: Ext, b: u8) -> Option<Ext> {
    let space = matches!(b, b' ' | b'\t');
    Some(match ext {
        Ext::Next | Ext::NextAfterSpace | Ext::AfterQuoted if b == b';' => Ext::NameStart,
        Ext::Next | Ext::AfterQuoted if space => Ext::NextAfterSpace,
        Ext::NextAfterSpace if space => Ext::NextAfterSpace,
        Ext::NameStart if space => Ext::NameStart,
        Ext::NameStart | Ext::Name if is_token(b) => Ext::Name,
        Ext::Name | Ext::AfterName if space => Ext::AfterName,
        Ext::Name | Ext::AfterName | Ext::Token if b == b';' => Ext::NameStart,
        Ext::Name | Ext::AfterName if b == b'=' => Ext::ValueStart,
        Ext::ValueStart if space => Ext::ValueStart,
        Ext::ValueStart if b == b'"' => Ext::Quoted,
        Ext::ValueStart | Ext::Token if is_token(b) => Ext::Token,
        Ext::Token if space => Ext::NextAfterSpace,
        Ext::Quoted if b == b'"' => Ext::AfterQuoted,
        Ext::Quoted if b == b'\\' => Ext::QuotedPair,
        // qdtext: HTAB, SP, VCHAR but DQUOTE and backslash, obs-text.
        Ext::Quoted if b == b'\t' || b == b' ' || b >= 0x21 && b != 0x7f => Ext::Quoted,
        // quoted-pair: HTAB, SP, VCHAR, obs-text.
        Ext::QuotedPair if b == b'\t' || b == b' ' || b >= 0x21 && b != 0x7f => Ext::Quoted,
        _ => return None,
    })
}

/// What is wrong when the extension in state `ext` cannot go on.
fn extension_error(ext: Ext) -> &'static str {
    match ext {
        Ext::Next | Ext::NextAfterSpace => "invalid chunk size",
        Ext::NameStart => "chunk extension without a name",
        Ext::Name | Ext::AfterName => "invalid chunk extension name",
        Ext::ValueStart => "chunk extension without a value after =",
        Ext::Token | Ext::AfterQuoted => "invalid chunk extension value",
        Ext::Quoted | Ext::QuotedPair => "unclosed or invalid quoted chunk extension value",
    }
}

/// A token character (RFC 9110 §5.6.2).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` fed in pieces of `step` bytes through a `cap`-byte
    /// output buffer.
    fn decode_all(input: &[u8], step: usize, cap: usize) -> Result<(Vec<u8>, usize, bool), Error> {
        let mut d = ChunkedDecoder::new(1024);
        let mut body = Vec::new();
        let mut at = 0;
        let mut out = vec![0; cap];
        while at < input.len() && !d.is_done() {
            let end = (at + step).min(input.len());
            let p = d.decode(&input[at..end], &mut out)?;
            body.extend_from_slice(&out[..p.produced]);
            at += p.consumed;
            if p.consumed == 0 && p.produced == 0 {
                break;
            }
        }
        Ok((body, at, d.is_done()))
    }

    fn encode(pieces: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces.iter().filter(|p| !p.is_empty()) {
            out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
            out.extend_from_slice(p);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    #[test]
    fn a_body_with_extensions_and_trailers_decodes() {
        let input = b"5;name=val\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (body, used, done) = decode_all(input, input.len(), 64).unwrap();
        assert_eq!(body, b"hello0123456789");
        assert!(done);
        assert_eq!(&input[used..], b"NEXT");
    }

    #[test]
    fn bad_framing_is_refused() {
        for input in [
            &b"0x5\r\nhello\r\n0\r\n\r\n"[..],
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"\r\nhello\r\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\nhello0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\n",
            b"5 x\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            // Extensions.
            b"5;\r\nhello\r\n0\r\n\r\n",
            b"5; \r\nhello\r\n0\r\n\r\n",
            b"5;;a\r\nhello\r\n0\r\n\r\n",
            b"5;=b\r\nhello\r\n0\r\n\r\n",
            b"5;a=\r\nhello\r\n0\r\n\r\n",
            b"5;a= \r\nhello\r\n0\r\n\r\n",
            b"5;a=\"x\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"x\\\"\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"x\"y\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"\x7f\"\r\nhello\r\n0\r\n\r\n",
            b"5;a=b c\r\nhello\r\n0\r\n\r\n",
            b"5;a b\r\nhello\r\n0\r\n\r\n",
            b"5;a \r\nhello\r\n0\r\n\r\n",
            b"5;a@b\r\nhello\r\n0\r\n\r\n",
            b"5;a=b@\r\nhello\r\n0\r\n\r\n",
            b"5;a\x80\r\nhello\r\n0\r\n\r\n",
            b"5;a\n\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n0;\r\n\r\n",
            // Trailers.
            b"0\r\nX-T\r\n\r\n",
            b"0\r\nX-T : 1\r\n\r\n",
            b"0\r\n: 1\r\n\r\n",
            b"0\r\n folded\r\n\r\n",
            b"0\r\nX-T: 1\r\n\tfolded\r\n\r\n",
            b"0\r\nX-T: a\x01b\r\n\r\n",
            b"0\r\nX-T: a\x7fb\r\n\r\n",
            b"0\r\nX(T: 1\r\n\r\n",
        ] {
            let r = decode_all(input, input.len(), 64);
            assert!(
                r.is_err(),
                "{:?} was accepted: {r:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn extensions_and_trailers_of_every_valid_form_decode() {
        let input = b"5;a\r\nhello\r\n1 ; b = c ;d=\"q \\\" ;\x80\"\r\n!\r\n\
            3;e=\"\";f=g;h=\"\t\"\r\nabc\r\n0;last\r\nX-T: 1\r\nX-Empty:\r\nX-Tab:\ta \x80b\r\n\r\n";
        let (body, used, done) = decode_all(input, 1, 1).unwrap();
        assert_eq!(body, b"hello!abc");
        assert!(done);
        assert_eq!(used, input.len());
    }

    #[test]
    fn extensions_are_bounded_across_the_body() {
        // Each line is within its limit; together they are not.
        let extension = format!(";x={}", "e".repeat(1000));
        let chunk = format!("1{extension}\r\nd\r\n");
        let within = format!("{}0\r\n\r\n", chunk.repeat(16));
        assert!(decode_all(within.as_bytes(), within.len(), 64).is_ok());
        let past = format!("{}0\r\n\r\n", chunk.repeat(17));
        assert!(decode_all(past.as_bytes(), past.len(), 64).is_err());
    }

    #[test]
    fn sixteen_digits_fit() {
        let mut d = ChunkedDecoder::new(0);
        let p = d.decode(b"000000000000000A\r\n", &mut []).unwrap();
        assert_eq!(p.consumed, 18);
    }

    #[test]
    fn trailers_past_their_limit_are_refused() {
        let mut d = ChunkedDecoder::new(8);
        let r = d.decode(b"0\r\nX-Long-Trailer: yes\r\n\r\n", &mut []);
        assert!(matches!(r, Err(Error::HeadersTooLarge)));
    }

    proptest! {
        /// Any body, encoded in any chunks, decodes to itself whatever the
        /// input and output split.
        #[test]
        fn roundtrip(pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
                     step in 1usize..20, cap in 1usize..20) {
            let input = encode(&pieces);
            let (body, used, done) = decode_all(&input, step, cap).unwrap();
            prop_assert!(done);
            prop_assert_eq!(used, input.len());
            prop_assert_eq!(body, pieces.concat());
        }

        /// Arbitrary bytes never panic, and never yield more data than
        /// they held.
        #[test]
        fn arbitrary_input(input in proptest::collection::vec(any::<u8>(), 0..256), step in 1usize..32) {
            if let Ok((body, used, _)) = decode_all(&input, step, 16) {
                prop_assert!(body.len() <= used);
            }
        }
    }
}
