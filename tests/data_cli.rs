//! End-to-end tests of `darkprobe data list|fetch|verify|path|info`, run as the
//! real binary against a local HTTP server on 127.0.0.1 (never the internet).
// The server helpers are used only by the download tests.
#![cfg_attr(not(feature = "download"), allow(unused_imports, dead_code))]

#[path = "common/http_server.rs"]
mod http_server;

use http_server::{closed_port_url, generated_bytes, sha256_hex, Behaviour, Route, TestServer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("darkprobe-data-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary with a clean environment for the data-directory rule.
fn darkprobe() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_darkprobe"));
    c.env_remove("DARKPROBE_DATA");
    // The test server is on 127.0.0.1: never go through a proxy.
    for v in [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ] {
        c.env_remove(v);
    }
    c
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Writes a registry with dataset `demo` (two files on `server`) and returns its path.
fn write_registry(dir: &Path, a_url: &str, a: &[u8], b_url: &str, b: &[u8]) -> PathBuf {
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
path = "a.bin"
size = {}
sha256 = "{}"
url = "{a_url}"
url_status = "checked"

[[dataset.file]]
path = "nested/b.txt"
size = {}
sha256 = "{}"
url = "{b_url}"
url_status = "path-only"
"#,
        a.len(),
        sha256_hex(a),
        b.len(),
        sha256_hex(b),
    );
    let path = dir.join("registry.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
#[cfg(feature = "download")]
fn fetch_list_verify_path_round_trip() {
    let a = generated_bytes(120_000, 11);
    let b = b"hello, dark matter\n".to_vec();
    let server = TestServer::start(vec![
        Route::new("/a.bin", a.clone(), Behaviour::Normal),
        Route::new("/b.txt", b.clone(), Behaviour::Normal),
    ]);
    let root = scratch("roundtrip");
    let registry = write_registry(&root, &server.url("/a.bin"), &a, &server.url("/b.txt"), &b);
    let data = root.join("data dir");
    let base = |args: &[&str]| {
        let mut c = darkprobe();
        c.arg("data")
            .arg("--registry")
            .arg(&registry)
            .arg("--data-dir")
            .arg(&data)
            .args(args);
        c
    };

    // Before fetching: absent, and `path` names the exact fetch command.
    let (code, out, _) = run(&mut base(&["list"]));
    assert_eq!(code, 0);
    assert!(out.contains("demo") && out.contains("absent"), "{out}");
    let (code, _, err) = run(&mut base(&["path", "demo"]));
    assert_eq!(code, 2, "{err}");
    let expected = format!(
        "run `darkprobe data fetch demo --data-dir '{}'`",
        data.display()
    );
    assert!(err.contains(&expected), "{err}");
    let (code, _, _) = run(&mut base(&["verify", "demo"]));
    assert_eq!(code, 1);

    // Fetch.
    let (code, out, err) = run(&mut base(&["fetch", "demo"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("downloaded  a.bin") && out.contains("downloaded  nested/b.txt"),
        "{out}"
    );
    assert!(out.contains("demo: complete and verified"), "{out}");
    assert_eq!(std::fs::read(data.join("demo/a.bin")).unwrap(), a);
    assert_eq!(std::fs::read(data.join("demo/nested/b.txt")).unwrap(), b);

    // Fetching again downloads nothing.
    let n_requests = server.requests().len();
    let (code, out, _) = run(&mut base(&["fetch", "--all"]));
    assert_eq!(code, 0);
    assert!(out.contains("already verified"), "{out}");
    assert_eq!(server.requests().len(), n_requests);

    let (code, out, _) = run(&mut base(&["list"]));
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with("demo") && l.ends_with("verified")),
        "{out}"
    );
    let (code, out, _) = run(&mut base(&["verify"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("demo: verified (2 files)"), "{out}");
    let (code, out, _) = run(&mut base(&["path", "demo"]));
    assert_eq!(code, 0);
    assert_eq!(PathBuf::from(out.trim()), data.join("demo"));

    // Damage a file: verify and list say so, and a new fetch repairs it.
    let mut damaged = a.clone();
    damaged[7] ^= 0x10;
    std::fs::write(data.join("demo/a.bin"), &damaged).unwrap();
    let (code, out, _) = run(&mut base(&["verify"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BAD      a.bin: sha256"), "{out}");
    let (_, out, _) = run(&mut base(&["list"]));
    assert!(out.contains("BAD (1 of 2 files damaged)"), "{out}");
    let (code, out, _) = run(&mut base(&["fetch", "demo"]));
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read(data.join("demo/a.bin")).unwrap(), a);
}

#[test]
#[cfg(feature = "download")]
fn truncated_download_fails_then_resumes_on_the_next_fetch() {
    let a = generated_bytes(200_000, 12);
    let b = generated_bytes(1_000, 13);
    let server = TestServer::start(vec![
        Route::new("/a.bin", a.clone(), Behaviour::TruncateFirst(70_000)),
        Route::new("/b.txt", b.clone(), Behaviour::Normal),
    ]);
    let root = scratch("resume");
    let registry = write_registry(&root, &server.url("/a.bin"), &a, &server.url("/b.txt"), &b);
    let data = root.join("data");
    let mut fetch = darkprobe();
    fetch
        .args(["data", "fetch", "demo", "--registry"])
        .arg(&registry)
        .env("DARKPROBE_DATA", &data);

    let (code, out, err) = run(&mut fetch);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("FAILED      a.bin"), "{out}");
    assert!(out.contains("downloaded  nested/b.txt"), "{out}");
    assert!(err.contains("1 file(s) could not be fetched"), "{err}");
    assert!(err.contains("stopped after 70000 of 200000 bytes"), "{err}");
    assert_eq!(
        std::fs::metadata(data.join("demo/a.bin.part"))
            .unwrap()
            .len(),
        70_000
    );

    // `list` shows the partial file; `verify demo` fails.
    let (_, out, _) = run(darkprobe()
        .args(["data", "verify", "demo", "--registry"])
        .arg(&registry)
        .env("DARKPROBE_DATA", &data));
    assert!(
        out.contains("partial  a.bin (70000 of 200000 bytes"),
        "{out}"
    );

    let (code, out, err) = run(&mut fetch);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("resumed     a.bin"), "{out}");
    assert_eq!(std::fs::read(data.join("demo/a.bin")).unwrap(), a);
    assert!(!data.join("demo/a.bin.part").exists());
    let ranges: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/a.bin")
        .map(|r| r.range)
        .collect();
    assert_eq!(ranges, [None, Some("bytes=70000-".to_string())]);
}

#[test]
#[cfg(feature = "download")]
fn checksum_404_and_offline_failures_exit_3_with_clear_messages() {
    let a = generated_bytes(5_000, 14);
    let b = generated_bytes(500, 15);
    let mut corrupted = a.clone();
    corrupted[0] ^= 1;
    let server = TestServer::start(vec![
        Route::new("/a.bin", corrupted, Behaviour::Normal),
        Route::new("/b.txt", vec![], Behaviour::NotFound),
    ]);
    let root = scratch("failures");
    let registry = write_registry(&root, &server.url("/a.bin"), &a, &server.url("/b.txt"), &b);
    let data = root.join("data");
    let (code, _, err) = run(darkprobe()
        .args(["data", "fetch", "demo", "--registry"])
        .arg(&registry)
        .arg("--data-dir")
        .arg(&data));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.starts_with("error: 2 file(s) could not be fetched"),
        "{err}"
    );
    assert!(
        err.contains("checksum mismatch") && err.contains(&sha256_hex(&a)),
        "{err}"
    );
    assert!(err.contains("answered HTTP 404"), "{err}");
    assert!(!data.join("demo/a.bin").exists() && !data.join("demo/a.bin.part").exists());

    let offline_registry = write_registry(
        &root.join(""),
        &closed_port_url("/a.bin"),
        &a,
        &closed_port_url("/b.txt"),
        &b,
    );
    let (code, _, err) = run(darkprobe()
        .args(["data", "fetch", "demo", "--registry"])
        .arg(&offline_registry)
        .arg("--data-dir")
        .arg(&data));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("are you offline"), "{err}");
}

#[test]
fn bad_input_exits_2() {
    let data = scratch("badinput");
    let (code, _, err) = run(darkprobe()
        .args(["data", "fetch", "no-such-dataset", "--data-dir"])
        .arg(&data));
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown dataset 'no-such-dataset'") && err.contains("mlfermidwarfs"),
        "{err}"
    );
    let (code, _, _) = run(darkprobe().args(["data", "fetch"]));
    assert_eq!(code, 2);
    let (code, _, _) = run(darkprobe().args(["data", "fetch", "--all", "mlfermidwarfs"]));
    assert_eq!(code, 2);
    let bad = data.join("bad.toml");
    std::fs::write(&bad, "[[dataset]]\nname = 3\n").unwrap();
    let (code, _, err) = run(darkprobe()
        .args(["data", "list", "--registry"])
        .arg(&bad)
        .arg("--data-dir")
        .arg(&data));
    assert_eq!(code, 2);
    assert!(
        err.contains("invalid dataset registry") && err.contains("bad.toml"),
        "{err}"
    );
    let (code, _, err) = run(darkprobe()
        .args(["data", "path", "cosmixs-gamma-2024"])
        .env("DARKPROBE_DATA", &data));
    assert_eq!(code, 2);
    assert!(
        err.contains("run `darkprobe data fetch cosmixs-gamma-2024`"),
        "{err}"
    );
}

#[test]
fn the_data_directory_follows_flag_then_env() {
    let env_dir = scratch("env");
    let flag_dir = scratch("flag");
    let (code, out, _) = run(darkprobe()
        .args(["data", "path"])
        .env("DARKPROBE_DATA", &env_dir));
    assert_eq!(code, 0);
    assert_eq!(PathBuf::from(out.trim()), env_dir);
    let (code, out, _) = run(darkprobe()
        .args(["data", "path", "--data-dir"])
        .arg(&flag_dir)
        .env("DARKPROBE_DATA", &env_dir));
    assert_eq!(code, 0);
    assert_eq!(PathBuf::from(out.trim()), flag_dir);
    // The flag is accepted before the subcommand too.
    let (code, out, _) = run(darkprobe()
        .args(["data", "--data-dir"])
        .arg(&flag_dir)
        .arg("path"));
    assert_eq!(code, 0);
    assert_eq!(PathBuf::from(out.trim()), flag_dir);
    // Without either, the platform cache folder is used.
    let (code, out, _) = run(darkprobe().args(["data", "list"]).env("HOME", &env_dir));
    assert_eq!(code, 0);
    assert!(
        out.contains("platform cache") && out.contains("darkprobe"),
        "{out}"
    );
}

#[test]
fn builtin_registry_list_and_info() {
    let empty = scratch("empty");
    let (code, out, _) = run(darkprobe().args(["data", "list", "--data-dir"]).arg(&empty));
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().filter(|l| l.ends_with("  absent")).count(),
        7,
        "{out}"
    );
    let (code, out, _) = run(darkprobe().args(["data", "info", "mlfermidwarfs"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("licence:  MIT (c) 2021 Christopher Eckner"),
        "{out}"
    );
    assert!(out.contains("arXiv:2002.01229"), "{out}");
    assert!(out.contains(
        "https://raw.githubusercontent.com/pooja1984/MLFermiLATDwarfs/c9cb4037cefe99f825794e4af1a2659a51416e17/default_dwarf_summary_table.dat"
    ), "{out}");
    let (code, out, _) = run(darkprobe().args(["data", "info", "fermi-4fgl-dr4-lp-features"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("derived from catalog_data_4FGL_DR4.h5 (to be made by hand)"),
        "{out}"
    );
    assert!(out.contains("no public download"), "{out}");
}

#[test]
#[cfg(not(feature = "download"))]
fn without_the_download_feature_fetch_explains_what_to_do() {
    let data = scratch("nodownload");
    let (code, _, err) = run(darkprobe()
        .args(["data", "fetch", "cosmixs-gamma-2024", "--data-dir"])
        .arg(&data));
    assert_eq!(code, 3);
    assert!(err.contains("without the `download` feature"), "{err}");
    assert!(
        err.contains("darkprobe data info cosmixs-gamma-2024"),
        "{err}"
    );
}

/// Serves every file of the real datasets from `DARKPROBE_DATA` on the local
/// server, points the built-in registry at it, and fetches everything: this
/// checks every registered size and checksum against the real files and runs
/// the built-in conversion (HernquistFlows figure 3) end to end.
#[test]
#[cfg(feature = "download")]
#[ignore = "needs DARKPROBE_DATA"]
fn fetch_all_of_the_real_datasets_from_a_local_mirror() {
    let src = PathBuf::from(std::env::var_os("DARKPROBE_DATA").expect("DARKPROBE_DATA"));
    let registry = darkprobe::data::Registry::builtin().unwrap();
    let mut routes = Vec::new();
    let mut text = darkprobe::data::BUILTIN_REGISTRY_TOML.to_string();
    let mut urls = Vec::new();
    for ds in registry.datasets() {
        for f in &ds.files {
            if let Some(url) = f.url() {
                let local = format!("/{}/{}", ds.name, f.path);
                let body = std::fs::read(src.join(&ds.name).join(&f.path)).unwrap();
                routes.push(Route::new(&local, body, Behaviour::Normal));
                urls.push((url.to_string(), local));
            }
        }
    }
    let server = TestServer::start(routes);
    for (url, local) in &urls {
        text = text.replace(&format!("\"{url}\""), &format!("\"{}\"", server.url(local)));
    }
    let root = scratch("mirror");
    let reg_path = root.join("mirror.toml");
    std::fs::write(&reg_path, text).unwrap();
    let data = root.join("data");
    let (code, out, err) = run(darkprobe()
        .args(["data", "fetch", "--all", "--registry"])
        .arg(&reg_path)
        .arg("--data-dir")
        .arg(&data));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("derived     fig3_accelerations.csv from fig3_data.npz"),
        "{out}"
    );
    for name in [
        "mlfermidwarfs",
        "cosmixs-gamma-2024",
        "fermi-4fgl-dr2-probcat-bhat-malyshev",
        "fermi-4fgl-dr4-srcpop-uw1410",
        "fermi-4fgl-unids-dm-gammaldi2023",
        "hernquist-flows-reference",
    ] {
        assert!(
            out.contains(&format!("{name}: complete and verified")),
            "{name}\n{out}"
        );
    }
    // The three lp-features files without a direct download are reported.
    assert!(out.contains("3 file(s) have no direct download"), "{out}");
    // The built-in registry and the shared folder agree: verify passes there.
    let (code, out, _) = run(darkprobe()
        .args(["data", "verify"])
        .env("DARKPROBE_DATA", &src));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches(": verified (").count(), 7, "{out}");
}
