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
