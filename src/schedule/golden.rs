//! Reader for the recorded Quartz row dumps (`fixtures/quartz/quartz-rows-2.0.5.txt`): the
//! exact `QRTZ_*` rows a 2.0.5 API server and a Java master leave at each protocol step.
//!
//! Tests seed a database with a stage's rows (the API server's output, JOB_DATA blobs
//! included) and compare what our member leaves with a later stage, after replacing values
//! that depend on when the recording ran (fire times, instance ids) with placeholders.

use std::collections::BTreeMap;

/// One column value as recorded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    Null,
    Text(String),
    Blob(Vec<u8>),
}

/// A row: column name → value.
pub type Row = BTreeMap<String, Value>;

/// The rows of every table listed in one stage (tables listed as "(no rows)" map to an
/// empty list; tables not listed are absent).
#[derive(Debug, Clone, Default)]
pub struct Stage {
    pub name: String,
    pub tables: BTreeMap<String, Vec<Row>>,
}

impl Stage {
    pub fn rows(&self, table: &str) -> &[Row] {
        self.tables.get(table).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[derive(Debug, thiserror::Error)]
#[error("golden rows line {line}: {message}")]
pub struct Error {
    pub line: usize,
    pub message: String,
}

/// Where the parser is: stage index, table, row index, and a blob being read as hex.
#[derive(Default)]
struct Cursor {
    table: Option<String>,
    hex: Option<(String, Vec<u8>)>,
    /// (stage, table, row, column) of blobs recorded as "same bytes as in STAGE A".
    same_as_a: Vec<(usize, String, usize, String)>,
}

/// Parses the dump; blobs recorded as "same bytes as in STAGE A" are filled in from stage A
/// (matched by the row's job name and group).
pub fn parse(text: &str) -> Result<Vec<Stage>, Error> {
    let mut stages: Vec<Stage> = Vec::new();
    let mut cur = Cursor::default();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let err = |m: &str| Error {
            line,
            message: m.to_string(),
        };
        if raw.starts_with("==== Annotated") {
            break;
        }
        let is_hex = raw.starts_with("      ") && cur.hex.is_some();
        if !is_hex {
            flush_hex(&mut stages, &mut cur);
        }
        if let Some(rest) = raw.strip_prefix("==== STAGE ") {
            stages.push(Stage {
                name: rest.split(':').next().unwrap_or("").trim().to_string(),
                tables: BTreeMap::new(),
            });
            cur.table = None;
        } else if let Some(rest) = raw.strip_prefix("  QRTZ_") {
            let stage = stages
                .last_mut()
                .ok_or_else(|| err("table outside a stage"))?;
            let table = format!("QRTZ_{}", rest.split([' ', ':']).next().unwrap_or(""));
            let rows = stage.tables.entry(table.clone()).or_default();
            if rest.contains(" row ") {
                rows.push(Row::new());
            }
            cur.table = Some(table);
        } else if is_hex {
            let body = raw.split_once(':').map(|x| x.1).unwrap_or("");
            let hex = body.split("  |").next().unwrap_or("");
            if let Some((_, bytes)) = cur.hex.as_mut() {
                for h in hex.split_whitespace() {
                    bytes.push(u8::from_str_radix(h, 16).map_err(|_| err("bad hex"))?);
                }
            }
        } else if let Some(rest) = raw.strip_prefix("    ") {
            let Some((col, value)) = rest.split_once(" = ") else {
                continue;
            };
            let col = col.trim().to_string();
            let si = stages.len().checked_sub(1).ok_or_else(|| err("no stage"))?;
            let table = cur
                .table
                .clone()
                .ok_or_else(|| err("value outside a table"))?;
            let v = if value == "NULL" {
                Value::Null
            } else if let Some(q) = value.strip_prefix('\'') {
                let end = q.find('\'').ok_or_else(|| err("unterminated quote"))?;
                Value::Text(q[..end].to_string())
            } else if value.starts_with("<blob 0 bytes>") {
                Value::Blob(Vec::new())
            } else if value.contains("hex:") {
                cur.hex = Some((col.clone(), Vec::new()));
                Value::Blob(Vec::new())
            } else if value.contains("same bytes as in STAGE A") {
                let ri = stages[si].rows(&table).len().saturating_sub(1);
                cur.same_as_a.push((si, table.clone(), ri, col.clone()));
                Value::Blob(Vec::new())
            } else {
                return Err(err("unrecognised value"));
            };
            let row = stages[si]
                .tables
                .get_mut(&table)
                .and_then(|r| r.last_mut())
                .ok_or_else(|| err("value outside a row"))?;
            row.insert(col, v);
        }
    }
    flush_hex(&mut stages, &mut cur);
    let a = stages
        .iter()
        .find(|s| s.name == "A")
        .cloned()
        .unwrap_or_default();
    for (si, table, ri, col) in std::mem::take(&mut cur.same_as_a) {
        let Some(row) = stages[si]
            .tables
            .get(&table)
            .and_then(|r| r.get(ri))
            .cloned()
        else {
            continue;
        };
        let src = a.rows(&table).iter().find(|r| {
            r.get("JOB_NAME") == row.get("JOB_NAME") && r.get("JOB_GROUP") == row.get("JOB_GROUP")
        });
        if let Some(v) = src.and_then(|r| r.get(&col)).cloned() {
            if let Some(r) = stages[si]
                .tables
                .get_mut(&table)
                .and_then(|r| r.get_mut(ri))
            {
                r.insert(col, v);
            }
        }
    }
    Ok(stages)
}

fn flush_hex(stages: &mut [Stage], cur: &mut Cursor) {
    let Some((col, bytes)) = cur.hex.take() else {
        return;
    };
    let (Some(stage), Some(table)) = (stages.last_mut(), cur.table.as_ref()) else {
        return;
    };
    if let Some(row) = stage.tables.get_mut(table).and_then(|r| r.last_mut()) {
        row.insert(col, Value::Blob(bytes));
    }
}

/// The recorded dump shipped with the crate's fixtures.
pub fn load_fixture() -> Result<Vec<Stage>, Error> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/quartz/quartz-rows-2.0.5.txt"
    );
    let text = std::fs::read_to_string(path).map_err(|e| Error {
        line: 0,
        message: format!("{path}: {e}"),
    })?;
    parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_stage() {
        let stages = load_fixture().unwrap();
        let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["A", "A2", "B", "C", "D", "E", "F", "G"]);
        let a2 = &stages[1];
        assert_eq!(a2.rows("QRTZ_JOB_DETAILS").len(), 4);
        assert_eq!(a2.rows("QRTZ_TRIGGERS").len(), 4);
        for job in a2.rows("QRTZ_JOB_DETAILS") {
            let Some(Value::Blob(b)) = job.get("JOB_DATA") else {
                panic!("JOB_DATA missing")
            };
            assert_eq!(
                &b[..4],
                &[0xac, 0xed, 0x00, 0x05],
                "Java serialisation magic"
            );
            assert!(b.len() > 800);
        }
        let a = &stages[0];
        let Some(Value::Blob(b)) = a.rows("QRTZ_JOB_DETAILS")[0].get("JOB_DATA") else {
            panic!()
        };
        assert_eq!(b.len(), 908);
        assert!(stages[6].rows("QRTZ_FIRED_TRIGGERS").is_empty());
        assert!(stages[6].tables.contains_key("QRTZ_FIRED_TRIGGERS"));
    }
}
