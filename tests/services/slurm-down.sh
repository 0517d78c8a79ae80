#!/usr/bin/env bash
# slurm-down.sh -- stop the cluster that slurm-up.sh started: cancel its jobs, then stop slurmd,
# slurmctld, slurmdbd, MariaDB and munged through the pid files in the state directory (never
# by process name). Does nothing, successfully, when nothing runs.
#   XPM_SLURM_DIR    state directory                  [/tmp/xpmbuild-services/slurm]
#   XPM_SLURM_PURGE  1 = also delete the state directory (jobs, accounting database)  [0]
set -uo pipefail
DIR=${XPM_SLURM_DIR:-/tmp/xpmbuild-services/slurm}

say() { printf '[slurm-down %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
running() {
    local pid
    pid=$(head -n1 "$1" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]]
}
# halt PIDFILE NAME: SIGTERM, wait up to 20 s, then SIGKILL
halt() {
    running "$1" "$2" || return 0
    local pid n
    pid=$(head -n1 "$1")
    say "stopping $2 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null
    for ((n = 0; n < 100; n++)); do
        [[ -e /proc/$pid ]] || return 0
        sleep 0.2
    done
    say "$2 (pid $pid) ignored SIGTERM for 20 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
}

if [[ -s $DIR/slurm.conf ]] && running "$DIR/run/slurmctld.pid" slurmctld; then
    export SLURM_CONF=$DIR/slurm.conf
    jobs=$(squeue -h -t PD,R,CG,S,CF -o %A 2>/dev/null | sort -u | tr '\n' ' ')
    if [[ -n ${jobs// /} ]]; then
        say "cancelling jobs $jobs"
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null
        for ((n = 0; n < 100; n++)); do
            [[ -z $(squeue -h -t R,CG -o %A 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
fi

halt "$DIR/run/slurmd.pid" slurmd
halt "$DIR/run/slurmctld.pid" slurmctld
halt "$DIR/run/slurmdbd.pid" slurmdbd
halt "$DIR/run/mariadbd.pid" mariadbd
halt "$DIR/run/munged.pid" munged

if [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$DIR/slurm.conf" ]]; then
    rm -f /etc/slurm/slurm.conf
fi
if [[ ${XPM_SLURM_PURGE:-0} == 1 ]]; then
    say "deleting $DIR"
    rm -rf "$DIR"
fi
exit 0
