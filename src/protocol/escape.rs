//! JSON string escaping and unescaping for the double-encoded `TASK_EXECUTE_REQUEST` body
//! (spec §6.1): the hot path of dispatch, where the whole task execution context travels as
//! one JSON string inside `{"taskExecutionContext":"..."}`.
//!
//! serde_json does the same work, but through its general serializer/parser (an `io::Write`
//! call per escape, a `Value` or visitor per body). These functions work on byte slices
//! directly, follow the same rules as Jackson with upstream's settings (spec §5), and give up
//! (`None`) on anything unusual so that callers fall back to serde_json and keep its exact
//! behaviour, errors included.
//!
//! [`EscapedFormatter`] goes one step further for encoding: a serde_json formatter that writes
//! JSON text already escaped for a JSON string, so the context can be serialized straight into
//! the outer body in one pass.

#[cfg(test)]
use serde_json::ser::{CharEscape, Formatter};
#[cfg(test)]
use std::io;

/// Jackson writes `\u00XX` with upper-case hex digits (serde_json: lower-case).
const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The letter after a backslash → the byte it stands for; 0 for `u` and invalid letters.
pub(crate) static UNESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'/' as usize] = b'/';
    t[b'b' as usize] = 0x08;
    t[b'f' as usize] = 0x0C;
    t[b'n' as usize] = b'\n';
    t[b'r' as usize] = b'\r';
    t[b't' as usize] = b'\t';
    t
};

/// The high bit set in exactly those bytes of `w` that are `"`, `\` or below 0x20.
#[inline]
pub(crate) fn special_mask(w: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const L7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    // High bit of each zero byte of x, without borrows between bytes.
    let zero = |x: u64| !(((x & L7) + L7) | x | L7);
    let quote = zero(w ^ (LO * u64::from(b'"')));
    let backslash = zero(w ^ (LO * u64::from(b'\\')));
    let control = !(((w & L7) + LO * 0x60) | w) & HI;
    quote | backslash | control
}

/// What one byte of a string value becomes: up to 8 bytes, `len` of them used.
#[derive(Clone, Copy)]
pub(crate) struct Escape {
    bytes: [u8; 8],
    len: u8,
}

/// The escape tables: `levels == 1` for a string in the context's JSON text (Jackson's
/// escapes: `"`, `\`, five controls by letter, the other controls as `\u00XX`, nothing else);
/// `levels == 2` for the same when that text is itself the content of a JSON string (every
/// `"` and `\` of the first escape escaped again).
const fn escape_table(levels: u8) -> [Escape; 256] {
    let mut t = [Escape {
        bytes: [0; 8],
        len: 0,
    }; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut one = [0u8; 8];
        let n = match c {
            b'"' | b'\\' => {
                one[0] = b'\\';
                one[1] = c;
                2
            }
            0x08 | 0x09 | 0x0A | 0x0C | 0x0D => {
                one[0] = b'\\';
                one[1] = match c {
                    0x08 => b'b',
                    0x09 => b't',
                    0x0A => b'n',
                    0x0C => b'f',
                    _ => b'r',
                };
                2
            }
            0x00..=0x1F => {
                one = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(c >> 4) as usize],
                    HEX[(c & 0xF) as usize],
                    0,
                    0,
                ];
                6
            }
            _ => {
                one[0] = c;
                1
            }
        };
        if levels == 1 {
            t[b] = Escape {
                bytes: one,
                len: n as u8,
            };
        } else {
            let mut two = [0u8; 8];
            let mut m = 0;
            let mut k = 0;
            while k < n {
                if one[k] == b'\\' || one[k] == b'"' {
                    two[m] = b'\\';
                    m += 1;
                }
                two[m] = one[k];
                m += 1;
                k += 1;
            }
            t[b] = Escape {
                bytes: two,
                len: m as u8,
            };
        }
        b += 1;
    }
    t
}

pub(crate) static ESCAPE_ONCE: [Escape; 256] = escape_table(1);
pub(crate) static ESCAPE_TWICE: [Escape; 256] = escape_table(2);

/// The most one input byte grows to (`\\u00XX`), plus one 8-byte store of slack.
const MAX_GROWTH: usize = 7;

/// Appends the escaped content of a string value. Plain 8-byte words are copied whole; in a
/// word with specials each one is preceded by an 8-byte store of the word's rest (later
/// stores overwrite what lies past the plain run) and written as one 8-byte store of its
/// table entry. The buffer is kept at least `remaining input + 64` bytes ahead of the write
/// position, which covers a whole word of worst-case escapes.
pub(crate) fn escape_content(out: &mut Vec<u8>, s: &[u8], table: &[Escape; 256]) {
    let mut pos = out.len();
    let ahead = |remaining: usize| remaining + 8 * (MAX_GROWTH + 1) + 8;
    out.resize(pos + ahead(s.len()), 0);
    let mut chunks = s.chunks_exact(8);
    let mut remaining = s.len();
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let mut bits = special_mask(word);
        remaining -= 8;
        if bits == 0 {
            out[pos..pos + 8].copy_from_slice(chunk);
            pos += 8;
            continue;
        }
        let mut start = 0;
        while bits != 0 {
            let k = (bits.trailing_zeros() / 8) as usize;
            bits &= bits - 1;
            out[pos..pos + 8].copy_from_slice(&(word >> (8 * start)).to_le_bytes());
            pos += k - start;
            let e = table[usize::from(chunk[k])];
            out[pos..pos + 8].copy_from_slice(&e.bytes);
            pos += usize::from(e.len);
            start = k + 1;
        }
        if start < 8 {
            out[pos..pos + 8].copy_from_slice(&(word >> (8 * start)).to_le_bytes());
            pos += 8 - start;
        }
        if out.len() < pos + ahead(remaining) {
            let grow = pos + ahead(remaining) + remaining / 2;
            out.resize(grow, 0);
        }
    }
    for &b in chunks.remainder() {
        let e = table[usize::from(b)];
        out[pos..pos + 8].copy_from_slice(&e.bytes);
        pos += usize::from(e.len);
    }
    out.truncate(pos);
}

/// Appends the JSON string *content* of `s` (no surrounding quotes) as Jackson writes it.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    escape_content(out, s, &ESCAPE_ONCE);
}

fn hex4(s: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in s.get(..4)? {
        v = v << 4 | char::from(c).to_digit(16)?;
    }
    Some(v)
}

/// Unescapes the JSON string that starts right after an opening quote at `s[0]`: returns the
/// string and the index of its closing quote in `s`. `None` for anything the general parser
/// must judge (raw control characters, bad or unpaired `\u` escapes, invalid UTF-8, no closing
/// quote): the caller then re-parses with serde_json, which either accepts the same text or
/// reports the error.
pub(crate) fn unescape(s: &[u8]) -> Option<(String, usize)> {
    // Unescaping never lengthens (`\n` → 1 byte, `\uXXXX` → ≤ 3, a surrogate pair → 4);
    // 8 bytes of slack let plain runs be copied with whole 8-byte stores.
    let mut out = vec![0u8; s.len() + 8];
    let mut pos = 0;
    let mut i = 0;
    loop {
        // Plain bytes, eight at a time, up to the next special one. `pos <= i` throughout.
        while let Some(chunk) = s.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            out.get_mut(pos..pos + 8)?.copy_from_slice(&word);
            let mask = special_mask(u64::from_le_bytes(word));
            if mask == 0 {
                pos += 8;
                i += 8;
            } else {
                let plain = (mask.trailing_zeros() / 8) as usize;
                pos += plain;
                i += plain;
                break;
            }
        }
        let b = *s.get(i)?;
        match b {
            b'"' => {
                out.truncate(pos);
                return String::from_utf8(out).ok().map(|s| (s, i));
            }
            b'\\' => {
                let letter = *s.get(i + 1)?;
                let e = UNESCAPE[usize::from(letter)];
                if e != 0 {
                    *out.get_mut(pos)? = e;
                    pos += 1;
                    i += 2;
                    continue;
                }
                if letter != b'u' {
                    return None;
                }
                let hi = hex4(s.get(i + 2..)?)?;
                i += 6;
                let c = if (0xD800..0xDC00).contains(&hi) {
                    if s.get(i..i + 2)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(s.get(i + 2..)?)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                let mut utf8 = [0u8; 4];
                let utf8 = char::from_u32(c)?.encode_utf8(&mut utf8).as_bytes();
                out.get_mut(pos..pos + utf8.len())?.copy_from_slice(utf8);
                pos += utf8.len();
            }
            0..=0x1F => return None,
            _ => {
                *out.get_mut(pos)? = b;
                pos += 1;
                i += 1;
            }
        }
    }
}

/// A serde_json formatter writing compact JSON as Jackson writes it, *escaped once more* so
/// that the output is the content of a JSON string holding that JSON. Serializing the context
/// through it gives the inner part of `{"taskExecutionContext":"..."}` in one pass.
///
/// serde_json hands the formatter string contents split into fragments free of `"`, `\` and
/// control characters plus one [`CharEscape`] per such character, so only the quotes around
/// strings and the escapes themselves need a second escaping; everything else (numbers,
/// `null`, `{`, `:`, ...) is the same inside a string.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EscapedFormatter;

#[cfg(test)]
impl Formatter for EscapedFormatter {
    fn begin_string<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\\\"")
    }

    fn end_string<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\\\"")
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        // The escape as Jackson writes it (`\"`, `\n`, `\u001F`), with its backslash (and
        // quote) escaped again.
        let letter = match escape {
            CharEscape::Quote => return w.write_all(b"\\\\\\\""),
            CharEscape::ReverseSolidus => return w.write_all(b"\\\\\\\\"),
            CharEscape::Solidus => b'/',
            CharEscape::Backspace => b'b',
            CharEscape::FormFeed => b'f',
            CharEscape::LineFeed => b'n',
            CharEscape::CarriageReturn => b'r',
            CharEscape::Tab => b't',
            CharEscape::AsciiControl(byte) => {
                return w.write_all(&[
                    b'\\',
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xF)],
                ])
            }
        };
        w.write_all(&[b'\\', b'\\', letter])
    }

    fn write_raw_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut out = Vec::with_capacity(fragment.len() + 16);
        escape_into(&mut out, fragment.as_bytes());
        w.write_all(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::json::jackson;
    use proptest::prelude::*;

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        escape_into(&mut out, s.as_bytes());
        String::from_utf8(out).unwrap()
    }

    /// What serde_json + the Jackson formatter write for `s`, quotes stripped.
    fn reference(s: &str) -> String {
        let j = jackson::to_string(s).unwrap();
        j[1..j.len() - 1].to_string()
    }

    #[test]
    fn escapes_as_jackson() {
        let s = "\u{0}\u{1f}\u{1b}\u{7f}\t\n\r\u{8}\u{c}\"\\/\u{2028}😀 plain";
        assert_eq!(escaped(s), reference(s));
        assert_eq!(escaped(""), "");
    }

    #[test]
    fn unescapes_what_serde_json_reads() {
        let cases = [
            r#"plain""#,
            r#"a\"b\\c\/d\b\f\n\r\t""#,
            r#"\u00e9\u20AC\ud83d\ude00 é€😀""#,
            r#"0123456789abcdef\"0123456789abcdef\\\\\\\"x""#,
            r#"""#,
        ];
        for c in cases {
            let (s, q) = unescape(c.as_bytes()).unwrap();
            assert_eq!(q, c.len() - 1, "{c}");
            let want: String = serde_json::from_str(&format!("\"{c}")).unwrap();
            assert_eq!(s, want, "{c}");
        }
    }

    #[test]
    fn gives_up_on_what_it_must_not_judge() {
        for bad in [
            &b"no closing quote"[..],
            b"trailing backslash\\",
            b"raw\ncontrol\"",
            b"bad \\x escape\"",
            b"short \\u12\"",
            b"lone \\ud800 surrogate\"",
            b"lone \\udc00 trail\"",
            b"pair \\ud800\\u0041\"",
            b"bad utf8 \xff\"",
            b"cut utf8 \xc3\"",
        ] {
            assert_eq!(unescape(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn escaped_formatter_writes_the_string_content_of_the_json() {
        let v = serde_json::json!({
            "a": "q\"b\\s/\u{1}\u{1f}\t\n\r\u{8}\u{c}é😀",
            "n": null, "i": -12, "l": [1, true, {"k\"": "v"}],
        });
        let inner = jackson::to_string(&v).unwrap();
        let mut one_pass = Vec::new();
        serde::Serialize::serialize(
            &v,
            &mut serde_json::Serializer::with_formatter(&mut one_pass, EscapedFormatter),
        )
        .unwrap();
        assert_eq!(String::from_utf8(one_pass).unwrap(), escaped(&inner));
    }

    proptest! {
        #[test]
        fn special_mask_is_exact(w in any::<u64>()) {
            let want = w.to_le_bytes().iter().enumerate().fold(0u64, |m, (k, &b)| {
                if b == b'"' || b == b'\\' || b < 0x20 { m | 0x80 << (8 * k) } else { m }
            });
            prop_assert_eq!(special_mask(w), want);
        }

        #[test]
        fn escape_matches_jackson(s in any::<String>()) {
            prop_assert_eq!(escaped(&s), reference(&s));
        }

        #[test]
        fn escape_matches_jackson_dense(s in "[\"\\\\\\x00-\\x1fa-z/é😀]{0,64}") {
            prop_assert_eq!(escaped(&s), reference(&s));
        }

        #[test]
        fn unescape_round_trips(s in any::<String>()) {
            let mut text = reference(&s).into_bytes();
            text.extend_from_slice(b"\"tail");
            let (back, q) = unescape(&text).unwrap();
            prop_assert_eq!(&back, &s);
            prop_assert_eq!(&text[q..], b"\"tail");
        }

        #[test]
        fn unescape_agrees_with_serde_json(bytes in proptest::collection::vec(
            prop_oneof![Just(b'\\'), Just(b'"'), Just(b'u'), Just(b'd'), Just(b'8'),
                        Just(b'0'), Just(b'n'), Just(b'\n'), Just(0xC3u8), Just(0xA9u8),
                        any::<u8>()], 0..40)) {
            let mut text = bytes.clone();
            text.push(b'"');
            let mut quoted = vec![b'"'];
            quoted.extend_from_slice(&text);
            if let Some((s, q)) = unescape(&text) {
                // Whatever we accept, serde_json reads the same way up to the same quote.
                let want: String = serde_json::from_slice(&quoted[..q + 2]).unwrap();
                prop_assert_eq!(s, want);
            }
        }
    }
}
