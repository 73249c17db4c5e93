//! `authnz-example-frontend`: the example site, configured from the
//! environment:
//!
//! - `AUTHNZ_URL`: authnz's URL (default `http://127.0.0.1:13431`);
//! - `AUTHNZ_SECRET`: authnz's key, or the path of a file holding it
//!   (required); the site key is derived from it;
//! - `FRONTEND_LISTEN`: `host:port` to serve on (default
//!   `127.0.0.1:8000`);
//! - `FRONTEND_BASE_URL`: the public URL for the links in mails (default
//!   `http://<FRONTEND_LISTEN>`), also the base of the social-login
//!   callbacks `<FRONTEND_BASE_URL>/oauth/<name>/callback`;
//! - `FRONTEND_OAUTH_PROVIDERS`: the social-login providers to offer,
//!   `name[,name...]` (names from authnz's `oauthproviders`; default none).

use std::net::SocketAddr;

use authnz_axum::SiteKey;
use authnz_client::{Client, Key};
use authnz_example_frontend::{Settings, app};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// `name[,name...]`: names of letters, digits, `-`, `_` and `.`.
fn oauth_providers(list: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(format!(
                "FRONTEND_OAUTH_PROVIDERS: {name:?} is not a provider name \
                 (letters, digits, '-', '_' and '.')"
            ));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

fn settings() -> Result<(Settings, SocketAddr), String> {
    let url = env_or("AUTHNZ_URL", "http://127.0.0.1:13431");
    let secret = std::env::var("AUTHNZ_SECRET").map_err(|_| {
        "AUTHNZ_SECRET is not set: give authnz's key or the path of its file".to_owned()
    })?;
    // A path to a file holding the key, or the key itself.
    let text = match std::fs::read_to_string(secret.trim()) {
        Ok(t) => t,
        Err(_) if Key::from_text(&secret).is_ok() => secret,
        Err(e) => {
            return Err(format!(
                "AUTHNZ_SECRET is neither a key nor a readable file: {e}"
            ));
        }
    };
    let key = Key::from_text(&text).map_err(|e| format!("AUTHNZ_SECRET: {e}"))?;
    let client = Client::new(url, key).map_err(|e| format!("AUTHNZ_URL: {e}"))?;
    let listen = env_or("FRONTEND_LISTEN", "127.0.0.1:8000");
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e| format!("FRONTEND_LISTEN {listen:?} is not host:port: {e}"))?;
    let base_url = env_or("FRONTEND_BASE_URL", &format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    let oauth_providers = oauth_providers(&env_or("FRONTEND_OAUTH_PROVIDERS", ""))?;
    Ok((
        Settings {
            client,
            site_key: SiteKey::derive_from(text.trim().trim_matches('"').as_bytes()),
            base_url,
            site_name: "authnz example".into(),
            oauth_providers,
        },
        addr,
    ))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let (settings, addr) = match settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("authnz-example-frontend: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("authnz-example-frontend: cannot listen on {addr}: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    // One line a test or a script can wait for.
    println!("authnz-example-frontend listening on http://{local}");
    tracing::info!(%local, "serving");
    let served = axum::serve(
        listener,
        app(settings).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async {
                match term.as_mut() {
                    Some(t) => { t.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    })
    .await;
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authnz-example-frontend: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::oauth_providers;

    #[test]
    fn provider_lists_are_trimmed_deduplicated_and_checked() {
        assert_eq!(oauth_providers("").unwrap(), Vec::<String>::new());
        assert_eq!(
            oauth_providers(" google, corp.sso ,google,,github ").unwrap(),
            ["google", "corp.sso", "github"]
        );
        let err = oauth_providers("good,bad/name").unwrap_err();
        assert!(err.contains("\"bad/name\""), "{err}");
        assert!(oauth_providers(&"x".repeat(65)).is_err());
    }
}
