//! io.podman.SearchImage: which registries a term is searched in, and what the call answers
//! when some of them fail. How one registry is searched is the registry room's
//! (`registry/search.rs`).
//!
//! As in Podman 1.x: a term whose first path component is a registry searches that registry
//! only; any other term searches every search registry of registries.conf (blocked ones
//! skipped), all at once, and the results come in registries.conf's order. A registry that
//! cannot be searched is skipped with a warning, unless none could be: then the call fails
//! naming each registry and why. The call has no TLS or credential arguments, so each
//! registry is reached as registries.conf, certs.d and the auth files say.

use super::service::Images;
use crate::engine::error::{Error, Result};
use crate::engine::registry::conf::RegistriesConf;
use crate::engine::registry::search::{DEFAULT_LIMIT, SearchResult, split_term};
use crate::engine::registry::{CallOptions, Client, RegistryError};

/// Each registry's outcome, in the order searched.
type Outcomes = Vec<std::result::Result<Vec<SearchResult>, RegistryError>>;

impl Images {
    /// io.podman.SearchImage: the repositories matching `term` in the registries it stands
    /// for, at most `limit` per registry (`None`: Podman's 25).
    pub fn search(&self, term: &str, limit: Option<usize>) -> Result<Vec<SearchResult>> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        let term = term.trim();
        if term.is_empty() {
            return Err(Error::invalid("name", "the search term is empty"));
        }
        let conf = self.registry.conf()?;
        let (registries, wanted) = self.search_registries(term, &conf)?;
        let search = |registry: &str| {
            Client::open(&self.registry, &conf, registry, &CallOptions::default())
                .and_then(|client| client.search(wanted, limit))
        };
        let outcomes: Outcomes = if let [only] = registries.as_slice() {
            vec![search(only)]
        } else {
            // Registries answer at their own pace (an unreachable one only after its
            // retries): ask them all at once, as Podman did.
            std::thread::scope(|scope| {
                let running: Vec<_> = registries
                    .iter()
                    .map(|registry| {
                        let spawned = std::thread::Builder::new()
                            .name("search".into())
                            .spawn_scoped(scope, || search(registry));
                        (registry, spawned)
                    })
                    .collect();
                running
                    .into_iter()
                    .map(|(registry, spawned)| match spawned {
                        Ok(handle) => handle.join().unwrap_or_else(|_| {
                            Err(RegistryError::new(
                                registry,
                                "search",
                                "the search panicked",
                            ))
                        }),
                        Err(e) => Err(RegistryError::new(
                            registry,
                            "search",
                            format!("cannot start a thread: {e}"),
                        )),
                    })
                    .collect()
            })
        };
        combine(term, outcomes)
    }

    /// The registries `term` is searched in, and what is looked for in them.
    fn search_registries<'t>(
        &self,
        term: &'t str,
        conf: &RegistriesConf,
    ) -> Result<(Vec<String>, &'t str)> {
        if let (Some(registry), wanted) = split_term(term) {
            return Ok((vec![registry.to_string()], wanted));
        }
        let file = self.registry.registries_conf.display();
        if conf.search.is_empty() {
            return Err(Error::invalid(
                "name",
                format!("{term:?} names no registry and {file} lists no search registries"),
            ));
        }
        let mut registries: Vec<String> = Vec::new();
        for registry in &conf.search {
            if conf.is_blocked(registry) {
                log::info!("SearchImage: skipping search registry {registry}: blocked in {file}");
            } else if !registries.contains(registry) {
                registries.push(registry.clone());
            }
        }
        if registries.is_empty() {
            return Err(Error::invalid(
                "name",
                format!(
                    "{term:?} names no registry and every search registry in {file} is blocked"
                ),
            ));
        }
        Ok((registries, term))
    }
}

/// The results of every registry that answered; an error naming each registry and why when
/// none did. Each registry that failed while others answered is logged.
fn combine(term: &str, outcomes: Outcomes) -> Result<Vec<SearchResult>> {
    let searched = outcomes.len();
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(results) => found.extend(results),
            Err(e) => failures.push(e),
        }
    }
    if failures.len() < searched {
        for failure in failures {
            log::warn!("SearchImage {term:?}: skipping a registry: {failure}");
        }
        return Ok(found);
    }
    if let [only] = failures.as_slice() {
        return Err(only.clone().into());
    }
    let names: Vec<&str> = failures.iter().map(|e| e.registry.as_str()).collect();
    let reasons: Vec<String> = failures.iter().map(ToString::to_string).collect();
    Err(RegistryError::new(
        &names.join(", "),
        format!("search for {term:?}"),
        format!("no registry could be searched: {}", reasons.join("; ")),
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str) -> SearchResult {
        SearchResult {
            name: name.into(),
            ..SearchResult::default()
        }
    }

    fn down(registry: &str) -> RegistryError {
        RegistryError::new(registry, "connect", "connection refused")
    }

    #[test]
    fn failed_registries_are_skipped_while_one_answers() {
        let outcomes = vec![
            Err(down("a:1")),
            Ok(vec![found("b:2/x"), found("b:2/y")]),
            Ok(vec![]),
        ];
        let results = combine("x", outcomes).unwrap();
        assert_eq!(results, [found("b:2/x"), found("b:2/y")]);
    }

    #[test]
    fn every_registry_failing_names_each() {
        let outcomes = vec![Err(down("a:1")), Err(down("b:2"))];
        let e = combine("busy", outcomes).unwrap_err().to_string();
        assert_eq!(
            e,
            "registry a:1, b:2: search for \"busy\": no registry could be searched: registry \
             a:1: connect: connection refused; registry b:2: connect: connection refused"
        );
        let one = combine("busy", vec![Err(down("a:1"))]).unwrap_err();
        assert_eq!(one.to_string(), "registry a:1: connect: connection refused");
    }
}
