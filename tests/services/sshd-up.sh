#!/usr/bin/env bash
# sshd-up.sh -- bring up a real OpenSSH server on 127.0.0.1 for xpmbuild's tests: its own host
# key, a client key pair, known_hosts and an ssh_config with the host alias `xpm-sshd`, all in
# one state directory. Key authentication only; no PAM, no systemd.
#
#   eval "$(bash tests/services/sshd-up.sh)"   # stdout: `export K=V` lines only, logs on stderr
#   ssh -F "$XPM_SSHD_CONFIG" xpm-sshd echo ok
#   bash tests/services/sshd-down.sh
#
# Idempotent (an sshd whose recorded pid is alive is kept); concurrent runs are serialised.
# Settings (environment, all optional):
#   XPM_SSHD_DIR    state directory                              [/tmp/xpmbuild-services/sshd]
#   XPM_SSHD_PORT   port on 127.0.0.1                                                    [2222]
#   XPM_SSHD_USER   login user of the alias xpm-sshd; created if missing                 [root]
#   XPM_SSHD_USERS  more users allowed to log in with the same key (space separated), each
#                   created if missing and reachable as alias xpm-sshd-USER               []
#   XPM_SSHD_FRESH  1 = stop the server and wipe the state directory first                  [0]
set -euo pipefail
umask 022

DIR=${XPM_SSHD_DIR:-/tmp/xpmbuild-services/sshd}
PORT=${XPM_SSHD_PORT:-2222}
LOGIN=${XPM_SSHD_USER:-root}
HOST=127.0.0.1
SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { printf '[sshd-up %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
running() {
    local pid
    pid=$(head -n1 "$1" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]]
}
listening() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

[[ $(id -u) == 0 ]] || fail "must be run as root"
mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock -w 300 9 || fail "another sshd-up.sh holds $DIR.lock"

if [[ ${XPM_SSHD_FRESH:-0} == 1 && -d $DIR ]]; then
    say "XPM_SSHD_FRESH=1: stopping and wiping $DIR"
    XPM_SSHD_DIR=$DIR XPM_SSHD_PURGE=1 bash "$SELF_DIR/sshd-down.sh" >&2 9>&- || true
fi
mkdir -p "$DIR"
chmod 755 "$DIR"

# ------------------------------------------------------------------------------ packages
if [[ ! -x /usr/sbin/sshd ]] || ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
    command -v apt-get >/dev/null || fail "OpenSSH is missing and there is no apt-get"
    say "installing openssh-server openssh-client (apt-get)"
    policy_tmp=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then # no sshd of the package's own, please
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_tmp=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    rc=0
    { apt-get update -q && apt-get install -y -q --no-install-recommends openssh-server openssh-client; } \
        >"$DIR/apt.log" 2>&1 9>&- || rc=$?
    ((policy_tmp)) && rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || { tail -n 25 "$DIR/apt.log" >&2; fail "apt-get install openssh-server (log: $DIR/apt.log)"; }
fi

# ------------------------------------------------------------------------------ users
# shellcheck disable=SC2206
USERS=($LOGIN ${XPM_SSHD_USERS:-})
for u in "${USERS[@]}"; do
    if ! id "$u" >/dev/null 2>&1; then
        say "creating user $u"
        useradd -m -s /bin/bash "$u"
    fi
    # useradd leaves the password field '!' (locked); without PAM, sshd refuses locked accounts
    # even for key logins, so make it '*' (no password, not locked)
    case "$(getent shadow "$u" | cut -d: -f2)" in '!' | '!!' | '!*') usermod -p '*' "$u" ;; esac
done
LOGIN_HOME=$(getent passwd "$LOGIN" | cut -d: -f6)

# ------------------------------------------------------------------------------ keys, configs
[[ -s $DIR/host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C xpmbuild-test-host -f "$DIR/host_ed25519_key"
[[ -s $DIR/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C xpmbuild-test-client -f "$DIR/id_ed25519"
chmod 600 "$DIR/id_ed25519" "$DIR/host_ed25519_key"
install -m 644 "$DIR/id_ed25519.pub" "$DIR/authorized_keys" # sshd reads it as the login user
echo "[$HOST]:$PORT,[localhost]:$PORT $(cut -d' ' -f1,2 "$DIR/host_ed25519_key.pub")" >"$DIR/known_hosts"

{
    alias_block() { # alias_block ALIAS USER
        printf 'Host %s\n  HostName %s\n  Port %s\n  User %s\n' "$1" "$HOST" "$PORT" "$2"
        printf '  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n' "$DIR/id_ed25519" "$DIR/known_hosts"
        printf '  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n'
    }
    echo "# written by xpmbuild tests/services/sshd-up.sh -- use: ssh -F $DIR/ssh_config xpm-sshd"
    alias_block xpm-sshd "$LOGIN"
    for u in "${USERS[@]}"; do alias_block "xpm-sshd-$u" "$u"; done
} >"$DIR/ssh_config"

cat >"$DIR/sshd_config.new" <<EOF
# written by xpmbuild tests/services/sshd-up.sh: loopback only, public keys only
Port $PORT
ListenAddress $HOST
HostKey $DIR/host_ed25519_key
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers ${USERS[*]}
# the state directory is under /tmp (mode 1777), which StrictModes would reject
StrictModes no
UsePAM no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
AcceptEnv LANG LC_* SLURM_CONF XPM_*
MaxSessions 100
MaxStartups 100:30:200
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOF
mkdir -p /run/sshd && chmod 755 /run/sshd # privilege separation dir, normally made at boot
/usr/sbin/sshd -t -f "$DIR/sshd_config.new" || fail "sshd -t rejects $DIR/sshd_config.new"
if running "$DIR/sshd.pid" sshd; then
    # a running server is kept; when its settings changed (users, port) it re-reads them
    if ! cmp -s "$DIR/sshd_config.new" "$DIR/sshd_config"; then
        mv "$DIR/sshd_config.new" "$DIR/sshd_config"
        say "settings changed: sshd (pid $(head -n1 "$DIR/sshd.pid")) re-reads $DIR/sshd_config"
        kill -HUP "$(head -n1 "$DIR/sshd.pid")"
        sleep 0.5
    fi
    rm -f "$DIR/sshd_config.new"
else
    mv "$DIR/sshd_config.new" "$DIR/sshd_config"
    ! listening "$PORT" || fail "port $HOST:$PORT is already used by another program"
    say "starting sshd on $HOST:$PORT (users: ${USERS[*]})"
    /usr/sbin/sshd -f "$DIR/sshd_config" -E "$DIR/sshd.log" </dev/null >/dev/null 2>&1 9>&- ||
        { tail "$DIR/sshd.log" >&2; fail "sshd did not start"; }
fi

for ((n = 0; n < 100; n++)); do
    ssh -F "$DIR/ssh_config" -o ConnectTimeout=2 xpm-sshd true </dev/null >/dev/null 2>&1 && break
    sleep 0.2
done
((n < 100)) || { tail -n 20 "$DIR/sshd.log" >&2; fail "cannot log in: ssh -F $DIR/ssh_config xpm-sshd"; }
say "sshd ready: ssh -F $DIR/ssh_config xpm-sshd  (= ssh -p $PORT -i $DIR/id_ed25519 $LOGIN@$HOST)"

cat <<EOF
export XPM_SSHD_DIR=$DIR
export XPM_SSHD_HOST=$HOST
export XPM_SSHD_PORT=$PORT
export XPM_SSHD_USER=$LOGIN
export XPM_SSHD_HOME=$LOGIN_HOME
export XPM_SSHD_KEY=$DIR/id_ed25519
export XPM_SSHD_KNOWN_HOSTS=$DIR/known_hosts
export XPM_SSHD_CONFIG=$DIR/ssh_config
export XPM_SSHD_ALIAS=xpm-sshd
EOF
