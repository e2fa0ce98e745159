//! The signed-in pages: overview, people, a member (with its audit log), groups, connecting an
//! identity provider, and the provisioning activity. Each calls the native API's use cases with
//! the native API's permissions.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::views::{Choice, Layout, MemberView, role_choices, status_choices, when, when_opt};
use super::{ConsoleError, CsrfForm, Flash, Signed, blocking, charts, html, see_other, with_flash_cleared};
use crate::api::AppState;
use crate::api::native::wire::{parse_list, parse_sort, parse_time};
use crate::domain::query::{Condition, ListQuery, PageStart};
use crate::domain::team::Lifecycle;
use crate::domain::{Email, GroupId, MemberId, MemberKind, MemberStatus, Permission, Role, Scope, TokenId};
use crate::service::organizations::Caller;
use crate::service::team::{self, Invite, MemberQuery, MemberUpdate, PageRequest, TimeRange};
use crate::service::{console, groups, organizations, tokens};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(to_overview))
        .route("/", web::get().to(overview))
        .route("/people", web::get().to(people))
        .route("/people/invite", web::post().to(invite))
        .route("/people/{member_id}", web::get().to(member))
        .route("/people/{member_id}/{action}", web::post().to(member_action))
        .route("/groups", web::get().to(group_list))
        .route("/groups/{group_id}", web::get().to(group))
        .route("/connect", web::get().to(connect))
        .route("/connect/tokens", web::post().to(create_scim_token))
        .route("/connect/tokens/{token_id}/revoke", web::post().to(revoke_scim_token))
        .route("/activity", web::get().to(activity));
}

/// Renders a signed-in page, consuming the message it shows.
fn render(signed: &Signed, page: &impl Template) -> HttpResponse {
    with_flash_cleared(html(StatusCode::OK, page), signed.flash.is_some())
}

fn caller(signed: &Signed) -> Caller {
    Caller {
        organization_id: signed.identity.organization_id,
        actor: signed.identity.actor.clone(),
        user_id: None,
        context: signed.audit(),
    }
}

fn member_id(raw: &str) -> Result<MemberId, ConsoleError> {
    raw.parse().map_err(|_| ConsoleError::NotFound("member"))
}

async fn to_overview() -> HttpResponse {
    see_other("/console/", None)
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    layout: Layout,
    members_total: i64,
    by_status_chart: String,
    by_role_chart: String,
    by_status: Vec<(&'static str, i64)>,
    by_role: Vec<(&'static str, i64)>,
    pending_invitations: i64,
    expired_invitations: i64,
    undeliverable_invitations: i64,
    groups: i64,
    role_bound_groups: i64,
    active_administrators: i64,
    last_provisioning: String,
    scim_succeeded: i64,
    scim_failed: i64,
    ignored_roles: Vec<(String, i64)>,
}

async fn overview(state: web::Data<AppState>, signed: Signed) -> Result<HttpResponse, ConsoleError> {
    signed.require(Permission::ReadTeam)?;
    let (db, caller, org) = (state.db.clone(), caller(&signed), signed.identity.organization_id);
    let (summary, hourly) = blocking(move || {
        let summary = organizations::organization_summary(&db, &caller, org)?;
        let hourly = console::activity_per_hour(&db, org, 24)?;
        Ok((summary, hourly))
    })
    .await?;
    let by_status: Vec<(&'static str, i64)> = summary.members_by_status.into_iter().collect();
    let by_role: Vec<(&'static str, i64)> = summary.members_by_role.into_iter().collect();
    let page = OverviewPage {
        layout: signed.layout("overview"),
        members_total: summary.members_total,
        by_status_chart: charts::bars("Members by status", &by_status),
        by_role_chart: charts::bars("Members by role", &by_role),
        by_status,
        by_role,
        pending_invitations: summary.pending_invitations,
        expired_invitations: summary.expired_invitations,
        undeliverable_invitations: summary.undeliverable_invitations,
        groups: summary.groups,
        role_bound_groups: summary.role_bound_groups,
        active_administrators: summary.active_administrators,
        last_provisioning: when_opt(summary.last_provisioning_at),
        scim_succeeded: hourly.iter().map(|h| h.1).sum(),
        scim_failed: hourly.iter().map(|h| h.2).sum(),
        ignored_roles: summary.ignored_role_values.into_iter().collect(),
    };
    Ok(render(&signed, &page))
}

#[derive(Deserialize, Default)]
struct PeopleParams {
    search: Option<String>,
    status: Option<String>,
    role: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "console/people.html")]
struct PeoplePage {
    layout: Layout,
    members: Vec<MemberView>,
    total: i64,
    page: i64,
    pages: i64,
    search: String,
    statuses: Vec<Choice>,
    roles: Vec<Choice>,
    invite_roles: Vec<Choice>,
    sorts: Vec<(&'static str, &'static str, bool)>,
    descending: bool,
    previous: Option<String>,
    next: Option<String>,
    may_write: bool,
}

const PEOPLE_PAGE_SIZE: i64 = 25;

async fn people(
    state: web::Data<AppState>,
    signed: Signed,
    params: web::Query<PeopleParams>,
) -> Result<HttpResponse, ConsoleError> {
    signed.require(Permission::ReadTeam)?;
    let params = params.into_inner();
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let (status, role, sort, order) = (
        nonempty(&params.status),
        nonempty(&params.role),
        nonempty(&params.sort),
        nonempty(&params.order),
    );
    let invalid = |e: crate::domain::InvalidValue| ConsoleError::Invalid(e.to_string());
    let query = MemberQuery {
        statuses: parse_list(status.as_deref()).map_err(invalid)?,
        roles: parse_list(role.as_deref()).map_err(invalid)?,
        sort: parse_sort(sort.as_deref(), order.as_deref()).map_err(invalid)?,
        search: nonempty(&params.search),
        kind: Some(MemberKind::Person),
    };
    let page_number = params.page.unwrap_or(1).max(1);
    let page_request = PageRequest::new(Some(page_number), Some(PEOPLE_PAGE_SIZE)).map_err(invalid)?;
    let (db, org, context) = (state.db.clone(), signed.identity.organization_id, signed.audit());
    let page = blocking(move || Ok(team::list_members(&db, org, &query, page_request, &context)?)).await?;
    let pages = ((page.total + PEOPLE_PAGE_SIZE - 1) / PEOPLE_PAGE_SIZE).max(1);
    let link = |n: i64| {
        let pairs = [
            ("search", params.search.clone().unwrap_or_default()),
            ("status", status.clone().unwrap_or_default()),
            ("role", role.clone().unwrap_or_default()),
            ("sort", sort.clone().unwrap_or_default()),
            ("order", order.clone().unwrap_or_default()),
            ("page", n.to_string()),
        ];
        format!(
            "/console/people?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    };
    let sort_field = sort.as_deref().unwrap_or("added_date");
    let view = PeoplePage {
        layout: signed.layout("people"),
        members: page.items.iter().map(MemberView::from).collect(),
        total: page.total,
        page: page_number,
        pages,
        search: params.search.clone().unwrap_or_default(),
        statuses: status_choices(status.as_deref()),
        roles: role_choices(role.as_deref()),
        invite_roles: role_choices(Some(Role::Viewer.as_str())),
        sorts: [
            ("added_date", "date added"),
            ("first_name", "first name"),
            ("last_name", "last name"),
            ("email", "e-mail"),
            ("role", "role"),
            ("status", "status"),
            ("last_login", "last login"),
        ]
        .into_iter()
        .map(|(value, label)| (value, label, value == sort_field))
        .collect(),
        descending: order.as_deref() == Some("desc"),
        previous: (page_number > 1).then(|| link(page_number - 1)),
        next: (page_number < pages).then(|| link(page_number + 1)),
        may_write: signed.identity.actor.may(Permission::WriteTeam),
    };
    Ok(render(&signed, &view))
}

#[derive(Deserialize)]
struct InviteForm {
    csrf: String,
    first_name: String,
    last_name: String,
    email: String,
    role: String,
}

async fn invite(
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    signed.require(Permission::WriteTeam)?;
    let form = form.into_inner();
    let parsed = Email::parse(form.email.trim()).and_then(|email| Ok((email, form.role.parse::<Role>()?)));
    let (email, role) = match parsed {
        Ok(p) => p,
        Err(e) => return Ok(see_other("/console/people", Some(Flash::error(e.to_string())))),
    };
    let invite = Invite {
        first_name: form.first_name,
        last_name: form.last_name,
        email,
        phone_number: None,
        role,
    };
    let policy = state.invitation_policy();
    let (db, org, actor, context) = (
        state.db.clone(),
        signed.identity.organization_id,
        signed.identity.actor.clone(),
        signed.audit(),
    );
    let result = blocking(move || Ok(team::invite_member(&db, org, invite, &actor, &context, policy))).await?;
    Ok(match result {
        Ok(m) => see_other(
            &format!("/console/people/{}", m.id),
            Some(Flash::ok(format!(
                "Invited {}. The invitation e-mail is on its way.",
                m.email.as_ref().map(|e| e.as_str()).unwrap_or_default()
            ))),
        ),
        Err(e) => see_other("/console/people", Some(rule_error(e)?)),
    })
}

/// A refusal by the domain's rules, as a message for the page; anything else is an error page.
fn rule_error(e: crate::service::ServiceError) -> Result<Flash, ConsoleError> {
    match ConsoleError::from(e) {
        ConsoleError::Invalid(m) | ConsoleError::Forbidden(m) => Ok(Flash::error(m)),
        other => Err(other),
    }
}

#[derive(Deserialize, Default)]
struct AuditParams {
    from: Option<String>,
    to: Option<String>,
    page: Option<i64>,
}

struct AuditRow {
    when: String,
    event: String,
    actor: String,
    channel: String,
    details: String,
}

#[derive(Template)]
#[template(path = "console/member.html")]
struct MemberPage {
    layout: Layout,
    member: MemberView,
    roles: Vec<Choice>,
    may_write: bool,
    may_read_audit: bool,
    audit: Vec<AuditRow>,
    audit_total: i64,
    from: String,
    to: String,
    next: Option<String>,
    previous: Option<String>,
}

async fn member(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ConsoleError> {
    signed.require(Permission::ReadTeam)?;
    let id = member_id(&path)?;
    let params = params.into_inner();
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let (from, to) = (nonempty(&params.from), nonempty(&params.to));
    let invalid = |e: crate::domain::InvalidValue| ConsoleError::Invalid(e.to_string());
    let range = TimeRange::new(
        from.as_deref()
            .map(|v| parse_time("from", v))
            .transpose()
            .map_err(invalid)?,
        to.as_deref()
            .map(|v| parse_time("to", v))
            .transpose()
            .map_err(invalid)?,
    )
    .map_err(invalid)?;
    let page_number = params.page.unwrap_or(1).max(1);
    let page = PageRequest::new(Some(page_number), Some(50)).map_err(invalid)?;
    let may_read_audit = signed.identity.actor.may(Permission::ReadAudit);
    let (db, org, context) = (state.db.clone(), signed.identity.organization_id, signed.audit());
    let (found, audit) = blocking(move || {
        let found = team::get_member(&db, org, id, &context)?;
        let audit = if may_read_audit {
            Some(team::member_audit_log(&db, org, id, range, page, &context)?)
        } else {
            None
        };
        Ok((found, audit))
    })
    .await?;
    let (audit, audit_total) = match audit {
        Some(p) => (p.items, p.total),
        None => (Vec::new(), 0),
    };
    let link = |n: i64| {
        let pairs = [
            ("from", from.clone().unwrap_or_default()),
            ("to", to.clone().unwrap_or_default()),
            ("page", n.to_string()),
        ];
        format!(
            "/console/people/{id}?{}#audit",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    };
    let view = MemberPage {
        layout: signed.layout("people"),
        roles: role_choices(Some(found.role.as_str())),
        member: MemberView::from(&found),
        may_write: signed.identity.actor.may(Permission::WriteTeam),
        may_read_audit,
        audit: audit
            .into_iter()
            .map(|e| {
                let channel = e
                    .metadata
                    .get("channel")
                    .and_then(|v| v.as_str())
                    .unwrap_or(e.source.as_str())
                    .to_owned();
                let details = e
                    .metadata
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "ip_address" | "user_agent" | "token_hash" | "channel"))
                    .map(|(k, v)| match v {
                        serde_json::Value::String(s) => format!("{k}: {s}"),
                        other => format!("{k}: {other}"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                AuditRow {
                    when: e.timestamp.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                    event: e.event_name,
                    actor: e.actor,
                    channel,
                    details,
                }
            })
            .collect(),
        audit_total,
        from: from.clone().unwrap_or_default(),
        to: to.clone().unwrap_or_default(),
        next: (page_number * 50 < audit_total).then(|| link(page_number + 1)),
        previous: (page_number > 1).then(|| link(page_number - 1)),
    };
    Ok(render(&signed, &view))
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    role: Option<String>,
    reason: Option<String>,
}

async fn member_action(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    signed.require(Permission::WriteTeam)?;
    let (raw_id, action) = path.into_inner();
    let id = member_id(&raw_id)?;
    let form = form.into_inner();
    let policy = state.invitation_policy();
    let (db, org, actor, context) = (
        state.db.clone(),
        signed.identity.organization_id,
        signed.identity.actor.clone(),
        signed.audit(),
    );
    let role = match action.as_str() {
        "role" => Some(
            form.role
                .as_deref()
                .unwrap_or_default()
                .parse::<Role>()
                .map_err(|e| ConsoleError::Invalid(e.to_string()))?,
        ),
        _ => None,
    };
    let (done, back_to_list): (String, bool) = match action.as_str() {
        "role" => (
            format!("Role changed to {}.", role.map(Role::as_str).unwrap_or_default()),
            false,
        ),
        "resend" => ("A new invitation is on its way.".into(), false),
        "cancel" => ("The invitation was cancelled.".into(), true),
        "suspend" => ("Suspended.".into(), false),
        "block" => ("Blocked.".into(), false),
        "activate" => ("Activated.".into(), false),
        "deactivate" => ("Deactivated.".into(), false),
        "reactivate" => ("Reactivated.".into(), false),
        _ => return Err(ConsoleError::NotFound("action")),
    };
    let reason = form.reason;
    let result = blocking(move || {
        Ok(match action.as_str() {
            "role" => {
                team::update_member(&db, org, id, MemberUpdate { role, status: None }, &actor, &context).map(drop)
            }
            "resend" => team::resend_invitation(&db, org, id, &actor, &context, policy).map(drop),
            "cancel" => team::cancel_invitation(&db, org, id, &context),
            "suspend" => team::change_lifecycle(&db, org, id, Lifecycle::Suspend, reason, &actor, &context).map(drop),
            "block" => team::change_lifecycle(&db, org, id, Lifecycle::Block, reason, &actor, &context).map(drop),
            "activate" => team::change_lifecycle(&db, org, id, Lifecycle::Activate, reason, &actor, &context).map(drop),
            "deactivate" => team::deactivate_member(&db, org, id, &actor, &context).map(drop),
            _ => team::update_member(
                &db,
                org,
                id,
                MemberUpdate {
                    role: None,
                    status: Some(MemberStatus::Active),
                },
                &actor,
                &context,
            )
            .map(drop),
        })
    })
    .await?;
    let page = if back_to_list {
        "/console/people".to_owned()
    } else {
        format!("/console/people/{id}")
    };
    Ok(match result {
        Ok(()) => see_other(&page, Some(Flash::ok(done))),
        Err(e) => see_other(&format!("/console/people/{id}"), Some(rule_error(e)?)),
    })
}

struct GroupView {
    id: String,
    name: String,
    external_id: String,
    role: String,
    members: usize,
}

#[derive(Template)]
#[template(path = "console/groups.html")]
struct GroupsPage {
    layout: Layout,
    groups: Vec<GroupView>,
    total: i64,
}

async fn group_list(state: web::Data<AppState>, signed: Signed) -> Result<HttpResponse, ConsoleError> {
    signed.require(Permission::ReadTeam)?;
    let (db, org) = (state.db.clone(), signed.identity.organization_id);
    let (records, total) = blocking(move || {
        let query = ListQuery {
            condition: Condition::Always,
            sort: None,
            start: PageStart::Offset(0),
            limit: 500,
        };
        Ok(groups::list_groups(&db, org, &query, true)?)
    })
    .await?;
    let view = GroupsPage {
        layout: signed.layout("groups"),
        groups: records
            .into_iter()
            .map(|r| GroupView {
                id: r.group.id.to_string(),
                name: r.group.display_name.clone(),
                external_id: r.group.external_id.clone().unwrap_or_default(),
                role: r.role.map(|x| x.as_str().to_owned()).unwrap_or_else(|| "none".into()),
                members: r.members.as_ref().map(Vec::len).unwrap_or(0),
            })
            .collect(),
        total,
    };
    Ok(render(&signed, &view))
}

#[derive(Template)]
#[template(path = "console/group.html")]
struct GroupPage {
    layout: Layout,
    group: GroupView,
    members: Vec<(String, String)>,
}

async fn group(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    signed.require(Permission::ReadTeam)?;
    let id: GroupId = path.parse().map_err(|_| ConsoleError::NotFound("group"))?;
    let (db, org) = (state.db.clone(), signed.identity.organization_id);
    let record = blocking(move || Ok(groups::get_group(&db, org, id, true)?)).await?;
    let members = record.members.clone().unwrap_or_default();
    let view = GroupPage {
        layout: signed.layout("groups"),
        group: GroupView {
            id: record.group.id.to_string(),
            name: record.group.display_name.clone(),
            external_id: record.group.external_id.clone().unwrap_or_default(),
            role: record
                .role
                .map(|x| x.as_str().to_owned())
                .unwrap_or_else(|| "none".into()),
            members: members.len(),
        },
        members,
    };
    Ok(render(&signed, &view))
}

struct TokenView {
    id: String,
    name: String,
    created: String,
    expires: String,
    last_used: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "console/connect.html")]
struct ConnectPage {
    layout: Layout,
    scim_url: String,
    organization_id: String,
    tokens: Vec<TokenView>,
    new_token: Option<String>,
    may_manage: bool,
    group_roles: Vec<(String, &'static str)>,
    role_aliases: Vec<(String, &'static str)>,
    token_days: i64,
}

async fn connect_page(
    state: &AppState,
    signed: &Signed,
    new_token: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    signed.require(Permission::ReadTeam)?;
    let may_manage = signed.identity.actor.may(Permission::ManageOrganization);
    let (db, org) = (state.db.clone(), signed.identity.organization_id);
    let tokens = blocking(move || Ok(tokens::list_tokens(&db, org)?)).await?;
    let settings = &state.settings;
    let view = ConnectPage {
        layout: signed.layout("connect"),
        scim_url: format!("{}/scim/v2", settings.public_url()),
        organization_id: signed.identity.organization_id.to_string(),
        tokens: tokens
            .into_iter()
            .filter(|t| t.scopes.contains(&Scope::Scim) && t.member_id.is_none())
            .map(|t| TokenView {
                id: t.id.to_string(),
                name: t.name,
                created: when(t.created_at),
                expires: when(t.expires_at),
                last_used: when_opt(t.last_used_at),
                revoked: t.revoked_at.is_some(),
            })
            .collect(),
        new_token,
        may_manage,
        group_roles: settings
            .group_roles
            .iter()
            .map(|(name, role)| (name.clone(), role.as_str()))
            .collect(),
        role_aliases: settings
            .role_aliases
            .iter()
            .map(|(name, role)| (name.clone(), role.as_str()))
            .collect(),
        token_days: settings.token_ttl_days,
    };
    Ok(with_flash_cleared(html(StatusCode::OK, &view), signed.flash.is_some()))
}

async fn connect(state: web::Data<AppState>, signed: Signed) -> Result<HttpResponse, ConsoleError> {
    connect_page(&state, &signed, None).await
}

#[derive(Deserialize)]
struct NewTokenForm {
    csrf: String,
    name: String,
}

/// Creates a SCIM token and shows it once, on the page that answers the form.
async fn create_scim_token(
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Form<NewTokenForm>,
) -> Result<HttpResponse, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    signed.require(Permission::ManageOrganization)?;
    let name = form.into_inner().name;
    let (db, signer, org, context) = (
        state.db.clone(),
        state.signer.clone(),
        signed.identity.organization_id,
        signed.audit(),
    );
    let ttl = chrono::Duration::days(state.settings.token_ttl_days);
    let issued = blocking(move || {
        Ok(tokens::create_token(
            &db,
            &signer,
            tokens::CreateToken {
                organization_id: org,
                name: &name,
                scopes: &[Scope::Scim],
                member_id: None,
                ttl,
            },
            &context,
        ))
    })
    .await?;
    match issued {
        Ok(issued) => connect_page(&state, &signed, Some(issued.token)).await,
        Err(e) => Ok(see_other("/console/connect", Some(rule_error(e)?))),
    }
}

async fn revoke_scim_token(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    signed.check_csrf(&form.csrf)?;
    signed.require(Permission::ManageOrganization)?;
    let token_id: TokenId = path.parse().map_err(|_| ConsoleError::NotFound("token"))?;
    let (db, org, context) = (state.db.clone(), signed.identity.organization_id, signed.audit());
    let result = blocking(move || Ok(tokens::revoke_token(&db, org, token_id, &context))).await?;
    Ok(match result {
        Ok(()) => see_other(
            "/console/connect",
            Some(Flash::ok("The token is revoked: requests that carry it now get 401.")),
        ),
        Err(e) => see_other("/console/connect", Some(rule_error(e)?)),
    })
}

#[derive(Deserialize, Default)]
struct ActivityParams {
    outcome: Option<String>,
    before: Option<i64>,
}

struct ActivityView {
    when: String,
    client: String,
    operation: String,
    resource: String,
    request: String,
    status: i32,
    succeeded: bool,
    scim_type: String,
    detail: String,
    duration_ms: i32,
}

#[derive(Template)]
#[template(path = "console/activity.html")]
struct ActivityPage {
    layout: Layout,
    outcome: String,
    rows: Vec<ActivityView>,
    chart: String,
    succeeded: i64,
    failed: i64,
    older: Option<String>,
    retention_days: i64,
    /// The chart's numbers as text: the hours that saw requests (hour, succeeded, failed).
    busy_hours: Vec<(String, i64, i64)>,
}

const ACTIVITY_HOURS: i64 = 72;

async fn activity(
    state: web::Data<AppState>,
    signed: Signed,
    params: web::Query<ActivityParams>,
) -> Result<HttpResponse, ConsoleError> {
    signed.require(Permission::ReadAudit)?;
    let params = params.into_inner();
    let outcome = params.outcome.clone().unwrap_or_default();
    let succeeded = match outcome.as_str() {
        "success" => Some(true),
        "failure" => Some(false),
        _ => None,
    };
    let (db, org) = (state.db.clone(), signed.identity.organization_id);
    let before = params.before;
    let ((rows, next), hourly) = blocking(move || {
        Ok((
            console::list_activity(&db, org, succeeded, before, 100)?,
            console::activity_per_hour(&db, org, ACTIVITY_HOURS)?,
        ))
    })
    .await?;
    let (ok, failed) = hourly.iter().fold((0, 0), |(a, b), h| (a + h.1, b + h.2));
    let view = ActivityPage {
        layout: signed.layout("activity"),
        chart: charts::hourly(
            &format!("SCIM requests per hour over the last {ACTIVITY_HOURS} hours: {ok} succeeded, {failed} failed"),
            &hourly,
        ),
        succeeded: ok,
        failed,
        busy_hours: hourly
            .iter()
            .filter(|(_, ok, failed)| ok + failed > 0)
            .map(|(hour, ok, failed)| (hour.format("%Y-%m-%d %H:00 UTC").to_string(), *ok, *failed))
            .collect(),
        rows: rows
            .into_iter()
            .map(|a| ActivityView {
                when: a.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                client: a.client,
                operation: match &a.resource_type {
                    Some(t) => format!("{} {t}", a.operation),
                    None => a.operation.clone(),
                },
                resource: a.resource_id.unwrap_or_default(),
                request: format!("{} {}", a.method, a.path),
                status: a.status,
                succeeded: a.succeeded,
                scim_type: a.scim_type.unwrap_or_default(),
                detail: a.detail.unwrap_or_default(),
                duration_ms: a.duration_ms,
            })
            .collect(),
        older: next.map(|id| {
            format!(
                "/console/activity?{}",
                serde_urlencoded::to_string([("outcome", outcome.clone()), ("before", id.to_string())])
                    .unwrap_or_default()
            )
        }),
        outcome,
        retention_days: state.settings.activity_retention.num_days(),
    };
    Ok(render(&signed, &view))
}
