//! `sandflow conformance` over the shared recorded AWS cases must report no failing case.

use std::path::PathBuf;

use crate::bin::{sandflow, workspace_root};

/// `shared/conformance/cases` beside the checkout or above it (worktrees sit deeper), or
/// `SANDFLOW_CONFORMANCE_CASES`.
fn cases_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SANDFLOW_CONFORMANCE_CASES") {
        return PathBuf::from(dir);
    }
    let root = workspace_root();
    root.ancestors()
        .map(|dir| dir.join("shared/conformance/cases"))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "no shared/conformance/cases above {}; set SANDFLOW_CONFORMANCE_CASES",
                root.display()
            )
        })
}

/// `(passed, failed, skipped)` from the summary line.
fn summary(stdout: &str) -> (usize, usize, usize) {
    let line = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("conformance: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    let counts: Vec<usize> = line
        .split(", ")
        .map(|part| {
            part.split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bad summary: {line}"))
        })
        .collect();
    match counts[..] {
        [passed, failed, skipped] => (passed, failed, skipped),
        _ => panic!("bad summary: {line}"),
    }
}

#[test]
fn conformance_cases_pass() {
    let dir = cases_dir();
    let run = sandflow(&["conformance", dir.to_str().expect("UTF-8 path")]);
    let (passed, failed, _skipped) = summary(&run.stdout);
    let failures: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL") || l.starts_with("    "))
        .collect();
    assert!(
        failed == 0,
        "{failed} conformance cases failed:\n{}",
        failures.join("\n")
    );
    assert_eq!(run.code, Some(0), "exit status with no failures: {run:#?}");
    assert!(passed > 0, "no case ran: {}", run.stdout);
}

#[test]
fn summary_line_is_parsed() {
    assert_eq!(
        summary("skip a: needs jsonata\nconformance: 3 passed, 1 failed, 2 skipped"),
        (3, 1, 2)
    );
}
