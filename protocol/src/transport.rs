//! Which control-center URLs a phone or a terminal may talk to.
//!
//! Device and terminal keys are pinned on first use and every request is
//! signed, but signatures do not hide what a request says (amounts,
//! stations, handles) and first-use pinning over plain HTTP can be
//! hijacked. So the control center is reached over HTTPS, and plain
//! `http://` is accepted only to this machine (loopback: the demo, tests,
//! or a TLS-terminating proxy on the same host).

use url::{Host, Url};

/// Why a server URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerUrlError {
    /// Not a URL at all.
    #[error("{url:?} is not a URL: {reason}")]
    Unparsable {
        /// The text given.
        url: String,
        /// The parser's reason.
        reason: String,
    },
    /// A scheme other than http or https.
    #[error("{url:?} must start with https://")]
    Scheme {
        /// The text given.
        url: String,
    },
    /// Plain HTTP to another machine.
    #[error("{url:?} uses plain http:// to another machine; use https:// (plain http is allowed only to loopback, e.g. http://127.0.0.1)")]
    PlainHttp {
        /// The text given.
        url: String,
    },
}

/// Checks a control-center URL: `https://` anywhere, `http://` only to a
/// loopback host (`127.0.0.0/8`, `::1`, `localhost`).
pub fn check_server_url(text: &str) -> Result<Url, ServerUrlError> {
    let url = Url::parse(text.trim()).map_err(|e| ServerUrlError::Unparsable {
        url: text.to_string(),
        reason: e.to_string(),
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(url.host()) => Ok(url),
        "http" => Err(ServerUrlError::PlainHttp {
            url: text.to_string(),
        }),
        _ => Err(ServerUrlError::Scheme {
            url: text.to_string(),
        }),
    }
}

fn is_loopback(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_plain_http_only_to_loopback() {
        for ok in [
            "https://cc.example.com",
            "https://10.0.0.5:8443/base",
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://[::1]:8080",
            "http://localhost:8080",
        ] {
            assert!(check_server_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://cc.example.com",
            "http://192.168.1.10:8080",
            "http://[2001:db8::1]",
            "http://localhost.evil.example",
        ] {
            assert!(
                matches!(check_server_url(bad), Err(ServerUrlError::PlainHttp { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            check_server_url("ftp://cc.example.com"),
            Err(ServerUrlError::Scheme { .. })
        ));
        assert!(matches!(
            check_server_url("not a url"),
            Err(ServerUrlError::Unparsable { .. })
        ));
    }
}
