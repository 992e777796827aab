#!/bin/sh
# Remove the party-button service, leaving the config and the songs in place.
#
#   sudo systemd/uninstall.sh [DESTDIR=DIR] [PREFIX=DIR]
#
# Removes the units (the daemon's, beat analysis's, the web page's and the MQTT bridge's),
# the sysusers files and the virtual environment. Kept:
# /etc/party-button/config.yaml and /var/lib/party-button (songs and clips), and the
# party-button users (removing users is left to the admin: userdel party-button-web,
# userdel party-button-mqtt, userdel party-button).
set -eu

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/party-button}
for arg in "$@"; do
    case $arg in
        DESTDIR=*) DESTDIR=${arg#*=} ;;
        PREFIX=*) PREFIX=${arg#*=} ;;
        -h|--help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done
ROOT=${DESTDIR%/}
UNITDIR=/etc/systemd/system
SYSUSERSDIR=/etc/sysusers.d
ADAPTERS="web mqtt sync"  # party-button-NAME.service and party-button-NAME.conf, as install.sh
ENABLED="party-button.service party-button-beats.socket"
for name in $ADAPTERS; do ENABLED="party-button-$name.service $ENABLED"; done

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    echo "uninstall.sh: run as root (sudo), or give DESTDIR=DIR" >&2
    exit 1
fi

if [ -e "$ROOT$UNITDIR/party-button.service" ]; then
    ENABLED=$(for unit in $ENABLED; do [ ! -e "$ROOT$UNITDIR/$unit" ] || echo "$unit"; done)
    if [ -n "$ROOT" ]; then
        # shellcheck disable=SC2086  # a list of units
        systemctl --root="$ROOT" disable $ENABLED
    elif [ -d /run/systemd/system ]; then
        # shellcheck disable=SC2086
        systemctl disable --now $ENABLED
    else
        # shellcheck disable=SC2086
        systemctl disable $ENABLED
    fi
fi
rm -f "$ROOT$UNITDIR/party-button.service" "$ROOT$UNITDIR/party-button-beats.socket" \
    "$ROOT$UNITDIR/party-button-beats@.service" "$ROOT$SYSUSERSDIR/party-button.conf" \
    "$ROOT/etc/party-button/config.yaml.dist" \
    "$ROOT$UNITDIR/snapserver.service.d/party-button.conf"
for name in $ADAPTERS; do
    rm -f "$ROOT$UNITDIR/party-button-$name.service" "$ROOT$SYSUSERSDIR/party-button-$name.conf"
done
if [ "$(readlink "$ROOT/usr/local/bin/party-button" || true)" = "$PREFIX/venv/bin/party-button" ]; then
    rm -f "$ROOT/usr/local/bin/party-button" "$ROOT/usr/local/share/man/man1/party-button.1"
fi
rm -rf "$ROOT$PREFIX"
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
echo "party-button removed; kept $ROOT/etc/party-button and $ROOT/var/lib/party-button"
