//! Container IDs and generated names.

use crate::engine::id::container::ContainerId;

/// A new random container ID.
pub fn new_id() -> ContainerId {
    ContainerId::random()
}

const ADJECTIVES: &[&str] = &[
    "admiring",
    "brave",
    "calm",
    "dazzling",
    "eager",
    "fervent",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "modest",
    "nifty",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
    "competent",
    "flamboyant",
];
const NOUNS: &[&str] = &[
    "turing", "hopper", "lovelace", "curie", "noether", "euler", "gauss", "ritchie", "thompson",
    "torvalds", "wozniak", "payne", "shannon", "knuth", "dijkstra", "hamilton", "babbage", "tesla",
    "franklin", "goldberg", "kilby", "lamarr", "mccarthy", "pike", "sammet", "wing",
];

/// An `adjective_noun` name not yet taken (with a number added if all are).
pub fn generate_name(id: &str, taken: impl Fn(&str) -> bool) -> String {
    let seed = u64::from_str_radix(&id[..16.min(id.len())], 16).unwrap_or(0);
    for n in 0..ADJECTIVES.len() * NOUNS.len() {
        let k = (seed as usize).wrapping_add(n * 7919);
        let name = format!(
            "{}_{}",
            ADJECTIVES[k % ADJECTIVES.len()],
            NOUNS[(k / ADJECTIVES.len()) % NOUNS.len()]
        );
        if !taken(&name) {
            return name;
        }
    }
    format!("{}_{}", ADJECTIVES[0], &id[..12.min(id.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_unique() {
        let id = new_id();
        assert_eq!(id.len(), 64);
        let first = generate_name(&id, |_| false);
        assert!(first.contains('_'));
        let second = generate_name(&id, |n| n == first);
        assert_ne!(first, second);
    }
}
