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
    "$SRC/party_button/config/config.yaml" > "$config_tmp"
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

# Whether the config asks for the web page (read with the venv's Python, else the source's).
if [ -x "$ROOT$VENV/bin/python" ]; then
    web=$("$ROOT$VENV/bin/python" -m party_button.config.web "$ROOT$CONFDIR/config.yaml")
else
    web=$(PYTHONPATH="$SRC" "$PYTHON" -m party_button.config.web "$ROOT$CONFDIR/config.yaml")
fi
WEBUNIT=$UNITDIR/party-button-web.service
if [ "$web" = true ]; then
    step "web page: unit $ROOT$WEBUNIT and user $ROOT$SYSUSERSDIR/party-button-web.conf"
    sed "s#/opt/party-button/venv#$VENV#g" "$SRC/systemd/party-button-web.service" > "$config_tmp"
    install -D -m 0644 "$config_tmp" "$ROOT$WEBUNIT"
    install -D -m 0644 "$SRC/systemd/party-button-web.sysusers" \
        "$ROOT$SYSUSERSDIR/party-button-web.conf"
    if [ "$NO_VENV" != 1 ]; then
        step "web page: the web extra in $ROOT$VENV"
        # shellcheck disable=SC2086  # PIP_ARGS is a list of words on purpose
        "$ROOT$VENV/bin/pip" install --quiet --disable-pip-version-check $PIP_ARGS \
            "$SRC[web${EXTRAS:+,$EXTRAS}]"
    fi
elif [ -e "$ROOT$WEBUNIT" ]; then
    step "web page: web.enabled is not true; removing party-button-web.service"
    if [ -n "$ROOT" ]; then
        systemctl --root="$ROOT" disable party-button-web.service
    else
        systemctl disable --now party-button-web.service
    fi
    rm -f "$ROOT$WEBUNIT" "$ROOT$SYSUSERSDIR/party-button-web.conf"
fi

# Whether the installed config turns the MQTT bridge on; a wrong mqtt section stops here.
# Without the virtual environment, $PYTHON must be one that has party-button installed.
if [ "$NO_VENV" != 1 ]; then
    mqtt_answer=$("$ROOT$VENV/bin/party-button" mqtt --config "$ROOT$CONFDIR/config.yaml" --is-enabled)
else
    mqtt_answer=$("$PYTHON" -m party_button mqtt --config "$ROOT$CONFDIR/config.yaml" --is-enabled)
fi
MQTT_UNIT=$UNITDIR/party-button-mqtt.service
MQTT_SYSUSERS=$SYSUSERSDIR/party-button-mqtt.conf
if [ "${mqtt_answer%: mqtt is enabled}" != "$mqtt_answer" ]; then
    MQTT=1
    step "MQTT bridge: unit $ROOT$MQTT_UNIT and user $ROOT$MQTT_SYSUSERS"
    sed "s#/opt/party-button/venv#$VENV#g" "$SRC/systemd/party-button-mqtt.service" > "$config_tmp"
    install -D -m 0644 "$config_tmp" "$ROOT$MQTT_UNIT"
    install -D -m 0644 "$SRC/systemd/party-button-mqtt.sysusers" "$ROOT$MQTT_SYSUSERS"
else
    MQTT=0
    if [ -e "$ROOT$MQTT_UNIT" ]; then
        step "MQTT bridge: removing its unit (mqtt is not enabled)"
        if [ -n "$ROOT" ]; then
            systemctl --root="$ROOT" disable party-button-mqtt.service
        else
            systemctl disable --now party-button-mqtt.service
        fi
        rm -f "$ROOT$MQTT_UNIT" "$ROOT$MQTT_SYSUSERS"
    fi
fi

# The services that talk to the daemon (started after it).
ADAPTERS=
if [ "$web" = true ]; then ADAPTERS="$ADAPTERS party-button-web.service"; fi
if [ "$MQTT" = 1 ]; then ADAPTERS="$ADAPTERS party-button-mqtt.service"; fi
ENABLE="party-button.service party-button-beats.socket$ADAPTERS"

if [ -n "$ROOT" ]; then
    step "enable $ENABLE in $ROOT"
    # shellcheck disable=SC2086  # a list of units
    systemctl --root="$ROOT" enable $ENABLE
    exit 0
fi

step "create the party-button user and the gpio group"
systemd-sysusers "$SYSUSERSDIR/party-button.conf"
if [ "$web" = true ]; then
    step "web page: its user; the songs folder writable by the party-button group"
    systemd-sysusers "$SYSUSERSDIR/party-button-web.conf"
    # The config holds the PIN: readable by the services' group, not by every user.
    chgrp party-button "$CONFDIR/config.yaml" "$STATEDIR/songs"
    chmod 0640 "$CONFDIR/config.yaml"
    chmod 2775 "$STATEDIR/songs"
fi
if [ "$MQTT" = 1 ]; then
    step "MQTT bridge: its user"
    systemd-sysusers "$MQTT_SYSUSERS"
fi
chip_group=$(stat -c %G /dev/gpiochip0 2>/dev/null || true)
if [ -n "$chip_group" ] && [ "$chip_group" != gpio ]; then
    echo "  note: the GPIO chips belong to group '$chip_group' here, not to gpio: see the"
    echo "  README (Install) for the udev rule that gives them to gpio"
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
systemctl restart party-button-beats.socket party-button.service $ADAPTERS
cat <<DONE
Installed. Next steps:
  edit $CONFDIR/config.yaml, then: systemctl reload party-button
  let a user press the button from a shell: usermod -aG party-button USER
  hold the relays off from power-on: $VENV/bin/party-button boot-config
  (append its lines to /boot/firmware/config.txt and reboot)
DONE
