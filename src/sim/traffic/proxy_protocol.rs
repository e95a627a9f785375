//! PROXY protocol headers (HAProxy's `proxy-protocol.txt`): what a load balancer service
//! with `proxyprotocol: true` sends to the target before the client's bytes, so the target
//! learns the client's address.

use std::net::{IpAddr, SocketAddr};

/// The PROXY protocol version a load balancer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyProtocol {
    /// The text form: `PROXY TCP4 SRC DST SPORT DPORT\r\n`.
    #[default]
    V1,
    /// The binary form (12-byte signature, version/command, family, addresses).
    V2,
}

/// The binary header's signature.
const V2_SIGNATURE: [u8; 12] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

impl ProxyProtocol {
    /// The header for a connection from `client` accepted on `local`.
    pub fn header(self, client: SocketAddr, local: SocketAddr) -> Vec<u8> {
        match self {
            ProxyProtocol::V1 => v1(client, local),
            ProxyProtocol::V2 => v2(client, local),
        }
    }
}

fn v1(client: SocketAddr, local: SocketAddr) -> Vec<u8> {
    let (client, local) = same_family(client, local);
    let family = if client.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        client.ip(),
        local.ip(),
        client.port(),
        local.port()
    )
    .into_bytes()
}

fn v2(client: SocketAddr, local: SocketAddr) -> Vec<u8> {
    let (client, local) = same_family(client, local);
    let mut out = V2_SIGNATURE.to_vec();
    // Version 2, command PROXY.
    out.push(0x21);
    match (client.ip(), local.ip()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            // AF_INET, STREAM; 4 + 4 + 2 + 2 bytes of addresses.
            out.push(0x11);
            out.extend_from_slice(&12u16.to_be_bytes());
            out.extend_from_slice(&src.octets());
            out.extend_from_slice(&dst.octets());
        }
        (src, dst) => {
            // AF_INET6, STREAM; 16 + 16 + 2 + 2 bytes.
            out.push(0x21);
            out.extend_from_slice(&36u16.to_be_bytes());
            out.extend_from_slice(&v6(src).octets());
            out.extend_from_slice(&v6(dst).octets());
        }
    }
    out.extend_from_slice(&client.port().to_be_bytes());
    out.extend_from_slice(&local.port().to_be_bytes());
    out
}

fn v6(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Both addresses in one family (IPv4-mapped IPv6 when they differ), as the header needs.
fn same_family(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a.is_ipv4() == b.is_ipv4() {
        (a, b)
    } else {
        (
            SocketAddr::new(IpAddr::V6(v6(a.ip())), a.port()),
            SocketAddr::new(IpAddr::V6(v6(b.ip())), b.port()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_is_the_text_line() {
        let header = ProxyProtocol::V1.header(
            "127.0.0.1:40000".parse().expect("addr"),
            "127.3.0.2:443".parse().expect("addr"),
        );
        assert_eq!(header, b"PROXY TCP4 127.0.0.1 127.3.0.2 40000 443\r\n");
    }

    #[test]
    fn v2_has_signature_family_and_addresses() {
        let header = ProxyProtocol::V2.header(
            "127.0.0.1:40000".parse().expect("addr"),
            "127.3.0.2:443".parse().expect("addr"),
        );
        assert_eq!(header.len(), 16 + 12);
        assert_eq!(&header[..12], &V2_SIGNATURE);
        assert_eq!(&header[12..16], &[0x21, 0x11, 0, 12]);
        assert_eq!(&header[16..20], &[127, 0, 0, 1]);
        assert_eq!(&header[20..24], &[127, 3, 0, 2]);
        assert_eq!(&header[24..26], &40000u16.to_be_bytes());
        assert_eq!(&header[26..28], &443u16.to_be_bytes());
    }

    #[test]
    fn mixed_families_become_ipv6() {
        let header = ProxyProtocol::V1.header("[::1]:1".parse().expect("addr"), "127.3.0.2:80".parse().expect("addr"));
        assert_eq!(header, b"PROXY TCP6 ::1 ::ffff:127.3.0.2 1 80\r\n");
    }
}
