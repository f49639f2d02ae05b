//! What the database layer's own tests write and check: a bare account
//! through either kind of connection, and the answers of concurrent calls
//! of which every n-th was refused after writing.

use tokio::task::JoinHandle;

use super::exec::{sql, Exec};
use crate::error::ApiError;

/// The message of the refusal [`refusal`] makes.
const REFUSED: &str = "refused after writing";

/// Inserts a bare account `id` named `name` through any executor (sqlx's
/// connection or the writer's own); the rows inserted.
pub(super) async fn insert_account(
    conn: &mut dyn Exec,
    id: String,
    name: String,
) -> Result<u64, ApiError> {
    sql(
        "INSERT INTO accounts (id, kind, display_name, currency, created_at_ms) \
         VALUES ($1, 'user', $2, 'EUR', 0)",
    )
    .bind(id)
    .bind(name)
    .execute(conn)
    .await
}

/// The error a test's transaction returns to be rolled back.
pub(super) fn refusal() -> ApiError {
    ApiError::field("i", REFUSED)
}

/// Awaits `calls` in order: call `i` answered `i`, or, when `i` is a
/// multiple of `refused_every`, the [`refusal`].
pub(super) async fn assert_answers(
    calls: Vec<JoinHandle<Result<i64, ApiError>>>,
    refused_every: usize,
) {
    for (i, call) in calls.into_iter().enumerate() {
        match call.await.expect("the call ran to its end") {
            Ok(value) => assert_eq!(value, i as i64),
            Err(e) => {
                assert_eq!(i % refused_every, 0, "{e}");
                assert!(e.to_string().contains(REFUSED), "{e}");
            }
        }
    }
}
