//! The store's index of containers: by ID (ordered, so an ID prefix is a range, not a scan)
//! and by name. The store keeps it under its map lock and updates both at once on insert
//! and removal, so a create's name check, a lookup by name and one by ID prefix cost the
//! same with 10 containers or 10,000.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use crate::engine::id::container::ContainerId;

/// Containers (`H`: the store's handle on one) by ID and by name.
#[derive(Debug)]
pub struct Index<H> {
    by_id: BTreeMap<ContainerId, H>,
    by_name: HashMap<String, ContainerId>,
}

impl<H> Default for Index<H> {
    fn default() -> Self {
        Index {
            by_id: BTreeMap::new(),
            by_name: HashMap::new(),
        }
    }
}

/// What a name or ID prefix finds.
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'a, H> {
    /// One container.
    One(&'a H),
    /// None.
    None,
    /// Several containers whose IDs start with the prefix (their IDs, sorted).
    Ambiguous(Vec<&'a ContainerId>),
}

impl<H> Index<H> {
    /// Adds container `id` named `name`. Names are unique among created containers; of two
    /// records on disk with one name (a crash, or a hand edit), the name finds the first.
    pub fn insert(&mut self, id: ContainerId, name: &str, handle: H) {
        self.by_name
            .entry(name.to_string())
            .or_insert_with(|| id.clone());
        self.by_id.insert(id, handle);
    }

    /// Removes container `id`, named `name`; its handle.
    pub fn remove(&mut self, id: &ContainerId, name: &str) -> Option<H> {
        if self.by_name.get(name) == Some(id) {
            self.by_name.remove(name);
        }
        self.by_id.remove(id)
    }

    /// Whether a container has this name.
    pub fn name_taken(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The container with this full ID.
    pub fn get(&self, id: &str) -> Option<&H> {
        self.by_id.get(id)
    }

    /// Finds a container by full ID, then exact name, then unique ID prefix (as Podman
    /// looks).
    pub fn find(&self, name: &str) -> Found<'_, H> {
        if let Some(handle) = self.by_id.get(name) {
            return Found::One(handle);
        }
        if let Some(handle) = self.by_name.get(name).and_then(|id| self.by_id.get(id)) {
            return Found::One(handle);
        }
        let mut matches = self
            .by_id
            .range::<str, _>((Bound::Included(name), Bound::Unbounded))
            .take_while(|(id, _)| id.starts_with(name));
        match (matches.next(), matches.next()) {
            (None, _) => Found::None,
            (Some((_, handle)), None) => Found::One(handle),
            (Some((first, _)), Some((second, _))) => {
                let mut ids = vec![first, second];
                ids.extend(matches.map(|(id, _)| id));
                Found::Ambiguous(ids)
            }
        }
    }

    /// Every container, by ID.
    pub fn values(&self) -> impl Iterator<Item = &H> {
        self.by_id.values()
    }

    /// How many containers there are.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(hex: &str) -> ContainerId {
        ContainerId::parse(&format!("{hex:0<64}")).unwrap()
    }

    #[test]
    fn finds_by_id_name_and_unique_prefix() {
        let mut index = Index::default();
        index.insert(id("ab12"), "web", 1);
        index.insert(id("ab34"), "db", 2);
        index.insert(id("cd"), "ab", 3);
        assert_eq!(index.find(id("ab12").as_str()), Found::One(&1));
        assert_eq!(index.find("db"), Found::One(&2));
        // A name wins over an ID prefix, as in Podman.
        assert_eq!(index.find("ab"), Found::One(&3));
        assert_eq!(index.find("ab1"), Found::One(&1));
        assert_eq!(index.find("c"), Found::One(&3));
        assert_eq!(index.find("e"), Found::None);
        let ab12 = id("ab12");
        let ab34 = id("ab34");
        assert_eq!(index.find("a"), Found::Ambiguous(vec![&ab12, &ab34]));
    }

    /// The name index follows inserts and removals: a removed container's name is free, and
    /// only the container that owns a name frees it.
    #[test]
    fn names_follow_inserts_and_removals() {
        let mut index = Index::default();
        index.insert(id("01"), "one", 1);
        index.insert(id("02"), "one", 2);
        assert!(index.name_taken("one"));
        assert_eq!(index.remove(&id("02"), "one"), Some(2));
        assert_eq!(index.find("one"), Found::One(&1));
        assert_eq!(index.remove(&id("01"), "one"), Some(1));
        assert!(!index.name_taken("one"));
        assert_eq!(index.find("one"), Found::None);
        assert_eq!(index.len(), 0);
    }
}
