//! User namespace ID maps from every option that gives them, and subordinate ID ranges.

use super::options::{CreateOptions, invalid};
use crate::engine::error::Result;
use crate::engine::runtime::spec::input::IdMap;

/// `container:host:size` triples, several per string allowed.
fn parse_id_maps(field: &'static str, text: &str) -> Result<Vec<IdMap>> {
    let numbers: Vec<&str> = text.split(':').collect();
    if numbers.len() % 3 != 0 {
        return Err(invalid(field, format!("{text:?}: use CONTAINER:HOST:SIZE")));
    }
    numbers
        .chunks(3)
        .map(|c| {
            let n = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| invalid(field, format!("{text:?}: {s:?} is not a number")))
            };
            let map = IdMap {
                container_id: n(c[0])?,
                host_id: n(c[1])?,
                size: n(c[2])?,
            };
            if map.size == 0 {
                return Err(invalid(field, format!("{text:?}: a range of size 0")));
            }
            Ok(map)
        })
        .collect()
}

/// A user's (or group's) ranges in /etc/subuid (or /etc/subgid), mapped from ID 0 up.
fn subordinate_ids(field: &'static str, file: &str, name: &str) -> Result<Vec<IdMap>> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut next = 0u32;
    let mut maps = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() == 3
            && f[0] == name
            && let (Ok(start), Ok(size)) = (f[1].parse::<u32>(), f[2].parse::<u32>())
        {
            maps.push(IdMap {
                container_id: next,
                host_id: start,
                size,
            });
            next = next.saturating_add(size);
        }
    }
    if maps.is_empty() {
        return Err(invalid(field, format!("no ranges for {name:?} in {file}")));
    }
    Ok(maps)
}

/// The UID and GID maps from every option that gives them. One given alone serves both.
pub(super) fn id_maps(o: &CreateOptions) -> Result<(Vec<IdMap>, Vec<IdMap>)> {
    let mut uids = Vec::new();
    let mut gids = Vec::new();
    for text in &o.uidmap {
        uids.extend(parse_id_maps("create.uidmap", text)?);
    }
    for text in &o.gidmap {
        gids.extend(parse_id_maps("create.gidmap", text)?);
    }
    if !o.subuidmap.is_empty() {
        uids.extend(parse_id_maps("create.subuidmap", &o.subuidmap)?);
    }
    if !o.subgidmap.is_empty() {
        gids.extend(parse_id_maps("create.subgidmap", &o.subgidmap)?);
    }
    let m = &o.id_mappings;
    if m.uid_map.size != 0 {
        uids.push(m.uid_map);
    }
    if m.gid_map.size != 0 {
        gids.push(m.gid_map);
    }
    // Either name alone serves for both maps, as in Podman; each is reported under the field
    // it came in.
    let (uid_field, uid_name) = if o.subuidname.is_empty() {
        ("create.subgidname", &o.subgidname)
    } else {
        ("create.subuidname", &o.subuidname)
    };
    let (gid_field, gid_name) = if o.subgidname.is_empty() {
        ("create.subuidname", &o.subuidname)
    } else {
        ("create.subgidname", &o.subgidname)
    };
    if !uid_name.is_empty() {
        uids.extend(subordinate_ids(uid_field, "/etc/subuid", uid_name)?);
        gids.extend(subordinate_ids(gid_field, "/etc/subgid", gid_name)?);
    }
    if m.host_uid_mapping {
        uids.clear();
    }
    if m.host_gid_mapping {
        gids.clear();
    }
    if uids.is_empty() && !gids.is_empty() && !m.host_uid_mapping {
        uids = gids.clone();
    }
    if gids.is_empty() && !uids.is_empty() && !m.host_gid_mapping {
        gids = uids.clone();
    }
    if uids.is_empty() != gids.is_empty() {
        return Err(invalid(
            "create.id_mappings",
            "a user namespace needs both UID and GID maps",
        ));
    }
    for maps in [&uids, &gids] {
        check_id_ranges(maps)?;
    }
    Ok((uids, gids))
}

/// ID maps the kernel takes: at most 340 ranges, none past the last ID, none overlapping
/// another inside the container.
fn check_id_ranges(maps: &[IdMap]) -> Result<()> {
    if maps.len() > 340 {
        return Err(invalid("create.uidmap", "more than 340 ranges"));
    }
    let end = |start: u32, size: u32| u64::from(start) + u64::from(size);
    for (i, m) in maps.iter().enumerate() {
        if end(m.container_id, m.size) > 1 << 32 || end(m.host_id, m.size) > 1 << 32 {
            return Err(invalid(
                "create.uidmap",
                format!(
                    "the range {}:{}:{} goes past the last ID",
                    m.container_id, m.host_id, m.size
                ),
            ));
        }
        for other in &maps[i + 1..] {
            let overlap = u64::from(m.container_id) < end(other.container_id, other.size)
                && u64::from(other.container_id) < end(m.container_id, m.size);
            if overlap {
                return Err(invalid(
                    "create.uidmap",
                    format!(
                        "the ranges starting at {} and {} overlap",
                        m.container_id, other.container_id
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::create::options::IdMappingOptions;
    use crate::engine::container::create::options::strs;

    #[test]
    fn id_maps_from_every_source() {
        let o = CreateOptions {
            uidmap: strs(&["0:100000:1000:1000:200000:10"]),
            ..Default::default()
        };
        let (u, g) = id_maps(&o).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u, g, "one map serves both");
        assert_eq!(
            u[1],
            IdMap {
                container_id: 1000,
                host_id: 200000,
                size: 10
            }
        );
        let o = CreateOptions {
            id_mappings: IdMappingOptions {
                uid_map: IdMap {
                    container_id: 0,
                    host_id: 5000,
                    size: 10,
                },
                gid_map: IdMap {
                    container_id: 0,
                    host_id: 6000,
                    size: 10,
                },
                ..Default::default()
            },
            ..Default::default()
        };
        let (u, g) = id_maps(&o).unwrap();
        assert_eq!((u[0].host_id, g[0].host_id), (5000, 6000));
        assert!(
            id_maps(&CreateOptions {
                uidmap: strs(&["0:1"]),
                ..Default::default()
            })
            .is_err()
        );
        for bad in ["0:4294967295:2", "0:100:10:5:200:10", "4294967290:0:10"] {
            let o = CreateOptions {
                uidmap: strs(&[bad]),
                ..Default::default()
            };
            assert!(id_maps(&o).is_err(), "{bad} should be refused");
        }

        assert!(
            id_maps(&CreateOptions {
                uidmap: strs(&["0:1:0"]),
                ..Default::default()
            })
            .is_err()
        );
    }
}
