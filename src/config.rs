//! Settings: defaults, then an optional TOML file, then `ROSTER_*` environment variables, then
//! command-line flags. Every value is parsed here, once; a bad one stops start-up with one line
//! naming the setting and where it came from. Secrets are never printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::auth::SigningKey;
use crate::storage::DatabaseUrl;

/// One line, naming the setting: what start-up prints before it stops.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Every setting's default as shown and what it means, for the README's table and `--help`; a test
/// holds it, [`RawSettings`] and the README to the same keys. The environment variable is
/// `ROSTER_` followed by the key in upper case.
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
    (
        "webhook_allow_private_networks",
        "false",
        "deliver webhooks to loopback, private and link-local addresses too (tests, closed networks)",
    ),
    ("webhook_timeout_ms", "10000", "longest a webhook delivery may take"),
    (
        "webhook_retry_base_ms",
        "30000",
        "first webhook retry delay, doubled each time, at most an hour",
    ),
    (
        "webhook_poll_ms",
        "1000",
        "how often the webhook worker looks for events to deliver",
    ),
    (
        "webhook_disable_after_hours",
        "72",
        "an endpoint whose deliveries fail this long is disabled (and says so)",
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
    ("console_session_hours", "8", "how long an admin console sign-in lasts"),
    (
        "activity_retention_days",
        "14",
        "how long the console keeps each SCIM request in the provisioning activity log",
    ),
    (
        "metrics_token",
        "(none)",
        "when set, `/metrics` needs `Authorization: Bearer <this value>`; when unset it is open",
    ),
];

const SECRET_KEYS: &[&str] = &["signing_key", "database_url", "smtp_password", "metrics_token"];

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

/// How webhooks are delivered.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub allow_private_networks: bool,
    pub timeout: std::time::Duration,
    pub retry_base: std::time::Duration,
    pub poll: std::time::Duration,
    pub disable_after: std::time::Duration,
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
    /// Webhook deliveries.
    pub webhooks: WebhookDelivery,
    pub max_body_bytes: usize,
    /// Longest time a client may take to send its body.
    pub body_timeout: std::time::Duration,
    pub workers: usize,
    pub log_format: LogFormat,
    pub log_level: String,
    pub bootstrap: bool,
    pub console_session: chrono::Duration,
    pub activity_retention: chrono::Duration,
    /// `None`: `/metrics` is open.
    pub metrics_token: Option<String>,
}

/// Every setting as a source writes it: the one definition. Each field is a key of the TOML
/// file and, upper-cased behind `ROSTER_`, an environment variable; figment layers them (defaults,
/// file, environment, flags), so no key can be settable from one source and not another.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSettings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub signing_key: Option<String>,
    pub token_audience: String,
    pub token_ttl_days: i64,
    pub invitation_ttl_hours: i64,
    pub mailer: String,
    pub mail_from: String,
    pub smtp_host: String,
    pub smtp_port: i64,
    pub smtp_security: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub mail_max_attempts: i64,
    pub mail_retry_base_ms: i64,
    pub mail_poll_ms: i64,
    pub scim_max_results: i64,
    pub group_roles: String,
    pub role_aliases: String,
    pub db_pool_size: i64,
    pub db_pool_timeout_ms: i64,
    pub webhook_allow_private_networks: bool,
    pub webhook_timeout_ms: i64,
    pub webhook_retry_base_ms: i64,
    pub webhook_poll_ms: i64,
    pub webhook_disable_after_hours: i64,
    pub max_body_bytes: i64,
    pub body_timeout_ms: i64,
    pub workers: Option<i64>,
    pub log_format: String,
    pub log_level: String,
    pub bootstrap: bool,
    pub console_session_hours: i64,
    pub activity_retention_days: i64,
    pub metrics_token: Option<String>,
}

impl Default for RawSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            public_url: None,
            signing_key: None,
            token_audience: "roster".into(),
            token_ttl_days: 365,
            invitation_ttl_hours: 168,
            mailer: "file".into(),
            mail_from: "roster <no-reply@localhost>".into(),
            smtp_host: "localhost".into(),
            smtp_port: 587,
            smtp_security: "starttls".into(),
            smtp_username: None,
            smtp_password: None,
            mail_max_attempts: 8,
            mail_retry_base_ms: 30_000,
            mail_poll_ms: 1000,
            scim_max_results: 1000,
            group_roles: String::new(),
            role_aliases: String::new(),
            db_pool_size: 8,
            db_pool_timeout_ms: 1000,
            webhook_allow_private_networks: false,
            webhook_timeout_ms: 10_000,
            webhook_retry_base_ms: 30_000,
            webhook_poll_ms: 1000,
            webhook_disable_after_hours: 72,
            max_body_bytes: 1 << 20,
            body_timeout_ms: 15_000,
            workers: None,
            log_format: "text".into(),
            log_level: "info".into(),
            bootstrap: true,
            console_session_hours: 8,
            activity_retention_days: 14,
            metrics_token: None,
        }
    }
}

/// The keys of [`RawSettings`], by construction.
pub fn setting_keys() -> Vec<String> {
    match serde_json::to_value(RawSettings::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Environment variables, as a figment provider: `ROSTER_<KEY>` for every known key (others, such
/// as `ROSTER_CONFIG` or the tests' variables, are not settings). Values stay text; extraction
/// reads numbers and booleans out of them.
struct Environment(figment::value::Dict);

impl Environment {
    fn from_pairs(env: impl IntoIterator<Item = (String, String)>) -> Self {
        let keys = setting_keys();
        let dict = env
            .into_iter()
            .filter_map(|(var, value)| {
                let key = var.strip_prefix("ROSTER_")?.to_ascii_lowercase();
                keys.contains(&key).then(|| (key, figment::value::Value::from(value)))
            })
            .collect();
        Self(dict)
    }
}

impl figment::Provider for Environment {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("the environment")
            .interpolater(|_, keys| env_var(keys.last().copied().unwrap_or_default()))
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Ok(figment::Profile::Default.collect(self.0.clone()))
    }
}

/// The layers, before extraction: defaults, then the TOML file, the environment and flags.
#[derive(Clone)]
pub struct SettingsSources {
    figment: figment::Figment,
}

impl Default for SettingsSources {
    fn default() -> Self {
        Self {
            figment: figment::Figment::from(figment::providers::Serialized::defaults(RawSettings::default())),
        }
    }
}

impl std::fmt::Debug for SettingsSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SettingsSources")
    }
}

impl SettingsSources {
    /// Reads the TOML file (if any) and then the environment.
    pub fn load(
        config_file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut sources = Self::default();
        if let Some(path) = config_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("cannot read the configuration file {}: {e}", path.display())))?;
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
                ConfigError(format!("{} is not valid TOML: {}", path.display(), e.message()))
            })?;
            let keys = setting_keys();
            if let Some(unknown) = table.keys().find(|k| !keys.contains(k)) {
                return Err(ConfigError(format!(
                    "unknown setting `{unknown}` in {}",
                    path.display()
                )));
            }
            sources.figment =
                sources
                    .figment
                    .merge(<figment::providers::Toml as figment::providers::Format>::file_exact(
                        path,
                    ));
        }
        sources.figment = sources.figment.merge(Environment::from_pairs(env));
        Ok(sources)
    }

    /// A command-line flag: the last and strongest layer.
    pub fn set_flag(&mut self, key: &'static str, value: impl Into<String>) {
        let flag = format!("--{}", key.replace('_', "-"));
        let provider = figment::providers::Serialized::default(key, value.into());
        let named = Named(provider, flag);
        self.figment = self.figment.clone().merge(named);
    }

    /// The raw values, with a refusal that names the key and its source.
    fn extract(&self) -> Result<RawSettings, ConfigError> {
        self.figment.extract_lossy().map_err(|e| describe(&self.figment, e))
    }

    /// Where the value of `key` came from.
    fn origin(&self, key: &str) -> String {
        match self.figment.find_metadata(key) {
            Some(m) if m.name.as_ref() == "the environment" => format!("from {}", env_var(key)),
            Some(m) => match &m.source {
                Some(figment::Source::File(path)) => format!("in {}", path.display()),
                _ if m.name.starts_with("--") => format!("from {}", m.name),
                _ => "default".to_owned(),
            },
            None => "default".to_owned(),
        }
    }

    /// Parses every value, applying defaults.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        let raw = self.extract()?;
        let check = |key: &'static str, shown: &str, why: String| {
            let shown = if SECRET_KEYS.contains(&key) {
                String::new()
            } else {
                format!(" {shown:?}")
            };
            ConfigError(format!("invalid setting `{key}` ({}):{shown} {why}", self.origin(key)))
        };
        let range = |key: &'static str, n: i64, min: i64, max: i64| -> Result<i64, ConfigError> {
            if (min..=max).contains(&n) {
                Ok(n)
            } else {
                Err(check(
                    key,
                    &n.to_string(),
                    format!("expected a whole number from {min} to {max}"),
                ))
            }
        };
        let text = |key: &'static str, v: &str| -> Result<String, ConfigError> {
            let v = v.trim();
            if v.is_empty() {
                Err(check(key, v, "must not be empty".into()))
            } else {
                Ok(v.to_owned())
            }
        };
        let millis = |key, n, min, max| range(key, n, min, max).map(|ms| std::time::Duration::from_millis(ms as u64));

        let listen: SocketAddr = raw
            .listen
            .trim()
            .parse()
            .map_err(|_| check("listen", &raw.listen, "expected HOST:PORT, e.g. 127.0.0.1:8080".into()))?;
        if raw.data_dir.as_os_str().is_empty() {
            return Err(check("data_dir", "", "must not be empty".into()));
        }
        let data_dir = raw.data_dir.clone();
        let database_url = match &raw.database_url {
            Some(url) => DatabaseUrl::parse(url).map_err(|e| check("database_url", url, e.to_string()))?,
            None => DatabaseUrl::sqlite_file(data_dir.join("roster.db")),
        };
        let public_url = match &raw.public_url {
            None => None,
            Some(v) => {
                let trimmed = v.trim().trim_end_matches('/');
                if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
                    return Err(check("public_url", v, "expected an http:// or https:// URL".into()));
                }
                Some(trimmed.to_owned())
            }
        };
        let signing_key = match &raw.signing_key {
            None => None,
            Some(v) => Some(SigningKey::from_config(v).map_err(|why| check("signing_key", v, why))?),
        };
        let mail = MailSettings {
            kind: match raw.mailer.trim().to_ascii_lowercase().as_str() {
                "file" => MailerKind::File,
                "smtp" => MailerKind::Smtp,
                _ => return Err(check("mailer", &raw.mailer, "expected file or smtp".into())),
            },
            from: crate::mail::parse_mailbox(&raw.mail_from).map_err(|why| check("mail_from", &raw.mail_from, why))?,
            smtp: crate::mail::SmtpSettings {
                host: text("smtp_host", &raw.smtp_host)?,
                port: range("smtp_port", raw.smtp_port, 1, 65535)? as u16,
                security: match raw.smtp_security.trim().to_ascii_lowercase().as_str() {
                    "starttls" => crate::mail::SmtpSecurity::StartTls,
                    "tls" => crate::mail::SmtpSecurity::Tls,
                    "none" => crate::mail::SmtpSecurity::None,
                    _ => {
                        return Err(check(
                            "smtp_security",
                            &raw.smtp_security,
                            "expected starttls, tls or none".into(),
                        ));
                    }
                },
                username: raw.smtp_username.clone(),
                password: raw.smtp_password.clone(),
                timeout: std::time::Duration::from_secs(20),
            },
            max_attempts: range("mail_max_attempts", raw.mail_max_attempts, 1, 100)? as i32,
            retry_base: millis("mail_retry_base_ms", raw.mail_retry_base_ms, 10, 3_600_000)?,
            poll: millis("mail_poll_ms", raw.mail_poll_ms, 10, 600_000)?,
        };
        let group_roles =
            names_to_roles(&raw.group_roles).map_err(|why| check("group_roles", &raw.group_roles, why))?;
        let role_aliases =
            names_to_roles(&raw.role_aliases).map_err(|why| check("role_aliases", &raw.role_aliases, why))?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as i64;
        let log_format = match raw.log_format.trim().to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(check("log_format", &raw.log_format, "expected text or json".into())),
        };
        tracing_subscriber::EnvFilter::try_new(&raw.log_level)
            .map_err(|e| check("log_level", &raw.log_level, format!("not a tracing filter: {e}")))?;
        Ok(Settings {
            listen,
            data_dir,
            database_url,
            public_url,
            signing_key,
            token_audience: text("token_audience", &raw.token_audience)?,
            token_ttl_days: range("token_ttl_days", raw.token_ttl_days, 1, 36_500)?,
            invitation_ttl_hours: range("invitation_ttl_hours", raw.invitation_ttl_hours, 1, 24 * 365)?,
            mail,
            scim_max_results: range("scim_max_results", raw.scim_max_results, 10, 100_000)?,
            group_roles,
            role_aliases,
            db_pool_size: range("db_pool_size", raw.db_pool_size, 1, 256)? as u32,
            db_pool_timeout: millis("db_pool_timeout_ms", raw.db_pool_timeout_ms, 50, 600_000)?,
            webhooks: WebhookDelivery {
                allow_private_networks: raw.webhook_allow_private_networks,
                timeout: millis("webhook_timeout_ms", raw.webhook_timeout_ms, 100, 120_000)?,
                retry_base: millis("webhook_retry_base_ms", raw.webhook_retry_base_ms, 10, 3_600_000)?,
                poll: millis("webhook_poll_ms", raw.webhook_poll_ms, 10, 600_000)?,
                disable_after: std::time::Duration::from_secs(
                    range(
                        "webhook_disable_after_hours",
                        raw.webhook_disable_after_hours,
                        1,
                        24 * 90,
                    )? as u64
                        * 3600,
                ),
            },
            max_body_bytes: range("max_body_bytes", raw.max_body_bytes, 1024, 64 << 20)? as usize,
            body_timeout: millis("body_timeout_ms", raw.body_timeout_ms, 100, 3_600_000)?,
            workers: range("workers", raw.workers.unwrap_or(cores), 1, 512)? as usize,
            log_format,
            log_level: raw.log_level.clone(),
            bootstrap: raw.bootstrap,
            console_session: chrono::Duration::hours(range(
                "console_session_hours",
                raw.console_session_hours,
                1,
                24 * 30,
            )?),
            activity_retention: chrono::Duration::days(range(
                "activity_retention_days",
                raw.activity_retention_days,
                1,
                3650,
            )?),
            metrics_token: match raw.metrics_token.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(t) if t.len() < 16 || !t.chars().all(|c| c.is_ascii_graphic()) => {
                    return Err(check(
                        "metrics_token",
                        "(secret)",
                        "must be at least 16 printable ASCII characters without spaces (it travels in a header)".into(),
                    ));
                }
                Some(t) => Some(t.to_owned()),
            },
        })
    }
}

/// A provider under another name (a flag), so that errors say where a value came from.
struct Named<P>(P, String);

impl<P: figment::Provider> figment::Provider for Named<P> {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(self.1.clone())
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        self.0.data()
    }
}

/// A figment refusal as one line naming the setting and where its value came from (secrets never
/// shown).
fn describe(figment: &figment::Figment, e: figment::Error) -> ConfigError {
    let key = e.path.last().cloned().unwrap_or_default();
    let origin = match figment.find_metadata(&key) {
        Some(m) if m.name.as_ref() == "the environment" => format!("from {}", env_var(&key)),
        Some(m) => match &m.source {
            Some(figment::Source::File(path)) => format!("in {}", path.display()),
            _ => format!("from {}", m.name),
        },
        None => "default".to_owned(),
    };
    let why = match &e.kind {
        figment::error::Kind::InvalidType(_, expected) | figment::error::Kind::InvalidValue(_, expected) => {
            format!("expected {expected}")
        }
        _ if SECRET_KEYS.contains(&key.as_str()) => "cannot be read".to_owned(),
        other => other.to_string(),
    };
    ConfigError(format!("invalid setting `{key}` ({origin}): {why}"))
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
    fn group_roles_and_role_aliases_come_from_the_file_and_the_environment() {
        use crate::domain::Role;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(&file, "group_roles = \"Admins=ADMINISTRATOR\"\n").unwrap();
        let s = SettingsSources::load(Some(&file), Vec::new())
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(s.group_roles, [("admins".to_owned(), Role::Administrator)]);
        let s = SettingsSources::load(
            None,
            env(&[
                ("ROSTER_GROUP_ROLES", "Admins=ADMINISTRATOR, Traders=MARKET"),
                ("ROSTER_ROLE_ALIASES", "Reader=VIEWER"),
            ]),
        )
        .unwrap()
        .resolve()
        .unwrap();
        assert_eq!(
            s.group_roles,
            [
                ("admins".to_owned(), Role::Administrator),
                ("traders".to_owned(), Role::Market)
            ]
        );
        assert_eq!(s.role_aliases, [("reader".to_owned(), Role::Viewer)]);
    }

    /// Every key is settable from the environment (a wrong value is refused by name, so the value
    /// was read), and keys that are not settings are not taken from it.
    #[test]
    fn every_key_is_read_from_the_environment() {
        for key in setting_keys() {
            let err = SettingsSources::load(None, env(&[(&env_var(&key), "\u{1}not a valid value")]))
                .unwrap()
                .resolve();
            let refused = err.err().map(|e| e.to_string()).unwrap_or_default();
            let lenient = [
                "smtp_username",
                "smtp_password",
                "token_audience",
                "smtp_host",
                "data_dir",
            ];
            assert!(
                refused.contains(&format!("`{key}`")) || lenient.contains(&key.as_str()),
                "{key}: {refused:?}"
            );
        }
        let s = SettingsSources::load(None, env(&[("ROSTER_TEST_DATABASE_URL", "x"), ("ROSTER_CONFIG", "y")]))
            .unwrap()
            .resolve();
        assert!(s.is_ok(), "{s:?}");
    }

    /// The README's settings table, the descriptions and the settings themselves name the same
    /// keys.
    #[test]
    fn the_readme_documents_every_setting() {
        let mut keys = setting_keys();
        keys.sort();
        let mut described: Vec<String> = SETTINGS.iter().map(|(k, _, _)| (*k).to_owned()).collect();
        described.sort();
        assert_eq!(described, keys, "SETTINGS and RawSettings");
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let section = readme
            .split("## Configuration")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("a Configuration section");
        let mut documented: Vec<String> = section
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .map(str::to_owned)
            .collect();
        documented.sort();
        assert_eq!(documented, keys, "the README's table and RawSettings");
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
