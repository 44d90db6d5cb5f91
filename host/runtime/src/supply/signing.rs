//! Plugin signatures: ed25519 over the plugin binary, embedded in the binary itself.
//!
//! # Format
//!
//! A signed plugin is the unsigned component followed by one more top-level custom section,
//! named [`SIGNATURE_SECTION`] (`rampart:signature`), which must be the **last** section of the
//! file. Its data is a small JSON object:
//!
//! ```json
//! {"version":1,"key":"<key id>","signature":"<base64 of the 64-byte ed25519 signature>"}
//! ```
//!
//! The signature covers `"rampart:plugin-signature:v1\n" ‖ sha256(every byte before the
//! signature section)`: the whole component, including its manifest and contract sections, so
//! changing any byte (code, manifest, grants, even another custom section) breaks it, and bytes
//! appended after it are refused because the signature section is then no longer last. The
//! domain prefix keeps a rampart plugin signature from being valid for anything else the same
//! key signs. The key id is the first 16 hex digits of sha256 of the 32-byte public key; it
//! only selects which trusted key to try, it proves nothing by itself.
//!
//! Embedding (rather than a detached `.sig` file) means a signature travels with the plugin
//! through copies, caches and the watched directory's write-then-rename, and is checked before
//! the component is compiled: verification reads the top-level section framing only, then
//! hashes.
//!
//! # Keys
//!
//! Private keys are PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as `rampart plugin keygen` or
//! `openssl genpkey -algorithm ed25519 -out key.pem` write them. Public keys are accepted as
//! SPKI PEM (`openssl pkey -in key.pem -pubout`) or as the base64 of the raw 32 bytes.

use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use ed25519_dalek::{SigningKey, VerifyingKey};

/// Name of the custom section holding the signature.
pub const SIGNATURE_SECTION: &str = "rampart:signature";

/// Domain separation: what is signed is this prefix followed by the 32-byte sha256.
const DOMAIN: &[u8] = b"rampart:plugin-signature:v1\n";

/// Largest signature section accepted; a real one is under 200 bytes.
const MAX_SIGNATURE_DATA: usize = 1024;

/// Why a plugin's signature is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No signature section.
    #[error("the plugin is not signed")]
    Unsigned,
    /// The binary's framing or the signature section cannot be read.
    #[error("the signature section is malformed: {0}")]
    Malformed(String),
    /// Signed by a key the trust configuration does not list.
    #[error("signed by key {key_id}, which is not a trusted key")]
    UnknownKey {
        /// The key id found in the signature.
        key_id: String,
    },
    /// The signature does not verify: the file changed after signing (or was forged).
    #[error(
        "the signature by key '{key}' does not match the content (the file was changed after it was signed)"
    )]
    BadSignature {
        /// The trusted key's name.
        key: String,
    },
    /// A trusted key signed it, but that key may not sign this plugin name.
    #[error("key '{key}' is not allowed to sign plugin '{plugin}'")]
    NotAllowed {
        /// The trusted key's name.
        key: String,
        /// The plugin name from the manifest.
        plugin: String,
    },
}

/// A key file or key text that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// The signature found at the end of a plugin binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedSignature {
    /// Key id of the signer (see [`key_id`]).
    pub key_id: String,
    /// The ed25519 signature.
    pub signature: [u8; 64],
    /// Length of the signed prefix (everything before the signature section).
    pub signed_len: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureData {
    version: u32,
    key: String,
    signature: String,
}

/// One top-level section: where it starts (its id byte), its id, and its content range.
struct Section {
    start: usize,
    id: u8,
    content: std::ops::Range<usize>,
}

/// Walks the top-level section framing of a module or component (id byte, LEB128 size,
/// content) without interpreting the contents.
fn sections(wasm: &[u8]) -> Result<Vec<Section>, SignatureError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(SignatureError::Malformed(
            "not a WebAssembly binary".to_string(),
        ));
    }
    let mut out = Vec::new();
    let mut pos = 8;
    while pos < wasm.len() {
        let start = pos;
        let id = wasm[pos];
        pos += 1;
        let (size, n) = read_leb_u32(&wasm[pos..])?;
        pos += n;
        let end = pos
            .checked_add(size as usize)
            .filter(|&e| e <= wasm.len())
            .ok_or_else(|| {
                SignatureError::Malformed(format!("section at byte {start} runs past the end"))
            })?;
        out.push(Section {
            start,
            id,
            content: pos..end,
        });
        pos = end;
    }
    Ok(out)
}

fn read_leb_u32(bytes: &[u8]) -> Result<(u32, usize), SignatureError> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().take(5).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return u32::try_from(value)
                .map(|v| (v, i + 1))
                .map_err(|_| SignatureError::Malformed("section size overflows".into()));
        }
    }
    Err(SignatureError::Malformed(
        "truncated or over-long section size".into(),
    ))
}

/// A custom section's name and data.
type CustomSection<'a> = (&'a [u8], &'a [u8]);

/// A custom section's name and data, if `s` is a custom section.
fn custom<'a>(wasm: &'a [u8], s: &Section) -> Result<Option<CustomSection<'a>>, SignatureError> {
    if s.id != 0 {
        return Ok(None);
    }
    let content = &wasm[s.content.clone()];
    let (len, n) = read_leb_u32(content)?;
    let name_end = n
        .checked_add(len as usize)
        .filter(|&e| e <= content.len())
        .ok_or_else(|| SignatureError::Malformed("custom section name runs past its end".into()))?;
    Ok(Some((&content[n..name_end], &content[name_end..])))
}

/// Finds the embedded signature. `Ok(None)` when the plugin is unsigned; an error when a
/// signature section exists but is not the last section, appears twice, or cannot be read.
///
/// # Errors
///
/// [`SignatureError::Malformed`].
pub fn find_signature(wasm: &[u8]) -> Result<Option<EmbeddedSignature>, SignatureError> {
    let sections = sections(wasm)?;
    let mut found = None;
    for (i, s) in sections.iter().enumerate() {
        let Some((name, data)) = custom(wasm, s)? else {
            continue;
        };
        if name != SIGNATURE_SECTION.as_bytes() {
            continue;
        }
        if found.is_some() {
            return Err(SignatureError::Malformed(
                "more than one signature section".into(),
            ));
        }
        if i + 1 != sections.len() {
            return Err(SignatureError::Malformed(
                "the signature section is not the last section (bytes were added after signing)"
                    .into(),
            ));
        }
        if data.len() > MAX_SIGNATURE_DATA {
            return Err(SignatureError::Malformed(format!(
                "{} bytes, more than the {MAX_SIGNATURE_DATA} allowed",
                data.len()
            )));
        }
        let parsed: SignatureData =
            serde_json::from_slice(data).map_err(|e| SignatureError::Malformed(e.to_string()))?;
        if parsed.version != 1 {
            return Err(SignatureError::Malformed(format!(
                "signature version {} is not supported (this host reads version 1)",
                parsed.version
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(parsed.signature.as_bytes())
            .map_err(|e| SignatureError::Malformed(format!("signature is not base64: {e}")))?;
        let signature: [u8; 64] = bytes.try_into().map_err(|b: Vec<u8>| {
            SignatureError::Malformed(format!("signature is {} bytes, not 64", b.len()))
        })?;
        found = Some(EmbeddedSignature {
            key_id: parsed.key,
            signature,
            signed_len: s.start,
        });
    }
    Ok(found)
}

/// The binary without its signature section (the whole binary when it is unsigned).
///
/// # Errors
///
/// [`SignatureError::Malformed`] as [`find_signature`].
pub fn strip_signature(wasm: &[u8]) -> Result<&[u8], SignatureError> {
    Ok(match find_signature(wasm)? {
        Some(s) => &wasm[..s.signed_len],
        None => wasm,
    })
}

fn message(signed: &[u8]) -> Vec<u8> {
    let mut m = DOMAIN.to_vec();
    m.extend_from_slice(&Sha256::digest(signed));
    m
}

/// Signs a plugin binary: returns it with a signature section appended (an existing signature
/// is replaced).
///
/// # Errors
///
/// [`SignatureError::Malformed`] when the input is not a WebAssembly binary or carries a
/// malformed signature section.
pub fn sign(wasm: &[u8], key: &SigningKey) -> Result<Vec<u8>, SignatureError> {
    let unsigned = strip_signature(wasm)?;
    let signature = key.sign(&message(unsigned));
    let data = serde_json::to_vec(&SignatureData {
        version: 1,
        key: key_id(&key.verifying_key()),
        signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
    })
    .map_err(|e| SignatureError::Malformed(e.to_string()))?;
    let mut content = Vec::new();
    write_leb_u32(&mut content, SIGNATURE_SECTION.len());
    content.extend_from_slice(SIGNATURE_SECTION.as_bytes());
    content.extend_from_slice(&data);
    let mut out = unsigned.to_vec();
    out.push(0);
    write_leb_u32(&mut out, content.len());
    out.extend_from_slice(&content);
    Ok(out)
}

fn write_leb_u32(out: &mut Vec<u8>, n: usize) {
    let mut n = n as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Checks `sig` (found in `wasm`) with `key`.
///
/// # Errors
///
/// [`SignatureError::BadSignature`] naming `key_name`.
pub fn verify_with(
    wasm: &[u8],
    sig: &EmbeddedSignature,
    key: &VerifyingKey,
    key_name: &str,
) -> Result<(), SignatureError> {
    let signed = wasm
        .get(..sig.signed_len)
        .ok_or_else(|| SignatureError::Malformed("signed length exceeds the file".to_string()))?;
    key.verify_strict(&message(signed), &Signature::from_bytes(&sig.signature))
        .map_err(|_| SignatureError::BadSignature {
            key: key_name.to_string(),
        })
}

/// The id of a public key: the first 16 hex digits of sha256 of its 32 bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random signing key (from the operating system's random source).
///
/// # Errors
///
/// [`KeyError`] when the operating system gives no randomness.
pub fn generate_key() -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError(format!("no system randomness: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The key as PKCS#8 PEM (what [`parse_signing_key`] reads).
///
/// # Errors
///
/// [`KeyError`] if encoding fails.
pub fn signing_key_pem(key: &SigningKey) -> Result<String, KeyError> {
    key.to_pkcs8_pem(Default::default())
        .map(|pem| pem.to_string())
        .map_err(|e| KeyError(format!("cannot encode the key: {e}")))
}

/// The public key as SPKI PEM.
///
/// # Errors
///
/// [`KeyError`] if encoding fails.
pub fn public_key_pem(key: &VerifyingKey) -> Result<String, KeyError> {
    key.to_public_key_pem(Default::default())
        .map_err(|e| KeyError(format!("cannot encode the public key: {e}")))
}

/// The public key as base64 of its 32 raw bytes (the form trust files use).
pub fn public_key_base64(key: &VerifyingKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

/// Reads a PKCS#8 PEM ed25519 private key.
///
/// # Errors
///
/// [`KeyError`] when the text is not such a key.
pub fn parse_signing_key(pem: &str) -> Result<SigningKey, KeyError> {
    SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| {
        KeyError(format!(
            "not an ed25519 private key in PKCS#8 PEM ('-----BEGIN PRIVATE KEY-----'): {e}"
        ))
    })
}

/// Reads a public key: SPKI PEM, or base64 of the raw 32 bytes.
///
/// # Errors
///
/// [`KeyError`] when the text is neither.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text)
            .map_err(|e| KeyError(format!("not an ed25519 public key in PEM: {e}")));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|e| KeyError(format!("public key is neither PEM nor base64: {e}")))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        KeyError(format!(
            "public key is {} bytes, an ed25519 key is 32",
            b.len()
        ))
    })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|e| KeyError(format!("not a valid ed25519 public key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: magic, component layer version, one custom section.
    fn component() -> Vec<u8> {
        let mut w = b"\0asm\x0d\x00\x01\x00".to_vec();
        w.extend_from_slice(&[0, 4, 3, b'a', b'b', b'c']);
        w
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn sign_then_verify_and_resign_replaces() {
        let k = key(1);
        let signed = sign(&component(), &k).unwrap();
        let sig = find_signature(&signed).unwrap().unwrap();
        assert_eq!(sig.signed_len, component().len());
        assert_eq!(sig.key_id, key_id(&k.verifying_key()));
        verify_with(&signed, &sig, &k.verifying_key(), "k").unwrap();
        let again = sign(&signed, &key(2)).unwrap();
        let sig2 = find_signature(&again).unwrap().unwrap();
        assert_eq!(sig2.signed_len, component().len(), "old signature replaced");
        assert_eq!(strip_signature(&again).unwrap(), component().as_slice());
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let k = key(1);
        let signed = sign(&component(), &k).unwrap();
        let mut tampered = signed.clone();
        tampered[13] ^= 1; // inside the custom section's data
        let sig = find_signature(&tampered).unwrap().unwrap();
        assert_eq!(
            verify_with(&tampered, &sig, &k.verifying_key(), "k"),
            Err(SignatureError::BadSignature { key: "k".into() })
        );
        let sig = find_signature(&signed).unwrap().unwrap();
        assert!(verify_with(&signed, &sig, &key(2).verifying_key(), "other").is_err());
    }

    #[test]
    fn bytes_after_the_signature_or_two_signatures_are_malformed() {
        let signed = sign(&component(), &key(1)).unwrap();
        let mut appended = signed.clone();
        appended.extend_from_slice(&[0, 2, 1, b'x']);
        assert!(matches!(
            find_signature(&appended),
            Err(SignatureError::Malformed(m)) if m.contains("not the last")
        ));
        let mut truncated = signed.clone();
        truncated.pop();
        assert!(matches!(
            find_signature(&truncated),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            find_signature(b"not wasm"),
            Err(SignatureError::Malformed(_))
        ));
        assert_eq!(find_signature(&component()).unwrap(), None);
    }

    #[test]
    fn keys_round_trip_through_pem_and_base64() {
        let k = generate_key().unwrap();
        let pem = signing_key_pem(&k).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(parse_signing_key(&pem).unwrap().to_bytes(), k.to_bytes());
        let public = k.verifying_key();
        assert_eq!(
            parse_public_key(&public_key_pem(&public).unwrap()).unwrap(),
            public
        );
        assert_eq!(
            parse_public_key(&public_key_base64(&public)).unwrap(),
            public
        );
        assert!(parse_public_key("AAAA").is_err());
        assert!(parse_signing_key("garbage").is_err());
    }
}
