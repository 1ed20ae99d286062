//! Differential test of our Quartz cron port against the recorded Quartz 2.3 results
//! (`fixtures/quartz/quartz-cron-vectors-2.3.txt`, a copy of the shared golden file).

use dsmaster::schedule::{CronExpression, JavaZone};

struct Case {
    expr: String,
    tz: String,
    after: i64,
    /// `Ok(successive results)` or `Err(parse error message)`.
    expect: Result<Vec<Option<i64>>, String>,
}

fn load() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/quartz/quartz-cron-vectors-2.3.txt"
    );
    let text = std::fs::read_to_string(path).expect("vectors file");
    let mut cases: Vec<Case> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("expr=") {
            let parts: Vec<&str> = rest.split(" | ").collect();
            assert_eq!(parts.len(), 3, "header: {line}");
            let tz = parts[1].strip_prefix("tz=").expect("tz").to_string();
            let after = parts[2]
                .strip_prefix("after=")
                .and_then(|a| a.split_whitespace().next())
                .and_then(|a| a.parse().ok())
                .expect("after");
            cases.push(Case {
                expr: parts[0].to_string(),
                tz,
                after,
                expect: Ok(Vec::new()),
            });
        } else if let Some(rest) = line.trim_start().strip_prefix("next=") {
            let case = cases.last_mut().expect("case");
            let v = rest.split_whitespace().next().expect("value");
            let value = if v == "null" {
                None
            } else {
                Some(v.parse().expect("ms"))
            };
            if let Ok(list) = &mut case.expect {
                list.push(value);
            }
        } else if let Some(rest) = line.trim_start().strip_prefix("PARSE ERROR: ") {
            let case = cases.last_mut().expect("case");
            let msg = rest.strip_prefix("ParseException: ").unwrap_or(rest);
            case.expect = Err(msg.to_string());
        }
    }
    cases
}

#[test]
fn all_golden_vectors_match_quartz() {
    let cases = load();
    assert_eq!(cases.len(), 53, "the golden file has 53 cases");
    let mut failures = Vec::new();
    for case in &cases {
        let zone = JavaZone::try_resolve(&case.tz).expect("zone in vectors resolves");
        match (&case.expect, CronExpression::parse(&case.expr)) {
            (Err(msg), Err(e)) => {
                if &e.message != msg {
                    failures.push(format!(
                        "{}: message {:?} != {:?}",
                        case.expr, e.message, msg
                    ));
                }
            }
            (Err(msg), Ok(_)) => failures.push(format!("{}: parsed, Quartz said {msg}", case.expr)),
            (Ok(_), Err(e)) => failures.push(format!("{}: {e}", case.expr)),
            (Ok(list), Ok(cron)) => {
                let mut after = case.after;
                for (i, want) in list.iter().enumerate() {
                    let got = cron.next_after_in(after, zone);
                    if got != *want {
                        failures.push(format!(
                            "{} tz={} step {i} after {after}: got {got:?}, Quartz {want:?}",
                            case.expr, case.tz
                        ));
                        break;
                    }
                    match got {
                        Some(g) => after = g,
                        None => break,
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn chrono_tz_entry_point_agrees() {
    let cron = CronExpression::parse("0 30 2 * * ? *").expect("parse");
    // New York 2024-03-09 02:30 -> next is 2024-03-11 02:30 (the 10th falls in the gap).
    assert_eq!(
        cron.next_after(1_709_969_400_000, chrono_tz::Tz::America__New_York),
        Some(1_710_138_600_000)
    );
}
