//! JSON as Jackson writes and reads it, for the frame bodies of [`super::command`] and
//! [`super::context`] and the JSON columns [`crate::store::json`] reads.
//!
//! Upstream's `JSONUtils` is one configured Jackson `ObjectMapper` on both sides of the wire
//! and of the database, so its writing rules and its forgiving readers live here once:
//! [`jackson`] writes, [`lenient`] reads. A body that breaks the rules is an error (a frame
//! is refused as upstream refuses it); a stored column that breaks them reads with the
//! `*_or_zero` / `text` readers, which never fail the row.

/// Jackson-compatible writing.
///
/// serde_json and Jackson escape the same characters (`"`, `\\`, and U+0000–U+001F, five of
/// them as `\b \t \n \f \r`) but spell the other control characters differently:
/// serde_json writes `\u001f`, Jackson `\u001F`. Found by `tests/compat_codec.rs` against
/// upstream's `JSONUtils`; every body is therefore written through [`jackson::to_vec`].
pub(crate) mod jackson {
    use serde::Serialize;
    use serde_json::ser::{CharEscape, CompactFormatter, Formatter};
    use std::io;

    /// serde_json's compact output with Jackson's upper-case `\u00XX` escapes.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct JacksonFormatter;

    impl Formatter for JacksonFormatter {
        fn write_char_escape<W: ?Sized + io::Write>(
            &mut self,
            writer: &mut W,
            char_escape: CharEscape,
        ) -> io::Result<()> {
            match char_escape {
                CharEscape::AsciiControl(byte) => {
                    const HEX: &[u8; 16] = b"0123456789ABCDEF";
                    writer.write_all(&[
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[usize::from(byte >> 4)],
                        HEX[usize::from(byte & 0xF)],
                    ])
                }
                other => CompactFormatter.write_char_escape(writer, other),
            }
        }
    }

    /// `JSONUtils.toJsonByteArray`: the bytes Jackson writes for `value`.
    pub fn to_vec<T: ?Sized + Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(256);
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out,
            JacksonFormatter,
        ))?;
        Ok(out)
    }

    /// `JSONUtils.toJsonString`.
    #[cfg(test)]
    pub fn to_string<T: ?Sized + Serialize>(value: &T) -> Result<String, serde_json::Error> {
        String::from_utf8(to_vec(value)?).map_err(<serde_json::Error as serde::ser::Error>::custom)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn control_characters_as_jackson_writes_them() {
            let s = "\u{0}\u{1f}\u{1b}\u{7f}\t\n\r\u{8}\u{c}\"\\/\u{2028}😀";
            assert_eq!(
                super::to_string(s).unwrap(),
                "\"\\u0000\\u001F\\u001B\u{7f}\\t\\n\\r\\b\\f\\\"\\\\/\u{2028}😀\""
            );
        }
    }
}

/// Jackson-compatible lenient readers.
pub(crate) mod lenient {
    use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
    use serde::Deserialize;
    use serde_json::Value;
    use std::fmt;
    use std::marker::PhantomData;

    /// Reads what Jackson reads into a Java integer: numbers (floats truncated), numeric
    /// strings (trimmed; empty means absent) and null (absent).
    struct Number;

    impl<'de> Visitor<'de> for Number {
        type Value = Option<i64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer, a numeric string or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Number)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("integer {v} out of range")))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.is_finite() && v >= i64::MIN as f64 && v <= i64::MAX as f64 {
                Ok(Some(v.trunc() as i64))
            } else {
                Err(E::custom(format!("number {v} out of range")))
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let t = v.trim();
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<i64>()
                .map(Some)
                .map_err(|_| E::custom(format!("{v:?} is not an integer")))
        }
    }

    fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_option(Number)
    }

    /// A Java `int`: absent or null reads as 0; out-of-range values are an error.
    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        let v = number(d)?.unwrap_or(0);
        i32::try_from(v).map_err(|_| de::Error::custom(format!("{v} out of range of int")))
    }

    /// A Java `long`: absent or null reads as 0.
    pub fn long<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        Ok(number(d)?.unwrap_or(0))
    }

    /// A Java `Long`: null stays `None`.
    pub fn opt_long<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        number(d)
    }

    /// Enums Jackson reads by name or by ordinal.
    pub trait JavaEnum: Sized {
        fn from_java_name(name: &str) -> Option<Self>;
        fn from_ordinal(ordinal: i64) -> Option<Self>;
    }

    impl JavaEnum for crate::model::ExecutionStatus {
        fn from_java_name(name: &str) -> Option<Self> {
            Self::from_name(name).ok()
        }
        fn from_ordinal(ordinal: i64) -> Option<Self> {
            Self::from_code(ordinal).ok()
        }
    }

    impl JavaEnum for crate::model::TaskTimeoutStrategy {
        fn from_java_name(name: &str) -> Option<Self> {
            Self::from_name(name).ok()
        }
        fn from_ordinal(ordinal: i64) -> Option<Self> {
            Self::from_code(ordinal).ok()
        }
    }

    struct EnumVisitor<T>(PhantomData<T>);

    impl<'de, T: JavaEnum> Visitor<'de> for EnumVisitor<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an enum constant name, an ordinal or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(T::from_java_name(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(T::from_ordinal(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(i64::try_from(v).ok().and_then(T::from_ordinal))
        }
    }

    /// `READ_UNKNOWN_ENUM_VALUES_AS_NULL`: unknown names and ordinals read as `None`.
    pub fn java_enum<'de, D: Deserializer<'de>, T: JavaEnum>(d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_option(EnumVisitor(PhantomData))
    }

    /// Reads what Jackson reads into a Java `long` from stored JSON, where a bad value must
    /// not fail the whole row: anything Jackson would refuse reads as 0, as does null.
    pub fn long_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let v = Option::<Value>::deserialize(d)?;
        Ok(v.as_ref().and_then(value_long).unwrap_or(0))
    }

    /// The number Jackson reads from a JSON value into a Java `long` (numbers, floats
    /// truncated, numeric strings), `None` for null, blank or anything else.
    pub fn value_long(v: &Value) -> Option<i64> {
        opt_long(v).ok().flatten()
    }

    /// A Java `String` field: strings as they are, numbers and booleans as their text.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => Some(other.to_string()),
        })
    }

    /// [`text`], absent or null reading as the empty string.
    pub fn text_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(text(d)?.unwrap_or_default())
    }

    /// An enum serde knows by name; names it does not know read as `None`, as Java's
    /// `READ_UNKNOWN_ENUM_VALUES_AS_NULL` does.
    pub fn enum_by_name<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned,
    {
        let v = Option::<Value>::deserialize(d)?;
        Ok(v.and_then(|v| serde_json::from_value(v).ok()))
    }

    /// Task codes written as a number, a string (possibly comma-separated), or an array of
    /// either; empty strings (the UI's `[""]`) are skipped.
    pub fn code_list(v: &Value) -> Vec<i64> {
        match v {
            Value::Array(items) => items.iter().flat_map(code_list).collect(),
            Value::Number(_) => value_long(v).into_iter().collect(),
            Value::String(s) => s.split(',').filter_map(|c| c.trim().parse().ok()).collect(),
            _ => Vec::new(),
        }
    }

    /// [`code_list`] as a field reader; absent or null is the empty list.
    pub fn codes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
        Ok(Option::<Value>::deserialize(d)?
            .map(|v| code_list(&v))
            .unwrap_or_default())
    }

    #[cfg(test)]
    mod tests {
        use serde::Deserialize;
        use serde_json::json;

        #[derive(Deserialize)]
        struct Frame {
            #[serde(default, deserialize_with = "super::int")]
            n: i32,
        }

        #[derive(Deserialize)]
        struct Column {
            #[serde(default, deserialize_with = "super::long_or_zero")]
            n: i64,
            #[serde(default, deserialize_with = "super::text")]
            s: Option<String>,
            #[serde(default, deserialize_with = "super::codes")]
            c: Vec<i64>,
        }

        #[test]
        fn a_frame_refuses_what_jackson_refuses_a_column_reads_it_as_zero() {
            let frame = |v| serde_json::from_value::<Frame>(v).map(|f| f.n);
            assert_eq!(frame(json!({"n": "7"})).unwrap(), 7);
            assert_eq!(frame(json!({"n": 7.9})).unwrap(), 7);
            assert_eq!(frame(json!({})).unwrap(), 0);
            assert!(frame(json!({"n": "x"})).is_err());
            assert!(frame(json!({"n": 3_000_000_000_i64})).is_err());

            let col = |v| serde_json::from_value::<Column>(v).unwrap();
            assert_eq!(col(json!({"n": "x"})).n, 0);
            assert_eq!(col(json!({"n": true})).n, 0);
            assert_eq!(col(json!({"n": " 12 "})).n, 12);
            assert_eq!(col(json!({"n": 12.5})).n, 12);
            assert_eq!(col(json!({"s": 5})).s.as_deref(), Some("5"));
            assert_eq!(col(json!({"s": null})).s, None);
            assert_eq!(
                col(json!({"c": ["11", 12, "", "13,14"]})).c,
                vec![11, 12, 13, 14]
            );
        }
    }
}
