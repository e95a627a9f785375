//! Typed IDs of Hetzner resources: the generated crate uses bare `i64` for all of them, and
//! passing a server ID where an image ID belongs is a bug the compiler should catch
//! (style.md item 14). Conversion to and from `i64` happens inside this module only.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Wraps an ID as the API sent it.
            pub const fn new(id: i64) -> Self {
                $name(id)
            }

            /// The ID as the API expects it.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// The ID of a server.
    ServerId
);
id_type!(
    /// The ID of an image (snapshot, backup or system image).
    ImageId
);
id_type!(
    /// The ID of an asynchronous action.
    ActionId
);
id_type!(
    /// The ID of an SSH key.
    SshKeyId
);
id_type!(
    /// The ID of a private network.
    NetworkId
);
id_type!(
    /// The ID of a firewall.
    FirewallId
);
id_type!(
    /// The ID of a placement group.
    PlacementGroupId
);
id_type!(
    /// The ID of a floating IP.
    FloatingIpId
);
id_type!(
    /// The ID of a primary IP.
    PrimaryIpId
);
id_type!(
    /// The ID of a load balancer.
    LoadBalancerId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_and_serialize_as_the_bare_number() {
        let id = ServerId::new(120_000_001);
        assert_eq!(id.to_string(), "120000001");
        assert_eq!(serde_json::to_string(&id).unwrap(), "120000001");
        let back: ImageId = serde_json::from_str("9007199254740991").unwrap();
        assert_eq!(back.get(), 9_007_199_254_740_991);
    }
}
