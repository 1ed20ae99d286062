//! Where the database connection comes from: the Spring datasource settings of an
//! existing DolphinScheduler installation, turned into [`DataSourceOptions`].
//!
//! Upstream has had three places for the same few values, and an operator's conf dir
//! may use any of them, so this file owns their precedence (highest first, per value):
//!
//! 1. `SPRING_DATASOURCE_URL`, `SPRING_DATASOURCE_USERNAME`, `SPRING_DATASOURCE_PASSWORD`,
//!    `SPRING_DATASOURCE_DRIVER_CLASS_NAME`, `SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE`,
//!    `SPRING_DATASOURCE_HIKARI_MINIMUM_IDLE`, `SPRING_DATASOURCE_HIKARI_CONNECTION_TIMEOUT`
//!    (how `install_config.conf` and the 2.0.1+ Docker image hand them to Spring Boot);
//! 2. the Docker image's `DATABASE_*` variables (`DATABASE_TYPE`, `DATABASE_HOST`,
//!    `DATABASE_PORT`, `DATABASE_DATABASE`, `DATABASE_PARAMS`, `DATABASE_USERNAME`,
//!    `DATABASE_PASSWORD`, `DATABASE_DRIVER`, `HIKARI_MAXIMUM_POOL_SIZE`): its start script
//!    builds `jdbc:<type>://<host>:<port>/<database>?<params>` from them; we do the same
//!    when any of host/port/database/params is set;
//! 3. `application-<DATABASE_TYPE>.yaml` (`.yml` accepted; `DATABASE_TYPE` defaults to
//!    `mysql` for us), keys under `spring.datasource` (nested or dotted; Spring's relaxed
//!    names, so `maximum-pool-size` = `maximumPoolSize`); `${NAME:default}` placeholders
//!    are resolved from the environment;
//! 4. `application.yaml` / `application.yml`, same keys;
//! 5. the 2.0.0 `datasource.properties` (`spring.datasource.url`, `.username`, `.password`,
//!    `.driver-class-name`, Druid's `.maxActive`, `.minIdle`, `.maxWait`).
//!
//! MySQL-protocol URLs (`jdbc:mysql://`, `jdbc:mariadb://`) and PostgreSQL ones
//! (`jdbc:postgresql://`, upstream's docker default) are accepted; the JDBC URL parser
//! ([`parse_jdbc_url`]) keeps the query parameters and extracts the few that change how we
//! talk to the server (`serverTimezone`, `useSSL`/`sslMode`, PostgreSQL's `currentSchema`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use super::Error;

/// Default pool size (Hikari `maximum-pool-size` in upstream's yaml; Druid `maxActive`).
pub const DEFAULT_MAX_POOL_SIZE: u32 = 50;
/// Default minimum idle connections.
pub const DEFAULT_MIN_IDLE: u32 = 5;
/// Default time to wait for a connection (Hikari `connection-timeout`, 30 000 ms).
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_millis(30_000);

/// How to reach the database (MySQL or PostgreSQL) that holds DolphinScheduler's tables.
///
/// `Debug` never shows the password (nor a `password` parameter inside the URL).
#[derive(Clone, PartialEq)]
pub struct DataSourceOptions {
    /// The JDBC URL as configured (e.g. `jdbc:mysql://db:3306/dolphinscheduler?useSSL=false`).
    pub url: String,
    /// Which server the URL names.
    pub scheme: JdbcScheme,
    /// Database server host name or address (first host of the URL; `localhost` if empty).
    pub host: String,
    /// Server port (3306, or 5432 for PostgreSQL, when the URL has none).
    pub port: u16,
    /// Database (schema) name.
    pub database: String,
    /// Login user.
    pub username: String,
    /// Login password (empty if none configured).
    pub password: String,
    /// All URL query parameters, percent-decoded, in key order (last duplicate wins).
    pub params: BTreeMap<String, String>,
    /// `serverTimezone` (or MariaDB's `timezone`) parameter, if given.
    pub server_timezone: Option<String>,
    /// TLS wish from `useSSL`/`useSsl` or `sslMode`: `Some(false)` = off, `Some(true)` =
    /// required, `None` = not said (client default).
    pub use_ssl: Option<bool>,
    /// `spring.datasource.driver-class-name`, informational (Quartz's delegate choice).
    pub driver_class_name: Option<String>,
    /// Largest number of pooled connections.
    pub max_pool_size: u32,
    /// Idle connections kept open (never above `max_pool_size`).
    pub min_idle: u32,
    /// How long to wait for a connection before failing.
    pub connection_timeout: Duration,
    /// Where the URL came from (file name or environment variable), for log lines.
    pub url_origin: String,
}

impl fmt::Debug for DataSourceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: BTreeMap<&str, &str> = self
            .params
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret_param(k) {
                    "***"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("DataSourceOptions")
            .field("url", &redact_url(&self.url))
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &"***")
            .field("params", &params)
            .field("server_timezone", &self.server_timezone)
            .field("use_ssl", &self.use_ssl)
            .field("driver_class_name", &self.driver_class_name)
            .field("max_pool_size", &self.max_pool_size)
            .field("min_idle", &self.min_idle)
            .field("connection_timeout", &self.connection_timeout)
            .field("url_origin", &self.url_origin)
            .finish()
    }
}

impl DataSourceOptions {
    /// Which SQL dialect the server speaks.
    pub fn dialect(&self) -> crate::store::Dialect {
        match self.scheme {
            JdbcScheme::Mysql | JdbcScheme::Mariadb => crate::store::Dialect::Mysql,
            JdbcScheme::Postgresql => crate::store::Dialect::Postgres,
        }
    }

    /// The connection URL for the store's driver of [`Self::dialect`].
    pub fn connect_url(&self) -> String {
        match self.scheme {
            JdbcScheme::Mysql | JdbcScheme::Mariadb => self.mysql_url(),
            JdbcScheme::Postgresql => self.postgres_url(),
        }
    }

    /// The connection URL for `tokio-postgres`: `postgresql://user:pass@host:port/db`, plus
    /// the search path when pgjdbc's `currentSchema` names one.
    pub fn postgres_url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let mut url = format!(
            "postgresql://{}:{}@{}:{}/{}",
            percent_encode(&self.username),
            percent_encode(&self.password),
            host,
            self.port,
            percent_encode(&self.database)
        );
        if let Some(schema) = param_ci(&self.params, "currentSchema").filter(|s| !s.is_empty()) {
            url.push_str("?options=");
            url.push_str(&percent_encode(&format!("-c search_path={schema}")));
        }
        url
    }

    /// The connection URL for `mysql_async`: `mysql://user:pass@host:port/db`, with user,
    /// password and database percent-encoded (mysql_async decodes them). JDBC parameters
    /// are not carried over; apply [`Self::server_timezone`] / [`Self::use_ssl`] through
    /// the client's options instead.
    pub fn mysql_url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "mysql://{}:{}@{}:{}/{}",
            percent_encode(&self.username),
            percent_encode(&self.password),
            host,
            self.port,
            percent_encode(&self.database)
        )
    }
}

/// Which driver family a JDBC URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JdbcScheme {
    /// `jdbc:mysql://`
    Mysql,
    /// `jdbc:mariadb://`
    Mariadb,
    /// `jdbc:postgresql://`
    Postgresql,
}

/// The parts of a MySQL/MariaDB/PostgreSQL JDBC URL that matter to us.
#[derive(Clone, PartialEq, Eq)]
pub struct JdbcUrl {
    /// Driver family.
    pub scheme: JdbcScheme,
    /// First host (`localhost` when the URL leaves it empty); IPv6 without brackets.
    pub host: String,
    /// Port (3306 by default, 5432 for PostgreSQL).
    pub port: u16,
    /// Database name (percent-decoded).
    pub database: String,
    /// Query parameters, percent-decoded.
    pub params: BTreeMap<String, String>,
    /// `user[:password]@` given inside the authority (Connector/J 8 syntax), if any.
    pub user_info: Option<(String, Option<String>)>,
    /// Further hosts of a multi-host URL (ignored by us, reported with a warning).
    pub extra_hosts: Vec<String>,
}

impl fmt::Debug for JdbcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JdbcUrl")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("params", &self.params.keys().collect::<Vec<_>>())
            .field("user", &self.user_info.as_ref().map(|(u, _)| u))
            .field("extra_hosts", &self.extra_hosts)
            .finish()
    }
}

impl JdbcUrl {
    /// Case-insensitive lookup of a query parameter (Connector/J matches names so).
    pub fn param(&self, name: &str) -> Option<&str> {
        param_ci(&self.params, name)
    }
}

fn param_ci<'a>(params: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Parses `jdbc:mysql://host[:port][,host2…]/database[?k=v&…]` (or `jdbc:mariadb://`,
/// `jdbc:postgresql://`).
///
/// The error is a plain sentence meant to follow `key = "value": `.
pub fn parse_jdbc_url(url: &str) -> Result<JdbcUrl, String> {
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("jdbc:mysql:") {
        (JdbcScheme::Mysql, &trimmed["jdbc:mysql:".len()..])
    } else if lower.starts_with("jdbc:mariadb:") {
        (JdbcScheme::Mariadb, &trimmed["jdbc:mariadb:".len()..])
    } else if lower.starts_with("jdbc:postgresql:") {
        (JdbcScheme::Postgresql, &trimmed["jdbc:postgresql:".len()..])
    } else if lower.starts_with("jdbc:h2:") {
        return Err("H2 is not supported (dsmaster needs MySQL, MariaDB or PostgreSQL)".into());
    } else {
        return Err(
            "not a supported JDBC URL (expected jdbc:mysql://…, jdbc:mariadb://… or jdbc:postgresql://…)"
                .into(),
        );
    };
    let default_port = if scheme == JdbcScheme::Postgresql {
        5432
    } else {
        3306
    };
    let Some(rest) = rest.strip_prefix("//") else {
        let sub = rest.split("//").next().unwrap_or("").trim_end_matches(':');
        return Err(if sub.is_empty() {
            "expected // after the JDBC scheme".to_string()
        } else {
            format!("JDBC sub-protocol {sub:?} is not supported (use a plain jdbc:mysql://host:port/db URL)")
        });
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let after = &rest[authority_end..];
    let (path, query) = match after.find('?') {
        Some(q) => (&after[..q], Some(&after[q + 1..])),
        None => (after, None),
    };

    let (user_info, hosts) = match authority.rfind('@') {
        Some(at) => {
            let info = &authority[..at];
            let (u, p) = match info.split_once(':') {
                Some((u, p)) => (percent_decode(u), Some(percent_decode(p))),
                None => (percent_decode(info), None),
            };
            (Some((u, p)), &authority[at + 1..])
        }
        None => (None, authority),
    };
    if hosts.contains('(') {
        return Err("the address=(…) host syntax is not supported".into());
    }
    let mut host_list = split_hosts(hosts);
    let first = if host_list.is_empty() {
        String::new()
    } else {
        host_list.remove(0)
    };
    let (host, port) = split_host_port(&first, default_port)?;

    let database = percent_decode(path.trim_start_matches('/'));
    if database.is_empty() {
        return Err("the URL names no database (expected …/<database>)".into());
    }
    if database.contains('/') {
        return Err("the database name must not contain '/'".into());
    }
    let mut params = BTreeMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(percent_decode(k), percent_decode(v));
    }
    Ok(JdbcUrl {
        scheme,
        host,
        port,
        database,
        params,
        user_info,
        extra_hosts: host_list,
    })
}

/// Splits a host list at commas that are not inside IPv6 brackets.
fn split_hosts(hosts: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut cur = String::new();
    for c in hosts.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() || !out.is_empty() {
        out.push(cur);
    }
    out.into_iter().map(|h| h.trim().to_string()).collect()
}

fn split_host_port(spec: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = spec.strip_prefix('[') {
        let close = rest.find(']').ok_or("unclosed '[' in the host")?;
        let host = &rest[..close];
        let tail = &rest[close + 1..];
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p),
            None if tail.is_empty() => None,
            None => return Err(format!("unexpected {tail:?} after the IPv6 host")),
        };
        (host.to_string(), port)
    } else {
        match spec.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
            Some(_) => {
                return Err("an IPv6 host must be written in brackets, e.g. [::1]:3306".into())
            }
            None => (spec.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("{p:?} is not a port number")),
        },
    };
    let host = if host.is_empty() {
        "localhost".to_string()
    } else {
        host
    };
    Ok((host, port))
}

/// Decodes `%XX` sequences (a `+` stays a `+`, unlike Java's `URLDecoder`, so that
/// `serverTimezone=GMT+8` means what it says). Invalid sequences are kept literally.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2]));
            if let (Some(hi), Some(lo)) = hex {
                out.push(hi * 16 + lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn is_secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("password") || n == "pwd"
}

/// Masks the value of every password-like query parameter and of a `user:pass@` part.
pub(crate) fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match (base.find("//"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let info = &base[s + 2..at];
            match info.split_once(':') {
                Some((u, _)) => format!("{}//{u}:***@{}", &base[..s], &base[at + 1..]),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    match query {
        None => base,
        Some(q) => {
            let parts: Vec<String> = q
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if is_secret_param(k) => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{base}?{}", parts.join("&"))
        }
    }
}

/// One value and where it came from.
#[derive(Debug, Clone)]
struct Sourced {
    origin: String,
    key: String,
    value: String,
}

/// A flattened settings file: relaxed-normalised key → value.
struct Layer {
    origin: String,
    entries: BTreeMap<String, (String, String)>,
}

impl Layer {
    fn get(&self, relaxed: &str) -> Option<Sourced> {
        self.entries.get(relaxed).map(|(key, value)| Sourced {
            origin: self.origin.clone(),
            key: key.clone(),
            value: value.clone(),
        })
    }
}

/// Spring's relaxed property names: case, `-` and `_` do not matter.
fn relaxed(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

fn env_get(env: &BTreeMap<String, String>, name: &str) -> Option<Sourced> {
    env.get(name).filter(|v| !v.is_empty()).map(|v| Sourced {
        origin: format!("environment {name}"),
        key: name.to_string(),
        value: v.clone(),
    })
}

/// Reads the datasource settings from `conf_dir` and `env` (see the module doc).
pub(crate) fn load(
    conf_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<DataSourceOptions, Error> {
    let db_type = env
        .get("DATABASE_TYPE")
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "mysql".to_string());

    let mut layers = Vec::new();
    for name in [
        format!("application-{db_type}.yaml"),
        format!("application-{db_type}.yml"),
        "application.yaml".to_string(),
        "application.yml".to_string(),
    ] {
        if let Some(layer) = read_yaml_layer(conf_dir, &name, env)? {
            layers.push(layer);
        }
    }
    if let Some(layer) = read_properties_layer(conf_dir, "datasource.properties")? {
        layers.push(layer);
    }
    let from_files = |keys: &[&str]| -> Option<Sourced> {
        layers
            .iter()
            .find_map(|l| keys.iter().find_map(|k| l.get(&relaxed(k))))
    };

    let url = env_get(env, "SPRING_DATASOURCE_URL")
        .or_else(|| docker_url(env, &db_type))
        .or_else(|| from_files(&["spring.datasource.url", "spring.datasource.hikari.jdbc-url"]))
        .ok_or_else(|| {
            Error::Datasource(format!(
                "no database URL configured: set SPRING_DATASOURCE_URL, or the Docker image's DATABASE_HOST (with DATABASE_TYPE, DATABASE_PORT, DATABASE_DATABASE, DATABASE_USERNAME, DATABASE_PASSWORD), or spring.datasource.url in {}/application-{db_type}.yaml (2.0.0: datasource.properties)",
                conf_dir.display()
            ))
        })?;
    let parsed = parse_jdbc_url(&url.value).map_err(|reason| Error::BadValue {
        origin: url.origin.clone(),
        key: url.key.clone(),
        value: redact_url(&url.value),
        reason,
    })?;
    if !parsed.extra_hosts.is_empty() {
        tracing::warn!(
            origin = %url.origin,
            ignored = ?parsed.extra_hosts,
            "the JDBC URL lists several hosts; dsmaster connects to the first one only"
        );
    }

    let username = env_get(env, "SPRING_DATASOURCE_USERNAME")
        .or_else(|| env_get(env, "DATABASE_USERNAME"))
        .or_else(|| from_files(&["spring.datasource.username", "spring.datasource.hikari.username"]))
        .map(|s| s.value)
        .or_else(|| parsed.user_info.as_ref().map(|(u, _)| u.clone()))
        .or_else(|| parsed.param("user").map(str::to_string))
        .ok_or_else(|| {
            Error::Datasource(
                "no database user configured: set SPRING_DATASOURCE_USERNAME or spring.datasource.username"
                    .into(),
            )
        })?;
    let password = env_get(env, "SPRING_DATASOURCE_PASSWORD")
        .or_else(|| env_get(env, "DATABASE_PASSWORD"))
        .or_else(|| {
            from_files(&[
                "spring.datasource.password",
                "spring.datasource.hikari.password",
            ])
        })
        .map(|s| s.value)
        .or_else(|| parsed.user_info.as_ref().and_then(|(_, p)| p.clone()))
        .or_else(|| parsed.param("password").map(str::to_string))
        .unwrap_or_default();
    let driver_class_name = env_get(env, "SPRING_DATASOURCE_DRIVER_CLASS_NAME")
        .or_else(|| env_get(env, "DATABASE_DRIVER"))
        .or_else(|| from_files(&["spring.datasource.driver-class-name"]))
        .map(|s| s.value.trim().to_string())
        .filter(|s| !s.is_empty());

    let max_pool_size = match env_get(env, "SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE")
        .or_else(|| env_get(env, "HIKARI_MAXIMUM_POOL_SIZE"))
        .or_else(|| {
            from_files(&[
                "spring.datasource.hikari.maximum-pool-size",
                "spring.datasource.maxActive",
            ])
        }) {
        Some(s) => parse_count(&s, 1)?,
        None => DEFAULT_MAX_POOL_SIZE,
    };
    let min_idle = match env_get(env, "SPRING_DATASOURCE_HIKARI_MINIMUM_IDLE").or_else(|| {
        from_files(&[
            "spring.datasource.hikari.minimum-idle",
            "spring.datasource.minIdle",
        ])
    }) {
        Some(s) => parse_count(&s, 0)?,
        None => DEFAULT_MIN_IDLE,
    }
    .min(max_pool_size);
    let connection_timeout = match env_get(env, "SPRING_DATASOURCE_HIKARI_CONNECTION_TIMEOUT")
        .or_else(|| {
            from_files(&[
                "spring.datasource.hikari.connection-timeout",
                "spring.datasource.maxWait",
            ])
        }) {
        Some(s) => parse_timeout_ms(&s)?,
        None => DEFAULT_CONNECTION_TIMEOUT,
    };

    let server_timezone = parsed
        .param("serverTimezone")
        .or_else(|| parsed.param("timezone"))
        .map(str::to_string)
        .filter(|s| !s.is_empty());
    let use_ssl = ssl_wish(&parsed).map_err(|reason| Error::BadValue {
        origin: url.origin.clone(),
        key: url.key.clone(),
        value: redact_url(&url.value),
        reason,
    })?;

    if parsed.scheme == JdbcScheme::Postgresql && pg_wants_tls(&parsed) {
        return Err(Error::BadValue {
            origin: url.origin.clone(),
            key: url.key.clone(),
            value: redact_url(&url.value),
            reason:
                "TLS to PostgreSQL is not supported by dsmaster; use sslmode=disable (or prefer)"
                    .into(),
        });
    }

    Ok(DataSourceOptions {
        url: url.value.trim().to_string(),
        scheme: parsed.scheme,
        host: parsed.host,
        port: parsed.port,
        database: parsed.database,
        username,
        password,
        params: parsed.params,
        server_timezone,
        use_ssl,
        driver_class_name,
        max_pool_size,
        min_idle,
        connection_timeout,
        url_origin: url.origin,
    })
}

/// The Docker image's URL recipe, used when any of its location variables is set.
fn docker_url(env: &BTreeMap<String, String>, db_type: &str) -> Option<Sourced> {
    let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    if [
        "DATABASE_HOST",
        "DATABASE_PORT",
        "DATABASE_DATABASE",
        "DATABASE_PARAMS",
    ]
    .iter()
    .all(|k| get(k).is_none())
    {
        return None;
    }
    let default_port = if db_type == "postgresql" {
        "5432"
    } else {
        "3306"
    };
    let host = get("DATABASE_HOST").unwrap_or("127.0.0.1");
    let port = get("DATABASE_PORT").unwrap_or(default_port);
    let database = get("DATABASE_DATABASE").unwrap_or("dolphinscheduler");
    let params = get("DATABASE_PARAMS").unwrap_or("characterEncoding=utf8");
    // A port that is no number is the commonest slip: name that variable alone.
    let key = if port.parse::<u16>().is_err() {
        "DATABASE_PORT"
    } else {
        "DATABASE_HOST/PORT/DATABASE/PARAMS"
    };
    Some(Sourced {
        origin: "environment DATABASE_*".to_string(),
        key: key.to_string(),
        value: format!("jdbc:{db_type}://{host}:{port}/{database}?{params}"),
    })
}

/// pgjdbc's TLS parameters: `ssl=true`, or an `sslmode` that insists on TLS.
fn pg_wants_tls(url: &JdbcUrl) -> bool {
    let ssl = url
        .param("ssl")
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | ""));
    let mode = url.param("sslmode").is_some_and(|m| {
        !matches!(
            m.trim().to_ascii_lowercase().as_str(),
            "disable" | "allow" | "prefer" | ""
        )
    });
    ssl || mode
}

fn ssl_wish(url: &JdbcUrl) -> Result<Option<bool>, String> {
    if let Some(v) = url.param("useSSL").or_else(|| url.param("useSsl")) {
        return match v.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Some(true)),
            "false" | "no" | "0" => Ok(Some(false)),
            _ => Err(format!("useSSL={v:?} is not true or false")),
        };
    }
    if let Some(mode) = url.param("sslMode") {
        return Ok(
            match mode.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                "disabled" | "disable" => Some(false),
                "preferred" | "prefer" | "" => None,
                _ => Some(true),
            },
        );
    }
    Ok(None)
}

fn parse_count(s: &Sourced, min: u32) -> Result<u32, Error> {
    match s.value.trim().parse::<i64>() {
        Ok(n) if n >= i64::from(min) && n <= i64::from(u32::MAX) => Ok(n as u32),
        Ok(_) => Err(bad(s, &format!("must be at least {min}"))),
        Err(_) => Err(bad(s, "not an integer")),
    }
}

/// Hikari rules: 0 means "wait forever" (capped at Java's `Integer.MAX_VALUE` ms), values
/// under 250 ms are refused.
fn parse_timeout_ms(s: &Sourced) -> Result<Duration, Error> {
    match s.value.trim().parse::<i64>() {
        Ok(0) => Ok(Duration::from_millis(i32::MAX as u64)),
        Ok(n) if n >= 250 => Ok(Duration::from_millis(n as u64)),
        Ok(_) => Err(bad(s, "a connection timeout must be 0 or at least 250 ms")),
        Err(_) => Err(bad(s, "not a number of milliseconds")),
    }
}

fn bad(s: &Sourced, reason: &str) -> Error {
    Error::BadValue {
        origin: s.origin.clone(),
        key: s.key.clone(),
        value: s.value.clone(),
        reason: reason.to_string(),
    }
}

fn read_optional(conf_dir: &Path, name: &str) -> Result<Option<String>, Error> {
    let path = conf_dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(super::properties::decode_bytes(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path, source }),
    }
}

fn read_properties_layer(conf_dir: &Path, name: &str) -> Result<Option<Layer>, Error> {
    let Some(text) = read_optional(conf_dir, name)? else {
        return Ok(None);
    };
    let map = super::properties::parse(&text).map_err(|e| Error::Syntax {
        file: name.to_string(),
        message: e.to_string(),
    })?;
    let entries = map
        .into_iter()
        .map(|(k, v)| (relaxed(&k), (k, v)))
        .collect();
    Ok(Some(Layer {
        origin: name.to_string(),
        entries,
    }))
}

fn read_yaml_layer(
    conf_dir: &Path,
    name: &str,
    env: &BTreeMap<String, String>,
) -> Result<Option<Layer>, Error> {
    let Some(text) = read_optional(conf_dir, name)? else {
        return Ok(None);
    };
    let mut flat = BTreeMap::new();
    // Spring reads every document of a multi-document file; later ones override.
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value = <serde_yaml::Value as serde::Deserialize>::deserialize(doc).map_err(|e| {
            Error::Syntax {
                file: name.to_string(),
                message: e.to_string(),
            }
        })?;
        flatten_yaml("", &value, &mut flat);
    }
    let mut entries = BTreeMap::new();
    for (k, v) in flat {
        let resolved = resolve_placeholders(&v, env).map_err(|reason| Error::BadValue {
            origin: name.to_string(),
            key: k.clone(),
            value: v.clone(),
            reason,
        })?;
        entries.insert(relaxed(&k), (k, resolved));
    }
    Ok(Some(Layer {
        origin: name.to_string(),
        entries,
    }))
}

fn flatten_yaml(prefix: &str, value: &serde_yaml::Value, out: &mut BTreeMap<String, String>) {
    use serde_yaml::Value;
    let scalar = |v: &Value| -> Option<String> {
        match v {
            Value::Null => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        }
    };
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                let Some(k) = scalar(k) else { continue };
                let key = if prefix.is_empty() {
                    k
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_yaml(&key, v, out);
            }
        }
        Value::Tagged(tagged) => flatten_yaml(prefix, &tagged.value, out),
        Value::Sequence(_) => {}
        other => {
            if let (false, Some(s)) = (prefix.is_empty(), scalar(other)) {
                out.insert(prefix.to_string(), s);
            }
        }
    }
}

/// Resolves Spring `${NAME}` / `${NAME:default}` placeholders from the environment
/// (exact name first, then the upper-case/underscore form Spring also tries).
fn resolve_placeholders(value: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unterminated ${ placeholder".to_string())?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(':') {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let env_name: String = name
            .chars()
            .map(|c| {
                if c == '.' || c == '-' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        let found = env
            .get(name)
            .or_else(|| env.get(&env_name))
            .map(String::as_str);
        match found.or(default) {
            Some(v) => out.push_str(v),
            None => return Err(format!("cannot resolve placeholder ${{{name}}}")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn jdbc_url_full() {
        let u = parse_jdbc_url(
            "jdbc:mysql://db.example:3307/dolphinscheduler?useUnicode=true&characterEncoding=UTF-8&serverTimezone=Asia%2FShanghai&useSSL=false",
        )
        .expect("parses");
        assert_eq!(u.scheme, JdbcScheme::Mysql);
        assert_eq!(u.host, "db.example");
        assert_eq!(u.port, 3307);
        assert_eq!(u.database, "dolphinscheduler");
        assert_eq!(u.param("servertimezone"), Some("Asia/Shanghai"));
        assert_eq!(u.params.get("useSSL").map(String::as_str), Some("false"));
        assert_eq!(u.params.len(), 4);
    }

    #[test]
    fn jdbc_url_without_port_or_params() {
        let u = parse_jdbc_url("jdbc:mysql://127.0.0.1/ds").expect("parses");
        assert_eq!(
            (u.host.as_str(), u.port, u.database.as_str()),
            ("127.0.0.1", 3306, "ds")
        );
        assert!(u.params.is_empty());
        let u = parse_jdbc_url("jdbc:mariadb://h/ds?").expect("parses");
        assert_eq!(u.scheme, JdbcScheme::Mariadb);
        assert!(u.params.is_empty());
        let u = parse_jdbc_url("jdbc:mysql:///ds").expect("parses");
        assert_eq!(u.host, "localhost");
        let u = parse_jdbc_url("jdbc:mysql://h:/ds?flag&x=1+2").expect("parses");
        assert_eq!(u.port, 3306);
        assert_eq!(u.params.get("flag").map(String::as_str), Some(""));
        assert_eq!(u.params.get("x").map(String::as_str), Some("1+2"));
    }

    #[test]
    fn jdbc_url_ipv6_multi_host_and_user_info() {
        let u = parse_jdbc_url("jdbc:mysql://[::1]:3310/ds").expect("parses");
        assert_eq!((u.host.as_str(), u.port), ("::1", 3310));
        let u = parse_jdbc_url("jdbc:mysql://a:1,b:2/ds").expect("parses");
        assert_eq!((u.host.as_str(), u.port), ("a", 1));
        assert_eq!(u.extra_hosts, vec!["b:2".to_string()]);
        let u = parse_jdbc_url("jdbc:mysql://us%40r:p%3Ass@h/ds").expect("parses");
        assert_eq!(
            u.user_info,
            Some(("us@r".to_string(), Some("p:ss".to_string())))
        );
        assert!(!format!("{u:?}").contains("p:ss"));
    }

    #[test]
    fn jdbc_url_errors() {
        let pg = parse_jdbc_url("jdbc:postgresql://db/dolphinscheduler?currentSchema=ds")
            .expect("PostgreSQL URLs parse");
        assert_eq!(
            (pg.scheme, pg.host.as_str(), pg.port),
            (JdbcScheme::Postgresql, "db", 5432)
        );
        assert_eq!(pg.param("currentschema"), Some("ds"));
        assert!(parse_jdbc_url("jdbc:h2:mem:dolphinscheduler")
            .unwrap_err()
            .contains("H2"));
        assert!(parse_jdbc_url("mysql://h/ds").is_err());
        assert!(parse_jdbc_url("jdbc:mysql://h:abc/ds")
            .unwrap_err()
            .contains("port"));
        assert!(parse_jdbc_url("jdbc:mysql://h:70000/ds").is_err());
        assert!(parse_jdbc_url("jdbc:mysql://h:3306")
            .unwrap_err()
            .contains("database"));
        assert!(parse_jdbc_url("jdbc:mysql://h:3306/")
            .unwrap_err()
            .contains("database"));
        assert!(parse_jdbc_url("jdbc:mysql:replication://a,b/ds")
            .unwrap_err()
            .contains("replication"));
        assert!(parse_jdbc_url("jdbc:mysql://::1:3306/ds")
            .unwrap_err()
            .contains("brackets"));
    }

    #[test]
    fn percent_coding() {
        assert_eq!(percent_decode("a%20b%2Fc%zz%"), "a b/c%zz%");
        assert_eq!(percent_encode("p@ss:w/rd ü"), "p%40ss%3Aw%2Frd%20%C3%BC");
    }

    fn sample(password: &str) -> DataSourceOptions {
        DataSourceOptions {
            scheme: JdbcScheme::Mysql,
            url: format!("jdbc:mysql://h/db?password={password}&useSSL=false"),
            host: "h".into(),
            port: 3306,
            database: "db".into(),
            username: "ds user".into(),
            password: password.into(),
            params: [("password".to_string(), password.to_string())].into(),
            server_timezone: None,
            use_ssl: Some(false),
            driver_class_name: None,
            max_pool_size: 50,
            min_idle: 5,
            connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
            url_origin: "test".into(),
        }
    }

    #[test]
    fn password_never_in_debug() {
        let o = sample("s3cr3t-pw");
        let dbg = format!("{o:?}");
        assert!(!dbg.contains("s3cr3t-pw"), "{dbg}");
        assert!(dbg.contains("***"));
        assert!(dbg.contains("useSSL=false"));
        assert_eq!(
            redact_url("jdbc:mysql://u:pw@h/db?user=u&password=pw"),
            "jdbc:mysql://u:***@h/db?user=u&password=***"
        );
    }

    #[test]
    fn mysql_url_encodes_credentials() {
        let mut o = sample("p@ss:/");
        assert_eq!(o.mysql_url(), "mysql://ds%20user:p%40ss%3A%2F@h:3306/db");
        o.host = "::1".into();
        assert_eq!(
            o.mysql_url(),
            "mysql://ds%20user:p%40ss%3A%2F@[::1]:3306/db"
        );
    }

    #[test]
    fn ssl_and_timezone_params() {
        let u = parse_jdbc_url("jdbc:mysql://h/d?sslMode=DISABLED").expect("parses");
        assert_eq!(ssl_wish(&u), Ok(Some(false)));
        let u = parse_jdbc_url("jdbc:mysql://h/d?sslMode=VERIFY_CA").expect("parses");
        assert_eq!(ssl_wish(&u), Ok(Some(true)));
        let u = parse_jdbc_url("jdbc:mysql://h/d?useSSL=maybe").expect("parses");
        assert!(ssl_wish(&u).is_err());
        let u = parse_jdbc_url("jdbc:mysql://h/d").expect("parses");
        assert_eq!(ssl_wish(&u), Ok(None));
    }

    #[test]
    fn placeholders() {
        let e = env(&[
            ("DB_URL", "jdbc:mysql://x/y"),
            ("SPRING_DATASOURCE_USERNAME", "u"),
        ]);
        assert_eq!(
            resolve_placeholders("${DB_URL}", &e).as_deref(),
            Ok("jdbc:mysql://x/y")
        );
        assert_eq!(
            resolve_placeholders("${spring.datasource.username}", &e).as_deref(),
            Ok("u")
        );
        assert_eq!(
            resolve_placeholders("a${NOPE:def}b", &e).as_deref(),
            Ok("adefb")
        );
        assert!(resolve_placeholders("${NOPE}", &e).is_err());
        assert_eq!(resolve_placeholders("plain", &e).as_deref(), Ok("plain"));
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write fixture");
    }

    const YAML: &str = "spring:\n  datasource:\n    driver-class-name: com.mysql.cj.jdbc.Driver\n    url: jdbc:mysql://yaml-host:3306/yamldb?serverTimezone=UTC\n    username: yaml_user\n    password: yaml_pw\n    hikari:\n      maximum-pool-size: 20\n      minimumIdle: 3\n      connection-timeout: 10000\n";

    #[test]
    fn precedence_env_over_yaml_over_properties() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "application-mysql.yaml", YAML);
        write(
            dir.path(),
            "datasource.properties",
            "spring.datasource.url=jdbc:mysql://props-host/propsdb\nspring.datasource.username=props_user\nspring.datasource.password=props_pw\nspring.datasource.maxActive=7\nspring.datasource.maxWait=60000\n",
        );
        let ds = load(dir.path(), &BTreeMap::new()).expect("loads");
        assert_eq!(ds.host, "yaml-host");
        assert_eq!(ds.username, "yaml_user");
        assert_eq!(ds.password, "yaml_pw");
        assert_eq!(ds.max_pool_size, 20);
        assert_eq!(ds.min_idle, 3);
        assert_eq!(ds.connection_timeout, Duration::from_secs(10));
        assert_eq!(ds.server_timezone.as_deref(), Some("UTC"));
        assert_eq!(ds.url_origin, "application-mysql.yaml");
        assert_eq!(
            ds.driver_class_name.as_deref(),
            Some("com.mysql.cj.jdbc.Driver")
        );

        let e = env(&[
            (
                "SPRING_DATASOURCE_URL",
                "jdbc:mariadb://env-host:3310/envdb",
            ),
            ("SPRING_DATASOURCE_PASSWORD", "env_pw"),
            ("SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE", "9"),
            ("DATABASE_HOST", "docker-host"),
        ]);
        let ds = load(dir.path(), &e).expect("loads");
        assert_eq!((ds.host.as_str(), ds.port), ("env-host", 3310));
        assert_eq!(ds.database, "envdb");
        assert_eq!(ds.username, "yaml_user");
        assert_eq!(ds.password, "env_pw");
        assert_eq!(ds.max_pool_size, 9);
        assert_eq!(ds.url_origin, "environment SPRING_DATASOURCE_URL");
    }

    #[test]
    fn a_bad_docker_port_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = env(&[("DATABASE_HOST", "db"), ("DATABASE_PORT", "not-a-port")]);
        let err = load(dir.path(), &e).expect_err("no port").to_string();
        assert!(err.contains("DATABASE_PORT"), "{err}");
        assert!(err.contains("not-a-port"), "{err}");
    }

    #[test]
    fn legacy_properties_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "datasource.properties",
            "spring.datasource.url=jdbc:mysql://props-host/propsdb?useSSL=false\nspring.datasource.username=props_user\nspring.datasource.password=props_pw\nspring.datasource.maxActive=7\nspring.datasource.minIdle=9\nspring.datasource.maxWait=60000\n",
        );
        let ds = load(dir.path(), &BTreeMap::new()).expect("loads");
        assert_eq!(ds.host, "props-host");
        assert_eq!(ds.max_pool_size, 7);
        assert_eq!(ds.min_idle, 7, "clamped to the pool size");
        assert_eq!(ds.connection_timeout, Duration::from_secs(60));
        assert_eq!(ds.use_ssl, Some(false));
        assert_eq!(ds.url_origin, "datasource.properties");
    }

    #[test]
    fn docker_database_variables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = env(&[
            ("DATABASE_TYPE", "mysql"),
            ("DATABASE_HOST", "mysql-svc"),
            ("DATABASE_USERNAME", "root"),
            ("DATABASE_PASSWORD", "pw"),
            ("HIKARI_MAXIMUM_POOL_SIZE", "12"),
        ]);
        let ds = load(dir.path(), &e).expect("loads");
        assert_eq!(
            ds.url,
            "jdbc:mysql://mysql-svc:3306/dolphinscheduler?characterEncoding=utf8"
        );
        assert_eq!(ds.username, "root");
        assert_eq!(ds.max_pool_size, 12);

        // Upstream's docker default: PostgreSQL, port 5432 unless given.
        let e = env(&[
            ("DATABASE_TYPE", "postgresql"),
            ("DATABASE_HOST", "pg"),
            ("DATABASE_USERNAME", "root"),
            ("DATABASE_PASSWORD", "p@ss"),
        ]);
        let ds = load(dir.path(), &e).expect("loads");
        assert_eq!(ds.scheme, JdbcScheme::Postgresql);
        assert_eq!(ds.dialect(), crate::store::Dialect::Postgres);
        assert_eq!(
            ds.connect_url(),
            "postgresql://root:p%40ss@pg:5432/dolphinscheduler"
        );
    }

    #[test]
    fn postgres_yaml_is_read_and_missing_url_is_explained() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = load(dir.path(), &BTreeMap::new()).unwrap_err().to_string();
        assert!(err.contains("SPRING_DATASOURCE_URL"), "{err}");
        write(
            dir.path(),
            "application-postgresql.yaml",
            "spring:\n  datasource:\n    driver-class-name: org.postgresql.Driver\n    url: jdbc:postgresql://127.0.0.1/dolphinscheduler?currentSchema=ds\n    username: root\n    password: root\n",
        );
        let ds = load(dir.path(), &env(&[("DATABASE_TYPE", "postgresql")])).expect("loads");
        assert_eq!((ds.scheme, ds.port), (JdbcScheme::Postgresql, 5432));
        let tls = env(&[
            ("DATABASE_TYPE", "postgresql"),
            (
                "SPRING_DATASOURCE_URL",
                "jdbc:postgresql://db/ds?sslmode=verify-full",
            ),
        ]);
        let err = load(dir.path(), &tls).unwrap_err().to_string();
        assert!(err.contains("TLS to PostgreSQL is not supported"), "{err}");
        assert_eq!(
            ds.connect_url(),
            "postgresql://root:root@127.0.0.1:5432/dolphinscheduler?options=-c%20search_path%3Dds"
        );
    }

    #[test]
    fn bad_pool_values_name_their_origin() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "application-mysql.yaml", YAML);
        let err = load(
            dir.path(),
            &env(&[("SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE", "lots")]),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "environment SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE: SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE = \"lots\": not an integer"
        );
        let err = load(
            dir.path(),
            &env(&[("SPRING_DATASOURCE_HIKARI_CONNECTION_TIMEOUT", "5")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("250 ms"), "{err}");
    }

    #[test]
    fn dotted_yaml_keys_and_application_yaml() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "application.yaml",
            "spring.datasource.url: jdbc:mysql://dotted/db\nspring.datasource.username: u\nspring.datasource.password:\n",
        );
        let ds = load(dir.path(), &BTreeMap::new()).expect("loads");
        assert_eq!(ds.host, "dotted");
        assert_eq!(ds.password, "");
        assert_eq!(ds.max_pool_size, DEFAULT_MAX_POOL_SIZE);
        assert_eq!(ds.min_idle, DEFAULT_MIN_IDLE);
    }
}
