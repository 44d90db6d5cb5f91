//! Shared by the agent's integration tests that deploy plugin files.

use std::path::{Path, PathBuf};

use rampart_runtime::signing;

/// Signs `wasm` with a fresh key into `dir/name` and writes a trust file (mode `enforce`)
/// trusting that key for `plugin`; returns the trust file. A plugin file with a first-party
/// plugin's name replaces the embedded one only when signed by a key trusted for that name.
pub(crate) fn deploy_signed(wasm: &[u8], dir: &Path, name: &str, plugin: &str) -> PathBuf {
    let key = signing::generate_key().expect("key");
    let signed = signing::sign(wasm, &key).expect("sign");
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, signed).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
    let trust = dir
        .parent()
        .expect("the plugin directory has a parent")
        .join(format!("trust-{plugin}.toml"));
    std::fs::write(
        &trust,
        format!(
            "mode = \"enforce\"\n[[key]]\nname = \"test\"\npublic-key = \"{}\"\nplugins = [\"{plugin}\"]\n",
            signing::public_key_base64(&key.verifying_key())
        ),
    )
    .unwrap();
    trust
}
