//! A Python virtual environment for tests that run a service or a script
//! traced by another language's OpenTelemetry SDK.
//!
//! ```no_run
//! use o11y_core::testing::python_venv;
//!
//! let dir = std::env::temp_dir().join("my-venv");
//! let python = python_venv(&dir, &["opentelemetry-sdk==1.27.0"]).unwrap();
//! std::process::Command::new(python).arg("-c").arg("import opentelemetry.sdk").status().unwrap();
//! ```

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// The file in a venv naming the packages it was filled with.
const STAMP: &str = "o11y-packages.txt";

/// The python of a venv in `dir` holding exactly `packages` (pinned
/// `name==version` lines for pip), made with the `python3` on the `PATH`
/// and filled from PyPI on first use. A venv whose recorded packages are
/// the same is reused as it is, so only the first run pays for the install;
/// a changed list makes it again. The error says what failed (no
/// `python3`, no network, a pip error), for the caller's skip line.
pub fn python_venv(dir: &Path, packages: &[&str]) -> Result<PathBuf, String> {
    let python = dir.join("bin/python");
    let wanted = packages.join("\n");
    if python.exists() && std::fs::read_to_string(dir.join(STAMP)).ok() == Some(wanted.clone()) {
        return Ok(python);
    }
    run(Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(dir))?;
    run(Command::new(dir.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(packages))?;
    std::fs::write(dir.join(STAMP), wanted).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(python)
}

/// Runs `cmd` to its end; its output goes to the test's stderr.
fn run(cmd: &mut Command) -> Result<(), String> {
    match cmd.stdout(Stdio::null()).status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{cmd:?} exited with {s}")),
        Err(e) => Err(format!("{cmd:?}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_venv_with_the_same_packages_is_reused_as_it_is() {
        let dir = std::env::temp_dir().join(format!("o11y-venv-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::write(dir.join("bin/python"), "").unwrap();
        std::fs::write(dir.join(STAMP), "a==1\nb==2").unwrap();
        // Nothing is run: this "python" is an empty file.
        assert_eq!(
            python_venv(&dir, &["a==1", "b==2"]),
            Ok(dir.join("bin/python"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
