//! The shop scene shared by the merchant whole-system tests: a control
//! center, a POS terminal, an owner phone and a funded customer.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use wayfare_cli::admin::Merchant;
use wayfare_cli::local::{LocalSystem, RiderWallet, TerminalOptions};
use wayfare_cli::merchant_cmd::attach_owner;
use wayfare_core::{
    ExternalNotice, MerchantOperation as Op, MerchantPrompt, PromptAttribute as Attr, PromptStream,
    StaffInvitation,
};
use wayfare_e2e::connect;
use wayfare_terminal::RunningTerminal;

pub const CNY: &str = "CNY";

pub struct Shop {
    pub system: LocalSystem,
    pub shop: Merchant,
    pub pos: RunningTerminal,
    pub owner: RiderWallet,
    pub customer: RiderWallet,
}

pub async fn shop(locale: &str) -> Shop {
    wayfare_e2e::init();
    // PostgreSQL when WAYFARE_TEST_DATABASE_URL names one (scripts/test.sh),
    // else SQLite.
    let database = std::env::var("WAYFARE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let system = LocalSystem::start_with_database(database).await.unwrap();
    let shop = system.merchant("Lotus Tea House", CNY).await.unwrap();
    let pos = system
        .pos_terminal(&shop, CNY, TerminalOptions::default())
        .await
        .unwrap();
    let owner = system.rider("Owner", None).await.unwrap();
    attach_owner(
        system.base_url(),
        &system.admin_token(),
        &shop.merchant_id,
        &owner.account_id(),
        locale,
    )
    .await
    .unwrap();
    let customer = system.rider("Mei", None).await.unwrap();
    system.fund(&customer, 100_000).await.unwrap();
    Shop {
        system,
        shop,
        pos,
        owner,
        customer,
    }
}

impl Shop {
    /// The owner invites a staff phone allowed `ops` and shown `content`.
    pub async fn invite(
        &self,
        ops: Vec<Op>,
        content: Vec<Attr>,
        label: Option<String>,
    ) -> StaffInvitation {
        self.owner
            .wallet
            .merchant()
            .invite_staff(
                self.shop.merchant_id.clone(),
                ops,
                content,
                label,
                None,
                None,
            )
            .await
            .unwrap()
    }

    pub async fn staff(&self, ops: Vec<Op>, content: Vec<Attr>) -> RiderWallet {
        let staff = self.system.rider("Staff", None).await.unwrap();
        let inv = self.invite(ops, content, None).await;
        staff
            .wallet
            .merchant()
            .accept_invitation(inv.code)
            .await
            .unwrap();
        staff
    }

    /// The customer pays at the POS; returns (order id, payment id).
    pub async fn pay(&self, amount: u64) -> (String, String) {
        let order = self.pos.new_sale(amount, "tea").await.unwrap();
        let session = connect(&self.customer, &self.pos).await;
        session.next_payment_request().await.unwrap();
        let outcome = session.confirm().await.unwrap();
        (order, outcome.payment_id)
    }

    pub async fn forward(&self, platform: &str, order: &str, amount: u64) {
        self.owner
            .wallet
            .merchant()
            .forward_external_notice(
                self.shop.merchant_id.clone(),
                ExternalNotice {
                    platform: platform.into(),
                    order_id: order.into(),
                    amount_minor: amount,
                    currency: CNY.into(),
                    payer_name: Some("Mei".into()),
                    payee_name: None,
                    payment_type: Some("qr_code".into()),
                    paid_at_ms: None,
                },
            )
            .await
            .unwrap();
    }
}

pub async fn next(stream: &PromptStream) -> MerchantPrompt {
    tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("a prompt within 20 s")
        .expect("prompt stream")
}

pub fn raw(prompt: &MerchantPrompt) -> Value {
    serde_json::from_str(&prompt.raw_json).unwrap()
}
