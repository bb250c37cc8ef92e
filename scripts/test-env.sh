#!/usr/bin/env bash
# Starts a private, throwaway Docker environment, runs a command in it, and tears it down.
#
#   scripts/test-env.sh COMMAND [ARGS...]     e.g. scripts/test-env.sh cargo test --all-features
#   scripts/test-env.sh bash                  an interactive shell with the environment set
#   SWAB_TEST_ENGINE=20.10 scripts/test-env.sh ...
#
# SWAB_TEST_ENGINE picks the engine (scripts/lib/dockerd.sh): `28-containerd` (default: Docker
# 28 from Debian sid with the containerd image store, and Compose v2), `28-classic`, `20.10`
# (bookworm's docker.io, classic store). The sid packages are pinned in scripts/engines.lock.
#
# What it starts, all under one temp dir of its own, never touching /var/run/docker.sock:
#   - dockerd with its own --data-root, --exec-root, pidfile and unix socket,
#     --bridge none --iptables=false, plus a TLS listener on 127.0.0.1 (certs made here);
#   - a registry on 127.0.0.1 without auth, and a second one with htpasswd auth;
#   - a test image `swab-test/busybox:latest` imported from a static-busybox rootfs.
# What the command sees:
#   SWAB_TEST_ENGINE         the engine's name; SWAB_TEST_IMAGE_STORE classic | containerd
#   SWAB_TEST_DOCKER_HOST    unix:///.../docker.sock
#   SWAB_TEST_TLS_HOST       tcp://127.0.0.1:PORT (TLS, client cert required)
#   SWAB_TEST_TLS_DIR        dir with ca.pem cert.pem key.pem for it
#   SWAB_TEST_REGISTRY       127.0.0.1:PORT (no auth)
#   SWAB_TEST_AUTH_REGISTRY  127.0.0.1:PORT (htpasswd; user/password below)
#   SWAB_TEST_REGISTRY_USER, SWAB_TEST_REGISTRY_PASSWORD
#   SWAB_TEST_IMAGE          swab-test/busybox:latest
#   SWAB_TEST_ROOTFS         the rootfs tarball, for tests that import their own images
#   SWAB_TEST_DOCKER_CLI     the engine's docker CLI; SWAB_TEST_DOCKERD its dockerd
#   SWAB_TEST_ENGINE_PATH    the PATH the engine's binaries run with (its containerd, shim)
#   SWAB_TEST_DAEMON_CONFIG  the daemon.json the daemon runs with (for a test's own daemons)
#   SWAB_TEST_COMPOSE        Compose v2 (`docker-compose`), empty on 20.10
#   SWAB_TEST_SMTP_PYTHON    a python3 with aiosmtpd (the SMTP sink of notification tests)
#   SWAB_TEST_SKIPPED        a file where tests that cannot apply to this engine say why
#   SWAB_TEST_DIR            the temp dir (logs: dockerd.log, registry*.log; the registry
#                            logs have an access line per request, with the User-Agent)
# Note: with --bridge none there is no default bridge; a running container on the default
# network has no network sandbox (renaming it fails). Tests use NetworkMode none or a user network.
#
# Bounded waits: every setup call has a timeout (SWAB_TEST_SETUP_TIMEOUT, default 120 s), and
# when stdin is not a terminal the command runs under a watchdog (SWAB_TEST_TIMEOUT, default
# 1800 s): past it, the report names the containers stuck in `runc init`, dumps dockerd's
# stacks, kills the command and exits 124.
# It installs docker.io, docker-registry, busybox-static, apache2-utils, openssl, python3,
# python3-aiosmtpd (the notification tests' SMTP sink) and chromium (the status page's
# browser tests) with apt-get when they are missing (root on Debian).
set -euo pipefail

log() { printf 'test-env: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib/dockerd.sh
. "$(dirname "$0")/lib/dockerd.sh"
die() { log "error: $*"; exit 1; }

[ $# -gt 0 ] || die "usage: $0 COMMAND [ARGS...]"
[ "$(id -u)" = 0 ] || die "must run as root (it starts dockerd)"

need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v docker-registry >/dev/null || need_pkgs+=(docker-registry)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx sleep || need_pkgs+=(busybox-static)
command -v htpasswd >/dev/null || need_pkgs+=(apache2-utils)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v python3 >/dev/null || need_pkgs+=(python3)
# The SMTP sink of the notification tests (crates/notify/tests/channels.rs), for Debian's
# python3 (/usr/bin/python3; a python3 earlier on PATH, pyenv say, does not see it).
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need_pkgs+=(python3-aiosmtpd)
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null 2>&1
  NEEDRESTART_MODE=a apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null 2>&1 || die "apt-get install ${need_pkgs[*]} failed"
fi
# A dynamically linked busybox would not run inside an image without libc.
BUSYBOX=/bin/busybox
if command -v file >/dev/null && file -L "$BUSYBOX" | grep -q "dynamically linked"; then die "$BUSYBOX is not static; install busybox-static"; fi

engine_select "${SWAB_TEST_ENGINE:-28-containerd}" || die "cannot set up engine ${SWAB_TEST_ENGINE:-28-containerd}"
DOCKER_CLI=$ENGINE_CLI

DIR=$(mktemp -d "/tmp/swab-test-$ENGINE.XXXXXX")
DOCKERD_PID=
REGISTRY_PIDS=()
CMD_PID=

cleanup() {
  local rc=$?
  set +e
  [ -n "$CMD_PID" ] && kill -KILL -- "-$CMD_PID" 2>/dev/null
  dockerd_stop "$DIR"
  for pid in "${REGISTRY_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  if [ "${SWAB_TEST_KEEP:-}" = 1 ] || { [ $rc -ne 0 ] && [ "${CI:-}" = true ]; }; then
    log "dockerd log tail ($DIR/dockerd.log):"; tail -n 20 "$DIR/dockerd.log" >&2
  fi
  rm -rf "$DIR"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- TLS material for the daemon's TCP listener -------------------------------------------
TLS="$DIR/tls"; mkdir -p "$TLS"
(
  cd "$TLS"
  openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem
  openssl req -x509 -new -key ca-key.pem -sha256 -days 2 -subj "/CN=swab test CA" -out ca.pem
  openssl ecparam -name prime256v1 -genkey -noout -out server-key.pem
  openssl req -new -key server-key.pem -subj "/CN=127.0.0.1" -out server.csr
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -sha256 -extfile server.ext -out server-cert.pem
  openssl ecparam -name prime256v1 -genkey -noout -out client-key.pem
  openssl pkcs8 -topk8 -nocrypt -in client-key.pem -out key.pem
  openssl req -new -key client-key.pem -subj "/CN=swab-test-client" -out client.csr
  printf 'extendedKeyUsage=clientAuth\n' > client.ext
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -sha256 -extfile client.ext -out cert.pem
) >"$DIR/openssl.log" 2>&1 || { cat "$DIR/openssl.log" >&2; die "could not make TLS certificates"; }

# --- dockerd ----------------------------------------------------------------------------------
TLS_PORT=$(free_port)
dockerd_start "$DIR" --host "tcp://127.0.0.1:$TLS_PORT" \
  --tlsverify --tlscacert "$TLS/ca.pem" --tlscert "$TLS/server-cert.pem" --tlskey "$TLS/server-key.pem" \
  || die "could not start dockerd"
export DOCKER_HOST="unix://$DIR/docker.sock"

# --- registries -------------------------------------------------------------------------------
REG_PORT=$(free_port)
AUTH_PORT=$(free_port)
REG_USER=swab
REG_PASSWORD="pw-$RANDOM$RANDOM"
htpasswd -Bbn "$REG_USER" "$REG_PASSWORD" > "$DIR/htpasswd" 2>/dev/null
registry_config() { # name port [auth]
  cat <<EOF
version: 0.1
log:
  level: warn
  # One line per request in registry*.log (combined format, with the User-Agent): tests
  # count the manifest requests of swab (User-Agent swab/...) and of the daemon (docker/...).
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $DIR/$1
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$2
EOF
  if [ "${3:-}" = auth ]; then
    printf 'auth:\n  htpasswd:\n    realm: swab-test\n    path: %s\n' "$DIR/htpasswd"
  fi
}
registry_config registry "$REG_PORT" > "$DIR/registry.yml"
registry_config registry-auth "$AUTH_PORT" auth > "$DIR/registry-auth.yml"
docker-registry serve "$DIR/registry.yml" >"$DIR/registry.log" 2>&1 & REGISTRY_PIDS+=($!)
docker-registry serve "$DIR/registry-auth.yml" >"$DIR/registry-auth.log" 2>&1 & REGISTRY_PIDS+=($!)
for port in "$REG_PORT" "$AUTH_PORT"; do
  for _ in $(seq 1 50); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break
    sleep 0.2
  done
done

# --- test image -------------------------------------------------------------------------------
make_busybox_rootfs "$DIR"
dcli "$DIR" import -c 'CMD ["/bin/sh"]' "$DIR/rootfs.tar" swab-test/busybox:latest >/dev/null || die "could not import the test image"

export SWAB_TEST_DIR="$DIR"
export SWAB_TEST_SMTP_PYTHON=/usr/bin/python3
# In-process tests never read the machine's own shared state (/var/lib/swab).
export SWAB_SHARED_STATE="$DIR/shared-state.json"
export SWAB_TEST_DOCKER_HOST="unix://$DIR/docker.sock"
export SWAB_TEST_TLS_HOST="tcp://127.0.0.1:$TLS_PORT"
export SWAB_TEST_TLS_DIR="$TLS"
export SWAB_TEST_REGISTRY="127.0.0.1:$REG_PORT"
export SWAB_TEST_AUTH_REGISTRY="127.0.0.1:$AUTH_PORT"
export SWAB_TEST_REGISTRY_USER="$REG_USER"
export SWAB_TEST_REGISTRY_PASSWORD="$REG_PASSWORD"
export SWAB_TEST_IMAGE="swab-test/busybox:latest"
export SWAB_TEST_ROOTFS="$DIR/rootfs.tar"
export SWAB_TEST_DOCKER_CLI="$DOCKER_CLI"
export SWAB_TEST_ENGINE="$ENGINE"
export SWAB_TEST_IMAGE_STORE="$ENGINE_STORE"
export SWAB_TEST_DOCKERD="$ENGINE_DOCKERD"
export SWAB_TEST_ENGINE_PATH="$ENGINE_PATH"
export SWAB_TEST_DAEMON_CONFIG="$DIR/daemon.json"
export SWAB_TEST_COMPOSE="$ENGINE_COMPOSE"
# A caller that tallies skips (scripts/test.sh) names the file; it outlives this environment.
export SWAB_TEST_SKIPPED="${SWAB_TEST_SKIPPED:-$DIR/skipped}"
: >"$SWAB_TEST_SKIPPED"
# Tests must not reach the host's daemon by accident through the environment.
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
log "engine $ENGINE: dockerd $(dcli "$DIR" version -f '{{.Server.Version}} (API {{.Server.APIVersion}})'), $ENGINE_STORE image store, at $SWAB_TEST_DOCKER_HOST; registries $SWAB_TEST_REGISTRY, $SWAB_TEST_AUTH_REGISTRY (auth)"

set +e
if [ -t 0 ] || [ "${SWAB_TEST_TIMEOUT:-1800}" = 0 ]; then
  "$@"
  exit $?
fi
# The watchdog: the command in a session of its own, so a timeout kills all of it (cargo, the
# test binaries, the swab processes they started).
setsid "$@" &
CMD_PID=$!
deadline=$((SECONDS + ${SWAB_TEST_TIMEOUT:-1800}))
while kill -0 "$CMD_PID" 2>/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "error: '$*' on engine $ENGINE ran past SWAB_TEST_TIMEOUT=${SWAB_TEST_TIMEOUT:-1800}s; stopping it"
    hung_report "$DIR" >&2
    kill -TERM -- "-$CMD_PID" 2>/dev/null; sleep 5; kill -KILL -- "-$CMD_PID" 2>/dev/null
    wait "$CMD_PID" 2>/dev/null
    exit 124
  fi
  sleep 1
done
wait "$CMD_PID"
