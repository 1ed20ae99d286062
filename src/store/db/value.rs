//! Bind values and result cells shared by both backends, with conversions that are as
//! lenient as the JDBC getters Java readers use (`getInt` of a `'1'`, `getString` of a
//! number), and that return an error, never panic, when a cell cannot convert.

use super::DbError;
use chrono::NaiveDateTime;

/// One bind value or result cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    /// Raw bytes: BLOB/bytea, and every cell of MySQL's text protocol.
    Bytes(Vec<u8>),
    DateTime(NaiveDateTime),
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::Int(i64::from(v))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        i64::try_from(v).map_or_else(|_| Value::Text(v.to_string()), Value::Int)
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::from(v as u64)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Bytes(v.to_vec())
    }
}

impl From<NaiveDateTime> for Value {
    fn from(v: NaiveDateTime) -> Value {
        Value::DateTime(v)
    }
}

impl From<&NaiveDateTime> for Value {
    fn from(v: &NaiveDateTime) -> Value {
        Value::DateTime(*v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl Value {
    /// The value as text, for the lenient conversions (MySQL's text protocol sends every
    /// cell as bytes).
    fn text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Value::Text(s) => Some(s.as_str().into()),
            Value::Bytes(b) => std::str::from_utf8(b).ok().map(Into::into),
            _ => None,
        }
    }

    /// The value as an integer: numbers, booleans and numeric text.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i64),
            _ => {
                let t = self.text()?;
                let t = t.trim();
                t.parse::<i64>().ok().or_else(|| {
                    t.parse::<f64>()
                        .ok()
                        .filter(|f| f.fract() == 0.0)
                        .map(|f| f as i64)
                })
            }
        }
    }
}

/// A cell converted to a Rust type; `Err` gives the cell back for the error message.
pub trait FromValue: Sized {
    const TARGET: &'static str;
    fn from_value(v: Value) -> Result<Self, Value>;
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            const TARGET: &'static str = stringify!($t);
            fn from_value(v: Value) -> Result<Self, Value> {
                v.as_i64().and_then(|i| <$t>::try_from(i).ok()).ok_or(v)
            }
        }
    )*};
}
int_from_value!(i8, i16, i32, i64, u8, u16, u32, u64);

impl FromValue for f64 {
    const TARGET: &'static str = "f64";
    fn from_value(v: Value) -> Result<Self, Value> {
        match &v {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            _ => v.text().and_then(|t| t.trim().parse().ok()).ok_or(v),
        }
    }
}

impl FromValue for bool {
    const TARGET: &'static str = "bool";
    fn from_value(v: Value) -> Result<Self, Value> {
        match &v {
            Value::Bool(b) => Ok(*b),
            Value::Int(i) => Ok(*i != 0),
            _ => match v.text().as_deref().map(str::trim) {
                Some("1") | Some("t") | Some("true") | Some("TRUE") | Some("y") | Some("Y") => {
                    Ok(true)
                }
                Some("0") | Some("f") | Some("false") | Some("FALSE") | Some("n") | Some("N") => {
                    Ok(false)
                }
                _ => Err(v),
            },
        }
    }
}

impl FromValue for String {
    const TARGET: &'static str = "text";
    fn from_value(v: Value) -> Result<Self, Value> {
        match v {
            Value::Text(s) => Ok(s),
            Value::Bytes(b) => String::from_utf8(b).map_err(|e| Value::Bytes(e.into_bytes())),
            Value::Int(i) => Ok(i.to_string()),
            Value::Float(f) => Ok(f.to_string()),
            // As JDBC's getString of a boolean column on the Quartz tables of either server.
            Value::Bool(b) => Ok(if b { "1" } else { "0" }.to_string()),
            Value::DateTime(t) => Ok(t.format("%Y-%m-%d %H:%M:%S").to_string()),
            Value::Null => Err(Value::Null),
        }
    }
}

impl FromValue for Vec<u8> {
    const TARGET: &'static str = "bytes";
    fn from_value(v: Value) -> Result<Self, Value> {
        match v {
            Value::Bytes(b) => Ok(b),
            Value::Text(s) => Ok(s.into_bytes()),
            other => Err(other),
        }
    }
}

impl FromValue for NaiveDateTime {
    const TARGET: &'static str = "datetime";
    fn from_value(v: Value) -> Result<Self, Value> {
        match &v {
            Value::DateTime(t) => Ok(*t),
            _ => {
                let parsed = v.text().and_then(|t| {
                    let t = t.trim();
                    NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
                        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S"))
                        .ok()
                });
                parsed.ok_or(v)
            }
        }
    }
}

impl FromValue for Value {
    const TARGET: &'static str = "value";
    fn from_value(v: Value) -> Result<Self, Value> {
        Ok(v)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const TARGET: &'static str = T::TARGET;
    fn from_value(v: Value) -> Result<Self, Value> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row: column names (as the server spells them) and cells.
#[derive(Debug, Clone)]
pub struct Row {
    names: std::sync::Arc<[String]>,
    cells: Vec<Option<Value>>,
}

/// A column by position or by (case-insensitive) name: PostgreSQL folds unquoted names
/// to lower case where MySQL keeps the DDL's spelling.
pub trait ColumnIndex {
    fn index(&self, names: &[String]) -> Option<usize>;
    fn label(&self) -> String;
}

impl ColumnIndex for usize {
    fn index(&self, names: &[String]) -> Option<usize> {
        (*self < names.len()).then_some(*self)
    }
    fn label(&self) -> String {
        format!("#{self}")
    }
}

impl ColumnIndex for &str {
    fn index(&self, names: &[String]) -> Option<usize> {
        names
            .iter()
            .position(|n| n == self)
            .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(self)))
    }
    fn label(&self) -> String {
        (*self).to_string()
    }
}

impl Row {
    pub fn new(names: std::sync::Arc<[String]>, cells: Vec<Value>) -> Row {
        Row {
            names,
            cells: cells.into_iter().map(Some).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Takes a cell out, converted: `None` when the column is missing (or taken already).
    pub fn take_opt<T: FromValue, I: ColumnIndex>(
        &mut self,
        column: I,
    ) -> Option<Result<T, DbError>> {
        let idx = column.index(&self.names)?;
        let v = self.cells.get_mut(idx)?.take()?;
        Some(T::from_value(v).map_err(|value| DbError::Convert {
            column: column.label(),
            value,
            target: T::TARGET,
        }))
    }

    /// A copy of a cell, converted; `None` when the column is missing or does not convert
    /// (the convenience reader of tests and tolerant readers).
    pub fn get<T: FromValue, I: ColumnIndex>(&self, column: I) -> Option<T> {
        self.get_opt(column).and_then(Result::ok)
    }

    /// A copy of a cell, converted (see [`Row::take_opt`]).
    pub fn get_opt<T: FromValue, I: ColumnIndex>(&self, column: I) -> Option<Result<T, DbError>> {
        let idx = column.index(&self.names)?;
        let v = self.cells.get(idx)?.clone()?;
        Some(T::from_value(v).map_err(|value| DbError::Convert {
            column: column.label(),
            value,
            target: T::TARGET,
        }))
    }
}

/// A whole row converted: the [`Row`] itself, one value (the first column) or a tuple.
pub trait FromRow: Sized {
    fn from_row(row: Row) -> Result<Self, DbError>;
}

impl FromRow for Row {
    fn from_row(row: Row) -> Result<Self, DbError> {
        Ok(row)
    }
}

fn cell<T: FromValue>(row: &mut Row, idx: usize) -> Result<T, DbError> {
    row.take_opt::<T, _>(idx).unwrap_or_else(|| {
        Err(DbError::Convert {
            column: format!("#{idx}"),
            value: Value::Null,
            target: "a column the query did not return",
        })
    })
}

macro_rules! scalar_from_row {
    ($($t:ty),*) => {$(
        impl FromRow for $t {
            fn from_row(mut row: Row) -> Result<Self, DbError> {
                cell(&mut row, 0)
            }
        }
        impl FromRow for Option<$t> {
            fn from_row(mut row: Row) -> Result<Self, DbError> {
                cell(&mut row, 0)
            }
        }
    )*};
}
scalar_from_row!(
    i16,
    i32,
    i64,
    u64,
    f64,
    bool,
    String,
    NaiveDateTime,
    Vec<u8>
);

macro_rules! tuple_from_row {
    ($($name:ident : $idx:tt),+) => {
        impl<$($name: FromValue),+> FromRow for ($($name,)+) {
            fn from_row(mut row: Row) -> Result<Self, DbError> {
                Ok(($(cell::<$name>(&mut row, $idx)?,)+))
            }
        }
    };
}
tuple_from_row!(A: 0, B: 1);
tuple_from_row!(A: 0, B: 1, C: 2);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_conversions_as_jdbc_getters() {
        assert_eq!(i32::from_value(Value::Bytes(b" 42".to_vec())), Ok(42));
        assert_eq!(i64::from_value(Value::Bool(true)), Ok(1));
        assert_eq!(bool::from_value(Value::Text("1".into())), Ok(true));
        assert_eq!(bool::from_value(Value::Int(0)), Ok(false));
        assert_eq!(String::from_value(Value::Bool(false)), Ok("0".into()));
        assert_eq!(Option::<i32>::from_value(Value::Null), Ok(None));
        assert!(i32::from_value(Value::Null).is_err());
        assert!(i16::from_value(Value::Int(70_000)).is_err());
        assert!(i32::from_value(Value::Text("x".into())).is_err());
        let t = NaiveDateTime::from_value(Value::Bytes(b"2026-12-06 05:10:11".to_vec()));
        assert_eq!(t.map(|t| t.to_string()), Ok("2026-12-06 05:10:11".into()));
    }

    #[test]
    fn rows_by_name_ignore_case_and_convert_without_panics() {
        let names: std::sync::Arc<[String]> =
            vec!["id".to_string(), "TRIGGER_NAME".to_string()].into();
        let mut row = Row::new(names, vec![Value::Int(7), Value::Text("t".into())]);
        assert_eq!(row.get_opt::<i32, _>("ID").map(Result::ok), Some(Some(7)));
        assert_eq!(
            row.take_opt::<String, _>("trigger_name").map(Result::ok),
            Some(Some("t".into()))
        );
        assert!(
            row.take_opt::<String, _>("trigger_name").is_none(),
            "taken once"
        );
        assert!(row.take_opt::<i32, _>("missing").is_none());
        let bad = Row::new(vec!["n".to_string()].into(), vec![Value::Text("x".into())]);
        assert!(matches!(i32::from_row(bad), Err(DbError::Convert { .. })));
        let pair = Row::new(
            vec!["a".to_string(), "b".to_string()].into(),
            vec![Value::Int(1), Value::Null],
        );
        assert_eq!(
            <(i32, Option<String>)>::from_row(pair).ok(),
            Some((1, None))
        );
    }
}
