"""The installer, run again as root, meets links that the service's user put in its folders.

The state folder belongs to the daemon's user, and the songs folder is writable by the
party-button group: code running as either may replace a folder with a link to /etc. The
installer must never chmod, chgrp or copy through such a link. One installed root (not
booted); each test plants links as the daemon's user and runs the installer again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.system.conftest import installed_root
from tests.system.containers import SOURCE_IN_ROOT, WorkRoot
from tests.system.roots import download_caches, native_architecture, temporary_log

STATE = "/var/lib/party-button"
VICTIM = "/srv/victim"
"""A root-owned folder that the daemon's user may not write."""


@pytest.fixture(scope="module")
def root() -> Iterator[WorkRoot]:
    yield from installed_root(native_architecture())


def as_daemon_user(root: WorkRoot, script: str) -> None:
    """Run ``script`` as the daemon's user, as code that runs as that user could."""
    command = ["setpriv", "--reuid=party-button", "--regid=party-button", "--init-groups"]
    root.run([*command, "sh", "-euc", script], log=None, network=False)


def install_again(root: WorkRoot, *settings: str):
    """Run the installer again as root; returns its result (the exit code is not checked)."""
    log = temporary_log("hostile-install")
    script = f"cd {SOURCE_IN_ROOT} && systemd/install.sh --no-apt {' '.join(settings)}"
    binds = download_caches(native_architecture())
    return root.run(["sh", "-c", script], log=log, binds=binds, check=False)


def victim_state(root: WorkRoot) -> str:
    """The victim folder's mode, owner, group and files, as ``ls`` shows them."""
    shown = root.run(["sh", "-c", f"stat -c '%a %U %G' {VICTIM}; ls -A {VICTIM}"], log=None)
    return shown.stdout


@pytest.fixture
def victim(root: WorkRoot) -> Iterator[str]:
    root.run(["sh", "-c", f"mkdir -p {VICTIM} && echo keep > {VICTIM}/file"], log=None)
    before = victim_state(root)
    assert before.startswith("755 root root\n")
    yield before
    root.run(["rm", "-rf", VICTIM], log=None)


def with_web_on(root: WorkRoot) -> None:
    """Turn the web page on: its install chgrps and chmods the songs folder."""
    config = root.path / "etc/party-button/config.yaml"
    text = config.read_text()
    assert "web:\n  enabled: false" in text
    config.write_text(text.replace("web:\n  enabled: false", "web:\n  enabled: true"))


def test_songs_replaced_by_a_link_is_refused_and_its_target_untouched(root, victim):
    with_web_on(root)
    as_daemon_user(root, f"cd {STATE} && mv songs songs.real && ln -s {VICTIM} songs")
    result = install_again(root)
    assert result.returncode == 1
    assert f"install.sh: {STATE}/songs is a link: not following it as root" in result.stderr
    assert victim_state(root) == victim  # no chmod 2775, no chgrp, no songs copied in
    as_daemon_user(root, f"cd {STATE} && rm songs && mv songs.real songs")


def test_a_folder_in_songs_replaced_by_a_link_is_refused(root, victim):
    as_daemon_user(root, f"cd {STATE}/songs && mv intro intro.real && ln -s {VICTIM} intro")
    result = install_again(root)
    assert result.returncode == 1
    assert f"install.sh: {STATE}/songs/intro is a link: not following it as root" in result.stderr
    assert victim_state(root) == victim
    as_daemon_user(root, f"cd {STATE}/songs && rm intro && mv intro.real intro")


def test_a_song_replaced_by_a_link_is_not_written_through(root, victim):
    # A link in place of a shipped song, to a file that root may write and the user not.
    target = f"{VICTIM}/planted.ogg"
    as_daemon_user(root, f"cd {STATE}/songs && rm lift-off.ogg && ln -s {target} lift-off.ogg")
    result = install_again(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert victim_state(root) == victim  # nothing was created through the link
    assert not (root.path / target.lstrip("/")).exists()
