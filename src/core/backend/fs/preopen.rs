//! Which granted directory (preopen) holds the store: pure path matching, so that it runs in
//! native tests too; [`wasi`](super::wasi) uses it on the runtime's preopens.

/// The path of the store below the granted directory `preopen` (empty for the directory
/// itself), or `None` when `preopen` does not hold the guest path `wanted`.
pub fn below<'a>(preopen: &str, wanted: &'a str) -> Option<&'a str> {
    let path = preopen.trim_end_matches('/');
    if path.is_empty() && preopen.starts_with('/') {
        // The root (`--dir /::/`) holds every absolute path.
        let rest = wanted.trim_matches('/');
        return wanted.starts_with('/').then_some(rest);
    }
    let wanted = wanted.trim_end_matches('/');
    if path == "." && !wanted.starts_with('/') {
        // The current directory holds every relative path.
        return Some(match wanted.strip_prefix("./") {
            Some(rest) => rest,
            None if wanted == "." => "",
            None => wanted,
        });
    }
    if wanted == path {
        return Some("");
    }
    wanted
        .strip_prefix(path)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|_| !path.is_empty())
}

/// The index in `preopens` of the granted directory with the longest path that holds
/// `wanted`, and the store's path below it.
pub fn best<'a, 'p>(
    preopens: impl IntoIterator<Item = &'p str>,
    wanted: &'a str,
) -> Option<(usize, &'a str)> {
    let mut best: Option<(usize, usize, &str)> = None;
    for (index, path) in preopens.into_iter().enumerate() {
        if let Some(rest) = below(path, wanted)
            && best.is_none_or(|(_, len, _)| len < path.len())
        {
            best = Some((index, path.len(), rest));
        }
    }
    best.map(|(index, _, rest)| (index, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_preopen_holds_every_absolute_path() {
        assert_eq!(below("/", "/kv"), Some("kv"));
        assert_eq!(below("/", "/kv/store/"), Some("kv/store"));
        assert_eq!(below("/", "/"), Some(""));
        assert_eq!(best(["/"], "/kv"), Some((0, "kv")));
        // A longer match wins over the root.
        assert_eq!(best(["/", "/kv"], "/kv/a"), Some((1, "a")));
        assert_eq!(best(["/kv", "/"], "/kv/a"), Some((0, "a")));
    }

    #[test]
    fn preopens_match_whole_components_only() {
        assert_eq!(below("/kv", "/kv"), Some(""));
        assert_eq!(below("/kv/", "/kv"), Some(""));
        assert_eq!(below("/kv", "/kv/a/b"), Some("a/b"));
        assert_eq!(below("/kv", "/kvx"), None);
        assert_eq!(below("/kv", "/other"), None);
        assert_eq!(below("data", "data/x"), Some("x"));
        assert_eq!(below("/kv", "kv"), None);
        assert_eq!(best(["/a", "/b"], "/c"), None);
        assert_eq!(best(["/a", "/a/b"], "/a/b/c"), Some((1, "c")));
    }

    #[test]
    fn a_dot_preopen_holds_relative_paths() {
        assert_eq!(below(".", "."), Some(""));
        assert_eq!(below(".", "./kv"), Some("kv"));
        assert_eq!(below(".", "kv"), Some("kv"));
        assert_eq!(below(".", "/kv"), None);
    }
}
