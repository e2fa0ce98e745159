//! Change events as the product sees them: their types, a position in the feed, and the Standard
//! Webhooks signature of a delivery.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::InvalidValue;

/// Every event type, for documentation and for validating subscriptions.
pub const EVENT_TYPES: &[&str] = &[
    "member.invited",
    "member.created",
    "member.accepted",
    "member.activated",
    "member.reactivated",
    "member.deactivated",
    "member.suspended",
    "member.blocked",
    "member.role_changed",
    "member.profile_updated",
    "member.added",
    "member.removed",
    "invitation.sent",
    "invitation.resent",
    "invitation.cancelled",
    "invitation.undeliverable",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.role_changed",
    "organization.renamed",
    "organization.deleted",
    "organization.without_administrator",
    "token.created",
    "token.revoked",
];

/// A subscription's type filter: exact types, or a whole family (`member.*`); `*` alone is all.
pub fn parse_type_filter(raw: &[String]) -> Result<Vec<String>, InvalidValue> {
    let mut out = Vec::new();
    for t in raw.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if t == "*" {
            return Ok(Vec::new());
        }
        let known = match t.strip_suffix(".*") {
            Some(family) => EVENT_TYPES.iter().any(|e| e.split('.').next() == Some(family)),
            None => EVENT_TYPES.contains(&t),
        };
        if !known {
            return Err(InvalidValue::new(
                "event_types",
                format!("{t:?} is not an event type (see the README for the list; `member.*` takes a family)"),
            ));
        }
        out.push(t.to_owned());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Where a reader of the feed is: after the event at `(txid, id)`. `txid` is the writing
/// transaction on PostgreSQL (0 on SQLite); see `storage::events`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    pub txid: i64,
    pub id: i64,
}

impl FeedPosition {
    /// The opaque cursor a client resumes from.
    pub fn cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.txid, self.id))
    }

    pub fn from_cursor(cursor: &str) -> Result<Self, InvalidValue> {
        let bad = || InvalidValue::new("after", "not a cursor this server issued");
        let text = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(text).map_err(|_| bad())?;
        let (txid, id) = text.split_once('.').ok_or_else(bad)?;
        Ok(Self {
            txid: txid.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// A webhook endpoint's signing secret: `whsec_` and 24 random bytes in base64, as the Standard
/// Webhooks libraries expect.
pub fn new_signing_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` header of a delivery (Standard Webhooks, v1): the HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under the secret's bytes, in base64.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap_or_else(|_| secret.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let p = FeedPosition { txid: 57014, id: 12 };
        assert_eq!(FeedPosition::from_cursor(&p.cursor()).unwrap(), p);
        assert!(FeedPosition::from_cursor("nope").is_err());
        assert!(FeedPosition::from_cursor(&URL_SAFE_NO_PAD.encode("1.x")).is_err());
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let signature = sign(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn type_filters() {
        assert_eq!(parse_type_filter(&["*".into()]).unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_type_filter(&["member.*".into(), "group.created".into()]).unwrap(),
            ["group.created", "member.*"]
        );
        assert!(parse_type_filter(&["member.exploded".into()]).is_err());
    }
}
