//! The expressions of SWITCH conditions, evaluated as upstream's Nashorn (JavaScript, ES5.1)
//! would for the subset users write after parameter substitution: number, string, boolean,
//! null/undefined literals; `== != === !== < <= > >=` with JS coercion; `&& || !`; `+ - * / %`
//! (`+` concatenates when a side is a string); parentheses; and the string members
//! `length`, `indexOf`, `substring`, `toLowerCase`, `toUpperCase`, `trim` (plus `startsWith`,
//! `endsWith`, `includes`, which Nashorn reaches through Java's String). Anything else is an
//! error, which makes the branch fail as a script exception does upstream.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Str(String),
    Bool(bool),
    Null,
    Undefined,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("switch condition: {0}")]
pub struct Error(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error(msg.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    Op(&'static str),
}

const OPS: [&str; 23] = [
    "===", "!==", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%", "(",
    ")", ".", ",", "?", ":", ";",
];

fn lex(src: &str) -> Result<Vec<Tok>, Error> {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let n = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                i64::from_str_radix(hex, 16).map(|v| v as f64).ok()
            } else {
                text.parse::<f64>().ok()
            };
            out.push(Tok::Num(
                n.ok_or_else(|| Error(format!("bad number {text}")))?,
            ));
        } else if c == '"' || c == '\'' {
            let quote = c;
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => return err("unterminated string"),
                    Some(&ch) if ch == quote => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        let esc = chars
                            .get(i + 1)
                            .copied()
                            .ok_or_else(|| Error("bad escape".into()))?;
                        s.push(match esc {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        });
                        i += 2;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
            match OPS.iter().find(|op| rest.starts_with(*op)) {
                Some(op) => {
                    out.push(Tok::Op(op));
                    i += op.len();
                }
                None => return err(format!("unexpected character {c:?}")),
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_op(&self) -> Option<&'static str> {
        match self.toks.get(self.pos) {
            Some(Tok::Op(op)) => Some(op),
            _ => None,
        }
    }

    fn eat(&mut self, op: &str) -> bool {
        if self.peek_op() == Some(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn binary(&mut self, level: usize) -> Result<Value, Error> {
        const LEVELS: [&[&str]; 6] = [
            &["||"],
            &["&&"],
            &["===", "!==", "==", "!="],
            &["<=", ">=", "<", ">"],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.peek_op().filter(|op| LEVELS[level].contains(op)) {
            self.pos += 1;
            // JS evaluates both sides here; none of the subset has side effects.
            let right = self.binary(level + 1)?;
            left = apply(op, left, right)?;
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Value, Error> {
        if self.eat("!") {
            return Ok(Value::Bool(!truthy(&self.unary()?)));
        }
        if self.eat("-") {
            return Ok(Value::Num(-to_number(&self.unary()?)));
        }
        if self.eat("+") {
            return Ok(Value::Num(to_number(&self.unary()?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Value, Error> {
        let mut v = self.primary()?;
        while self.eat(".") {
            let Some(Tok::Ident(name)) = self.toks.get(self.pos).cloned() else {
                return err("member name expected");
            };
            self.pos += 1;
            let mut args = Vec::new();
            let call = self.eat("(");
            if call && !self.eat(")") {
                loop {
                    args.push(self.binary(0)?);
                    if self.eat(")") {
                        break;
                    }
                    if !self.eat(",") {
                        return err("',' or ')' expected");
                    }
                }
            }
            v = member(&v, &name, call, &args)?;
        }
        Ok(v)
    }

    fn primary(&mut self) -> Result<Value, Error> {
        let tok = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match tok {
            Some(Tok::Num(n)) => Ok(Value::Num(n)),
            Some(Tok::Str(s)) => Ok(Value::Str(s)),
            Some(Tok::Ident(id)) => match id.as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                "null" => Ok(Value::Null),
                "undefined" => Ok(Value::Undefined),
                other => err(format!("{other} is not defined")),
            },
            Some(Tok::Op("(")) => {
                let v = self.binary(0)?;
                if !self.eat(")") {
                    return err("')' expected");
                }
                Ok(v)
            }
            Some(Tok::Op(op)) => err(format!("unexpected {op}")),
            None => Ok(Value::Undefined),
        }
    }
}

fn member(v: &Value, name: &str, call: bool, args: &[Value]) -> Result<Value, Error> {
    let Value::Str(s) = v else {
        return err(format!("{name} of a non-string"));
    };
    let arg = |i: usize| args.get(i).map(to_js_string).unwrap_or_default();
    let num = |i: usize| args.get(i).map(to_number);
    let utf16: Vec<u16> = s.encode_utf16().collect();
    Ok(match (name, call) {
        ("length", false) => Value::Num(utf16.len() as f64),
        ("indexOf", true) => {
            let needle: Vec<u16> = arg(0).encode_utf16().collect();
            let pos = (0..=utf16.len().saturating_sub(needle.len()))
                .find(|i| utf16[*i..].starts_with(&needle))
                .filter(|_| needle.len() <= utf16.len());
            Value::Num(pos.map(|p| p as f64).unwrap_or(-1.0))
        }
        ("substring", true) => {
            let clamp = |x: Option<f64>, default: usize| -> usize {
                match x {
                    Some(x) if x.is_nan() => 0,
                    Some(x) => x.max(0.0).min(utf16.len() as f64) as usize,
                    None => default,
                }
            };
            let (a, b) = (clamp(num(0), 0), clamp(num(1), utf16.len()));
            let (a, b) = (a.min(b), a.max(b));
            Value::Str(String::from_utf16_lossy(&utf16[a..b]))
        }
        ("toLowerCase", true) => Value::Str(s.to_lowercase()),
        ("toUpperCase", true) => Value::Str(s.to_uppercase()),
        ("trim", true) => Value::Str(s.trim().to_string()),
        ("startsWith", true) => Value::Bool(s.starts_with(&arg(0))),
        ("endsWith", true) => Value::Bool(s.ends_with(&arg(0))),
        ("includes", true) | ("contains", true) => Value::Bool(s.contains(&arg(0))),
        _ => return err(format!("unsupported member {name}")),
    })
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Num(n) => *n != 0.0 && !n.is_nan(),
        Value::Str(s) => !s.is_empty(),
        Value::Null | Value::Undefined => false,
    }
}

fn to_number(v: &Value) -> f64 {
    match v {
        Value::Num(n) => *n,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Null => 0.0,
        Value::Undefined => f64::NAN,
        Value::Str(s) => {
            let t = s.trim();
            if t.is_empty() {
                0.0
            } else if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                i64::from_str_radix(h, 16)
                    .map(|v| v as f64)
                    .unwrap_or(f64::NAN)
            } else {
                t.parse().unwrap_or(f64::NAN)
            }
        }
    }
}

fn to_js_string(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Num(n) if n.is_nan() => f.write_str("NaN"),
            Value::Num(n) if n.fract() == 0.0 && n.abs() < 1e21 => write!(f, "{}", *n as i64),
            Value::Num(n) => write!(f, "{n}"),
            Value::Str(s) => f.write_str(s),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
            Value::Undefined => f.write_str("undefined"),
        }
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    use Value::*;
    match (a, b) {
        (Null | Undefined, Null | Undefined) => true,
        (Null | Undefined, _) | (_, Null | Undefined) => false,
        (Str(x), Str(y)) => x == y,
        (Bool(_), _) | (_, Bool(_)) | (Num(_), _) | (_, Num(_)) => to_number(a) == to_number(b),
    }
}

fn strict_eq(a: &Value, b: &Value) -> bool {
    use Value::*;
    match (a, b) {
        (Num(x), Num(y)) => x == y,
        (Str(x), Str(y)) => x == y,
        (Bool(x), Bool(y)) => x == y,
        (Null, Null) | (Undefined, Undefined) => true,
        _ => false,
    }
}

fn apply(op: &str, a: Value, b: Value) -> Result<Value, Error> {
    Ok(match op {
        "||" => {
            if truthy(&a) {
                a
            } else {
                b
            }
        }
        "&&" => {
            if truthy(&a) {
                b
            } else {
                a
            }
        }
        "==" => Value::Bool(loose_eq(&a, &b)),
        "!=" => Value::Bool(!loose_eq(&a, &b)),
        "===" => Value::Bool(strict_eq(&a, &b)),
        "!==" => Value::Bool(!strict_eq(&a, &b)),
        "<" | "<=" | ">" | ">=" => {
            let ord = match (&a, &b) {
                (Value::Str(x), Value::Str(y)) => Some(x.encode_utf16().cmp(y.encode_utf16())),
                _ => to_number(&a).partial_cmp(&to_number(&b)),
            };
            Value::Bool(match (op, ord) {
                (_, None) => false,
                ("<", Some(o)) => o.is_lt(),
                ("<=", Some(o)) => o.is_le(),
                (">", Some(o)) => o.is_gt(),
                (_, Some(o)) => o.is_ge(),
            })
        }
        "+" => match (&a, &b) {
            (Value::Str(_), _) | (_, Value::Str(_)) => {
                Value::Str(format!("{}{}", to_js_string(&a), to_js_string(&b)))
            }
            _ => Value::Num(to_number(&a) + to_number(&b)),
        },
        "-" => Value::Num(to_number(&a) - to_number(&b)),
        "*" => Value::Num(to_number(&a) * to_number(&b)),
        "/" => Value::Num(to_number(&a) / to_number(&b)),
        "%" => Value::Num(to_number(&a) % to_number(&b)),
        other => return err(format!("unsupported operator {other}")),
    })
}

/// Evaluates one condition; `Ok` only for a boolean result (upstream casts to Boolean).
pub fn eval_condition(src: &str) -> Result<bool, Error> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return err("empty expression");
    }
    let mut p = Parser { toks, pos: 0 };
    let v = p.binary(0)?;
    if p.pos != p.toks.len() {
        return err("unexpected text after the expression");
    }
    match v {
        Value::Bool(b) => Ok(b),
        other => err(format!("the expression gave {other}, not a boolean")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_with_js_coercion() {
        assert_eq!(eval_condition("1 > 0"), Ok(true));
        assert_eq!(eval_condition("\"10\" == 10"), Ok(true));
        assert_eq!(eval_condition("\"10\" === 10"), Ok(false));
        assert_eq!(eval_condition("\"b\" > \"a\""), Ok(true));
        assert_eq!(
            eval_condition("\"10\" < \"9\""),
            Ok(true),
            "strings compare as strings"
        );
        assert_eq!(
            eval_condition("10 < \"9\""),
            Ok(false),
            "number vs string compares numbers"
        );
        assert_eq!(eval_condition("1 + 1 == 2 && !(3 % 2 == 0)"), Ok(true));
        assert_eq!(eval_condition("\"a\" + 1 == \"a1\""), Ok(true));
        assert_eq!(eval_condition("null == undefined"), Ok(true));
        assert_eq!(eval_condition("false || 2 > 1"), Ok(true));
    }

    #[test]
    fn string_members() {
        assert_eq!(eval_condition("\"abc\".length == 3"), Ok(true));
        assert_eq!(eval_condition("\"abc\".indexOf(\"c\") == 2"), Ok(true));
        assert_eq!(
            eval_condition("\" X \".trim().toLowerCase() == \"x\""),
            Ok(true)
        );
        assert_eq!(
            eval_condition("\"hello\".substring(1, 3) == \"el\""),
            Ok(true)
        );
        assert_eq!(eval_condition("\"hello\".startsWith(\"he\")"), Ok(true));
    }

    #[test]
    fn everything_else_fails() {
        assert!(eval_condition("").is_err());
        assert!(eval_condition("1 + 1").is_err(), "not a boolean");
        assert!(eval_condition("x > 1").is_err(), "unknown name");
        assert!(
            eval_condition("\"\"a\"\" == \"a\"").is_err(),
            "upstream's quoting quirk is a syntax error"
        );
        assert!(eval_condition("java.lang.System.exit(0)").is_err());
        assert!(eval_condition("a = 1").is_err());
    }
}
