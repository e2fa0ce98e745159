//! Settings: defaults, then an optional TOML file, then `ROSTER_*` environment variables, then
//! command-line flags. Every value is parsed here, once; a bad one stops start-up with one line
//! naming the setting and where it came from. Secrets are never printed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::auth::SigningKey;
use crate::storage::DatabaseUrl;

/// One line, naming the setting: what start-up prints before it stops.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Every setting: its key in the TOML file, and what it means (the README's table is built from the
/// same list). The environment variable is `ROSTER_` followed by the key in upper case.
pub const SETTINGS: &[(&str, &str, &str)] = &[
    ("listen", "127.0.0.1:8080", "address and port the server listens on"),
    (
        "data_dir",
        "./data",
        "directory for the SQLite file, the signing key and the bootstrap token",
    ),
    (
        "database_url",
        "sqlite://<data_dir>/roster.db",
        "sqlite://PATH or postgres://USER:PASSWORD@HOST/DB",
    ),
    (
        "public_url",
        "http://<listen>",
        "base URL clients reach roster at (SCIM `location`, invitation links)",
    ),
    (
        "signing_key",
        "(generated into <data_dir>/signing.key)",
        "secret that signs tokens, ≥ 32 bytes (base64url or text); instances sharing a database must share it",
    ),
    (
        "token_audience",
        "roster",
        "audience tokens are issued for and must carry",
    ),
    (
        "token_ttl_days",
        "365",
        "lifetime of tokens created by the CLI and the bootstrap",
    ),
    ("invitation_ttl_hours", "168", "how long an invitation link stays valid"),
    ("mailer", "file", "file (`.eml` files in <data_dir>/outbox) or smtp"),
    (
        "mail_from",
        "roster <no-reply@localhost>",
        "sender of invitation e-mails",
    ),
    ("smtp_host", "localhost", "SMTP server"),
    ("smtp_port", "587", "SMTP port"),
    (
        "smtp_security",
        "starttls",
        "starttls (required), tls (implicit, port 465) or none (local relay only)",
    ),
    ("smtp_username", "(none)", "SMTP user name"),
    ("smtp_password", "(none)", "SMTP password"),
    (
        "mail_max_attempts",
        "8",
        "delivery attempts before an e-mail is marked failed",
    ),
    (
        "mail_retry_base_ms",
        "30000",
        "delay before the first retry; doubled each time, at most an hour",
    ),
    (
        "mail_poll_ms",
        "1000",
        "how often the delivery worker looks for due e-mails",
    ),
    (
        "scim_max_results",
        "1000",
        "largest SCIM page (count) and Bulk operation count",
    ),
    (
        "group_roles",
        "(none)",
        "groups that give a role by displayName, e.g. `Admins=ADMINISTRATOR, Traders=MARKET`",
    ),
    (
        "role_aliases",
        "(none)",
        "SCIM `roles` values that stand for a roster role, e.g. `Admin=ADMINISTRATOR, Reader=VIEWER`",
    ),
    ("db_pool_size", "8", "database connections per instance"),
    (
        "db_pool_timeout_ms",
        "1000",
        "longest wait for a database connection; past it (the database down or overloaded) a request gets 503 with Retry-After",
    ),
    ("max_body_bytes", "1048576", "largest request body accepted"),
    (
        "body_timeout_ms",
        "15000",
        "longest time a client may take to send its request body (past it: 408)",
    ),
    ("workers", "number of cores", "HTTP worker threads"),
    ("log_format", "text", "text or json"),
    ("log_level", "info", "tracing filter, e.g. info or roster=debug,info"),
    (
        "bootstrap",
        "true",
        "on an empty database, create a default organization and an admin token",
    ),
];

const SECRET_KEYS: &[&str] = &["signing_key", "database_url", "smtp_password"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailerKind {
    File,
    Smtp,
}

/// Where invitation e-mails go.
#[derive(Clone)]
pub struct MailSettings {
    pub kind: MailerKind,
    pub from: lettre::message::Mailbox,
    pub smtp: crate::mail::SmtpSettings,
    pub max_attempts: i32,
    pub retry_base: std::time::Duration,
    pub poll: std::time::Duration,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field("kind", &self.kind)
            .field("from", &self.from.to_string())
            .field("smtp_host", &self.smtp.host)
            .field("smtp_port", &self.smtp.port)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    /// `None`: `http://` and the address the server is bound to.
    pub public_url: Option<String>,
    /// `None`: the key file in the data directory (created on first start).
    pub signing_key: Option<SigningKey>,
    pub token_audience: String,
    pub token_ttl_days: i64,
    pub invitation_ttl_hours: i64,
    pub mail: MailSettings,
    pub scim_max_results: i64,
    /// Group displayName (lower case) → the role it gives its members.
    pub group_roles: Vec<(String, crate::domain::Role)>,
    /// SCIM `roles` value (lower case) → the role it stands for.
    pub role_aliases: Vec<(String, crate::domain::Role)>,
    pub db_pool_size: u32,
    /// Longest wait for a pooled connection before a request is answered 503.
    pub db_pool_timeout: std::time::Duration,
    pub max_body_bytes: usize,
    /// Longest time a client may take to send its body.
    pub body_timeout: std::time::Duration,
    pub workers: usize,
    pub log_format: LogFormat,
    pub log_level: String,
    pub bootstrap: bool,
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone)]
enum Origin {
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "in {}", path.display()),
            Origin::Env(var) => write!(f, "from {var}"),
            Origin::Flag(flag) => write!(f, "from {flag}"),
        }
    }
}

/// The raw layers, before parsing.
#[derive(Debug, Default, Clone)]
pub struct SettingsSources {
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl SettingsSources {
    /// Reads the TOML file (if any) and then the environment.
    pub fn load(
        config_file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut sources = Self::default();
        if let Some(path) = config_file {
            sources.read_file(path)?;
        }
        let env: BTreeMap<String, String> = env.into_iter().collect();
        for (key, _, _) in SETTINGS {
            let var = env_var(key);
            if let Some(value) = env.get(&var) {
                sources.values.insert(key, (value.clone(), Origin::Env(var)));
            }
        }
        Ok(sources)
    }

    /// A command-line flag: the last and strongest layer.
    pub fn set_flag(&mut self, key: &'static str, value: impl Into<String>) {
        let flag = format!("--{}", key.replace('_', "-"));
        self.values.insert(key, (value.into(), Origin::Flag(flag)));
    }

    fn read_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read the configuration file {}: {e}", path.display())))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            ConfigError(format!("{} is not valid TOML: {}", path.display(), e.message()))
        })?;
        for (key, value) in table {
            let Some((known, _, _)) = SETTINGS.iter().find(|(k, _, _)| *k == key) else {
                return Err(ConfigError(format!("unknown setting `{key}` in {}", path.display())));
            };
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(ConfigError(format!(
                        "invalid setting `{key}` in {}: expected a string, number or boolean, found {}",
                        path.display(),
                        other.type_str()
                    )));
                }
            };
            self.values.insert(known, (text, Origin::File(path.to_owned())));
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&(String, Origin)> {
        self.values.get(key)
    }

    /// Parses every value, applying defaults.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        let parse = |key: &'static str| Field { key, sources: self };
        let listen: SocketAddr = parse("listen").or("127.0.0.1:8080", |v| {
            v.parse()
                .map_err(|_| "expected HOST:PORT, e.g. 127.0.0.1:8080".to_string())
        })?;
        let data_dir: PathBuf = parse("data_dir").or("./data", |v| {
            if v.trim().is_empty() {
                Err("must not be empty".to_string())
            } else {
                Ok(PathBuf::from(v))
            }
        })?;
        let default_db = format!("sqlite://{}", data_dir.join("roster.db").display());
        let database_url =
            parse("database_url").or(&default_db, |v| DatabaseUrl::parse(v).map_err(|e| e.to_string()))?;
        let public_url = match self.get("public_url") {
            None => None,
            Some(_) => Some(parse("public_url").or("", |v| {
                let v = v.trim().trim_end_matches('/');
                if v.starts_with("http://") || v.starts_with("https://") {
                    Ok(v.to_owned())
                } else {
                    Err("expected an http:// or https:// URL".to_string())
                }
            })?),
        };
        let signing_key = match self.get("signing_key") {
            None => None,
            Some(_) => Some(parse("signing_key").or("", SigningKey::from_config)?),
        };
        let token_audience = parse("token_audience").or("roster", non_empty)?;
        let token_ttl_days = parse("token_ttl_days").or("365", |v| int_in(v, 1, 36_500))?;
        let invitation_ttl_hours = parse("invitation_ttl_hours").or("168", |v| int_in(v, 1, 24 * 365))?;
        let mail = MailSettings {
            kind: parse("mailer").or("file", |v| match v.trim().to_ascii_lowercase().as_str() {
                "file" => Ok(MailerKind::File),
                "smtp" => Ok(MailerKind::Smtp),
                _ => Err("expected file or smtp".to_string()),
            })?,
            from: parse("mail_from").or("roster <no-reply@localhost>", crate::mail::parse_mailbox)?,
            smtp: crate::mail::SmtpSettings {
                host: parse("smtp_host").or("localhost", non_empty)?,
                port: parse("smtp_port").or("587", |v| int_in(v, 1, 65535).map(|n| n as u16))?,
                security: parse("smtp_security").or("starttls", |v| match v.trim().to_ascii_lowercase().as_str() {
                    "starttls" => Ok(crate::mail::SmtpSecurity::StartTls),
                    "tls" => Ok(crate::mail::SmtpSecurity::Tls),
                    "none" => Ok(crate::mail::SmtpSecurity::None),
                    _ => Err("expected starttls, tls or none".to_string()),
                })?,
                username: self.get("smtp_username").map(|(v, _)| v.clone()),
                password: self.get("smtp_password").map(|(v, _)| v.clone()),
                timeout: std::time::Duration::from_secs(20),
            },
            max_attempts: parse("mail_max_attempts").or("8", |v| int_in(v, 1, 100).map(|n| n as i32))?,
            retry_base: parse("mail_retry_base_ms")
                .or("30000", |v| int_in(v, 10, 3_600_000))
                .map(|ms| std::time::Duration::from_millis(ms as u64))?,
            poll: parse("mail_poll_ms")
                .or("1000", |v| int_in(v, 10, 600_000))
                .map(|ms| std::time::Duration::from_millis(ms as u64))?,
        };
        let group_roles = parse("group_roles").or("", names_to_roles)?;
        let role_aliases = parse("role_aliases").or("", names_to_roles)?;
        let scim_max_results = parse("scim_max_results").or("1000", |v| int_in(v, 10, 100_000))?;
        let db_pool_size = parse("db_pool_size").or("8", |v| int_in(v, 1, 256).map(|n| n as u32))?;
        let db_pool_timeout = parse("db_pool_timeout_ms")
            .or("1000", |v| int_in(v, 50, 600_000))
            .map(|ms| std::time::Duration::from_millis(ms as u64))?;
        let max_body_bytes =
            parse("max_body_bytes").or("1048576", |v| int_in(v, 1024, 64 << 20).map(|n| n as usize))?;
        let body_timeout = parse("body_timeout_ms")
            .or("15000", |v| int_in(v, 100, 3_600_000))
            .map(|ms| std::time::Duration::from_millis(ms as u64))?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .to_string();
        let workers = parse("workers").or(&cores, |v| int_in(v, 1, 512).map(|n| n as usize))?;
        let log_format = parse("log_format").or("text", |v| match v.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".to_string()),
        })?;
        let log_level = parse("log_level").or("info", |v| {
            tracing_subscriber::EnvFilter::try_new(v)
                .map(|_| v.to_owned())
                .map_err(|e| format!("not a tracing filter: {e}"))
        })?;
        let bootstrap = parse("bootstrap").or("true", |v| match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err("expected true or false".to_string()),
        })?;
        Ok(Settings {
            listen,
            data_dir,
            database_url,
            public_url,
            signing_key,
            token_audience,
            token_ttl_days,
            invitation_ttl_hours,
            mail,
            scim_max_results,
            group_roles,
            role_aliases,
            db_pool_size,
            db_pool_timeout,
            max_body_bytes,
            body_timeout,
            workers,
            log_format,
            log_level,
            bootstrap,
        })
    }
}

/// `NAME=ROLE, NAME=ROLE`: names lower-cased (they are matched ignoring case).
fn names_to_roles(v: &str) -> Result<Vec<(String, crate::domain::Role)>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, role) = pair
                .rsplit_once('=')
                .ok_or_else(|| format!("{pair:?} is not NAME=ROLE"))?;
            let role = role.parse::<crate::domain::Role>().map_err(|e| e.message)?;
            if name.trim().is_empty() {
                return Err(format!("{pair:?} has no name"));
            }
            Ok((name.trim().to_lowercase(), role))
        })
        .collect()
}

struct Field<'a> {
    key: &'static str,
    sources: &'a SettingsSources,
}

impl Field<'_> {
    /// Parses the configured value, or the default when none is set.
    fn or<T>(&self, default: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, ConfigError> {
        match self.sources.get(self.key) {
            None => parse(default).map_err(|why| ConfigError(format!("invalid default for `{}`: {why}", self.key))),
            Some((value, origin)) => parse(value).map_err(|why| {
                let shown = if SECRET_KEYS.contains(&self.key) {
                    String::new()
                } else {
                    format!(" {value:?}")
                };
                ConfigError(format!("invalid setting `{}` ({origin}):{shown} {why}", self.key))
            }),
        }
    }
}

fn non_empty(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(v.to_owned())
    }
}

fn int_in(v: &str, min: i64, max: i64) -> Result<i64, String> {
    match v.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

pub fn env_var(key: &str) -> String {
    format!("ROSTER_{}", key.to_ascii_uppercase())
}

impl Settings {
    /// Defaults only (no file, no environment): what tests start from.
    pub fn defaults() -> Settings {
        SettingsSources::default().resolve().expect("defaults are valid")
    }

    pub fn signing_key_path(&self) -> PathBuf {
        self.data_dir.join("signing.key")
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }

    pub fn bootstrap_token_path(&self) -> PathBuf {
        self.data_dir.join("bootstrap-token")
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    pub fn scim_base_url(&self) -> String {
        format!("{}/scim/v2", self.public_url())
    }

    pub fn api_base_url(&self) -> String {
        format!("{}/api/v1", self.public_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_resolve() {
        let s = Settings::defaults();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url.sqlite_path().unwrap(), PathBuf::from("./data/roster.db"));
        assert_eq!(s.public_url(), "http://127.0.0.1:8080");
        assert!(s.signing_key.is_none());
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndb_pool_size = 3\ndata_dir = \"/srv/roster\"\n",
        )
        .unwrap();
        let mut sources = SettingsSources::load(
            Some(&file),
            env(&[("ROSTER_LISTEN", "127.0.0.1:9100"), ("HOME", "/root")]),
        )
        .unwrap();
        let s = sources.resolve().unwrap();
        assert_eq!(s.listen.port(), 9100, "environment beats file");
        assert_eq!(s.db_pool_size, 3, "file beats default");
        assert_eq!(
            s.database_url.sqlite_path().unwrap(),
            PathBuf::from("/srv/roster/roster.db")
        );
        sources.set_flag("listen", "127.0.0.1:9200");
        assert_eq!(sources.resolve().unwrap().listen.port(), 9200, "flag beats environment");
    }

    #[test]
    fn bad_values_name_the_setting_and_hide_secrets() {
        let err = SettingsSources::load(None, env(&[("ROSTER_LISTEN", "nowhere")]))
            .unwrap()
            .resolve()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting `listen` (from ROSTER_LISTEN): \"nowhere\" expected HOST:PORT, e.g. 127.0.0.1:8080"
        );
        let err = SettingsSources::load(None, env(&[("ROSTER_DATABASE_URL", "mysql://u:hunter2@h/db")]))
            .unwrap()
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid setting `database_url` (from ROSTER_DATABASE_URL):"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let err = SettingsSources::load(None, env(&[("ROSTER_SIGNING_KEY", "short")]))
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(!err.to_string().contains("short\""), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(&file, "lsiten = \"127.0.0.1:9000\"\n").unwrap();
        let err = SettingsSources::load(Some(&file), Vec::new()).unwrap_err();
        assert!(err.to_string().starts_with("unknown setting `lsiten`"), "{err}");
    }
}
