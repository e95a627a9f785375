//! `machine.type`: the role a Talos machine config gives its node.
//!
//! Pure data shared by config generation ([`crate::talos::config`]) and the emulated nodes
//! ([`crate::sim::talos`]), which read it from the configs they receive.

use std::fmt;

/// The node role of a machine config (`machine.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MachineType {
    /// `init`: a legacy control plane that bootstraps itself. Talos still accepts it and
    /// treats it as a control plane; talos-hcloud never generates it.
    Init,
    /// `controlplane`: etcd and the Kubernetes control plane, holding the CA keys.
    ControlPlane,
    /// `worker`: no control plane, no CA keys.
    Worker,
}

impl MachineType {
    /// Returns true if and only if the node runs etcd and the Kubernetes control plane.
    pub fn is_control_plane(self) -> bool {
        matches!(self, MachineType::Init | MachineType::ControlPlane)
    }

    /// The `machine.type` value, also the file stem talosctl uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineType::Init => "init",
            MachineType::ControlPlane => "controlplane",
            MachineType::Worker => "worker",
        }
    }

    /// Parses a `machine.type` value.
    pub fn from_name(name: &str) -> Option<MachineType> {
        [MachineType::Init, MachineType::ControlPlane, MachineType::Worker]
            .into_iter()
            .find(|machine_type| machine_type.as_str() == name)
    }
}

impl fmt::Display for MachineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_init_is_a_control_plane() {
        for machine_type in [MachineType::Init, MachineType::ControlPlane, MachineType::Worker] {
            assert_eq!(MachineType::from_name(machine_type.as_str()), Some(machine_type));
            assert_eq!(machine_type.to_string(), machine_type.as_str());
        }
        assert!(MachineType::Init.is_control_plane() && MachineType::ControlPlane.is_control_plane());
        assert!(!MachineType::Worker.is_control_plane());
        assert_eq!(MachineType::from_name("control-plane"), None);
    }
}
