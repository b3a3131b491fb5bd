# syntax=docker/dockerfile:1
# The operator image: one binary (linked against glibc, because it links ring) on a base that
# holds glibc, libgcc, CA certificates and a nonroot user: no shell and no package manager.
#
#   docker build -t aura-operator:dev .
#
# builds the binary from source in the official Rust image and puts it on distroless
# cc-debian12:nonroot. Both stages come from build arguments so that the same file also builds
# where no image can be pulled: `.ci/image` builds the binary with the host's cargo, puts it in a
# context of its own, assembles a base with the same content as distroless from Debian bookworm's
# files, and runs
#
#   buildah bud --build-arg BINARY=prebuilt --build-arg BASE_IMAGE=localhost/aura-operator-base:bookworm \
#     -f Dockerfile CONTEXT_WITH_THE_BINARY
#
# Stages that the final image does not use are not built (BuildKit, and buildah), so the default
# build never looks at `prebuilt` and the CI build never pulls the Rust image.

# Where the final stage's binary comes from: `source` (built here) or `prebuilt` (the context).
ARG BINARY=source
# The runtime base. Anything with the same glibc line as the builder (Debian 12) works.
ARG BASE_IMAGE=gcr.io/distroless/cc-debian12:nonroot
# The builder: the official Rust image, the same toolchain line the crate declares (rust-version
# 1.89, edition 2024) or newer, on the same Debian release as the base. Pinned for repeatable builds.
ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm

FROM ${RUST_IMAGE} AS source
WORKDIR /src
COPY . .
# The cache mounts keep crates.io downloads and compiled dependencies between builds (BuildKit);
# the binary is copied out of the cached target directory because that mount is not in the layer.
# The release profile keeps line tables for local backtraces (about 120 MB of the binary's 140);
# the image's copy goes without them (symbols stay, so a backtrace still names functions).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin aura-operator \
    && strip --strip-debug -o /aura-operator target/release/aura-operator

# A binary built outside (`cargo build --release --locked --bin aura-operator`, then
# `strip --strip-debug`), alone in the build context.
FROM scratch AS prebuilt
COPY aura-operator /aura-operator

FROM ${BINARY} AS binary

# Runtime: distroless "cc" carries glibc and libgcc (and CA certificates for Aura's https),
# nothing else. The nonroot tag already runs as 65532; USER repeats it numerically so that
# runAsNonRoot can verify it without a passwd lookup.
FROM ${BASE_IMAGE}
# Keep VERSION equal to Cargo.toml's version (.ci/image checks it); REVISION is the git commit.
ARG VERSION=0.1.0
ARG REVISION=
ARG SOURCE=https://github.com/aura-operator/aura-operator
LABEL org.opencontainers.image.title="aura-operator" \
      org.opencontainers.image.description="A Kubernetes operator for Neo4j Aura" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=binary /aura-operator /usr/local/bin/aura-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/aura-operator"]
CMD ["run"]
