#!/usr/bin/env bash
# System packages the test suite needs, installed once (idempotent): Debian's chromium for the
# browser tests (Playwright's own browser download does not work offline), haproxy and iproute2 for the
# two-node cluster tests. Needs root or sudo.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# tests/cluster: HAProxy in front of a two-node Ray cluster whose nodes live in network namespaces (ip netns)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need+=(iproute2)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
