#!/bin/sh
# Install party-button as a systemd service on a Raspberry Pi.
#
#   sudo systemd/install.sh [VAR=value ...] [--no-venv]
#
# VAR=value settings (also read from the environment):
#   DESTDIR    install into this root instead of / (nothing is started or enabled for real)
#   PREFIX     where the virtual environment goes            (default /opt/party-button)
#   PYTHON     the Python that creates it                    (default python3)
#   PIP_ARGS   extra arguments for pip install, e.g. "--no-deps"
#   NO_VENV=1  skip the virtual environment (same as --no-venv); PYTHON must then have
#              party-button installed
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
PIP_ARGS=${PIP_ARGS:-}
NO_VENV=${NO_VENV:-0}
for arg in "$@"; do
    case $arg in
        DESTDIR=*) DESTDIR=${arg#*=} ;;
        PREFIX=*) PREFIX=${arg#*=} ;;
        PYTHON=*) PYTHON=${arg#*=} ;;
        PIP_ARGS=*) PIP_ARGS=${arg#*=} ;;
        NO_VENV=*) NO_VENV=${arg#*=} ;;
        --no-venv) NO_VENV=1 ;;
        -h|--help) sed -n '2,18s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

SRC=$(cd "$(dirname "$0")/.." && pwd)
CONFDIR=/etc/party-button
STATEDIR=/var/lib/party-button
UNITDIR=/etc/systemd/system
SYSUSERSDIR=/etc/sysusers.d
VENV=$PREFIX/venv
ROOT=${DESTDIR%/}

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or give DESTDIR=DIR to install into a folder" >&2
    exit 1
fi
[ -f "$SRC/pyproject.toml" ] || { echo "install.sh: $SRC is not a party-button source tree" >&2; exit 1; }

step() { printf '%s\n' "- $*"; }

if [ "$NO_VENV" != 1 ]; then
    step "virtual environment $ROOT$VENV"
    # System site packages let apt's python3-lgpio, python3-rpi.gpio and python3-systemd in.
    "$PYTHON" -m venv --system-site-packages "$ROOT$VENV"
    # shellcheck disable=SC2086  # PIP_ARGS is a list of words on purpose
    "$ROOT$VENV/bin/pip" install --quiet --disable-pip-version-check $PIP_ARGS "$SRC"
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
    # File by file, so that a song already there (maybe the admin's own) is never replaced.
    (cd "$SRC/songs" && find . -type f) | while IFS= read -r song; do
        [ -e "$ROOT$STATEDIR/songs/$song" ] ||
            install -D -m 0644 "$SRC/songs/$song" "$ROOT$STATEDIR/songs/$song"
    done
fi

step "unit $ROOT$UNITDIR/party-button.service and user $ROOT$SYSUSERSDIR/party-button.conf"
sed "s#/opt/party-button/venv#$VENV#g" "$SRC/systemd/party-button.service" > "$config_tmp"
install -D -m 0644 "$config_tmp" "$ROOT$UNITDIR/party-button.service"
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

if [ -n "$ROOT" ]; then
    step "enable party-button.service in $ROOT"
    systemctl --root="$ROOT" enable party-button.service
    if [ "$web" = true ]; then
        systemctl --root="$ROOT" enable party-button-web.service
    fi
    if [ "$MQTT" = 1 ]; then
        systemctl --root="$ROOT" enable party-button-mqtt.service
    fi
    exit 0
fi

step "create the party-button user, enable and (re)start the service"
systemd-sysusers "$SYSUSERSDIR/party-button.conf"
systemctl daemon-reload
if [ "$NO_VENV" != 1 ]; then
    "$VENV/bin/party-button" check-config "$CONFDIR/config.yaml"
fi
systemctl enable party-button.service
systemctl restart party-button.service
if [ "$web" = true ]; then
    step "web page: the songs folder writable by the party-button group; enable and (re)start"
    systemd-sysusers "$SYSUSERSDIR/party-button-web.conf"
    # The config holds the PIN: readable by the services' group, not by every user.
    chgrp party-button "$CONFDIR/config.yaml" "$STATEDIR/songs"
    chmod 0640 "$CONFDIR/config.yaml"
    chmod 2775 "$STATEDIR/songs"
    systemctl enable party-button-web.service
    systemctl restart party-button-web.service
fi
if [ "$MQTT" = 1 ]; then
    step "create the party-button-mqtt user, enable and (re)start the MQTT bridge"
    systemd-sysusers "$MQTT_SYSUSERS"
    systemctl enable party-button-mqtt.service
    systemctl restart party-button-mqtt.service
fi
cat <<DONE
Installed. Next steps:
  edit $CONFDIR/config.yaml, then: systemctl reload party-button
  let a user press the button from a shell: usermod -aG party-button USER
  hold the relays off from power-on: $VENV/bin/party-button boot-config
  (append its lines to /boot/firmware/config.txt and reboot)
DONE
