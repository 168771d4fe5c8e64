# Slipway's image: the release build with its site, on a small runtime image, as a
# non-root user. Build from the repository root: `docker build -t slipway .`
#
# Stage 1 builds with the project's own set-up script (the same tools and steps as
# `scripts/run`: the wasm target, cargo-leptos, the wasm-bindgen CLI, tailwind, binaryen).
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ENV CARGO_TARGET_DIR=/src/target/cargo
# The server with link-time optimisation across all crates (the release profile already
# has one codegen unit per crate): less machine code again, and the idle process about
# 23-24 MiB, at the price of a build more than twice as long. BENCHMARKS.md, "Memory of
# the `slipway` process". (The wasm has its own profile, `wasm-release`.)
ENV CARGO_PROFILE_RELEASE_LTO=fat
RUN bash -c 'source scripts/setup.sh && install_rust_tools && install_site_tools && install_node_packages && build_release'

# Stage 2: the binary, the site and CA certificates; nothing else.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/slipway --create-home slipway
COPY --from=build /src/target/cargo/release/slipway /usr/local/bin/slipway
COPY --from=build /src/target/site /usr/share/slipway/site
# The site the server serves, and where it keeps its SQLite database and key.
ENV LEPTOS_SITE_ROOT=/usr/share/slipway/site \
    SLIPWAY_LISTEN=0.0.0.0:3000 \
    SLIPWAY_DATA_DIR=/var/lib/slipway
VOLUME ["/var/lib/slipway"]
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD curl -fsS http://127.0.0.1:3000/healthz || exit 1
ENTRYPOINT ["slipway"]
CMD ["serve"]
