//! `wayfare wallet guardian …`: guardian bindings from the rider's and the
//! guardian's side, the daily limit, and the alerts this wallet receives.

use std::sync::Arc;

use anyhow::{bail, Result};
use clap::{Subcommand, ValueEnum};
use wayfare_core::{BindingRole, GuardianAlert, GuardianBinding, GuardianScope, RiderName, Wallet};

/// What the guardian receives.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScopeArg {
    /// Only tram and gate payments.
    Transit,
    /// Every payment.
    All,
}

/// Guardian commands.
#[derive(Subcommand)]
pub enum GuardianAction {
    /// Rider: invite a guardian (prints a code and a QR payload, single use).
    Invite {
        /// What the guardian receives.
        #[arg(long, value_enum, default_value = "transit")]
        scope: ScopeArg,
        /// Name shown to the guardian; without it, "the phone ending 1234"
        /// from the registered phone number.
        #[arg(long)]
        nickname: Option<String>,
        /// Seconds the invitation stays valid (default 600).
        #[arg(long)]
        expires_in_s: Option<u32>,
    },
    /// Guardian: accept a rider's invitation (the code or the QR payload).
    Accept {
        /// The code, e.g. K7M2-Q9XD.
        code: String,
    },
    /// The bindings of this wallet, as rider and as guardian.
    List {
        /// Include revoked and left bindings.
        #[arg(long)]
        all: bool,
    },
    /// One binding.
    Show {
        /// Binding id.
        binding_id: String,
    },
    /// Rider: revoke a binding (alerts stop at once).
    Revoke {
        /// Binding id.
        binding_id: String,
    },
    /// Guardian: leave a binding.
    Leave {
        /// Binding id.
        binding_id: String,
    },
    /// Guardian: set or clear the rider's daily spending limit.
    Limit {
        /// Binding id.
        binding_id: String,
        /// The limit in minor units (e.g. 2000 = ¥20.00); omit with --clear.
        #[arg(long, conflicts_with = "clear")]
        amount: Option<u64>,
        /// Remove the limit.
        #[arg(long)]
        clear: bool,
        /// The day counts in this UTC offset, in minutes (480 = UTC+8).
        #[arg(long, allow_hyphen_values = true)]
        utc_offset_minutes: Option<i32>,
    },
    /// Guardian: show received alerts (fetching new ones first).
    Alerts {
        /// Wait on the live stream for this many new alerts, then stop.
        #[arg(long)]
        follow: Option<u32>,
        /// How many stored alerts to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

fn print_binding(b: &GuardianBinding) {
    let limit = b
        .daily_limit_minor
        .map(|l| format!(", daily limit {l} minor units"))
        .unwrap_or_default();
    let who = if b.role == BindingRole::Rider {
        format!("guardian {} ({})", b.counterpart_name, b.counterpart_handle)
    } else {
        format!("rider shown as \"{}\"", b.rider_name)
    };
    println!(
        "{}  as {:<8} {:<7} {:<13} {who}{limit}",
        b.binding_id,
        b.role.as_str(),
        b.status.as_str(),
        b.scope.as_str()
    );
}

/// Prints one alert in both languages.
pub fn print_alert(a: &GuardianAlert) {
    println!("[{}] {}", a.event_id, a.text_en);
    println!("      {}", a.text_zh);
}

/// Runs one guardian action.
pub async fn run(wallet: &Arc<Wallet>, action: GuardianAction) -> Result<()> {
    let g = wallet.guardians();
    match action {
        GuardianAction::Invite {
            scope,
            nickname,
            expires_in_s,
        } => {
            let scope = match scope {
                ScopeArg::Transit => GuardianScope::TransitOnly,
                ScopeArg::All => GuardianScope::AllPayments,
            };
            let shown = match nickname {
                Some(nickname) => RiderName::Nickname { nickname },
                None => RiderName::PhoneTail,
            };
            let inv = g.create_invitation(scope, shown, expires_in_s).await?;
            println!("invitation code: {}", inv.code);
            println!("QR payload:      {}", inv.qr_payload);
            println!(
                "the guardian will see \"{}\" ({}); valid until {} (Unix ms), once",
                inv.rider_name,
                inv.scope.as_str(),
                inv.expires_at_ms
            );
        }
        GuardianAction::Accept { code } => {
            let b = g.accept_invitation(code).await?;
            println!("you are now a guardian:");
            print_binding(&b);
        }
        GuardianAction::List { all } => {
            let list = g.bindings(all).await?;
            if list.as_rider.is_empty() && list.as_guardian.is_empty() {
                println!("no bindings");
            }
            for b in list.as_rider.iter().chain(list.as_guardian.iter()) {
                print_binding(b);
            }
        }
        GuardianAction::Show { binding_id } => print_binding(&g.binding(binding_id).await?),
        GuardianAction::Revoke { binding_id } => print_binding(&g.revoke(binding_id).await?),
        GuardianAction::Leave { binding_id } => print_binding(&g.leave(binding_id).await?),
        GuardianAction::Limit {
            binding_id,
            amount,
            clear,
            utc_offset_minutes,
        } => {
            if amount.is_none() && !clear {
                bail!("give --amount N or --clear");
            }
            let b = g
                .set_daily_limit(binding_id, amount, utc_offset_minutes)
                .await?;
            print_binding(&b);
        }
        GuardianAction::Alerts { follow, limit } => {
            let fresh = g.sync_alerts().await?;
            if !fresh.is_empty() {
                println!("{} new alert(s)", fresh.len());
            }
            for a in g.alerts(limit)? {
                print_alert(&a);
            }
            if let Some(n) = follow {
                let stream = g.alert_stream();
                for _ in 0..n {
                    print_alert(&stream.next().await?);
                }
                stream.cancel();
            }
        }
    }
    Ok(())
}
