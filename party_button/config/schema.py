"""The configuration: where it is found, its schema, and validation with file:line errors.

Each section is a dataclass, and each of its fields is the one place where that setting's
default, bounds and choices are written; :func:`~party_button.config.walker.read_into`
reads them all the same way. :func:`load_config` reads a YAML file, checks everything, and
either returns a :class:`Config` or raises :class:`~party_button.errors.ConfigError` listing
*every* problem. Nothing here touches a pin.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpiozero.exc import PinInvalidPin
from gpiozero.pins.pi import PiBoardInfo

from party_button.config.lights import LONGEST, parse_lights
from party_button.config.mqtt import MqttConfig
from party_button.config.paths import PathContext, existing_file, path_problem, resolve
from party_button.config.sync import SyncConfig
from party_button.config.walker import read_into, setting
from party_button.config.web import WebConfig, read_web
from party_button.config.yaml_reader import MapReader, Problems, describe, did_you_mean
from party_button.gpio.board import PIN_FACTORIES, board_info
from party_button.gpio.pinout import INTERFACES, KNOWN_AUDIO_HATS, pin_clashes
from party_button.lights.shows import LightsConfig

PRESS_ACTIONS = ("next", "stop", "ignore", "restart")
SONG_EXTENSIONS = ("ogg", "mp3", "wav", "flac")
VIDEO_EXTENSIONS = ("mp4", "mkv", "webm", "mov", "m4v")
CLIP_EXTENSIONS = ("mp4", "mkv", "webm", "mov")
# Full screen on the Pi's HDMI output without a desktop (DRM/KMS), hardware decoding if any.
PI_MPV_OPTIONS = ("--vo=gpu", "--gpu-context=drm", "--hwdec=auto-safe", "--fullscreen")
# Options that the clip player sets itself and a config must not change.
RESERVED_MPV_OPTIONS = ("idle", "input-ipc-server", "config", "keep-open", "terminal")


class _PinBook:
    """Parses pin names and remembers which key claimed each GPIO first."""

    def __init__(self, board: PiBoardInfo, uses: BoardConfig) -> None:
        self.board = board
        self.uses = uses
        self.owners: dict[int, str] = {}

    def read(
        self, section: MapReader, key: str, owner: str, *, required: bool = True
    ) -> int | None:
        if key not in section:
            if required:
                section.error("is required (a pin such as GPIO17, BOARD11 or 17)", key)
            return None
        expected = "a pin such as GPIO17, BOARD11 or 17"
        raw = section.scalar(key, expected)
        if raw is None and not required:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            section.error(f"expected {expected}, got {describe(raw)}", key)
            return None
        try:
            gpio = int(self.board.to_gpio(raw)[len("GPIO") :])
        except PinInvalidPin as exc:
            section.error(f"{exc} on this board (use GPIO17, BOARD11 or 17)", key)
            return None
        for clash in pin_clashes(gpio, self.uses.interfaces, self.uses.audio_hat):
            section.error(clash, key)
        if gpio in self.owners:
            section.error(f"GPIO{gpio} is already the {self.owners[gpio]}'s pin", key)
            return gpio
        self.owners[gpio] = owner
        return gpio


@dataclass
class _Context(PathContext):
    """What the readers of single settings need: the config's folder and the pins so far."""

    pins: _PinBook | None = None
    relay_names: set[str] = field(default_factory=set)


def _pin(owner: str | None = None) -> Any:
    """A reader of a pin, claimed by ``owner`` (a relay: by its name)."""

    def read(section: MapReader, key: str, _default: Any, ctx: _Context, values: dict) -> Any:
        assert ctx.pins is not None
        who = owner or f"relay {values.get('name')!r}"
        required = section.present or owner != "button"
        return ctx.pins.read(section, key, who, required=required)

    return read


def _relay_name(section: MapReader, key: str, _default: Any, ctx: _Context, _values: dict) -> Any:
    name = section.string(key)
    if name in ctx.relay_names:
        section.error(f"{name!r} is already the name of another relay", key)
    ctx.relay_names.add(name)
    return name


def _songs_folders(section: MapReader, key: str, _default: Any, ctx: _Context, _v: dict) -> Any:
    folders: list[Path] = []
    listing = section.list(key)
    if key not in section:
        folders.append(ctx.base / "songs")
    for line, raw in listing.strings():
        folder = resolve(ctx.base, raw)
        if problem := path_problem(folder, "folder"):
            section.problems.add(line, "songs.folders", problem)
        folders.append(folder)
    return tuple(folders)


def _extensions(allowed: tuple[str, ...], what: str) -> Any:
    """A reader of an ``extensions`` list, each one of ``allowed``."""

    def read(section: MapReader, key: str, default: Any, _ctx: _Context, _values: dict) -> Any:
        extensions: list[str] = []
        if key in section:
            for line, raw in section.list(key).strings():
                ext = raw.lower().lstrip(".")
                if ext not in allowed:
                    section.problems.add(
                        line,
                        f"{section.keypath}.{key}",
                        f"{raw!r} is not {what} (use {', '.join(allowed)})",
                    )
                else:
                    extensions.append(ext)
        return tuple(extensions) or default

    return read


def _mpv_options(section: MapReader, key: str, default: Any, _ctx: _Context, _v: dict) -> Any:
    if key not in section:
        return default
    options: list[str] = []
    for line, raw in section.list(key).strings():
        name = raw[2:].split("=", 1)[0].removeprefix("no-")
        if not raw.startswith("--") or not name:
            message = f"expected an mpv option such as --hwdec=auto-safe, got {raw!r}"
        elif name in RESERVED_MPV_OPTIONS:
            message = f"{raw!r}: party-button sets --{name} itself"
        else:
            options.append(raw)
            continue
        section.problems.add(line, "clips.mpv_options", message)
    return tuple(options)


def _interfaces(section: MapReader, key: str, _default: Any, _ctx: _Context, _v: dict) -> Any:
    interfaces: list[str] = []
    for line, name in section.list(key).strings():
        if name in INTERFACES:
            interfaces.append(name)
        else:
            hint = did_you_mean(name, INTERFACES)
            section.problems.add(
                line, "board.interfaces", f"expected {', '.join(INTERFACES)}, got {name!r}{hint}"
            )
    return tuple(interfaces)


def _audio_hat(section: MapReader, key: str, _default: Any, _ctx: _Context, _v: dict) -> Any:
    hat = section.string(key, "none", choices=("none", *sorted(KNOWN_AUDIO_HATS)))
    return None if hat == "none" else hat


@dataclass(frozen=True)
class GpioConfig:
    """Which gpiozero pin factory drives the pins."""

    pin_factory: str = setting(
        "auto",
        choices=PIN_FACTORIES,
        doc=(
            "auto: lgpio on a Raspberry Pi 5, RPi.GPIO on older boards ($GPIOZERO_PIN_FACTORY "
            "overrides it); lgpio or rpigpio force one; mock drives simulated pins (run --simulate "
            "uses it)"
        ),
    )


@dataclass(frozen=True)
class BoardConfig:
    """What else uses the header: enabled interfaces and an audio HAT, so pins do not clash."""

    interfaces: tuple[str, ...] = setting(
        (),
        read=_interfaces,
        doc="the interfaces enabled on this Pi (i2c, spi, uart), whose pins nothing else may use",
    )
    audio_hat: str | None = setting(
        None,
        read=_audio_hat,
        doc=(
            "an audio HAT on the header (none, or one of the known boards), whose pins "
            "nothing else may use"
        ),
    )


@dataclass(frozen=True)
class ButtonConfig:
    """The big button: a momentary switch from ``pin`` to ground (or 3V3 without pull-up)."""

    pin: int = setting(
        read=_pin("button"),
        stand_in=-1,
        doc="the pin the switch is wired to (GPIO17, BOARD11 or 17); its other leg goes to ground",
    )
    pull_up: bool = setting(
        True, doc="true: pressing pulls the pin to ground; false: pressing connects it to 3V3"
    )
    bounce_time: float = setting(
        0.05, minimum=0.0, maximum=1.0, doc="seconds of contact chatter to ignore after a press"
    )
    hold_time: float = setting(
        2.0,
        minimum=0.2,
        maximum=30.0,
        doc="seconds of holding the button that make a panic stop: relays off and silence at once",
    )


@dataclass(frozen=True)
class StatusLedConfig:
    """The LED built into the button, optional."""

    pin: int = setting(
        read=_pin("status LED"),
        stand_in=-1,
        doc="the pin of the LED in the dome button (through a transistor driver for a 12 V LED)",
    )
    active_high: bool = setting(True, doc="true: the LED is on when the pin is high")


@dataclass(frozen=True)
class RelayConfig:
    """One relay channel and the safety limits of its contacts."""

    name: str = setting(
        read=_relay_name,
        stand_in="",
        doc="the relay's name, used by shows, groups, logs and the web page; unique",
    )
    pin: int = setting(
        read=_pin(), stand_in=-1, doc="the pin wired to the relay board's input (IN1, IN2...)"
    )
    active_high: bool = setting(
        False, doc="false for the usual active-low relay boards (a low pin switches the relay on)"
    )
    drives: str = setting(
        "",
        allow_empty=True,
        doc="what the relay switches, for people: shown by test-relays, wiring and the web page",
    )
    min_interval: float = setting(
        0.25,
        minimum=0.02,
        maximum=60.0,
        doc=(
            "seconds that must pass between two switchings of this channel; faster patterns are "
            "refused"
        ),
    )
    max_on_time: float | None = setting(
        None,
        minimum=1.0,
        maximum=LONGEST,
        optional=True,
        doc="seconds the relay may stay on at a stretch before it must rest (null: no limit)",
    )
    rest_time: float = setting(
        30.0,
        minimum=0.0,
        maximum=3600.0,
        doc="seconds the relay stays off after reaching max_on_time",
    )


@dataclass(frozen=True)
class SongsConfig:
    """The songs library (by default the folder ``songs`` beside the config file)."""

    folders: tuple[Path, ...] = setting(
        read=_songs_folders,
        doc=(
            "folders searched (with their subfolders) for songs and clips; default: songs beside "
            "the config file"
        ),
    )
    extensions: tuple[str, ...] = setting(
        SONG_EXTENSIONS,
        read=_extensions(SONG_EXTENSIONS, "a format the mixer plays"),
        doc="the song formats to pick up (of ogg, mp3, wav, flac)",
    )
    no_repeat: bool = setting(True, doc="a song never plays twice in a row, even across reshuffles")


@dataclass(frozen=True)
class AudioConfig:
    """The mixer's output settings."""

    device: str | None = setting(
        None,
        doc=(
            "the SDL output device name (null: the system's default output); see the audio how-to "
            "for listing names"
        ),
    )
    sample_rate: int = setting(
        44100, minimum=8000, maximum=192000, integer=True, doc="samples per second of the mixer"
    )
    buffer_size: int = setting(
        512,
        minimum=64,
        maximum=16384,
        integer=True,
        doc="samples of the mixer's buffer; smaller starts faster, too small crackles",
    )
    volume: float = setting(0.8, minimum=0.0, maximum=1.0, doc="the songs' volume, 0.0 to 1.0")
    fade_out: float = setting(
        1.0, minimum=0.0, maximum=30.0, doc="seconds of fade when a party ends"
    )
    retry_interval: float = setting(
        5.0,
        minimum=0.5,
        maximum=600.0,
        doc="seconds between attempts to reopen a missing audio device",
    )


@dataclass(frozen=True)
class PartyConfig:
    """The rules of a party."""

    on_press: str = setting(
        "next",
        choices=PRESS_ACTIONS,
        doc="what a press during a party does: next, stop, ignore or restart",
    )
    cooldown: float = setting(
        3.0,
        minimum=0.0,
        maximum=600.0,
        doc="seconds after a party during which presses are ignored",
    )
    max_duration: float | None = setting(
        None,
        minimum=1.0,
        maximum=LONGEST,
        optional=True,
        doc="seconds a party lasts at most (null: the song decides)",
    )
    intro_sound: Path | None = setting(
        None,
        read=existing_file,
        doc="a sound played at the start of every party, before the song (null: none)",
    )
    fallback_sound: Path | None = setting(
        None, read=existing_file, doc="the sound played when no song can be played (null: none)"
    )


@dataclass(frozen=True)
class ClipsConfig:
    """Rendered clips in the party playlist, shown by mpv."""

    enabled: bool = setting(True, doc="false: songs only, mpv is never started")
    chance: float = setting(
        0.3,
        minimum=0.0,
        maximum=1.0,
        doc="how likely a press picks a clip rather than a song (0.0 to 1.0)",
    )
    extensions: tuple[str, ...] = setting(
        CLIP_EXTENSIONS,
        read=_extensions(VIDEO_EXTENSIONS, "a video format"),
        doc="the clip formats to pick up (of mp4, mkv, webm, mov, m4v)",
    )
    mpv: str = setting("mpv", doc="the mpv program: a name on PATH or a full path")
    mpv_options: tuple[str, ...] = setting(
        PI_MPV_OPTIONS,
        read=_mpv_options,
        doc=(
            "mpv options: by default full screen on HDMI without a desktop, hardware "
            "decoding where it works"
        ),
    )


@dataclass(frozen=True)
class Config:
    """A validated configuration."""

    path: Path
    gpio: GpioConfig
    board: BoardConfig
    button: ButtonConfig
    status_led: StatusLedConfig | None
    relays: tuple[RelayConfig, ...]
    songs: SongsConfig
    audio: AudioConfig
    party: PartyConfig
    lights: LightsConfig
    clips: ClipsConfig = field(default_factory=ClipsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)

    @property
    def effect_sounds(self) -> tuple[Path, ...]:
        """The intro and fallback sounds, which are not songs of the library."""
        return tuple(p for p in (self.party.intro_sound, self.party.fallback_sound) if p)

    def relay(self, name: str) -> RelayConfig:
        """The relay called ``name``."""
        for relay in self.relays:
            if relay.name == name:
                return relay
        raise KeyError(name)


def _read_relays(root: MapReader, context: _Context) -> tuple[RelayConfig, ...]:
    listing = root.list("relays", required=True)
    if "relays" in root and len(listing) == 0:
        root.error("needs at least one relay channel", "relays")
    return tuple(read_into(RelayConfig, item, context) for item in listing.maps())


def load_relays(
    path: str | os.PathLike[str], *, board: PiBoardInfo | None = None
) -> tuple[GpioConfig, tuple[RelayConfig, ...]]:
    """Only the pin factory and the relays of ``path``: what driving the relays off needs.

    The rest of the file is not read, so a mistake there (a folder the service cannot read,
    a typo) never keeps the relays on; a problem in ``gpio``, ``board`` or ``relays`` raises
    :class:`ConfigError`.
    """
    path = Path(path)
    problems = Problems(path)
    root = MapReader.load(path, problems)
    if not root.present:
        problems.raise_if_any()
    context = _Context(base=path.resolve().parent)
    gpio = read_into(GpioConfig, root.map("gpio"), context)
    uses = read_into(BoardConfig, root.map("board"), context)
    context.pins = _PinBook(board or board_info(), uses)
    relays = _read_relays(root, context)
    problems.raise_if_any()
    return gpio, relays


def load_config(path: str | os.PathLike[str], *, board: PiBoardInfo | None = None) -> Config:
    """Read and validate ``path``; raise :class:`ConfigError` listing every problem."""
    path = Path(path)
    problems = Problems(path)
    root = MapReader.load(path, problems)
    if not root.present:  # an unreadable, malformed or empty file has nothing more to say
        problems.raise_if_any()
    context = _Context(base=path.resolve().parent)
    gpio = read_into(GpioConfig, root.map("gpio"), context)
    uses = read_into(BoardConfig, root.map("board"), context)
    context.pins = _PinBook(board or board_info(), uses)
    button = read_into(ButtonConfig, root.map("button", required=True), context)
    led_section = root.map("status_led")  # left out, null, or reported as not a mapping
    status_led = read_into(StatusLedConfig, led_section, context) if led_section.present else None
    relays = _read_relays(root, context)
    songs = read_into(SongsConfig, root.map("songs"), context)
    audio = read_into(AudioConfig, root.map("audio"), context)
    party = read_into(PartyConfig, root.map("party"), context)
    lights = parse_lights(root, relays)
    clips = read_into(ClipsConfig, root.map("clips"), context)
    web = read_web(root.map("web"))
    mqtt = read_into(MqttConfig, root.map("mqtt"), context)
    sync = read_into(SyncConfig, root.map("sync"), context)
    root.finish()
    problems.raise_if_any()
    return Config(
        path=path,
        gpio=gpio,
        board=uses,
        button=button,
        status_led=status_led,
        relays=relays,
        songs=songs,
        audio=audio,
        party=party,
        lights=lights,
        clips=clips,
        web=web,
        mqtt=mqtt,
        sync=sync,
    )
