//! The heartbeat text stored in every server node (`/nodes/master/<ip:port>`,
//! `/nodes/worker/<group>/<ip:port>`): encoding, decoding and the Java number formats it
//! depends on.
//!
//! This file owns the byte-level format of spec `registry.md` §4 because Java peers (masters,
//! API server) parse what we write and a single wrong character makes this master invisible
//! to them or breaks their slot computation:
//!
//! * 13 comma-separated fields for 2.0.0–2.0.5 clusters, 14 for 2.0.6+ (`diskAvailable`
//!   inserted at index 2); [`HeartbeatFormat`] selects which one we write.
//! * doubles are printed like Java `Double.toString` ([`java_double_to_string`]), integers in
//!   plain decimal; non-finite doubles are never written (they become `-1.0`).
//! * decoding follows Java `String.split(",")` (trailing empty parts dropped),
//!   `Double.parseDouble`, `Long.parseLong` and `Integer.parseInt` acceptance rules, so we
//!   skip exactly the entries a Java reader skips or chokes on.
//!
//! Measuring the host figures is [`super::metrics`]' job; rounding them to two decimals
//! HALF_UP (Java `DecimalFormat("0.00")`) is [`round_half_up_2`], here.

use std::fmt;

/// How many fields the heartbeat text has: the readers in the cluster accept only one count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HeartbeatFormat {
    /// 13 fields: DolphinScheduler 2.0.0 – 2.0.5 (and the dev seed).
    #[default]
    Fields13,
    /// 14 fields, `diskAvailable` at index 2: DolphinScheduler 2.0.6 – 2.0.9.
    Fields14,
}

impl HeartbeatFormat {
    /// Number of comma-separated fields of this format.
    pub fn field_count(self) -> usize {
        match self {
            HeartbeatFormat::Fields13 => 13,
            HeartbeatFormat::Fields14 => 14,
        }
    }

    /// The format with `count` fields, if any.
    pub fn from_field_count(count: usize) -> Option<HeartbeatFormat> {
        match count {
            13 => Some(HeartbeatFormat::Fields13),
            14 => Some(HeartbeatFormat::Fields14),
            _ => None,
        }
    }
}

impl fmt::Display for HeartbeatFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.field_count())
    }
}

/// `serverStatus` values.
pub const STATUS_NORMAL: i32 = 0;
/// `serverStatus`: load above `maxCpuloadAvg` or available memory below `reservedMemory`.
pub const STATUS_ABNORMAL: i32 = 1;
/// `serverStatus`: worker with more waiting tasks than execution threads.
pub const STATUS_BUSY: i32 = 2;

/// Why a heartbeat text was rejected. A Java reader returns `null` for [`Error::FieldCount`]
/// and throws `NumberFormatException` for [`Error::Number`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("heartbeat has {found} fields, expected {expected}: {text:?}")]
    FieldCount {
        found: usize,
        expected: &'static str,
        text: String,
    },
    #[error("heartbeat field {index} ({name}) is not a valid Java {kind}: {value:?}")]
    Number {
        index: usize,
        name: &'static str,
        kind: &'static str,
        value: String,
    },
}

/// One decoded heartbeat (Java `HeartBeat`), field order as written in the 14-field form.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Heartbeat {
    /// System CPU usage fraction 0..1; `-1.0` when unknown.
    pub cpu_usage: f64,
    /// Used physical memory fraction 0..1.
    pub memory_usage: f64,
    /// Free disk space of the working directory's filesystem in GiB; only in the 14-field form.
    pub disk_available: Option<f64>,
    /// One-minute load average; `-1.0` when unknown.
    pub load_average: f64,
    /// Available physical memory in GiB.
    pub available_physical_memory_size: f64,
    /// Configured load threshold.
    pub max_cpuload_avg: f64,
    /// Configured memory threshold in GiB.
    pub reserved_memory: f64,
    /// Epoch milliseconds of this server incarnation's start.
    pub startup_time: i64,
    /// Epoch milliseconds when the text was encoded.
    pub report_time: i64,
    /// [`STATUS_NORMAL`], [`STATUS_ABNORMAL`] or [`STATUS_BUSY`].
    pub server_status: i32,
    /// OS process id.
    pub process_id: i32,
    /// Worker weight for random / round-robin selection (`0` for masters).
    pub worker_host_weight: i32,
    /// Worker execution threads (`0` for masters).
    pub worker_exec_thread_count: i32,
    /// Tasks waiting in the worker's queue (`0` for masters).
    pub worker_waiting_task_count: i32,
}

const NAMES_14: [&str; 14] = [
    "cpuUsage",
    "memoryUsage",
    "diskAvailable",
    "loadAverage",
    "availablePhysicalMemorySize",
    "maxCpuloadAvg",
    "reservedMemory",
    "startupTime",
    "reportTime",
    "serverStatus",
    "processId",
    "workerHostWeight",
    "workerExecThreadCount",
    "workerWaitingTaskCount",
];

impl Heartbeat {
    /// The status Java's `HeartBeat.updateServerState` derives from the figures.
    pub fn compute_status(&self) -> i32 {
        if self.load_average > self.max_cpuload_avg
            || self.available_physical_memory_size < self.reserved_memory
        {
            STATUS_ABNORMAL
        } else if self.worker_waiting_task_count > self.worker_exec_thread_count {
            STATUS_BUSY
        } else {
            STATUS_NORMAL
        }
    }

    /// The text written to ZooKeeper. Non-finite doubles are written as `-1.0` (Java readers
    /// would accept `NaN`/`Infinity`, but peers' arithmetic on them is undefined); a missing
    /// `disk_available` in the 14-field form is written as `-1.0`.
    pub fn encode(&self, fmt: HeartbeatFormat) -> String {
        fn d(x: f64) -> String {
            if x.is_finite() {
                java_double_to_string(x)
            } else {
                "-1.0".to_string()
            }
        }
        let mut parts: Vec<String> = Vec::with_capacity(14);
        parts.push(d(self.cpu_usage));
        parts.push(d(self.memory_usage));
        if fmt == HeartbeatFormat::Fields14 {
            parts.push(d(self.disk_available.unwrap_or(-1.0)));
        }
        parts.push(d(self.load_average));
        parts.push(d(self.available_physical_memory_size));
        parts.push(d(self.max_cpuload_avg));
        parts.push(d(self.reserved_memory));
        parts.push(self.startup_time.to_string());
        parts.push(self.report_time.to_string());
        parts.push(self.server_status.to_string());
        parts.push(self.process_id.to_string());
        parts.push(self.worker_host_weight.to_string());
        parts.push(self.worker_exec_thread_count.to_string());
        parts.push(self.worker_waiting_task_count.to_string());
        parts.join(",")
    }

    /// Lenient decode: accepts the 13- and the 14-field form (the count tells which). Use
    /// for worker heartbeats, which may come from either Java generation.
    pub fn decode(text: &str) -> Result<Heartbeat, Error> {
        let parts = java_split_comma(text);
        match HeartbeatFormat::from_field_count(parts.len()) {
            Some(fmt) => Self::decode_parts(&parts, fmt),
            None => Err(Error::FieldCount {
                found: parts.len(),
                expected: "13 or 14",
                text: text.to_string(),
            }),
        }
    }

    /// Strict decode, exactly like a Java reader of the given generation: any other field
    /// count is rejected. Use where we must agree with Java peers (master list, slots).
    pub fn decode_as(text: &str, fmt: HeartbeatFormat) -> Result<Heartbeat, Error> {
        let parts = java_split_comma(text);
        if parts.len() != fmt.field_count() {
            return Err(Error::FieldCount {
                found: parts.len(),
                expected: match fmt {
                    HeartbeatFormat::Fields13 => "13",
                    HeartbeatFormat::Fields14 => "14",
                },
                text: text.to_string(),
            });
        }
        Self::decode_parts(&parts, fmt)
    }

    fn decode_parts(parts: &[&str], fmt: HeartbeatFormat) -> Result<Heartbeat, Error> {
        // Map the parts onto the 14-field layout; `None` = absent disk field.
        let at = |i14: usize| -> Option<(usize, &str)> {
            match fmt {
                HeartbeatFormat::Fields14 => Some((i14, parts[i14])),
                HeartbeatFormat::Fields13 => match i14 {
                    2 => None,
                    0 | 1 => Some((i14, parts[i14])),
                    _ => Some((i14 - 1, parts[i14 - 1])),
                },
            }
        };
        let double = |i14: usize| -> Result<Option<f64>, Error> {
            match at(i14) {
                None => Ok(None),
                Some((index, value)) => {
                    parse_java_double(value)
                        .map(Some)
                        .ok_or_else(|| Error::Number {
                            index,
                            name: NAMES_14[i14],
                            kind: "double",
                            value: value.to_string(),
                        })
                }
            }
        };
        let req_double = |i14: usize| -> Result<f64, Error> { Ok(double(i14)?.unwrap_or(-1.0)) };
        let long = |i14: usize| -> Result<i64, Error> {
            let (index, value) = at(i14).unwrap_or((i14, ""));
            parse_java_long(value).ok_or_else(|| Error::Number {
                index,
                name: NAMES_14[i14],
                kind: "long",
                value: value.to_string(),
            })
        };
        let int = |i14: usize| -> Result<i32, Error> {
            let (index, value) = at(i14).unwrap_or((i14, ""));
            parse_java_int(value).ok_or_else(|| Error::Number {
                index,
                name: NAMES_14[i14],
                kind: "int",
                value: value.to_string(),
            })
        };
        Ok(Heartbeat {
            cpu_usage: req_double(0)?,
            memory_usage: req_double(1)?,
            disk_available: double(2)?,
            load_average: req_double(3)?,
            available_physical_memory_size: req_double(4)?,
            max_cpuload_avg: req_double(5)?,
            reserved_memory: req_double(6)?,
            startup_time: long(7)?,
            report_time: long(8)?,
            server_status: int(9)?,
            process_id: int(10)?,
            worker_host_weight: int(11)?,
            worker_exec_thread_count: int(12)?,
            worker_waiting_task_count: int(13)?,
        })
    }
}

/// Java `text.split(",")`: split on every comma, then drop trailing empty strings.
fn java_split_comma(text: &str) -> Vec<&str> {
    if !text.contains(',') {
        // Java returns the input itself when there is no match (so "" → [""]).
        return vec![text];
    }
    let mut parts: Vec<&str> = text.split(',').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

/// Java `Double.toString(x)`: shortest round-trip digits, plain notation with at least one
/// fractional digit for 10⁻³ ≤ |x| < 10⁷ (`8.0`, `0.25`), otherwise computerized scientific
/// notation (`1.0E7`, `1.5E-4`); `NaN`, `Infinity`, `-Infinity`, `0.0`, `-0.0`.
///
/// (JDK ≤ 18 occasionally printed a non-shortest digit string for some large or tiny values;
/// two-decimal heartbeat figures are not affected.)
pub fn java_double_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    // Rust's `{:e}` prints the shortest round-trip digits: "1.2345e3", "1e7", "2.5e-4".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if (-3..7).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            let (int_part, frac_part) = if digits.len() > int_len {
                (digits[..int_len].to_string(), digits[int_len..].to_string())
            } else {
                (format!("{digits:0<int_len$}"), "0".to_string())
            };
            format!("{sign}{int_part}.{frac_part}")
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exp}")
    }
}

/// Java `Double.parseDouble` for decimal input: surrounding characters ≤ U+0020 ignored,
/// optional sign, `NaN`, `Infinity`, or digits with optional `.` and exponent, optional
/// `f`/`F`/`d`/`D` suffix. `None` where Java throws `NumberFormatException` (hexadecimal
/// literals are not supported here and also rejected).
pub fn parse_java_double(text: &str) -> Option<f64> {
    let t = text.trim_matches(|c: char| c <= ' ');
    let (negative, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if rest == "NaN" {
        return Some(f64::NAN);
    }
    if rest == "Infinity" {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    let body = rest.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(rest);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !all_digits(int_part) || !all_digits(frac_part) {
        return None;
    }
    let exp = match exponent {
        None => "0",
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !all_digits(digits) {
                return None;
            }
            e
        }
    };
    // Saturate absurd exponents the way Java does (to 0 or infinity) without overflowing
    // Rust's exponent parsing.
    let exp_value: i64 = match exp.parse::<i64>() {
        Ok(v) => v.clamp(-100_000, 100_000),
        Err(_) => {
            if exp.starts_with('-') {
                -100_000
            } else {
                100_000
            }
        }
    };
    let canonical = format!(
        "{}{}.{}e{}",
        if negative { "-" } else { "" },
        if int_part.is_empty() { "0" } else { int_part },
        if frac_part.is_empty() { "0" } else { frac_part },
        exp_value
    );
    canonical.parse::<f64>().ok()
}

/// Java `Integer.parseInt`: optional `+`/`-`, ASCII digits only, within i32.
pub fn parse_java_int(text: &str) -> Option<i32> {
    if !java_integer_syntax(text) {
        return None;
    }
    text.parse::<i32>().ok()
}

/// Java `Long.parseLong`: optional `+`/`-`, ASCII digits only, within i64.
pub fn parse_java_long(text: &str) -> Option<i64> {
    if !java_integer_syntax(text) {
        return None;
    }
    text.parse::<i64>().ok()
}

fn java_integer_syntax(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Java `Double.parseDouble(new DecimalFormat("0.00") {HALF_UP}.format(x))`: rounds the
/// exact binary value of `x` to two decimals, halves away from zero. Non-finite input is
/// returned unchanged.
pub fn round_half_up_2(x: f64) -> f64 {
    if !x.is_finite() || x.abs() >= 1e15 {
        // Doubles this large are integers already.
        return x;
    }
    // The exact decimal expansion of an f64 has at most 1074 fractional digits.
    let exact = format!("{:.1100}", x.abs());
    let (int_part, frac_part) = exact.split_once('.').unwrap_or((exact.as_str(), ""));
    let frac = frac_part.as_bytes();
    let digit = |i: usize| frac.get(i).map(|b| b - b'0').unwrap_or(0) as u64;
    let int_value: u128 = int_part.parse::<u128>().unwrap_or(0);
    let mut hundredths: u128 = int_value * 100 + (digit(0) * 10 + digit(1)) as u128;
    if digit(2) >= 5 {
        hundredths += 1;
    }
    let text = format!(
        "{}{}.{:02}",
        if x < 0.0 { "-" } else { "" },
        hundredths / 100,
        hundredths % 100
    );
    text.parse::<f64>().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Heartbeat {
        Heartbeat {
            cpu_usage: 0.12,
            memory_usage: 0.43,
            disk_available: Some(37.25),
            load_average: 1.5,
            available_physical_memory_size: 5.82,
            max_cpuload_avg: 32.0,
            reserved_memory: 0.3,
            startup_time: 1_700_000_000_000,
            report_time: 1_700_000_050_012,
            server_status: 0,
            process_id: 4242,
            worker_host_weight: 0,
            worker_exec_thread_count: 0,
            worker_waiting_task_count: 0,
        }
    }

    const SPEC_13: &str = "0.12,0.43,1.5,5.82,32.0,0.3,1700000000000,1700000050012,0,4242,0,0,0";
    const SPEC_14: &str =
        "0.12,0.43,37.25,1.5,5.82,32.0,0.3,1700000000000,1700000050012,0,4242,0,0,0";

    #[test]
    fn encodes_spec_examples_byte_exact() {
        assert_eq!(example().encode(HeartbeatFormat::Fields13), SPEC_13);
        assert_eq!(example().encode(HeartbeatFormat::Fields14), SPEC_14);
    }

    #[test]
    fn decodes_both_forms() {
        let h13 = Heartbeat::decode(SPEC_13).expect("13 fields");
        assert_eq!(
            h13,
            Heartbeat {
                disk_available: None,
                ..example()
            }
        );
        let h14 = Heartbeat::decode(SPEC_14).expect("14 fields");
        assert_eq!(h14, example());
        assert_eq!(h14.encode(HeartbeatFormat::Fields14), SPEC_14);
        assert_eq!(h13.encode(HeartbeatFormat::Fields13), SPEC_13);
    }

    #[test]
    fn strict_decode_checks_count() {
        assert!(Heartbeat::decode_as(SPEC_13, HeartbeatFormat::Fields13).is_ok());
        assert!(matches!(
            Heartbeat::decode_as(SPEC_14, HeartbeatFormat::Fields13),
            Err(Error::FieldCount { found: 14, .. })
        ));
        assert!(matches!(
            Heartbeat::decode_as(SPEC_13, HeartbeatFormat::Fields14),
            Err(Error::FieldCount { found: 13, .. })
        ));
    }

    #[test]
    fn trailing_commas_are_dropped_like_java_split() {
        let text = format!("{SPEC_13},,");
        assert!(Heartbeat::decode_as(&text, HeartbeatFormat::Fields13).is_ok());
        // An empty field in the middle is kept and fails number parsing.
        let text = SPEC_13.replacen("0.43", "", 1);
        assert!(matches!(
            Heartbeat::decode(&text),
            Err(Error::Number { index: 1, .. })
        ));
    }

    #[test]
    fn malformed_is_an_error_not_a_panic() {
        for bad in [
            "",
            ",",
            ",,,,,,,,,,,,",
            "garbage",
            "1,2,3",
            "0.12,0.43,1.5,5.82,32.0,0.3,1700000000000,1700000050012,0.0,4242,0,0,0",
            "0.12,0.43,1.5,5.82,32.0,0.3,1700000000000,1700000050012, 0,4242,0,0,0",
            "inf,0.43,1.5,5.82,32.0,0.3,1700000000000,1700000050012,0,4242,0,0,0",
            "0.12,0.43,1.5,5.82,32.0,0.3,1.7E12,1700000050012,0,4242,0,0,0",
            "0.12,0.43,1.5,5.82,32.0,0.3,1700000000000,1700000050012,0,99999999999,0,0,0",
            "0.12,0.43,1.5,5.82,32.0,0.3,1700000000000,1700000050012,0,4242,0,0,+",
            "é,0.43,1.5,5.82,32.0,0.3,1700000000000,1700000050012,0,4242,0,0,0",
        ] {
            assert!(Heartbeat::decode(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn java_number_syntax_accepted() {
        let text = " 1.5 ,.5,5.,-1.0e1,+2d,NaN,+1700000000000,-5,+0,4242,0,0,0";
        let h = Heartbeat::decode(text).expect("java accepts all of these");
        assert_eq!(h.cpu_usage, 1.5);
        assert_eq!(h.memory_usage, 0.5);
        assert_eq!(h.load_average, 5.0);
        assert_eq!(h.available_physical_memory_size, -10.0);
        assert_eq!(h.max_cpuload_avg, 2.0);
        assert!(h.reserved_memory.is_nan());
        assert_eq!(h.startup_time, 1_700_000_000_000);
        assert_eq!(h.report_time, -5);
        assert_eq!(h.server_status, 0);
        assert_eq!(parse_java_double("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_java_double("1e400"), Some(f64::INFINITY));
        assert_eq!(parse_java_double("1e-99999999999999999999"), Some(0.0));
        for bad in [
            "", ".", "e5", "1e", "1e+", "inf", "infinity", "0x10", "1.0.0", "1,0", "- 1",
        ] {
            assert_eq!(parse_java_double(bad), None, "{bad:?}");
        }
        for bad in ["", "+", "-", " 1", "1 ", "1.0", "2147483648", "1e3"] {
            assert_eq!(parse_java_int(bad), None, "{bad:?}");
        }
        assert_eq!(parse_java_int("-2147483648"), Some(i32::MIN));
        assert_eq!(parse_java_long("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_java_long("9223372036854775808"), None);
    }

    #[test]
    fn java_double_formatting() {
        let cases: [(f64, &str); 22] = [
            (8.0, "8.0"),
            (0.25, "0.25"),
            (-1.0, "-1.0"),
            (1.0e7, "1.0E7"),
            (1.5e7, "1.5E7"),
            (9_999_999.0, "9999999.0"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (0.00015, "1.5E-4"),
            (123.456, "123.456"),
            (100.0, "100.0"),
            (0.1, "0.1"),
            (0.3, "0.3"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1_700_000_000_000.0, "1.7E12"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (32.0, "32.0"),
            (5.82, "5.82"),
            (1e-10, "1.0E-10"),
            (f64::MAX, "1.7976931348623157E308"),
            (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
        ];
        for (x, want) in cases {
            assert_eq!(java_double_to_string(x), want, "{x:e}");
        }
        assert_eq!(java_double_to_string(f64::NAN), "NaN");
        assert_eq!(java_double_to_string(f64::INFINITY), "Infinity");
        assert_eq!(java_double_to_string(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn non_finite_values_are_never_written() {
        let h = Heartbeat {
            cpu_usage: f64::NAN,
            load_average: f64::INFINITY,
            ..example()
        };
        let text = h.encode(HeartbeatFormat::Fields13);
        assert!(text.starts_with("-1.0,0.43,-1.0,"), "{text}");
        let none_disk = Heartbeat {
            disk_available: None,
            ..example()
        };
        assert!(none_disk
            .encode(HeartbeatFormat::Fields14)
            .starts_with("0.12,0.43,-1.0,1.5,"));
    }

    #[test]
    fn half_up_rounding_on_exact_binary_value() {
        assert_eq!(round_half_up_2(0.125), 0.13); // exact tie → up
        assert_eq!(round_half_up_2(0.375), 0.38);
        assert_eq!(round_half_up_2(1.005), 1.0); // 1.00499999999999989...
        assert_eq!(round_half_up_2(0.005), 0.01); // 0.005000000000000000104...
        assert_eq!(round_half_up_2(0.994), 0.99);
        assert_eq!(round_half_up_2(0.995), 0.99); // 0.99499999999999999555...
        assert_eq!(round_half_up_2(0.9951), 1.0);
        assert_eq!(round_half_up_2(12345.678), 12345.68);
        assert_eq!(round_half_up_2(-0.125), -0.13);
        assert_eq!(round_half_up_2(0.0), 0.0);
        assert!(round_half_up_2(f64::NAN).is_nan());
    }

    #[test]
    fn status_rules() {
        let mut h = example();
        assert_eq!(h.compute_status(), STATUS_NORMAL);
        h.load_average = 33.0;
        assert_eq!(h.compute_status(), STATUS_ABNORMAL);
        h.load_average = 1.0;
        h.available_physical_memory_size = 0.1;
        assert_eq!(h.compute_status(), STATUS_ABNORMAL);
        h.available_physical_memory_size = 5.0;
        h.worker_waiting_task_count = 3;
        h.worker_exec_thread_count = 2;
        assert_eq!(h.compute_status(), STATUS_BUSY);
    }
}
