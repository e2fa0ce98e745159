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

/// Sends one event to one endpoint, once. Redirects are not followed; the whole attempt is
/// bounded by `timeout`.
pub async fn send(dispatch: &Dispatch, settings: &WebhookSettings) -> Attempt {
    let started = Instant::now();
    let finish = |status_code: Option<u16>, error: Option<String>| Attempt {
        status_code,
        error,
        latency_ms: started.elapsed().as_millis() as i64,
    };
    let (url, address) = match check_destination(&dispatch.url, settings.allow_private_networks).await {
        Ok(checked) => checked,
        Err(why) => return finish(None, Some(why)),
    };
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .resolve(&host, address)
        .user_agent(concat!("roster-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => return finish(None, Some(format!("cannot build the client: {e}"))),
    };
    let body = dispatch.event.body().to_string();
    let id = dispatch.event.public_id();
    let timestamp = chrono::Utc::now().timestamp();
    let signature = crate::domain::events::sign(&dispatch.secret, &id, timestamp, body.as_bytes());
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match response {
        Ok(r) => {
            let status = r.status().as_u16();
            let error = (!r.status().is_success()).then(|| format!("the receiver answered {status}"));
            finish(Some(status), error)
        }
        Err(e) => finish(None, Some(describe(&e))),
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
        loop {
            tokio::time::sleep(settings.poll).await;
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
                let mut ok = true;
                for event in due {
                    let Ok(organization_id) = endpoint.organization_id.parse() else {
                        break;
                    };
                    let dispatch = Dispatch {
                        organization_id,
                        webhook_id: endpoint.id.clone(),
                        url: endpoint.url.clone(),
                        secret: endpoint.secret.clone(),
                        event,
                        attempt: endpoint.attempts + 1,
                    };
                    let attempt = send(&dispatch, &settings).await;
                    let (record_db, endpoint_now, policy) = (db.clone(), endpoint.clone(), settings.policy);
                    let recorded = tokio::task::spawn_blocking(move || {
                        events::record_attempt(&record_db, &endpoint_now, &dispatch, &attempt, &policy)
                    })
                    .await;
                    match recorded {
                        Ok(Ok(true)) => {}
                        Ok(Ok(false)) => {
                            ok = false;
                            break;
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "webhook deliveries: cannot record an attempt");
                            ok = false;
                            break;
                        }
                        Err(_) => {
                            ok = false;
                            break;
                        }
                    }
                }
                if ok {
                    let release_db = db.clone();
                    let _ = tokio::task::spawn_blocking(move || events::release(&release_db, &endpoint)).await;
                }
            }
        }
    });
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
