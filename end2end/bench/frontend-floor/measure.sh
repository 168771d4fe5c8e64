#!/usr/bin/env bash
# Builds the one-page app of src/lib.rs hydrated under the router and as an island,
# as the site's wasm is built (the `wasm-release` profile, `--cfg erase_components`,
# wasm-bindgen, `wasm-opt -Oz`), and prints each build's wasm and JS raw and as
# brotli at quality 11 (what the site's precompression writes). Installs what it
# needs the way scripts/test does.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../../../scripts/setup.sh"
install_rust_tools
install_site_tools
install_node_packages
target="$CARGO_TARGET_DIR/frontend-floor"
for variant in router islands; do
  RUSTFLAGS="--cfg erase_components" cargo build --quiet --lib --manifest-path "$here/Cargo.toml" \
    --target wasm32-unknown-unknown --profile wasm-release --features "$variant" \
    --target-dir "$target/$variant"
  out="$target/$variant/site"
  wasm-bindgen --target web --out-dir "$out" \
    "$target/$variant/wasm32-unknown-unknown/wasm-release/frontend_floor.wasm"
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    "$out/frontend_floor_bg.wasm" -o "$out/frontend_floor.wasm"
  node -e '
    const zlib = require("zlib"), fs = require("fs");
    const [variant, ...files] = process.argv.slice(1);
    for (const file of files) {
      const raw = fs.readFileSync(file);
      const brotli = zlib.brotliCompressSync(raw, { params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length } });
      console.log(`${variant}\t${file.split("/").pop()}\traw ${raw.length}\tbrotli ${brotli.length}`);
    }' "$variant" "$out/frontend_floor.wasm" "$out/frontend_floor.js"
done
