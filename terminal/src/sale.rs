//! Sales and order outcomes.
//!
//! A POS sale is entered through the control interface and waits for a
//! phone; the session that takes it runs it to an outcome. Only one sale is
//! open at a time. Every order the terminal makes (POS or tram) ends with a
//! [`SaleOutcome`] kept in a bounded in-memory book for `GET /sales/{id}`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use thiserror::Error;
use tokio::sync::watch;
use wayfare_protocol::ids::new_id;
use wayfare_protocol::money::{validate_amount, Currency};

/// How many finished outcomes are remembered.
const OUTCOMES_KEPT: usize = 1_000;
/// Longest sale description accepted.
pub const MAX_DESCRIPTION_LEN: usize = 200;

/// Why a sale could not be entered or changed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SaleError {
    /// This terminal does not take sales (it is a tram reader).
    #[error("this terminal is not a point of sale; its fare comes from its configuration")]
    NotPos,
    /// Another sale is still open.
    #[error("sale {0} is still open; wait for its outcome or cancel it first")]
    SalePending(String),
    /// The amount is not acceptable.
    #[error("{0}")]
    InvalidAmount(String),
    /// The description is too long or has control characters.
    #[error("{0}")]
    InvalidDescription(String),
    /// No open sale has this order id.
    #[error("no open sale has this order id")]
    UnknownSale,
    /// A phone is paying this sale right now.
    #[error("a phone is paying this sale right now; it cannot be cancelled")]
    InSession,
    /// The sale may have been paid: the terminal is settling it with the
    /// platform and it cannot be cancelled until that is known.
    #[error("this sale may already be paid: it is being settled with the payment server and cannot be cancelled until its outcome is known")]
    InDoubt,
    /// Could not make an order id.
    #[error("could not make an order id")]
    Internal,
}

/// The state of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleState {
    /// Entered, waiting for a phone.
    Pending,
    /// A phone received the payment request.
    InSession,
    /// Paid and confirmed; the linkage device was switched on.
    Accepted,
    /// A receipt arrived but was not accepted; the linkage device stayed off.
    Refused,
    /// The user declined on the phone.
    Declined,
    /// The request expired before it was paid.
    Expired,
    /// Cancelled at the terminal before it was paid.
    Cancelled,
    /// The phone was asked to pay but the outcome is unknown (a lost
    /// answer, a broken link): never declined, settled with the platform.
    InDoubt,
    /// Was in doubt; the platform had no payment when the request expired.
    Unpaid,
}

impl SaleState {
    /// Whether the order reached its final state.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            SaleState::Pending | SaleState::InSession | SaleState::InDoubt
        )
    }
}

/// What is known about an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SaleOutcome {
    /// The order id (also sent to the phone in the payment request).
    pub order_id: String,
    /// Where the order stands.
    pub state: SaleState,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// Currency code.
    pub currency: String,
    /// What was sold.
    pub description: String,
    /// The payment server's payment id, once a valid receipt arrived.
    pub payment_id: Option<String>,
    /// A human-readable explanation of the outcome.
    pub message: Option<String>,
    /// When the state last changed (Unix ms).
    pub updated_at_ms: u64,
}

/// A sale handed to a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Sale {
    /// Order id.
    pub order_id: String,
    /// Amount in minor units.
    pub amount_minor: u64,
    /// What is being sold.
    pub description: String,
}

/// The open POS sale: its state, and whether it is in doubt (a phone was
/// asked to pay it and the outcome is unknown).
struct OpenSale {
    sale: Sale,
    state: SaleState,
    in_doubt: bool,
}

#[derive(Default)]
struct Book {
    open: Option<OpenSale>,
    outcomes: HashMap<String, SaleOutcome>,
    order: VecDeque<String>,
}

/// The open sale and the outcomes of recent orders.
pub struct SaleBook {
    currency: Currency,
    pos: bool,
    book: Mutex<Book>,
    changed: watch::Sender<u64>,
}

impl std::fmt::Debug for SaleBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaleBook").field("pos", &self.pos).finish()
    }
}

impl SaleBook {
    /// A book for a terminal in POS mode (`pos`) or not, selling in `currency`.
    pub fn new(currency: Currency, pos: bool) -> Self {
        Self {
            currency,
            pos,
            book: Mutex::new(Book::default()),
            changed: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        // A panic while holding this lock cannot leave the book inconsistent
        // (every update is a single assignment), so poisoning is ignored.
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Enters a sale; returns its order id.
    pub fn new_sale(
        &self,
        amount_minor: u64,
        description: &str,
        now_ms: u64,
    ) -> Result<String, SaleError> {
        if !self.pos {
            return Err(SaleError::NotPos);
        }
        let amount = validate_amount(i128::from(amount_minor))
            .map_err(|e| SaleError::InvalidAmount(e.to_string()))?;
        let description = description.trim();
        if description.chars().count() > MAX_DESCRIPTION_LEN {
            return Err(SaleError::InvalidDescription(format!(
                "description is longer than {MAX_DESCRIPTION_LEN} characters"
            )));
        }
        if description.chars().any(char::is_control) {
            return Err(SaleError::InvalidDescription(
                "description contains control characters".into(),
            ));
        }
        let description = if description.is_empty() {
            "Sale"
        } else {
            description
        };
        let order_id = new_id("ord").map_err(|_| SaleError::Internal)?;
        let sale = Sale {
            order_id: order_id.clone(),
            amount_minor: amount,
            description: description.to_string(),
        };
        {
            let mut book = self.lock();
            if let Some(open) = &book.open {
                return Err(SaleError::SalePending(open.sale.order_id.clone()));
            }
            book.open = Some(OpenSale {
                sale: sale.clone(),
                state: SaleState::Pending,
                in_doubt: false,
            });
            self.put(
                &mut book,
                self.outcome_of(&sale, SaleState::Pending, None, None, now_ms),
            );
        }
        self.notify();
        Ok(order_id)
    }

    fn outcome_of(
        &self,
        sale: &Sale,
        state: SaleState,
        payment_id: Option<String>,
        message: Option<String>,
        now_ms: u64,
    ) -> SaleOutcome {
        SaleOutcome {
            order_id: sale.order_id.clone(),
            state,
            amount_minor: sale.amount_minor,
            currency: self.currency.code().to_string(),
            description: sale.description.clone(),
            payment_id,
            message,
            updated_at_ms: now_ms,
        }
    }

    fn put(&self, book: &mut Book, outcome: SaleOutcome) {
        if !book.outcomes.contains_key(&outcome.order_id) {
            book.order.push_back(outcome.order_id.clone());
        }
        book.outcomes.insert(outcome.order_id.clone(), outcome);
        while book.order.len() > OUTCOMES_KEPT {
            if let Some(old) = book.order.pop_front() {
                book.outcomes.remove(&old);
            }
        }
    }

    /// Takes the pending sale for a session, if there is one. An in-doubt
    /// sale is taken too: the phone that reconnects for it gets the same
    /// order (and re-sends the same instruction).
    pub fn try_take(&self, now_ms: u64) -> Option<Sale> {
        let mut book = self.lock();
        let sale = match &mut book.open {
            Some(open) if matches!(open.state, SaleState::Pending | SaleState::InDoubt) => {
                open.state = SaleState::InSession;
                open.sale.clone()
            }
            _ => return None,
        };
        let outcome = self.outcome_of(&sale, SaleState::InSession, None, None, now_ms);
        self.put(&mut book, outcome);
        Some(sale)
    }

    /// Waits until a sale is pending and takes it. Cancel-safe: a dropped
    /// wait takes nothing.
    pub async fn take(&self) -> Sale {
        let mut rx = self.changed.subscribe();
        loop {
            if let Some(sale) = self.try_take(crate::now_ms()) {
                return sale;
            }
            // The sender lives as long as `self`, so this never errors.
            let _ = rx.changed().await;
        }
    }

    /// Puts a sale whose session ended without an answer back to pending,
    /// so another phone (or the same one again) can pay it.
    pub fn release(&self, order_id: &str, now_ms: u64) {
        {
            let mut book = self.lock();
            let (sale, state) = match &mut book.open {
                Some(open) if open.sale.order_id == order_id => {
                    open.state = if open.in_doubt {
                        SaleState::InDoubt
                    } else {
                        SaleState::Pending
                    };
                    (open.sale.clone(), open.state)
                }
                _ => return,
            };
            let outcome = self.outcome_of(&sale, state, None, None, now_ms);
            self.put(&mut book, outcome);
        }
        self.notify();
    }

    /// Cancels the open sale if no phone is paying it.
    pub fn cancel(&self, order_id: &str, now_ms: u64) -> Result<SaleOutcome, SaleError> {
        let mut book = self.lock();
        match &book.open {
            Some(open) if open.sale.order_id == order_id && open.in_doubt => {
                Err(SaleError::InDoubt)
            }
            Some(OpenSale {
                sale,
                state: SaleState::Pending,
                ..
            }) if sale.order_id == order_id => {
                let outcome = self.outcome_of(
                    sale,
                    SaleState::Cancelled,
                    None,
                    Some("Cancelled at the terminal".into()),
                    now_ms,
                );
                book.open = None;
                self.put(&mut book, outcome.clone());
                Ok(outcome)
            }
            Some(open) if open.sale.order_id == order_id => Err(SaleError::InSession),
            _ => Err(SaleError::UnknownSale),
        }
    }

    /// Records the final outcome of an order (POS sale or tram fare) and
    /// closes the sale if it was the open one.
    pub fn finish(
        &self,
        sale: &Sale,
        state: SaleState,
        payment_id: Option<String>,
        message: &str,
        now_ms: u64,
    ) {
        {
            let mut book = self.lock();
            if matches!(&book.open, Some(open) if open.sale.order_id == sale.order_id) {
                book.open = None;
            }
            let outcome =
                self.outcome_of(sale, state, payment_id, Some(message.to_string()), now_ms);
            self.put(&mut book, outcome);
        }
        self.notify();
    }

    /// Marks an order in doubt: the open POS sale stays open (it cannot be
    /// cancelled, and a reconnecting phone gets it again); any order gets
    /// an `in_doubt` outcome with the reason.
    pub fn mark_in_doubt(&self, sale: &Sale, currency: &Currency, reason: &str, now_ms: u64) {
        {
            let mut book = self.lock();
            if let Some(open) = &mut book.open {
                if open.sale.order_id == sale.order_id {
                    open.in_doubt = true;
                    open.state = SaleState::InDoubt;
                }
            }
            let mut outcome = self.outcome_of(
                sale,
                SaleState::InDoubt,
                None,
                Some(reason.to_string()),
                now_ms,
            );
            outcome.currency = currency.code().to_string();
            self.put(&mut book, outcome);
        }
        self.notify();
    }

    /// What is known about an order.
    pub fn outcome(&self, order_id: &str) -> Option<SaleOutcome> {
        self.lock().outcomes.get(order_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> SaleBook {
        SaleBook::new(Currency::parse("CNY").unwrap(), true)
    }

    #[test]
    fn one_open_sale_at_a_time_and_amounts_are_validated() {
        let b = book();
        assert!(matches!(
            b.new_sale(0, "x", 1),
            Err(SaleError::InvalidAmount(_))
        ));
        let id = b.new_sale(1250, "coffee", 1).unwrap();
        assert_eq!(b.outcome(&id).unwrap().state, SaleState::Pending);
        assert_eq!(
            b.new_sale(100, "tea", 1),
            Err(SaleError::SalePending(id.clone()))
        );
        let sale = b.try_take(2).unwrap();
        assert_eq!(sale.amount_minor, 1250);
        assert!(b.try_take(2).is_none());
        assert_eq!(b.cancel(&id, 3), Err(SaleError::InSession));
        b.release(&id, 3);
        assert_eq!(b.outcome(&id).unwrap().state, SaleState::Pending);
        let sale = b.try_take(4).unwrap();
        b.finish(
            &sale,
            SaleState::Accepted,
            Some("pay_1".into()),
            "Payment accepted",
            5,
        );
        let out = b.outcome(&id).unwrap();
        assert_eq!(out.state, SaleState::Accepted);
        assert_eq!(out.payment_id.as_deref(), Some("pay_1"));
        b.new_sale(100, "tea", 6).unwrap();
    }

    #[test]
    fn tram_book_refuses_sales() {
        let b = SaleBook::new(Currency::parse("CNY").unwrap(), false);
        assert_eq!(b.new_sale(100, "x", 1), Err(SaleError::NotPos));
    }

    #[tokio::test]
    async fn take_waits_for_a_sale() {
        let b = std::sync::Arc::new(book());
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.take().await }
        });
        let id = b.new_sale(500, "sandwich", 1).unwrap();
        assert_eq!(waiter.await.unwrap().order_id, id);
    }
}
