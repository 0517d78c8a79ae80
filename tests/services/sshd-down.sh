#!/usr/bin/env bash
# sshd-down.sh -- stop the sshd that sshd-up.sh started, through the pid it recorded (never by
# process name). Open sessions end when their clients disconnect. Safe when nothing runs.
#   XPM_SSHD_DIR    state directory                              [/tmp/xpmbuild-services/sshd]
#   XPM_SSHD_PURGE  1 = also delete the state directory (keys, known_hosts)                 [0]
set -uo pipefail
DIR=${XPM_SSHD_DIR:-/tmp/xpmbuild-services/sshd}

say() { printf '[sshd-down %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
pid=$(head -n1 "$DIR/sshd.pid" 2>/dev/null) || pid=
if [[ $pid =~ ^[0-9]+$ && "$(cat "/proc/$pid/comm" 2>/dev/null)" == sshd ]]; then
    say "stopping sshd (pid $pid)"
    kill -TERM "$pid"
    for ((n = 0; n < 100; n++)); do
        [[ -e /proc/$pid ]] || break
        sleep 0.1
    done
    [[ -e /proc/$pid ]] && kill -KILL "$pid"
fi
rm -f "$DIR/sshd.pid"
if [[ ${XPM_SSHD_PURGE:-0} == 1 ]]; then
    say "deleting $DIR"
    rm -rf "$DIR"
fi
exit 0
