//! A reader for Java `.properties` text, as `java.util.Properties.load` understands it.
//!
//! Every upstream file the master reads at startup except the datasource yaml
//! (`master.properties`, `registry.properties`, `common.properties`, the 2.0.0
//! `datasource.properties`, our own `dsmaster.properties`) is in this format, and an
//! operator's existing conf dir must mean the same thing to us as to the JVM. The rules
//! implemented here:
//!
//! * Input is split into *natural lines* at `\n`, `\r` or `\r\n`.
//! * Leading blanks (space, tab, form feed) of a natural line are skipped; a line that is
//!   then empty is ignored; a line whose first non-blank character is `#` or `!` is a
//!   comment (a trailing backslash on a comment line does **not** continue it).
//! * A natural line ending in an odd number of backslashes continues on the next natural
//!   line: the backslash and the line break are dropped, and so are the leading blanks of
//!   the continuation. A `#` at the start of a continuation is ordinary text. A trailing
//!   backslash on the last line of the input is dropped.
//! * The key runs up to the first unescaped `=`, `:` or blank. Blanks after the key are
//!   skipped, then at most one `=` or `:` (if the key was not already ended by one), then
//!   blanks again. The rest of the logical line is the value; **trailing blanks are kept**,
//!   exactly as Java keeps them (typed accessors in [`super`] trim before converting).
//! * Escapes in keys and values: `\t`, `\n`, `\r`, `\f`, `\uXXXX` (exactly four hex digits;
//!   anything else is an error, as Java throws "Malformed \uxxxx encoding"); a backslash
//!   before any other character yields that character (`\=`, `\:`, `\ `, `\\`, `\#`).
//! * A key given twice keeps its last value.
//!
//! Byte decoding is a deliberate, documented leniency: Java's `load(InputStream)` reads
//! ISO-8859-1, so non-ASCII UTF-8 text turns into mojibake in the JVM. [`decode_bytes`]
//! uses UTF-8 when the bytes are valid UTF-8 and ISO-8859-1 otherwise, which equals Java
//! for every ASCII file (all shipped files are ASCII).

use std::collections::BTreeMap;

/// A syntax error in properties text (only malformed `\u` escapes are errors in Java).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based number of the natural line on which the offending logical line starts.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// Turns file bytes into text: UTF-8 if valid, otherwise ISO-8859-1 (Java's encoding).
pub fn decode_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Parses properties text into a key → value map (last occurrence of a key wins).
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, ParseError> {
    let mut out = BTreeMap::new();
    for (line, logical) in logical_lines(text) {
        let (key, value) = split_entry(&logical, line)?;
        out.insert(key, value);
    }
    Ok(out)
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

/// Splits `text` into natural lines, dropping the terminators (`\n`, `\r`, `\r\n`).
fn natural_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                i += 1;
                if i < bytes.len() && bytes[i] == b'\n' {
                    i += 1;
                }
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// True when `s` ends with an odd number of backslashes.
fn ends_with_continuation(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Joins natural lines into logical lines (comments and blank lines removed). Each item
/// carries the 1-based number of the natural line it started on; escapes are still raw.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (idx, raw) in natural_lines(text).into_iter().enumerate() {
        let trimmed = raw.trim_start_matches(is_blank);
        let (start_line, mut acc) = match current.take() {
            Some(pending) => pending,
            None => {
                if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                    continue;
                }
                (idx + 1, String::new())
            }
        };
        if ends_with_continuation(trimmed) {
            acc.push_str(&trimmed[..trimmed.len() - 1]);
            current = Some((start_line, acc));
        } else {
            acc.push_str(trimmed);
            out.push((start_line, acc));
        }
    }
    // A backslash on the very last line continues into nothing: Java drops it.
    if let Some((line, acc)) = current {
        if !acc.is_empty() {
            out.push((line, acc));
        }
    }
    out
}

/// Splits one logical line into an unescaped key and value.
fn split_entry(logical: &str, line: usize) -> Result<(String, String), ParseError> {
    let chars: Vec<char> = logical.chars().collect();
    let mut key_end = chars.len();
    let mut value_start = chars.len();
    let mut has_separator = false;
    let mut preceding_backslash = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if (c == '=' || c == ':') && !preceding_backslash {
            key_end = i;
            value_start = i + 1;
            has_separator = true;
            break;
        } else if is_blank(c) && !preceding_backslash {
            key_end = i;
            value_start = i + 1;
            break;
        }
        preceding_backslash = c == '\\' && !preceding_backslash;
        i += 1;
    }
    let mut v = value_start;
    while v < chars.len() {
        let c = chars[v];
        if !is_blank(c) {
            if !has_separator && (c == '=' || c == ':') {
                has_separator = true;
            } else {
                break;
            }
        }
        v += 1;
    }
    let key = unescape(&chars[..key_end], line)?;
    let value = unescape(&chars[v.min(chars.len())..], line)?;
    Ok((key, value))
}

fn unescape(chars: &[char], line: usize) -> Result<String, ParseError> {
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&next) = chars.get(i) else {
            // A lone trailing backslash (only possible after continuation handling).
            break;
        };
        i += 1;
        match next {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\x0c'),
            'u' => {
                let hex: String = chars.iter().skip(i).take(4).collect();
                let code = (hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()))
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| ParseError {
                        line,
                        message: format!("malformed \\uXXXX escape: \\u{hex}"),
                    })?;
                i += 4;
                push_utf16_unit(&mut out, code, chars, &mut i);
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Appends one UTF-16 code unit; a high surrogate followed by an escaped low surrogate
/// (`\uD83D\uDE00`) is combined into one character, as Java's `String` would hold it.
/// Unpaired surrogates become U+FFFD (Rust strings cannot hold them).
fn push_utf16_unit(out: &mut String, unit: u32, chars: &[char], i: &mut usize) {
    if (0xD800..0xDC00).contains(&unit) {
        let low: Option<u32> = (chars.get(*i) == Some(&'\\') && chars.get(*i + 1) == Some(&'u'))
            .then(|| chars.iter().skip(*i + 2).take(4).collect::<String>())
            .filter(|h| h.len() == 4)
            .and_then(|h| u32::from_str_radix(&h, 16).ok())
            .filter(|l| (0xDC00..0xE000).contains(l));
        if let Some(low) = low {
            *i += 6;
            let combined = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            out.push(char::from_u32(combined).unwrap_or('\u{FFFD}'));
            return;
        }
    }
    out.push(char::from_u32(unit).unwrap_or('\u{FFFD}'));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> BTreeMap<String, String> {
        parse(text).expect("parses")
    }

    fn get<'a>(m: &'a BTreeMap<String, String>, k: &str) -> Option<&'a str> {
        m.get(k).map(String::as_str)
    }

    #[test]
    fn separators_and_blanks() {
        let m = p("a=1\nb: 2\nc 3\n  d = 4  \ne\t:\t5\nf\n g=\n");
        assert_eq!(get(&m, "a"), Some("1"));
        assert_eq!(get(&m, "b"), Some("2"));
        assert_eq!(get(&m, "c"), Some("3"));
        // trailing blanks of a value are kept, as Java does
        assert_eq!(get(&m, "d"), Some("4  "));
        assert_eq!(get(&m, "e"), Some("5"));
        assert_eq!(get(&m, "f"), Some(""));
        assert_eq!(get(&m, "g"), Some(""));
    }

    #[test]
    fn only_first_separator_is_consumed() {
        let m = p("a==b\nc=:d\ne : = f\nurl=jdbc:mysql://h:1/db?x=y");
        assert_eq!(get(&m, "a"), Some("=b"));
        assert_eq!(get(&m, "c"), Some(":d"));
        assert_eq!(get(&m, "e"), Some("= f"));
        assert_eq!(get(&m, "url"), Some("jdbc:mysql://h:1/db?x=y"));
    }

    #[test]
    fn comments() {
        let m = p("# a=1\n! b=2\n   # c=3\nd=4 # not a comment\n#e=5\\\nf=6\n");
        assert_eq!(m.len(), 2);
        assert_eq!(get(&m, "d"), Some("4 # not a comment"));
        // a backslash at the end of a comment does not swallow the next line
        assert_eq!(get(&m, "f"), Some("6"));
    }

    #[test]
    fn continuation_lines() {
        let m = p("list=a,\\\n    b,\\\n\t c\nnext=1\n");
        assert_eq!(get(&m, "list"), Some("a,b,c"));
        assert_eq!(get(&m, "next"), Some("1"));
        // even number of backslashes: no continuation, one literal backslash
        let m = p("path=c:\\\\\nother=2");
        assert_eq!(get(&m, "path"), Some("c:\\"));
        assert_eq!(get(&m, "other"), Some("2"));
        // a '#' at the start of a continuation is text
        let m = p("k=a\\\n#b\n");
        assert_eq!(get(&m, "k"), Some("a#b"));
        // backslash at end of input is dropped
        let m = p("k=v\\");
        assert_eq!(get(&m, "k"), Some("v"));
        // continuation into an empty line ends the entry
        let m = p("k=v\\\n\nz=1");
        assert_eq!(get(&m, "k"), Some("v"));
        assert_eq!(get(&m, "z"), Some("1"));
        // key continued across lines
        let m = p("ke\\\n  y=v");
        assert_eq!(get(&m, "key"), Some("v"));
    }

    #[test]
    fn line_terminators() {
        let m = p("a=1\r\nb=2\rc=3\n");
        assert_eq!(get(&m, "a"), Some("1"));
        assert_eq!(get(&m, "b"), Some("2"));
        assert_eq!(get(&m, "c"), Some("3"));
        let m = p("a=x\\\r\n  y");
        assert_eq!(get(&m, "a"), Some("xy"));
    }

    #[test]
    fn escapes() {
        let m = p(r"tab=a\tb
nl=a\nb
uni=caf\u00e9
pair=\uD83D\uDE00
key\ with\ space=v
eq\=key=w
colon\:key=x
other=\q\\
");
        assert_eq!(get(&m, "tab"), Some("a\tb"));
        assert_eq!(get(&m, "nl"), Some("a\nb"));
        assert_eq!(get(&m, "uni"), Some("café"));
        assert_eq!(get(&m, "pair"), Some("😀"));
        assert_eq!(get(&m, "key with space"), Some("v"));
        assert_eq!(get(&m, "eq=key"), Some("w"));
        assert_eq!(get(&m, "colon:key"), Some("x"));
        assert_eq!(get(&m, "other"), Some("q\\"));
    }

    #[test]
    fn malformed_unicode_escape_is_an_error() {
        let err = parse("a=1\nb=\\u12G4\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("malformed"), "{err}");
        assert!(parse("b=\\u12").is_err());
    }

    #[test]
    fn last_duplicate_wins_and_empty_input() {
        let m = p("a=1\na=2\n");
        assert_eq!(get(&m, "a"), Some("2"));
        assert!(p("").is_empty());
        assert!(p("\n\n   \n# only comments\n").is_empty());
    }

    #[test]
    fn decoding() {
        assert_eq!(decode_bytes("é=1".as_bytes()), "é=1");
        assert_eq!(decode_bytes(&[0xe9, b'=', b'1']), "é=1");
    }
}
