#!/usr/bin/env bash
# Builds the emulated aarch64 board of the test suite: a Debian arm64 root filesystem (debootstrap
# from the Debian mirror this machine's apt already uses) that runs under qemu-user through
# binfmt_misc, with its own OpenSSH server, its own system Python and no view of the orchestrator's
# files. Cached in $BOARD_DIR; rebuilt when missing or when this script changes (REVISION).
# Needs root, debootstrap, qemu-user-static and binfmt-support (`make board` installs them).
set -euo pipefail
REVISION=1
SUITE=${BOARD_SUITE:-bookworm}
BOARD_DIR=${BOARD_DIR:-$HOME/.cache/benchlab/boards/debian-arm64}
STAMP="$BOARD_DIR/.benchlab-board"

enable_binfmt() {
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        update-binfmts --enable qemu-aarch64
    fi
    grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64
}

# The mirror is the one apt is configured with here (deb822 or one-line sources), never a
# name written into the project.
mirror() {
    local uri
    uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' \
          | grep -v security | head -n1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
    fi
    [ -n "$uri" ] || { echo "build_board: no Debian mirror found in apt's sources" >&2; exit 1; }
    echo "$uri"
}

# Settings that may change without a rebuild; idempotent, run on every call.
configure() {
    # Not locked (`!`): sshd without PAM refuses a locked account even for key logins.
    chroot "$1" /usr/sbin/usermod -p '*' bench
}

enable_binfmt
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$REVISION" ]; then
    configure "$BOARD_DIR"
    echo "board: $BOARD_DIR (cached, revision $REVISION)"
    exit 0
fi

tmp="$BOARD_DIR.tmp"
rm -rf "$tmp"
mkdir -p "$(dirname "$BOARD_DIR")"
debootstrap --arch=arm64 --variant=minbase \
    --include=python3,openssh-server,procps,ca-certificates \
    "$SUITE" "$tmp" "$(mirror)"

# A board user with a home of its own; its authorized_keys are written by the test fixture.
chroot "$tmp" /usr/sbin/useradd --create-home --shell /bin/bash bench
chroot "$tmp" /usr/bin/ssh-keygen -A
mkdir -p "$tmp/run/sshd"
cat > "$tmp/etc/ssh/sshd_config.d/benchlab.conf" <<'CONF'
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
# int8 kernels misbehave on qemu's default `max` CPU: every process of a session runs as a
# Cortex-A76 (binfmt's qemu reads QEMU_CPU from the environment sshd gives the session).
SetEnv QEMU_CPU=cortex-a76
CONF
configure "$tmp"
rm -rf "$tmp/var/cache/apt/archives"/*.deb "$tmp/var/lib/apt/lists"/*
echo "$REVISION" > "$tmp/.benchlab-board"
rm -rf "$BOARD_DIR"
mv "$tmp" "$BOARD_DIR"
echo "board: built $BOARD_DIR"
