//! SearchImage's protocol half: one registry searched for a term, through docker's
//! `/v1/search` where the registry has it, else through `/v2/_catalog` filtered here.
//!
//! Which registries a term is searched in, and what happens when some fail, is the image
//! room's (`image/search.rs`). Everything a registry sends here is a stranger's: answers are
//! read within a size limit, the catalog is followed for a bounded number of pages and only
//! to the registry's own host, and results are capped in number and name length.

use serde::Deserialize;
use ureq::http::Response;

use super::client::{Client, Scope};
use super::error::Result;

/// The results per registry when a call asks for none (Podman's default).
pub const DEFAULT_LIMIT: usize = 25;
/// The most results one registry may give, whatever the call asks: each is kept in memory.
pub const MAX_LIMIT: usize = 10_000;
/// Repositories asked for per catalog page.
const CATALOG_PAGE: usize = 100;
/// The most catalog pages read for one search; the rest of a larger catalog is not searched.
const MAX_CATALOG_PAGES: usize = 50;
/// The most bytes one answer (a v1 search or a catalog page) may have.
const ANSWER_LIMIT: u64 = 4 * 1024 * 1024;
/// The longest repository name kept (distribution refuses names over 255 characters).
const MAX_NAME: usize = 255;

/// One repository a search found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchResult {
    /// `REGISTRY/REPOSITORY`, as Podman named results (`127.0.0.1:5000/library/busybox`).
    pub name: String,
    /// The repository's description (v1 search only; empty from a catalog).
    pub description: String,
    /// Its stars (v1 search only).
    pub star_count: i64,
    /// Whether it is an official image (v1 search only).
    pub is_official: bool,
    /// Whether it is built automatically (v1 search only).
    pub is_automated: bool,
}

/// Splits a search term into the registry it names, if its first path component is one
/// (has a `.` or a `:`, or is `localhost`, as image names tell a registry from a
/// repository), and the term to look for there: `127.0.0.1:5000/busy` → (`127.0.0.1:5000`,
/// `busy`); `library/busybox` → (none, `library/busybox`). `HOST/` looks for every repository.
pub fn split_term(term: &str) -> (Option<&str>, &str) {
    match term.split_once('/') {
        Some((first, rest)) if is_registry(first) => (Some(first), rest),
        _ => (None, term),
    }
}

/// Whether a name's first path component names a registry.
fn is_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

/// Whether repository `name` matches the search `term`: the term appears in it, ignoring
/// case; a `*` in the term stands for any run of characters (`lib*box` matches
/// `library/busybox`). An empty term matches every name.
pub fn term_matches(term: &str, name: &str) -> bool {
    let (term, name) = (term.to_lowercase(), name.to_lowercase());
    let mut rest = name.as_str();
    // The pieces between stars must appear in order; taking each piece's first occurrence
    // leaves the most room for the next, so a greedy scan is exact.
    for piece in term.split('*').filter(|p| !p.is_empty()) {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// The target of the `rel="next"` link among `Link` header values (RFC 8288: `<URL>;
/// rel="next"`, several links separated by commas).
pub fn next_link<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    for value in values {
        let mut rest = value;
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>').map(|at| open + at) else {
                break;
            };
            let target = &rest[open + 1..close];
            let params_end = rest[close..].find('<').map_or(rest.len(), |at| close + at);
            // `; rel="next", ` up to the next link: a relation type holds no comma.
            let is_next = rest[close + 1..params_end]
                .split(';')
                .filter_map(|param| param.split_once('='))
                .filter(|(key, _)| key.trim().eq_ignore_ascii_case("rel"))
                .any(|(_, rel)| {
                    rel.split(',')
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
                });
            if is_next {
                return Some(target.to_string());
            }
            rest = &rest[params_end..];
        }
    }
    None
}

/// Where a catalog's next-page link leads, given the registry's `base` (`http://host:port`):
/// a path on the registry, or an absolute URL on that same registry. A link anywhere else is
/// not followed (`None`): the request would carry the registry's credentials there.
pub fn resolve_link(base: &str, target: &str) -> Option<String> {
    if target.starts_with('/') && !target.starts_with("//") {
        return Some(format!("{base}{target}"));
    }
    target
        .strip_prefix(base)
        .filter(|path| path.starts_with('/'))
        .map(|_| target.to_string())
}

/// A v1 search answer.
#[derive(Deserialize)]
struct V1Answer {
    results: Vec<V1Result>,
}

#[derive(Deserialize)]
struct V1Result {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    star_count: Option<i64>,
    #[serde(default)]
    is_official: Option<bool>,
    #[serde(default)]
    is_automated: Option<bool>,
}

/// A catalog page.
#[derive(Deserialize)]
struct CatalogPage {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

impl Client {
    /// Searches this registry for `term` (see [`term_matches`]), returning at most `limit`
    /// results: the registry's own `/v1/search` answer when it has one, else the repositories
    /// of its catalog that match.
    pub fn search(&self, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
        let limit = limit.min(MAX_LIMIT);
        if let Some(found) = self.search_v1(term, limit) {
            return Ok(found);
        }
        self.search_catalog(term, limit)
    }

    /// `GET /v1/search?q=TERM&n=LIMIT`; `None` when the registry has no such search (it
    /// fails, answers anything but 2xx, or answers something other than search results).
    fn search_v1(&self, term: &str, limit: usize) -> Option<Vec<SearchResult>> {
        let step = "search";
        let url = self.v1_url("/v1/search");
        let n = limit.to_string();
        let fallback = |why: String| {
            log::debug!(
                "registry {}: no v1 search ({why}); reading its catalog",
                self.registry()
            );
            None
        };
        let response = match self.send_anonymous(step, || {
            self.small(self.agent().get(&url))
                .query("q", term)
                .query("n", &n)
                .header("Accept", "application/json")
                .call()
        }) {
            Ok(response) => response,
            Err(e) => return fallback(e.to_string()),
        };
        if !response.status().is_success() {
            return fallback(response.status().to_string());
        }
        let answer: V1Answer = match self.read_json(step, response) {
            Ok(answer) => answer,
            Err(e) => return fallback(e.to_string()),
        };
        Some(
            answer
                .results
                .into_iter()
                .filter(|r| r.name.len() <= MAX_NAME)
                .take(limit)
                .map(|r| SearchResult {
                    name: self.result_name(&r.name),
                    description: r.description.unwrap_or_default(),
                    star_count: r.star_count.unwrap_or_default(),
                    is_official: r.is_official.unwrap_or_default(),
                    is_automated: r.is_automated.unwrap_or_default(),
                })
                .collect(),
        )
    }

    /// The repositories of `GET /v2/_catalog` that match `term`, page by page until `limit`
    /// are found, the catalog ends, or [`MAX_CATALOG_PAGES`] were read.
    fn search_catalog(&self, term: &str, limit: usize) -> Result<Vec<SearchResult>> {
        let step = "list repositories";
        let base = self.url("");
        let mut next = Some(self.url(&format!("/v2/_catalog?n={CATALOG_PAGE}")));
        let mut found = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            if pages == MAX_CATALOG_PAGES {
                log::warn!(
                    "registry {}: searched the first {MAX_CATALOG_PAGES} pages of its catalog \
                     only",
                    self.registry()
                );
                break;
            }
            pages += 1;
            let response = self.send(step, &Scope::catalog(), &url, |auth| {
                let mut request = self
                    .small(self.agent().get(&url))
                    .header("Accept", "application/json");
                if let Some(auth) = auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            })?;
            if !response.status().is_success() {
                return Err(self.status_error(step, response));
            }
            let links = response.headers().get_all("link");
            let target = next_link(links.iter().filter_map(|v| v.to_str().ok()));
            next = target.and_then(|target| {
                let resolved = resolve_link(&base, &target);
                if resolved.is_none() {
                    log::warn!(
                        "registry {}: not following its catalog to {target:?}, off the registry",
                        self.registry()
                    );
                }
                resolved
            });
            // A registry that sends the same page again would otherwise be read to the bound.
            if next.as_ref() == Some(&url) {
                next = None;
            }
            let page: CatalogPage = self.read_json(step, response)?;
            let matching = page
                .repositories
                .unwrap_or_default()
                .into_iter()
                .filter(|repo| repo.len() <= MAX_NAME && term_matches(term, repo));
            for repo in matching {
                found.push(SearchResult {
                    name: self.result_name(&repo),
                    ..SearchResult::default()
                });
                if found.len() >= limit {
                    return Ok(found);
                }
            }
        }
        Ok(found)
    }

    /// Podman's name for a repository found here: `REGISTRY/REPO`, with Docker Hub's
    /// official images (named without a namespace by its search) under `library/`.
    fn result_name(&self, repo: &str) -> String {
        let registry = self.registry();
        if registry == "docker.io" && !repo.contains('/') {
            format!("{registry}/library/{repo}")
        } else {
            format!("{registry}/{repo}")
        }
    }

    /// Reads a JSON answer of at most [`ANSWER_LIMIT`] bytes.
    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        step: &str,
        response: Response<ureq::Body>,
    ) -> Result<T> {
        let body = response
            .into_body()
            .with_config()
            .limit(ANSWER_LIMIT)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => self.error(
                    step,
                    format!("the answer is more than the limit of {ANSWER_LIMIT} bytes"),
                ),
                e => self.error(step, format!("reading the answer: {}", self.describe(&e))),
            })?;
        serde_json::from_slice(&body)
            .map_err(|e| self.error(step, format!("the answer is not what was asked for: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_name_a_registry_by_their_first_component() {
        assert_eq!(
            split_term("127.0.0.1:5000/busy"),
            (Some("127.0.0.1:5000"), "busy")
        );
        assert_eq!(
            split_term("quay.io/podman/stable"),
            (Some("quay.io"), "podman/stable")
        );
        assert_eq!(split_term("localhost/x"), (Some("localhost"), "x"));
        assert_eq!(
            split_term("registry.example/"),
            (Some("registry.example"), "")
        );
        assert_eq!(split_term("library/busybox"), (None, "library/busybox"));
        assert_eq!(split_term("busybox"), (None, "busybox"));
        // Without a path, a dotted term is a term: nothing says it is a host.
        assert_eq!(split_term("busybox.static"), (None, "busybox.static"));
        assert_eq!(split_term("localhostx/y"), (None, "localhostx/y"));
    }

    #[test]
    fn terms_match_as_substrings_with_stars() {
        assert!(term_matches("busy", "library/busybox"));
        assert!(term_matches("BUSY", "library/BusyBox"));
        assert!(term_matches("", "anything"));
        assert!(!term_matches("alpine", "library/busybox"));
        assert!(term_matches("lib*box", "library/busybox"));
        assert!(term_matches("*busy*", "library/busybox"));
        assert!(term_matches("b*b*x", "library/busybox"));
        assert!(!term_matches("box*lib", "library/busybox"));
        assert!(!term_matches("b*q", "library/busybox"));
        assert!(term_matches("**", "x"));
    }

    #[test]
    fn next_links() {
        assert_eq!(
            next_link([r#"</v2/_catalog?last=b&n=100>; rel="next""#]),
            Some("/v2/_catalog?last=b&n=100".into())
        );
        assert_eq!(
            next_link([r#"<https://r.example/a>; rel="prev", <https://r.example/b>; rel=next"#]),
            Some("https://r.example/b".into())
        );
        assert_eq!(
            next_link([r#"<a>; rel="prev""#, r#"<b>; title="x"; rel="last next""#]),
            Some("b".into())
        );
        assert_eq!(next_link([r#"</a>; rel="prev""#]), None);
        assert_eq!(next_link(["garbage", "<unclosed; rel=next"]), None);
        assert_eq!(
            next_link(["<unclosed", r#"<x>; rel="next" , <y>; rel=prev"#]),
            Some("x".into())
        );
        assert_eq!(next_link(Vec::<&str>::new()), None);
    }

    #[test]
    fn links_resolve_only_on_the_registry() {
        let base = "http://127.0.0.1:5000";
        assert_eq!(
            resolve_link(base, "/v2/_catalog?last=a"),
            Some("http://127.0.0.1:5000/v2/_catalog?last=a".into())
        );
        assert_eq!(
            resolve_link(base, "http://127.0.0.1:5000/v2/_catalog?last=a"),
            Some("http://127.0.0.1:5000/v2/_catalog?last=a".into())
        );
        assert_eq!(
            resolve_link(base, "http://127.0.0.1:50001/v2/_catalog"),
            None
        );
        assert_eq!(resolve_link(base, "https://evil.example/v2/_catalog"), None);
        assert_eq!(resolve_link(base, "//evil.example/v2/_catalog"), None);
        assert_eq!(resolve_link(base, "v2/_catalog"), None);
    }

    #[test]
    fn v1_answers_tolerate_nulls() {
        let answer: V1Answer = serde_json::from_str(
            r#"{"num_results":1,"results":[{"name":"a/b","description":null,"star_count":3,
                "is_official":null}]}"#,
        )
        .unwrap();
        assert_eq!(answer.results[0].star_count, Some(3));
        assert_eq!(answer.results[0].description, None);
        assert!(serde_json::from_str::<V1Answer>(r#"{"repositories":[]}"#).is_err());
    }
}
