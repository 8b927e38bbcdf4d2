//! Ping, GetVersion and GetInfo.

use crate::engine::Engine;
use crate::varlink::convert::system as convert;
use crate::varlink::error;
use crate::varlink::generated::{Call_GetInfo, Call_GetVersion, Call_Ping, StringResponse};

/// io.podman.Ping: always "OK" while the service runs.
pub fn ping(_engine: &Engine, call: &mut dyn Call_Ping) -> varlink::Result<()> {
    call.reply(StringResponse {
        message: "OK".to_string(),
    })
}

/// io.podman.GetVersion. `go_version` carries the Rust compiler version, the nearest thing.
pub fn get_version(engine: &Engine, call: &mut dyn Call_GetVersion) -> varlink::Result<()> {
    call.reply(convert::version(engine.get_version()))
}

/// io.podman.GetInfo. `buildah_version` is empty: podlink has no buildah.
pub fn get_info(engine: &Engine, call: &mut dyn Call_GetInfo) -> varlink::Result<()> {
    match engine.get_info() {
        Ok(info) => call.reply(convert::info(info, engine.get_version())),
        Err(e) => error::reply(call, "GetInfo", e),
    }
}
