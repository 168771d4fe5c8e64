# Sourced by scripts/run and scripts/test: installs whatever this machine lacks,
# idempotently, into caches outside the clone, and exports the paths the build uses.
# Safe to run again: every step checks first and skips what is already there.

set -euo pipefail

WORKSPACE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SLIPWAY_TOOLS="${SLIPWAY_TOOLS:-$HOME/.cache/slipway-tools}"
# One target directory outside the clone, so a fresh clone builds incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/slipway-target}"
# Incremental builds help an editor loop, not a from-scratch test run; they cost tens of GB.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# cargo-leptos looks on PATH for wasm-bindgen, wasm-opt and tailwindcss before it
# tries to download them (which fails here): ours come first.
export PATH="$SLIPWAY_TOOLS/bin:$WORKSPACE/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

CARGO_LEPTOS_VERSION=0.3.10 # 0.3.11 needs rustc >= 1.96
CARGO_FUZZ_VERSION=0.13.2

say() { printf '\033[1;34m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages, installed only when their command is missing.
APT_UPDATED=""
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  say "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

need_command() { # need_command COMMAND PACKAGE...
  local command="$1"; shift
  command -v "$command" >/dev/null 2>&1 || apt_install "$@"
}

install_rust_tools() {
  command -v cargo >/dev/null || { echo "Rust (cargo) is required: https://rustup.rs" >&2; exit 1; }
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  local component
  for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
      say "adding the $component component"
      rustup component add "$component"
    fi
  done
  mkdir -p "$SLIPWAY_TOOLS"
  if [ "$("$SLIPWAY_TOOLS/bin/cargo-leptos" --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 11 minutes, once)"
    env -u CARGO_TARGET_DIR cargo install "cargo-leptos@$CARGO_LEPTOS_VERSION" --locked --root "$SLIPWAY_TOOLS"
  fi
  # wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
  local wanted
  wanted="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' "$WORKSPACE/Cargo.lock")"
  if [ "$("$SLIPWAY_TOOLS/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}')" != "$wanted" ]; then
    say "installing wasm-bindgen-cli $wanted (about 2 minutes, once)"
    # Without --locked: its own lock file wants crates the registry does not hold.
    env -u CARGO_TARGET_DIR cargo install wasm-bindgen-cli --version "$wanted" --root "$SLIPWAY_TOOLS" --force
  fi
}

# Only scripts/fuzz needs these: libFuzzer's instrumentation wants a nightly compiler.
install_fuzz_tools() {
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    say "installing the nightly toolchain (for cargo fuzz)"
    rustup toolchain install nightly --profile minimal
  fi
  mkdir -p "$SLIPWAY_TOOLS"
  if [ "$("$SLIPWAY_TOOLS/bin/cargo-fuzz" --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION (about a minute, once)"
    env -u CARGO_TARGET_DIR cargo install "cargo-fuzz@$CARGO_FUZZ_VERSION" --locked --root "$SLIPWAY_TOOLS"
  fi
}

install_node_packages() {
  need_command npm nodejs npm
  # Reinstall only when the lock file changed since the last install.
  local dir
  for dir in "$WORKSPACE" "$WORKSPACE/end2end"; do
    if [ ! -f "$dir/node_modules/.package-lock.json" ] || ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.slipway-lock"; then
      say "installing npm packages in ${dir#"$WORKSPACE"/}"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.slipway-lock)
    fi
  done
}

install_test_peers() {
  need_command chromium chromium
  # A real registry peer: CNCF distribution sends push notifications, skopeo pushes without a Docker daemon.
  need_command docker-registry docker-registry
  need_command skopeo skopeo
}

# The site is built next to the sources (cargo-leptos 0.3.10 keeps site-root relative).
build_release() {
  say "building Slipway (release)"
  # --precompress writes .br and .gz beside the wasm, js and css; the server sends them to
  # browsers that accept them (the wasm is 2.1 MB as is, 0.5 MB as brotli).
  (cd "$WORKSPACE" && cargo leptos build --release --precompress)
}

export LEPTOS_SITE_ROOT="$WORKSPACE/target/site"
