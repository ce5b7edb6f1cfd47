//! `graphform emulator`.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

use crate::common::{get, graphform, repo_root};

#[test]
fn emulator_serves_the_demo_world_on_loopback_and_writes_its_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let portfile = dir.path().join("port");
    let mut child = graphform(&repo_root())
        .args(["emulator", "--portfile"])
        .arg(&portfile)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // Readiness, not timing: the first stdout line comes once it listens,
    // the stderr line once the port file is written (after the exports).
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("first line");
    assert!(
        first.starts_with("Graph API emulator at http://127.0.0.1:"),
        "{first}"
    );
    let mut listening = String::new();
    BufReader::new(child.stderr.take().expect("stderr"))
        .read_line(&mut listening)
        .expect("the stderr line");
    assert!(
        listening.starts_with("graphform emulator listening on"),
        "{listening}"
    );
    let port: u16 = std::fs::read_to_string(&portfile)
        .expect("port file")
        .parse()
        .expect("a port");
    assert!(first.trim_end().ends_with(&format!(":{port}")), "{first}");
    let health = get(port, "/_emulator/health");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let listing = get(port, "/v26.0/100000000000001/system_users");
    assert!(
        listing.contains("\"code\":"),
        "an unauthenticated call gets a Graph error: {listing}"
    );
    child.kill().expect("stop");
    child.wait().expect("reaped");
}

#[test]
fn emulator_explains_a_bad_world_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let world = dir.path().join("world.yaml");
    std::fs::write(&world, "businesses: [").expect("write");
    graphform_snapshot!(graphform(dir.path()).args(["emulator", "--world", "world.yaml"]));
}
