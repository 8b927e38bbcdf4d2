//! Generates the io.podman server and client code from `io.podman.varlink`, and records build
//! metadata for `GetVersion`.
//!
//! The varlink generator's structs refuse a message that leaves out a field or sends `null`,
//! while the Go server that clients were written against filled in the zero value. So the
//! generated code is post-processed with `syn`: every struct that derives `Deserialize` also
//! derives `Default`, and every field gets `#[serde(default, deserialize_with = ...)]` pointing
//! at `crate::varlink::lenient::field`, which maps `null` to the zero value. serde already
//! ignores unknown fields, and the generator never asks it not to.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use syn::visit_mut::VisitMut;

const IDL: &str = "io.podman.varlink";
const LENIENT_FIELD: &str = "crate::varlink::lenient::field";

fn main() {
    println!("cargo:rerun-if-changed={IDL}");
    println!("cargo:rerun-if-changed=build.rs");
    generate_interface();
    build_metadata();
}

fn generate_interface() {
    let source = fs::read_to_string(IDL).expect("read io.podman.varlink");
    let tokens = varlink_generator::compile(source).expect("io.podman.varlink must compile");
    let mut file: syn::File = syn::parse2(tokens).expect("generated code must parse");
    // The generator emits crate-level attributes; the includer (src/varlink/mod.rs) sets its own.
    file.attrs.clear();
    ZeroValueDefaults.visit_file_mut(&mut file);
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    fs::write(out.join("io_podman.rs"), prettyplease::unparse(&file))
        .expect("write generated io_podman.rs");
}

/// Adds `Default` and lenient field attributes to every deserializable generated struct.
struct ZeroValueDefaults;

impl VisitMut for ZeroValueDefaults {
    fn visit_item_struct_mut(&mut self, item: &mut syn::ItemStruct) {
        if !derives(item, "Deserialize") {
            return;
        }
        if !derives(item, "Default") {
            item.attrs.push(syn::parse_quote!(#[derive(Default)]));
        }
        for field in item.fields.iter_mut() {
            field
                .attrs
                .push(syn::parse_quote!(#[serde(default, deserialize_with = #LENIENT_FIELD)]));
        }
    }
}

fn derives(item: &syn::ItemStruct, name: &str) -> bool {
    item.attrs.iter().any(|attr| {
        attr.path().is_ident("derive")
            && attr
                .parse_args_with(
                    syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
                )
                .map(|paths| paths.iter().any(|p| p.is_ident(name)))
                .unwrap_or(false)
    })
}

/// Git commit and build time for `GetVersion`, with empty fallbacks outside a git checkout.
fn build_metadata() {
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    // A new commit or checkout appends to .git/logs/HEAD; watch it only where it exists, since
    // cargo reruns a build script on every build for a path that is missing.
    if PathBuf::from(".git/logs/HEAD").exists() {
        println!("cargo:rerun-if-changed=.git/logs/HEAD");
    }
    // SOURCE_DATE_EPOCH makes builds reproducible when set; otherwise the wall clock.
    let built = env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let compiler = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "rustc".to_string());
    println!("cargo:rustc-env=PODLINK_RUSTC={compiler}");
    println!("cargo:rustc-env=PODLINK_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=PODLINK_BUILT={built}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}
