# syntax=docker/dockerfile:1
#
# The relay image (bridge-relay) for ECS Fargate, ARM64. Build from the repository root:
#
#   docker buildx build --platform linux/arm64 -f infra/relay.Dockerfile -t <repo>:<tag> .
#
# The image is built for the platform it runs on (arm64 here): native on an arm64 host,
# emulated (QEMU, much slower) on x86-64. infra/relay.Dockerfile.dockerignore keeps
# target/, .venv/ and .git/ out of the build context.
#
# Final image: distroless cc (Debian 12). The relay links glibc and libgcc (aws-lc-rs is C)
# and reads the system CA bundle for its wss:// sockets (rustls-native-certs); distroless
# cc ships exactly those, a `nonroot` user (65532) and no shell or package manager. A
# static musl build on `scratch` would need a musl C toolchain for aws-lc, a copied CA
# bundle and a replacement allocator (musl's is slow under many threads) for no gain.

ARG RUST_VERSION=1.95
# Same Debian release as the runtime image, so the binary's glibc requirement is met.
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# The sources are bind-mounted, not copied: no layer holds them. Dependencies stay built
# between builds in BuildKit cache mounts (registry, git checkouts, target dir), so a
# source change recompiles only the workspace crates. --locked: Cargo.lock is the truth.
RUN --mount=type=bind,target=/src \
    --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git/db,sharing=locked \
    --mount=type=cache,target=/cargo-target,sharing=locked \
    CARGO_TARGET_DIR=/cargo-target cargo build --release --locked -p bridge-relay \
    && install -D -m 0755 /cargo-target/release/bridge-relay /out/bridge-relay

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="bridge-relay" \
      org.opencontainers.image.description="SMS <-> Amazon Connect chat bridge: agent replies to SMS" \
      org.opencontainers.image.source="https://github.com/sms-connect-bridge/sms-connect-bridge" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/bridge-relay /usr/local/bin/bridge-relay
USER 65532:65532
# Admin listener: /healthz, /readyz, /metrics (BRIDGE_RELAY_ADMIN_ADDR).
EXPOSE 9090
# No curl in distroless: the binary probes its own /healthz and exits 0 or 1. ECS uses the
# task definition's identical check; this one serves `docker run`.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/bridge-relay", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/bridge-relay"]
