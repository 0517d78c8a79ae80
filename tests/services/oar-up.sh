#!/usr/bin/env bash
# oar-up.sh -- bring up a real one-node OAR 2.5 cluster on this machine for xpmbuild's tests:
# a private PostgreSQL instance (in the state directory), the OAR node's sshd (127.0.0.1:6667,
# OAR launches jobs through it) and the OAR server, Almighty (port 6666).
#
#   eval "$(bash tests/services/oar-up.sh)"   # stdout: `export K=V` lines only, logs on stderr
#   su - "$XPM_OAR_USER" -c "cd /some/dir && oarsub -l /resource_id=1,walltime=0:10:00 'echo hi'"
#   bash tests/services/oar-down.sh
#
# OAR refuses jobs from root (and from oar): jobs are submitted as a test user, created when
# missing. OAR reads the fixed file /etc/oar/oar.conf, which this script edits (the packaged one
# is kept as /etc/oar/oar.conf.xpm-orig). The cpuset (cgroup) feature is switched off.
# Needs root and apt (Debian bookworm: OAR 2.5.9); no systemd. Idempotent (daemons are checked by
# their recorded pids); concurrent runs are serialised with flock.
#
# Settings (environment, all optional):
#   XPM_OAR_DIR      state directory                                [/tmp/xpmbuild-services/oar]
#   XPM_OAR_USER     job submitter, created when missing                               [xpmtest]
#   XPM_OAR_PG_PORT  PostgreSQL port on 127.0.0.1                                        [16432]
#   XPM_OAR_CORES    number of OAR resources (one per core) when first created          [nproc]
#   XPM_OAR_PROBE    1 = after starting the server, run one job as XPM_OAR_USER and wait for it [1]
#   XPM_OAR_TIMEOUT  seconds to wait for the probe job                                     [120]
#   XPM_OAR_FRESH    1 = stop everything and wipe the state directory first                  [0]
set -euo pipefail
umask 022

DIR=${XPM_OAR_DIR:-/tmp/xpmbuild-services/oar}
SUBMITTER=${XPM_OAR_USER:-xpmtest}
PG_PORT=${XPM_OAR_PG_PORT:-16432}
CORES=${XPM_OAR_CORES:-$(nproc)}
TIMEOUT=${XPM_OAR_TIMEOUT:-120}
SERVER_PORT=6666 # OAR's fixed defaults (Almighty listens on every address)
NODE_SSH_PORT=6667
CONF=/etc/oar/oar.conf
SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { printf '[oar-up %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
running() {
    local pid
    pid=$(head -n1 "$1" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]]
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
poll() {
    local secs=$1 what=$2 n
    shift 2
    for ((n = 0; n < secs * 5; n++)); do
        "$@" && return 0
        sleep 0.2
    done
    fail "gave up after ${secs}s waiting for $what"
}

install_packages() {
    local missing=()
    command -v oarsub >/dev/null || missing+=(oar-user oar-user-pgsql)
    [[ -x /usr/sbin/Almighty ]] || missing+=(oar-server oar-server-pgsql)
    [[ -f /etc/oar/sshd_config ]] || missing+=(oar-node)
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
    command -v psql >/dev/null || missing+=(postgresql-client)
    [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
    command -v ssh >/dev/null || missing+=(openssh-client)
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null || fail "missing ${missing[*]} and there is no apt-get"
    say "installing ${missing[*]} (apt-get; a few minutes)"
    local aptlog=$DIR/log/apt.log policy_tmp=0 rc=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then # no daemons started by the packages themselves
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_tmp=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
        >"$aptlog" 2>&1 9>&- || rc=$?
    ((policy_tmp)) && rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || { tail -n 25 "$aptlog" >&2; fail "apt-get install ${missing[*]} (log: $aptlog)"; }
    command -v oarsub >/dev/null && [[ -x /usr/sbin/Almighty ]] || fail "OAR still missing after apt-get"
}

start_postgres() {
    running "$DIR/pg/data/postmaster.pid" postgres && return 0
    if [[ ! -s $DIR/pg/data/PG_VERSION ]]; then
        say "initdb $DIR/pg/data"
        runuser -u postgres -- "$PG_BIN/initdb" -D "$DIR/pg/data" -A trust -U postgres \
            >"$DIR/log/initdb.log" 2>&1 9>&- || { tail "$DIR/log/initdb.log" >&2; fail "initdb"; }
    fi
    ! listening "$PG_PORT" || fail "port $PG_PORT (PostgreSQL) is already used by another program"
    say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$DIR/pg/data" -l "$DIR/log/postgres.log" -w -t 60 \
        -o "-p $PG_PORT -k $DIR/pg/run -c listen_addresses=127.0.0.1" start </dev/null >/dev/null 2>&1 9>&- ||
        { tail "$DIR/log/postgres.log" >&2; fail "PostgreSQL did not start"; }
}

configure_oar() {
    [[ -f $CONF.xpm-orig ]] || cp -p "$CONF" "$CONF.xpm-orig"
    set_key() { # set_key KEY VALUE: rewrite KEY="..." (commented out or not), else append it
        if grep -qE "^#?$1=" "$CONF"; then
            sed -i -E "s|^#?$1=.*|$1=\"$2\"|" "$CONF"
        else
            printf '%s="%s"\n' "$1" "$2" >>"$CONF"
        fi
    }
    set_key DB_HOSTNAME 127.0.0.1
    set_key DB_PORT "$PG_PORT"
    set_key DB_BASE_PASSWD xpmbuild
    set_key DB_BASE_PASSWD_RO xpmbuild-ro
    set_key SERVER_HOSTNAME 127.0.0.1
    set_key SERVER_PORT "$SERVER_PORT"
    set_key LOG_FILE "$DIR/log/oar.log"
    set_key OPENSSH_CMD "/usr/bin/ssh -p $NODE_SSH_PORT -e none"
    # Almighty runs the scheduler at most every 5 s by default, and a job submitted "too early"
    # then waits for its next wake-up, up to 10 s later; 0 lets every submission or job end
    # run the scheduler at once (jobs start within ~2 s)
    set_key SCHEDULER_MIN_TIME_BETWEEN_2_CALLS 0
    sed -i -E 's|^CPUSET_PATH=|#CPUSET_PATH=|' "$CONF" # no cpuset/cgroup confinement of jobs
    chown oar:root "$CONF"
    chmod 600 "$CONF" # the daemons read it as user oar
}

create_database() {
    local has
    has=$(runuser -u postgres -- psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc \
        "select 1 from pg_database where datname='oar'" 2>/dev/null) || true
    [[ $has == 1 ]] && return 0
    say "creating the OAR database"
    oar-database --create --db-host=127.0.0.1 --db-port="$PG_PORT" --db-admin-user=postgres \
        --db-admin-pass=unused -y >"$DIR/log/oar-database.log" 2>&1 9>&- ||
        { tail "$DIR/log/oar-database.log" >&2; fail "oar-database --create"; }
}

start_node_sshd() {
    running "$DIR/run/node-sshd.pid" sshd && return 0
    mkdir -p /run/sshd && chmod 755 /run/sshd
    # the packaged /etc/oar/sshd_config (user oar, its keys), made to listen on loopback only
    grep -vE '^[[:space:]]*(Port|ListenAddress|PidFile|UsePrivilegeSeparation|XAuthLocation|SyslogFacility)\b' \
        /etc/oar/sshd_config >"$DIR/node-sshd_config"
    printf 'Port %s\nListenAddress 127.0.0.1\nPidFile %s\n' "$NODE_SSH_PORT" "$DIR/run/node-sshd.pid" \
        >>"$DIR/node-sshd_config"
    ! listening "$NODE_SSH_PORT" || fail "port $NODE_SSH_PORT (OAR node sshd) is already used by another program"
    say "starting the OAR node sshd on 127.0.0.1:$NODE_SSH_PORT"
    /usr/sbin/sshd -f "$DIR/node-sshd_config" -E "$DIR/log/node-sshd.log" </dev/null >/dev/null 2>&1 9>&- ||
        { tail "$DIR/log/node-sshd.log" >&2; fail "the OAR node sshd did not start"; }
    poll 10 "the OAR node sshd" listening "$NODE_SSH_PORT"
}

start_server() {
    STARTED_SERVER=0
    running "$DIR/run/almighty.pid" Almighty && return 0
    ! listening "$SERVER_PORT" || fail "port $SERVER_PORT is already used (another OAR server, not ours?)"
    say "starting the OAR server (Almighty) on port $SERVER_PORT"
    rm -f /var/run/oar-server.pid
    /usr/sbin/oar-server </dev/null >"$DIR/log/oar-server.out" 2>&1 9>&- ||
        { cat "$DIR/log/oar-server.out" >&2; fail "oar-server did not start"; }
    poll 20 "/var/run/oar-server.pid" test -s /var/run/oar-server.pid
    cp /var/run/oar-server.pid "$DIR/run/almighty.pid"
    poll 30 "Almighty on port $SERVER_PORT (log: $DIR/log/oar.log)" listening "$SERVER_PORT"
    STARTED_SERVER=1
}

add_resources() {
    # OAR 2.5 knows only network_address (alias `nodes`) and resource_id out of the box; define
    # host, cpu and core too, so that the usual requests (-l /nodes=1/core=2, -l core=1,
    # -l /host=1/cpu=1/core=1) are accepted: one cpu with CORES cores on host localhost
    local props new_props=0 c
    props=$(oarproperty -l 2>/dev/null) || fail "oarproperty -l"
    grep -qx host <<<"$props" || { oarproperty -a host -c >/dev/null && new_props=1; }
    grep -qx cpu <<<"$props" || { oarproperty -a cpu >/dev/null && new_props=1; }
    grep -qx core <<<"$props" || { oarproperty -a core >/dev/null && new_props=1; }
    if [[ -z $(oarnodes -s 2>/dev/null) ]]; then
        say "adding $CORES resources (cores) on node localhost"
        for ((c = 0; c < CORES; c++)); do
            oarnodesetting -a -h localhost -p host=localhost -p cpu=1 -p core=$((c + 1)) -p cpuset=$c >/dev/null
        done
    elif ((new_props)); then # resources made before the properties existed
        for c in $(oarnodes -s 2>/dev/null | sed -n 's/^ *\([0-9][0-9]*\) : .*/\1/p'); do
            oarnodesetting -r "$c" -p host=localhost -p cpu=1 -p core="$c" >/dev/null
        done
    fi
    oarnodesetting -s Alive -h localhost >/dev/null 2>&1 || true
}

probe() {
    local out job
    out=$(su - "$SUBMITTER" -c "cd /tmp && oarsub -n xpm-probe -l /resource_id=1,walltime=0:05:00 true" 2>&1) ||
        { echo "$out" >&2; fail "oarsub of the probe job as $SUBMITTER"; }
    job=$(sed -n 's/^OAR_JOB_ID=//p' <<<"$out")
    [[ $job =~ ^[0-9]+$ ]] || { echo "$out" >&2; fail "no OAR_JOB_ID from oarsub"; }
    probe_done() {
        local st
        st=$(oarstat -s -j "$job" 2>/dev/null | sed -n "s/^$job: //p")
        [[ $st == Error ]] && fail "probe job $job ended in Error (log: $DIR/log/oar.log)"
        [[ $st == Terminated ]]
    }
    poll "$TIMEOUT" "probe job $job (log: $DIR/log/oar.log)" probe_done
    say "probe job $job Terminated"
}

# ------------------------------------------------------------------------------------ main
[[ $(id -u) == 0 ]] || fail "must be run as root"
mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock -w 900 9 || fail "another oar-up.sh holds $DIR.lock"

if [[ ${XPM_OAR_FRESH:-0} == 1 && -d $DIR ]]; then
    say "XPM_OAR_FRESH=1: stopping and wiping $DIR"
    XPM_OAR_DIR=$DIR XPM_OAR_PURGE=1 bash "$SELF_DIR/oar-down.sh" >&2 9>&- || true
fi
mkdir -p "$DIR/log" "$DIR/run"
chmod 755 "$DIR"
install_packages
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)

if ! id "$SUBMITTER" >/dev/null 2>&1; then
    say "creating user $SUBMITTER"
    useradd -m -s /bin/bash "$SUBMITTER"
fi
install -d -o postgres -g postgres "$DIR/pg" "$DIR/pg/run"
touch "$DIR/log/oar.log" "$DIR/log/postgres.log"
chown oar "$DIR/log/oar.log"
chown postgres "$DIR/log/postgres.log"

start_postgres
configure_oar
create_database
start_node_sshd
start_server
add_resources
if [[ $STARTED_SERVER == 1 && ${XPM_OAR_PROBE:-1} == 1 ]]; then probe; fi
say "OAR ready: $(oarnodes -s 2>/dev/null | grep -c Alive || true) Alive resource(s); submit as $SUBMITTER"

cat <<EOF
export XPM_OAR_DIR=$DIR
export XPM_OAR_USER=$SUBMITTER
export XPM_OAR_NODE=localhost
export XPM_OAR_LOG=$DIR/log/oar.log
EOF
