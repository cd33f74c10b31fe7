//! Download tests of `darkprobe::data::Fetcher` against a local HTTP server on
//! 127.0.0.1 serving generated files: a good file, a corrupted one, a
//! truncated transfer that is then resumed with a `Range` request, a server
//! that ignores ranges, a 404, an unreachable server and an oversized answer.
//! Nothing here touches the internet.
#![cfg(feature = "download")]

#[path = "common/http_server.rs"]
mod http_server;

use darkprobe::core::progress::{CountingProgress, NoProgress};
use darkprobe::data::{
    check_dataset, DataDir, DataDirSource, DataError, FetchOptions, Fetcher, FileOutcome,
    FileState, Registry,
};
use http_server::{closed_port_url, generated_bytes, sha256_hex, Behaviour, Route, TestServer};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "darkprobe-data-fetch-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fetcher() -> Fetcher {
    Fetcher::new(&FetchOptions {
        connect_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(10),
        read_timeout: Duration::from_secs(10),
        proxy_from_env: false,
    })
}

fn part_of(dest: &Path) -> PathBuf {
    let mut p = dest.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

const N: usize = 300_000;

#[test]
fn good_file_is_downloaded_verified_and_then_left_alone() {
    let body = generated_bytes(N, 1);
    let sha = sha256_hex(&body);
    let server = TestServer::start(vec![Route::new(
        "/good.bin",
        body.clone(),
        Behaviour::Normal,
    )]);
    let dir = scratch("good");
    let dest = dir.join("sub/good.bin");
    let progress = CountingProgress::default();
    let out = fetcher()
        .fetch_file(&server.url("/good.bin"), &dest, N as u64, &sha, &progress)
        .unwrap();
    assert_eq!(
        out,
        FileOutcome::Downloaded {
            bytes: N as u64,
            resumed_from: 0
        }
    );
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert!(!part_of(&dest).exists());
    assert_eq!((progress.count(), progress.total()), (N as u64, N as u64));
    // A second fetch verifies the file on disk and sends no request.
    let out = fetcher()
        .fetch_file(&server.url("/good.bin"), &dest, N as u64, &sha, &NoProgress)
        .unwrap();
    assert_eq!(out, FileOutcome::AlreadyVerified);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn corrupted_file_gives_a_checksum_error_and_leaves_nothing() {
    let good = generated_bytes(N, 2);
    let sha = sha256_hex(&good);
    let mut bad = good.clone();
    bad[N / 2] ^= 0x01;
    let server = TestServer::start(vec![Route::new(
        "/corrupt.bin",
        bad.clone(),
        Behaviour::Normal,
    )]);
    let dir = scratch("corrupt");
    let dest = dir.join("corrupt.bin");
    let err = fetcher()
        .fetch_file(
            &server.url("/corrupt.bin"),
            &dest,
            N as u64,
            &sha,
            &NoProgress,
        )
        .unwrap_err();
    match &err {
        DataError::ChecksumMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &sha);
            assert_eq!(actual, &sha256_hex(&bad));
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("checksum mismatch") && msg.contains("deleted"),
        "{msg}"
    );
    assert!(!dest.exists() && !part_of(&dest).exists());
    assert!(!err.is_bad_input());
}

#[test]
fn truncated_transfer_keeps_a_partial_file_that_a_range_request_resumes() {
    let body = generated_bytes(N, 3);
    let sha = sha256_hex(&body);
    let cut = N / 3;
    let server = TestServer::start(vec![Route::new(
        "/truncated.bin",
        body.clone(),
        Behaviour::TruncateFirst(cut),
    )]);
    let dir = scratch("truncated");
    let dest = dir.join("truncated.bin");
    let url = server.url("/truncated.bin");
    let err = fetcher()
        .fetch_file(&url, &dest, N as u64, &sha, &NoProgress)
        .unwrap_err();
    match &err {
        DataError::Truncated {
            received, expected, ..
        } => assert_eq!((*received, *expected), (cut as u64, N as u64)),
        other => panic!("expected a truncation error, got {other:?}"),
    }
    assert!(err.to_string().contains("resumes it"), "{err}");
    assert!(!dest.exists());
    assert_eq!(std::fs::read(part_of(&dest)).unwrap(), &body[..cut]);

    // The next fetch asks only for the rest, and the result is verified.
    let progress = CountingProgress::default();
    let out = fetcher()
        .fetch_file(&url, &dest, N as u64, &sha, &progress)
        .unwrap();
    assert_eq!(
        out,
        FileOutcome::Downloaded {
            bytes: (N - cut) as u64,
            resumed_from: cut as u64
        }
    );
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert!(!part_of(&dest).exists());
    assert_eq!(progress.count(), N as u64);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].range, None);
    assert_eq!(
        requests[1].range.as_deref(),
        Some(&*format!("bytes={cut}-"))
    );
}

#[test]
fn a_server_that_ignores_ranges_makes_the_fetch_start_over() {
    let body = generated_bytes(N, 4);
    let sha = sha256_hex(&body);
    let server = TestServer::start(vec![Route::new(
        "/norange.bin",
        body.clone(),
        Behaviour::IgnoreRange,
    )]);
    let dir = scratch("norange");
    let dest = dir.join("norange.bin");
    // A stale partial file (wrong bytes, even) must not end up in the result.
    std::fs::write(part_of(&dest), vec![0xAAu8; 1000]).unwrap();
    let out = fetcher()
        .fetch_file(
            &server.url("/norange.bin"),
            &dest,
            N as u64,
            &sha,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(
        out,
        FileOutcome::Downloaded {
            bytes: N as u64,
            resumed_from: 0
        }
    );
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(server.requests()[0].range.as_deref(), Some("bytes=1000-"));
}

#[test]
fn a_corrupt_partial_file_fails_the_checksum_and_is_removed() {
    let body = generated_bytes(N, 5);
    let sha = sha256_hex(&body);
    let server = TestServer::start(vec![Route::new("/f.bin", body.clone(), Behaviour::Normal)]);
    let dir = scratch("badpart");
    let dest = dir.join("f.bin");
    let mut stale = body[..1000].to_vec();
    stale[10] ^= 0xFF;
    std::fs::write(part_of(&dest), &stale).unwrap();
    let err = fetcher()
        .fetch_file(&server.url("/f.bin"), &dest, N as u64, &sha, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err:?}");
    assert!(!part_of(&dest).exists() && !dest.exists());
    // With the bad partial file gone, the next fetch succeeds from scratch.
    fetcher()
        .fetch_file(&server.url("/f.bin"), &dest, N as u64, &sha, &NoProgress)
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
}

#[test]
fn an_existing_file_with_the_wrong_checksum_is_replaced() {
    let body = generated_bytes(N, 6);
    let sha = sha256_hex(&body);
    let server = TestServer::start(vec![Route::new("/r.bin", body.clone(), Behaviour::Normal)]);
    let dir = scratch("replace");
    let dest = dir.join("r.bin");
    std::fs::write(&dest, generated_bytes(N, 7)).unwrap();
    let out = fetcher()
        .fetch_file(&server.url("/r.bin"), &dest, N as u64, &sha, &NoProgress)
        .unwrap();
    assert!(matches!(out, FileOutcome::Downloaded { .. }));
    assert_eq!(std::fs::read(&dest).unwrap(), body);
}

#[test]
fn http_404_is_a_clear_error() {
    let server = TestServer::start(vec![Route::new("/gone.bin", vec![], Behaviour::NotFound)]);
    let dir = scratch("404");
    let dest = dir.join("gone.bin");
    let err = fetcher()
        .fetch_file(
            &server.url("/gone.bin"),
            &dest,
            10,
            &"0".repeat(64),
            &NoProgress,
        )
        .unwrap_err();
    assert!(
        matches!(err, DataError::HttpStatus { status: 404, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("HTTP 404") && msg.contains("/gone.bin"),
        "{msg}"
    );
    assert!(!dest.exists() && !part_of(&dest).exists());
}

#[test]
fn an_unreachable_server_says_you_may_be_offline() {
    let dir = scratch("offline");
    let dest = dir.join("x.bin");
    let url = closed_port_url("/x.bin");
    let err = fetcher()
        .fetch_file(&url, &dest, 10, &"0".repeat(64), &NoProgress)
        .unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Network {
                offline_hint: true,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&url) && msg.contains("offline"), "{msg}");
    assert!(!dest.exists());
}

#[test]
fn more_bytes_than_registered_is_an_error_and_leaves_nothing() {
    // Without a Content-Length the excess is noticed while streaming.
    let body = generated_bytes(N, 8);
    let server = TestServer::start(vec![Route::new(
        "/big.bin",
        body.clone(),
        Behaviour::NoContentLength,
    )]);
    let dir = scratch("big");
    let dest = dir.join("big.bin");
    let err = fetcher()
        .fetch_file(
            &server.url("/big.bin"),
            &dest,
            (N - 1) as u64,
            &sha256_hex(&body[..N - 1]),
            &NoProgress,
        )
        .unwrap_err();
    assert!(matches!(err, DataError::TooLarge { .. }), "{err:?}");
    assert!(!dest.exists() && !part_of(&dest).exists());
}

#[test]
fn a_close_delimited_body_that_ends_early_is_a_truncation() {
    let body = generated_bytes(N, 16);
    let server = TestServer::start(vec![Route::new(
        "/short.bin",
        body[..N / 2].to_vec(),
        Behaviour::NoContentLength,
    )]);
    let dir = scratch("short");
    let dest = dir.join("short.bin");
    let err = fetcher()
        .fetch_file(
            &server.url("/short.bin"),
            &dest,
            N as u64,
            &sha256_hex(&body),
            &NoProgress,
        )
        .unwrap_err();
    assert!(
        matches!(err, DataError::Truncated { received, .. } if received == (N / 2) as u64),
        "{err:?}"
    );
    assert_eq!(
        std::fs::metadata(part_of(&dest)).unwrap().len(),
        (N / 2) as u64
    );
}

#[test]
fn an_announced_size_that_differs_from_the_registry_is_refused_at_once() {
    let body = generated_bytes(N, 17);
    let server = TestServer::start(vec![Route::new(
        "/changed.bin",
        body.clone(),
        Behaviour::Normal,
    )]);
    let dir = scratch("changed");
    let dest = dir.join("changed.bin");
    let err = fetcher()
        .fetch_file(
            &server.url("/changed.bin"),
            &dest,
            (N + 10) as u64,
            &"0".repeat(64),
            &NoProgress,
        )
        .unwrap_err();
    match &err {
        DataError::SizeMismatch {
            expected, served, ..
        } => assert_eq!((*expected, *served), ((N + 10) as u64, N as u64)),
        other => panic!("expected a size mismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("has probably changed"), "{err}");
    assert!(!dest.exists() && !part_of(&dest).exists());
}

/// A registry with one good file, one 404, one derived and one manual file.
fn demo_registry(server: &TestServer, good: &[u8], other: &[u8]) -> Registry {
    let text = format!(
        r#"
[[dataset]]
name = "demo"
description = "generated test data"
used_by = "tests"
license = "CC0"
citation = ["nobody"]
origin = "a local test server"

[[dataset.file]]
path = "dir/good.bin"
size = {n_good}
sha256 = "{sha_good}"
url = "{url_good}"
url_status = "checked"

[[dataset.file]]
path = "derived.csv"
size = 10
sha256 = "{zero}"
derived_from = "dir/good.bin"
recipe = "by hand"

[[dataset.file]]
path = "notes.txt"
size = 10
sha256 = "{zero}"
manual = "write it yourself"

[[dataset]]
name = "broken"
description = "a dataset whose file is gone"
used_by = "tests"
license = "CC0"
origin = "a local test server"

[[dataset.file]]
path = "other.bin"
size = {n_other}
sha256 = "{sha_other}"
url = "{url_gone}"
url_status = "inferred"
"#,
        n_good = good.len(),
        sha_good = sha256_hex(good),
        url_good = server.url("/good.bin"),
        zero = "0".repeat(64),
        n_other = other.len(),
        sha_other = sha256_hex(other),
        url_gone = server.url("/gone.bin"),
    );
    Registry::from_toml_str(&text, "test").unwrap()
}

#[test]
fn fetching_a_dataset_reports_each_file() {
    let good = generated_bytes(50_000, 9);
    let other = generated_bytes(10, 10);
    let server = TestServer::start(vec![
        Route::new("/good.bin", good.clone(), Behaviour::Normal),
        Route::new("/gone.bin", vec![], Behaviour::NotFound),
    ]);
    let registry = demo_registry(&server, &good, &other);
    let root = scratch("dataset");
    let dir = DataDir::new(&root, DataDirSource::Flag);

    let mut seen = Vec::new();
    let report =
        fetcher().fetch_dataset(&dir, registry.get("demo").unwrap(), &NoProgress, &mut |r| {
            seen.push(r.path.clone())
        });
    assert_eq!(seen.len(), 3);
    let paths: Vec<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["dir/good.bin", "derived.csv", "notes.txt"]);
    assert!(matches!(
        report.files[0].result,
        Ok(FileOutcome::Downloaded { .. })
    ));
    assert!(matches!(
        report.files[1].result,
        Ok(FileOutcome::NeedsManualStep)
    ));
    assert!(matches!(
        report.files[2].result,
        Ok(FileOutcome::NeedsManualStep)
    ));
    assert!(!report.is_complete());
    assert_eq!(report.errors().count(), 0);
    assert_eq!(std::fs::read(root.join("demo/dir/good.bin")).unwrap(), good);

    let check = check_dataset(&dir, registry.get("demo").unwrap(), true).unwrap();
    assert_eq!(check.files[0].state, FileState::Verified);
    assert_eq!(check.files[1].state, FileState::Missing);
    assert!(!check.is_complete() && !check.has_bad_files());
    assert_eq!(check.summary(), "incomplete (1/3 files)");

    let broken = fetcher().fetch_dataset(
        &dir,
        registry.get("broken").unwrap(),
        &NoProgress,
        &mut |_| {},
    );
    let errors: Vec<_> = broken.errors().collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "other.bin");
    assert!(matches!(
        errors[0].1,
        DataError::HttpStatus { status: 404, .. }
    ));
}
