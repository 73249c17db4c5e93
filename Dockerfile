# authnzrv container image.
#
#   docker build -t authnz .
#   docker run -p 13431:13431 -v authnz-data:/data authnz
#
# On first start the entrypoint runs `authnzrv --autosetup --no-prompt` into
# the /data volume (secret key, PII salt, SQLite DB, admin credentials file
# /data/.authnzerver-admin-credentials, .env); every start then serves from
# it on 0.0.0.0:13431. Set AUTHNZERVER_ALLOWEDHOSTS to the host names your
# frontends use (spec 1.2); environment variables override the .env file.

# Build stage: the Rust toolchain the workspace pins (rust-version 1.95).
# The -trixie variant matches the runtime image's glibc.
FROM rust:1.95-trixie AS build
WORKDIR /src
COPY . .
RUN cargo build --locked --release -p authnz-server --bin authnzrv \
 && install -m 0755 target/release/authnzrv /usr/local/bin/authnzrv

# Runtime stage: just the binary, curl for the health check, a data volume.
FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /data --shell /usr/sbin/nologin authnz \
 && mkdir -p /data && chown authnz:authnz /data
COPY --from=build /usr/local/bin/authnzrv /usr/local/bin/authnzrv
USER authnz
WORKDIR /data
VOLUME ["/data"]
EXPOSE 13431
ENV AUTHNZERVER_LISTEN=0.0.0.0 \
    AUTHNZERVER_PORT=13431
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl --fail --silent --output /dev/null http://localhost:13431/health || exit 1
CMD ["sh", "-c", "[ -f /data/.env ] || authnzrv --autosetup --no-prompt --basedir /data || exit 1; exec authnzrv --basedir /data --listen 0.0.0.0 --port 13431"]
