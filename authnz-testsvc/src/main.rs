//! `authnz-testsvc`: starts the test services that are missing as Docker
//! containers (testcontainers), one container per service for one test run,
//! and removes them when the run is over.
//!
//! ```text
//! authnz-testsvc [postgres] [mysql] [redis]     (default: all three)
//! ```
//!
//! For each service it prints one line `VAR=URL` on stdout (the variable the
//! test suites read, e.g. `AUTHNZ_TEST_POSTGRES_URL=postgres://postgres@
//! 127.0.0.1:32768/test`), once that service answers its own client inside
//! the container, then a line `ready`. It then waits until its stdin is
//! closed (the test run is over, or the process that started it died), and
//! removes the containers. `cargo xtask test` and `cargo xtask containers`
//! drive it; by hand: `cargo run --manifest-path authnz-testsvc/Cargo.toml`,
//! then press Ctrl-D to remove the containers.
//!
//! Images (defaults: the public ones) come from the environment:
//! `AUTHNZ_TESTSVC_POSTGRES_IMAGE` (postgres:16), `AUTHNZ_TESTSVC_MYSQL_IMAGE`
//! (mariadb:11), `AUTHNZ_TESTSVC_REDIS_IMAGE` (redis:7). Any image works
//! that honours the public images' variables used here and has their client
//! tools (`pg_isready`, `mariadb-admin`, `redis-cli`) for the health check.
//! The ports are published on 127.0.0.1 only.

use std::time::{Duration, Instant};

use anyhow::Context;
use testcontainers::core::{ContainerPort, Healthcheck, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// Longest a container may take to become healthy (a cold MariaDB
/// initialises its system tables first).
const STARTUP: Duration = Duration::from_secs(120);

/// One service the tests can use.
#[derive(Debug, Clone, Copy)]
struct Service {
    name: &'static str,
    /// The variable the tests read the URL from.
    url_var: &'static str,
    /// The variable that names the image.
    image_var: &'static str,
    default_image: &'static str,
    port: u16,
    env: &'static [(&'static str, &'static str)],
    /// A shell command that succeeds once the server accepts TCP clients
    /// (not just its Unix socket, which the public images' first-start
    /// set-up uses).
    health: &'static str,
    /// The URL, with `{port}` for the published port.
    url: &'static str,
}

const SERVICES: [Service; 3] = [
    Service {
        name: "postgres",
        url_var: "AUTHNZ_TEST_POSTGRES_URL",
        image_var: "AUTHNZ_TESTSVC_POSTGRES_IMAGE",
        default_image: "postgres:16",
        port: 5432,
        env: &[
            ("POSTGRES_HOST_AUTH_METHOD", "trust"),
            ("POSTGRES_USER", "postgres"),
            ("POSTGRES_DB", "test"),
        ],
        health: "pg_isready -q -h 127.0.0.1 -U postgres -d test",
        url: "postgres://postgres@127.0.0.1:{port}/test",
    },
    Service {
        name: "mysql",
        url_var: "AUTHNZ_TEST_MYSQL_URL",
        image_var: "AUTHNZ_TESTSVC_MYSQL_IMAGE",
        default_image: "mariadb:11",
        port: 3306,
        env: &[
            ("MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", "1"),
            ("MARIADB_DATABASE", "test"),
        ],
        health: "mariadb-admin ping --silent -h 127.0.0.1 -u root",
        url: "mysql://root@127.0.0.1:{port}/test",
    },
    Service {
        name: "redis",
        url_var: "AUTHNZ_TEST_REDIS_URL",
        image_var: "AUTHNZ_TESTSVC_REDIS_IMAGE",
        default_image: "redis:7",
        port: 6379,
        env: &[],
        health: "redis-cli -h 127.0.0.1 ping | grep -q PONG",
        url: "redis://127.0.0.1:{port}",
    },
];

/// `name:tag` split at the last `:` that is not part of a registry's port
/// (`localhost:5000/pg` has no tag).
fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

fn image_of(service: &Service) -> String {
    std::env::var(service.image_var)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| service.default_image.to_string())
}

async fn start(service: Service) -> anyhow::Result<(ContainerAsync<GenericImage>, String)> {
    let image = image_of(&service);
    let (name, tag) = split_image(&image);
    let began = Instant::now();
    let mut request = GenericImage::new(name, tag)
        .with_exposed_port(ContainerPort::Tcp(service.port))
        .with_wait_for(WaitFor::healthcheck())
        .with_health_check(
            Healthcheck::cmd_shell(service.health)
                .with_interval(Duration::from_millis(500))
                .with_timeout(Duration::from_secs(5))
                .with_retries(240)
                .with_start_period(Duration::from_secs(0)),
        )
        .with_label("org.authnz.testsvc", "1")
        .with_startup_timeout(STARTUP);
    for (k, v) in service.env {
        request = request.with_env_var(*k, *v);
    }
    let container = request
        .start()
        .await
        .with_context(|| format!("start {} from image {image}", service.name))?;
    let port = container
        .get_host_port_ipv4(service.port)
        .await
        .with_context(|| format!("{}: published port", service.name))?;
    let url = service.url.replace("{port}", &port.to_string());
    eprintln!(
        "authnz-testsvc: {} from {image} answers on 127.0.0.1:{port} ({:.1} s, container {})",
        service.name,
        began.elapsed().as_secs_f64(),
        short(container.id()),
    );
    Ok((container, url))
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn selected(args: &[String]) -> anyhow::Result<Vec<Service>> {
    if args.is_empty() {
        return Ok(SERVICES.to_vec());
    }
    args.iter()
        .map(|a| {
            SERVICES
                .iter()
                .find(|s| s.name == a.as_str())
                .copied()
                .ok_or_else(|| anyhow::anyhow!("unknown service `{a}` (postgres, mysql, redis)"))
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("usage: authnz-testsvc [postgres] [mysql] [redis]");
        return Ok(());
    }
    let services = selected(&args)?;

    // Started together; all are removed if any fails (dropping a
    // ContainerAsync removes its container).
    let started = futures_join(services.iter().map(|s| start(*s)).collect()).await;
    let mut containers = Vec::new();
    let mut failure = None;
    let mut lines = String::new();
    for (service, result) in services.iter().zip(started) {
        match result {
            Ok((container, url)) => {
                lines.push_str(&format!("{}={url}\n", service.url_var));
                containers.push(container);
            }
            Err(e) => failure = Some(e),
        }
    }
    if let Some(e) = failure {
        remove(containers).await;
        return Err(e);
    }
    let mut stdout = tokio::io::stdout();
    stdout.write_all(lines.as_bytes()).await?;
    stdout.write_all(b"ready\n").await?;
    stdout.flush().await?;

    // Until stdin closes: the run is over, or whoever started us is gone.
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = stdin.next_line().await {}
    remove(containers).await;
    Ok(())
}

async fn remove(containers: Vec<ContainerAsync<GenericImage>>) {
    for c in containers {
        let id = short(c.id()).to_string();
        match c.rm().await {
            Ok(()) => eprintln!("authnz-testsvc: removed container {id}"),
            Err(e) => eprintln!("authnz-testsvc: WARNING: could not remove container {id}: {e}"),
        }
    }
}

/// Awaits every future, concurrently, in order.
async fn futures_join<T: Send + 'static>(
    futures: Vec<impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(v) => out.push(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn splits_image_names() {
        let s = |i: &str| split_image(i);
        assert_eq!(s("postgres:16"), ("postgres".into(), "16".into()));
        assert_eq!(s("redis"), ("redis".into(), "latest".into()));
        assert_eq!(
            s("authnz-local/mariadb:bookworm"),
            ("authnz-local/mariadb".into(), "bookworm".into())
        );
        assert_eq!(
            s("localhost:5000/pg"),
            ("localhost:5000/pg".into(), "latest".into())
        );
        assert_eq!(
            s("localhost:5000/pg:15"),
            ("localhost:5000/pg".into(), "15".into())
        );
    }
}
