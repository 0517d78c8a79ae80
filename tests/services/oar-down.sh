#!/usr/bin/env bash
# oar-down.sh -- stop what oar-up.sh started, through the pids it recorded (never by process
# name): delete the unfinished jobs, stop Almighty (with its process group), the OAR node sshd and
# PostgreSQL. Does nothing, successfully, when nothing runs.
#   XPM_OAR_DIR    state directory                                 [/tmp/xpmbuild-services/oar]
#   XPM_OAR_PURGE  1 = also delete the state directory and restore /etc/oar/oar.conf        [0]
set -uo pipefail
DIR=${XPM_OAR_DIR:-/tmp/xpmbuild-services/oar}

say() { printf '[oar-down %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
running() {
    local pid
    pid=$(head -n1 "$1" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]]
}
gone() { # gone PID [TENTHS]: wait for PID to exit
    local n
    for ((n = 0; n < ${2:-150}; n++)); do
        [[ -e /proc/$1 ]] || return 0
        sleep 0.1
    done
    return 1
}
unfinished_jobs() { oarstat 2>/dev/null | awk '$1 ~ /^[0-9]+$/ {print $1}' | tr '\n' ' '; }

if running "$DIR/run/almighty.pid" Almighty; then
    jobs=$(unfinished_jobs)
    if [[ -n ${jobs// /} ]]; then
        say "deleting OAR jobs $jobs"
        # user oar is OAR's administrator: it may delete anybody's job (root may not)
        su oar -s /bin/sh -c "oardel $jobs" >/dev/null 2>&1
        for ((n = 0; n < 30; n++)); do
            [[ -z $(unfinished_jobs | tr -d ' ') ]] && break
            sleep 1
        done
    fi
    pid=$(head -n1 "$DIR/run/almighty.pid")
    pgid=$(awk '{print $5}' "/proc/$pid/stat") # oar-server runs Almighty in its own process group
    say "stopping Almighty (pid $pid, process group $pgid)"
    kill -TERM -- "-$pgid" 2>/dev/null || kill -TERM "$pid"
    gone "$pid" || kill -KILL -- "-$pgid" 2>/dev/null
fi
rm -f "$DIR/run/almighty.pid"

if running "$DIR/run/node-sshd.pid" sshd; then
    pid=$(head -n1 "$DIR/run/node-sshd.pid")
    say "stopping the OAR node sshd (pid $pid)"
    kill -TERM "$pid"
    gone "$pid" || kill -KILL "$pid"
fi

if running "$DIR/pg/data/postmaster.pid" postgres; then
    pid=$(head -n1 "$DIR/pg/data/postmaster.pid")
    say "stopping PostgreSQL (pid $pid, fast shutdown)"
    kill -INT "$pid"
    gone "$pid" 300 || kill -QUIT "$pid"
fi

if [[ ${XPM_OAR_PURGE:-0} == 1 ]]; then
    say "deleting $DIR, restoring /etc/oar/oar.conf"
    rm -rf "$DIR"
    if [[ -f /etc/oar/oar.conf.xpm-orig ]]; then cp -p /etc/oar/oar.conf.xpm-orig /etc/oar/oar.conf; fi
fi
exit 0
