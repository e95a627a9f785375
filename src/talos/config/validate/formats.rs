//! Syntax checks of individual values: endpoint URLs (Talos's `ValidateEndpointURI`), DNS
//! names, IP addresses and CIDRs, Kubernetes label keys and values, taints and tokens.
//! Each returns the reason a value is invalid, worded to be appended to a field's message.

use std::net::IpAddr;

/// The Kubernetes API endpoint rules of Talos (`siderolabs/net` `ValidateEndpointURI`),
/// plus talosctl's `https` requirement.
pub fn endpoint(text: &str) -> Result<(), String> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err("no scheme; expected a URL such as https://203.0.113.10:6443".into());
    };
    if scheme != "https" {
        return Err(format!("scheme must be https, got {scheme:?}"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err("IPv6 addresses MUST be enclosed by square brackets".into());
        };
        (host, after.strip_prefix(':'))
    } else if host_port.matches(':').count() > 1 {
        return Err("IPv6 addresses MUST be enclosed by square brackets".into());
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("hostname must not be blank".into());
    }
    if let Some(port) = port {
        if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
            return Err("port number must be numeric".into());
        }
        match port.parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) => {}
            _ => return Err("port number must be between 1 and 65535".into()),
        }
    }
    url::Url::parse(text).map_err(|e| e.to_string())?;
    Ok(())
}

/// An RFC 1123 DNS subdomain (lowercase labels of letters, digits and `-`, each 1–63
/// characters, 253 in all), as Talos requires of the cluster DNS domain.
pub fn dns_name(text: &str) -> Result<(), String> {
    if text.is_empty() || text.len() > 253 {
        return Err("a DNS name has 1 to 253 characters".into());
    }
    for label in text.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err(format!(
                "label {label:?} must be 1 to 63 lowercase letters, digits or '-', not starting or ending with '-'"
            ));
        }
    }
    Ok(())
}

/// A certificate SAN: an IP address or a DNS name (a leading `*.` wildcard allowed, any
/// letter case).
pub fn san(text: &str) -> Result<(), String> {
    if text.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let name = text.strip_prefix("*.").unwrap_or(text).to_ascii_lowercase();
    dns_name(&name).map_err(|_| "expected an IP address or a DNS name".to_string())
}

/// A CIDR such as `10.0.16.0/20` or `fd00::/64`.
pub fn cidr(text: &str) -> Result<(), String> {
    text.parse::<ipnet::IpNet>()
        .map(drop)
        .map_err(|_| "expected a CIDR such as 10.0.16.0/20".to_string())
}

/// An interface address: a CIDR or a bare IP address.
pub fn address(text: &str) -> Result<(), String> {
    if text.parse::<IpAddr>().is_ok() || text.parse::<ipnet::IpNet>().is_ok() {
        Ok(())
    } else {
        Err(format!("failed to parse {text:?} as an IP address or CIDR"))
    }
}

/// A Kubernetes token `[a-z0-9]{6}.[a-z0-9]{16}` (bootstrap and trustd tokens).
pub fn token(text: &str) -> Result<(), String> {
    let valid = text.split_once('.').is_some_and(|(id, secret)| {
        let lower = |s: &str| s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        id.len() == 6 && secret.len() == 16 && lower(id) && lower(secret)
    });
    if valid {
        Ok(())
    } else {
        Err("expected 6 and 16 lowercase letters or digits joined by '.', e.g. abcdef.0123456789abcdef".into())
    }
}

fn qualified_name_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 63
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && part.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && part.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// A Kubernetes label or annotation key: `[prefix/]name`, the prefix a DNS subdomain.
pub fn label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        dns_name(prefix).map_err(|e| format!("key {key:?}: prefix: {e}"))?;
    }
    if !qualified_name_part(name) {
        return Err(format!(
            "key {key:?}: the name part must be 1 to 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A Kubernetes label value: empty, or up to 63 characters like a name part.
pub fn label_value(key: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || qualified_name_part(value) {
        Ok(())
    } else {
        Err(format!(
            "value {value:?} of {key:?}: up to 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ))
    }
}

/// A node taint written `value:Effect` or `Effect`.
pub fn taint(key: &str, value: &str) -> Result<(), String> {
    label_key(key)?;
    let (taint_value, effect) = match value.rsplit_once(':') {
        Some((v, e)) => (v, e),
        None => ("", value),
    };
    label_value(key, taint_value)?;
    if matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        Ok(())
    } else {
        Err(format!(
            "taint {key:?}: effect {effect:?} must be NoSchedule, PreferNoSchedule or NoExecute"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_validate_endpoint_uri() {
        assert_eq!(endpoint("https://203.0.113.10:6443"), Ok(()));
        assert_eq!(endpoint("https://[2001:db8::1]:6443"), Ok(()));
        assert_eq!(endpoint("https://base"), Ok(()));
        assert_eq!(
            endpoint("203.0.113.10:6443"),
            Err("no scheme; expected a URL such as https://203.0.113.10:6443".into())
        );
        assert_eq!(endpoint("https://:6443"), Err("hostname must not be blank".into()));
        assert_eq!(
            endpoint("https://2001:db8::1:6443"),
            Err("IPv6 addresses MUST be enclosed by square brackets".into())
        );
        assert_eq!(endpoint("https://a:b"), Err("port number must be numeric".into()));
        assert_eq!(
            endpoint("https://a:70000"),
            Err("port number must be between 1 and 65535".into())
        );
        assert_eq!(
            endpoint("http://a:6443"),
            Err("scheme must be https, got \"http\"".into())
        );
    }

    #[test]
    fn names_addresses_tokens() {
        assert!(dns_name("cluster.local").is_ok());
        assert!(dns_name("Cluster.local").is_err());
        assert!(dns_name("-a.b").is_err());
        assert!(san("*.example.com").is_ok());
        assert!(san("2001:db8::1").is_ok());
        assert!(san("not a name").is_err());
        assert!(cidr("10.0.16.0/20").is_ok());
        assert!(cidr("10.0.16.0").is_err());
        assert!(address("10.0.0.2").is_ok());
        assert!(address("10.0.0.2/24").is_ok());
        assert!(address("10.0.0.300/24").is_err());
        assert!(token("d8cwfa.eyvpi0xwxyarbfid").is_ok());
        assert!(token("D8CWFA.eyvpi0xwxyarbfid").is_err());
        assert!(token("d8cwfa-eyvpi0xwxyarbfid").is_err());
    }

    #[test]
    fn kubernetes_labels_and_taints() {
        assert!(label_key("node.kubernetes.io/exclude-from-external-load-balancers").is_ok());
        assert!(label_key("role").is_ok());
        assert!(label_key("-role").is_err());
        assert!(label_key("Bad_Prefix/x").is_err());
        assert!(label_value("k", "").is_ok());
        assert!(label_value("k", "a b").is_err());
        assert!(taint("node-role.kubernetes.io/control-plane", "NoSchedule").is_ok());
        assert!(taint("dedicated", "db:NoExecute").is_ok());
        assert!(taint("dedicated", "db:Sometimes").is_err());
    }
}
