//! Generates the io.podman server and client code from `io.podman.varlink`, and records build
//! metadata for `GetVersion`.
//!
//! The varlink generator's structs refuse a message that leaves out a field or sends `null`,
//! while the Go server that clients were written against filled in the zero value. So the
//! generated code is post-processed with `syn`: every struct that derives `Deserialize` also
//! derives `Default`, and every field gets `#[serde(default, deserialize_with = ...)]` pointing
//! at `crate::varlink::lenient::field`, which maps `null` to the zero value. serde already
//! ignores unknown fields, and the generator never asks it not to.
//!
//! It also writes the `impl VarlinkInterface for Service` that the generator leaves to us: each
//! method calls the handler of the same name in `src/varlink/handlers/`, passing the engine,
//! the call and every IDL argument in order. The handlers are found by reading those files, so
//! there is no hand-written table to keep in step with the IDL: an io.podman method without a
//! handler, a handler named after no method, or a name defined twice fails the build, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use syn::visit_mut::VisitMut;

const IDL: &str = "io.podman.varlink";
const LENIENT_FIELD: &str = "crate::varlink::lenient::field";
const HANDLERS_DIR: &str = "src/varlink/handlers";

fn main() {
    println!("cargo:rerun-if-changed={IDL}");
    println!("cargo:rerun-if-changed=build.rs");
    // A directory is scanned as a whole: a handler added, moved or renamed reruns this.
    println!("cargo:rerun-if-changed={HANDLERS_DIR}");
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
    let forwarding = forward_to_handlers(&file, &handler_modules());
    file.items.push(forwarding);
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

/// Every `pub fn` of `src/varlink/handlers/*.rs` (but `mod.rs`), mapped to its file's stem.
fn handler_modules() -> BTreeMap<String, String> {
    let mut paths: Vec<PathBuf> = fs::read_dir(HANDLERS_DIR)
        .expect("read src/varlink/handlers")
        .map(|entry| entry.expect("list src/varlink/handlers").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs") && !p.ends_with("mod.rs"))
        .collect();
    paths.sort();
    let mut handlers = BTreeMap::new();
    for path in paths {
        let module = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("handler file names are UTF-8")
            .to_string();
        let source = fs::read_to_string(&path).expect("read a handler file");
        let parsed = syn::parse_file(&source)
            .unwrap_or_else(|e| panic!("{}: does not parse: {e}", path.display()));
        for item in parsed.items {
            let syn::Item::Fn(f) = item else { continue };
            if !matches!(f.vis, syn::Visibility::Public(_)) {
                continue;
            }
            let name = f.sig.ident.to_string();
            if let Some(other) = handlers.insert(name.clone(), module.clone()) {
                panic!("handler {name} is defined in both handlers/{other}.rs and {module}.rs");
            }
        }
    }
    handlers
}

/// `impl VarlinkInterface for Service`, each method forwarding to its handler.
fn forward_to_handlers(file: &syn::File, handlers: &BTreeMap<String, String>) -> syn::Item {
    let interface = file
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Trait(t) if t.ident == "VarlinkInterface" => Some(t),
            _ => None,
        })
        .expect("the generated code declares trait VarlinkInterface");
    let mut unused: BTreeSet<&String> = handlers.keys().collect();
    let mut methods = Vec::new();
    for item in &interface.items {
        // Methods with a default body (`call_upgraded`) are the crate's, not the IDL's.
        let syn::TraitItem::Fn(method) = item else {
            continue;
        };
        if method.default.is_some() {
            continue;
        }
        let sig = &method.sig;
        let name = sig.ident.to_string();
        let module = handlers.get(&name).unwrap_or_else(|| {
            panic!("io.podman method {name} has no `pub fn {name}` in {HANDLERS_DIR}/")
        });
        unused.remove(&name);
        let module = quote::format_ident!("{module}");
        let handler = &sig.ident;
        // Every argument after `&self` is `pattern: Type` with a plain identifier pattern.
        let arguments = sig.inputs.iter().filter_map(|input| match input {
            syn::FnArg::Typed(typed) => Some(&typed.pat),
            syn::FnArg::Receiver(_) => None,
        });
        methods.push(quote::quote! {
            #sig {
                crate::varlink::handlers::#module::#handler(self.engine(), #(#arguments),*)
            }
        });
    }
    if let Some(name) = unused.into_iter().next() {
        panic!(
            "handlers/{}.rs: pub fn {name} is not an io.podman method",
            handlers[name]
        );
    }
    syn::parse_quote! {
        impl VarlinkInterface for crate::varlink::service::Service {
            #(#methods)*
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
