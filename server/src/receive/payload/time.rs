//! Push times: whatever form a registry sends, re-written as RFC 3339 UTC.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::json::{invalid, wrong_type};
use super::PayloadError;

/// Latest epoch time accepted: 9999-12-31T23:59:59Z, as seconds since 1970.
const MAX_EPOCH_SECONDS: f64 = 253_402_300_799.0;

/// Docker Hub's `pushed_at`: seconds since 1970 as a JSON number, integer or
/// not (`1417566161`, `1417566161.0`, `1.417566161e9`). Fractions are kept to
/// the millisecond, which is all an f64 of this size holds reliably.
pub(super) fn epoch_seconds_to_rfc3339(value: &Value, place: &str) -> Result<String, PayloadError> {
    let Value::Number(number) = value else {
        return Err(wrong_type(place, "a number of seconds since 1970", value));
    };
    let (seconds, milliseconds) = if let Some(seconds) = number.as_i64() {
        (seconds, 0)
    } else if number.is_u64() {
        // Above i64::MAX: far out of range.
        return Err(invalid(place, "is out of range", &number.to_string()));
    } else {
        let seconds = number.as_f64().unwrap_or(f64::NAN);
        if !seconds.is_finite() || !(0.0..=MAX_EPOCH_SECONDS).contains(&seconds) {
            return Err(invalid(place, "is out of range", &number.to_string()));
        }
        let total_milliseconds = (seconds * 1000.0).round() as i64;
        (
            total_milliseconds.div_euclid(1000),
            total_milliseconds.rem_euclid(1000),
        )
    };
    if !(0..=MAX_EPOCH_SECONDS as i64).contains(&seconds) {
        return Err(invalid(place, "is out of range", &number.to_string()));
    }
    let nanoseconds = u32::try_from(milliseconds * 1_000_000).unwrap_or(0);
    DateTime::<Utc>::from_timestamp(seconds, nanoseconds)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .ok_or_else(|| invalid(place, "is out of range", &number.to_string()))
}

/// A registry event `timestamp` (RFC 3339, any offset), re-written in UTC.
pub(super) fn rfc3339_to_utc(timestamp: &str, place: &str) -> Result<String, PayloadError> {
    DateTime::parse_from_rfc3339(timestamp)
        .map(|time| {
            time.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
        })
        .map_err(|_| invalid(place, "is not an RFC 3339 time", timestamp))
}
