# authnzrv container image.
#
# The public build (what a user runs; needs the public Rust and Debian images):
#
#   docker build -t authnz .                      # target `runtime`, the default
#   docker run -p 127.0.0.1:13431:13431 -v authnz-data:/data authnz
#
# A binary built on the host instead (what CI does: no Rust toolchain can be
# fetched inside a container there). The build context is a folder holding
# only the binary, named `authnzrv`:
#
#   cargo build --release -p authnz-server --bin authnzrv
#   mkdir ctx && cp "$CARGO_TARGET_DIR"/release/authnzrv ctx/
#   docker build -f Dockerfile --target prebuilt -t authnz ctx
#
# The host's glibc must not be newer than the runtime base's (a Debian
# bookworm or later host with the default trixie base is fine).
#
# Base images are build arguments, so the image can be built on local bases:
#   --build-arg RUST_IMAGE=...    the build stage (default rust:1.95-trixie)
#   --build-arg DEBIAN_IMAGE=...  the runtime base (default debian:trixie-slim)
#
# On first start the container runs `authnzrv --autosetup --no-prompt` into
# the /data volume (secret key, PII salt, SQLite DB, admin credentials file
# /data/.authnzerver-admin-credentials, .env); every start then serves from
# it on 0.0.0.0:13431. Set AUTHNZERVER_ALLOWEDHOSTS to the host names your
# frontends use (docs/PROTOCOL.md); environment variables override the .env
# file.
#
# Stage order matters for the classic (non-BuildKit) builder, which builds
# every stage before the target: `prebuilt` comes before the Rust stage, so
# `--target prebuilt` never needs the Rust image.

ARG RUST_IMAGE=rust:1.95-trixie
ARG DEBIAN_IMAGE=debian:trixie-slim

# The runtime base: curl for the health check, OpenSSL's libssl for the
# passkey feature (webauthn-rs links it; the `openssl` package brings
# libssl3 on bookworm and libssl3t64 on trixie), a non-root user, /data.
FROM ${DEBIAN_IMAGE} AS runtime-base
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl openssl \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && useradd --system --user-group --home-dir /data --shell /usr/sbin/nologin authnz \
 && mkdir -p /data && chown authnz:authnz /data
WORKDIR /data
VOLUME ["/data"]
EXPOSE 13431
ENV AUTHNZERVER_LISTEN=0.0.0.0 \
    AUTHNZERVER_PORT=13431
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl --fail --silent --output /dev/null http://localhost:13431/health || exit 1
CMD ["sh", "-c", "[ -f /data/.env ] || authnzrv --autosetup --no-prompt --basedir /data || exit 1; exec authnzrv --basedir /data --listen 0.0.0.0 --port 13431"]

# A binary built on the host: the build context holds `authnzrv`.
FROM runtime-base AS prebuilt
COPY authnzrv /usr/local/bin/authnzrv
USER authnz

# Build stage: the Rust toolchain the workspace pins (rust-version 1.95).
# The -trixie variant matches the runtime image's glibc.
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --locked --release -p authnz-server --bin authnzrv \
 && install -m 0755 target/release/authnzrv /usr/local/bin/authnzrv

# The public image (default target): the binary from the build stage.
FROM runtime-base AS runtime
COPY --from=build /usr/local/bin/authnzrv /usr/local/bin/authnzrv
USER authnz
