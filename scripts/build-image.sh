#!/usr/bin/env bash
# Builds the swab container image (examples/Dockerfile) offline: a static release binary and
# the host's CA bundle on an empty base. Nothing is pulled, so it works with no internet.
#
#   scripts/build-image.sh [--tag swab:latest] [--docker PATH] [-H DOCKER_HOST]
#                          [--binary PATH] [--ca-bundle FILE]
#   scripts/build-image.sh --binary-only      build the static binary, print its path, stop
#
# 1. `cargo build --release -p swab` for the host's glibc target with
#    `-C target-feature=+crt-static` (a static glibc binary; no musl toolchain needed). With
#    --binary, that binary is used instead (it must be static).
# 2. A temp build context with `swab`, `ca-certificates.crt` and `nsswitch.conf`.
# 3. `docker build -f examples/Dockerfile` against DOCKER_HOST (or -H) with the docker CLI on
#    PATH (or --docker), with the OCI labels' version (Cargo.toml), revision (git HEAD),
#    created (HEAD's commit time, so a rebuild of a commit is the same image) and source.
# The image's ID is printed on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=swab:latest DOCKER=docker HOST= BINARY= BINARY_ONLY=0 CA=
while [ $# -gt 0 ]; do
  case $1 in
    --tag|-t) TAG=$2; shift 2 ;;
    --docker) DOCKER=$2; shift 2 ;;
    -H|--host) HOST=$2; shift 2 ;;
    --binary) BINARY=$2; shift 2 ;;
    --ca-bundle) CA=$2; shift 2 ;;
    --binary-only) BINARY_ONLY=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ -z "$BINARY" ]; then
  triple=$(rustc -vV | sed -n 's/^host: //p')
  case $triple in *-linux-gnu) ;; *) die "a static glibc build needs a *-linux-gnu host, not $triple" ;; esac
  log "building the static release binary for $triple"
  # --target keeps these objects apart from the normal (dynamic) release build's.
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --locked -p swab --target "$triple" >&2
  BINARY=${CARGO_TARGET_DIR:-target}/$triple/release/swab
fi
[ -x "$BINARY" ] || die "$BINARY is not an executable"
# An empty image has no dynamic loader: a dynamic binary would fail with a bare "no such file".
if ldd "$BINARY" >/dev/null 2>&1 && ! ldd "$BINARY" 2>&1 | grep -q "statically linked"; then
  die "$BINARY is dynamically linked ($(ldd "$BINARY" | head -1 | xargs)); build it with -C target-feature=+crt-static"
fi
if [ "$BINARY_ONLY" = 1 ]; then
  realpath "$BINARY"
  exit 0
fi

if [ -z "$CA" ]; then
  for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
    [ -s "$f" ] && { CA=$f; break; }
  done
fi
[ -n "$CA" ] && [ -s "$CA" ] || die "no CA bundle found (install ca-certificates, or pass --ca-bundle FILE)"

CTX=$(mktemp -d /tmp/swab-image.XXXXXX)
trap 'rm -rf "$CTX"' EXIT
cp "$BINARY" "$CTX/swab"
cp -L "$CA" "$CTX/ca-certificates.crt"
printf 'hosts: files dns\n' >"$CTX/nsswitch.conf"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
source=$(sed -n 's/^repository = "\(.*\)"/\1/p' Cargo.toml | head -1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi

[ -n "$HOST" ] && export DOCKER_HOST=$HOST
log "docker build -t $TAG (version $version, revision $revision) on ${DOCKER_HOST:-the default daemon}"
"$DOCKER" build --quiet -f examples/Dockerfile -t "$TAG" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
  --build-arg "CREATED=$created" --build-arg "SOURCE=$source" \
  "$CTX"
