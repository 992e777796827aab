#!/bin/sh
# Remove the party-button service, leaving the config and the songs in place.
#
#   sudo systemd/uninstall.sh [DESTDIR=DIR] [PREFIX=DIR]
#
# Removes the units (the daemon's, the web page's and the MQTT bridge's), the sysusers files
# and the virtual environment. Kept:
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
UNIT=/etc/systemd/system/party-button.service
WEBUNIT=/etc/systemd/system/party-button-web.service

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    echo "uninstall.sh: run as root (sudo), or give DESTDIR=DIR" >&2
    exit 1
fi

for unit in party-button-web.service party-button-mqtt.service party-button.service; do
    if [ -e "$ROOT/etc/systemd/system/$unit" ]; then
        if [ -n "$ROOT" ]; then
            systemctl --root="$ROOT" disable "$unit"
        else
            systemctl disable --now "$unit"
        fi
    fi
done
rm -f "$ROOT$UNIT" "$ROOT/etc/sysusers.d/party-button.conf" \
    "$ROOT$WEBUNIT" "$ROOT/etc/sysusers.d/party-button-web.conf" \
    "$ROOT/etc/systemd/system/party-button-mqtt.service" "$ROOT/etc/sysusers.d/party-button-mqtt.conf" \
    "$ROOT/etc/party-button/config.yaml.dist"
rm -rf "$ROOT$PREFIX"
if [ -z "$ROOT" ]; then
    systemctl daemon-reload
fi
echo "party-button removed; kept $ROOT/etc/party-button and $ROOT/var/lib/party-button"
