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

# What must happen however the script ends (passed, failed or interrupted): each
# `at_exit STEP` adds a step, run in order by one EXIT trap.
EXIT_STEPS=()
run_exit_steps() {
  local step
  for step in "${EXIT_STEPS[@]}"; do "$step"; done
}
at_exit() {
  EXIT_STEPS+=("$1")
  trap run_exit_steps EXIT
  # An interrupted run exits through the EXIT trap too.
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

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
}

# Builds a tool for this machine quickly rather than for running fast: the tools' own
# release profiles (cargo-leptos: fat LTO, one codegen unit) took 16 of a cold set-up's
# 40 minutes on 2 cores, and what the tools do per build (run cargo, wasm-bindgen's
# transforms, minify a few KB of CSS and JS, compress) is seconds either way. So: no LTO,
# many codegen units, and no optimisation (half the compiler's work of opt-level 1), except
# for the crates the site build spends its time in: the wasm splitter and wasm-bindgen's
# transforms, and cargo-leptos itself, where the compressors' generic code is instantiated.
# OpenSSL is the system's (libssl-dev) rather than a copy compiled from source for
# cargo-generate, which cargo-leptos links and our builds never call.
# BENCHMARKS.md ("Cold set-up") has the figures and the check that the site is the same.
TOOL_CRATES_OPTIMISED=(cargo-leptos brotli brotli-decompressor libflate libflate_lz77
  wasm_split_cli_support wasmparser wasm-encoder walrus wasm-bindgen-cli-support)
install_tool() {
  local crate optimised=()
  for crate in "${TOOL_CRATES_OPTIMISED[@]}"; do
    optimised+=(--config "profile.release.package.$crate.opt-level=1")
  done
  env -u CARGO_TARGET_DIR \
    CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=0 \
    OPENSSL_NO_VENDOR=1 \
    cargo "${optimised[@]}" install --root "$SLIPWAY_TOOLS" "$@"
}

# True when the tool in SLIPWAY_TOOLS answers `--version` with exactly this version.
tool_installed() { # tool_installed BINARY VERSION
  [ "$("$SLIPWAY_TOOLS/bin/$1" --version 2>/dev/null | awk '{print $2}')" = "$2" ]
}

# What building cargo-leptos needs from Debian (the system's OpenSSL, install_tool). In the
# foreground: the background install must not queue for apt's lock behind other packages.
install_site_tool_prerequisites() {
  tool_installed cargo-leptos "$CARGO_LEPTOS_VERSION" && return 0
  need_command pkg-config pkg-config
  pkg-config --exists openssl || apt_install libssl-dev
}

# cargo-leptos and the wasm-bindgen CLI: only the site build needs them, so scripts/test
# builds them in the background while the Rust tests run.
install_site_tools() {
  install_site_tool_prerequisites
  mkdir -p "$SLIPWAY_TOOLS"
  if ! tool_installed cargo-leptos "$CARGO_LEPTOS_VERSION"; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 6 minutes, once)"
    install_tool "cargo-leptos@$CARGO_LEPTOS_VERSION" --locked
  fi
  # wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
  local wanted
  wanted="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' "$WORKSPACE/Cargo.lock")"
  if ! tool_installed wasm-bindgen "$wanted"; then
    say "installing wasm-bindgen-cli $wanted (about 1 ½ minutes, once)"
    # Without --locked: its own lock file wants crates the registry does not hold. Only the
    # wasm-bindgen command, without TLS (its default feature, for the test runner's downloads).
    install_tool wasm-bindgen-cli --version "$wanted" --force --no-default-features --bin wasm-bindgen
  fi
}

# install_site_tools in the background, its output kept for when it fails; a run that
# ends before it is waited for stops it.
SITE_TOOLS_PID=""
SITE_TOOLS_LOG=""
start_site_tools_install() {
  install_site_tool_prerequisites
  SITE_TOOLS_LOG="$(mktemp /tmp/slipway-site-tools.XXXXXX)"
  install_site_tools >"$SITE_TOOLS_LOG" 2>&1 &
  SITE_TOOLS_PID=$!
  at_exit stop_site_tools_install
}
stop_site_tools_install() {
  if [ -n "$SITE_TOOLS_PID" ]; then
    pkill -TERM -P "$SITE_TOOLS_PID" 2>/dev/null || true
    kill "$SITE_TOOLS_PID" 2>/dev/null || true
    SITE_TOOLS_PID=""
  fi
  if [ -n "$SITE_TOOLS_LOG" ]; then rm -f "$SITE_TOOLS_LOG"; SITE_TOOLS_LOG=""; fi
}
wait_for_site_tools() {
  if ! wait "$SITE_TOOLS_PID"; then
    cat "$SITE_TOOLS_LOG" >&2
    echo "installing cargo-leptos or the wasm-bindgen CLI failed (above)" >&2
    exit 1
  fi
  grep '==>' "$SITE_TOOLS_LOG" >&2 || true
  SITE_TOOLS_PID=""
}

# Only scripts/fuzz needs these: libFuzzer's instrumentation wants a nightly compiler.
install_fuzz_tools() {
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    say "installing the nightly toolchain (for cargo fuzz)"
    rustup toolchain install nightly --profile minimal
  fi
  mkdir -p "$SLIPWAY_TOOLS"
  if ! tool_installed cargo-fuzz "$CARGO_FUZZ_VERSION"; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION (about a minute, once)"
    install_tool "cargo-fuzz@$CARGO_FUZZ_VERSION" --locked
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
# --precompress writes .br and .gz beside the wasm, js and css; the server sends them to
# browsers that accept them (the wasm is 2.1 MB as is, 0.5 MB as brotli).
# --split puts each group of pages in app/src/pages/lazy.rs in a wasm module of its own,
# fetched when a page of the group is opened; the app needs it (the main module imports
# the split loader). Arguments are passed on (scripts/test: --frontend-only).
# A site built before from the same inputs is copied instead (scripts/build_cache.sh).
build_release() {
  local key=""
  if in_git_checkout; then key="$(site_key)"; fi
  if [ -n "$key" ] && restore_cached_site "$key"; then
    say "the site's inputs are unchanged since it was built: copied it from $SITE_CACHE"
    if [ "${1:-}" = --frontend-only ]; then return 0; fi
    set -- --server-only
  fi
  say "building Slipway (release${1:+, $*})"
  (cd "$WORKSPACE" && cargo leptos build --release --precompress --split "$@")
  if [ -n "$key" ] && [ "${1:-}" != --server-only ]; then cache_site "$key"; fi
  remember_source_times
}

export LEPTOS_SITE_ROOT="$WORKSPACE/target/site"

source "$WORKSPACE/scripts/build_cache.sh"
