//! The power state machine (`initializing` → `starting` → `running` → `stopping` →
//! `off`) and rescue mode: boot, power on/off, ACPI shutdown, reboot/reset, crashes.

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::super::error::ApiError;
use super::super::{FlexId, NewAction, ResourceRef, SimEvent, World};
use super::{Server, ServerStatus};

/// `enable_rescue`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnableRescue {
    #[serde(rename = "type")]
    kind: Option<String>,
    ssh_keys: Option<Vec<FlexId>>,
}

/// An enabled rescue system that no boot used is disabled after this long (simulated).
const RESCUE_EXPIRY_SECONDS: f64 = 3600.0;

impl World {
    /// The server finished booting: the rescue system if it was enabled.
    pub(crate) fn boot(&mut self, id: u64) {
        let Some(server) = self.servers.get_mut(&id) else {
            return;
        };
        server.status = ServerStatus::Running;
        server.rescue_booted = server.rescue_enabled;
        server.rescue_enabled = false;
        let rescue = server.rescue_booted;
        self.emit(SimEvent::ServerPoweredOn { id, rescue });
    }

    /// The server is now off.
    pub(crate) fn power_off(&mut self, id: u64) {
        let Some(server) = self.servers.get_mut(&id) else {
            return;
        };
        server.status = ServerStatus::Off;
        server.rescue_booted = false;
        self.emit(SimEvent::ServerPoweredOff { id });
    }

    /// `poweroff` inside the rescue system: the server is `off` at once, as Hetzner then
    /// reports it.
    pub fn rescue_power_off(&mut self, id: u64) {
        if self.servers.get(&id).is_some_and(|s| s.status == ServerStatus::Running) {
            self.power_off(id);
        }
    }

    /// `reboot` inside the rescue system: the server stays `running` and boots its disk
    /// (rescue is one-shot unless `enable_rescue` armed it again).
    pub fn rescue_reboot(&mut self, id: u64) {
        if self.servers.get(&id).is_some_and(|s| s.status == ServerStatus::Running) {
            self.boot(id);
        }
    }

    /// The guest powered itself off (`shutdown now` inside the VM); a test control.
    pub fn guest_shutdown(&mut self, id: u64) -> Result<Value, ApiError> {
        if self.find::<Server>(id)?.status == ServerStatus::Running {
            self.power_off(id);
        }
        Ok(self.envelope::<Server>(id))
    }

    /// The server loses power (a test control): whatever it was doing, it is `off` at once
    /// and its system is gone; a running action on it still completes.
    pub fn crash_server(&mut self, id: u64) -> Result<Value, ApiError> {
        let status = self.find::<Server>(id)?.status;
        if matches!(
            status,
            ServerStatus::Running | ServerStatus::Starting | ServerStatus::Stopping | ServerStatus::Rebuilding
        ) {
            self.power_off(id);
        }
        Ok(self.envelope::<Server>(id))
    }

    /// `poweron`: `off` → `starting` → `running` (a no-op success when already running).
    pub fn poweron(&mut self, id: u64) -> Result<Value, ApiError> {
        let seconds = self.durations.start_server;
        self.power_transition(
            id,
            ServerStatus::Off,
            ServerStatus::Starting,
            "start_server",
            seconds,
            World::boot,
        )
    }

    /// `poweroff` (hard): `running` → `stopping` → `off` (a no-op success when not running).
    pub fn poweroff(&mut self, id: u64) -> Result<Value, ApiError> {
        let seconds = self.durations.stop_server;
        self.power_transition(
            id,
            ServerStatus::Running,
            ServerStatus::Stopping,
            "stop_server",
            seconds,
            World::power_off,
        )
    }

    /// A power change from `from` through `via`, finished by `done`, back to `from` if the
    /// action fails; from any other status, a short `command` action that changes nothing.
    fn power_transition(
        &mut self,
        id: u64,
        from: ServerStatus,
        via: ServerStatus,
        command: &'static str,
        seconds: f64,
        done: fn(&mut World, u64),
    ) -> Result<Value, ApiError> {
        if self.server_for_action(id)?.status != from {
            return self.simple_server_action(id, command, 1.0, |_| {});
        }
        self.found_mut::<Server>(id).status = via;
        let action = self.start_action(
            NewAction::new(command, vec![ResourceRef::new("server", id)], seconds)
                .on_success(move |w| done(w, id))
                .on_error(move |w| {
                    if let Some(s) = w.servers.get_mut(&id) {
                        s.status = from;
                    }
                }),
        );
        Ok(self.action_reply(action))
    }

    /// `shutdown` (ACPI): the action only delivers the signal; the guest powers off a few
    /// seconds later, or never when it ignores ACPI (fault `ignore-shutdown`). Poll the status.
    pub fn shutdown(&mut self, id: u64) -> Result<Value, ApiError> {
        self.server_for_action(id)?;
        let seconds = self.durations.shutdown_signal;
        let ignored = self.faults.shutdown_ignored();
        self.simple_server_action(id, "shutdown_server", seconds, move |w| {
            if ignored {
                return;
            }
            let delay = w.durations.guest_shutdown;
            w.schedule_effect(
                delay,
                Box::new(move |w: &mut World| {
                    if w.servers.get(&id).is_some_and(|s| s.status == ServerStatus::Running) {
                        w.power_off(id);
                    }
                }),
            );
        })
    }

    /// `reboot` (ACPI) and `reset` (hard): the server stays `running`; the next system
    /// is the rescue system if rescue is enabled.
    pub fn restart(&mut self, id: u64, command: &'static str) -> Result<Value, ApiError> {
        self.server_for_action(id)?;
        let seconds = self.durations.stop_server;
        self.simple_server_action(id, command, seconds, move |w| {
            if w.servers.get(&id).is_some_and(|s| s.status == ServerStatus::Running) {
                w.boot(id);
            }
        })
    }

    /// `enable_rescue`: returns the rescue root password; effective at the next boot, and
    /// disabled again if no boot uses it within 60 minutes (the API description).
    pub fn enable_rescue(&mut self, id: u64, request: EnableRescue) -> Result<Value, ApiError> {
        self.server_for_action(id)?;
        if let Some(kind) = &request.kind
            && kind != "linux64"
        {
            return Err(ApiError::invalid_field("type", "Must be one of: linux64."));
        }
        for key in request.ssh_keys.iter().flatten() {
            if !self.ssh_keys.contains_key(&key.0) {
                return Err(ApiError::invalid_field(
                    "ssh_keys",
                    format!("SSH key {} not found", key.0),
                ));
            }
        }
        let password = self.new_password();
        let login = crate::sim::machine::RescueLogin {
            keys: request
                .ssh_keys
                .iter()
                .flatten()
                .filter_map(|key| self.ssh_keys.get(&key.0))
                .map(|key| key.public_key.clone())
                .collect(),
            password: password.clone(),
        };
        let seconds = self.durations.rescue;
        let action = self.start_action(
            NewAction::new("enable_rescue", vec![ResourceRef::new("server", id)], seconds).on_success(move |w| {
                if let Some(s) = w.servers.get_mut(&id) {
                    s.rescue_enabled = true;
                    s.rescue_login = Some(login);
                    s.rescue_generation += 1;
                    let generation = s.rescue_generation;
                    w.emit(SimEvent::RescueEnabled { id });
                    w.schedule_effect(
                        RESCUE_EXPIRY_SECONDS,
                        Box::new(move |w: &mut World| {
                            if let Some(s) = w.servers.get_mut(&id)
                                && s.rescue_enabled
                                && s.rescue_generation == generation
                            {
                                s.rescue_enabled = false;
                            }
                        }),
                    );
                }
            }),
        );
        Ok(json!({"action": self.action_json(action), "root_password": password}))
    }

    /// `disable_rescue`.
    pub fn disable_rescue(&mut self, id: u64) -> Result<Value, ApiError> {
        self.server_for_action(id)?;
        let seconds = self.durations.rescue;
        self.simple_server_action(id, "disable_rescue", seconds, move |w| {
            if let Some(s) = w.servers.get_mut(&id) {
                s.rescue_enabled = false;
            }
        })
    }
}
