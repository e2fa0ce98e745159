//! Events out (the feed, webhook endpoints and their deliveries) and events in (the product's own
//! events recorded in the audit log, logins among them).

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use super::{ServiceError, ServiceResult, stored};
use crate::domain::audit::{AuditContext, NewAuditEvent};
use crate::domain::events::{FeedPosition, new_signing_secret, parse_type_filter};
use crate::domain::{InvalidValue, MemberId, OrganizationId};
use crate::storage::events::{DeliveryRow, EventRow, WebhookChanges, WebhookRow};
use crate::storage::{self, Database, DbConnection, MemberChanges, StorageError};

// ---- The feed -------------------------------------------------------------------------------

/// One event as read from the feed or delivered to a webhook.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub event_type: String,
    pub occurred_at: NaiveDateTime,
    /// The event's body: its type, version, actor, the resource after the change, the changes.
    pub payload: Value,
    pub position: FeedPosition,
}

impl TryFrom<EventRow> for Event {
    type Error = StorageError;
    fn try_from(row: EventRow) -> Result<Self, Self::Error> {
        Ok(Event {
            id: row.id,
            position: row.position(),
            payload: row
                .public_payload()
                .map_err(|_| StorageError::Corrupt(format!("event {} payload", row.id)))?,
            event_type: row.event_type,
            occurred_at: row.created_at,
        })
    }
}

impl Event {
    /// The id receivers see (`webhook-id`): the same on every attempt, so they can drop repeats.
    pub fn public_id(&self) -> String {
        format!("evt_{}", self.id)
    }

    /// The body of a delivery and of a feed item.
    pub fn body(&self) -> Value {
        serde_json::json!({
            "id": self.public_id(),
            "type": self.event_type,
            "timestamp": self.occurred_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": self.payload,
        })
    }
}

/// A page of the feed and where to resume.
#[derive(Debug, Clone)]
pub struct FeedPage {
    pub events: Vec<Event>,
    /// After the last event returned (or where the reader was, when there is nothing new).
    pub next: FeedPosition,
}

pub fn read_feed(
    db: &Database,
    organization_id: OrganizationId,
    after: FeedPosition,
    types: &[String],
    limit: i64,
) -> ServiceResult<FeedPage> {
    let types = parse_type_filter(types)?;
    let mut conn = db.get()?;
    let rows = storage::events::read_events(&mut conn, organization_id, after, &types, limit.clamp(1, 1000))?;
    let events = rows.into_iter().map(Event::try_from).collect::<Result<Vec<_>, _>>()?;
    let next = events.last().map_or(after, |e| e.position);
    Ok(FeedPage { events, next })
}

// ---- Webhook endpoints -----------------------------------------------------------------------

/// A webhook endpoint as shown (never its secret).
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Since when deliveries have been failing, if they are.
    pub failing_since: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StorageError;
    fn try_from(row: WebhookRow) -> Result<Self, Self::Error> {
        Ok(Webhook {
            event_types: serde_json::from_str(&row.event_types)
                .map_err(|_| StorageError::Corrupt(format!("webhook {} event_types", row.id)))?,
            id: row.id,
            url: row.url,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn webhook_not_found(e: StorageError) -> ServiceError {
    match e {
        StorageError::NotFound => ServiceError::NotFound("webhook"),
        other => other.into(),
    }
}

fn audit(
    conn: &mut DbConnection,
    context: &AuditContext,
    organization_id: OrganizationId,
    name: &'static str,
    id: &str,
    now: NaiveDateTime,
) -> ServiceResult<()> {
    let event = NewAuditEvent::new(organization_id, name).with("webhook_id", id.to_owned());
    storage::insert_audit_event(conn, context, &event, now)?;
    Ok(())
}

/// Creates an endpoint (the URL already checked by the caller); returns it and its signing
/// secret, shown this once. It receives what happens from now on.
pub fn create_webhook(
    db: &Database,
    organization_id: OrganizationId,
    context: &AuditContext,
    url: &str,
    event_types: &[String],
) -> ServiceResult<(Webhook, String)> {
    let types = parse_type_filter(event_types)?;
    db.write(|conn| {
        let now = crate::domain::now();
        let start = storage::events::feed_end(conn, organization_id)?;
        let secret = new_signing_secret();
        let row = WebhookRow {
            id: uuid::Uuid::now_v7().to_string(),
            organization_id: organization_id.to_string(),
            url: url.to_owned(),
            secret: secret.clone(),
            event_types: Value::from(types.clone()).to_string(),
            enabled: true,
            disabled_reason: None,
            cursor_txid: start.txid,
            cursor_id: start.id,
            attempts: 0,
            failing_since: None,
            next_attempt_at: now,
            locked_until: None,
            created_at: now,
            updated_at: now,
        };
        storage::events::insert_webhook(conn, organization_id, &row)?;
        audit(conn, context, organization_id, "webhook.create", &row.id, now)?;
        Ok((Webhook::try_from(row)?, secret))
    })
}

pub fn list_webhooks(db: &Database, organization_id: OrganizationId) -> ServiceResult<Vec<Webhook>> {
    let mut conn = db.get()?;
    storage::events::list_webhooks(&mut conn, organization_id)?
        .into_iter()
        .map(|r| Webhook::try_from(r).map_err(ServiceError::from))
        .collect()
}

pub fn get_webhook(db: &Database, organization_id: OrganizationId, id: &str) -> ServiceResult<Webhook> {
    let mut conn = db.get()?;
    Ok(Webhook::try_from(
        storage::events::find_webhook(&mut conn, organization_id, id).map_err(webhook_not_found)?,
    )?)
}

/// What a `PATCH` of an endpoint changes.
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate {
    /// Already checked by the caller.
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// `true` also clears a failure streak (and a disablement): deliveries resume at once.
    pub enabled: Option<bool>,
    /// A new signing secret, returned once.
    pub rotate_secret: bool,
}

pub fn update_webhook(
    db: &Database,
    organization_id: OrganizationId,
    context: &AuditContext,
    id: &str,
    update: WebhookUpdate,
) -> ServiceResult<(Webhook, Option<String>)> {
    let types = update.event_types.as_deref().map(parse_type_filter).transpose()?;
    db.write(|conn| {
        let now = crate::domain::now();
        storage::events::find_webhook(conn, organization_id, id).map_err(webhook_not_found)?;
        let secret = update.rotate_secret.then(new_signing_secret);
        let mut changes = WebhookChanges {
            url: update.url.clone(),
            secret: secret.clone(),
            event_types: types.map(|t| Value::from(t).to_string()),
            enabled: update.enabled,
            ..WebhookChanges::default()
        };
        if update.enabled == Some(true) {
            changes.disabled_reason = Some(None);
            changes.failing_since = Some(None);
            changes.attempts = Some(0);
            changes.next_attempt_at = Some(now);
        }
        let row = storage::events::update_webhook(conn, organization_id, id, &changes, now)?;
        audit(conn, context, organization_id, "webhook.modify", id, now)?;
        Ok((Webhook::try_from(row)?, secret))
    })
}

pub fn delete_webhook(
    db: &Database,
    organization_id: OrganizationId,
    context: &AuditContext,
    id: &str,
) -> ServiceResult<()> {
    db.write(|conn| {
        let now = crate::domain::now();
        if !storage::events::delete_webhook(conn, organization_id, id)? {
            return Err(ServiceError::NotFound("webhook"));
        }
        audit(conn, context, organization_id, "webhook.delete", id, now)
    })
}

/// One delivery attempt as listed.
pub type Delivery = DeliveryRow;

pub fn list_deliveries(
    db: &Database,
    organization_id: OrganizationId,
    webhook_id: &str,
    limit: i64,
) -> ServiceResult<Vec<Delivery>> {
    let mut conn = db.get()?;
    storage::events::find_webhook(&mut conn, organization_id, webhook_id).map_err(webhook_not_found)?;
    Ok(storage::events::list_deliveries(
        &mut conn,
        organization_id,
        webhook_id,
        limit.clamp(1, 500),
    )?)
}

/// What sending one event to one endpoint needs.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub organization_id: OrganizationId,
    pub webhook_id: String,
    pub url: String,
    pub secret: String,
    pub event: Event,
    pub attempt: i32,
}

/// The event of an earlier delivery, to send again now (outside the endpoint's order: the
/// receiver asked for it).
pub fn redelivery(
    db: &Database,
    organization_id: OrganizationId,
    webhook_id: &str,
    delivery_id: &str,
) -> ServiceResult<Dispatch> {
    let mut conn = db.get()?;
    let webhook = storage::events::find_webhook(&mut conn, organization_id, webhook_id).map_err(webhook_not_found)?;
    let delivery = match storage::events::find_delivery(&mut conn, organization_id, delivery_id) {
        Ok(d) if d.endpoint_id == webhook.id => d,
        Ok(_) | Err(StorageError::NotFound) => return Err(ServiceError::NotFound("delivery")),
        Err(e) => return Err(e.into()),
    };
    let event = Event::try_from(storage::events::find_event(
        &mut conn,
        organization_id,
        delivery.event_id,
    )?)?;
    Ok(Dispatch {
        organization_id,
        webhook_id: webhook.id,
        url: webhook.url,
        secret: webhook.secret,
        event,
        attempt: delivery.attempt + 1,
    })
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

fn record(
    conn: &mut DbConnection,
    dispatch: &Dispatch,
    attempt: &Attempt,
    now: NaiveDateTime,
) -> ServiceResult<String> {
    let id = uuid::Uuid::now_v7().to_string();
    storage::events::insert_delivery(
        conn,
        &DeliveryRow {
            id: id.clone(),
            organization_id: dispatch.organization_id.to_string(),
            endpoint_id: dispatch.webhook_id.clone(),
            event_id: dispatch.event.id,
            event_type: dispatch.event.event_type.clone(),
            attempt: dispatch.attempt,
            status_code: attempt.status_code.map(i32::from),
            error: attempt.error.clone(),
            latency_ms: attempt.latency_ms,
            succeeded: attempt.succeeded(),
            created_at: now,
        },
    )?;
    Ok(id)
}

/// Records a redelivery's attempt (it does not move the endpoint's position).
pub fn record_redelivery(db: &Database, dispatch: &Dispatch, attempt: &Attempt) -> ServiceResult<String> {
    db.write(|conn| record(conn, dispatch, attempt, crate::domain::now()))
}

/// How the delivery worker retries and gives up.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPolicy {
    pub retry_base: chrono::Duration,
    /// An endpoint failing this long is disabled (and says why).
    pub disable_after: chrono::Duration,
    pub lease: chrono::Duration,
    pub batch: i64,
}

/// The endpoints due now, each with the next events it subscribes to, in order; leased to the
/// caller so that no other instance delivers them meanwhile.
pub fn claim_work(db: &Database, policy: &DeliveryPolicy) -> ServiceResult<Vec<(WebhookRow, Vec<Event>)>> {
    db.write(|conn| {
        let now = crate::domain::now();
        let endpoints = storage::events::claim_due_webhooks(conn, now, now + policy.lease, 20)?;
        let mut work = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let organization_id: OrganizationId =
                stored("webhook_endpoints.organization_id", &endpoint.organization_id)?;
            let types: Vec<String> = serde_json::from_str(&endpoint.event_types).unwrap_or_default();
            let after = FeedPosition {
                txid: endpoint.cursor_txid,
                id: endpoint.cursor_id,
            };
            let events = storage::events::read_events(conn, organization_id, after, &types, policy.batch)?
                .into_iter()
                .map(Event::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            work.push((endpoint, events));
        }
        Ok(work)
    })
}

/// Records an attempt of the endpoint's next event: a success moves its position past the event,
/// a failure schedules a retry with exponential backoff (and disables an endpoint failing for
/// longer than the policy allows).
pub fn record_attempt(
    db: &Database,
    endpoint: &WebhookRow,
    dispatch: &Dispatch,
    attempt: &Attempt,
    policy: &DeliveryPolicy,
) -> ServiceResult<bool> {
    db.write(|conn| {
        let now = crate::domain::now();
        record(conn, dispatch, attempt, now)?;
        let organization_id = dispatch.organization_id;
        let changes = if attempt.succeeded() {
            WebhookChanges {
                cursor_txid: Some(dispatch.event.position.txid),
                cursor_id: Some(dispatch.event.position.id),
                attempts: Some(0),
                failing_since: Some(None),
                ..WebhookChanges::default()
            }
        } else {
            let attempts = endpoint.attempts + 1;
            let failing_since = endpoint.failing_since.unwrap_or(now);
            let backoff = policy
                .retry_base
                .checked_mul(1 << (attempts - 1).clamp(0, 16))
                .unwrap_or(chrono::Duration::hours(1))
                .min(chrono::Duration::hours(1));
            let give_up = now - failing_since >= policy.disable_after;
            WebhookChanges {
                attempts: Some(attempts),
                failing_since: Some(Some(failing_since)),
                next_attempt_at: Some(now + backoff),
                locked_until: Some(None),
                enabled: give_up.then_some(false),
                disabled_reason: give_up.then(|| {
                    Some(format!(
                        "deliveries failed for {} hours; enable the endpoint again once it answers",
                        policy.disable_after.num_hours()
                    ))
                }),
                ..WebhookChanges::default()
            }
        };
        storage::events::update_webhook(conn, organization_id, &dispatch.webhook_id, &changes, now)
            .map_err(webhook_not_found)?;
        Ok(attempt.succeeded())
    })
}

/// Ends a round on an endpoint: unleased, due again at once (more events may be waiting) unless
/// a failure scheduled it later; with `skip_to`, its position moves past events it does not take.
pub fn release(db: &Database, endpoint: &WebhookRow) -> ServiceResult<()> {
    db.write(|conn| {
        let organization_id: OrganizationId = stored("webhook_endpoints.organization_id", &endpoint.organization_id)?;
        let changes = WebhookChanges {
            locked_until: Some(None),
            ..WebhookChanges::default()
        };
        match storage::events::update_webhook(conn, organization_id, &endpoint.id, &changes, crate::domain::now()) {
            Ok(_) | Err(StorageError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    })
}

// ---- Events in ------------------------------------------------------------------------------

/// One event the product records for a member.
#[derive(Debug, Clone)]
pub struct ProductEvent {
    /// The product's id for it: the same id twice records it once.
    pub event_id: String,
    pub event_name: String,
    pub member_id: MemberId,
    pub actor: Option<String>,
    pub timestamp: Option<NaiveDateTime>,
    pub metadata: Map<String, Value>,
}

/// What became of each recorded event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Created,
    /// An event with this id was recorded before.
    Duplicate,
}

/// Event names the product may use: dotted lower-case words (`pocket.modify`, `user.login`);
/// roster's own names cannot be forged.
pub fn check_event_name(name: &str) -> Result<(), InvalidValue> {
    let valid = (3..=100).contains(&name.len())
        && name.contains('.')
        && name.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if !valid {
        return Err(InvalidValue::new(
            "event_name",
            "dotted lower-case words, e.g. pocket.modify or user.login (at most 100 characters)",
        ));
    }
    if [
        "team.",
        "team_member.",
        "group.",
        "api_token.",
        "audit_log.",
        "webhook.",
    ]
    .iter()
    .any(|p| name.starts_with(p))
    {
        return Err(InvalidValue::new(
            "event_name",
            "this name belongs to roster's own events",
        ));
    }
    Ok(())
}

/// The login event: it also sets the member's `last_login`.
pub const LOGIN_EVENT: &str = "user.login";

/// Records the product's events, all or nothing: a bad item is named by its position and nothing
/// is written. Events about members of other organizations do not exist here (404).
pub fn record_product_events(
    db: &Database,
    organization_id: OrganizationId,
    context: &AuditContext,
    items: &[ProductEvent],
) -> Result<Vec<Recorded>, super::team::BatchFailure> {
    use super::team::BatchFailure;
    db.write(|conn| {
        let now = crate::domain::now();
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let one = |conn: &mut DbConnection| -> ServiceResult<Recorded> {
                let member = match storage::find_member(conn, organization_id, item.member_id) {
                    Ok(m) => m,
                    Err(StorageError::NotFound) => return Err(ServiceError::NotFound("member")),
                    Err(e) => return Err(e.into()),
                };
                let at = item.timestamp.unwrap_or(now);
                let mut metadata = item.metadata.clone();
                metadata.insert("member_id".into(), Value::String(member.id.clone()));
                let inserted = storage::insert_product_event(
                    conn,
                    organization_id,
                    &storage::ProductAuditEvent {
                        actor: item.actor.clone().unwrap_or_else(|| context.actor.clone()),
                        context,
                        event_name: &item.event_name,
                        subject_member_id: item.member_id,
                        metadata: &metadata,
                        source_event_id: &item.event_id,
                        at,
                    },
                )?;
                if !inserted {
                    return Ok(Recorded::Duplicate);
                }
                if item.event_name == LOGIN_EVENT && member.last_login.is_none_or(|l| l < at) {
                    let changes = MemberChanges {
                        last_login: Some(Some(at)),
                        ..MemberChanges::default()
                    };
                    storage::update_member(conn, organization_id, item.member_id, &changes, now)?;
                }
                Ok(Recorded::Created)
            };
            out.push(one(conn).map_err(BatchFailure::at(index, &item.event_id))?);
        }
        Ok(out)
    })
}

/// Where an export page starts: after the event at this time with this id.
pub type ExportPosition = (NaiveDateTime, String);

/// One page of an audit export: the events, and where the next page starts (none after the last).
pub fn audit_page(
    db: &Database,
    organization_id: OrganizationId,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    after: Option<ExportPosition>,
    limit: i64,
) -> ServiceResult<(Vec<super::team::AuditEvent>, Option<ExportPosition>)> {
    let mut conn = db.get()?;
    let rows = storage::audit_events_after(&mut conn, organization_id, from, to, after, limit)?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| (r.created_at, r.id.clone())))
        .flatten();
    let events = rows
        .into_iter()
        .map(super::team::AuditEvent::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((events, next))
}
