# syntax=docker/dockerfile:1
# The operator image: a single static-ish binary (glibc, because it links ring) on distroless.
#   docker build -t aura-operator:dev .
# The runtime image has no shell and no package manager; the binary is the only thing added.

# Builder: the official Rust image, the same toolchain line the crate declares (rust-version 1.89,
# edition 2024) or newer. The version is pinned so an image build is repeatable.
FROM docker.io/library/rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep crates.io downloads and compiled dependencies between builds (BuildKit);
# the binary is copied out of the cached target directory because that mount is not in the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin aura-operator \
    && cp target/release/aura-operator /aura-operator

# Runtime: distroless "cc" carries glibc and libgcc (and CA certificates for Aura's https),
# nothing else. The nonroot tag already runs as 65532; USER repeats it numerically so that
# runAsNonRoot can verify it without a passwd lookup.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /aura-operator /usr/local/bin/aura-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/aura-operator"]
CMD ["run"]
