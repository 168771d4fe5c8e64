# Sourced by scripts/setup.sh: lets a second clone reuse what an earlier one built into the
# shared target directory, trusting file contents, never file times.
#
# Cargo decides what to rebuild by modification times: a unit is fresh when none of its
# source files is newer than its last build. Every file of a fresh clone is new, so cargo
# rebuilt every workspace crate in every profile (the tests, the wasm, the
# release server) from sources it had built an hour before. And the reverse is worse: a
# clone made *before* another clone's build has older times than that build, and cargo took
# the other clone's artifacts for its own.
#
# So after each build the scripts write down every source file's content hash and time
# (SOURCE_RECORD). Before the next build, a file whose content is the recorded one gets the
# recorded time back, and every other file is stamped now: cargo then rebuilds exactly what
# depends on a changed file, as it would have in the clone that did the last build. A build
# into the same directory outside these scripts (plain `cargo` with the same
# CARGO_TARGET_DIR) leaves fingerprints newer than the record; the record then describes
# nothing for certain, and every file counts as changed (stamped now: everything of the
# workspace is built again, once), as it does when there is no record yet.
#
# The site (wasm-bindgen, the wasm split, wasm-opt, Tailwind, compression: about two minutes
# on 2 cores even when nothing changed) is kept in the target directory under a hash of all it
# is built from, and copied back when that hash comes again.
#
# Outside a git checkout (no list of sources) none of this applies and builds are cargo's.

SOURCE_RECORD="$CARGO_TARGET_DIR/slipway-sources"
SITE_CACHE="$CARGO_TARGET_DIR/slipway-sites"
SITES_KEPT=3
# scripts/tests/build_cache.sh checks the claims above against cargo itself.

in_git_checkout() { git -C "$WORKSPACE" rev-parse --is-inside-work-tree >/dev/null 2>&1; }

# Every file cargo, Tailwind or the site can read: tracked or new, not ignored.
# Prints one line per file, sorted by path: "<sha256> <mtime with ns> <path>".
source_states() {
  (
    cd "$WORKSPACE"
    local list
    list="$(mktemp)"
    git ls-files -z --cached --others --exclude-standard \
      | while IFS= read -r -d '' path; do [ -f "$path" ] && printf '%s\0' "$path"; done >"$list"
    paste -d ' ' \
      <(xargs -0 -r sha256sum -b -- <"$list" | cut -c1-64) \
      <(xargs -0 -r stat -L -c '%.9Y' -- <"$list") \
      <(tr '\0' '\n' <"$list")
    rm -f "$list"
  ) | LC_ALL=C sort -k3
}

# True when something built into the target directory after the record was written.
built_since_record() {
  local fingerprints
  fingerprints="$(find "$CARGO_TARGET_DIR" -mindepth 2 -maxdepth 4 -type d -name .fingerprint 2>/dev/null)"
  [ -n "$fingerprints" ] || return 1
  # shellcheck disable=SC2086 # one directory per line, none with spaces (cargo names them)
  [ -n "$(find $fingerprints -newer "$SOURCE_RECORD" -print -quit)" ]
}

# Before a build: recorded contents get their recorded times back, the rest is stamped now.
restore_source_times() {
  in_git_checkout || return 0
  local record="$SOURCE_RECORD"
  if [ ! -f "$record" ]; then
    say "no record of what $CARGO_TARGET_DIR was built from: every source counts as changed"
    record=/dev/null
  elif built_since_record; then
    say "$CARGO_TARGET_DIR was built into outside scripts/ since the last record: every source counts as changed"
    record=/dev/null
  fi
  local now restored=0 stamped=0 kind time path
  now="$(date +%s.%N)"
  while IFS=' ' read -r kind time path; do
    touch -m -d "@$time" -- "$WORKSPACE/$path"
    if [ "$kind" = restore ]; then restored=$((restored + 1)); else stamped=$((stamped + 1)); fi
  done < <(source_states | awk -v now="$now" -v record="$record" '
    # The record first, then this checkout (standard input).
    FILENAME == record { recorded[substr($0, length($1) + length($2) + 3)] = $1 " " $2; next }
    {
      path = substr($0, length($1) + length($2) + 3)
      if (path in recorded) {
        split(recorded[path], was, " ")
        if (was[1] == $1) { if (was[2] != $2) print "restore", was[2], path; next }
      }
      print "stamp", now, path
    }' "$record" -)
  say "sources: $restored given back the time they were built at, $stamped changed since the last build"
}

# After a build that succeeded: what it was built from.
remember_source_times() {
  in_git_checkout || return 0
  local written
  written="$(mktemp "$SOURCE_RECORD.XXXXXX")" # a file of its own: two clones may finish at once
  source_states >"$written"
  mv "$written" "$SOURCE_RECORD"
}

# A hash of everything the release site is built from: the front end's sources, the
# manifests and lock files, the build scripts, the tools' and compiler's versions, the
# environment cargo-leptos and cargo read.
site_key() {
  {
    source_states | awk '{ path = substr($0, length($1) + length($2) + 3) }
      path ~ /^(app|frontend|style|public|\.cargo)\// || path ~ /(^|\/)(Cargo\.toml|Cargo\.lock|package\.json|package-lock\.json)$/ \
        || path == "scripts/setup.sh" { print $1, path }'
    rustc -vV
    cargo leptos --version
    wasm-bindgen --version
    wasm-opt --version
    # awk, not grep or head: no match is not a failure, and nothing is cut off mid-write.
    # Tailwind colours its banner when CI is set: only the version counts.
    tailwindcss --help 2>/dev/null | awk '!found && match($0, /v[0-9]+\.[0-9]+\.[0-9]+/) { print substr($0, RSTART, RLENGTH); found = 1 }'
    env | LC_ALL=C sort | awk '/^(LEPTOS_|RUSTFLAGS|RUSTC|CARGO_(BUILD|PROFILE|ENCODED|TARGET_WASM))/ && !/^LEPTOS_SITE_ROOT=/'
  } | sha256sum | cut -c1-64
}

# Copies the site built from the same inputs into LEPTOS_SITE_ROOT; false when there is none.
restore_cached_site() { # restore_cached_site KEY
  in_git_checkout || return 1
  [ -d "$SITE_CACHE/$1" ] || return 1
  rm -rf "$LEPTOS_SITE_ROOT"
  mkdir -p "$(dirname "$LEPTOS_SITE_ROOT")"
  cp -a "$SITE_CACHE/$1" "$LEPTOS_SITE_ROOT"
  touch "$SITE_CACHE/$1" # most recently used, so kept longest
}

# Keeps the site just built under KEY, and only the SITES_KEPT most recently used ones.
cache_site() { # cache_site KEY
  in_git_checkout || return 0
  mkdir -p "$SITE_CACHE"
  local copy
  copy="$(mktemp -d "$SITE_CACHE/copying.XXXXXX")"
  chmod 755 "$copy"
  cp -a "$LEPTOS_SITE_ROOT/." "$copy"
  rm -rf "${SITE_CACHE:?}/$1"
  mv "$copy" "$SITE_CACHE/$1"
  # Copies under way (another clone's) are neither counted nor removed.
  find "$SITE_CACHE" -mindepth 1 -maxdepth 1 -type d ! -name 'copying.*' -printf '%T@ %p\n' | LC_ALL=C sort -rn \
    | tail -n "+$((SITES_KEPT + 1))" | cut -d ' ' -f 2- | xargs -r rm -rf
}
