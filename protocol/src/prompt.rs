//! Merchant prompts (P4): the attributes a device received (each optional:
//! the server omits what the device's content scope excludes) and their
//! rendering as a display text and a speech text in the merchant's locale,
//! shared by the phone core and the terminal's announcer.

use serde::{Deserialize, Serialize};

use crate::money::Currency;

/// What a prompt announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptEvent {
    /// A payment received through Wayfare.
    Payment,
    /// A refund of an earlier payment.
    Refund,
    /// A payment notice forwarded from an outside platform.
    External,
}

/// The `data` of a `merchant.prompt` event on the device event stream.
/// Attributes outside the device's content scope are absent (`None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptData {
    /// The merchant.
    pub merchant_id: String,
    /// What happened.
    pub event: PromptEvent,
    /// Same for every notice of one order (earliest wins); opaque.
    pub dedupe_key: String,
    /// The merchant's locale (`zh` or `en`).
    pub locale: String,
    /// Order id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Payer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_name: Option<String>,
    /// Payee's (merchant's) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee_name: Option<String>,
    /// Payment type (pos, tram, gate, or the outside platform's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_type: Option<String>,
    /// Amount in minor units (with `currency`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    /// Currency code (with `amount_minor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Time (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<i64>,
    /// Payment platform (`Wayfare`, or the outside platform's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_platform: Option<String>,
    /// The Wayfare payment (only for devices that may refund).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

/// A prompt rendered for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedPrompt {
    /// One line for the screen.
    pub display: String,
    /// What a speaker says.
    pub speech: String,
}

fn amount_parts(amount_minor: i64, currency: &str) -> (String, String) {
    let shown = Currency::parse(currency)
        .map(|c| c.format(amount_minor))
        .unwrap_or_else(|_| format!("{amount_minor} {currency}"));
    let exp = if currency == "JPY" { 0 } else { 2 };
    let abs = amount_minor.unsigned_abs();
    let number = if exp == 0 {
        abs.to_string()
    } else {
        format!("{}.{:02}", abs / 100, abs % 100)
    };
    (shown, number)
}

fn zh_unit(currency: &str) -> &str {
    match currency {
        "CNY" => "元",
        "JPY" => "日元",
        "USD" => "美元",
        "EUR" => "欧元",
        "GBP" => "英镑",
        "HKD" => "港元",
        other => other,
    }
}

fn en_unit(currency: &str) -> &str {
    match currency {
        "CNY" => "yuan",
        "JPY" => "yen",
        "USD" => "dollars",
        "EUR" => "euros",
        "GBP" => "pounds",
        "HKD" => "Hong Kong dollars",
        other => other,
    }
}

/// Renders a prompt in `locale` (`zh`, else English), e.g.
/// "Wayfare到账12.50元" / "Wayfare received ¥12.50". Only the attributes
/// present are used.
pub fn render(p: &PromptData, locale: &str) -> RenderedPrompt {
    let amount = match (p.amount_minor, p.currency.as_deref()) {
        (Some(a), Some(c)) => Some((amount_parts(a, c), c)),
        _ => None,
    };
    let zh = locale.starts_with("zh");
    let (head_display, head_speech) = if zh {
        let platform = p.payment_platform.clone().unwrap_or_default();
        let verb = match p.event {
            PromptEvent::Refund => "退款",
            _ => "到账",
        };
        match &amount {
            Some(((_, number), c)) => {
                let t = format!("{platform}{verb}{number}{}", zh_unit(c));
                (t.clone(), t)
            }
            None => {
                let what = match p.event {
                    PromptEvent::Refund => "已退款一笔",
                    _ => "收到一笔付款",
                };
                let t = format!("{platform}{what}");
                (t.clone(), t)
            }
        }
    } else {
        let verb = match p.event {
            PromptEvent::Refund => "refunded",
            _ => "received",
        };
        let who = p.payment_platform.clone();
        match (&amount, who) {
            (Some(((shown, number), c)), Some(platform)) => (
                format!("{platform} {verb} {shown}"),
                format!("{platform} {verb} {number} {}", en_unit(c)),
            ),
            (Some(((shown, number), c)), None) => (
                format!("Payment {verb}: {shown}"),
                format!("Payment {verb}: {number} {}", en_unit(c)),
            ),
            (None, Some(platform)) => {
                let t = format!("{platform}: payment {verb}");
                (t.clone(), t)
            }
            (None, None) => {
                let t = format!("Payment {verb}");
                (t.clone(), t)
            }
        }
    };
    let mut details = Vec::new();
    if let Some(name) = &p.payer_name {
        details.push(if zh {
            format!("付款人 {name}")
        } else {
            format!("from {name}")
        });
    }
    if let Some(name) = &p.payee_name {
        details.push(if zh {
            format!("收款方 {name}")
        } else {
            format!("to {name}")
        });
    }
    if let Some(order) = &p.order_id {
        details.push(if zh {
            format!("订单 {order}")
        } else {
            format!("order {order}")
        });
    }
    let display = if details.is_empty() {
        head_display
    } else {
        format!("{head_display} · {}", details.join(" · "))
    };
    RenderedPrompt {
        display,
        speech: head_speech,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> PromptData {
        PromptData {
            merchant_id: "mer".into(),
            event: PromptEvent::Payment,
            dedupe_key: "k".into(),
            locale: "zh".into(),
            order_id: Some("o-1".into()),
            payer_name: Some("Mei".into()),
            payee_name: None,
            payment_type: Some("pos".into()),
            amount_minor: Some(1_250),
            currency: Some("CNY".into()),
            at_ms: Some(1),
            payment_platform: Some("Wayfare".into()),
            payment_id: None,
        }
    }

    #[test]
    fn renders_chinese_and_english() {
        let zh = render(&data(), "zh");
        assert_eq!(zh.speech, "Wayfare到账12.50元");
        assert_eq!(zh.display, "Wayfare到账12.50元 · 付款人 Mei · 订单 o-1");
        let en = render(&data(), "en");
        assert_eq!(en.display, "Wayfare received ¥12.50 · from Mei · order o-1");
        assert_eq!(en.speech, "Wayfare received 12.50 yuan");
        let mut refund = data();
        refund.event = PromptEvent::Refund;
        assert_eq!(render(&refund, "zh").speech, "Wayfare退款12.50元");
    }

    #[test]
    fn renders_only_what_was_received() {
        let bare = PromptData {
            order_id: None,
            payer_name: None,
            payment_type: None,
            amount_minor: None,
            currency: None,
            at_ms: None,
            payment_platform: None,
            ..data()
        };
        assert_eq!(render(&bare, "en").display, "Payment received");
        assert_eq!(render(&bare, "zh").display, "收到一笔付款");
    }
}
