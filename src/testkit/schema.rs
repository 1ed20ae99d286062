//! Upstream DolphinScheduler's fresh-install DDL (MySQL and PostgreSQL), fetched at run time.
//!
//! Testing against upstream's real schema (default rows included: the admin
//! user, the `t_ds_version` row, the Quartz tables) is the only way to be sure
//! the master is a drop-in replacement. Licensing keeps that file out of this
//! repository, so it is taken from the `dolphinscheduler-dao` sources jar
//! published on Maven Central: the local Maven repository is used when the jar
//! is there, `mvn dependency:get` otherwise. The extracted SQL is cached under
//! `$XDG_CACHE_HOME/dsmaster/schema/<version>/` (default `~/.cache/...`;
//! override the root with `DSMASTER_SCHEMA_CACHE`) so later runs need neither
//! Maven nor the network. The same jar carries both flavours
//! (`sql/dolphinscheduler_mysql.sql`, `sql/dolphinscheduler_postgresql.sql`), cached side by
//! side under their own file names.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tokio::process::Command;

use super::process::run_checked;
use super::Error;

/// Which of upstream's fresh-install scripts: the jar has one per supported database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SqlFlavour {
    MySql,
    PostgreSql,
}

impl SqlFlavour {
    /// The script's file name, in the jar's `sql/` directory and in the cache.
    fn file_name(self) -> &'static str {
        match self {
            SqlFlavour::MySql => "dolphinscheduler_mysql.sql",
            SqlFlavour::PostgreSql => "dolphinscheduler_postgresql.sql",
        }
    }

    /// A cheap check that the extracted text is the fresh-install script of `version`
    /// (a table of ours and the version row), not an empty file or an upgrade script.
    fn looks_like_ddl(self, sql: &[u8], version: SchemaVersion) -> bool {
        let text = String::from_utf8_lossy(sql);
        match self {
            SqlFlavour::MySql => {
                text.contains("CREATE TABLE `t_ds_process_instance`")
                    && text.contains(&format!(
                        "INSERT INTO `t_ds_version` VALUES ('1', '{version}')"
                    ))
            }
            SqlFlavour::PostgreSql => {
                text.contains("CREATE TABLE t_ds_process_instance (")
                    && text.contains(&format!(
                        "INSERT INTO t_ds_version(version) VALUES ('{version}')"
                    ))
            }
        }
    }
}

impl fmt::Display for SqlFlavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SqlFlavour::MySql => "MySQL",
            SqlFlavour::PostgreSql => "PostgreSQL",
        })
    }
}

/// The distinct MySQL schemas of the 2.0.x line that the master supports.
///
/// Releases 2.0.3 to 2.0.9 share one schema (apart from 2.0.6 widening
/// `t_ds_resources.full_name`, which the master never reads), so they all map
/// to [`SchemaVersion::V2_0_5`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchemaVersion {
    V2_0_2,
    V2_0_5,
}

impl SchemaVersion {
    pub const ALL: [SchemaVersion; 2] = [SchemaVersion::V2_0_2, SchemaVersion::V2_0_5];

    /// The release whose sources jar provides the DDL, which is also the
    /// value upstream writes into `t_ds_version`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SchemaVersion::V2_0_2 => "2.0.2",
            SchemaVersion::V2_0_5 => "2.0.5",
        }
    }

    /// Maps a DolphinScheduler release ("2.0.7") to the schema it runs on.
    pub fn for_release(release: &str) -> Option<SchemaVersion> {
        match release.trim() {
            "2.0.2" => Some(SchemaVersion::V2_0_2),
            "2.0.3" | "2.0.4" | "2.0.5" | "2.0.6" | "2.0.7" | "2.0.8" | "2.0.9" => {
                Some(SchemaVersion::V2_0_5)
            }
            _ => None,
        }
    }
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SchemaVersion {
    type Err = Error;

    /// Accepts any supported release, so a CLI flag can take the version of
    /// the cluster being replaced.
    fn from_str(s: &str) -> Result<Self, Error> {
        SchemaVersion::for_release(s).ok_or_else(|| {
            Error::Invalid(format!(
                "unsupported DolphinScheduler version {s:?} (supported: 2.0.2 to 2.0.9)"
            ))
        })
    }
}

/// Serialises extraction within one process so parallel tests do not run
/// Maven twice or read a half-written cache file.
static EXTRACT_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Path of the cached upstream MySQL DDL for `version`, extracting it first if
/// needed.
pub async fn schema_sql(version: SchemaVersion) -> Result<PathBuf, Error> {
    schema_sql_for(version, SqlFlavour::MySql).await
}

/// Path of the cached upstream DDL of `flavour` for `version`, extracting it first if
/// needed.
pub async fn schema_sql_for(version: SchemaVersion, flavour: SqlFlavour) -> Result<PathBuf, Error> {
    let file_name = flavour.file_name();
    let dir = cache_root(version)?.join(version.as_str());
    let file = dir.join(file_name);
    if is_usable(&file).await {
        return Ok(file);
    }
    let _guard = EXTRACT_LOCK.lock().await;
    if is_usable(&file).await {
        return Ok(file);
    }

    let jar = sources_jar(version).await?;
    let in_jar = format!("sql/{file_name}");
    let mut unzip = Command::new("unzip");
    unzip.arg("-p").arg(&jar).arg(&in_jar);
    let output = run_checked(unzip, &format!("extracting upstream {flavour} DDL")).await?;
    let sql = output.stdout;
    if !flavour.looks_like_ddl(&sql, version) {
        return Err(schema_error(
            version,
            format!(
                "{in_jar} in {} does not look like upstream's {flavour} DDL for {version}",
                jar.display()
            ),
        ));
    }

    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| Error::io(format!("creating schema cache {}", dir.display()), e))?;
    // Rename into place so another process never sees a partial file.
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    tokio::fs::write(&tmp, &sql)
        .await
        .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    tokio::fs::rename(&tmp, &file)
        .await
        .map_err(|e| Error::io(format!("moving DDL into {}", file.display()), e))?;
    tracing::info!(
        "cached upstream {version} {flavour} DDL from {} at {}",
        jar.display(),
        file.display()
    );
    Ok(file)
}

fn schema_error(version: SchemaVersion, message: String) -> Error {
    Error::Schema {
        version: version.as_str().to_string(),
        message,
    }
}

async fn is_usable(file: &Path) -> bool {
    matches!(tokio::fs::metadata(file).await, Ok(m) if m.len() > 0)
}

fn cache_root(version: SchemaVersion) -> Result<PathBuf, Error> {
    if let Some(dir) = non_empty_env("DSMASTER_SCHEMA_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = non_empty_env("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("dsmaster").join("schema"));
    }
    Ok(home(version)?
        .join(".cache")
        .join("dsmaster")
        .join("schema"))
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn home(version: SchemaVersion) -> Result<PathBuf, Error> {
    non_empty_env("HOME").map(PathBuf::from).ok_or_else(|| {
        schema_error(
            version,
            "HOME is not set; set DSMASTER_SCHEMA_CACHE or XDG_CACHE_HOME".into(),
        )
    })
}

/// Finds the sources jar in the local Maven repository, asking Maven to
/// download it when absent.
async fn sources_jar(version: SchemaVersion) -> Result<PathBuf, Error> {
    let v = version.as_str();
    let jar = home(version)?
        .join(".m2/repository/org/apache/dolphinscheduler/dolphinscheduler-dao")
        .join(v)
        .join(format!("dolphinscheduler-dao-{v}-sources.jar"));
    if is_usable(&jar).await {
        return Ok(jar);
    }
    tracing::info!("fetching dolphinscheduler-dao {v} sources jar with Maven");
    let mut mvn = Command::new("mvn");
    mvn.args(["-q", "-B", "dependency:get", "-Dtransitive=false"])
        .arg(format!(
            "-Dartifact=org.apache.dolphinscheduler:dolphinscheduler-dao:{v}:jar:sources"
        ));
    run_checked(mvn, "downloading upstream sources jar").await?;
    if is_usable(&jar).await {
        Ok(jar)
    } else {
        Err(schema_error(
            version,
            format!(
                "Maven succeeded but {} is missing (non-default local repository?)",
                jar.display()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_map_to_schemas() {
        assert_eq!(
            "2.0.2".parse::<SchemaVersion>().ok(),
            Some(SchemaVersion::V2_0_2)
        );
        for r in ["2.0.3", "2.0.5", "2.0.9"] {
            assert_eq!(SchemaVersion::for_release(r), Some(SchemaVersion::V2_0_5));
        }
        assert!("2.0.1".parse::<SchemaVersion>().is_err());
        assert!("3.0.0".parse::<SchemaVersion>().is_err());
        for v in SchemaVersion::ALL {
            assert_eq!(v.as_str().parse::<SchemaVersion>().ok(), Some(v));
        }
    }

    #[test]
    fn flavours_are_cached_apart() {
        assert_ne!(
            SqlFlavour::MySql.file_name(),
            SqlFlavour::PostgreSql.file_name()
        );
        let pg = b"CREATE TABLE t_ds_process_instance (\n id int);\n\
                   INSERT INTO t_ds_version(version) VALUES ('2.0.5');";
        assert!(SqlFlavour::PostgreSql.looks_like_ddl(pg, SchemaVersion::V2_0_5));
        assert!(!SqlFlavour::PostgreSql.looks_like_ddl(pg, SchemaVersion::V2_0_2));
        assert!(!SqlFlavour::MySql.looks_like_ddl(pg, SchemaVersion::V2_0_5));
    }
}
