"""The web page's and the MQTT bridge's services under a real systemd, as an admin gets them.

On the installed root (after :mod:`tests.system.test_system_booted_service`, whose machine is shut
down by then, or alone) the admin installs Debian's mosquitto broker, sets ``web.enabled``
with a token and ``mqtt.enabled`` in the config and runs the installer again, which installs
and enables ``party-button-web.service`` and ``party-button-mqtt.service``. The machine then
boots with a private network: HTTP and MQTT are spoken from inside it, over its loopback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.system.booted import (
    CONFIG,
    UNIT,
    control,
    wait_active,
    wait_idle,
    wait_lit,
    wait_status,
    wait_until,
)
from tests.system.containers import SOURCE_IN_ROOT, Machine, WorkRoot
from tests.system.roots import download_caches, native_architecture, temporary_log

WEB_UNIT = "party-button-web.service"
MQTT_UNIT = "party-button-mqtt.service"
PIN = "424242"
TOKEN = "system-test-token-0123456789"
BASE_TOPIC = "party-button/test"
BROKER = "127.0.0.1"
SITE = "http://127.0.0.1:8080"

HTTP_CLIENT = """
import json, sys, urllib.error, urllib.request
method, url, headers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
body = sys.argv[4].encode() if method != "GET" else None
request = urllib.request.Request(url, data=body, method=method, headers=headers)
try:
    with urllib.request.urlopen(request, timeout=20) as response:
        status, text = response.status, response.read().decode()
        cookies = response.headers.get_all("Set-Cookie") or []
except urllib.error.HTTPError as error:
    status, text, cookies = error.code, error.read().decode(), []
except OSError as error:
    status, text, cookies = 0, json.dumps({"error": str(error)}), []
print(json.dumps({"status": status, "body": json.loads(text), "cookies": cookies}))
"""
"""A request from inside the machine (its Debian python3, no curl there): prints the answer."""


def enable_adapters(config: str) -> str:
    """The config with the web page (a token and a PIN) and the MQTT bridge turned on."""
    replacements = (
        ("web:\n  enabled: false\n", "web:\n  enabled: true\n"),
        ("mqtt:\n  enabled: false\n", f"mqtt:\n  enabled: true\n  base_topic: {BASE_TOPIC}\n"),
        # A debootstrapped root has no /etc/hosts, so "localhost" does not resolve there.
        ("  host: localhost ", f"  host: {BROKER} "),
        ('  # token: "a-long-random-string-for-scripts"', f'  token: "{TOKEN}"'),
        ("pin_factory: auto", "pin_factory: mock"),  # the container is not a Pi
    )
    for old, new in replacements:
        assert old in config or new in config, old
        config = config.replace(old, new)
    # The installer wrote a random PIN (quoted digits): this test's own instead.
    return re.sub(r'(?m)^  pin: "\d+"', f'  pin: "{PIN}"', config)


def install_adapters(root: WorkRoot) -> None:
    """Install mosquitto, enable the web page and the bridge in the config, run the installer."""
    log = temporary_log("adapters-install")
    caches = download_caches(native_architecture())
    apt = "apt-get update -q && apt-get install -y -q --no-install-recommends"
    root.run(["sh", "-c", f"{apt} mosquitto mosquitto-clients"], log=log, binds=caches)
    config = root.path / CONFIG.relative_to("/")
    config.write_text(enable_adapters(config.read_text()))
    script = f"cd {SOURCE_IN_ROOT} && systemd/install.sh EXTRAS=beats"
    root.run(["sh", "-c", script], log=log, binds=caches)


@pytest.fixture(scope="module")
def machine(native_root: WorkRoot) -> Iterator[Machine]:
    """The root with mosquitto, the web page and the bridge enabled and installed, booted."""
    install_adapters(native_root)
    with Machine(native_root.path, temporary_log("adapters-boot")) as booted:
        yield booted


def http(
    machine: Machine, method: str, path: str, *, token: str | None = None, **extra: Any
) -> dict[str, Any]:
    """``method path`` to the web service from inside the machine: status, JSON body, cookies.

    ``extra``: ``body`` (text), ``headers`` (more request headers).
    """
    headers = {"Content-Type": "application/json", **extra.get("headers", {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    command = ["python3", "-c", HTTP_CLIENT, method, SITE + path, json.dumps(headers)]
    result = machine.run([*command, extra.get("body", "")])
    return json.loads(result.stdout)


def web_answering(machine: Machine) -> dict[str, Any]:
    """Wait until the web service answers ``GET /api/status`` with the daemon's state."""
    return wait_until(
        lambda: (
            (answer := http(machine, "GET", "/api/status", token=TOKEN))["status"] == 200 and answer
        ),
        60,
        "the web service answering with the daemon's state",
    )


def test_the_web_unit_runs_as_its_own_user_and_refuses_strangers(machine):
    wait_active(machine)
    pid = wait_active(machine, unit=WEB_UNIT)
    assert machine.run(["systemctl", "is-enabled", WEB_UNIT]).stdout.strip() == "enabled"
    # The owner of /proc/PID is the process's user and group (no procps on the Pi).
    owner = machine.run(["stat", "--format=%U %G", f"/proc/{pid}"]).stdout.split()
    assert owner == ["party-button-web", "party-button"]
    web_answering(machine)
    refused = http(machine, "POST", "/api/press")
    assert refused["status"] == 401
    assert refused["body"]["ok"] is False and refused["body"]["error"]
    assert control(machine, "status", user=None)["phase"] == "idle"  # nothing was pressed


def test_a_login_and_a_press_over_http_switch_the_daemons_relays(machine):
    web_answering(machine)
    wait_idle(machine, user=None)
    login = http(
        machine, "POST", "/api/login", body=json.dumps({"pin": PIN}), headers={"Origin": SITE}
    )
    assert login["status"] == 200 and login["body"] == {"ok": True}
    [cookie] = login["cookies"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = cookie.split(";")[0]
    with_cookie = http(machine, "GET", "/api/status", headers={"Cookie": session})
    assert with_cookie["status"] == 200 and with_cookie["body"]["phase"] == "idle"
    pressed = http(machine, "POST", "/api/press", token=TOKEN)
    assert pressed["status"] == 200, pressed
    assert pressed["body"]["phase"] in ("intro", "party")
    # The daemon itself, through its socket.
    status = wait_lit(machine, "the party pressed over HTTP", user=None)
    assert status["phase"] in ("intro", "party")
    stopped = http(machine, "POST", "/api/stop", token=TOKEN)
    assert stopped["status"] == 200 and stopped["body"]["phase"] == "ending"
    wait_idle(machine, user=None)


def test_a_press_over_mqtt_makes_a_party(machine):
    wait_active(machine, unit=MQTT_UNIT)
    assert machine.run(["systemctl", "is-active", "mosquitto.service"]).stdout.strip() == "active"
    wait_status(machine, f'"broker {BROKER}:1883 connected, daemon online"', unit=MQTT_UNIT)
    wait_idle(machine, user=None)
    publish = ["mosquitto_pub", "-h", BROKER, "-q", "1", "-m", "PRESS"]
    machine.run([*publish, "-t", f"{BASE_TOPIC}/command/start"])
    status = wait_lit(machine, "the party pressed over MQTT", user=None)
    assert status["phase"] in ("intro", "party")
    # And the bridge tells the broker (retained): what Home Assistant shows.
    retained = ["mosquitto_sub", "-h", BROKER, "-C", "1", "-W", "10"]
    wait_until(
        lambda: (
            machine.run(
                [*retained, "-t", f"{BASE_TOPIC}/state/partying"], check=False
            ).stdout.strip()
            == "ON"
        ),
        30,
        "the partying state ON on the broker",
    )
    machine.run([*publish, "-t", f"{BASE_TOPIC}/command/stop"])
    wait_idle(machine, user=None)


def test_a_stopped_daemon_is_a_503_that_says_so(machine):
    web_answering(machine)
    machine.run(["systemctl", "stop", UNIT])
    try:

        def down() -> dict[str, Any] | None:
            answer = http(machine, "GET", "/api/status", token=TOKEN)
            said = "the party-button daemon is not running" in answer["body"].get("error", "")
            return answer if answer["status"] == 503 and said else None

        answer = wait_until(down, 30, "a 503 from /api/status saying the daemon is down")
        assert answer["body"]["ok"] is False
        pressed = http(machine, "POST", "/api/press", token=TOKEN)
        assert pressed["status"] == 503 and "daemon is not running" in pressed["body"]["error"]
        assert machine.run(["systemctl", "is-active", WEB_UNIT]).stdout.strip() == "active"
    finally:
        machine.run(["systemctl", "start", UNIT])
    wait_active(machine)
    assert web_answering(machine)["body"]["phase"] == "idle"
