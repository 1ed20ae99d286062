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

/// Per byte: 0 = written as is; otherwise the letter written after a backslash, `u` standing
/// for `\u00XX`. Jackson escapes `"`, `\` and U+0000–U+001F (five of them by letter), nothing
/// else — not `/`, not DEL, not U+2028.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0A] = b'n';
    t[0x0C] = b'f';
    t[0x0D] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

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

/// Writes the escape of `b` (`ESCAPE[b] == e != 0`) at `out[pos..]`, returns its length.
#[inline]
fn put_escape(out: &mut Vec<u8>, pos: usize, b: u8, e: u8) -> usize {
    if e == b'u' {
        // Four bytes more than the two the caller's slack accounts for.
        out.resize(out.len() + 4, 0);
        let hex = [
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xF)],
        ];
        out[pos..pos + 6].copy_from_slice(&hex);
        6
    } else {
        out[pos..pos + 2].copy_from_slice(&[b'\\', e]);
        2
    }
}

/// Appends the JSON string *content* of `s` (no surrounding quotes) as Jackson writes it.
///
/// Eight bytes at a time: a chunk without specials is copied whole; otherwise its specials
/// are visited by bit, each preceded by an 8-byte store of the rest of the chunk (later
/// stores overwrite what is past the run). The output is sized for two bytes per input
/// byte plus 16, which every store stays within (`\u00XX` grows it by 4).
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    let base = out.len();
    out.resize(base + 2 * s.len() + 16, 0);
    let mut pos = base;
    let mut chunks = s.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let mut bits = special_mask(word);
        let mut start = 0;
        while bits != 0 {
            let k = (bits.trailing_zeros() / 8) as usize;
            bits &= bits - 1;
            out[pos..pos + 8].copy_from_slice(&(word >> (8 * start)).to_le_bytes());
            pos += k - start;
            let b = chunk[k];
            pos += put_escape(out, pos, b, ESCAPE[usize::from(b)]);
            start = k + 1;
        }
        if start < 8 {
            out[pos..pos + 8].copy_from_slice(&(word >> (8 * start)).to_le_bytes());
            pos += 8 - start;
        }
    }
    for &b in chunks.remainder() {
        let e = ESCAPE[usize::from(b)];
        if e == 0 {
            out[pos] = b;
            pos += 1;
        } else {
            pos += put_escape(out, pos, b, e);
        }
    }
    out.truncate(pos);
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
    use crate::protocol::command::jackson;
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
