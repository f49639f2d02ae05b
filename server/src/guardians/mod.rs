//! Guardian bindings (P1): what a binding is, how the rider is shown to the
//! guardian, and the reads every binding endpoint shares. The HTTP handlers
//! are in [`routes`] (merged through [`router`]); alerts and the daily
//! limit, which run inside the payment transaction, are in [`alerts`].

use serde::Serialize;
use sqlx::AnyPool;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;

pub mod alerts;
pub mod render;
pub(crate) mod routes;

/// The guardian routes (`/v1/guardians/...`), merged by `crate::routes`.
pub(crate) fn router() -> OpenApiRouter<crate::state::AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::invite))
        .routes(routes!(routes::accept))
        .routes(routes!(routes::list))
        .routes(routes!(routes::inspect))
        .routes(routes!(routes::revoke))
        .routes(routes!(routes::leave))
        .routes(routes!(routes::set_limit))
        .routes(routes!(routes::alerts))
}

/// What a guardian receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Only transit payments (tram, gate).
    TransitOnly,
    /// Every payment.
    AllPayments,
}

impl Scope {
    /// Parses `transit_only` / `all_payments`.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        match text {
            "transit_only" => Ok(Scope::TransitOnly),
            "all_payments" => Ok(Scope::AllPayments),
            _ => Err(ApiError::field(
                "scope",
                "must be \"transit_only\" or \"all_payments\"",
            )),
        }
    }

    /// The stored and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::TransitOnly => "transit_only",
            Scope::AllPayments => "all_payments",
        }
    }

    /// Whether a payment is in this scope.
    pub fn covers(self, transit: bool) -> bool {
        transit || self == Scope::AllPayments
    }
}

/// How the rider appears in the guardian's alerts: a nickname, or the last
/// four digits of the rider's registered phone (never the whole number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShownAs {
    /// "The phone ending 1234".
    PhoneTail(String),
    /// A name the rider chose.
    Nickname(String),
}

impl ShownAs {
    /// From the stored pair (`phone_tail`|`nickname`, value).
    pub fn from_row(kind: &str, value: &str) -> Self {
        if kind == "phone_tail" {
            ShownAs::PhoneTail(value.to_string())
        } else {
            ShownAs::Nickname(value.to_string())
        }
    }

    /// The stored kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ShownAs::PhoneTail(_) => "phone_tail",
            ShownAs::Nickname(_) => "nickname",
        }
    }

    /// The stored value (four digits or the nickname).
    pub fn value(&self) -> &str {
        match self {
            ShownAs::PhoneTail(v) | ShownAs::Nickname(v) => v,
        }
    }

    /// As the subject of an English sentence: "The phone ending 1234".
    pub fn english(&self) -> String {
        match self {
            ShownAs::PhoneTail(tail) => format!("The phone ending {tail}"),
            ShownAs::Nickname(name) => name.clone(),
        }
    }

    /// As the subject of a Chinese sentence: "尾号1234的手机".
    pub fn chinese(&self) -> String {
        match self {
            ShownAs::PhoneTail(tail) => format!("尾号{tail}的手机"),
            ShownAs::Nickname(name) => name.clone(),
        }
    }
}

/// The last four digits of a phone number.
pub fn phone_tail(phone: &str) -> Option<String> {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    (digits.len() >= 4).then(|| digits[digits.len() - 4..].iter().collect())
}

/// A binding row.
#[derive(Clone, Debug)]
pub struct Binding {
    /// Binding id.
    pub id: String,
    /// The rider (who invited).
    pub rider_account_id: String,
    /// The guardian (who accepted).
    pub guardian_account_id: String,
    /// What the guardian receives.
    pub scope: String,
    /// How the rider is shown.
    pub shown_as: ShownAs,
    /// `active`, `revoked` or `left`.
    pub status: String,
    /// The guardian's daily limit on the rider's spending, if any.
    pub daily_limit_minor: Option<i64>,
    /// The UTC offset whose local day the limit counts.
    pub limit_utc_offset_minutes: i64,
    /// When the guardian accepted.
    pub created_at_ms: i64,
    /// When it was revoked or left.
    pub ended_at_ms: Option<i64>,
}

/// A binding as it is stored (`shown_as` and `shown_value` make one
/// [`ShownAs`]).
#[derive(sqlx::FromRow)]
struct BindingRow {
    id: String,
    rider_account_id: String,
    guardian_account_id: String,
    scope: String,
    shown_as: String,
    shown_value: String,
    status: String,
    daily_limit_minor: Option<i64>,
    limit_utc_offset_minutes: i64,
    created_at_ms: i64,
    ended_at_ms: Option<i64>,
}

impl Binding {
    fn from_row(r: BindingRow) -> Self {
        Binding {
            shown_as: ShownAs::from_row(&r.shown_as, &r.shown_value),
            id: r.id,
            rider_account_id: r.rider_account_id,
            guardian_account_id: r.guardian_account_id,
            scope: r.scope,
            status: r.status,
            daily_limit_minor: r.daily_limit_minor,
            limit_utc_offset_minutes: r.limit_utc_offset_minutes,
            created_at_ms: r.created_at_ms,
            ended_at_ms: r.ended_at_ms,
        }
    }

    /// Whether `account_id` is the rider or the guardian of this binding.
    pub fn involves(&self, account_id: &str) -> bool {
        self.rider_account_id == account_id || self.guardian_account_id == account_id
    }
}

/// Loads a binding that `account_id` is a party to. Anybody else gets the
/// same `404 not_found` as for a binding that does not exist, so a third
/// account learns nothing.
pub async fn load_for(
    pool: &AnyPool,
    binding_id: &str,
    account_id: &str,
) -> Result<Binding, ApiError> {
    let row: Option<BindingRow> = sqlx::query_as(
        "SELECT id, rider_account_id, guardian_account_id, scope, shown_as, shown_value, status, \
         daily_limit_minor, limit_utc_offset_minutes, created_at_ms, ended_at_ms \
         FROM guardian_bindings WHERE id = $1",
    )
    .bind(binding_id.to_string())
    .fetch_optional(pool)
    .await?;
    match row.map(Binding::from_row) {
        Some(b) if b.involves(account_id) => Ok(b),
        _ => Err(ApiError::NotFound(
            "no binding of this wallet has this id".into(),
        )),
    }
}

/// The bindings where `account_id` is the rider (`as_rider`) or the
/// guardian, newest first; ended ones only when `include_ended`.
pub async fn list(
    pool: &AnyPool,
    account_id: &str,
    as_rider: bool,
    include_ended: bool,
) -> Result<Vec<Binding>, ApiError> {
    let rows: Vec<BindingRow> = sqlx::query_as(
        "SELECT id, rider_account_id, guardian_account_id, scope, shown_as, shown_value, status, \
         daily_limit_minor, limit_utc_offset_minutes, created_at_ms, ended_at_ms \
         FROM guardian_bindings \
         WHERE ((rider_account_id = $1 AND $2 = 1) OR (guardian_account_id = $1 AND $2 = 0)) \
         AND (status = 'active' OR $3 = 1) ORDER BY created_at_ms DESC, id",
    )
    .bind(account_id.to_string())
    .bind(i64::from(as_rider))
    .bind(i64::from(include_ended))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Binding::from_row).collect())
}

/// A binding as one of its parties sees it.
#[derive(Serialize, Clone, Debug, ToSchema)]
#[schema(as = Binding)]
pub struct BindingView {
    /// Binding id.
    pub binding_id: String,
    /// `rider` or `guardian`: the caller's side.
    #[schema(schema_with = role_schema)]
    pub role: &'static str,
    /// `active`, `revoked` or `left`.
    #[schema(schema_with = status_schema)]
    pub status: String,
    /// `transit_only` or `all_payments`.
    #[schema(schema_with = scope_schema)]
    pub scope: String,
    /// `phone_tail` or `nickname`.
    #[schema(schema_with = shown_as_schema)]
    pub shown_as: String,
    /// How the rider is named in alerts (English).
    pub rider_name: String,
    /// How the rider is named in alerts (Chinese).
    pub rider_name_zh: String,
    /// The other party's pseudonymous handle.
    pub counterpart_handle: String,
    /// The other party's name: the guardian's display name (rider's view),
    /// or the name the rider chose to be shown as (guardian's view).
    pub counterpart_name: String,
    /// The guardian's daily limit, in the rider's currency.
    pub daily_limit_minor: Option<i64>,
    /// The UTC offset of the limit's day.
    pub limit_utc_offset_minutes: i64,
    /// The rider's currency.
    pub currency: String,
    /// When the guardian accepted (Unix ms).
    pub created_at_ms: i64,
    /// When the binding ended (Unix ms).
    pub ended_at_ms: Option<i64>,
}

/// The sides of a binding.
fn role_schema() -> RefOr<Schema> {
    crate::openapi::constraints::one_of(&["rider", "guardian"])
}

/// A binding's statuses.
fn status_schema() -> RefOr<Schema> {
    crate::openapi::constraints::one_of(&["active", "revoked", "left"])
}

/// [`Scope`]'s names.
pub(crate) fn scope_schema() -> RefOr<Schema> {
    crate::openapi::constraints::one_of(&["transit_only", "all_payments"])
}

/// How the rider is shown.
pub(crate) fn shown_as_schema() -> RefOr<Schema> {
    crate::openapi::constraints::one_of(&["phone_tail", "nickname"])
}

/// Renders `binding` for `account_id` (which must be a party).
pub async fn view(
    pool: &AnyPool,
    binding: &Binding,
    account_id: &str,
) -> Result<BindingView, ApiError> {
    let as_rider = binding.rider_account_id == account_id;
    let other = if as_rider {
        &binding.guardian_account_id
    } else {
        &binding.rider_account_id
    };
    let other = crate::accounts::store::get(pool, other).await?;
    let (handle, name) = (other.handle, other.display_name);
    let currency = crate::accounts::store::get(pool, &binding.rider_account_id)
        .await?
        .currency;
    Ok(BindingView {
        binding_id: binding.id.clone(),
        role: if as_rider { "rider" } else { "guardian" },
        status: binding.status.clone(),
        scope: binding.scope.clone(),
        shown_as: binding.shown_as.kind().to_string(),
        rider_name: binding.shown_as.english(),
        rider_name_zh: binding.shown_as.chinese(),
        counterpart_handle: handle.unwrap_or_default(),
        // A guardian sees the rider only as the rider chose to be shown.
        counterpart_name: if as_rider {
            name
        } else {
            binding.shown_as.english()
        },
        daily_limit_minor: binding.daily_limit_minor,
        limit_utc_offset_minutes: binding.limit_utc_offset_minutes,
        currency,
        created_at_ms: binding.created_at_ms,
        ended_at_ms: binding.ended_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_tails_and_names() {
        assert_eq!(phone_tail("+8613800131234").as_deref(), Some("1234"));
        assert_eq!(phone_tail("123"), None);
        let p = ShownAs::PhoneTail("1234".into());
        assert_eq!(p.english(), "The phone ending 1234");
        assert_eq!(p.chinese(), "尾号1234的手机");
        assert_eq!(ShownAs::from_row("nickname", "Mia").english(), "Mia");
        assert!(Scope::parse("everything").is_err());
        assert!(Scope::TransitOnly.covers(true));
        assert!(!Scope::TransitOnly.covers(false));
        assert!(Scope::AllPayments.covers(false));
    }
}
