//! Admission into the handshake: at most a few connections per peer (and
//! overall) may be in the handshake at once, each holding a [`Ticket`]
//! until the session takes the terminal or ends. It lives apart from the
//! listener so that the session can hold its ticket without importing back
//! into [`crate::listener`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use crate::config::ConnectionLimits;

/// Counts the connections in the handshake, overall and per peer.
#[derive(Clone)]
pub(crate) struct Admission {
    limits: ConnectionLimits,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

/// One connection's place in the handshake; given back when dropped
/// (when the session takes the terminal, or ends).
pub(crate) struct Ticket {
    counts: Arc<Mutex<Counts>>,
    peer: IpAddr,
}

impl Admission {
    pub(crate) fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            counts: Arc::default(),
        }
    }

    /// A place in the handshake for a connection from `ip`, or `None` when
    /// its peer or the terminal is at its cap.
    pub(crate) fn admit(&self, ip: IpAddr) -> Option<Ticket> {
        let peer = peer_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let from_peer = counts.per_peer.get(&peer).copied().unwrap_or(0);
        if counts.total >= self.limits.max_handshakes
            || from_peer >= self.limits.max_handshakes_per_peer
        {
            return None;
        }
        counts.total += 1;
        counts.per_peer.insert(peer, from_peer + 1);
        Some(Ticket {
            counts: self.counts.clone(),
            peer,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_peer.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_peer.remove(&self.peer);
            }
        }
    }
}

/// The address a peer is counted under: IPv4 (also when IPv4-mapped) as
/// is, IPv6 by its /64 network (one host usually holds a whole /64).
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_peer: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_handshakes: total,
            max_handshakes_per_peer: per_peer,
        }
    }

    #[test]
    fn a_peer_over_its_cap_is_refused_until_a_place_frees() {
        let admission = Admission::new(limits(10, 2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert!(admission.admit(a).is_none());
        assert!(admission.admit(b).is_some());
        drop(first);
        assert!(admission.admit(a).is_some());
    }

    #[test]
    fn the_overall_cap_holds_across_peers() {
        let admission = Admission::new(limits(3, 2));
        let tickets: Vec<_> = (1..=3)
            .map(|i| admission.admit(IpAddr::from([192, 0, 2, i])).unwrap())
            .collect();
        assert!(admission.admit(IpAddr::from([192, 0, 2, 9])).is_none());
        drop(tickets);
        let _kept = admission.admit(IpAddr::from([192, 0, 2, 9])).unwrap();
        assert_eq!(admission.counts.lock().unwrap().total, 1);
    }

    #[test]
    fn ipv6_peers_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let admission = Admission::new(limits(10, 1));
        let _t = admission.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(admission
            .admit("2001:db8:1:2::ffff".parse().unwrap())
            .is_none());
        assert!(admission
            .admit("2001:db8:1:3::1".parse().unwrap())
            .is_some());
        let _v4 = admission.admit("192.0.2.7".parse().unwrap()).unwrap();
        assert!(admission
            .admit("::ffff:192.0.2.7".parse().unwrap())
            .is_none());
    }
}
