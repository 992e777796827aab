"""Every kind of hostile file in a songs folder, end to end: mock pins, pygame on SDL's dummy
driver. Each broken file gets one log line naming it and is set aside; the party goes on with
the next song; nothing blocks, nothing raises, the relays end off."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from party_button.config.schema import Config
from party_button.control.client import send_command
from party_button.daemon.daemon import Daemon
from party_button.errors import AudioError, SongError
from party_button.media.audio import PygamePlayer
from party_button.phase import Phase
from party_button.testing import press, relays_on, running_daemon, tiny_song, wait_for, write_tone
from party_button.testing.library import (
    NOT_UTF8,
    SHOWN_NOT_UTF8,
    StrictUtf8Handler,
    fifo,
    header_only_ogg,
    null_device,
    sparse_file,
)

ASIDE = "(set aside until the file changes)"


@pytest.fixture
def strict_log() -> Iterator[StrictUtf8Handler]:
    """Every log line of the daemon, checked to be UTF-8 as journald needs it."""
    handler = StrictUtf8Handler()
    logger = logging.getLogger("party_button")
    logger.addHandler(handler)
    saved = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)


def only_songs(folder: Path, *names: str, seconds: float = 0.6) -> list[Path]:
    """Replace the songs of ``folder`` by tones called ``names``."""
    for song in folder.glob("song*.ogg"):
        song.unlink()
    return [write_tone(folder / name, seconds) for name in names]


def cut(path: Path, keep: float) -> Path:
    """Keep the first ``keep`` share of ``path``'s bytes, in place."""
    os.truncate(path, int(path.stat().st_size * keep))
    return path


def settled(daemon: Daemon) -> None:
    """Wait until the daemon is idle and has loaded its next pick (if it has one)."""
    wait_for(lambda: daemon.machine.phase is Phase.IDLE and not daemon.preparing, timeout=5)


def party(daemon: Daemon, factory: MockFactory) -> Path | None:
    """Press once the daemon is idle and ready; returns what plays once the party is on."""
    settled(daemon)
    press(factory)
    wait_for(lambda: daemon.machine.phase is Phase.PARTY)
    wait_for(lambda: daemon.playing is not None or daemon.conductor.silent_until is not None)
    return daemon.playing


def skipped(log: StrictUtf8Handler) -> list[str]:
    return [line for line in log.lines if line.startswith("skipping")]


# -- the player ---------------------------------------------------------------------------


@pytest.fixture
def player() -> Iterator[PygamePlayer]:
    with PygamePlayer() as opened:
        opened.open()
        yield opened


def test_a_song_that_cannot_start_is_a_song_error_not_a_device_error(
    player: PygamePlayer, tmp_path: Path
) -> None:
    song = write_tone(tmp_path / "long.ogg", 30.0)
    player.prepare(song)
    cut(song, 0.1)  # changed between preparing and playing
    with pytest.raises(SongError, match=r"long\.ogg: cannot be played: ov_time_seek"):
        player.start()
    assert player.is_open
    player.prepare(write_tone(tmp_path / "fine.ogg", 0.5))
    player.start()
    assert player.is_playing()


def test_a_start_failure_with_the_device_gone_is_a_device_error(
    player: PygamePlayer, tmp_path: Path
) -> None:
    song = write_tone(tmp_path / "long.ogg", 30.0)
    player.prepare(song)
    cut(song, 0.1)
    player.device = "USB DAC"  # the configured device is no longer among SDL's devices
    with pytest.raises(AudioError, match=r"the mixer cannot play long\.ogg"):
        player.start()


def test_a_closed_mixer_is_a_device_error(player: PygamePlayer, tmp_path: Path) -> None:
    player.prepare(write_tone(tmp_path / "fine.ogg", 0.5))
    player.close()
    with pytest.raises(AudioError, match="not open"):
        player.start()


def test_special_files_are_refused_without_waiting(tmp_path: Path) -> None:
    targets = [fifo(tmp_path / "pipe.ogg"), tmp_path / "loop.ogg", tmp_path / "empty.ogg"]
    (tmp_path / "loop.ogg").symlink_to("loop.ogg")
    (tmp_path / "empty.ogg").write_bytes(b"")
    device = null_device(tmp_path / "device.ogg")
    targets += [device] if device else []
    errors: list[str] = []
    prepared: list[Path | None] = []

    def prepare_each() -> None:  # the player belongs to the thread that opens it
        with PygamePlayer() as player:
            player.open()
            for target in targets:
                with pytest.raises(SongError) as refused:
                    player.prepare(target)
                errors.append(str(refused.value))
            prepared.append(player.prepared)

    worker = threading.Thread(target=prepare_each)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "prepare waited on a special file"
    expected = [
        f"{tmp_path / 'pipe.ogg'}: a FIFO (named pipe), not a file",
        f"{tmp_path / 'loop.ogg'}: a symlink loop",
        f"{tmp_path / 'empty.ogg'}: an empty file",
    ]
    expected += [f"{device}: a character device, not a file"] if device else []
    assert errors == expected
    assert prepared == [None]


# -- the daemon -------------------------------------------------------------------------------


def test_a_song_that_fails_at_the_start_is_set_aside_and_the_next_one_plays(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    strict_log: StrictUtf8Handler,
) -> None:
    only_songs(song_folder, "one.ogg", "two.ogg", seconds=3.0)
    with running_daemon(make_config({"party": {"on_press": "stop"}}), mock_factory) as daemon:
        loaded = daemon.player.prepared
        assert loaded is not None
        cut(loaded, 0.05)  # the first few KB: loaded fine, fails to start
        playing = party(daemon, mock_factory)
        assert playing is not None and playing != loaded
        assert daemon.player.is_playing() and daemon.player.is_open
        assert relays_on(mock_factory) == (True, True)
        assert daemon.conductor.audio_retry_at is None  # not taken for a lost audio device
        press(mock_factory)  # on_press: stop
        wait_for(lambda: daemon.machine.phase is Phase.IDLE, timeout=5)
        assert party(daemon, mock_factory) == playing  # the broken one stays aside
    assert relays_on(mock_factory) == (False, False)
    assert skipped(strict_log) == [
        f"skipping song: {loaded}: cannot be played: ov_time_seek: OV_EOF {ASIDE}"
    ]


@pytest.mark.parametrize("kind", ["wav", "flac"])
def test_a_song_damaged_in_the_middle_is_set_aside_and_the_party_goes_on(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    strict_log: StrictUtf8Handler,
    kind: str,
) -> None:
    only_songs(song_folder)
    damaged = cut(write_tone(song_folder / f"damaged.{kind}", 4.0), 0.3)
    write_tone(song_folder / "fine.ogg", 0.6)
    config = make_config({"songs": {"extensions": ["ogg", kind]}})
    with running_daemon(config, mock_factory, seed=2) as daemon:
        settled(daemon)
        while daemon.player.prepared != damaged:  # play fine.ogg until damaged.* is next
            party(daemon, mock_factory)
            settled(daemon)
        assert party(daemon, mock_factory) == damaged
        wait_for(lambda: daemon.playing == song_folder / "fine.ogg", timeout=5)
        assert daemon.machine.phase is Phase.PARTY  # the same party
        assert relays_on(mock_factory) == (True, True)
        wait_for(lambda: daemon.machine.phase is Phase.IDLE, timeout=5)
        assert party(daemon, mock_factory) == song_folder / "fine.ogg"
    assert relays_on(mock_factory) == (False, False)
    lines = skipped(strict_log)
    assert len(lines) == 1
    assert lines[0].startswith(f"skipping song: {damaged}: stopped at 0:01 of 0:04")


def test_a_folder_of_hostile_files_plays_its_good_song_every_time(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    strict_log: StrictUtf8Handler,
) -> None:
    only_songs(song_folder, "good.ogg")
    (song_folder / "a.ogg").symlink_to("b.ogg")
    (song_folder / "b.ogg").symlink_to("a.ogg")
    (song_folder / "sub").mkdir()
    (song_folder / "sub" / "back").symlink_to("..")  # a folder loop
    (song_folder / "dangling.ogg").symlink_to("gone.ogg")
    fifo(song_folder / "pipe.ogg")
    null_device(song_folder / "device.ogg")
    (song_folder / "empty.ogg").write_bytes(b"")
    header_only_ogg(song_folder / "headers.ogg")
    sparse_file(song_folder / "disk-image.ogg", 3 * 1024**3)
    (song_folder / "noise.ogg").write_bytes(os.urandom(50_000))
    with running_daemon(make_config(), mock_factory) as daemon:
        for _party in range(4):
            assert party(daemon, mock_factory) == song_folder / "good.ogg"
            assert daemon.player.is_playing()
            wait_for(lambda: daemon.machine.phase is Phase.IDLE, timeout=5)
    assert relays_on(mock_factory) == (False, False)
    named = skipped(strict_log) + [line for line in strict_log.lines if "not a song" in line]
    for name in ("a", "b", "dangling", "pipe", "empty", "headers", "disk-image", "noise"):
        assert sum(f"{song_folder / name}.ogg: " in line for line in named) == 1, name
    assert not any("Traceback" in line for line in strict_log.lines)


def test_only_broken_songs_play_the_fallback_and_end_with_the_relays_off(
    make_config: Callable[..., Config], mock_factory: MockFactory, song_folder: Path
) -> None:
    only_songs(song_folder)
    (song_folder / "empty.ogg").write_bytes(b"")
    header_only_ogg(song_folder / "headers.ogg")
    fallback = song_folder.parent / "sounds" / "fallback.ogg"
    config = make_config({"party": {"fallback_sound": str(fallback)}})
    with running_daemon(config, mock_factory) as daemon:
        assert party(daemon, mock_factory) == fallback
        assert daemon.player.effect_playing()
        wait_for(lambda: relays_on(mock_factory) == (False, False), timeout=5)


def test_a_song_copied_into_a_party_without_one_plays_at_once(
    make_config: Callable[..., Config], mock_factory: MockFactory, song_folder: Path
) -> None:
    only_songs(song_folder)
    header_only_ogg(song_folder / "headers.ogg")
    with running_daemon(make_config({"party": {"max_duration": 30.0}}), mock_factory) as daemon:
        assert party(daemon, mock_factory) is None  # nothing can play: a silent party
        assert relays_on(mock_factory) == (True, True)
        write_tone(song_folder / "fresh.ogg", 1.0)
        daemon.library.rescan()
        wait_for(lambda: daemon.playing == song_folder / "fresh.ogg", timeout=5)
        assert daemon.machine.phase is Phase.PARTY and daemon.player.is_playing()
        wait_for(lambda: daemon.machine.phase is Phase.IDLE, timeout=5)  # it ends with the song
    assert relays_on(mock_factory) == (False, False)


def test_a_song_rewritten_while_it_plays_stops_and_the_party_goes_on(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    strict_log: StrictUtf8Handler,
) -> None:
    only_songs(song_folder, "next.ogg")
    playing = write_tone(song_folder / "long.wav", 6.0)
    config = make_config({"songs": {"extensions": ["ogg", "wav"]}})
    with running_daemon(config, mock_factory, seed=3) as daemon:
        settled(daemon)
        while daemon.player.prepared != playing:
            party(daemon, mock_factory)
            settled(daemon)
        assert party(daemon, mock_factory) == playing
        cut(playing, 0.25)  # rewritten shorter in place while the mixer reads it
        wait_for(lambda: daemon.playing == song_folder / "next.ogg", timeout=8)
        assert daemon.machine.phase is Phase.PARTY
    assert relays_on(mock_factory) == (False, False)
    lines = skipped(strict_log)
    assert len(lines) == 1 and lines[0].startswith(f"skipping song: {playing}: stopped at ")


def test_a_songs_folder_that_vanishes_and_comes_back(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    strict_log: StrictUtf8Handler,
) -> None:
    only_songs(song_folder, "one.ogg", "two.ogg", "three.ogg", seconds=3.0)
    fallback = song_folder.parent / "sounds" / "fallback.ogg"
    config = make_config({"party": {"fallback_sound": str(fallback), "on_press": "stop"}})
    away = song_folder.with_name("unmounted")
    with running_daemon(config, mock_factory) as daemon:
        loaded = daemon.player.prepared
        song_folder.rename(away)
        assert party(daemon, mock_factory) == loaded  # opened before: it plays on
        wait_for(lambda: daemon.player.position() > 0.5)
        press(mock_factory)  # on_press: stop
        wait_for(lambda: daemon.machine.phase is Phase.IDLE, timeout=5)
        assert len(daemon.library) == 0
        assert party(daemon, mock_factory) == fallback
        wait_for(lambda: daemon.machine.phase is Phase.IDLE, timeout=5)  # after the fallback
        away.rename(song_folder)
        wanted = daemon.library.rescan()
        wait_for(lambda: daemon.library.passes >= wanted and len(daemon.library) == 3)
        playing = party(daemon, mock_factory)
        assert playing is not None and playing.parent == song_folder
    assert relays_on(mock_factory) == (False, False)
    gone = [line for line in strict_log.lines if line.startswith(f"songs folder {song_folder}")]
    assert gone == [
        f"songs folder {song_folder}: no such file; its songs are left out until it is back",
        f"songs folder {song_folder} is back",
    ]
    assert skipped(strict_log) == []  # the fallback is not taken for a song cut short


def test_a_song_removed_or_replaced_while_playing_plays_to_its_end(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    strict_log: StrictUtf8Handler,
) -> None:
    only_songs(song_folder, "only.ogg", seconds=4.0)
    with running_daemon(make_config(), mock_factory) as daemon:
        playing = party(daemon, mock_factory)
        assert playing is not None
        playing.unlink()
        # Another file under the same name, written elsewhere and renamed into place (a
        # file being written where the library can see it is, for a moment, broken).
        os.replace(write_tone(song_folder.parent / "replacement.ogg", 0.2), playing)
        wait_for(lambda: daemon.machine.phase is not Phase.PARTY, timeout=10)
    assert relays_on(mock_factory) == (False, False)
    assert "party over: only.ogg finished" in strict_log.lines  # to its end: not cut short
    assert skipped(strict_log) == []


def test_a_name_that_is_not_utf8_plays_and_shows_in_the_status(
    make_config: Callable[..., Config],
    mock_factory: MockFactory,
    song_folder: Path,
    tmp_path: Path,
    strict_log: StrictUtf8Handler,
) -> None:
    only_songs(song_folder)
    tiny_song(song_folder / NOT_UTF8, 5.0)
    control = tmp_path / "control.sock"
    with running_daemon(make_config(), mock_factory, control_path=control) as daemon:
        assert party(daemon, mock_factory) == song_folder / NOT_UTF8
        status = send_command(control, "status")
        assert status["playing"] == SHOWN_NOT_UTF8
        assert status["status"] == f"partying: {SHOWN_NOT_UTF8}"
    assert f"playing {SHOWN_NOT_UTF8}" in strict_log.lines


def test_analyze_reports_every_hostile_file_without_a_traceback(
    song_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("soxr")
    from party_button.cli.main import main

    only_songs(song_folder)
    (song_folder / "a.ogg").symlink_to("b.ogg")
    (song_folder / "b.ogg").symlink_to("a.ogg")
    pipe = fifo(song_folder / "pipe.ogg")
    (song_folder / "empty.ogg").write_bytes(b"")
    sparse_file(song_folder / "disk-image.wav", 3 * 1024**3)
    shutil.copy(song_folder.parent / "sounds" / "siren.ogg", song_folder / NOT_UTF8)
    code = main(["analyze", str(song_folder), str(pipe), str(song_folder / "a.ogg")])
    out = capsys.readouterr()
    assert code == 1
    lines = out.out.splitlines()
    assert f"{song_folder / 'a.ogg'}: failed: a symlink loop" in lines
    assert f"{pipe}: failed: a FIFO (named pipe), not a file" in lines
    assert f"{song_folder / 'empty.ogg'}: failed: an empty file" in lines
    assert f"{song_folder / 'disk-image.wav'}: failed: 3.0 GiB: over the 2 GiB limit" in lines
    assert any(line.startswith(f"{song_folder}/{SHOWN_NOT_UTF8}: ") for line in lines)
    assert "Traceback" not in out.out + out.err


def test_songs_command_shows_names_that_are_not_utf8(
    make_config: Callable[..., Config], song_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from party_button.cli.main import main

    only_songs(song_folder)
    tiny_song(song_folder / NOT_UTF8)
    fifo(song_folder / "pipe.ogg")
    config = make_config()
    assert main(["songs", "--config", str(config.path), "--count", "1"]) == 0
    assert capsys.readouterr().out == f"  1  {song_folder}/{SHOWN_NOT_UTF8}\n"
