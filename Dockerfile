# syntax=docker/dockerfile:1
# nv2: the CLI and the admission webhook (`nv2 webhook`), as a small non-root
# image. Build: docker build -t ghcr.io/nv2/nv2:0.1.0 .
# scripts/check-chart.sh checks that USER and ENTRYPOINT here match the Helm
# chart (runAsUser 65532, command /usr/local/bin/nv2).

# Base images by digest: a rebuild gets the bytes that were reviewed, not
# whatever the tag points to that day (scripts/check-chart.sh refuses a FROM
# without @sha256:). Update the pins deliberately (e.g. Renovate/Dependabot).
FROM rust:1-bookworm@sha256:93ce27a88655056a51dbdd8f5f2d7ddc071c7b0070fb288a37b5a285fc83971e AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin nv2 \
 && install -D -m 0755 target/release/nv2 /out/nv2

# glibc and CA certificates (registries are reached over TLS), no shell, no
# package manager; same Debian release as the build stage.
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
COPY --from=build /out/nv2 /usr/local/bin/nv2
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/nv2"]
CMD ["webhook"]
