//! Judgements of the tasks the master runs itself, as pure functions over task params and
//! task states: CONDITIONS (upstream `ConditionTaskProcessor` + `DependentUtils`).

use crate::model::ExecutionStatus;
use serde_json::Value;
use std::collections::HashMap;

/// `conditionResult`: the task codes of each branch (numbers or strings; blanks dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConditionResult {
    pub success: Vec<i64>,
    pub failed: Vec<i64>,
}

/// Reads an object, or a string holding JSON (the task-instance form), as a JSON value.
fn object(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

fn codes(v: Option<&Value>) -> Vec<i64> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .collect(),
        Some(Value::Number(n)) => n.as_i64().into_iter().collect(),
        Some(Value::String(s)) => s.trim().parse().ok().into_iter().collect(),
        _ => Vec::new(),
    }
}

pub fn condition_result(task_params: &str) -> ConditionResult {
    let params: Value = serde_json::from_str(task_params).unwrap_or(Value::Null);
    let result = object(params.get("conditionResult")).unwrap_or(Value::Null);
    ConditionResult {
        success: codes(result.get("successNode")),
        failed: codes(result.get("failedNode")),
    }
}

/// Upstream `DependentUtils.getDependResultForRelation` for SUCCESS/FAILED outcomes:
/// AND fails if any fails, OR succeeds if any succeeds; an empty list succeeds (AND) or
/// fails (OR) as the Java loops do.
fn combine(relation: Option<&str>, results: &[bool]) -> bool {
    match relation.unwrap_or("AND") {
        "OR" => results.iter().any(|r| *r),
        _ => results.iter().all(|r| *r),
    }
}

/// The CONDITIONS task's own state: SUCCESS when its `dependence` holds for the listed tasks'
/// current states (exact state equality, as upstream compares enums), FAILURE otherwise.
pub fn judge_conditions(
    task_params: Option<&str>,
    states: &HashMap<i64, ExecutionStatus>,
) -> ExecutionStatus {
    let params: Value = task_params
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    let dependence = object(params.get("dependence")).unwrap_or(Value::Null);
    let models: Vec<bool> = dependence
        .get("dependTaskList")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|model| {
                    let items: Vec<bool> = model
                        .get("dependItemList")
                        .and_then(Value::as_array)
                        .map(|items| {
                            items
                                .iter()
                                .map(|item| {
                                    let code = codes(item.get("depTaskCode")).first().copied();
                                    let wanted = item.get("status").and_then(Value::as_str);
                                    match (code.and_then(|c| states.get(&c)), wanted) {
                                        (Some(s), Some(w)) => s.name() == w,
                                        _ => false,
                                    }
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    combine(model.get("relation").and_then(Value::as_str), &items)
                })
                .collect()
        })
        .unwrap_or_default();
    if combine(dependence.get("relation").and_then(Value::as_str), &models) {
        ExecutionStatus::SUCCESS
    } else {
        ExecutionStatus::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: &str = r#"{"dependence":{"relation":"AND","dependTaskList":[{"relation":"AND","dependItemList":[{"depTaskCode":11,"status":"SUCCESS"}]}]},"conditionResult":{"successNode":["12"],"failedNode":[13]}}"#;

    #[test]
    fn conditions_follow_the_listed_states() {
        let mut states = HashMap::new();
        states.insert(11, ExecutionStatus::SUCCESS);
        assert_eq!(
            judge_conditions(Some(PARAMS), &states),
            ExecutionStatus::SUCCESS
        );
        states.insert(11, ExecutionStatus::FAILURE);
        assert_eq!(
            judge_conditions(Some(PARAMS), &states),
            ExecutionStatus::FAILURE
        );
        states.insert(11, ExecutionStatus::FORCED_SUCCESS);
        assert_eq!(
            judge_conditions(Some(PARAMS), &states),
            ExecutionStatus::FAILURE,
            "exact equality"
        );
        assert_eq!(
            judge_conditions(Some(PARAMS), &HashMap::new()),
            ExecutionStatus::FAILURE
        );
        assert_eq!(
            condition_result(PARAMS),
            ConditionResult {
                success: vec![12],
                failed: vec![13]
            }
        );
    }

    #[test]
    fn instance_form_strings_are_read_too() {
        let p = r#"{"conditionResult":"{\"successNode\":[1],\"failedNode\":[\"\"]}","dependence":"null"}"#;
        assert_eq!(
            condition_result(p),
            ConditionResult {
                success: vec![1],
                failed: vec![]
            }
        );
    }
}

/// One SWITCH branch: its condition (none for the default) and the task codes it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchBranch {
    pub condition: Option<String>,
    pub next: Vec<String>,
}

/// What a SWITCH decided, and the `switchResult` text upstream writes back into the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchOutcome {
    pub state: ExecutionStatus,
    pub chosen: usize,
    pub switch_result: String,
}

fn next_nodes(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// commons-lang `NumberUtils.isNumber` closely enough: decimals, exponents, hex, a trailing
/// type letter.
fn looks_numeric(v: &str) -> bool {
    let t = v.trim();
    if t.is_empty() || t != v {
        return false;
    }
    let body = t.strip_suffix(['l', 'L', 'f', 'F', 'd', 'D']).unwrap_or(t);
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    body.parse::<f64>().is_ok() && !body.contains(['i', 'I', 'n', 'N'])
}

/// Upstream's substitution (`SwitchTaskProcessor.setConditionParamsValue`): `'` becomes `"`;
/// each `${name}` becomes its value, in double quotes unless numeric (quotes written around the
/// placeholder stay, as upstream leaves them); an unknown name empties the whole expression.
pub fn substitute(condition: &str, params: &HashMap<String, String>) -> String {
    let mut text = condition.replace('\'', "\"");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 2..start + end];
        let Some(value) = params.get(name) else {
            return String::new();
        };
        out.push_str(&rest[..start]);
        if looks_numeric(value) {
            out.push_str(value);
        } else {
            out.push('"');
            out.push_str(value);
            out.push('"');
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    text = out;
    text
}

/// Upstream `SwitchTaskProcessor`: the first branch whose condition holds (the default one
/// appended last); a condition that does not evaluate to a boolean fails the task, and so does
/// a chosen branch without next nodes. Unlike upstream, an empty expression (unknown
/// parameter) fails instead of leaving the task RUNNING forever.
pub fn run_switch(task_params: Option<&str>, params: &HashMap<String, String>) -> SwitchOutcome {
    let root: Value = task_params
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    let switch = object(root.get("switchResult")).unwrap_or(Value::Null);
    let mut branches: Vec<SwitchBranch> = switch
        .get("dependTaskList")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|b| SwitchBranch {
                    condition: b
                        .get("condition")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    next: next_nodes(b.get("nextNode")),
                })
                .collect()
        })
        .unwrap_or_default();
    let default_next = next_nodes(switch.get("nextNode"));
    branches.push(SwitchBranch {
        condition: None,
        next: default_next.clone(),
    });
    let default_index = branches.len() - 1;
    let mut chosen = default_index;
    let mut state = ExecutionStatus::SUCCESS;
    for (i, b) in branches.iter().enumerate() {
        let Some(cond) = b.condition.as_deref().filter(|c| !c.trim().is_empty()) else {
            chosen = i;
            break;
        };
        match crate::engine::expr::eval_condition(&substitute(cond, params)) {
            Ok(true) => {
                chosen = i;
                break;
            }
            Ok(false) => {}
            Err(_) => {
                state = ExecutionStatus::FAILURE;
                chosen = default_index;
                break;
            }
        }
    }
    if branches[chosen].next.is_empty() || branches[chosen].next.iter().any(|n| n.trim().is_empty())
    {
        state = ExecutionStatus::FAILURE;
    }
    let list: Vec<Value> = branches
        .iter()
        .map(|b| {
            serde_json::json!({
                "condition": b.condition,
                "nextNode": b.next,
            })
        })
        .collect();
    // Upstream stores the whole `SwitchParameters` bean as Jackson writes it, so the
    // inherited `localParams` and `varPool` (never set on this path) are there as nulls.
    let stored = serde_json::json!({
        "localParams": null,
        "varPool": null,
        "dependRelation": null,
        "resultConditionLocation": chosen,
        "relation": null,
        "dependTaskList": list,
        "nextNode": default_next,
    });
    SwitchOutcome {
        state,
        chosen,
        switch_result: stored.to_string(),
    }
}

/// Downstream of a finished SWITCH (upstream `parseSwitchTask`, from the row's stored
/// `switchResult`): the chosen branch's codes run; of every other branch only the first code
/// is skipped.
pub fn switch_branch(instance_task_params: Option<&str>) -> Option<(Vec<i64>, Vec<i64>)> {
    let root: Value = serde_json::from_str(instance_task_params?).ok()?;
    let switch = object(root.get("switchResult"))?;
    let chosen = usize::try_from(switch.get("resultConditionLocation")?.as_u64()?).ok()?;
    let list = switch.get("dependTaskList")?.as_array()?;
    let parse = |s: &String| s.trim().parse::<i64>().ok();
    let mut take = Vec::new();
    let mut skip = Vec::new();
    for (i, b) in list.iter().enumerate() {
        let next = next_nodes(b.get("nextNode"));
        if i == chosen {
            take.extend(next.iter().filter_map(parse));
        } else if let Some(first) = next.first().and_then(parse) {
            skip.push(first);
        }
    }
    Some((take, skip))
}

#[cfg(test)]
mod switch_tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const SWITCH: &str = r#"{"switchResult":{"dependTaskList":[{"condition":"${x} > 1","nextNode":"11"},{"condition":"'${name}' == 'b'","nextNode":[12]}],"nextNode":13}}"#;

    #[test]
    fn picks_the_first_true_branch_or_the_default() {
        let o = run_switch(Some(SWITCH), &params(&[("x", "5"), ("name", "z")]));
        assert_eq!((o.state, o.chosen), (ExecutionStatus::SUCCESS, 0));
        let o = run_switch(Some(SWITCH), &params(&[("x", "0"), ("name", "z")]));
        // '${name}' -> "${name}" -> ""z"": a syntax error, as in upstream: the task fails.
        assert_eq!((o.state, o.chosen), (ExecutionStatus::FAILURE, 2));
        let o = run_switch(
            Some(
                r#"{"switchResult":{"dependTaskList":[{"condition":"${x} > 1","nextNode":"11"}],"nextNode":13}}"#,
            ),
            &params(&[("x", "0")]),
        );
        assert_eq!((o.state, o.chosen), (ExecutionStatus::SUCCESS, 1));
        assert_eq!(
            switch_branch(Some(&format!(
                "{{\"switchResult\":{}}}",
                serde_json::to_string(&o.switch_result).unwrap()
            ))),
            Some((vec![13], vec![11]))
        );
        let o = run_switch(Some(SWITCH), &params(&[("name", "z")]));
        assert_eq!(
            o.state,
            ExecutionStatus::FAILURE,
            "unknown parameter: fails instead of hanging"
        );
    }

    #[test]
    fn substitution_quotes_non_numbers() {
        assert_eq!(substitute("${a} == 1", &params(&[("a", "1")])), "1 == 1");
        assert_eq!(
            substitute("${a} == \"x\"", &params(&[("a", "x")])),
            "\"x\" == \"x\""
        );
        assert_eq!(substitute("${b} > 0", &params(&[("a", "1")])), "");
    }
}
