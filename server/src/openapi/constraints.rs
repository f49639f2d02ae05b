//! The schemas of the checks the server makes on a field, for the
//! generated document: `#[schema(schema_with = ...)]` on a request field
//! names one of these, so a client (and the API fuzzer) sees the same
//! limits the handler enforces. Each is named after the check it mirrors;
//! the `_or_null` forms are for optional fields (the server reads them into
//! an `Option`, where `null` is the same as leaving the field out).

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::RefOr;

/// No control character (Unicode Cc), and at least one character that is
/// neither a control character nor white space (Rust's `str::trim`).
pub(crate) const TEXT_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// `check_id`'s alphabet: 1 to 128 printable ASCII characters, no spaces.
pub(crate) const ID_PATTERN: &str = "^[!-~]{1,128}$";

/// The currencies `wayfare_protocol::money::Currency` supports.
pub(crate) const CURRENCIES: [&str; 7] = ["CNY", "EUR", "USD", "GBP", "JPY", "HKD", "CHF"];

fn of(builder: ObjectBuilder) -> RefOr<Schema> {
    RefOr::T(Schema::Object(builder.build()))
}

fn string(nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    })
}

fn integer(nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(if nullable {
        SchemaType::from_iter([Type::Integer, Type::Null])
    } else {
        SchemaType::new(Type::Integer)
    })
}

fn text_schema<const MAX: usize>(nullable: bool) -> RefOr<Schema> {
    of(string(nullable)
        .min_length(Some(1))
        .max_length(Some(MAX))
        .pattern(Some(TEXT_PATTERN)))
}

/// Free text as `check_text` takes it: 1 to `MAX` characters, not only
/// white space, no control characters.
pub(crate) fn text<const MAX: usize>() -> RefOr<Schema> {
    text_schema::<MAX>(false)
}

/// [`text`], or `null`.
pub(crate) fn text_or_null<const MAX: usize>() -> RefOr<Schema> {
    text_schema::<MAX>(true)
}

/// An identifier a client chooses or names (`check_id`).
pub(crate) fn id() -> RefOr<Schema> {
    of(string(false).pattern(Some(ID_PATTERN)))
}

/// [`id`], or `null`.
pub(crate) fn id_or_null() -> RefOr<Schema> {
    of(string(true).pattern(Some(ID_PATTERN)))
}

fn key_schema(nullable: bool) -> RefOr<Schema> {
    of(string(nullable)
        .pattern(Some("^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"))
        .description(Some("Ed25519 public key, 32 bytes, unpadded base64url")))
}

/// An Ed25519 public key: 32 bytes, unpadded base64url (43 characters,
/// the last one carrying 4 bits).
pub(crate) fn key() -> RefOr<Schema> {
    key_schema(false)
}

/// A supported currency code (`parse_currency`).
pub(crate) fn currency() -> RefOr<Schema> {
    one_of(&CURRENCIES)
}

/// [`currency`], or `null`.
pub(crate) fn currency_or_null() -> RefOr<Schema> {
    one_of_or_null(&CURRENCIES)
}

/// An amount of minor units: 1 to 1,000,000,000 (`parse_amount`).
pub(crate) fn amount() -> RefOr<Schema> {
    of(integer(false).minimum(Some(1)).maximum(Some(1_000_000_000)))
}

/// [`amount`], or `null`.
pub(crate) fn amount_or_null() -> RefOr<Schema> {
    of(integer(true).minimum(Some(1)).maximum(Some(1_000_000_000)))
}

/// Any `u64`, or `null` (the server reads the field as one).
pub(crate) fn unsigned_or_null() -> RefOr<Schema> {
    of(integer(true).minimum(Some(0)).maximum(Some(u64::MAX)))
}

/// Any `i64` (the server reads the field as one).
pub(crate) fn signed() -> RefOr<Schema> {
    of(integer(false)
        .minimum(Some(i64::MIN))
        .maximum(Some(i64::MAX)))
}

/// A `u64` of 1 or more (a cap; the server may lower it).
pub(crate) fn positive() -> RefOr<Schema> {
    of(integer(false).minimum(Some(1)).maximum(Some(u64::MAX)))
}

/// Any `u64` (the server reads the field as one).
pub(crate) fn unsigned() -> RefOr<Schema> {
    of(integer(false).minimum(Some(0)).maximum(Some(u64::MAX)))
}

/// A UTC offset in minutes, -840 to 840 (`civil::check_offset`), or `null`.
pub(crate) fn offset_or_null() -> RefOr<Schema> {
    of(integer(true).minimum(Some(-840)).maximum(Some(840)))
}

/// `civil::parse_day`'s days: `YYYY-MM-DD`, 1970 to 9999.
pub(crate) const DATE_PATTERN: &str =
    "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

/// A day of the calendar as `civil::parse_day` takes it.
pub(crate) fn date() -> RefOr<Schema> {
    of(string(false)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .pattern(Some(DATE_PATTERN)))
}

/// Declares a type that stands for a schema where an annotation takes a
/// type and no function: `inline(T)` for a content type, `value_type = T,
/// inline` for a parameter (whose `schema_with` would drop its `required`
/// and its doc).
macro_rules! schema_type {
    ($(#[$doc:meta])* $vis:vis struct $name:ident = $schema:expr;) => {
        $(#[$doc])*
        $vis struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                $schema
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use schema_type;

schema_type! {
    /// [`date`] for a query parameter.
    pub(crate) struct Day = date();
}

/// Any `u32`, or `null`.
pub(crate) fn u32_or_null() -> RefOr<Schema> {
    of(integer(true).minimum(Some(0)).maximum(Some(u32::MAX)))
}

/// An integer in `MIN..=MAX`, or `null`.
pub(crate) fn range_or_null<const MIN: i64, const MAX: i64>() -> RefOr<Schema> {
    of(integer(true).minimum(Some(MIN)).maximum(Some(MAX)))
}

/// One of `values`, or `null`.
pub(crate) fn one_of_or_null(values: &[&str]) -> RefOr<Schema> {
    of(string(true).enum_values(Some(
        values
            .iter()
            .map(|v| serde_json::Value::from(*v))
            .chain([serde_json::Value::Null]),
    )))
}

/// One of `values`.
pub(crate) fn one_of(values: &[&str]) -> RefOr<Schema> {
    of(string(false).enum_values(Some(values.iter().copied())))
}

/// The `FareContext` of `wayfare_protocol::fare` (a component written in
/// `crate::openapi`: the protocol crate does not derive schemas), or
/// `null`.
pub(crate) fn fare_context_or_null() -> RefOr<Schema> {
    RefOr::T(Schema::OneOf(
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(utoipa::openapi::Ref::from_schema_name("FareContext"))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    ))
}

/// One server-sent event of a `text/event-stream` answer (OpenAPI 3.1 has
/// the schema describe each event): `id` the stream's sequence number,
/// `event` one of `kinds`, `data` a JSON object.
pub(crate) fn sse_event(kinds: &[&str]) -> RefOr<Schema> {
    of(ObjectBuilder::new()
        .property("id", of(string(false).pattern(Some("^[0-9]+$"))))
        .required("id")
        .property("event", one_of(kinds))
        .required("event")
        .property(
            "data",
            of(string(false).content_media_type("application/json")),
        )
        .required("data"))
}

/// A text body (CSV, say) as `description` says.
pub(crate) fn described_text(description: &str) -> RefOr<Schema> {
    of(string(false).description(Some(description)))
}

/// An array of items each one of `values`.
pub(crate) fn array_of(values: &[&str]) -> RefOr<Schema> {
    RefOr::T(Schema::Array(
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(one_of(values))
            .build(),
    ))
}
