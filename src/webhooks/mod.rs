//! Webhook deliveries: the worker that sends each endpoint its events in feed order, at least
//! once, signed the Standard Webhooks way, and the guard that keeps deliveries off loopback,
//! private and link-local addresses.
//!
//! Delivery never runs in a request: a slow or dead receiver delays only its own endpoint.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::service::events::{self, Attempt, DeliveryPolicy, Dispatch};
use crate::storage::Database;

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Deliver to loopback, private and link-local addresses too (tests, closed networks).
    pub allow_private_networks: bool,
    pub timeout: Duration,
    pub poll: Duration,
    pub policy: DeliveryPolicy,
}

/// Why a URL is refused as a webhook destination.
pub fn refusal_for(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("a loopback address")
            } else if v4.is_private() || (o[0] == 100 && (64..128).contains(&o[1])) {
                Some("a private address")
            } else if v4.is_link_local() {
                Some("a link-local address (cloud metadata services live there)")
            } else if v4.is_unspecified()
                || o[0] == 0
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
            {
                Some("not a public unicast address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refusal_for(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("a loopback address")
            } else if first & 0xfe00 == 0xfc00 {
                Some("a private (unique local) address")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("not a public unicast address")
            } else {
                None
            }
        }
    }
}

/// Checks a webhook URL: http(s), a host that resolves, and (unless allowed) only to public
/// addresses. Returns the URL and the address to connect to, so that the address checked is the
/// one used (no DNS rebinding between the check and the connection).
pub async fn check_destination(raw: &str, allow_private: bool) -> Result<(reqwest::Url, SocketAddr), String> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the URL must be http:// or https://".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not carry credentials (the signature authenticates deliveries)".into());
    }
    let host = url.host_str().ok_or("the URL has no host")?.to_owned();
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let host_for_lookup = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host_for_lookup.as_str(), port))
        .await
        .map_err(|e| format!("{host} does not resolve: {e}"))?
        .collect();
    let first = *addresses.first().ok_or_else(|| format!("{host} does not resolve"))?;
    if !allow_private {
        for a in &addresses {
            if let Some(why) = refusal_for(a.ip()) {
                return Err(format!(
                    "{host} resolves to {}, {why}; deliveries go to public addresses only",
                    a.ip()
                ));
            }
        }
    }
    Ok((url, first))
}

/// A connection to one endpoint for a round of deliveries: its address checked once, one client
/// (and its connections) reused for every event of the round.
pub struct Sender {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl Sender {
    /// Checks the endpoint's address and prepares a client that connects to that very address.
    /// Redirects are not followed; each delivery is bounded by the timeout.
    pub async fn for_endpoint(url: &str, settings: &WebhookSettings) -> Result<Sender, String> {
        let (url, address) = check_destination(url, settings.allow_private_networks).await?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .resolve(&host, address)
            .user_agent(concat!("roster-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the client: {e}"))?;
        Ok(Sender { client, url })
    }

    /// Sends one event, once.
    pub async fn send(&self, dispatch: &Dispatch) -> Attempt {
        let started = Instant::now();
        let body = dispatch.event.body().to_string();
        let id = dispatch.event.public_id();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = crate::domain::events::sign(&dispatch.secret, &id, timestamp, body.as_bytes());
        let response = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let (status_code, error) = match response {
            Ok(r) => {
                let status = r.status().as_u16();
                let error = (!r.status().is_success()).then(|| format!("the receiver answered {status}"));
                (Some(status), error)
            }
            Err(e) => (None, Some(describe(&e))),
        };
        Attempt {
            status_code,
            error,
            latency_ms: started.elapsed().as_millis() as i64,
        }
    }
}

/// Sends one event to one endpoint, once (a redelivery).
pub async fn send(dispatch: &Dispatch, settings: &WebhookSettings) -> Attempt {
    match Sender::for_endpoint(&dispatch.url, settings).await {
        Ok(sender) => sender.send(dispatch).await,
        Err(why) => Attempt {
            status_code: None,
            error: Some(why),
            latency_ms: 0,
        },
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the receiver did not answer in time".into()
    } else if e.is_connect() {
        "the receiver could not be reached".into()
    } else {
        format!("the delivery failed: {e}")
    }
}

/// Delivers due events, forever: each round claims the endpoints that are due (leased, so that
/// instances sharing a database never deliver one endpoint at the same time), sends each its next
/// events in order, and stops an endpoint at its first failure until its retry is due.
pub fn spawn_worker(db: Database, settings: WebhookSettings) {
    tokio::spawn(async move {
        let mut busy = false;
        loop {
            // A round that delivered a full batch goes on at once: a backlog drains at the
            // receivers' pace, not one batch per poll.
            if !busy {
                tokio::time::sleep(settings.poll).await;
            }
            busy = false;
            let (claim_db, policy) = (db.clone(), settings.policy);
            let work = match tokio::task::spawn_blocking(move || events::claim_work(&claim_db, &policy)).await {
                Ok(Ok(work)) => work,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "webhook deliveries: cannot read what is due");
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "webhook worker task failed");
                    continue;
                }
            };
            for (endpoint, due) in work {
                let full = due.len() as i64 >= settings.policy.batch;
                let ok = deliver_round(&db, &settings, &endpoint, due).await;
                busy |= ok && full;
                if ok {
                    let release_db = db.clone();
                    let _ = tokio::task::spawn_blocking(move || events::release(&release_db, &endpoint)).await;
                }
            }
        }
    });
}

/// Sends an endpoint its due events in order over one client; stops at the first failure (whose
/// retry is then scheduled). Whether every event went out.
async fn deliver_round(
    db: &Database,
    settings: &WebhookSettings,
    endpoint: &crate::storage::events::WebhookRow,
    due: Vec<events::Event>,
) -> bool {
    let Ok(organization_id) = endpoint.organization_id.parse() else {
        return false;
    };
    let sender = Sender::for_endpoint(&endpoint.url, settings).await;
    for event in due {
        let dispatch = Dispatch {
            organization_id,
            webhook_id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            secret: endpoint.secret.clone(),
            event,
            attempt: endpoint.attempts + 1,
        };
        let attempt = match &sender {
            Ok(sender) => sender.send(&dispatch).await,
            Err(why) => Attempt {
                status_code: None,
                error: Some(why.clone()),
                latency_ms: 0,
            },
        };
        let (record_db, endpoint_now, policy) = (db.clone(), endpoint.clone(), settings.policy);
        let recorded = tokio::task::spawn_blocking(move || {
            events::record_attempt(&record_db, &endpoint_now, &dispatch, &attempt, &policy)
        })
        .await;
        match recorded {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) | Err(_) => return false,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "webhook deliveries: cannot record an attempt");
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(refusal_for(refused.parse().unwrap()).is_some(), "{refused}");
        }
        for allowed in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
            assert!(refusal_for(allowed.parse().unwrap()).is_none(), "{allowed}");
        }
    }
}
