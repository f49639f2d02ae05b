//! The schema pieces every operation is written with: objects, nullable
//! values, and the constraints the server enforces (ids, text, keys,
//! amounts, currencies, offsets, dates, limits), each named after the
//! check it mirrors.

use serde_json::{json, Value};

pub(super) fn obj(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": required, "properties": props })
}

/// A request body object: as [`obj`], and every optional property also
/// takes `null` (the server reads each into an `Option`, where `null` is
/// the same as leaving the property out).
pub(super) fn req(required: &[&str], mut props: Value) -> Value {
    if let Some(map) = props.as_object_mut() {
        for (name, schema) in map.iter_mut() {
            if !required.contains(&name.as_str()) {
                *schema = nullable(schema.clone());
            }
        }
    }
    obj(required, props)
}

/// `schema` or `null`.
pub(super) fn nullable(mut schema: Value) -> Value {
    if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
        return schema;
    }
    match schema.get("type").cloned() {
        Some(Value::String(t)) if t != "null" => {
            schema["type"] = json!([t, "null"]);
            schema
        }
        Some(Value::Array(mut types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
            schema["type"] = Value::Array(types);
            schema
        }
        Some(_) => schema,
        None => json!({ "anyOf": [schema, { "type": "null" }] }),
    }
}

pub(super) fn s() -> Value {
    json!({ "type": "string" })
}

/// A string the server may answer as `null`.
pub(super) fn s_or_null() -> Value {
    json!({ "type": ["string", "null"] })
}

pub(super) fn int() -> Value {
    json!({ "type": "integer", "format": "int64" })
}

/// An integer the server may answer as `null`.
pub(super) fn int_or_null() -> Value {
    json!({ "type": ["integer", "null"], "format": "int64" })
}

/// An integer in `min..=max`.
pub(super) fn range(min: i64, max: i64) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max })
}

/// Any `u64` (the server reads the field as one; larger values clamp).
pub(super) fn unsigned() -> Value {
    json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX })
}

/// An identifier a client chooses or names (`check_id`): 1 to 128
/// printable ASCII characters without spaces.
pub(super) fn id() -> Value {
    json!({ "type": "string", "pattern": "^[!-~]{1,128}$" })
}

/// Free text as `check_text` takes it: 1 to `max` characters, not only
/// white space, no control characters.
pub(super) fn text(max: u64) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": TEXT_PATTERN })
}

/// No control character (Unicode Cc), and at least one character that is
/// neither a control character nor white space (Rust's `str::trim`).
const TEXT_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// A supported currency (`wayfare_protocol::money::Currency`).
pub(super) fn currency() -> Value {
    json!({ "enum": ["CNY", "EUR", "USD", "GBP", "JPY", "HKD", "CHF"] })
}

/// A UTC offset in minutes, -840 to 840 (`civil::check_offset`).
pub(super) fn offset() -> Value {
    range(-840, 840)
}

/// A day `YYYY-MM-DD` of the calendar, 1970 to 9999 (`civil::parse_day`).
pub(super) fn date() -> Value {
    json!({ "type": "string", "format": "date",
        "pattern": "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$" })
}
