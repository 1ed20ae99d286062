//! Typed rows of the reference tables around a workflow run (shared/spec/database.md 5.6-5.7):
//! schedules, worker groups, environments, tenants and queues, users, projects, alert groups,
//! resources, UDFs and data sources (all read-only for the master), plus the two tables the
//! master writes besides instances and commands: `t_ds_alert` and
//! `t_ds_relation_process_instance`.
//!
//! The reads use the column lists and joins of upstream's mapper statements, so a row that a
//! Java master would not find (a tenant whose queue is gone, say) is not found here either.
//! Writes keep MyBatis-Plus semantics: Java primitives are always written, nullable fields
//! are left out when `None` so column defaults apply and nothing is overwritten with NULL.

use super::db::{Dialect, Row, Value};
use super::rows::Cells;
use super::sql::Insert;
use super::{Result, SqlContext, Store};
use crate::model::{
    AlertStatus, DbType, FailureStrategy, Flag, Priority, ReleaseState, ResourceType, UdfType,
    UserType, WarningType,
};
use crate::params;
use chrono::NaiveDateTime;

/// `t_ds_schedules`: the master reads online schedules for complement date lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub id: i32,
    pub process_definition_code: i64,
    pub start_time: NaiveDateTime,
    pub end_time: NaiveDateTime,
    pub timezone_id: Option<String>,
    pub crontab: String,
    pub failure_strategy: FailureStrategy,
    pub user_id: i32,
    pub release_state: ReleaseState,
    pub warning_type: WarningType,
    pub warning_group_id: Option<i32>,
    pub process_instance_priority: Option<Priority>,
    pub worker_group: Option<String>,
    pub environment_code: Option<i64>,
    pub create_time: NaiveDateTime,
    pub update_time: NaiveDateTime,
}

const SCHEDULE_COLUMNS: &str = "id, process_definition_code, start_time, end_time, timezone_id, \
     crontab, failure_strategy, user_id, release_state, warning_type, warning_group_id, \
     process_instance_priority, worker_group, environment_code, create_time, update_time";

impl Schedule {
    fn from_row(row: Row) -> Result<Schedule> {
        let mut c = Cells::new(row, "t_ds_schedules");
        Ok(Schedule {
            id: c.get("id")?,
            process_definition_code: c.get("process_definition_code")?,
            start_time: c.get("start_time")?,
            end_time: c.get("end_time")?,
            timezone_id: c.get("timezone_id")?,
            crontab: c.get("crontab")?,
            failure_strategy: c.code("failure_strategy", FailureStrategy::from_code)?,
            user_id: c.get("user_id")?,
            release_state: c.code("release_state", ReleaseState::from_code)?,
            warning_type: c.code("warning_type", WarningType::from_code)?,
            warning_group_id: c.get("warning_group_id")?,
            process_instance_priority: c
                .opt_code("process_instance_priority", Priority::from_code)?,
            worker_group: c.get("worker_group")?,
            environment_code: c.get("environment_code")?,
            create_time: c.get("create_time")?,
            update_time: c.get("update_time")?,
        })
    }
}

/// `t_ds_worker_group`: a named group and the workers the API assigned to it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerGroup {
    pub id: i64,
    pub name: String,
    /// `addr_list` split on commas (blank entries dropped); empty when the column is NULL.
    pub addr_list: Vec<String>,
    pub create_time: Option<NaiveDateTime>,
    pub update_time: Option<NaiveDateTime>,
}

impl WorkerGroup {
    fn from_row(row: Row) -> Result<WorkerGroup> {
        let mut c = Cells::new(row, "t_ds_worker_group");
        let addr: Option<String> = c.get("addr_list")?;
        Ok(WorkerGroup {
            id: c.get("id")?,
            name: c.get("name")?,
            addr_list: split_list(addr.as_deref()),
            create_time: c.get("create_time")?,
            update_time: c.get("update_time")?,
        })
    }
}

/// Comma-separated text to its non-blank, trimmed items.
fn split_list(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `t_ds_environment`: `config` is copied verbatim into the task instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub id: i64,
    pub code: Option<i64>,
    pub name: String,
    pub config: Option<String>,
    pub description: Option<String>,
    pub operator: Option<i32>,
    pub create_time: Option<NaiveDateTime>,
    pub update_time: Option<NaiveDateTime>,
}

impl Environment {
    fn from_row(row: Row) -> Result<Environment> {
        let mut c = Cells::new(row, "t_ds_environment");
        Ok(Environment {
            id: c.get("id")?,
            code: c.get("code")?,
            name: c.get("name")?,
            config: c.get("config")?,
            description: c.get("description")?,
            operator: c.get("operator")?,
            create_time: c.get("create_time")?,
            update_time: c.get("update_time")?,
        })
    }
}

/// `t_ds_tenant` joined with its `t_ds_queue` row (upstream `TenantMapper.queryById`).
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: i32,
    pub tenant_code: Option<String>,
    pub description: Option<String>,
    pub queue_id: Option<i32>,
    pub queue_name: Option<String>,
    /// The YARN queue name of the tenant's queue.
    pub queue: Option<String>,
    pub create_time: Option<NaiveDateTime>,
    pub update_time: Option<NaiveDateTime>,
}

impl Tenant {
    fn from_row(row: Row) -> Result<Tenant> {
        let mut c = Cells::new(row, "t_ds_tenant");
        Ok(Tenant {
            id: c.get("id")?,
            tenant_code: c.get("tenant_code")?,
            description: c.get("description")?,
            queue_id: c.get("queue_id")?,
            queue_name: c.get("queue_name")?,
            queue: c.get("queue")?,
            create_time: c.get("create_time")?,
            update_time: c.get("update_time")?,
        })
    }
}

/// `t_ds_queue`.
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    pub id: i32,
    pub queue_name: Option<String>,
    pub queue: Option<String>,
    pub create_time: Option<NaiveDateTime>,
    pub update_time: Option<NaiveDateTime>,
}

impl Queue {
    fn from_row(row: Row) -> Result<Queue> {
        let mut c = Cells::new(row, "t_ds_queue");
        Ok(Queue {
            id: c.get("id")?,
            queue_name: c.get("queue_name")?,
            queue: c.get("queue")?,
            create_time: c.get("create_time")?,
            update_time: c.get("update_time")?,
        })
    }
}

/// `t_ds_user` without the password hash (the master has no use for it).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: i32,
    pub user_name: Option<String>,
    pub user_type: Option<UserType>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tenant_id: Option<i32>,
    /// YARN queue that overrides the tenant's when non-empty.
    pub queue: Option<String>,
    /// 1 enabled, 0 disabled.
    pub state: Option<i32>,
    pub create_time: Option<NaiveDateTime>,
    pub update_time: Option<NaiveDateTime>,
}

impl User {
    fn from_row(row: Row) -> Result<User> {
        let mut c = Cells::new(row, "t_ds_user");
        Ok(User {
            id: c.get("id")?,
            user_name: c.get("user_name")?,
            user_type: c.opt_code("user_type", UserType::from_code)?,
            email: c.get("email")?,
            phone: c.get("phone")?,
            tenant_id: c.get("tenant_id")?,
            queue: c.get("queue")?,
            state: c.get("state")?,
            create_time: c.get("create_time")?,
            update_time: c.get("update_time")?,
        })
    }
}

/// `t_ds_project`.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: i32,
    pub name: Option<String>,
    pub code: i64,
    pub description: Option<String>,
    pub user_id: Option<i32>,
    pub flag: Option<Flag>,
    pub create_time: NaiveDateTime,
    pub update_time: Option<NaiveDateTime>,
}

impl Project {
    fn from_row(row: Row) -> Result<Project> {
        let mut c = Cells::new(row, "t_ds_project");
        Ok(Project {
            id: c.get("id")?,
            name: c.get("name")?,
            code: c.get("code")?,
            description: c.get("description")?,
            user_id: c.get("user_id")?,
            flag: c.opt_code("flag", Flag::from_code)?,
            create_time: c.get("create_time")?,
            update_time: c.get("update_time")?,
        })
    }
}

/// Project and owner of a process instance, for alert content (upstream
/// `queryProjectWithUserByProcessInstanceId`; `project_code` is the 2.0.6+ addition).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectUser {
    pub project_id: i32,
    pub project_code: i64,
    pub project_name: Option<String>,
    /// The project owner's `user_name`.
    pub user_name: Option<String>,
}

/// `t_ds_alertgroup` (the alert server owns it; the master only names its id).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertGroup {
    pub id: i32,
    pub group_name: Option<String>,
    pub alert_instance_ids: Option<String>,
    pub description: Option<String>,
    pub create_user_id: Option<i32>,
    pub create_time: Option<NaiveDateTime>,
    pub update_time: Option<NaiveDateTime>,
}

impl AlertGroup {
    fn from_row(row: Row) -> Result<AlertGroup> {
        let mut c = Cells::new(row, "t_ds_alertgroup");
        Ok(AlertGroup {
            id: c.get("id")?,
            group_name: c.get("group_name")?,
            alert_instance_ids: c.get("alert_instance_ids")?,
            description: c.get("description")?,
            create_user_id: c.get("create_user_id")?,
            create_time: c.get("create_time")?,
            update_time: c.get("update_time")?,
        })
    }
}

/// `t_ds_alert`: written by the master, sent by the alert server (which polls
/// `alert_status = 0`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Alert {
    /// Filled in by [`Store::insert_alert`]; ignored on insert.
    pub id: i32,
    pub title: Option<String>,
    pub content: Option<String>,
    /// `None` leaves the column default (WAIT_EXECUTION).
    pub alert_status: Option<AlertStatus>,
    pub log: Option<String>,
    /// A Java `int`: always written, 0 when the instance has no warning group.
    pub alertgroup_id: i32,
    pub create_time: Option<NaiveDateTime>,
    pub update_time: Option<NaiveDateTime>,
}

impl Alert {
    fn from_row(row: Row) -> Result<Alert> {
        let mut c = Cells::new(row, "t_ds_alert");
        Ok(Alert {
            id: c.get("id")?,
            title: c.get("title")?,
            content: c.get("content")?,
            alert_status: c.opt_code("alert_status", AlertStatus::from_code)?,
            log: c.get("log")?,
            alertgroup_id: c.get::<Option<i32>>("alertgroup_id")?.unwrap_or(0),
            create_time: c.get("create_time")?,
            update_time: c.get("update_time")?,
        })
    }
}

/// `t_ds_relation_process_instance`: links a SUB_PROCESS task instance to its child
/// instance. All four fields are Java `int`s, so every write names all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessInstanceMap {
    pub id: i32,
    pub parent_process_instance_id: i32,
    pub parent_task_instance_id: i32,
    /// The child instance; 0 until the child exists.
    pub process_instance_id: i32,
}

impl ProcessInstanceMap {
    fn from_row(row: Row) -> Result<ProcessInstanceMap> {
        let mut c = Cells::new(row, "t_ds_relation_process_instance");
        Ok(ProcessInstanceMap {
            id: c.get("id")?,
            parent_process_instance_id: c
                .get::<Option<i32>>("parent_process_instance_id")?
                .unwrap_or(0),
            parent_task_instance_id: c
                .get::<Option<i32>>("parent_task_instance_id")?
                .unwrap_or(0),
            process_instance_id: c.get::<Option<i32>>("process_instance_id")?.unwrap_or(0),
        })
    }
}

const MAP_COLUMNS: &str =
    "id, parent_process_instance_id, parent_task_instance_id, process_instance_id";

/// `t_ds_resources`: files and UDF jars referenced by `resourceList` / `mainJar`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub id: i32,
    pub alias: Option<String>,
    pub file_name: Option<String>,
    pub description: Option<String>,
    pub user_id: Option<i32>,
    pub resource_type: Option<ResourceType>,
    pub size: Option<i64>,
    pub pid: Option<i32>,
    pub full_name: Option<String>,
    pub is_directory: Option<bool>,
    pub create_time: Option<NaiveDateTime>,
    pub update_time: Option<NaiveDateTime>,
}

const RESOURCE_COLUMNS: &str = "id, alias, file_name, description, user_id, type, size, \
     create_time, update_time, pid, full_name, is_directory";

impl Resource {
    fn from_row(row: Row) -> Result<Resource> {
        let mut c = Cells::new(row, "t_ds_resources");
        Ok(Resource {
            id: c.get("id")?,
            alias: c.get("alias")?,
            file_name: c.get("file_name")?,
            description: c.get("description")?,
            user_id: c.get("user_id")?,
            resource_type: c.opt_code("type", ResourceType::from_code)?,
            size: c.get("size")?,
            pid: c.get("pid")?,
            full_name: c.get("full_name")?,
            is_directory: c.get::<Option<i32>>("is_directory")?.map(|d| d != 0),
            create_time: c.get("create_time")?,
            update_time: c.get("update_time")?,
        })
    }
}

/// `t_ds_udfs`: UDF functions of SQL tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct UdfFunc {
    pub id: i32,
    pub user_id: i32,
    pub func_name: String,
    pub class_name: String,
    pub udf_type: UdfType,
    pub arg_types: Option<String>,
    pub database: Option<String>,
    pub description: Option<String>,
    pub resource_id: i32,
    pub resource_name: String,
    pub create_time: NaiveDateTime,
    pub update_time: NaiveDateTime,
}

impl UdfFunc {
    fn from_row(row: Row) -> Result<UdfFunc> {
        let mut c = Cells::new(row, "t_ds_udfs");
        Ok(UdfFunc {
            id: c.get("id")?,
            user_id: c.get("user_id")?,
            func_name: c.get("func_name")?,
            class_name: c.get("class_name")?,
            udf_type: c.code("type", UdfType::from_code)?,
            arg_types: c.get("arg_types")?,
            database: c.get("database")?,
            description: c.get("description")?,
            resource_id: c.get("resource_id")?,
            resource_name: c.get("resource_name")?,
            create_time: c.get("create_time")?,
            update_time: c.get("update_time")?,
        })
    }
}

/// `t_ds_datasource`: `connection_params` is passed to the worker as stored (it may hold
/// an encrypted password), never interpreted by the master.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSource {
    pub id: i32,
    pub name: String,
    pub note: Option<String>,
    pub db_type: DbType,
    pub user_id: i32,
    pub connection_params: String,
    pub create_time: NaiveDateTime,
    pub update_time: Option<NaiveDateTime>,
}

impl DataSource {
    fn from_row(row: Row) -> Result<DataSource> {
        let mut c = Cells::new(row, "t_ds_datasource");
        Ok(DataSource {
            id: c.get("id")?,
            name: c.get("name")?,
            note: c.get("note")?,
            db_type: c.code("type", DbType::from_code)?,
            user_id: c.get("user_id")?,
            connection_params: c.get("connection_params")?,
            create_time: c.get("create_time")?,
            update_time: c.get("update_time")?,
        })
    }
}

/// `?, ?, ...` for an IN list of `n` values (`n` > 0).
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl Store {
    async fn first_row(&self, sql: &str, params: Vec<Value>, what: String) -> Result<Option<Row>> {
        let mut conn = self.conn().await?;
        conn.first(sql, params).await.ctx(|| what)
    }

    async fn all_rows(&self, sql: &str, params: Vec<Value>, what: String) -> Result<Vec<Row>> {
        let mut conn = self.conn().await?;
        conn.all(sql, params).await.ctx(|| what)
    }

    /// Online schedules of a definition (`queryReleaseSchedulerListByProcessDefinitionCode`).
    pub async fn find_release_schedules(&self, definition_code: i64) -> Result<Vec<Schedule>> {
        let rows = self
            .all_rows(
                &format!(
                    "SELECT {SCHEDULE_COLUMNS} FROM t_ds_schedules \
                     WHERE process_definition_code = ? AND release_state = 1"
                ),
                params![definition_code],
                format!("reading schedules of process definition {definition_code}"),
            )
            .await?;
        rows.into_iter().map(Schedule::from_row).collect()
    }

    pub async fn find_schedule(&self, id: i32) -> Result<Option<Schedule>> {
        self.first_row(
            &format!("SELECT {SCHEDULE_COLUMNS} FROM t_ds_schedules WHERE id = ?"),
            params![id],
            format!("reading schedule {id}"),
        )
        .await?
        .map(Schedule::from_row)
        .transpose()
    }

    /// Every worker group, most recently updated first (`queryAllWorkerGroup`).
    pub async fn worker_groups(&self) -> Result<Vec<WorkerGroup>> {
        let rows = self
            .all_rows(
                "SELECT id, name, addr_list, create_time, update_time FROM t_ds_worker_group \
                 ORDER BY update_time DESC",
                params![],
                "reading t_ds_worker_group".into(),
            )
            .await?;
        rows.into_iter().map(WorkerGroup::from_row).collect()
    }

    /// An environment by code (`queryByEnvironmentCode`).
    pub async fn find_environment(&self, code: i64) -> Result<Option<Environment>> {
        self.first_row(
            "SELECT id, code, name, config, description, operator, create_time, update_time \
             FROM t_ds_environment WHERE code = ?",
            params![code],
            format!("reading environment {code}"),
        )
        .await?
        .map(Environment::from_row)
        .transpose()
    }

    /// A tenant with its queue; `None` when either row is missing (inner join, as upstream).
    pub async fn find_tenant(&self, id: i32) -> Result<Option<Tenant>> {
        self.first_row(
            "SELECT t.id, t.tenant_code, t.description, t.queue_id, t.create_time, t.update_time, \
             q.queue_name, q.queue FROM t_ds_tenant t, t_ds_queue q \
             WHERE t.queue_id = q.id AND t.id = ?",
            params![id],
            format!("reading tenant {id}"),
        )
        .await?
        .map(Tenant::from_row)
        .transpose()
    }

    pub async fn find_queue(&self, id: i32) -> Result<Option<Queue>> {
        self.first_row(
            "SELECT id, queue_name, queue, create_time, update_time FROM t_ds_queue WHERE id = ?",
            params![id],
            format!("reading queue {id}"),
        )
        .await?
        .map(Queue::from_row)
        .transpose()
    }

    pub async fn find_user(&self, id: i32) -> Result<Option<User>> {
        self.first_row(
            "SELECT id, user_name, user_type, email, phone, tenant_id, create_time, update_time, \
             queue, state FROM t_ds_user WHERE id = ?",
            params![id],
            format!("reading user {id}"),
        )
        .await?
        .map(User::from_row)
        .transpose()
    }

    pub async fn find_project_by_code(&self, code: i64) -> Result<Option<Project>> {
        self.first_row(
            "SELECT id, name, code, description, user_id, flag, create_time, update_time \
             FROM t_ds_project WHERE code = ?",
            params![code],
            format!("reading project {code}"),
        )
        .await?
        .map(Project::from_row)
        .transpose()
    }

    /// Project and owner of an instance, through its definition (alert content).
    pub async fn find_project_user_of_instance(
        &self,
        process_instance_id: i32,
    ) -> Result<Option<ProjectUser>> {
        let row = self
            .first_row(
                "SELECT dp.id AS project_id, dp.code AS project_code, dp.name AS project_name, \
                 u.user_name AS user_name FROM t_ds_process_instance di \
                 JOIN t_ds_process_definition dpd ON di.process_definition_code = dpd.code \
                 JOIN t_ds_project dp ON dpd.project_code = dp.code \
                 JOIN t_ds_user u ON dp.user_id = u.id WHERE di.id = ?",
                params![process_instance_id],
                format!("reading the project of process instance {process_instance_id}"),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut c = Cells::new(row, "t_ds_project");
        Ok(Some(ProjectUser {
            project_id: c.get("project_id")?,
            project_code: c.get("project_code")?,
            project_name: c.get("project_name")?,
            user_name: c.get("user_name")?,
        }))
    }

    pub async fn find_alert_group(&self, id: i32) -> Result<Option<AlertGroup>> {
        self.first_row(
            "SELECT id, group_name, alert_instance_ids, description, create_user_id, create_time, \
             update_time FROM t_ds_alertgroup WHERE id = ?",
            params![id],
            format!("reading alert group {id}"),
        )
        .await?
        .map(AlertGroup::from_row)
        .transpose()
    }

    /// Inserts an alert (NULL fields left to their defaults); returns its id.
    pub async fn insert_alert(&self, alert: &Alert) -> Result<i32> {
        let insert = Insert::default()
            .opt("title", alert.title.clone())
            .opt("content", alert.content.clone())
            .opt("alert_status", alert.alert_status.map(|s| s.code()))
            .opt("log", alert.log.clone())
            .val("alertgroup_id", alert.alertgroup_id)
            .opt("create_time", alert.create_time)
            .opt("update_time", alert.update_time);
        let (sql, params) = insert.build("t_ds_alert");
        let mut conn = self.conn().await?;
        let (_, id) = conn
            .insert(&sql, params)
            .await
            .ctx(|| format!("inserting alert {:?}", alert.title))?;
        Ok(id.and_then(|id| i32::try_from(id).ok()).unwrap_or(0))
    }

    /// The server-down alert: inserted only when no identical alert is still waiting to be
    /// sent (upstream's `INSERT ... SELECT ... HAVING count(*) = 0`, best effort across
    /// masters). Returns whether a row was inserted.
    pub async fn insert_alert_unless_pending(&self, alert: &Alert) -> Result<bool> {
        let now = self.clock.now();
        let wait = AlertStatus::WAIT_EXECUTION.code();
        // PostgreSQL types a bare parameter in a SELECT list as text: cast each to its column.
        let values = match self.dialect() {
            Dialect::Mysql => "?, ?, ?, ?, ?, ?, ?",
            Dialect::Postgres => {
                "?::text, ?::text, ?::int, ?::text, ?::int, ?::timestamp, ?::timestamp"
            }
        };
        let mut conn = self.conn().await?;
        let inserted = conn.exec(
            &format!("INSERT INTO t_ds_alert (title, content, alert_status, log, alertgroup_id, create_time, update_time) \
             SELECT {values} FROM t_ds_alert WHERE content = ? AND alert_status = ? \
             HAVING COUNT(*) = 0"),
            params![alert.title.clone(), alert.content.clone(), alert.alert_status.unwrap_or(AlertStatus::WAIT_EXECUTION).code(), alert.log.clone(), alert.alertgroup_id, alert.create_time.unwrap_or(now), alert.update_time.unwrap_or(now), alert.content.clone(), wait],
        )
        .await
        .ctx(|| format!("inserting alert {:?}", alert.title))?;
        Ok(inserted == 1)
    }

    pub async fn find_alert(&self, id: i32) -> Result<Option<Alert>> {
        self.first_row(
            "SELECT id, title, content, alert_status, log, alertgroup_id, create_time, update_time \
             FROM t_ds_alert WHERE id = ?",
            params![id],
            format!("reading alert {id}"),
        )
        .await?
        .map(Alert::from_row)
        .transpose()
    }

    /// Inserts a sub-process link; returns its id.
    pub async fn insert_process_instance_map(&self, m: &ProcessInstanceMap) -> Result<i32> {
        let mut conn = self.conn().await?;
        let (_, id) = conn.insert(
            "INSERT INTO t_ds_relation_process_instance \
             (parent_process_instance_id, parent_task_instance_id, process_instance_id) VALUES (?, ?, ?)",
            params![m.parent_process_instance_id, m.parent_task_instance_id, m.process_instance_id],
        )
        .await
        .ctx(|| {
            format!(
                "linking task instance {} of process instance {}",
                m.parent_task_instance_id, m.parent_process_instance_id
            )
        })?;
        Ok(id.and_then(|id| i32::try_from(id).ok()).unwrap_or(0))
    }

    /// Rewrites a link by id (all columns, as upstream's `updateById` of an all-`int` entity).
    pub async fn update_process_instance_map(&self, m: &ProcessInstanceMap) -> Result<()> {
        let mut conn = self.conn().await?;
        conn.exec(
            "UPDATE t_ds_relation_process_instance SET parent_process_instance_id = ?, \
             parent_task_instance_id = ?, process_instance_id = ? WHERE id = ?",
            params![
                m.parent_process_instance_id,
                m.parent_task_instance_id,
                m.process_instance_id,
                m.id
            ],
        )
        .await
        .ctx(|| format!("updating t_ds_relation_process_instance id {}", m.id))
        .map(|_| ())
    }

    /// The link of a SUB_PROCESS task instance (`queryByParentId`).
    pub async fn find_process_instance_map_by_parent(
        &self,
        parent_process_instance_id: i32,
        parent_task_instance_id: i32,
    ) -> Result<Option<ProcessInstanceMap>> {
        self.first_row(
            &format!(
                "SELECT {MAP_COLUMNS} FROM t_ds_relation_process_instance \
                 WHERE parent_process_instance_id = ? AND parent_task_instance_id = ? ORDER BY id"
            ),
            params![parent_process_instance_id, parent_task_instance_id],
            format!("reading the sub-process link of task instance {parent_task_instance_id}"),
        )
        .await?
        .map(ProcessInstanceMap::from_row)
        .transpose()
    }

    /// The link whose child is `process_instance_id` (`queryBySubProcessId`).
    pub async fn find_process_instance_map_by_child(
        &self,
        process_instance_id: i32,
    ) -> Result<Option<ProcessInstanceMap>> {
        self.first_row(
            &format!(
                "SELECT {MAP_COLUMNS} FROM t_ds_relation_process_instance \
                 WHERE process_instance_id = ? ORDER BY id"
            ),
            params![process_instance_id],
            format!("reading the parent link of process instance {process_instance_id}"),
        )
        .await?
        .map(ProcessInstanceMap::from_row)
        .transpose()
    }

    pub async fn find_resource(&self, id: i32) -> Result<Option<Resource>> {
        self.first_row(
            &format!("SELECT {RESOURCE_COLUMNS} FROM t_ds_resources WHERE id = ?"),
            params![id],
            format!("reading resource {id}"),
        )
        .await?
        .map(Resource::from_row)
        .transpose()
    }

    /// Resources by id (`listResourceByIds`), in id order; unknown ids are simply absent.
    pub async fn find_resources(&self, ids: &[i32]) -> Result<Vec<Resource>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let params: Vec<Value> = ids.iter().map(|i| Value::from(*i)).collect();
        let rows = self
            .all_rows(
                &format!(
                    "SELECT {RESOURCE_COLUMNS} FROM t_ds_resources WHERE id IN ({}) ORDER BY id",
                    marks(ids.len())
                ),
                params,
                format!("reading resources {ids:?}"),
            )
            .await?;
        rows.into_iter().map(Resource::from_row).collect()
    }

    /// An old-style resource reference by full name and type (`queryResource`).
    pub async fn find_resource_by_full_name(
        &self,
        full_name: &str,
        resource_type: ResourceType,
    ) -> Result<Option<Resource>> {
        self.first_row(
            &format!(
                "SELECT {RESOURCE_COLUMNS} FROM t_ds_resources WHERE full_name = ? AND type = ?"
            ),
            params![full_name, resource_type.code()],
            format!("reading resource {full_name:?}"),
        )
        .await?
        .map(Resource::from_row)
        .transpose()
    }

    /// UDFs by id, in id order (`queryUdfByIdStr`).
    pub async fn find_udfs(&self, ids: &[i32]) -> Result<Vec<UdfFunc>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let params: Vec<Value> = ids.iter().map(|i| Value::from(*i)).collect();
        let database = match self.dialect() {
            Dialect::Mysql => "`database`",
            Dialect::Postgres => "\"database\"",
        };
        let rows = self
            .all_rows(
                &format!(
                    "SELECT id, user_id, func_name, class_name, type, arg_types, {database}, \
                     description, resource_id, resource_name, create_time, update_time \
                     FROM t_ds_udfs WHERE id IN ({}) ORDER BY id",
                    marks(ids.len())
                ),
                params,
                format!("reading udfs {ids:?}"),
            )
            .await?;
        rows.into_iter().map(UdfFunc::from_row).collect()
    }

    pub async fn find_datasource(&self, id: i32) -> Result<Option<DataSource>> {
        self.first_row(
            "SELECT id, name, note, type, user_id, connection_params, create_time, update_time \
             FROM t_ds_datasource WHERE id = ?",
            params![id],
            format!("reading data source {id}"),
        )
        .await?
        .map(DataSource::from_row)
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_lists_split_on_commas() {
        assert_eq!(
            split_list(Some("10.0.0.1:1234, 10.0.0.2:1234,,")),
            vec!["10.0.0.1:1234".to_string(), "10.0.0.2:1234".to_string()]
        );
        assert!(split_list(None).is_empty());
        assert!(split_list(Some("")).is_empty());
    }
}
