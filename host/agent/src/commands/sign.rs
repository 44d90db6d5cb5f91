//! `rampart plugin sign | verify | keygen`: ed25519 plugin signatures (format in
//! `rampart_runtime::signing`, trust files in `rampart_runtime::trust`).

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use rampart_runtime::signing;
use rampart_runtime::trust::TrustPolicy;
use sha2::{Digest as _, Sha256};

use crate::cli::SigningCommand;
use crate::state::write_atomic;
use crate::{BadInput, exit};

pub(crate) fn run(cmd: SigningCommand) -> anyhow::Result<u8> {
    match cmd {
        SigningCommand::Sign { file, key, out } => {
            sign(&file, &key, out.as_deref().unwrap_or(&file))
        }
        SigningCommand::Verify { file, trust } => verify(&file, &trust),
        SigningCommand::Keygen { out, name } => keygen(&out, &name),
    }
}

/// The plugin file, refused without being read whole when it is over the size a host loads.
fn read_plugin(file: &Path) -> anyhow::Result<Vec<u8>> {
    rampart_runtime::plugin::read_plugin_file(file)
        .map_err(|e| BadInput(format!("plugin '{}': {e}", file.display())).into())
}

/// The plugin name from the manifest: a signature is only useful on a loadable plugin.
fn plugin_name(file: &Path, bytes: &[u8]) -> anyhow::Result<String> {
    let sections = rampart_runtime::manifest::read_sections(bytes)
        .map_err(|e| BadInput(format!("plugin '{}': {e}", file.display())))?;
    let manifest = rampart_runtime::Manifest::parse(&sections.manifest)
        .map_err(|e| BadInput(format!("plugin '{}': {e}", file.display())))?;
    Ok(format!("{}@{}", manifest.name, manifest.version))
}

fn sign(file: &Path, key_file: &Path, out: &Path) -> anyhow::Result<u8> {
    let bytes = read_plugin(file)?;
    let label = plugin_name(file, &bytes)?;
    let pem = std::fs::read_to_string(key_file)
        .map_err(|e| BadInput(format!("key '{}': {e}", key_file.display())))?;
    let key = signing::parse_signing_key(&pem)
        .map_err(|e| BadInput(format!("key '{}': {e}", key_file.display())))?;
    let signed = signing::sign(&bytes, &key)
        .map_err(|e| BadInput(format!("plugin '{}': {e}", file.display())))?;
    write_atomic(out, &signed)?;
    println!(
        "signed {label} with key {} -> '{}' (sha256:{:x})",
        signing::key_id(&key.verifying_key()),
        out.display(),
        Sha256::digest(&signed)
    );
    Ok(exit::OK)
}

fn verify(file: &Path, trust_file: &Path) -> anyhow::Result<u8> {
    let trust = TrustPolicy::load(trust_file).map_err(|e| BadInput(e.to_string()))?;
    let bytes = read_plugin(file)?;
    let label = plugin_name(file, &bytes)?;
    let name = label.split('@').next().unwrap_or_default();
    // The mode is reported but does not soften the answer: verify says whether the plugin
    // would pass in enforce mode.
    match trust.check(&bytes, name) {
        Ok(key) => {
            println!(
                "{label}: signed by trusted key '{key}' (trust mode {})",
                trust.mode()
            );
            Ok(exit::OK)
        }
        Err(e) => Err(BadInput(format!("plugin '{}' ({label}): {e}", file.display())).into()),
    }
}

fn keygen(out: &Path, name: &str) -> anyhow::Result<u8> {
    let key = signing::generate_key()?;
    let pem = signing::signing_key_pem(&key)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(out).with_context(|| {
        format!(
            "cannot create key file '{}' (it must not exist yet)",
            out.display()
        )
    })?;
    f.write_all(pem.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write '{}'", out.display()))?;
    let public = key.verifying_key();
    println!(
        "private key written to '{}' (keep it secret)",
        out.display()
    );
    println!("key id {}", signing::key_id(&public));
    println!();
    println!("# trust-file entry:");
    println!("[[key]]");
    println!("name = {name:?}");
    println!("public-key = \"{}\"", signing::public_key_base64(&public));
    println!("plugins = [\"*\"]");
    Ok(exit::OK)
}
