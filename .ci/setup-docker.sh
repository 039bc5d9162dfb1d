#!/usr/bin/env bash
# Install and start a Docker engine for chaoslab's live tests (run as root, Debian 12).
#
# Idempotent: packages already present are not reinstalled, and an engine that
# already answers is used as it is (we never start a second dockerd: one started
# with --bridge=none would delete the host's docker0).
#
#   bash .ci/setup-docker.sh            # install, start, wait, print versions
#   CHAOSLAB_DOCKER_WAIT=120 bash ...   # wait longer for the engine (default 60 s)
#
# Environment it leaves: dockerd on /var/run/docker.sock, logging to
# /var/log/chaoslab-dockerd.log; Debian's docker.io (engine 20.10) and
# docker-compose (v1.29). No image is pulled: there is no registry here;
# chaoslab builds its images locally (chaos/live/images.py).
set -euo pipefail

WAIT_SECONDS="${CHAOSLAB_DOCKER_WAIT:-60}"
DOCKERD_LOG="${CHAOSLAB_DOCKERD_LOG:-/var/log/chaoslab-dockerd.log}"
# Debian's client matches Debian's engine; a newer client earlier on PATH
# (e.g. /usr/local/bin/docker 28.x) negotiates the API version down and works
# too, but the script should not depend on it.
DOCKER_CLI=/usr/bin/docker
PACKAGES=(docker.io docker-compose)

log() { printf '[setup-docker] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$(id -u)" == 0 ]] || die "must run as root (it installs packages and starts dockerd)"

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || echo "$pkg"
    done
}

# Package postinst scripts must not start services: without systemd,
# invoke-rc.d would run /etc/init.d/docker with iptables on. policy-rc.d exit
# 101 is Debian's documented "action forbidden"; only a file we created is removed.
install_packages() {
    local missing created_policy=0
    missing="$(missing_packages)"
    if [[ -z "$missing" ]]; then
        log "packages already installed: ${PACKAGES[*]}"
        return
    fi
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    log "installing: $(echo $missing)"
    export DEBIAN_FRONTEND=noninteractive
    local rc=0
    { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; } || rc=$?
    if [[ $created_policy == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
    [[ $rc == 0 ]] || die "apt-get failed (exit $rc)"
}

engine_answers() {
    timeout 10 "$DOCKER_CLI" info >/dev/null 2>&1
}

start_dockerd() {
    if engine_answers; then
        log "an engine already answers; not starting dockerd"
        return
    fi
    if pgrep -x dockerd >/dev/null; then
        log "dockerd is running but not answering yet; waiting for it instead of starting another"
        return
    fi
    log "starting dockerd --iptables=false (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    # setsid: the daemon must outlive this script and its process group.
    setsid nohup dockerd --iptables=false >>"$DOCKERD_LOG" 2>&1 </dev/null &
}

wait_for_engine() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    until engine_answers; do
        if ((SECONDS >= deadline)); then
            log "last lines of $DOCKERD_LOG:"
            tail -n 30 "$DOCKERD_LOG" >&2 || true
            die "Docker engine did not answer within ${WAIT_SECONDS}s"
        fi
        if ! pgrep -x dockerd >/dev/null; then
            log "last lines of $DOCKERD_LOG:"
            tail -n 30 "$DOCKERD_LOG" >&2 || true
            die "dockerd exited; see $DOCKERD_LOG"
        fi
        sleep 0.5
    done
    log "engine answers after ${SECONDS}s of this script"
}

print_versions() {
    "$DOCKER_CLI" version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}'
    "$DOCKER_CLI" info --format 'storage driver {{.Driver}}, cgroup {{.CgroupVersion}}'
    local path_cli
    path_cli="$(command -v docker || true)"
    if [[ -n "$path_cli" && "$path_cli" != "$DOCKER_CLI" ]]; then
        echo "note: 'docker' on PATH is $path_cli: $("$path_cli" version --format 'client {{.Client.Version}}, API {{.Client.APIVersion}}' 2>&1 | tr '\n' ' ')"
    fi
    if docker compose version >/dev/null 2>&1; then
        echo "compose v2 plugin: $(docker compose version --short 2>&1)"
    else
        echo "compose v2 plugin: absent"
    fi
    if command -v docker-compose >/dev/null; then
        echo "docker-compose: $(docker-compose version --short 2>&1)"
    fi
}

install_packages
start_dockerd
wait_for_engine
print_versions
