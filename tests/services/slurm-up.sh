#!/usr/bin/env bash
# slurm-up.sh -- bring up a real one-node Slurm cluster on this machine for xpmbuild's tests.
#
#   eval "$(bash tests/services/slurm-up.sh)"   # stdout: `export K=V` lines only, logs on stderr
#   bash tests/services/slurm-down.sh
#
# Daemons: munged, MariaDB + slurmdbd (so that `sacct` works), slurmctld, slurmd; all of their
# state, logs and pid files live in one directory. Packages come from Debian (bookworm: Slurm
# 22.05) and are installed with apt-get when missing. Needs root; uses neither systemd nor
# cgroups. Idempotent: a daemon whose recorded pid is still alive is left alone, so a second
# run only checks and prints the exports. Concurrent runs are serialised with flock.
#
# Settings (environment, all optional):
#   XPM_SLURM_DIR         state directory                        [/tmp/xpmbuild-services/slurm]
#   XPM_SLURM_PORT_BASE   slurmctld port; slurmd +1, slurmdbd +2, MariaDB +3         [16817]
#   XPM_SLURM_PARTITION   partition name                                             [debug]
#   XPM_SLURM_NODE        node name                                      [hostname -s]
#   XPM_SLURM_CPUS        CPUs the node announces (may exceed the real count)   [real count]
#   XPM_SLURM_ACCOUNTING  1 = MariaDB + slurmdbd (sacct works), 0 = none              [1]
#   XPM_SLURM_CGROUP      1 = confine jobs with cgroup v1 (task/cgroup): a job over its --mem
#                         is killed by the kernel and ends OUT_OF_MEMORY; 0 = no cgroups:
#                         the accounting poller kills it and it ends FAILED, ExitCode 0:9;
#                         auto = 1 when a writable cgroup v1 memory+freezer hierarchy is
#                         mounted under /sys/fs/cgroup (Slurm 22.05 needs systemd for v2) [auto]
#   XPM_SLURM_SYSTEM_CONF 1 = symlink /etc/slurm/slurm.conf to ours, so that commands work
#                         without SLURM_CONF (e.g. in an ssh session)                 [1]
#   XPM_SLURM_PROBE       1 = after starting slurmctld, run one tiny job and wait for it
#                         (the scheduler's first pass is slow; later jobs start at once) [1]
#   XPM_SLURM_TIMEOUT     seconds to wait for the node / the probe job                 [120]
#   XPM_SLURM_FRESH       1 = stop everything and wipe the state directory first       [0]
set -euo pipefail
umask 022

DIR=${XPM_SLURM_DIR:-/tmp/xpmbuild-services/slurm}
PORT_BASE=${XPM_SLURM_PORT_BASE:-16817}
PARTITION=${XPM_SLURM_PARTITION:-debug}
NODE=${XPM_SLURM_NODE:-$(hostname -s)}
ACCOUNTING=${XPM_SLURM_ACCOUNTING:-1}
SYSTEM_CONF=${XPM_SLURM_SYSTEM_CONF:-1}
CGROUP=${XPM_SLURM_CGROUP:-auto}
TIMEOUT=${XPM_SLURM_TIMEOUT:-120}
CLUSTER=xpmbuild
CTLD_PORT=$PORT_BASE
SLURMD_PORT=$((PORT_BASE + 1))
DBD_PORT=$((PORT_BASE + 2))
DB_PORT=$((PORT_BASE + 3))
MUNGE_SOCKET=$DIR/run/munge.socket
SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { printf '[slurm-up %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
# running PIDFILE NAME -> the pid recorded in PIDFILE is a live process called NAME
running() {
    local pid
    pid=$(head -n1 "$1" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]]
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# poll SECONDS WHAT COMMAND...: retry COMMAND every 0.2 s until it succeeds
poll() {
    local secs=$1 what=$2 n
    shift 2
    for ((n = 0; n < secs * 5; n++)); do
        "$@" && return 0
        sleep 0.2
    done
    fail "gave up after ${secs}s waiting for $what"
}
# port_free PORT WHAT: refuse to start a daemon on a port some other program holds
port_free() { ! listening "$1" || fail "port $1 (for $2) is already used by another program"; }

install_packages() {
    local missing=() pkg
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    if [[ $ACCOUNTING == 1 ]]; then
        command -v slurmdbd >/dev/null || missing+=(slurmdbd)
        command -v mariadbd >/dev/null || missing+=(mariadb-server)
    fi
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null || fail "missing ${missing[*]} and there is no apt-get"
    say "installing ${missing[*]} (apt-get; a few minutes)"
    local aptlog=$DIR/log/apt.log policy_tmp=0
    # keep the packages' maintainer scripts from starting daemons of their own
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_tmp=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    {
        apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"
    } >"$aptlog" 2>&1 9>&- || {
        ((policy_tmp)) && rm -f /usr/sbin/policy-rc.d
        tail -n 25 "$aptlog" >&2
        fail "apt-get install ${missing[*]} (log: $aptlog)"
    }
    ((policy_tmp)) && rm -f /usr/sbin/policy-rc.d
    for pkg in munged slurmctld slurmd sbatch; do command -v $pkg >/dev/null || fail "$pkg still missing"; done
}

# cgroup_v1_usable: memory and freezer controllers mounted as cgroup v1, and we may create groups
cgroup_v1_usable() {
    local c probe
    for c in memory freezer; do
        [[ $(stat -f -c %T "/sys/fs/cgroup/$c" 2>/dev/null) == cgroupfs ]] || return 1
        probe=/sys/fs/cgroup/$c/xpmbuild-probe-$$
        mkdir "$probe" 2>/dev/null && rmdir "$probe" || return 1
    done
    [[ -e /sys/fs/cgroup/memory/memory.limit_in_bytes ]]
}

any_daemon_running() {
    running "$DIR/run/munged.pid" munged || running "$DIR/run/slurmctld.pid" slurmctld ||
        running "$DIR/run/slurmd.pid" slurmd || running "$DIR/run/slurmdbd.pid" slurmdbd ||
        running "$DIR/run/mariadbd.pid" mariadbd
}

write_config() {
    # what slurmd detects: "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2
    # ThreadsPerCore=1 RealMemory=24105"; announcing more memory than that would drain the node
    local hw cpus mem hwline override=""
    hw=$(slurmd -C 2>/dev/null | head -n1)
    field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$hw"; }
    cpus=$(field CPUs)
    mem=$(($(field RealMemory) * 9 / 10))
    [[ -n $cpus && $mem -gt 0 ]] || fail "cannot read the hardware from 'slurmd -C': $hw"
    hwline="CPUs=$cpus Boards=1 SocketsPerBoard=$(field SocketsPerBoard) CoresPerSocket=$(field CoresPerSocket) ThreadsPerCore=$(field ThreadsPerCore)"
    if [[ -n ${XPM_SLURM_CPUS:-} && ${XPM_SLURM_CPUS} != "$cpus" ]]; then
        hwline="CPUs=$XPM_SLURM_CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$XPM_SLURM_CPUS ThreadsPerCore=1"
        override="SlurmdParameters=config_overrides"
    fi
    local tracking
    if [[ $CGROUP == 1 ]]; then
        tracking="# jobs run in cgroups (v1): a job over its memory is killed by the kernel's OOM killer
# and ends OUT_OF_MEMORY (see cgroup.conf)
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=5"
        cat >"$DIR/cgroup.conf" <<EOF
# written by xpmbuild tests/services/slurm-up.sh
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainRAMSpace=yes
ConstrainSwapSpace=no
ConstrainCores=no
ConstrainDevices=no
EOF
    else
        tracking="# no cgroups: processes are tracked through /proc, tasks are not bound; --mem is
# enforced by the accounting poller (every 2 s), which kills the step: FAILED, ExitCode 0:9
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=2
JobAcctGatherParams=OverMemoryKill"
        rm -f "$DIR/cgroup.conf"
    fi
    local accounting="AccountingStorageType=accounting_storage/none"
    if [[ $ACCOUNTING == 1 ]]; then
        # AccountingStoragePass names the munge socket used for the slurmdbd connection
        # (AuthInfo does not apply to it)
        accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$MUNGE_SOCKET"
    fi
    cat >"$DIR/slurm.conf" <<EOF
# written by xpmbuild tests/services/slurm-up.sh: one node, no systemd
ClusterName=$CLUSTER
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
$tracking
$accounting
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5,batch_sched_delay=0,sched_min_interval=100000
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# a job without --mem gets this much per CPU, and that is a hard limit
DefMemPerCPU=2048
ReturnToService=2
# finished jobs stay visible to squeue/scontrol for an hour
MinJobAge=3600
# a dependency that can never be satisfied cancels the job instead of leaving it pending
DependencyParameters=kill_invalid_depend
KillWait=5
OverTimeLimit=0
InactiveLimit=0
$override
NodeName=$NODE NodeAddr=127.0.0.1 $hwline RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    if [[ $ACCOUNTING == 1 ]]; then
        cat >"$DIR/slurmdbd.conf" <<EOF
# written by xpmbuild tests/services/slurm-up.sh
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=xpmbuild
StorageLoc=slurm_acct_db
EOF
        chmod 600 "$DIR/slurmdbd.conf" # slurmdbd refuses a world-readable one
    else
        rm -f "$DIR/slurmdbd.conf"
    fi
}

start_munged() {
    running "$DIR/run/munged.pid" munged && return 0
    if [[ ! -s $DIR/munge/munge.key ]]; then
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
        chmod 600 "$DIR/munge/munge.key"
    fi
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    say "starting munged"
    munged --force --num-threads=4 --key-file="$DIR/munge/munge.key" --socket="$MUNGE_SOCKET" \
        --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
        --seed-file="$DIR/munge/munged.seed" </dev/null >"$DIR/log/munged.out" 2>&1 9>&- ||
        { cat "$DIR/log/munged.out" >&2; fail "munged did not start"; }
}
munge_works() { munge -S "$MUNGE_SOCKET" -n </dev/null 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; }

start_database() {
    local data=$DIR/mysql
    if ! running "$DIR/run/mariadbd.pid" mariadbd; then
        if [[ ! -d $data/mysql ]]; then
            say "creating the MariaDB data directory"
            mariadb-install-db --no-defaults --datadir="$data" --user=root --skip-test-db \
                --auth-root-authentication-method=socket >"$DIR/log/mariadb-install.log" 2>&1 9>&- ||
                { tail "$DIR/log/mariadb-install.log" >&2; fail "mariadb-install-db"; }
        fi
        port_free "$DB_PORT" MariaDB
        rm -f "$DIR/run/mariadbd.sock"
        say "starting MariaDB on 127.0.0.1:$DB_PORT"
        setsid mariadbd --no-defaults --user=root --datadir="$data" --bind-address=127.0.0.1 \
            --port="$DB_PORT" --socket="$DIR/run/mariadbd.sock" --pid-file="$DIR/run/mariadbd.pid" \
            --log-error="$DIR/log/mariadbd.log" --skip-name-resolve --innodb-buffer-pool-size=128M \
            --innodb-log-file-size=64M --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 9>&- &
        poll 60 "MariaDB (log: $DIR/log/mariadbd.log)" running "$DIR/run/mariadbd.pid" mariadbd
        poll 60 "the MariaDB socket" test -S "$DIR/run/mariadbd.sock"
    fi
    mariadb --no-defaults -S "$DIR/run/mariadbd.sock" -u root -e "
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'xpmbuild';
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'xpmbuild';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" ||
        fail "cannot create the MariaDB user for slurmdbd"
}

start_slurmdbd() {
    if ! running "$DIR/run/slurmdbd.pid" slurmdbd; then
        port_free "$DBD_PORT" slurmdbd
        say "starting slurmdbd on 127.0.0.1:$DBD_PORT"
        SLURM_CONF=$DIR/slurm.conf slurmdbd </dev/null >"$DIR/log/slurmdbd.out" 2>&1 9>&- ||
            { cat "$DIR/log/slurmdbd.out" >&2; fail "slurmdbd did not start"; }
        poll 60 "slurmdbd on port $DBD_PORT (log: $DIR/log/slurmdbd.log)" listening "$DBD_PORT"
    fi
    # slurmctld would register the cluster itself, but only once it has talked to slurmdbd
    if ! sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || say "warning: sacctmgr add cluster failed"
    fi
}

controller_up() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_ready() {
    local state
    state=$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1)
    case $state in
        idle | mixed | allocated | completing) return 0 ;;
        down* | drain* | fail*)
            scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
            return 1
            ;;
        *) return 1 ;;
    esac
}

start_slurm() {
    STARTED_CTLD=0
    if ! running "$DIR/run/slurmctld.pid" slurmctld; then
        port_free "$CTLD_PORT" slurmctld
        say "starting slurmctld on 127.0.0.1:$CTLD_PORT"
        slurmctld </dev/null >"$DIR/log/slurmctld.out" 2>&1 9>&- ||
            { cat "$DIR/log/slurmctld.out" >&2; fail "slurmctld did not start"; }
        poll 30 "slurmctld (log: $DIR/log/slurmctld.log)" controller_up
        STARTED_CTLD=1
    fi
    if ! running "$DIR/run/slurmd.pid" slurmd; then
        port_free "$SLURMD_PORT" slurmd
        say "starting slurmd for node $NODE"
        slurmd -N "$NODE" </dev/null >"$DIR/log/slurmd.out" 2>&1 9>&- ||
            { cat "$DIR/log/slurmd.out" >&2; fail "slurmd did not start"; }
    fi
    poll "$TIMEOUT" "node $NODE to become idle (logs: $DIR/log/)" node_ready
}

probe() {
    local job
    job=$(cd /tmp && sbatch --parsable -J xpm-probe -p "$PARTITION" -o /dev/null --wrap true) ||
        fail "sbatch of the probe job failed"
    probe_done() { [[ "$(squeue -h -t all -j "$job" -o %T 2>/dev/null)" == COMPLETED ]]; }
    poll "$TIMEOUT" "probe job $job (log: $DIR/log/slurmctld.log)" probe_done
    say "probe job $job completed"
}

# ------------------------------------------------------------------------------------ main
[[ $(id -u) == 0 ]] || fail "must be run as root"
mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock -w 900 9 || fail "another slurm-up.sh holds $DIR.lock"

if [[ ${XPM_SLURM_FRESH:-0} == 1 && -d $DIR ]]; then
    say "XPM_SLURM_FRESH=1: stopping and wiping $DIR"
    XPM_SLURM_DIR=$DIR XPM_SLURM_PURGE=1 bash "$SELF_DIR/slurm-down.sh" >&2 9>&- || true
fi

mkdir -p "$DIR"/{log,run,state,spool}
install -d -m 700 "$DIR/munge"
chmod 755 "$DIR" "$DIR/run"
install_packages

# while a daemon still runs, its configuration is kept (only the settings it fixes are read back)
if any_daemon_running && [[ -s $DIR/slurm.conf ]]; then
    grep -q '^AccountingStorageType=accounting_storage/slurmdbd' "$DIR/slurm.conf" && ACCOUNTING=1 || ACCOUNTING=0
    NODE=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' "$DIR/slurm.conf")
    PARTITION=$(sed -n 's/^PartitionName=\([^ ]*\).*/\1/p' "$DIR/slurm.conf")
    CTLD_PORT=$(sed -n 's/^SlurmctldPort=//p' "$DIR/slurm.conf")
    grep -q '^ProctrackType=proctrack/cgroup' "$DIR/slurm.conf" && CGROUP=1 || CGROUP=0
    SLURMD_PORT=$((CTLD_PORT + 1)) DBD_PORT=$((CTLD_PORT + 2)) DB_PORT=$((CTLD_PORT + 3))
else
    if [[ $CGROUP == auto ]]; then cgroup_v1_usable && CGROUP=1 || CGROUP=0; fi
    write_config
fi
export SLURM_CONF=$DIR/slurm.conf

if [[ $SYSTEM_CONF == 1 ]]; then
    mkdir -p /etc/slurm
    if [[ -L /etc/slurm/slurm.conf || ! -e /etc/slurm/slurm.conf ]]; then
        ln -sfn "$DIR/slurm.conf" /etc/slurm/slurm.conf
    else
        say "warning: /etc/slurm/slurm.conf is a real file; left alone (commands need SLURM_CONF)"
    fi
fi

start_munged
poll 15 "munged (log: $DIR/log/munged.log)" munge_works
if [[ $ACCOUNTING == 1 ]]; then
    start_database
    start_slurmdbd
fi
start_slurm
say "node $NODE is $(sinfo -h -N -n "$NODE" -o %T)"
if [[ $STARTED_CTLD == 1 && ${XPM_SLURM_PROBE:-1} == 1 ]]; then probe; fi

cat <<EOF
export SLURM_CONF=$DIR/slurm.conf
export XPM_SLURM_DIR=$DIR
export XPM_SLURM_PARTITION=$PARTITION
export XPM_SLURM_NODE=$NODE
export XPM_SLURM_ACCOUNTING=$ACCOUNTING
export XPM_SLURM_CGROUP=$CGROUP
export XPM_SLURM_JOBCOMP=$DIR/log/jobcomp.txt
EOF
