//! `firewall:`: the admin ranges allowed to reach the Talos and Kubernetes APIs.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use super::Checker;
use super::network::Cidr;
use crate::spec::diagnostic::Spanned;
use crate::spec::model::Firewall;
use crate::spec::raw::example;

impl Checker<'_, '_> {
    pub(super) fn firewall(&mut self, admin_cidrs: Option<&Spanned<Vec<Spanned<String>>>>) -> Option<Firewall> {
        let list = admin_cidrs?;
        if list.value.is_empty() {
            self.error(
                list.span,
                "firewall.admin_cidrs",
                "the list is empty, so nobody could reach the Talos and Kubernetes APIs",
                "at least one range, e.g. `[203.0.113.7/32]` (`0.0.0.0/0` allows everyone)",
                None,
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (index, item) in list.value.iter().enumerate() {
            let field = format!("firewall.admin_cidrs[{index}]");
            match self.cidr(item, &field, example::ADMIN_CIDR, IpNet::trunc) {
                Cidr::Reported => ok = false,
                Cidr::Canonical(net) => {
                    if !out.contains(&net) {
                        out.push(net);
                    }
                }
                Cidr::Not { text, shown } => {
                    let (message, suggestion) = match IpAddr::from_str(text) {
                        Ok(IpAddr::V4(a)) => (format!("`{shown}` is an address, not a range"), Some(format!("{a}/32"))),
                        Ok(IpAddr::V6(a)) => (
                            format!("`{shown}` is an address, not a range"),
                            Some(format!("{a}/128")),
                        ),
                        Err(_) => (format!("`{shown}` is not a CIDR range"), None),
                    };
                    self.error(item.span, &field, message, example::ADMIN_CIDR, suggestion);
                    ok = false;
                }
            }
        }
        ok.then_some(Firewall { admin_cidrs: out })
    }
}
