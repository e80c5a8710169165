//! `stark-sessions owner …`: the owner's key at rest, in an Argon2id envelope under a
//! passphrase that passes the owner passphrase policy.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;
use stark_sessions_abi::Felt;
use stark_sessions_client::envelope::{seal_owner, OwnerEnvelopeParams};
use stark_sessions_client::SessionSecret;
use zeroize::Zeroizing;

use crate::opts::{OwnerOpts, PinOpts};
use crate::session::{emit, OutputOpts};

/// `stark-sessions owner`.
#[derive(Debug, clap::Subcommand)]
pub enum OwnerCommand {
    /// Create an owner key and write it, encrypted under a new passphrase, to a new file (0600).
    New(NewArgs),
    /// Encrypt an existing plaintext owner key (0x… hex) under a new passphrase into a new file.
    Import(ImportArgs),
    /// Print the public key of an owner key (envelope or plaintext).
    ExportPublic(ExportPublicArgs),
}

/// Options of `owner new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The envelope file to create; an existing file is never overwritten.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    pin: PinOpts,
    #[command(flatten)]
    output: OutputOpts,
}

/// Options of `owner import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The plaintext key file (0x… hex). It is left as it is: delete it once the envelope works.
    #[arg(long)]
    key_file: PathBuf,
    /// The envelope file to create; an existing file is never overwritten.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    pin: PinOpts,
    #[command(flatten)]
    output: OutputOpts,
}

/// Options of `owner export-public`.
#[derive(Debug, clap::Args)]
pub struct ExportPublicArgs {
    #[command(flatten)]
    owner: OwnerOpts,
    #[command(flatten)]
    output: OutputOpts,
}

/// Writes `text` to a new file readable by its owner only; refuses an existing path.
pub fn write_new_secret_file(path: &Path, text: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        if path.exists() {
            format!(
                "{} already exists; refusing to overwrite it",
                path.display()
            )
        } else {
            format!("cannot create {}", path.display())
        }
    })?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        // A half-written envelope must not be mistaken for a key later.
        drop(file);
        std::fs::remove_file(path).ok();
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

fn seal_to_file(secret: &SessionSecret, pin: &PinOpts, out: &Path) -> Result<Felt> {
    let passphrase = pin.read_new_owner_passphrase("new owner key passphrase: ")?;
    let sealed = seal_owner(secret, &passphrase, OwnerEnvelopeParams::default())?;
    write_new_secret_file(out, &sealed)?;
    Ok(secret.public_key())
}

fn report(output: &OutputOpts, public_key: Felt, out: &Path, verb: &str) {
    emit(
        output,
        json!({ "public_key": format!("{public_key:#x}"), "file": out.display().to_string() }),
        format!(
            "owner key {verb} {} (encrypted, 0600); public key {public_key:#x}",
            out.display()
        ),
    );
}

/// Runs an owner subcommand.
pub fn run(command: OwnerCommand) -> Result<()> {
    match command {
        OwnerCommand::New(args) => {
            let public_key = seal_to_file(&SessionSecret::generate(), &args.pin, &args.out)?;
            report(&args.output, public_key, &args.out, "written to");
        }
        OwnerCommand::Import(args) => {
            let text =
                Zeroizing::new(std::fs::read_to_string(&args.key_file).with_context(|| {
                    format!("cannot read the key file {}", args.key_file.display())
                })?);
            let secret = SessionSecret::from_hex(text.trim()).with_context(|| {
                format!(
                    "{} does not hold a 0x… hex Stark private key",
                    args.key_file.display()
                )
            })?;
            let public_key = seal_to_file(&secret, &args.pin, &args.out)?;
            report(&args.output, public_key, &args.out, "encrypted into");
        }
        OwnerCommand::ExportPublic(args) => {
            let public_key = args.owner.signing_key()?.verifying_key().scalar();
            emit(
                &args.output,
                json!({ "public_key": format!("{public_key:#x}") }),
                format!("{public_key:#x}"),
            );
        }
    }
    Ok(())
}
