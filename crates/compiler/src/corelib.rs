//! Finding the Cairo core library of the compiler's exact tag, and proving it is that one.
//!
//! The compiler crates on crates.io do not carry their corelib. It is looked for, in order, in
//! `$CAIRO_CORELIB_DIR`, in `../shared/cairo/corelib` beside the repository, and in this user's
//! cache, where it is extracted from the tag's source archive when the machine has internet.
//! Every candidate is accepted only if its fingerprint is the pinned one, so the same sources
//! always compile from the same library.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// The compiler release whose corelib is needed.
pub const CAIRO_TAG: &str = "v2.19.4";

/// `cd corelib && find . -type f ! -name LICENSE | LC_ALL=C sort | xargs sha256sum | sha256sum`
/// of the corelib at [`CAIRO_TAG`] (`../shared/cairo/README.md`).
pub const CORELIB_FINGERPRINT: &str =
    "127f113e3846ba1626e4618f0edf8f80abe51834c83e0f6b38eb29fa518951bb";

/// The environment variable naming a corelib folder (the one holding `src/`).
pub const CORELIB_ENV: &str = "CAIRO_CORELIB_DIR";

const ARCHIVE_URL: &str =
    "https://github.com/starkware-libs/cairo/archive/refs/tags/v2.19.4.tar.gz";

/// One place looked at, and why it was not taken.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Where.
    pub path: PathBuf,
    /// Why it was refused (`None`: accepted).
    pub refused: Option<String>,
}

/// Finds the corelib for a repository at `repo_root`: the folder that holds `src/lib.cairo`.
/// The error lists every place looked at and what was wrong with each.
pub fn find_corelib(repo_root: &Path) -> Result<PathBuf> {
    let mut looked = Vec::new();
    for path in local_candidates(repo_root) {
        match check(&path) {
            Ok(()) => return Ok(path),
            Err(why) => looked.push(Candidate {
                path,
                refused: Some(why),
            }),
        }
    }
    let cache = cache_dir();
    match fetch_into(&cache) {
        Ok(()) => return Ok(cache),
        Err(why) => looked.push(Candidate {
            path: cache,
            refused: Some(format!("{why:#}")),
        }),
    }
    bail!("{}", not_found_message(&looked))
}

fn local_candidates(repo_root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::var_os(CORELIB_ENV).filter(|v| !v.is_empty()) {
        out.push(PathBuf::from(dir));
    }
    out.push(
        repo_root
            .join("..")
            .join("shared")
            .join("cairo")
            .join("corelib"),
    );
    out.push(cache_dir());
    out
}

/// Where a downloaded corelib is kept: `$XDG_CACHE_HOME` or `~/.cache`, then
/// `stark-sessions/cairo-corelib-<tag>`.
fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("stark-sessions")
        .join(format!("cairo-corelib-{CAIRO_TAG}"))
}

fn not_found_message(looked: &[Candidate]) -> String {
    let mut text = format!(
        "no Cairo corelib of {CAIRO_TAG} (fingerprint {CORELIB_FINGERPRINT}) was found; looked at:"
    );
    for candidate in looked {
        let why = candidate.refused.as_deref().unwrap_or("accepted");
        let _ = write!(text, "\n  {}: {why}", candidate.path.display());
    }
    let _ = write!(
        text,
        "\nset {CORELIB_ENV} to the corelib/ folder of the Cairo compiler's {CAIRO_TAG} source tree"
    );
    text
}

/// Whether `dir` is the pinned corelib; the reason when it is not.
fn check(dir: &Path) -> Result<(), String> {
    if !dir.join("src").join("lib.cairo").is_file() {
        return Err("not there (no src/lib.cairo)".into());
    }
    let found = fingerprint(dir).map_err(|e| format!("unreadable: {e:#}"))?;
    if found != CORELIB_FINGERPRINT {
        return Err(format!("fingerprint {found}, not the pinned one"));
    }
    Ok(())
}

/// The fingerprint of a folder, computed as the shell pipeline of [`CORELIB_FINGERPRINT`] does:
/// every file but those named `LICENSE`, by its path from `dir` (`./…`) in byte order, as
/// `sha256sum` lines, hashed together.
pub fn fingerprint(dir: &Path) -> Result<String> {
    let mut files = Vec::new();
    collect_files(dir, Path::new("."), &mut files)?;
    files.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut listing = String::new();
    for relative in &files {
        let bytes = fs::read(dir.join(relative))
            .with_context(|| format!("reading {}", dir.join(relative).display()))?;
        let _ = writeln!(listing, "{}  {relative}", hex(&Sha256::digest(&bytes)));
    }
    Ok(hex(&Sha256::digest(listing.as_bytes())))
}

fn collect_files(root: &Path, relative: &Path, out: &mut Vec<String>) -> Result<()> {
    let here = root.join(relative);
    for entry in fs::read_dir(&here).with_context(|| format!("listing {}", here.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let path = relative.join(&name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file() && name != "LICENSE" {
            let text = path
                .to_str()
                .with_context(|| format!("a path that is not UTF-8: {}", path.display()))?;
            out.push(text.to_string());
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Downloads the tag's source archive with `curl`, extracts its `corelib/` with `tar`, and keeps
/// it at `dest` only if its fingerprint is the pinned one.
fn fetch_into(dest: &Path) -> Result<()> {
    let parent = dest.parent().context("cache folder has no parent")?;
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let work = parent.join(format!(".corelib-download-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)?;
    let result = download_and_extract(&work).and_then(|extracted| {
        check(&extracted).map_err(|why| anyhow::anyhow!("downloaded corelib refused: {why}"))?;
        let _ = fs::remove_dir_all(dest);
        fs::rename(&extracted, dest).with_context(|| format!("moving into {}", dest.display()))
    });
    let _ = fs::remove_dir_all(&work);
    result
}

fn download_and_extract(work: &Path) -> Result<PathBuf> {
    let archive = work.join("cairo.tar.gz");
    let status = Command::new("curl")
        .args(["-fsSL", "--max-time", "300", "-o"])
        .arg(&archive)
        .arg(ARCHIVE_URL)
        .status()
        .context("running curl")?;
    if !status.success() {
        bail!("downloading {ARCHIVE_URL} failed (curl: {status})");
    }
    let prefix = format!("cairo-{}/corelib", CAIRO_TAG.trim_start_matches('v'));
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(work)
        .arg(&prefix)
        .status()
        .context("running tar")?;
    if !status.success() {
        bail!("extracting {prefix} from the archive failed (tar: {status})");
    }
    Ok(work.join(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_corelib() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/cairo/corelib")
    }

    #[test]
    fn the_shared_corelib_has_the_pinned_fingerprint() {
        assert_eq!(
            fingerprint(&shared_corelib()).expect("readable"),
            CORELIB_FINGERPRINT
        );
        assert_eq!(check(&shared_corelib()), Ok(()));
    }

    #[test]
    fn a_corelib_with_one_changed_file_is_refused_by_its_fingerprint() {
        let dir = tempfile::tempdir().expect("temp dir");
        let copy = dir.path().join("corelib");
        copy_tree(&shared_corelib(), &copy);
        let lib = copy.join("src").join("lib.cairo");
        let mut text = fs::read_to_string(&lib).expect("lib.cairo");
        text.push_str("\n// changed\n");
        fs::write(&lib, text).expect("write");
        let why = check(&copy).expect_err("a changed corelib is refused");
        assert!(why.contains("not the pinned one"), "{why}");
        // A LICENSE file is not part of the fingerprint: removing it changes nothing.
        fs::write(
            &lib,
            fs::read(shared_corelib().join("src/lib.cairo")).expect("read"),
        )
        .expect("restore");
        let _ = fs::remove_file(copy.join("LICENSE"));
        assert_eq!(check(&copy), Ok(()));
    }

    #[test]
    fn the_refusal_names_every_place_looked_at() {
        let looked = vec![
            Candidate {
                path: PathBuf::from("/nowhere/corelib"),
                refused: Some("not there (no src/lib.cairo)".into()),
            },
            Candidate {
                path: PathBuf::from("/cache/corelib"),
                refused: Some("downloading failed".into()),
            },
        ];
        let text = not_found_message(&looked);
        assert!(text.contains("/nowhere/corelib: not there"), "{text}");
        assert!(
            text.contains("/cache/corelib: downloading failed"),
            "{text}"
        );
        assert!(text.contains(CORELIB_ENV), "{text}");
        assert!(text.contains(CORELIB_FINGERPRINT), "{text}");
    }

    fn copy_tree(from: &Path, to: &Path) {
        fs::create_dir_all(to).expect("mkdir");
        for entry in fs::read_dir(from).expect("list") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                copy_tree(&entry.path(), &target);
            } else {
                fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }
}
