#!/usr/bin/env bash
# What a first visit's wasm would weigh in each architecture, built as the site's wasm
# is built (the `wasm-release` profile, `--cfg erase_components`, wasm-bindgen,
# `wasm-opt -Oz`) and printed raw and as brotli at quality 11 (what the site's
# precompression writes):
#   router    the one-page app of src/lib.rs, hydrated under the router (Slipway's way)
#   islands   the same page as an island
#   executions-island
#             Slipway's own Executions page as the only island: this checkout's app with
#             executions-as-island.patch applied in a temporary worktree. It builds, but
#             would not run as it is (the page reads its filters from the router's query,
#             and an island has no router): it measures the size, not a working page.
# Installs what it needs the way scripts/test does.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../../../scripts/setup.sh"
install_rust_tools
install_site_tools
install_node_packages
target="$CARGO_TARGET_DIR/frontend-floor"

# shrink_and_report NAME WASM: wasm-bindgen and wasm-opt as cargo-leptos runs them, then sizes.
shrink_and_report() {
  local out="$target/$1/site"
  wasm-bindgen --target web --out-dir "$out" --out-name site "$2"
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    "$out/site_bg.wasm" -o "$out/site.wasm"
  node -e '
    const zlib = require("zlib"), fs = require("fs");
    const [name, ...files] = process.argv.slice(1);
    for (const file of files) {
      const raw = fs.readFileSync(file);
      const brotli = zlib.brotliCompressSync(raw, { params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length } });
      console.log(`${name}\t${file.split("/").pop()}\traw ${raw.length}\tbrotli ${brotli.length}`);
    }' "$1" "$out/site.wasm" "$out/site.js"
}

wasm_build() { # wasm_build TARGET_DIR CARGO_ARGS...
  local dir="$1"
  shift
  RUSTFLAGS="--cfg erase_components" cargo build --quiet --lib --target wasm32-unknown-unknown \
    --profile wasm-release --target-dir "$dir" "$@"
}

for variant in router islands; do
  wasm_build "$target/$variant" --manifest-path "$here/Cargo.toml" --features "$variant"
  shrink_and_report "$variant" \
    "$target/$variant/wasm32-unknown-unknown/wasm-release/frontend_floor.wasm"
done

worktree="$(mktemp -d)"
remove_worktree() { git -C "$WORKSPACE" worktree remove --force "$worktree"; }
at_exit remove_worktree
git -C "$WORKSPACE" worktree add --quiet --detach "$worktree" HEAD
git -C "$worktree" apply "$here/executions-as-island.patch"
(cd "$worktree" && wasm_build "$target/executions-island" -p frontend)
shrink_and_report executions-island \
  "$target/executions-island/wasm32-unknown-unknown/wasm-release/frontend.wasm"
