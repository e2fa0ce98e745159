//! `roster serve | migrate | org create|list | token create|list|revoke`.
//!
//! Scripts depend on these staying put: `org create` prints only the new id and `token create` only
//! the token, on standard output; everything else goes to standard error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigError, Settings, SettingsSources};
use crate::domain::audit::AuditContext;
use crate::domain::{MemberId, OrganizationId, Role, Scope, TokenId};
use crate::service::{organizations, tokens};
use crate::startup::{Application, open_database_with};
use crate::storage;
use crate::storage::PoolSettings;

#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version,
    about = "SCIM 2.0 provisioning connector and native team API"
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// TOML configuration file (also ROSTER_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://… (overrides ROSTER_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Data directory (overrides ROSTER_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (migrates the database first).
    Serve {
        /// Address to listen on (overrides ROSTER_LISTEN).
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Create an organization; prints its id.
    Create {
        name: String,
        /// Role members get when no group gives them one.
        #[arg(long, default_value = "VIEWER")]
        default_role: String,
    },
    /// List organizations (id, name, created).
    List,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token; prints only the token.
    Create {
        #[arg(long, value_name = "ORG_ID")]
        org: String,
        /// scim, team:read, team:write, audit:read or org:admin; repeat for several.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Make the token act as this member (its role decides what it may do).
        #[arg(long, value_name = "MEMBER_ID")]
        member: Option<String>,
        /// A label to recognise the token by in listings.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Lifetime in days (default: the token_ttl_days setting).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<i64>,
    },
    /// List an organization's tokens (never the secrets).
    List {
        #[arg(long, value_name = "ORG_ID")]
        org: String,
    },
    /// Revoke a token by id; it stops working at once.
    Revoke {
        #[arg(long, value_name = "ORG_ID")]
        org: String,
        token_id: String,
    },
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match load_settings(&cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("roster: {e}");
            return ExitCode::from(2);
        }
    };
    let serving = matches!(cli.command, Command::Serve { .. });
    // The CLI's own commands keep standard error quiet unless something is wrong.
    let level = if serving {
        settings.log_level.clone()
    } else {
        "warn".to_owned()
    };
    crate::telemetry::init(settings.log_format, &level);
    match run(cli.command, settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roster: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_settings(cli: &Cli) -> Result<Settings, ConfigError> {
    let config_file = cli
        .global
        .config
        .clone()
        .or_else(|| std::env::var_os("ROSTER_CONFIG").map(PathBuf::from));
    let mut sources = SettingsSources::load(config_file.as_deref(), std::env::vars())?;
    if let Some(url) = &cli.global.database_url {
        sources.set_flag("database_url", url.clone());
    }
    if let Some(dir) = &cli.global.data_dir {
        sources.set_flag("data_dir", dir.to_string_lossy().into_owned());
    }
    if let Command::Serve { listen: Some(listen) } = &cli.command {
        sources.set_flag("listen", listen.clone());
    }
    sources.resolve()
}

fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve { .. } => serve(settings),
        Command::Migrate => {
            let (db, _) = open_database_with(&settings, &PoolSettings::single())?;
            let applied = storage::run_migrations(&mut *db.get()?)?;
            if applied.is_empty() {
                eprintln!("roster: database is up to date");
            } else {
                eprintln!("roster: applied {} migration(s): {}", applied.len(), applied.join(", "));
            }
            Ok(())
        }
        Command::Org(cmd) => {
            let (db, _) = open_migrated(&settings)?;
            match cmd {
                OrgCommand::Create { name, default_role } => {
                    let role: Role = default_role.parse()?;
                    let org = organizations::create_organization(&db, &name, role, &AuditContext::cli())?;
                    println!("{}", org.id);
                }
                OrgCommand::List => {
                    for org in organizations::list_organizations(&db)? {
                        println!("{}\t{}\t{}", org.id, org.name, org.created_at.and_utc().to_rfc3339());
                    }
                }
            }
            Ok(())
        }
        Command::Token(cmd) => {
            let (db, signer) = open_migrated(&settings)?;
            match cmd {
                TokenCommand::Create {
                    org,
                    scopes,
                    member,
                    name,
                    expires_in_days,
                } => {
                    let organization_id = parse_org(&org)?;
                    let scopes: Vec<Scope> = Scope::parse_list(&scopes.join(" "))?;
                    let member_id = member
                        .map(|m| {
                            m.parse::<MemberId>()
                                .with_context(|| format!("--member {m:?} is not a member id"))
                        })
                        .transpose()?;
                    let days = expires_in_days.unwrap_or(settings.token_ttl_days);
                    if !(1..=36_500).contains(&days) {
                        bail!("--expires-in-days must be from 1 to 36500");
                    }
                    let issued = tokens::create_token(
                        &db,
                        &signer,
                        tokens::CreateToken {
                            organization_id,
                            name: &name,
                            scopes: &scopes,
                            member_id,
                            ttl: chrono::Duration::days(days),
                        },
                        &AuditContext::cli(),
                    )?;
                    println!("{}", issued.token);
                }
                TokenCommand::List { org } => {
                    for t in tokens::list_tokens(&db, parse_org(&org)?)? {
                        let state = match (t.revoked_at, t.expires_at <= crate::domain::now()) {
                            (Some(_), _) => "revoked",
                            (None, true) => "expired",
                            (None, false) => "active",
                        };
                        println!(
                            "{}\t{}\t{}\t{}\t{}\texpires {}",
                            t.id,
                            t.name,
                            Scope::join(&t.scopes),
                            t.member_id.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
                            state,
                            t.expires_at.and_utc().to_rfc3339()
                        );
                    }
                }
                TokenCommand::Revoke { org, token_id } => {
                    let token_id: TokenId = token_id
                        .parse()
                        .with_context(|| format!("{token_id:?} is not a token id"))?;
                    tokens::revoke_token(&db, parse_org(&org)?, token_id, &AuditContext::cli())?;
                    eprintln!("roster: token {token_id} revoked");
                }
            }
            Ok(())
        }
    }
}

fn parse_org(raw: &str) -> anyhow::Result<OrganizationId> {
    raw.parse()
        .with_context(|| format!("--org {raw:?} is not an organization id"))
}

fn open_migrated(settings: &Settings) -> anyhow::Result<(storage::Database, crate::auth::TokenSigner)> {
    let (db, signer) = open_database_with(settings, &PoolSettings::single())?;
    storage::run_migrations(&mut *db.get()?)?;
    Ok((db, signer))
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        let state = app.state().clone();
        let s = &state.settings;
        tracing::info!(
            listen = %s.listen,
            database = %s.database_url,
            scim = %s.scim_base_url(),
            api = %s.api_base_url(),
            console = %format!("{}/console/", s.public_url()),
            "roster is serving"
        );
        if let Some((org, token)) = app.bootstrap() {
            announce_bootstrap(s, org, &token.token)?;
        }
        app.run_until_stopped().await.context("server error")
    })
}

/// Writes the first token to an owner-only file and says how to use it (never the token itself).
fn announce_bootstrap(settings: &Settings, org: &organizations::Organization, token: &str) -> anyhow::Result<()> {
    let path = settings.bootstrap_token_path();
    if path.exists() {
        // A token file left from an earlier database is useless now.
        std::fs::remove_file(&path).with_context(|| format!("cannot replace {}", path.display()))?;
    }
    std::fs::create_dir_all(&settings.data_dir)?;
    crate::auth::write_private_file(&path, token).map_err(anyhow::Error::msg)?;
    let api = settings.api_base_url();
    eprintln!(
        "\nroster: first start: created organization {name:?} ({id}) and an admin token.\n\
         \x20 token file (owner-only): {file}\n\
         \x20 SCIM base URL:           {scim}\n\
         \x20 native API base URL:     {api}\n\
         \x20 admin console:           {public}/console/\n\
         \x20   sign in there by pasting the token from the file (it carries org:admin)\n\
         \x20 try: curl -H \"Authorization: Bearer $(cat {file})\" {api}/token/\n",
        name = org.name,
        id = org.id,
        file = path.display(),
        scim = settings.scim_base_url(),
        public = settings.public_url(),
    );
    Ok(())
}
