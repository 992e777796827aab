#!/bin/sh
# Remove the party-button service; --purge removes its config, songs, users and groups too.
#
#   sudo systemd/uninstall.sh [DESTDIR=DIR] [PREFIX=DIR] [--purge]
#
# Removes the units (the daemon's, beat analysis's, the web page's, the MQTT bridge's and
# the rooms sync's), the sysusers and tmpfiles files and the virtual environment, puts back
# Snapcast's settings as they were before the install, and says what it kept:
# /etc/party-button (the config and its PIN), /var/lib/party-button (songs, clips, grids),
# the users party-button, party-button-web and party-button-mqtt, and the party-button group
# (with the people added to it). --purge removes all of these as well, and the units'
# drop-ins; the gpio group stays (other software uses it).
set -eu

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/party-button}
PURGE=0
for arg in "$@"; do
    case $arg in
        DESTDIR=*) DESTDIR=${arg#*=} ;;
        PREFIX=*) PREFIX=${arg#*=} ;;
        --purge) PURGE=1 ;;
        -h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done
ROOT=${DESTDIR%/}
CONFDIR=/etc/party-button
STATEDIR=/var/lib/party-button
UNITDIR=/etc/systemd/system
SYSUSERSDIR=/etc/sysusers.d
TMPFILESDIR=/etc/tmpfiles.d
ADAPTERS="web mqtt sync"  # party-button-NAME.service and party-button-NAME.conf, as install.sh
ENABLED="party-button.service party-button-beats.socket"
for name in $ADAPTERS; do ENABLED="party-button-$name.service $ENABLED"; done
USERS="party-button-web party-button-mqtt party-button-sync party-button"

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
    "$ROOT$TMPFILESDIR/party-button.conf" "$ROOT$CONFDIR/config.yaml.dist" \
    "$ROOT$UNITDIR/snapserver.service.d/party-button.conf"
for name in $ADAPTERS; do
    rm -f "$ROOT$UNITDIR/party-button-$name.service" "$ROOT$SYSUSERSDIR/party-button-$name.conf"
done
# Snapcast's settings (rooms sync): the file that was there before the installer wrote its
# own comes back; one the installer made where there was none goes.
for file in /etc/snapserver.conf /etc/default/snapclient; do
    if [ -e "$ROOT$file.party-button-saved" ]; then
        mv -f "$ROOT$file.party-button-saved" "$ROOT$file"
    elif head -n 1 "$ROOT$file" 2>/dev/null | grep -q "^# Made by party-button"; then
        rm -f "$ROOT$file"
    fi
done
if [ "$(readlink "$ROOT/usr/local/bin/party-button" || true)" = "$PREFIX/venv/bin/party-button" ]; then
    rm -f "$ROOT/usr/local/bin/party-button" "$ROOT/usr/local/share/man/man1/party-button.1"
fi
# and the JIT cache that earlier versions' beats unit kept
rm -rf "$ROOT$PREFIX" "$ROOT/var/cache/party-button-beats"
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    # Snapcast's services, where they run, go on with their own settings again.
    systemctl try-restart snapserver.service snapclient.service 2>/dev/null || true
fi

# The users and the group that exist (in ROOT's files).
users=$(for user in $USERS; do
    ! grep -q "^$user:" "$ROOT/etc/passwd" 2>/dev/null || printf '%s ' "$user"
done)
group=$(grep "^party-button:" "$ROOT/etc/group" 2>/dev/null | cut -d: -f4 || true)
has_group=$(grep -q "^party-button:" "$ROOT/etc/group" 2>/dev/null && echo yes || true)

if [ "$PURGE" = 1 ]; then
    # The admin's drop-ins for the units go with them.
    rm -rf "$ROOT$CONFDIR" "$ROOT$STATEDIR" "$ROOT$UNITDIR"/party-button*.service.d \
        "$ROOT$UNITDIR"/party-button*.socket.d
    for user in $users; do
        if [ -n "$ROOT" ]; then userdel --root "$ROOT" "$user"; else userdel "$user"; fi
    done
    if grep -q "^party-button:" "$ROOT/etc/group" 2>/dev/null; then
        if [ -n "$ROOT" ]; then groupdel --root "$ROOT" party-button; else groupdel party-button; fi
    fi
    echo "party-button removed, with $CONFDIR, $STATEDIR, the users ${users:-(none)}and the"
    echo "party-button group${group:+ (its members were: $group)}"
    exit 0
fi
echo "party-button removed. Kept (sudo systemd/uninstall.sh --purge removes them all):"
[ ! -e "$ROOT$CONFDIR" ] || echo "  $ROOT$CONFDIR: the config and its web PIN (rm -r $ROOT$CONFDIR)"
[ ! -e "$ROOT$STATEDIR" ] ||
    echo "  $ROOT$STATEDIR: songs, clips and beat grids (rm -r $ROOT$STATEDIR)"
[ -z "$users" ] || echo "  the users ${users% } (userdel each of them)"
[ -z "$has_group" ] ||
    echo "  the group party-button${group:+, with members $group} (groupdel party-button)"
