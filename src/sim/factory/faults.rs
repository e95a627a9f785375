//! Deterministic faults of the emulated Image Factory: error statuses, redirects, wrong
//! schematic IDs, and image bodies that are cut, corrupted, slow or sent whole despite a
//! range. Each counted fault applies to the next N requests it concerns and counts down;
//! the others hold while set.

use serde::{Deserialize, Serialize};

/// The faults to inject (all off by default). Set in-process with
/// [`super::Factory::set_faults`] or over HTTP with `PUT /__sim/factory/faults`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FactoryFaults {
    /// Answer this many requests (any route but the controls, before any other work) with
    /// [`FactoryFaults::error_status`], as a factory in trouble does.
    pub errors: u32,
    /// The status of injected errors (503 when 0).
    pub error_status: u16,
    /// Answer this many `GET`/`HEAD` requests with `302 Found` to the same URL (a CDN
    /// hop); the client must follow it.
    pub redirects: u32,
    /// Answer `POST /schematics` with this ID instead of the one the schematic hashes to
    /// (a factory that disagrees with the client).
    pub schematic_id: Option<String>,
    /// Cut this many image `GET` bodies after [`FactoryFaults::drop_after`] bytes.
    pub drops: u32,
    /// Body bytes sent before an injected cut.
    pub drop_after: u64,
    /// Cut at once, losing what is still buffered (a connection reset), instead of first
    /// letting the bytes sent so far leave (the client then holds exactly `drop_after`).
    pub drop_reset: bool,
    /// Flip one byte in this many image `GET` bodies, at [`FactoryFaults::corrupt_offset`].
    pub corruptions: u32,
    /// Offset in the compressed image of the flipped byte (clamped to the image).
    pub corrupt_offset: u64,
    /// Send image bodies at most this fast (bytes per second).
    pub slow_bytes_per_second: Option<u64>,
    /// Answer ranged image requests with `200` and the whole body, as a server without
    /// range support does.
    pub ignore_ranges: bool,
}

/// What happens to one image body.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct BodyFault {
    /// Cut after this many bytes.
    pub drop_after: Option<u64>,
    /// Cut without letting the buffered bytes leave.
    pub reset: bool,
    /// Flip the byte at this offset of the asset.
    pub corrupt_at: Option<u64>,
    /// Bytes per second.
    pub slow: Option<u64>,
}

/// Takes one from `count` if it is positive.
fn take(count: &mut u32) -> bool {
    let some = *count > 0;
    *count = count.saturating_sub(1);
    some
}

impl FactoryFaults {
    /// The status of the next injected error, if one is due.
    pub(super) fn take_error(&mut self) -> Option<u16> {
        take(&mut self.errors).then_some(if self.error_status == 0 { 503 } else { self.error_status })
    }

    /// Whether the next `GET`/`HEAD` is redirected.
    pub(super) fn take_redirect(&mut self) -> bool {
        take(&mut self.redirects)
    }

    /// The faults of the next image body (`get`: a `GET`, which alone is cut or corrupted).
    pub(super) fn take_body(&mut self, get: bool) -> BodyFault {
        BodyFault {
            drop_after: (get && take(&mut self.drops)).then_some(self.drop_after),
            reset: self.drop_reset,
            corrupt_at: (get && take(&mut self.corruptions)).then_some(self.corrupt_offset),
            slow: self.slow_bytes_per_second.filter(|rate| *rate > 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_count_down_and_head_requests_are_never_cut() {
        let mut faults = FactoryFaults {
            errors: 1,
            drops: 1,
            drop_after: 7,
            corruptions: 2,
            ..FactoryFaults::default()
        };
        assert_eq!(faults.take_error(), Some(503));
        assert_eq!(faults.take_error(), None);
        let head = faults.take_body(false);
        assert_eq!((head.drop_after, head.corrupt_at), (None, None));
        let get = faults.take_body(true);
        assert_eq!((get.drop_after, get.corrupt_at), (Some(7), Some(0)));
        let get = faults.take_body(true);
        assert_eq!((get.drop_after, get.corrupt_at), (None, Some(0)));
        assert_eq!(faults.take_body(true).corrupt_at, None);
        assert!(!faults.take_redirect());
    }
}
