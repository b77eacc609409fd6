//! Records the git commit the binary was built from (for `reslab bench`).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    println!(
        "cargo:rustc-env=RESLAB_COMMIT={commit}{}",
        if dirty { "-dirty" } else { "" }
    );
    // A new commit or checkout moves HEAD, the branch it names or the index;
    // an edit to a tracked file changes only the file, and must refresh the
    // dirty flag: the sources the binary is built from are watched too.
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/index");
    // (A loose ref only: a path that does not exist would rerun this script,
    // and rebuild the app, on every build.)
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        let path = format!("../.git/{branch}");
        if std::path::Path::new(&path).is_file() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    for dir in [
        "../src",
        "../shaders",
        "../app/src",
        "../benches/src",
        "../plot/src",
    ] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
