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
# chaoslab builds its images locally (chaos/live/stack/images.py).
set -euo pipefail

WAIT_SECONDS="${CHAOSLAB_DOCKER_WAIT:-60}"
DOCKERD_LOG="${CHAOSLAB_DOCKERD_LOG:-/var/log/chaoslab-dockerd.log}"
# Debian's client matches Debian's engine; a newer client earlier on PATH
# (e.g. /usr/local/bin/docker 28.x) negotiates the API version down and works
# too, but the script should not depend on it.
DOCKER_CLI=/usr/bin/docker
PACKAGES=(docker.io docker-compose)
STARTED_DOCKERD=0

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
    local missing=() created_policy=0 rc=0
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]} == 0)); then
        log "packages already installed: ${PACKAGES[*]}"
        return
    fi
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } || rc=$?
    if [[ $created_policy == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
    [[ $rc == 0 ]] || die "apt-get failed (exit $rc)"
}

engine_answers() {
    timeout 10 "$DOCKER_CLI" info >/dev/null 2>&1
}

# True if PID is a live (not zombie) process named COMM. Reads /proc directly
# (procps may be absent). A process killed with -9 can linger as a zombie, and
# a zombie still answers kill -0, which is all dockerd checks.
pid_is_live() {
    local pid=$1 comm=$2 _pid name state _rest
    { read -r _pid name state _rest <"/proc/$pid/stat"; } 2>/dev/null || return 1
    [[ "$name" == "($comm)" && "$state" != Z ]]
}

live_dockerd_pid() {
    local stat pid
    for stat in /proc/[0-9]*/stat; do
        pid="${stat#/proc/}"
        pid="${pid%/stat}"
        if pid_is_live "$pid" dockerd; then
            echo "$pid"
            return 0
        fi
    done
    return 1
}

# dockerd refuses to start while its pid file names a live pid, and does not
# start its own containerd while containerd's pid file does; after a kill -9
# both may name zombies (or, later, unrelated processes).
remove_stale_pid_file() {
    local file=$1 comm=$2 pid
    [[ -e "$file" ]] || return 0
    pid="$(cat "$file" 2>/dev/null || true)"
    if [[ -z "$pid" ]] || ! pid_is_live "$pid" "$comm"; then
        log "removing stale $file (pid ${pid:-none} is not a live $comm)"
        rm -f "$file"
    fi
}

launch_dockerd() {
    remove_stale_pid_file /var/run/docker.pid dockerd
    remove_stale_pid_file /var/run/docker/containerd/containerd.pid containerd
    log "starting dockerd --iptables=false (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    # setsid: the daemon must outlive this script and its process group.
    setsid nohup dockerd --iptables=false >>"$DOCKERD_LOG" 2>&1 </dev/null &
    STARTED_DOCKERD=1
}

start_dockerd() {
    local pid
    if engine_answers; then
        log "an engine already answers; not starting dockerd"
    elif pid="$(live_dockerd_pid)"; then
        log "dockerd (pid $pid) is running but not answering yet; waiting for it instead of starting another"
    else
        launch_dockerd
    fi
}

fail_with_log() {
    log "last lines of $DOCKERD_LOG:"
    tail -n 30 "$DOCKERD_LOG" >&2 || true
    die "$1"
}

wait_for_engine() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    until engine_answers; do
        ((SECONDS < deadline)) || fail_with_log "Docker engine did not answer within ${WAIT_SECONDS}s"
        if ! live_dockerd_pid >/dev/null; then
            # The dockerd we waited for died (or was a zombie): start one, once.
            [[ $STARTED_DOCKERD == 0 ]] || fail_with_log "dockerd exited; see $DOCKERD_LOG"
            launch_dockerd
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
