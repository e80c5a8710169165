//! `stark-sessions-compile`: compiles the Cairo project of this repository with
//! cairo-lang-starknet 2.19.4 into the Sierra artifacts that `stark-sessions-abi` embeds.
//!
//! ```text
//! stark-sessions-compile PROJECT_DIR OUT_DIR NAME=CONTRACT_PATH...
//! ```
//!
//! Writes `OUT_DIR/NAME.sierra.json` for each contract and prints, per contract, its Sierra
//! version and compiled class hash. The corelib is found as `corelib.rs` describes.

mod compile;
mod corelib;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

fn main() {
    if let Err(error) = run() {
        eprintln!("stark-sessions-compile: {error:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [project, out, contracts @ ..] = args.as_slice() else {
        bail!("usage: stark-sessions-compile PROJECT_DIR OUT_DIR NAME=CONTRACT_PATH...");
    };
    if contracts.is_empty() {
        bail!("no contract named (NAME=CONTRACT_PATH)");
    }
    let named = contracts
        .iter()
        .map(|arg| {
            arg.split_once('=')
                .with_context(|| format!("`{arg}` is not NAME=CONTRACT_PATH"))
        })
        .collect::<Result<Vec<_>>>()?;
    let project = PathBuf::from(project)
        .canonicalize()
        .with_context(|| format!("no project folder {project}"))?;
    let repo_root = project.parent().unwrap_or(Path::new("."));
    let corelib = corelib::find_corelib(repo_root)?;
    let paths: Vec<&str> = named.iter().map(|(_, path)| *path).collect();
    let compiled = compile::compile_contracts(&project, &corelib, &paths)?;
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for ((name, _), class) in named.iter().zip(compiled) {
        let file = out.join(format!("{name}.sierra.json"));
        std::fs::write(&file, class.sierra_json)
            .with_context(|| format!("writing {}", file.display()))?;
        println!(
            "{name}: sierra {} compiled_class_hash {}",
            class.sierra_version, class.compiled_class_hash
        );
    }
    Ok(())
}
