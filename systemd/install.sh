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
# An existing /etc/party-button/config.yaml is never overwritten; the shipped one is then
# written next to it as config.yaml.dist, and a new one gets a random web PIN. Songs already
# in /var/lib/party-button/songs stay. The web page's service (party-button-web) and the MQTT
# bridge's (party-button-mqtt) are installed and enabled when the config says web.enabled or
# mqtt.enabled is true, and removed when it does not.
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
        -h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

SRC=$(cd "$(dirname "$0")/.." && pwd)
CONFDIR=/etc/party-button
STATEDIR=/var/lib/party-button
UNITDIR=/etc/systemd/system
SYSUSERSDIR=/etc/sysusers.d
UNITS="party-button.service party-button-beats.socket party-button-beats@.service"
VENV=$PREFIX/venv
ROOT=${DESTDIR%/}

# What the service needs at run time from Debian: Python with venv; systemd's Python module
# (journald, sd_notify; pip would have to compile it); ALSA's library, which SDL loads for
# sound; GLib, which pygame's mixer links (libgthread); mpv, which shows the clips; procps
# for /bin/kill, the unit's ExecReload= (minimal images lack it).
RUNTIME_DEBS="python3 python3-venv python3-systemd libasound2 libglib2.0-0 mpv procps"

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
    missing=$(missing_debs $debs)
    missing=${missing% }
    if [ -z "$missing" ]; then
        step "Debian packages: all there ($debs)"
    elif [ "$NO_APT" = 1 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "install.sh: missing Debian packages: $missing" >&2
        echo "install them first: apt-get install $missing" >&2
        exit 1
    else
        step "Debian packages: installing $missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $missing
    fi
fi

if [ "$NO_VENV" != 1 ]; then
    step "virtual environment $ROOT$VENV${EXTRAS:+ (extras: $EXTRAS)}"
    # System site packages let apt's python3-lgpio, python3-rpi.gpio and python3-systemd in.
    "$PYTHON" -m venv --system-site-packages "$ROOT$VENV"
    # shellcheck disable=SC2086  # PIP_ARGS is a list of words on purpose
    "$ROOT$VENV/bin/pip" install --quiet --disable-pip-version-check $PIP_ARGS \
        "$SRC${EXTRAS:+[$EXTRAS]}"
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
config_tmp=$(mktemp)
trap 'rm -f "$config_tmp"' EXIT
# A new config gets its own web PIN: six random digits, never the shipped example.
pin=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
pin=$(printf '%06d' $((pin % 1000000)))
sed -E -e "/^[[:space:]]*(folders|intro_sound|fallback_sound):/ s#(\.\./)+songs#$STATEDIR/songs#g" \
    -e "/^[[:space:]]*pin:/ s#\"[0-9]+\"#\"$pin\"#" \
    "$SRC/config/config.yaml" > "$config_tmp"
if [ -e "$ROOT$CONFDIR/config.yaml" ]; then
    install -m 0644 "$config_tmp" "$ROOT$CONFDIR/config.yaml.dist"
    echo "  kept the existing config.yaml; the shipped one is config.yaml.dist"
else
    install -m 0644 "$config_tmp" "$ROOT$CONFDIR/config.yaml"
    echo "  the web page's PIN is $pin (web.pin in $CONFDIR/config.yaml)"
fi

step "songs $ROOT$STATEDIR/songs"
install -d -m 0755 "$ROOT$STATEDIR" "$ROOT$STATEDIR/songs"
if [ -d "$SRC/songs" ]; then
    # Songs, clips and their sidecars, file by file, so that a song already there (maybe the
    # admin's own) is never replaced; not the demo songs' generator and its ground truth.
    (cd "$SRC/songs" && find . -type f) | while IFS= read -r song; do
        case $(printf '%s' "$song" | tr '[:upper:]' '[:lower:]') in
            *.ogg|*.mp3|*.wav|*.flac|*.mp4|*.mkv|*.webm|*.mov|*.m4v) ;;
            *.beats.json|*.outlined.json) ;;
            *) continue ;;
        esac
        [ -e "$ROOT$STATEDIR/songs/$song" ] ||
            install -D -m 0644 "$SRC/songs/$song" "$ROOT$STATEDIR/songs/$song"
    done
fi

step "units in $ROOT$UNITDIR: $UNITS"
for unit in $UNITS; do
    sed "s#/opt/party-button/venv#$VENV#g" "$SRC/systemd/$unit" > "$config_tmp"
    install -D -m 0644 "$config_tmp" "$ROOT$UNITDIR/$unit"
done
step "user and groups $ROOT$SYSUSERSDIR/party-button.conf"
install -D -m 0644 "$SRC/systemd/party-button.sysusers" "$ROOT$SYSUSERSDIR/party-button.conf"

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
                    "$SRC[$extra${EXTRAS:+,$EXTRAS}]"
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
        if [ -z "$ROOT" ] && [ "$NO_APT" != 1 ]; then
            step "rooms sync: Debian packages $snapcast"
            # shellcheck disable=SC2086  # a list of packages
            apt-get install -y -q --no-install-recommends $snapcast
        fi
        step "rooms sync: the settings of $snapcast"
        $sync_cli sync --config "$ROOT$CONFDIR/config.yaml" --snapcast-files "$ROOT/" >/dev/null
        for deb in $snapcast; do
            case $deb in snap*) SNAPCAST_UNITS="$SNAPCAST_UNITS $deb.service" ;; esac
        done
        [ -n "$ROOT" ] || ENABLE="$ENABLE$SNAPCAST_UNITS"
        ;;
esac

if [ -n "$ROOT" ]; then
    step "enable $ENABLE in $ROOT"
    # shellcheck disable=SC2086  # a list of units
    systemctl --root="$ROOT" enable $ENABLE
    exit 0
fi

step "create the party-button user and the gpio group"
systemd-sysusers "$SYSUSERSDIR/party-button.conf"
for unit in $ADAPTERS; do
    step "${unit%.service}: its user"
    systemd-sysusers "$SYSUSERSDIR/${unit%.service}.conf"
done
case " $ADAPTERS " in
    *" party-button-web.service "*)
        step "web page: the songs folder writable by the party-button group"
        # The config holds the PIN: readable by the services' group, not by every user.
        chgrp party-button "$CONFDIR/config.yaml" "$STATEDIR/songs"
        chmod 0640 "$CONFDIR/config.yaml"
        chmod 2775 "$STATEDIR/songs"
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
# shellcheck disable=SC2086
systemctl restart party-button-beats.socket party-button.service $ADAPTERS$SNAPCAST_UNITS
cat <<DONE
Installed. Next steps:
  edit $CONFDIR/config.yaml, then: systemctl reload party-button
  let a user press the button from a shell: usermod -aG party-button USER
  hold the relays off from power-on: $VENV/bin/party-button boot-config
  (append its lines to /boot/firmware/config.txt and reboot)
DONE
