//! The local image methods, and BuildImage. Pull, push and search come with registries.

use crate::engine::Engine;
use crate::engine::image::export::ExportOptions;
use crate::engine::image::import::ImportOptions;
use crate::varlink::convert::images as convert;
use crate::varlink::error;
use crate::varlink::generated::*;

/// io.podman.ListImages
pub fn list_images(engine: &Engine, call: &mut dyn Call_ListImages) -> varlink::Result<()> {
    call.reply(
        engine
            .list_images()
            .into_iter()
            .map(convert::image)
            .collect(),
    )
}

/// io.podman.GetImage
pub fn get_image(
    engine: &Engine,
    call: &mut dyn Call_GetImage,
    name: String,
) -> varlink::Result<()> {
    match engine.get_image(&name) {
        Ok(image) => call.reply(convert::image(image)),
        Err(e) => error::reply(call, "GetImage", e),
    }
}

/// io.podman.InspectImage: the `podman inspect` document as a JSON string.
pub fn inspect_image(
    engine: &Engine,
    call: &mut dyn Call_InspectImage,
    name: String,
) -> varlink::Result<()> {
    match engine.images().inspect_image(&name) {
        Ok(data) => call.reply(data.to_string()),
        Err(e) => error::reply(call, "InspectImage", e),
    }
}

/// io.podman.HistoryImage
pub fn history_image(
    engine: &Engine,
    call: &mut dyn Call_HistoryImage,
    name: String,
) -> varlink::Result<()> {
    match engine.images().history_image(&name) {
        Ok(history) => call.reply(history.into_iter().map(convert::history).collect()),
        Err(e) => error::reply(call, "HistoryImage", e),
    }
}

/// io.podman.TagImage: returns the image's ID.
pub fn tag_image(
    engine: &Engine,
    call: &mut dyn Call_TagImage,
    name: String,
    tagged: String,
) -> varlink::Result<()> {
    match engine.images().tag_image(&name, &tagged) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "TagImage", e),
    }
}

/// io.podman.RemoveImage: returns the image's ID. Naming one of several names of an image
/// removes only that name, as `podman rmi` does.
pub fn remove_image(
    engine: &Engine,
    call: &mut dyn Call_RemoveImage,
    name: String,
    force: bool,
) -> varlink::Result<()> {
    match engine.remove_image(&name, force) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "RemoveImage", e),
    }
}

/// io.podman.ImageExists: 0 when it exists, 1 when it does not.
pub fn image_exists(
    engine: &Engine,
    call: &mut dyn Call_ImageExists,
    name: String,
) -> varlink::Result<()> {
    call.reply(if engine.images().image_exists(&name) {
        0
    } else {
        1
    })
}

/// io.podman.DeleteUnusedImages
pub fn delete_unused_images(
    engine: &Engine,
    call: &mut dyn Call_DeleteUnusedImages,
) -> varlink::Result<()> {
    match engine.delete_unused_images() {
        Ok(ids) => call.reply(ids),
        Err(e) => error::reply(call, "DeleteUnusedImages", e),
    }
}

/// io.podman.ImagesPrune: dangling images, or with `all` every unused one.
pub fn images_prune(
    engine: &Engine,
    call: &mut dyn Call_ImagesPrune,
    all: bool,
) -> varlink::Result<()> {
    match engine.images_prune(all) {
        Ok(ids) => call.reply(ids),
        Err(e) => error::reply(call, "ImagesPrune", e),
    }
}

/// io.podman.ImportImage: returns the image ID (the config digest, without `sha256:`).
pub fn import_image(
    engine: &Engine,
    call: &mut dyn Call_ImportImage,
    source: String,
    reference: String,
    message: String,
    changes: Vec<String>,
) -> varlink::Result<()> {
    let options = ImportOptions {
        source,
        reference,
        message,
        changes,
    };
    match engine.images().import_image(options) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "ImportImage", e),
    }
}

/// io.podman.ExportImage: returns the image's ID.
pub fn export_image(
    engine: &Engine,
    call: &mut dyn Call_ExportImage,
    name: String,
    destination: String,
    compress: bool,
    tags: Vec<String>,
) -> varlink::Result<()> {
    let options = ExportOptions {
        destination,
        compress,
        tags,
    };
    match engine.images().export_image(&name, options) {
        Ok(id) => call.reply(id),
        Err(e) => error::reply(call, "ExportImage", e),
    }
}

/// io.podman.BuildImage: with `more`, each log line as it comes (`continues`), then the
/// image's ID; otherwise one reply with the whole log.
pub fn build_image(
    engine: &Engine,
    call: &mut dyn Call_BuildImage,
    build: BuildInfo,
) -> varlink::Result<()> {
    // Podman's default: intermediate containers go unless the client says `rm: false`.
    let rm = crate::varlink::convert::registries::sent_bool(call, &["build", "rm"]);
    let options = match convert::build_options(build) {
        Ok(options) => crate::engine::build::BuildOptions {
            rm: rm.unwrap_or(true),
            ..options
        },
        Err(e) => return error::reply(call, "BuildImage", e),
    };
    let more = call.wants_more();
    let mut logs = Vec::new();
    let mut gone = false;
    let result = engine.build_image(&options, &mut |line| {
        if !more {
            logs.push(line);
        } else if !gone {
            let image = serde_json::json!({ "image": { "logs": [line], "id": "" } });
            call.set_continues(true);
            gone = call
                .reply_struct(varlink::Reply::parameters(Some(image)))
                .is_err();
        }
    });
    call.set_continues(false);
    match result {
        Ok(id) => call.reply(BuildResponse { logs, id }),
        Err(e) => error::reply(call, "BuildImage", e),
    }
}
