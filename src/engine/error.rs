//! What can stop one step of a workflow actor. Every variant names the row or task it is
//! about, so the log line that reports it says where to look; the store's errors keep their
//! own context (table, id, statement) and their ownership flag, which decides whether the
//! actor gives the instance up.

use super::construct::ConstructError;
use super::dag::DagError;
use crate::store;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("building the instance: {0}")]
    Construct(#[from] ConstructError),
    #[error("building the DAG: {0}")]
    Dag(#[from] DagError),
    #[error("task {0} has no definition in this workflow version")]
    NoDefinition(i64),
    #[error("task instance {0} is not loaded in this workflow")]
    NotLoaded(i32),
    #[error("the child process definition {0} of a SUB_PROCESS task does not exist")]
    NoChildDefinition(i64),
    #[error("task instance {id}: task_params: {reason}")]
    TaskParams { id: i32, reason: String },
}
