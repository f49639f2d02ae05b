//! What guardian invitations (`guardians/routes.rs`) and merchant staff
//! invitations (`merchants/staff.rs`) share: the short code a person types,
//! the long secret the QR payload carries, the one answer to every code
//! that cannot be accepted, finding and claiming an invitation inside the
//! accepting transaction, and the limiter of failed accept attempts.
//!
//! A short code has about 40 bits, so what keeps it from being guessed is
//! the limiter: failed attempts are counted per account, per device and
//! over everybody within a sliding window, in the database (so the limit
//! holds across restarts and across nodes sharing one PostgreSQL), and
//! once a count is reached the next attempt is answered `429
//! too_many_attempts` with `retry-after`, whatever its code. A wrong code
//! is answered `404 invitation_invalid` whatever made it wrong (unknown,
//! expired, already used, the caller's own, meant for another device), so
//! an attempt teaches nothing but "not this one". The QR payload carries a
//! 256-bit secret instead of the code; only its SHA-256 is stored.

use std::future::Future;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};
use wayfare_protocol::ids::{hex_lower, new_id, sha256};
use wayfare_protocol::keys::random_bytes;

use crate::db::{now_ms, to_i64};
use crate::error::ApiError;
use crate::state::AppState;

pub(crate) mod limits;

pub use limits::AttemptLimits;

/// Letters and digits of codes: no I, L, O, 0 or 1.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Characters in a code (about 40 bits).
pub const CODE_LEN: usize = 8;

/// A fresh invitation's credentials.
pub struct Issued {
    /// The stored short code (8 characters, no dash).
    pub code: String,
    /// SHA-256 (hex) of the QR secret: what is stored.
    pub secret_hash: String,
    /// The code as shown to people: `ABCD-EFGH`.
    pub display_code: String,
    /// `{qr_prefix}{secret}`: what the QR code encodes.
    pub qr_payload: String,
}

/// How many fresh codes are tried when a new code collides with one that
/// is already stored (with ~40-bit codes this is a safety net, not a loop
/// that runs).
const ISSUE_ATTEMPTS: usize = 5;

/// Issues credentials and has `store` write the invitation with them (its
/// own transaction, with the code and secret hash in unique columns); a
/// collision with a stored code is retried with fresh credentials. Answers
/// the credentials that were stored.
pub async fn store_fresh<F, Fut>(qr_prefix: &str, mut store: F) -> Result<Issued, ApiError>
where
    F: FnMut(&Issued) -> Fut,
    Fut: Future<Output = Result<(), ApiError>>,
{
    for _ in 0..ISSUE_ATTEMPTS {
        let issued = issue(qr_prefix)?;
        match store(&issued).await {
            Ok(()) => return Ok(issued),
            Err(e) if crate::db::is_unique_violation(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::Internal(
        "could not allocate a unique invitation code".into(),
    ))
}

/// A new code and secret; the QR payload starts with `qr_prefix`.
pub fn issue(qr_prefix: &str) -> Result<Issued, ApiError> {
    let code = new_code()?;
    let secret = hex_lower(&random_bytes::<32>().map_err(internal)?);
    Ok(Issued {
        display_code: format!("{}-{}", &code[..4], &code[4..]),
        secret_hash: secret_hash(&secret),
        qr_payload: format!("{qr_prefix}{secret}"),
        code,
    })
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

fn new_code() -> Result<String, ApiError> {
    let mut code = String::with_capacity(CODE_LEN);
    // Rejection sampling keeps every character equally likely.
    let limit = (256 / CODE_ALPHABET.len() * CODE_ALPHABET.len()) as u8;
    while code.len() < CODE_LEN {
        let bytes = random_bytes::<16>().map_err(internal)?;
        for b in bytes.iter().filter(|b| **b < limit) {
            if code.len() < CODE_LEN {
                code.push(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char);
            }
        }
    }
    Ok(code)
}

fn secret_hash(secret: &str) -> String {
    hex_lower(&sha256(secret.as_bytes()))
}

/// What an accepting device presented, ready to look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presented {
    /// A short code, normalized.
    Code(String),
    /// The SHA-256 of a QR secret.
    Secret(String),
}

impl Presented {
    /// Reads the input: the QR payload (`qr_prefix` + secret), a payload
    /// of the older form (`legacy_prefix` + code), or the code as shown
    /// (any case, with or without the dash or spaces). Anything else is
    /// [`invalid`].
    pub fn parse(input: &str, qr_prefix: &str, legacy_prefix: &str) -> Result<Self, ApiError> {
        let raw = input.trim();
        if let Some(secret) = raw.strip_prefix(qr_prefix) {
            let secret = secret.trim();
            if secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(Presented::Secret(secret_hash(&secret.to_ascii_lowercase())));
            }
            return Err(invalid());
        }
        let raw = raw.strip_prefix(legacy_prefix).unwrap_or(raw);
        let code: String = raw
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
            Ok(Presented::Code(code))
        } else {
            Err(invalid())
        }
    }

    /// The column it is looked up by (a constant, safe in SQL text).
    pub fn column(&self) -> &'static str {
        match self {
            Presented::Code(_) => "code",
            Presented::Secret(_) => "secret_hash",
        }
    }

    /// The value to bind.
    pub fn value(&self) -> String {
        match self {
            Presented::Code(v) | Presented::Secret(v) => v.clone(),
        }
    }
}

/// Where one kind of invitation is kept: its table, and the column that
/// names what accepting it created (a binding, a staff member). Both are
/// constants, safe in SQL text.
pub struct Table {
    /// The table.
    pub name: &'static str,
    /// The column set, with `used_at_ms`, when the invitation is accepted.
    pub created: &'static str,
}

/// What every invitation row has, so that unknown, used and expired codes
/// are refused alike, whatever the kind.
pub trait Invitation {
    /// Until when it can be accepted.
    fn expires_at_ms(&self) -> i64;
    /// When it was accepted, if it was.
    fn used_at_ms(&self) -> Option<i64>;
}

/// The invitation `presented` names, read as `R` (`columns` of `table`),
/// if it can still be accepted at `now`: an unknown, used or expired code
/// is [`invalid`]. The caller checks what is particular to its kind, then
/// [`mark_used`].
pub async fn find_open<R>(
    conn: &mut AnyConnection,
    table: &Table,
    columns: &str,
    presented: &Presented,
    now: i64,
) -> Result<R, ApiError>
where
    R: for<'r> sqlx::FromRow<'r, AnyRow> + Invitation + Send + Unpin,
{
    let row: Option<R> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {columns} FROM {} WHERE {} = $1",
        table.name,
        presented.column()
    )))
    .bind(presented.value())
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(invitation)
            if invitation.used_at_ms().is_none() && now <= invitation.expires_at_ms() =>
        {
            Ok(invitation)
        }
        _ => Err(invalid()),
    }
}

/// Marks the invitation `id` used by `created` at `now`, inside the
/// accepting transaction. When a concurrent accept got there first, this
/// one is [`invalid`]: an invitation is accepted once.
pub async fn mark_used(
    conn: &mut AnyConnection,
    table: &Table,
    id: &str,
    created: &str,
    now: i64,
) -> Result<(), ApiError> {
    let claimed = sqlx::query(AssertSqlSafe(format!(
        "UPDATE {} SET used_at_ms = $1, {} = $2 WHERE id = $3 AND used_at_ms IS NULL",
        table.name, table.created
    )))
    .bind(now)
    .bind(created.to_string())
    .bind(id.to_string())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if claimed == 1 {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// The one answer to an invitation that cannot be accepted, whatever the
/// reason.
pub fn invalid() -> ApiError {
    ApiError::InvitationInvalid("this invitation code is not valid; ask for a new one".into())
}

/// Runs one accept attempt of `account_id` on `device_id` under the
/// limiter. The attempt is recorded (and committed) before it is counted,
/// so concurrent attempts on any node see each other and at most the
/// limit of them get through. `work` failing with `invitation_invalid`
/// keeps the record as a failure; any other outcome removes it.
pub async fn guarded<T>(
    state: &AppState,
    account_id: &str,
    device_id: &str,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let limits = state.invitation_limits();
    let now = to_i64(now_ms());
    let window_ms = i64::try_from(limits.window.as_millis()).unwrap_or(i64::MAX);
    let since = now.saturating_sub(window_ms);
    let attempt = new_id("iat").map_err(internal)?;
    let pool = &state.db().pool;
    let row = (
        attempt.clone(),
        account_id.to_string(),
        device_id.to_string(),
    );
    state
        .db()
        .write_tx(move |conn| {
            let (id, account, device) = row.clone();
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO invitation_attempts (id, account_id, device_id, at_ms) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(account)
                .bind(device)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await?;
    let scopes = [
        ("account_id", account_id, limits.per_account),
        ("device_id", device_id, limits.per_device),
        ("", "", limits.global),
    ];
    for (column, value, limit) in scopes {
        let filter = if column.is_empty() {
            "$2 = $2".to_string()
        } else {
            format!("{column} = $2")
        };
        let (count,): (i64,) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM invitation_attempts WHERE at_ms > $1 AND {filter}"
        )))
        .bind(since)
        .bind(value.to_string())
        .fetch_one(pool)
        .await?;
        if count <= i64::from(limit) {
            continue;
        }
        // Refused attempts do not count; the failures before them do,
        // until enough of them leave the window.
        remove(state, &attempt).await?;
        let (oldest,): (Option<i64>,) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT MAX(at_ms) FROM (SELECT at_ms FROM invitation_attempts \
             WHERE at_ms > $1 AND {filter} ORDER BY at_ms LIMIT $3) AS counted"
        )))
        .bind(since)
        .bind(value.to_string())
        .bind((count - i64::from(limit)).max(1))
        .fetch_one(pool)
        .await?;
        let free_at = oldest.unwrap_or(now).saturating_add(window_ms);
        let retry_after_s = u64::try_from((free_at - now + 999) / 1000)
            .unwrap_or(1)
            .max(1);
        let scope = if column.is_empty() { "global" } else { column };
        tracing::warn!(scope, retry_after_s, "invitation accept attempts limited");
        return Err(ApiError::TooManyAttempts {
            message: format!(
                "too many wrong invitation codes; try again in {retry_after_s} seconds"
            ),
            retry_after_s,
        });
    }
    let outcome = work.await;
    match &outcome {
        Err(ApiError::InvitationInvalid(_)) => {
            tracing::debug!("invitation accept attempt failed");
        }
        _ => remove(state, &attempt).await?,
    }
    outcome
}

async fn remove(state: &AppState, attempt: &str) -> Result<(), ApiError> {
    let id = attempt.to_string();
    state
        .db()
        .write_tx(move |conn| {
            let id = id.clone();
            Box::pin(async move {
                sqlx::query("DELETE FROM invitation_attempts WHERE id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
}

/// Deletes the attempts that left the window (run by the server's pruner).
pub async fn prune(state: &AppState) -> Result<(), ApiError> {
    let window_ms = i64::try_from(state.invitation_limits().window.as_millis()).unwrap_or(i64::MAX);
    let before = to_i64(now_ms()).saturating_sub(window_ms);
    state
        .db()
        .write_tx(move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM invitation_attempts WHERE at_ms <= $1")
                    .bind(before)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const QR: &str = "wayfare:test-invite:v2:";
    const OLD: &str = "wayfare:test-invite:v1:";

    #[test]
    fn codes_and_secrets_are_read_from_any_form() {
        let a = issue(QR).unwrap();
        let b = issue(QR).unwrap();
        assert_ne!(a.code, b.code);
        assert_eq!(a.code.len(), CODE_LEN);
        assert!(a.code.bytes().all(|c| CODE_ALPHABET.contains(&c)));
        assert_eq!(a.qr_payload.len(), QR.len() + 64);
        assert!(!a.qr_payload.contains(&a.code));
        let code = Presented::Code(a.code.clone());
        assert_eq!(
            Presented::parse(&a.display_code.to_lowercase(), QR, OLD).unwrap(),
            code
        );
        assert_eq!(
            Presented::parse(&format!("{OLD}{}", a.code), QR, OLD).unwrap(),
            code
        );
        assert_eq!(
            Presented::parse(&a.qr_payload, QR, OLD).unwrap(),
            Presented::Secret(a.secret_hash.clone())
        );
        assert_eq!(
            Presented::parse(" abcd efgh ", QR, OLD).unwrap(),
            Presented::Code("ABCDEFGH".into())
        );
        for bad in [
            "",
            "x",
            "ABCD-EFG1",
            "ABCDEFGHJ",
            &format!("{QR}{}", a.code),
        ] {
            let err = Presented::parse(bad, QR, OLD).unwrap_err();
            assert!(matches!(err, ApiError::InvitationInvalid(_)), "{bad}");
        }
    }
}
