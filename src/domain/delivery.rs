//! Telling other systems and people: the life of one delivery (a webhook
//! call or an e-mail), its retry schedule, and the webhook signing secret.

use super::kinds::vocabulary;
use base64::Engine;
use chrono::Duration;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use strum::{EnumString, IntoStaticStr, VariantArray};

vocabulary!(
    /// `pending` until it succeeds (`delivered`) or its retries run out (`failed`).
    DeliveryStatus { Pending, Delivered, Failed }
);

/// Seconds to wait after each failed attempt: the Standard Webhooks
/// schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h), about
/// three days in all; after the last, the delivery has `failed`.
const RETRY_AFTER: [i64; 9] = [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400];

/// When to try again after `attempts` failed attempts, with `jitter` in
/// −10..=10 percent (drawn by the caller, so this stays a pure rule);
/// `None` when the schedule is exhausted.
pub fn retry_after(attempts: u32, jitter_percent: i64) -> Option<Duration> {
    let base = *RETRY_AFTER.get(attempts.checked_sub(1)? as usize)?;
    let jitter = jitter_percent.clamp(-10, 10);
    Some(Duration::seconds(base * (100 + jitter) / 100))
}

/// How long an endpoint may fail before it is disabled.
pub const DISABLE_AFTER_FAILING: Duration = Duration::days(3);

/// A webhook signing secret: `whsec_` and the base64 of 32 random bytes
/// (Standard Webhooks asks for 24 to 64).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

impl SigningSecret {
    pub fn generate() -> SigningSecret {
        let bytes: [u8; 32] = rand::random();
        SigningSecret(format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// A stored secret; `None` if it is not one this service made.
    pub fn from_stored(s: &str) -> Option<SigningSecret> {
        let key = s.strip_prefix("whsec_")?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(key).ok()?;
        (24..=64).contains(&bytes.len()).then(|| SigningSecret(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn key(&self) -> Vec<u8> {
        let encoded = self.0.strip_prefix("whsec_").unwrap_or(&self.0);
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_default()
    }

    /// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, as Standard Webhooks signs.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key()).expect("HMAC accepts any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let signature = mac.finalize().into_bytes();
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_standard_webhooks_test_vector() {
        let secret = SigningSecret::from_stored("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            secret.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1_649_367_553, body),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn new_secrets_are_well_formed_and_distinct() {
        let (a, b) = (SigningSecret::generate(), SigningSecret::generate());
        assert_ne!(a, b);
        assert!(SigningSecret::from_stored(a.as_str()).is_some());
        assert!(SigningSecret::from_stored("whsec_short").is_none());
        assert!(SigningSecret::from_stored("secret").is_none());
    }

    #[test]
    fn retries_follow_the_schedule_for_three_days_then_stop() {
        assert_eq!(retry_after(1, 0), Some(Duration::seconds(5)));
        assert_eq!(retry_after(2, 10), Some(Duration::seconds(330)));
        assert_eq!(retry_after(9, -10), Some(Duration::seconds(77_760)));
        assert_eq!(retry_after(10, 0), None);
        assert_eq!(retry_after(0, 0), None);
        let total: i64 = (1..=9).map(|n| retry_after(n, -10).unwrap().num_seconds()).sum();
        assert!(total > 24 * 3600, "retried for at least 24 h");
    }
}
