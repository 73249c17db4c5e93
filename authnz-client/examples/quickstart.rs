//! The README's "From Rust" example: an anonymous session, its look-up and
//! a login as the admin, against the server of `cargo xtask run` (from the
//! repository root: `cargo run -p authnz-client --example quickstart`).
//! A test in `tests/it/quickstart.rs` runs it against a real authnzrv and
//! checks that the README shows this code.

use std::path::Path;

use authnz_client::requests::{SessionExists, SessionNew, UserLogin};
use authnz_client::{Client, Key};

/// Returns the ID of the user logged in, `None` when the login is refused.
pub async fn quickstart(url: &str, data: &Path) -> Result<Option<i64>, Box<dyn std::error::Error>> {
    let key = Key::from_text(&std::fs::read_to_string(
        data.join(".authnzerver-secret-key"),
    )?)?;
    // One client per process: it keeps connections alive. `for_ip` sets the
    // end user's address, which the server rate-limits by.
    let authnz = Client::new(url, key)?.for_ip("203.0.113.7");

    let session = authnz
        .session_new(&SessionNew {
            ip_address: "203.0.113.7".into(),
            user_agent: "Mozilla/5.0".into(),
            user_id: None,
            expires: "2099-01-01T00:00:00".into(),
            extra_info_json: None,
        })
        .await?;
    let info = authnz
        .session_exists(&SessionExists {
            session_token: session.session_token.clone(),
        })
        .await?
        .session_info;
    println!("{} {:?} {:?}", info.user_id, info.user_role, info.expires);

    let credentials = std::fs::read_to_string(data.join(".authnzerver-admin-credentials"))?;
    let (email, password) = credentials
        .trim()
        .split_once(' ')
        .ok_or("bad credentials file")?;
    let login = UserLogin {
        session_token: session.session_token,
        email: email.into(),
        password: password.into(),
    };
    match authnz.user_login(&login).await {
        Ok(user) => {
            println!("user {} ({:?})", user.user_id, user.user_role);
            Ok(Some(user.user_id))
        }
        // `success: false`: the server's failure_reason and messages.
        Err(e) if e.failure().is_some() => {
            println!("refused: {e}");
            Ok(None)
        }
        // Transport, timeout, HTTP 400/401/429/500, a wrong reqid, ...
        Err(e) => Err(e.into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    quickstart("http://127.0.0.1:13431", Path::new("authnz-data")).await?;
    Ok(())
}
