//! The two secret items: the shared Fernet key (`secret`, PROTOCOL.md 1.3) and the
//! file-readable value rule that `secret` and `piisalt` follow (PROTOCOL.md 7.2).
//!
//! A [`FernetKey`] is validated when the configuration loads, so a wrong key
//! stops start-up instead of turning every request into a 401 as upstream
//! does. Neither type ever prints its value.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard-alphabet decoder as lenient as Python's `urlsafe_b64decode`
/// about the unused low bits of the last character (Python ignores them),
/// but strict about padding (Python requires it).
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// The shared secret: 32 bytes, of which 0..16 sign (HMAC-SHA256) and
/// 16..32 encrypt (AES-128-CBC).
#[derive(Clone, PartialEq, Eq)]
pub struct FernetKey {
    bytes: [u8; 32],
}

impl FernetKey {
    /// Parses key text the way upstream and its Python client accept it:
    /// surrounding whitespace and double quotes are stripped, then the text
    /// must be base64 with padding, in the URL-safe or the standard alphabet
    /// (or a mix), decoding to exactly 32 bytes. The error never contains
    /// the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim_matches(|c: char| c.is_whitespace() || c == '"');
        let normalised: String = text
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '/',
                other => other,
            })
            .collect();
        let decoded = LENIENT_STANDARD.decode(normalised.as_bytes()).map_err(|_| {
            format!(
                "expected a Fernet key (32 bytes as URL-safe base64 with padding, 44 characters), got {} characters that are not valid padded base64",
                text.chars().count()
            )
        })?;
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            format!(
                "expected a Fernet key (32 bytes as URL-safe base64 with padding, 44 characters), got a value that decodes to {} bytes",
                decoded.len()
            )
        })?;
        Ok(Self { bytes })
    }

    /// Wraps 32 raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self { bytes }
    }

    /// The 32 key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Bytes 0..16: the HMAC-SHA256 signing key.
    pub fn signing_key(&self) -> &[u8] {
        &self.bytes[..16]
    }

    /// Bytes 16..32: the AES-128-CBC encryption key.
    pub fn encryption_key(&self) -> &[u8] {
        &self.bytes[16..]
    }

    /// The canonical key text (URL-safe base64 with padding, 44 characters),
    /// what `fernet::Fernet::new` expects whichever alphabet was configured.
    pub fn to_urlsafe_base64(&self) -> String {
        base64::engine::general_purpose::URL_SAFE.encode(self.bytes)
    }
}

impl fmt::Debug for FernetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FernetKey(<redacted>)")
    }
}

/// A file-readable value after resolution (PROTOCOL.md 7.2).
#[derive(Clone, PartialEq, Eq)]
pub struct FileReadable {
    /// The value: the file's contents or the configured text itself.
    pub value: String,
    /// The file it was read from, if any.
    pub file: Option<PathBuf>,
}

impl fmt::Debug for FileReadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileReadable")
            .field("value", &"<redacted>")
            .field("file", &self.file)
            .finish()
    }
}

/// Resolves a file-readable value (PROTOCOL.md 7.2): substitutes `[[basedir]]` and
/// `[[homedir]]`, then, if the result names an existing file, returns its
/// contents with trailing `\n` characters removed (other whitespace kept);
/// otherwise returns the substituted text. The error never contains the
/// value or the file contents (only the path of a file that could not be
/// read).
pub fn resolve_file_readable(
    value: &str,
    basedir: &Path,
    homedir: Option<&Path>,
) -> Result<FileReadable, String> {
    let mut text = value.replace("[[basedir]]", &basedir.to_string_lossy());
    if text.contains("[[homedir]]") {
        let Some(home) = homedir else {
            return Err("the value uses [[homedir]] but HOME is not set".to_owned());
        };
        text = text.replace("[[homedir]]", &home.to_string_lossy());
    }
    let path = Path::new(&text);
    // A Fernet key or a salt is not a path; only a name that exists is read.
    let Ok(metadata) = std::fs::metadata(path) else {
        return Ok(FileReadable {
            value: text,
            file: None,
        });
    };
    if metadata.is_dir() {
        return Err(format!(
            "{} is a directory, expected a file or the value itself",
            path.display()
        ));
    }
    let contents = std::fs::read_to_string(path)
        .map_err(|e| format!("could not read {}: {e}", path.display()))?;
    Ok(FileReadable {
        value: contents.trim_end_matches('\n').to_owned(),
        file: Some(path.to_path_buf()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const URLSAFE: &str = "q-p_-yP7TSbPl0nyK6oj-GVHp6Q8eRJ2Y1D-vYn4Z0k=";

    #[test]
    fn urlsafe_standard_and_quoted_keys() {
        let key = FernetKey::parse(URLSAFE).unwrap();
        assert_eq!(key.to_urlsafe_base64(), URLSAFE);
        let standard = URLSAFE.replace('-', "+").replace('_', "/");
        assert_eq!(FernetKey::parse(&standard).unwrap(), key);
        assert_eq!(
            FernetKey::parse(&format!("  \"{URLSAFE}\"\n")).unwrap(),
            key
        );
        assert_eq!(key.signing_key().len(), 16);
        assert_eq!(key.encryption_key(), &key.as_bytes()[16..]);
    }

    #[test]
    fn wrong_keys_are_rejected_without_echo() {
        let short = base64::engine::general_purpose::URL_SAFE.encode([7u8; 31]);
        let err = FernetKey::parse(&short).unwrap_err();
        assert!(err.contains("decodes to 31 bytes"), "{err}");
        assert!(!err.contains(&short));
        let unpadded = URLSAFE.trim_end_matches('=');
        assert!(FernetKey::parse(unpadded).is_err());
        let err = FernetKey::parse("not a key at all!").unwrap_err();
        assert!(err.contains("not valid padded base64"), "{err}");
        assert!(!format!("{:?}", FernetKey::parse(URLSAFE).unwrap()).contains("q-p"));
    }

    #[test]
    fn file_readable_substitution_and_reading() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("salt"), "pepper \n\n").unwrap();
        let got = resolve_file_readable("[[basedir]]/salt", dir.path(), None).unwrap();
        assert_eq!(got.value, "pepper ");
        assert_eq!(got.file.as_deref(), Some(dir.path().join("salt").as_path()));

        let got =
            resolve_file_readable("[[homedir]]/salt", Path::new("/x"), Some(dir.path())).unwrap();
        assert_eq!(got.value, "pepper ");

        let got = resolve_file_readable("[[basedir]]/nope", dir.path(), None).unwrap();
        assert_eq!(got.value, format!("{}/nope", dir.path().display()));
        assert_eq!(got.file, None);

        assert!(resolve_file_readable("[[homedir]]/x", dir.path(), None).is_err());
        assert!(resolve_file_readable("[[basedir]]", dir.path(), None).is_err());
    }
}
