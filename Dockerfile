# syntax=docker/dockerfile:1
# nv2: the CLI and the admission webhook (`nv2 webhook`), as a small non-root
# image. Build: docker build -t ghcr.io/nv2/nv2:0.1.0 .
# scripts/check-chart.sh checks that USER and ENTRYPOINT here match the Helm
# chart (runAsUser 65532, command /usr/local/bin/nv2).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin nv2 \
 && install -D -m 0755 target/release/nv2 /out/nv2

# glibc and CA certificates (registries are reached over TLS), no shell, no
# package manager; same Debian release as the build stage.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/nv2 /usr/local/bin/nv2
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/nv2"]
CMD ["webhook"]
