#!/bin/sh
# Install party-button as a systemd service on a Raspberry Pi.
#
#   sudo systemd/install.sh [VAR=value ...] [--no-venv] [--no-apt]
#
# VAR=value settings (also read from the environment):
#   DESTDIR    install into this root instead of / (nothing is started or enabled for real)
#   PREFIX     where the virtual environment goes            (default /opt/party-button)
#   PYTHON     the Python that creates it                    (default python3)
#   EXTRAS     pip extras to install too, e.g. "beats"       (beat grids for the light show)
#   PIP_ARGS   extra arguments for pip install, e.g. "--no-deps"
#   NO_VENV=1  skip the virtual environment (same as --no-venv); PYTHON must then have
#              party-button installed
#   NO_APT=1   only check the Debian packages, name the missing ones and stop (--no-apt)
#
# Run it again from a newer checkout to upgrade: the package is built from a clean copy of the
# checkout (nothing is written into it), the venv gets exactly the new modules, and a running
# party is never cut: the daemon restarts once it is idle.
#
# An existing /etc/party-button/config.yaml (root:party-button, 0640: it holds the web PIN)
# is never overwritten; the shipped one is then written next to it as config.yaml.dist, with
# the shipped example PIN, and what differs is shown. A new config gets a random web PIN.
# Songs already in /var/lib/party-button/songs stay; the songs are copied in as the service's
# user, so that nothing the service's user can write is followed by root. The web page's
# service (party-button-web) and the MQTT bridge's (party-button-mqtt) are installed and
# enabled when the config says web.enabled or mqtt.enabled is true, and removed when it does
# not; mpv is installed when clips.enabled is true.
set -eu

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/party-button}
PYTHON=${PYTHON:-python3}
EXTRAS=${EXTRAS:-}
PIP_ARGS=${PIP_ARGS:-}
NO_VENV=${NO_VENV:-0}
NO_APT=${NO_APT:-0}
for arg in "$@"; do
    case $arg in
        DESTDIR=*) DESTDIR=${arg#*=} ;;
        PREFIX=*) PREFIX=${arg#*=} ;;
        PYTHON=*) PYTHON=${arg#*=} ;;
        EXTRAS=*) EXTRAS=${arg#*=} ;;
        PIP_ARGS=*) PIP_ARGS=${arg#*=} ;;
        NO_VENV=*) NO_VENV=${arg#*=} ;;
        NO_APT=*) NO_APT=${arg#*=} ;;
        --no-venv) NO_VENV=1 ;;
        --no-apt) NO_APT=1 ;;
        -h|--help) sed -n '2,29s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

SRC=$(cd "$(dirname "$0")/.." && pwd)
CONFDIR=/etc/party-button
STATEDIR=/var/lib/party-button
UNITDIR=/etc/systemd/system
SYSUSERSDIR=/etc/sysusers.d
TMPFILESDIR=/etc/tmpfiles.d
UNITS="party-button.service party-button-beats.socket party-button-beats@.service"
VENV=$PREFIX/venv
ROOT=${DESTDIR%/}

# What the service needs at run time from Debian: Python with venv; systemd's Python module
# (journald, sd_notify; pip would have to compile it); ALSA's library, which SDL loads for
# sound; GLib, which pygame's mixer links (libgthread). mpv, which shows the clips, only when
# the config turns clips on (CLIPS_DEBS, below).
RUNTIME_DEBS="python3 python3-venv python3-systemd libasound2 libglib2.0-0"
CLIPS_DEBS="mpv"

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or give DESTDIR=DIR to install into a folder" >&2
    exit 1
fi
[ -f "$SRC/pyproject.toml" ] || { echo "install.sh: $SRC is not a party-button source tree" >&2; exit 1; }

step() { printf '%s\n' "- $*"; }

is_raspberry_pi() {
    grep -qs "Raspberry Pi" /proc/device-tree/model
}

missing_debs() {
    for deb in "$@"; do
        dpkg-query -W -f='${Status}\n' "$deb" 2>/dev/null | grep -q '^install ok installed' ||
            printf '%s ' "$deb"
    done
}

# install_debs DEB...: install the missing ones with apt, or name them and stop (--no-apt).
install_debs() {
    missing=$(missing_debs "$@")
    missing=${missing% }
    if [ -z "$missing" ]; then
        step "Debian packages: all there ($*)"
    elif [ "$NO_APT" = 1 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "install.sh: missing Debian packages: $missing" >&2
        echo "install them first: apt-get install $missing" >&2
        exit 1
    else
        step "Debian packages: installing $missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        # shellcheck disable=SC2086  # a list of packages
        apt-get install -y -q --no-install-recommends $missing
    fi
}

# party_phase: what the running daemon is doing (idle, intro, party...), or nothing.
party_phase() {
    "$VENV/bin/party-button" status --json 2>/dev/null |
        sed -n 's/^ *"phase": "\([a-z]*\)".*/\1/p'
}

# wait_for_idle WHAT: never cut a party; WHAT (changing the code, restarting) waits for its end.
wait_for_idle() {
    [ -z "$ROOT" ] && [ -d /run/systemd/system ] && [ -x "$VENV/bin/party-button" ] || return 0
    systemctl is-active --quiet party-button.service || return 0
    said=
    while phase=$(party_phase) && [ -n "$phase" ] && [ "$phase" != idle ]; do
        if [ -z "$said" ]; then
            step "a party is on ($phase): $1 waits for its end (party-button stop ends it now)"
            said=1
        fi
        sleep 2
    done
}

# as_owner DIR COMMAND...: run COMMAND as the user who owns DIR (a folder others may write:
# a link put there leads only where that user could write anyway).
as_owner() {
    owner=$(stat -c %U "$1")
    shift
    setpriv --reuid="$owner" --regid="$owner" --init-groups -- "$@"
}

# Debian packages: only on the machine itself (a DESTDIR is a package's or an image's job).
if [ -z "$ROOT" ]; then
    debs=$RUNTIME_DEBS
    # GPIO on a Pi: Raspberry Pi OS packages lgpio; elsewhere pip brings it (the pi extra).
    if is_raspberry_pi; then
        if apt-cache show python3-lgpio >/dev/null 2>&1; then
            debs="$debs python3-lgpio"
        else
            EXTRAS=${EXTRAS:+$EXTRAS,}pi
        fi
    fi
    # shellcheck disable=SC2086  # debs is a list of words on purpose
    install_debs $debs
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
config_tmp=$WORK/config.yaml
# The package is built from a clean copy of the checkout: a build/ left in it would bring back
# modules deleted since, and a root-owned build/ or egg-info would stay in the admin's folder.
# The demo songs go with it: the wheel carries them beside its copy of the shipped config.
PKG=$WORK/party-button
mkdir "$PKG"
(cd "$SRC" && tar -cf - --exclude=./.git --exclude=./build --exclude='*.egg-info' \
    --exclude=__pycache__ --exclude=./.venv --exclude=./docs/_build .) | tar -xf - -C "$PKG"

if [ "$NO_VENV" != 1 ]; then
    step "virtual environment $ROOT$VENV${EXTRAS:+ (extras: $EXTRAS)}"
    # System site packages let apt's python3-lgpio, python3-rpi.gpio and python3-systemd in.
    "$PYTHON" -m venv --system-site-packages "$ROOT$VENV"
    wait_for_idle "changing the code"
    # shellcheck disable=SC2086  # PIP_ARGS is a list of words on purpose
    "$ROOT$VENV/bin/pip" install --quiet --disable-pip-version-check $PIP_ARGS \
        "$PKG${EXTRAS:+[$EXTRAS]}"
    # On everyone's PATH, for party-button press|stop|status|reload (a file of the admin's
    # own by that name stays).
    link=$ROOT/usr/local/bin/party-button
    if [ ! -e "$link" ] || [ -L "$link" ]; then
        step "command $link"
        install -d -m 0755 "$ROOT/usr/local/bin"
        ln -sfn "$VENV/bin/party-button" "$link"
        # man party-button: the command-line reference (docs/party-button.1, made by make docs)
        install -D -m 0644 "$SRC/docs/party-button.1" "$ROOT/usr/local/share/man/man1/party-button.1"
    fi
fi

step "configuration $ROOT$CONFDIR/config.yaml"
install -d -m 0755 "$ROOT$CONFDIR"
# The shipped config finds songs next to itself; the service's live in $STATEDIR/songs.
sed -E -e "/^[[:space:]]*(folders|intro_sound|fallback_sound):/ s#(\.\./)+songs#$STATEDIR/songs#g" \
    "$SRC/config/config.yaml" > "$config_tmp"
# The config holds the web PIN: root's, readable by the services' group only. The group is
# given by systemd-tmpfiles (at boot, after systemd-sysusers has made it; below, at once).
install -D -m 0644 /dev/stdin "$ROOT$TMPFILESDIR/party-button.conf" <<TMPFILES
# The config holds the web page's PIN: readable by the party-button group, not by everyone.
z $CONFDIR/config.yaml 0640 root party-button -
TMPFILES
if [ -e "$ROOT$CONFDIR/config.yaml" ]; then
    # The shipped file, as it is (its example PIN): no secret, so no new PIN lies around.
    install -m 0644 "$config_tmp" "$ROOT$CONFDIR/config.yaml.dist"
    echo "  kept the existing config.yaml; the shipped one is config.yaml.dist. What differs:"
    diff -u "$ROOT$CONFDIR/config.yaml" "$ROOT$CONFDIR/config.yaml.dist" | sed 's/^/    /' || true
else
    # A new config gets its own web PIN: six random digits, never the shipped example.
    pin=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    pin=$(printf '%06d' $((pin % 1000000)))
    sed -E -i "/^[[:space:]]*pin:/ s#\"[0-9]+\"#\"$pin\"#" "$config_tmp"
    install -m 0600 "$config_tmp" "$ROOT$CONFDIR/config.yaml"
    echo "  the web page's PIN is $pin (web.pin in $CONFDIR/config.yaml)"
fi

step "user and groups $ROOT$SYSUSERSDIR/party-button.conf"
install -D -m 0644 "$SRC/systemd/party-button.sysusers" "$ROOT$SYSUSERSDIR/party-button.conf"
if [ -z "$ROOT" ]; then
    systemd-sysusers "$SYSUSERSDIR/party-button.conf"
    systemd-tmpfiles --create "$TMPFILESDIR/party-button.conf"
fi

step "songs $ROOT$STATEDIR/songs"
# Songs, clips and their sidecars; not the demo songs' generator and its ground truth.
: > "$WORK/songs.list"
if [ -d "$SRC/songs" ]; then
    (cd "$SRC/songs" && find . -type f) | while IFS= read -r song; do
        case $(printf '%s' "$song" | tr '[:upper:]' '[:lower:]') in
            *.ogg|*.mp3|*.wav|*.flac|*.mp4|*.mkv|*.webm|*.mov|*.m4v) ;;
            *.beats.json|*.outlined.json) ;;
            *) continue ;;
        esac
        printf '%s\n' "$song"
    done > "$WORK/songs.list"
fi
# The state folder belongs to the service's user, who may put links in it: everything in it
# is done as that user (a link then leads only where that user could write anyway). A song
# already there (maybe the admin's own) is never replaced.
if [ -n "$ROOT" ]; then
    install -d -m 0755 "$ROOT$STATEDIR"
    run_in_state() { (cd "$ROOT$STATEDIR" && "$@"); }
else
    install -d -m 0755 -o party-button -g party-button "$STATEDIR"
    run_in_state() { (cd "$STATEDIR" && as_owner . "$@"); }
fi
# Refuse, with a message, the links that the copy would follow (in a live system they lead
# nowhere the service's user could not write anyway: the copy is that user's).
awk -F/ '{ p = "songs"; for (i = 2; i < NF; i++) { p = p "/" $i; print p } }' \
    "$WORK/songs.list" | sort -u > "$WORK/folders.list"
for folder in songs $(cat "$WORK/folders.list"); do
    if [ -L "$ROOT$STATEDIR/$folder" ]; then
        echo "install.sh: $ROOT$STATEDIR/$folder is a link: not following it as root" >&2
        echo "(remove it, or make it a folder, and run the installer again)" >&2
        exit 1
    fi
done
run_in_state mkdir -p songs
if [ -s "$WORK/songs.list" ]; then
    (cd "$SRC/songs" && tar -cf - -T "$WORK/songs.list") |
        run_in_state tar -xf - --skip-old-files --no-same-owner -C songs
fi

step "units in $ROOT$UNITDIR: $UNITS"
for unit in $UNITS; do
    sed "s#/opt/party-button/venv#$VENV#g" "$SRC/systemd/$unit" > "$config_tmp"
    install -D -m 0644 "$config_tmp" "$ROOT$UNITDIR/$unit"
done
# Earlier versions' beats unit kept a JIT cache here; nothing reads or writes it now.
rm -rf "$ROOT/var/cache/party-button-beats"

# adapter NAME WHAT [EXTRA]: install the unit party-button-NAME.service, its sysusers file
# and the pip EXTRA when `party-button NAME --is-enabled` says the config turns it on (and add
# the unit to ADAPTERS), else remove the unit and its sysusers file. A wrong section stops
# here. Without the virtual environment, $PYTHON must be one that has party-button installed.
ADAPTERS=
adapter() {
    name=$1 what=$2 extra=${3:-}
    unit=party-button-$name.service
    sysusers=$SYSUSERSDIR/party-button-$name.conf
    if [ "$NO_VENV" != 1 ]; then
        answer=$("$ROOT$VENV/bin/party-button" "$name" --config "$ROOT$CONFDIR/config.yaml" \
            --is-enabled) || exit 1
    else
        answer=$("$PYTHON" -m party_button "$name" --config "$ROOT$CONFDIR/config.yaml" \
            --is-enabled) || exit 1
    fi
    case $answer in
        *": $name is enabled")
            step "$what: unit $ROOT$UNITDIR/$unit and user $ROOT$sysusers"
            sed "s#/opt/party-button/venv#$VENV#g" "$SRC/systemd/$unit" > "$config_tmp"
            install -D -m 0644 "$config_tmp" "$ROOT$UNITDIR/$unit"
            install -D -m 0644 "$SRC/systemd/party-button-$name.sysusers" "$ROOT$sysusers"
            if [ -n "$extra" ] && [ "$NO_VENV" != 1 ]; then
                step "$what: the $extra extra in $ROOT$VENV"
                # shellcheck disable=SC2086  # PIP_ARGS is a list of words on purpose
                "$ROOT$VENV/bin/pip" install --quiet --disable-pip-version-check $PIP_ARGS \
                    "$PKG[$extra${EXTRAS:+,$EXTRAS}]"
            fi
            ADAPTERS="$ADAPTERS $unit"
            ;;
        *)
            if [ -e "$ROOT$UNITDIR/$unit" ]; then
                step "$what: $name.enabled is not true; removing $unit"
                if [ -n "$ROOT" ]; then
                    systemctl --root="$ROOT" disable "$unit"
                else
                    systemctl disable --now "$unit"
                fi
                rm -f "$ROOT$UNITDIR/$unit" "$ROOT$sysusers"
            fi
            ;;
    esac
}
# The services that talk to the daemon (started after it).
adapter web "web page" web
adapter mqtt "MQTT bridge"
adapter sync "rooms sync"
ENABLE="party-button.service party-button-beats.socket$ADAPTERS"
SNAPCAST_UNITS=
# Rooms sync: Debian's snapclient in every room, snapserver on the leader, set from the config.
case " $ADAPTERS " in
    *" party-button-sync.service "*)
        sync_cli="$ROOT$VENV/bin/party-button"
        [ "$NO_VENV" != 1 ] || sync_cli="$PYTHON -m party_button"
        snapcast=$($sync_cli sync --config "$ROOT$CONFDIR/config.yaml" --snapcast-packages)
        # shellcheck disable=SC2086  # a list of packages
        if [ -z "$ROOT" ]; then install_debs $snapcast; fi
        step "rooms sync: the settings of $snapcast"
        $sync_cli sync --config "$ROOT$CONFDIR/config.yaml" --snapcast-files "$ROOT/" >/dev/null
        for deb in $snapcast; do
            case $deb in snap*) SNAPCAST_UNITS="$SNAPCAST_UNITS $deb.service" ;; esac
        done
        [ -n "$ROOT" ] || ENABLE="$ENABLE$SNAPCAST_UNITS"
        ;;
esac

# mpv only where clips are on: it brings a few hundred packages with it.
if [ "$NO_VENV" != 1 ]; then
    clips=$("$ROOT$VENV/bin/party-button" check-config --is-enabled clips "$ROOT$CONFDIR/config.yaml") ||
        exit 1
else
    clips=$("$PYTHON" -m party_button check-config --is-enabled clips "$ROOT$CONFDIR/config.yaml") ||
        exit 1
fi
case $clips in
    *": clips is enabled")
        if [ -z "$ROOT" ]; then install_debs $CLIPS_DEBS; fi ;;
    *) step "clips: clips.enabled is not true; mpv is not needed" ;;
esac

if [ -n "$ROOT" ]; then
    step "enable $ENABLE in $ROOT"
    # shellcheck disable=SC2086  # a list of units
    systemctl --root="$ROOT" enable $ENABLE
    exit 0
fi

for unit in $ADAPTERS; do
    step "${unit%.service}: its user"
    systemd-sysusers "$SYSUSERSDIR/${unit%.service}.conf"
done
case " $ADAPTERS " in
    *" party-button-web.service "*)
        step "web page: the songs folder writable by the party-button group"
        # As the folder's owner: a link put in place of songs is not followed by root.
        run_in_state chgrp party-button songs
        run_in_state chmod 2775 songs
        ;;
esac
chip_group=$(stat -c %G /dev/gpiochip0 2>/dev/null || true)
if [ -n "$chip_group" ] && [ "$chip_group" != gpio ]; then
    echo "  note: the GPIO chips belong to group '$chip_group' here, not to gpio: see the"
    echo "  docs/tutorials/install-on-the-pi.md for the udev rule that gives them to gpio"
fi
if [ "$NO_VENV" != 1 ]; then
    "$VENV/bin/party-button" check-config "$CONFDIR/config.yaml"
fi
if [ ! -d /run/systemd/system ]; then
    # A chroot, a container without systemd, an image being built: enable for the next boot.
    step "systemd is not running here: enable the service for the next boot"
    # shellcheck disable=SC2086  # a list of units
    systemctl enable $ENABLE
    exit 0
fi
step "enable and (re)start $ENABLE"
systemctl daemon-reload
# shellcheck disable=SC2086  # a list of units
systemctl enable $ENABLE
wait_for_idle "the restart"
# shellcheck disable=SC2086
systemctl restart party-button-beats.socket party-button.service $ADAPTERS$SNAPCAST_UNITS
cat <<DONE
Installed. Next steps:
  edit $CONFDIR/config.yaml, then: systemctl reload party-button
  let a user press the button from a shell: usermod -aG party-button USER
  hold the relays off from power-on: $VENV/bin/party-button boot-config
  (append its lines to /boot/firmware/config.txt and reboot)
DONE
