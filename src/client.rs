//! What a request says about its client, kept when the layer's
//! `login_metadata` or `bind_user_agent` is on.

use std::net::IpAddr;

use http::header::USER_AGENT;
use http::{HeaderName, HeaderValue, Request};

use crate::record::SessionMetadata;

/// The most bytes of a `User-Agent` kept.
const MAX_USER_AGENT: usize = 256;

/// The client of one request: header values are kept as they came (a
/// reference-count bump) and only turned into text at login.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    user_agent: Option<HeaderValue>,
    ip: Option<IpAddr>,
}

impl Client {
    /// Reads the client from `request`: the address from `ip_header` (set by
    /// a proxy you trust; its last entry is the address the proxy saw), else
    /// from the socket as axum's `ConnectInfo<SocketAddr>` gives it (feature
    /// `connect-info`).
    pub(crate) fn of<B>(request: &Request<B>, ip_header: Option<&HeaderName>) -> Self {
        let from_header = ip_header
            .and_then(|name| request.headers().get_all(name).iter().next_back())
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.rsplit(',').next())
            .and_then(|last| last.trim().parse().ok());
        Self {
            user_agent: request.headers().get(USER_AGENT).cloned(),
            ip: from_header.or_else(|| socket_ip(request)),
        }
    }

    /// 64 bits of the SHA-256 of the `User-Agent` (of nothing, if absent).
    pub(crate) fn agent_digest(&self) -> u64 {
        use sha2::{Digest, Sha256};
        let bytes = self
            .user_agent
            .as_ref()
            .map_or(&[][..], HeaderValue::as_bytes);
        let digest = Sha256::digest(bytes);
        u64::from_be_bytes(digest[..8].try_into().expect("8 of 32 bytes"))
    }

    pub(crate) fn metadata(&self) -> SessionMetadata {
        let user_agent = self.user_agent.as_ref().map(|value| {
            let text = String::from_utf8_lossy(value.as_bytes());
            let mut end = text.len().min(MAX_USER_AGENT);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text[..end].to_owned()
        });
        SessionMetadata {
            user_agent,
            ip: self.ip,
        }
    }
}

#[cfg(feature = "connect-info")]
fn socket_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    use axum::extract::ConnectInfo;
    request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

#[cfg(not(feature = "connect-info"))]
fn socket_ip<B>(_request: &Request<B>) -> Option<IpAddr> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trusted_header_gives_the_address_its_proxy_saw() {
        let name = HeaderName::from_static("x-forwarded-for");
        let request = Request::builder()
            .header("x-forwarded-for", "198.51.100.9, 203.0.113.4")
            .header("user-agent", "é".repeat(200))
            .body(())
            .unwrap();
        let metadata = Client::of(&request, Some(&name)).metadata();
        assert_eq!(metadata.ip, Some("203.0.113.4".parse().unwrap()));
        let agent = metadata.user_agent.unwrap();
        assert!(
            agent.len() <= MAX_USER_AGENT && agent.starts_with('é'),
            "{agent}"
        );
        // Without the header configured, a client's own header is not trusted.
        assert_eq!(Client::of(&request, None).metadata().ip, None);
    }
}
