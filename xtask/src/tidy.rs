//! Tidy checks that run as ordinary tests (`cargo test -p xtask`), so that
//! `cargo xtask test` enforces the architecture: the core stays pure, adapters never
//! depend on each other, and every crate explains itself.

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::process::Command;

    use serde_json::Value;

    use crate::{cargo_bin, root};

    /// The workspace's dependency graph for the machine we build on. Filtering by the
    /// host platform keeps cargo from wanting packages that only other platforms use
    /// (wasm, Windows), which a fresh clone has not downloaded.
    fn metadata() -> Value {
        let rustc = Command::new("rustc")
            .arg("-vV")
            .output()
            .expect("rustc runs");
        let host = String::from_utf8_lossy(&rustc.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
            .expect("rustc -vV names the host");
        let out = Command::new(cargo_bin())
            .args([
                "metadata",
                "--format-version",
                "1",
                "--filter-platform",
                &host,
            ])
            .current_dir(root())
            .output()
            .expect("cargo metadata runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
    }

    /// The elements of `value`, an array in cargo's metadata; none if it is not one.
    fn items(value: &Value) -> impl Iterator<Item = &Value> {
        value.as_array().into_iter().flatten()
    }

    /// The strings among the elements of `value`.
    fn strings(value: &Value) -> impl Iterator<Item = &str> {
        items(value).filter_map(Value::as_str)
    }

    /// Package name → names of its normal (non-dev, non-build) dependencies.
    fn normal_dependency_graph(meta: &Value) -> BTreeMap<String, BTreeSet<String>> {
        let names: BTreeMap<&str, &str> = items(&meta["packages"])
            .map(|p| {
                (
                    p["id"].as_str().unwrap_or(""),
                    p["name"].as_str().unwrap_or(""),
                )
            })
            .collect();
        items(&meta["resolve"]["nodes"])
            .map(|node| {
                let name = names[node["id"].as_str().unwrap_or("")].to_owned();
                let deps = items(&node["deps"])
                    .filter(|d| items(&d["dep_kinds"]).any(|k| k["kind"].is_null()))
                    .map(|d| names[d["pkg"].as_str().unwrap_or("")].to_owned())
                    .collect();
                (name, deps)
            })
            .collect()
    }

    fn transitive(graph: &BTreeMap<String, BTreeSet<String>>, root: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![root.to_owned()];
        while let Some(p) = stack.pop() {
            for d in graph.get(&p).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        seen
    }

    /// Architecture Invariant: `domain-core` does no I/O; it never links tokio's runtime,
    /// sqlx, axum, hyper, hickory or any other network crate, even transitively.
    #[test]
    fn domain_core_stays_pure() {
        let graph = normal_dependency_graph(&metadata());
        let deps = transitive(&graph, "domain-core");
        // The graph must be real for the check below to mean anything.
        assert!(
            deps.contains("rsa") && deps.contains("aws-lc-rs"),
            "{deps:?}"
        );
        let forbidden = [
            "tokio", "mio", "sqlx", "axum", "hyper", "reqwest", "tower", "socket2",
        ];
        let bad: Vec<&String> = deps
            .iter()
            .filter(|d| {
                forbidden
                    .iter()
                    .any(|f| d.as_str() == *f || d.starts_with(&format!("{f}-")))
                    || d.starts_with("hickory")
                    || d.starts_with("sqlx")
            })
            .collect();
        assert!(bad.is_empty(), "domain-core must not depend on {bad:?}");
    }

    /// Architecture Invariant: arrows point inward. Adapters depend on `domain-core` and
    /// never on each other; only the app knows them all.
    #[test]
    fn adapters_do_not_depend_on_each_other() {
        let graph = normal_dependency_graph(&metadata());
        for (name, deps) in &graph {
            if name.starts_with("adapter-") {
                let others: Vec<&String> =
                    deps.iter().filter(|d| d.starts_with("adapter-")).collect();
                assert!(others.is_empty(), "{name} depends on {others:?}");
            }
        }
    }

    /// Every crate of the workspace opens with a `//!` doc that states what it is.
    #[test]
    fn every_crate_has_a_module_doc() {
        let meta = metadata();
        let members: BTreeSet<&str> = strings(&meta["workspace_members"]).collect();
        for package in items(&meta["packages"]) {
            if !members.contains(package["id"].as_str().unwrap_or("")) {
                continue;
            }
            for target in items(&package["targets"]) {
                let kinds: Vec<&str> = strings(&target["kind"]).collect();
                if !kinds.iter().any(|k| *k == "lib" || *k == "bin") {
                    continue;
                }
                let path = target["src_path"].as_str().unwrap_or("");
                let src = std::fs::read_to_string(path).unwrap_or_default();
                assert!(
                    src.trim_start().starts_with("//!"),
                    "{path} must open with a `//!` module doc"
                );
            }
        }
    }

    /// The repository stands on its own: no file refers to a document outside it. Code
    /// and docs cite `docs/` instead, so a reader of a clean clone can follow every
    /// reference.
    #[test]
    fn nothing_refers_to_documents_outside_the_repository() {
        let out = Command::new("git")
            .args(["ls-files", "-z"])
            .current_dir(root())
            .output()
            .expect("git ls-files runs");
        assert!(out.status.success(), "git ls-files failed");
        // Written in pieces so that this file does not match itself.
        let outside = [
            format!("{}/{}", "..", "shared"),
            format!("{}{}", "/work/", "shared"),
            format!("{}-{}.md", "api", "contract"),
            format!("{}-{}.md", "sender", "domains"),
            format!("{} §", "contract"),
        ];
        let mut found = Vec::new();
        for path in out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
            let path = String::from_utf8_lossy(path).into_owned();
            let Ok(text) = std::fs::read_to_string(root().join(&path)) else {
                continue; // binary files, such as screenshots
            };
            for (n, line) in text.lines().enumerate() {
                if let Some(what) = outside.iter().find(|o| line.contains(o.as_str())) {
                    found.push(format!("{path}:{}: `{what}`", n + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "references to documents outside the repository (cite docs/ instead):\n{}",
            found.join("\n")
        );
    }
}
