//! Permission scopes of a merchant's devices: what a device may do (its
//! operation scope) and which attributes of a payment it may receive (its
//! content scope). The owner holds every scope; a staff device holds what
//! the owner granted. Stored as comma-separated names.

use std::collections::BTreeSet;

use crate::error::ApiError;

/// What a member device may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Receive a prompt for every payment, refund and forwarded notice.
    ReceivePrompts,
    /// List the merchant's payments.
    ViewHistory,
    /// Refund a payment, fully or partly.
    Refund,
}

impl Operation {
    /// Every operation, in wire order.
    pub const ALL: [Operation; 3] = [
        Operation::ReceivePrompts,
        Operation::ViewHistory,
        Operation::Refund,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ReceivePrompts => "receive_prompts",
            Operation::ViewHistory => "view_history",
            Operation::Refund => "refund",
        }
    }
}

/// An attribute of a payment notice (P4) a device may receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attribute {
    /// The order id (`order_id`).
    OrderId,
    /// The payer's name (`payer_name`).
    PayerName,
    /// The payee's (merchant's) name (`payee_name`).
    PayeeName,
    /// The payment type (`payment_type`: pos, tram, gate, or the outside
    /// platform's own type).
    PaymentType,
    /// The amount (`amount_minor` and `currency`).
    Amount,
    /// The time (`at_ms`).
    Time,
    /// The payment platform (`payment_platform`).
    PaymentPlatform,
}

impl Attribute {
    /// Every attribute, in wire order.
    pub const ALL: [Attribute; 7] = [
        Attribute::OrderId,
        Attribute::PayerName,
        Attribute::PayeeName,
        Attribute::PaymentType,
        Attribute::Amount,
        Attribute::Time,
        Attribute::PaymentPlatform,
    ];

    /// The scope name.
    pub fn as_str(self) -> &'static str {
        match self {
            Attribute::OrderId => "order_id",
            Attribute::PayerName => "payer_name",
            Attribute::PayeeName => "payee_name",
            Attribute::PaymentType => "payment_type",
            Attribute::Amount => "amount",
            Attribute::Time => "time",
            Attribute::PaymentPlatform => "payment_platform",
        }
    }
}

/// A member's operation and content scopes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scopes {
    /// Operations allowed.
    pub operations: BTreeSet<Operation>,
    /// Attributes received.
    pub content: BTreeSet<Attribute>,
}

impl Scopes {
    /// Every scope (the owner's).
    pub fn all() -> Self {
        Self {
            operations: Operation::ALL.into_iter().collect(),
            content: Attribute::ALL.into_iter().collect(),
        }
    }

    /// Parses the names sent by a client; unknown names are `invalid_field`.
    pub fn parse(operations: &[String], content: &[String]) -> Result<Self, ApiError> {
        let mut scopes = Scopes::default();
        for name in operations {
            let op = Operation::ALL
                .into_iter()
                .find(|o| o.as_str() == name)
                .ok_or_else(|| {
                    ApiError::field(
                        "operations",
                        format!(
                            "{name:?} is not an operation; use receive_prompts, view_history, refund"
                        ),
                    )
                })?;
            scopes.operations.insert(op);
        }
        for name in content {
            let attr = Attribute::ALL
                .into_iter()
                .find(|a| a.as_str() == name)
                .ok_or_else(|| {
                    ApiError::field(
                        "content",
                        format!(
                            "{name:?} is not an attribute; use order_id, payer_name, payee_name, \
                             payment_type, amount, time, payment_platform"
                        ),
                    )
                })?;
            scopes.content.insert(attr);
        }
        Ok(scopes)
    }

    /// Reads the stored comma-separated form (unknown names are skipped,
    /// so a scope removed in a later version grants nothing).
    pub fn from_stored(operations: &str, content: &str) -> Self {
        let split = |s: &str| -> Vec<String> {
            s.split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()
        };
        let ops = split(operations);
        let attrs = split(content);
        Self {
            operations: Operation::ALL
                .into_iter()
                .filter(|o| ops.iter().any(|n| n == o.as_str()))
                .collect(),
            content: Attribute::ALL
                .into_iter()
                .filter(|a| attrs.iter().any(|n| n == a.as_str()))
                .collect(),
        }
    }

    /// The stored form of the operations.
    pub fn operations_stored(&self) -> String {
        self.operation_names().join(",")
    }

    /// The stored form of the content scope.
    pub fn content_stored(&self) -> String {
        self.content_names().join(",")
    }

    /// Operation names, in wire order.
    pub fn operation_names(&self) -> Vec<&'static str> {
        self.operations.iter().map(|o| o.as_str()).collect()
    }

    /// Attribute names, in wire order.
    pub fn content_names(&self) -> Vec<&'static str> {
        self.content.iter().map(|a| a.as_str()).collect()
    }

    /// True when the operation is granted.
    pub fn allows(&self, op: Operation) -> bool {
        self.operations.contains(&op)
    }

    /// True when the attribute may be received.
    pub fn sees(&self, attr: Attribute) -> bool {
        self.content.contains(&attr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_refuse_unknown_names() {
        let s = Scopes::parse(
            &["refund".into(), "receive_prompts".into()],
            &["amount".into(), "time".into()],
        )
        .unwrap();
        assert_eq!(s.operations_stored(), "receive_prompts,refund");
        assert_eq!(s.content_stored(), "amount,time");
        let back = Scopes::from_stored(&s.operations_stored(), &s.content_stored());
        assert_eq!(back, s);
        assert!(Scopes::parse(&["fly".into()], &[]).is_err());
        assert!(Scopes::parse(&[], &["phone_number".into()]).is_err());
        assert_eq!(Scopes::from_stored("", "").operations.len(), 0);
        assert_eq!(Scopes::all().content.len(), 7);
    }
}
