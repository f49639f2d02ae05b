//! The schema pieces the components written in [`super::base`] are made
//! of (the schemas of values utoipa does not see: the error answer, the
//! protocol crate's fare context, a stored guardian alert), and the
//! conditionals [`super::finish`] adds.

use serde_json::{json, Value};

use super::constraints::TEXT_PATTERN;

/// An object of exactly `props`, the `required` ones always present.
pub(super) fn obj(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": required, "properties": props })
}

/// Any string.
pub(super) fn s() -> Value {
    json!({ "type": "string" })
}

/// Any `i64`.
pub(super) fn int() -> Value {
    json!({ "type": "integer", "format": "int64" })
}

/// An integer in `min..=max`.
pub(super) fn range(min: i64, max: i64) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max })
}

/// Any `u64` (the server reads the field as one; larger values clamp).
pub(super) fn unsigned() -> Value {
    json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX })
}

/// Free text as `check_text` takes it: 1 to `max` characters, not only
/// white space, no control characters.
pub(super) fn text(max: u64) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": TEXT_PATTERN })
}
