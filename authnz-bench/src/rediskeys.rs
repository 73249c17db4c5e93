//! The Redis of the postgres+redis backend: checked before the run, a key
//! prefix of the run's own, and its keys deleted at the end.

use std::time::Duration;

use anyhow::Context as _;

/// How long reaching Redis may take before the backend is skipped.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Prefix {
    url: String,
    /// `authnz_bench_<run id>:`, for `AUTHNZERVER_REDISPREFIX`.
    pub prefix: String,
}

impl Prefix {
    /// Check that Redis answers at `url`; the prefix for this run.
    pub async fn check(url: &str, run_id: &str) -> anyhow::Result<Self> {
        let mut conn = connect(url).await?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .context("Redis did not answer PING")?;
        Ok(Self {
            url: url.to_owned(),
            prefix: format!("authnz_bench_{}:", run_id.to_lowercase()),
        })
    }

    /// Delete every key under the prefix.
    pub async fn delete_keys(self) {
        let deleted = async {
            let mut conn = connect(&self.url).await?;
            let pattern = format!("{}*", self.prefix);
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await?;
                if !keys.is_empty() {
                    let _: i64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            anyhow::Ok(())
        };
        if let Err(e) = deleted.await {
            eprintln!(
                "authnz-bench: could not delete Redis keys {}*: {e:#}",
                self.prefix
            );
        }
    }
}

async fn connect(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url).with_context(|| format!("bad Redis URL {url}"))?;
    tokio::time::timeout(TIMEOUT, client.get_multiplexed_async_connection())
        .await
        .context("Redis did not answer in time")?
        .with_context(|| format!("cannot connect to Redis at {url}"))
}
