//! `sysctls:`: kernel parameters set on every node.

use std::collections::BTreeMap;

use super::Checker;
use crate::excerpt::excerpt;
use crate::spec::diagnostic::Spanned;

impl Checker<'_, '_> {
    pub(super) fn sysctls(&mut self, raw: &[(Spanned<String>, Spanned<String>)]) -> Option<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, value) in raw {
            let field = format!("sysctls.{}", key.value);
            if !is_sysctl_name(&key.value) {
                self.error(
                    key.span,
                    &field,
                    format!("`{}` is not a sysctl name", excerpt(&key.value).escape_debug()),
                    "a dotted sysctl name, e.g. `net.core.somaxconn` or `vm.swappiness`",
                    None,
                );
                ok = false;
                continue;
            }
            if out.insert(key.value.clone(), value.value.clone()).is_some() {
                self.error(
                    key.span,
                    &field,
                    format!("sysctl `{}` is set twice", excerpt(&key.value)),
                    "",
                    None,
                );
                ok = false;
            }
        }
        ok.then_some(out)
    }
}

/// Returns true if and only if `name` looks like a sysctl: dot-separated segments of
/// letters, digits, `_` and `-` (with `/` standing for a dot inside interface names), at
/// least two segments, the first lowercase.
pub(crate) fn is_sysctl_name(name: &str) -> bool {
    let mut segments = name.split('.');
    let first_ok = segments.next().is_some_and(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    });
    let mut rest = 0;
    let rest_ok = segments.all(|s| {
        rest += 1;
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/'))
    });
    first_ok && rest_ok && rest >= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_names() {
        for ok in [
            "vm.swappiness",
            "net.core.somaxconn",
            "net.ipv4.ip_local_port_range",
            "net.ipv4.conf.eth0/100.rp_filter",
            "net.ipv6.conf.all.disable_ipv6",
        ] {
            assert!(is_sysctl_name(ok), "{ok}");
        }
        for bad in [
            "swappiness",
            "",
            "vm.",
            ".vm",
            "vm..x",
            "vm swappiness",
            "VM.x",
            "vm.$(x)",
        ] {
            assert!(!is_sysctl_name(bad), "{bad}");
        }
    }
}
