//! The file backend: every message becomes one complete `.eml` file (the
//! same RFC 5322 bytes SMTP would carry) in a folder, the embedded default,
//! so sign-up works with no mail server and a developer can read the mails.
//!
//! Files are named `<unix milliseconds>-<uuid>.eml`, so a directory listing
//! sorts in sending order; each is written under a temporary name and then
//! renamed, so a reader never sees half a message. The folder is created
//! with mode 0700 and files get 0600 on Unix: the mails carry verification
//! tokens.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use authnz_api::{MailError, MailMessage, Mailer};

/// Writes each message into a folder.
#[derive(Clone)]
pub struct FileMailer {
    dir: PathBuf,
}

impl fmt::Debug for FileMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileMailer")
            .field("dir", &self.dir)
            .finish()
    }
}

impl FileMailer {
    /// A mailer writing into `dir` (created on the first send if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileMailer { dir: dir.into() }
    }

    /// The folder messages are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn write_message(dir: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    create_private_dir(dir)?;
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let stem = format!("{millis:013}-{}", uuid::Uuid::new_v4());
    let partial = dir.join(format!(".{stem}.partial"));
    let done = dir.join(format!("{stem}.eml"));
    if let Err(e) = write_private_file(&partial, bytes) {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, &done)?;
    Ok(done)
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        let bytes = crate::message::build(message)?.formatted();
        let dir = self.dir.clone();
        let path = tokio::task::spawn_blocking(move || write_message(&dir, &bytes))
            .await
            .map_err(MailError::backend)?
            .map_err(MailError::backend)?;
        tracing::debug!(file = %path.display(), "mail written to the outbox folder");
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn message() -> MailMessage {
        MailMessage {
            from: "Srv <srv@example.org>".into(),
            to: vec!["user@example.org".into()],
            subject: "Hello".into(),
            text: "the token is T0KEN".into(),
            html: Some("<b>T0KEN</b>".into()),
        }
    }

    #[tokio::test]
    async fn writes_one_private_eml_per_message() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("mail").join("outbox");
        let mailer = FileMailer::new(&dir);
        mailer.send(&message()).await.unwrap();
        mailer.send(&message()).await.unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| n.ends_with(".eml")), "{names:?}");
        let text = std::fs::read_to_string(dir.join(&names[0])).unwrap();
        assert!(text.contains("To: user@example.org\r\n"), "{text}");
        assert!(text.contains("the token is T0KEN"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join(&names[0])), 0o600);
        }
    }

    #[tokio::test]
    async fn unwritable_folder_is_an_error() {
        let base = tempfile::tempdir().unwrap();
        let blocker = base.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let mailer = FileMailer::new(blocker.join("sub"));
        assert!(matches!(
            mailer.send(&message()).await,
            Err(MailError::Backend { .. })
        ));
    }
}
