#!/usr/bin/env bash
# Checks scripts/build_cache.sh against cargo itself, with a one-file crate built into a
# target directory shared by several clones, as the scripts share ~/.cache/slipway-target:
#   - a second clone of the same sources builds nothing;
#   - a clone with changed sources rebuilds, and the binary has the change;
#   - a clone made *before* another clone's build still gets its own sources built (its
#     files are older than that build, so cargo alone would take the other clone's binary);
#   - after a build outside the scripts, every file counts as changed and is built again.
# Run by scripts/test; takes a few seconds.
set -euo pipefail

ROOT="$(mktemp -d /tmp/slipway-build-cache-test.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
export CARGO_TARGET_DIR="$ROOT/target"
export CARGO_INCREMENTAL=0
SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FAILED=0

say() { :; }
fail() { echo "build cache: $*" >&2; FAILED=1; }

# The origin: a crate whose binary prints the value in src/value.rs; one commit per value.
git init -q "$ROOT/origin"
cd "$ROOT/origin"
git config user.email test@example.invalid
git config user.name test
cat >Cargo.toml <<'TOML'
[package]
name = "probe"
version = "0.1.0"
edition = "2021"
[workspace]
TOML
mkdir src
echo 'fn main() { println!("{}", include!("value.rs")); }' >src/main.rs
commit_value() { echo "$1" >src/value.rs; git add -A; git commit -qm "value $1"; git tag "v$1"; }
commit_value 1
commit_value 2

clone_at() { # clone_at NAME TAG
  git clone -q "$ROOT/origin" "$ROOT/$1"
  git -C "$ROOT/$1" checkout -q "$2"
}

# Builds clone NAME through the scripts' functions; prints what the binary printed, and
# whether cargo compiled the crate ("compiled") or found it fresh ("fresh").
scripted_build() { # scripted_build NAME
  (
    WORKSPACE="$ROOT/$1"
    # shellcheck source=../build_cache.sh
    source "$SCRIPTS/build_cache.sh"
    restore_source_times
    cd "$WORKSPACE"
    if cargo build -v 2>&1 | grep -q 'Running `.*rustc --crate-name probe'; then
      printf 'compiled '
    else
      printf 'fresh '
    fi
    remember_source_times
    "$CARGO_TARGET_DIR/debug/probe"
  )
}

expect() { # expect WHAT GOT WANTED
  if [ "$2" != "$3" ]; then fail "$1: got '$2', wanted '$3'"; fi
}

clone_at first v1
clone_at early v1 # made now, built only after another clone's build
sleep 0.05
expect "the first clone" "$(scripted_build first)" "compiled 1"
clone_at second v1
expect "a second clone of the same sources" "$(scripted_build second)" "fresh 1"
clone_at changed v2
expect "a clone with a changed file" "$(scripted_build changed)" "compiled 2"
expect "a clone made before another clone's build" "$(scripted_build early)" "compiled 1"
expect "the clone with the change, again" "$(scripted_build changed)" "compiled 2"
expect "the same clone once more" "$(scripted_build changed)" "fresh 2"

# A build outside the scripts: the record no longer says what the target directory holds.
clone_at before_outside v2
sleep 0.05
(cd "$ROOT/first" && echo 3 >src/value.rs && cargo build -q)
out="$( (WORKSPACE="$ROOT/before_outside"; source "$SCRIPTS/build_cache.sh"; say() { echo "$*"; }; restore_source_times) )"
case "$out" in
  *"outside scripts/"*) ;;
  *) fail "a build outside the scripts was not noticed: '$out'" ;;
esac
# Its files are older than that build: by file times alone cargo would run value 3.
expect "a clone made before a build outside the scripts" "$(scripted_build before_outside)" "compiled 2"
clone_at after_outside v2
expect "and a clone of the same sources after it" "$(scripted_build after_outside)" "fresh 2"

if [ "$FAILED" -ne 0 ]; then exit 1; fi
echo "build cache: 9 checks passed"
