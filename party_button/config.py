"""The configuration: where it is found, its schema, and validation with file:line errors.

:func:`load_config` reads a YAML file, checks everything, and either returns a
:class:`Config` or raises :class:`~party_button.errors.ConfigError` listing *every* problem.
Nothing here touches a pin.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gpiozero.exc import PinInvalidPin
from gpiozero.pins.pi import PiBoardInfo

from party_button.board import board_info
from party_button.pinout import INTERFACES, KNOWN_AUDIO_HATS, pin_clashes
from party_button.show_config import LONGEST, parse_lights
from party_button.shows import LightsConfig
from party_button.yaml_reader import MapReader, Problems, describe, did_you_mean

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = PACKAGE_ROOT / "config" / "config.yaml"
SYSTEM_CONFIG = Path("/etc/party-button/config.yaml")
CONFIG_ENV = "PARTY_BUTTON_CONFIG"

PIN_FACTORIES = ("auto", "lgpio", "rpigpio", "mock")
PRESS_ACTIONS = ("next", "stop", "ignore", "restart")
SONG_EXTENSIONS = ("ogg", "mp3", "wav", "flac")
VIDEO_EXTENSIONS = ("mp4", "mkv", "webm", "mov", "m4v")
CLIP_EXTENSIONS = ("mp4", "mkv", "webm", "mov")
# Full screen on the Pi's HDMI output without a desktop (DRM/KMS), hardware decoding if any.
PI_MPV_OPTIONS = ("--vo=gpu", "--gpu-context=drm", "--hwdec=auto-safe", "--fullscreen")
# Options that the clip player sets itself and a config must not change.
RESERVED_MPV_OPTIONS = ("idle", "input-ipc-server", "config", "keep-open", "terminal")


@dataclass(frozen=True)
class GpioConfig:
    """Which gpiozero pin factory drives the pins."""

    pin_factory: str = "auto"


@dataclass(frozen=True)
class BoardConfig:
    """What else uses the header: enabled interfaces and an audio HAT, so pins do not clash."""

    interfaces: tuple[str, ...] = ()
    audio_hat: str | None = None


@dataclass(frozen=True)
class ButtonConfig:
    """The big button: a momentary switch from ``pin`` to ground (or 3V3 without pull-up)."""

    pin: int
    pull_up: bool = True
    bounce_time: float = 0.05
    hold_time: float = 2.0


@dataclass(frozen=True)
class StatusLedConfig:
    """The LED built into the button, optional."""

    pin: int
    active_high: bool = True


@dataclass(frozen=True)
class RelayConfig:
    """One relay channel and the safety limits of its contacts."""

    name: str
    pin: int
    active_high: bool = False
    drives: str = ""
    min_interval: float = 0.25
    max_on_time: float | None = None
    rest_time: float = 30.0


@dataclass(frozen=True)
class SongsConfig:
    """The songs library."""

    folders: tuple[Path, ...]
    extensions: tuple[str, ...] = SONG_EXTENSIONS
    no_repeat: bool = True


@dataclass(frozen=True)
class AudioConfig:
    """The mixer's output settings."""

    device: str | None = None
    sample_rate: int = 44100
    buffer_size: int = 1024
    volume: float = 0.8
    fade_out: float = 1.0
    retry_interval: float = 5.0


@dataclass(frozen=True)
class PartyConfig:
    """The rules of a party."""

    on_press: str = "next"
    cooldown: float = 3.0
    max_duration: float | None = None
    intro_sound: Path | None = None
    fallback_sound: Path | None = None


@dataclass(frozen=True)
class ClipsConfig:
    """Rendered clips in the party playlist, shown by mpv."""

    enabled: bool = True
    chance: float = 0.3
    extensions: tuple[str, ...] = CLIP_EXTENSIONS
    mpv: str = "mpv"
    mpv_options: tuple[str, ...] = PI_MPV_OPTIONS


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


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config to use: ``explicit``, ``$PARTY_BUTTON_CONFIG``, /etc, then the shipped one."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    if SYSTEM_CONFIG.exists():
        return SYSTEM_CONFIG
    return SHIPPED_CONFIG


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


def _resolve(base: Path, raw: str) -> Path:
    path = Path(os.path.expanduser(raw))
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def _read_button(root: MapReader, pins: _PinBook) -> ButtonConfig:
    section = root.map("button", required=True)
    pin = pins.read(section, "pin", "button", required=section.present)
    button = ButtonConfig(
        pin=pin if pin is not None else -1,
        pull_up=section.boolean("pull_up", True),
        bounce_time=section.number("bounce_time", 0.05, minimum=0.0, maximum=1.0),
        hold_time=section.number("hold_time", 2.0, minimum=0.2, maximum=30.0),
    )
    section.finish()
    return button


def _read_status_led(root: MapReader, pins: _PinBook) -> StatusLedConfig | None:
    section = root.map("status_led")
    if not section.present:  # left out, null, or reported as not a mapping
        return None
    pin = pins.read(section, "pin", "status LED")
    led = StatusLedConfig(
        pin=pin if pin is not None else -1, active_high=section.boolean("active_high", True)
    )
    section.finish()
    return led


def _read_relays(root: MapReader, pins: _PinBook) -> tuple[RelayConfig, ...]:
    relays: list[RelayConfig] = []
    names: set[str] = set()
    listing = root.list("relays", required=True)
    if "relays" in root and len(listing) == 0:
        root.error("needs at least one relay channel", "relays")
    for item in listing.maps():
        name = item.string("name")
        if name in names:
            item.error(f"{name!r} is already the name of another relay", "name")
        names.add(name)
        pin = pins.read(item, "pin", f"relay {name!r}")
        max_on = item.number("max_on_time", None, minimum=1.0, maximum=LONGEST, optional=True)
        relay = RelayConfig(
            name=name or "",
            pin=pin if pin is not None else -1,
            active_high=item.boolean("active_high", False),
            drives=item.string("drives", "", allow_empty=True) or "",
            min_interval=item.number("min_interval", 0.25, minimum=0.02, maximum=60.0),
            max_on_time=max_on,
            rest_time=item.number("rest_time", 30.0, minimum=0.0, maximum=3600.0),
        )
        item.finish()
        relays.append(relay)
    return tuple(relays)


def _read_songs(root: MapReader, base: Path) -> SongsConfig:
    section = root.map("songs")
    folders: list[Path] = []
    listing = section.list("folders")
    if "folders" not in section:
        folders.append(base / "songs")
    for line, raw in listing.strings():
        folder = _resolve(base, raw)
        if not folder.is_dir():
            section.problems.add(line, "songs.folders", f"folder {str(folder)!r} does not exist")
        folders.append(folder)
    extensions = _read_extensions(section, SONG_EXTENSIONS, "a format the mixer plays")
    songs = SongsConfig(
        folders=tuple(folders),
        extensions=extensions or SONG_EXTENSIONS,
        no_repeat=section.boolean("no_repeat", True),
    )
    section.finish()
    return songs


def _read_extensions(section: MapReader, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """The ``extensions`` list of ``section``, each one of ``allowed``."""
    extensions: list[str] = []
    if "extensions" in section:
        for line, raw in section.list("extensions").strings():
            ext = raw.lower().lstrip(".")
            if ext not in allowed:
                section.problems.add(
                    line,
                    f"{section.keypath}.extensions",
                    f"{raw!r} is not {what} (use {', '.join(allowed)})",
                )
            else:
                extensions.append(ext)
    return tuple(extensions)


def _read_clips(root: MapReader) -> ClipsConfig:
    section = root.map("clips")
    options: list[str] = []
    if "mpv_options" in section:
        for line, raw in section.list("mpv_options").strings():
            name = raw[2:].split("=", 1)[0].removeprefix("no-")
            if not raw.startswith("--") or not name:
                message = f"expected an mpv option such as --hwdec=auto-safe, got {raw!r}"
            elif name in RESERVED_MPV_OPTIONS:
                message = f"{raw!r}: party-button sets --{name} itself"
            else:
                options.append(raw)
                continue
            section.problems.add(line, "clips.mpv_options", message)
    extensions = _read_extensions(section, VIDEO_EXTENSIONS, "a video format")
    clips = ClipsConfig(
        enabled=section.boolean("enabled", True),
        chance=section.number("chance", 0.3, minimum=0.0, maximum=1.0),
        extensions=extensions or CLIP_EXTENSIONS,
        mpv=section.string("mpv", "mpv"),
        mpv_options=tuple(options) if "mpv_options" in section else PI_MPV_OPTIONS,
    )
    section.finish()
    return clips


def _read_audio(root: MapReader) -> AudioConfig:
    section = root.map("audio")
    audio = AudioConfig(
        device=section.string("device", None),
        sample_rate=section.number(
            "sample_rate", 44100, minimum=8000, maximum=192000, integer=True
        ),
        buffer_size=section.number("buffer_size", 1024, minimum=64, maximum=16384, integer=True),
        volume=section.number("volume", 0.8, minimum=0.0, maximum=1.0),
        fade_out=section.number("fade_out", 1.0, minimum=0.0, maximum=30.0),
        retry_interval=section.number("retry_interval", 5.0, minimum=0.5, maximum=600.0),
    )
    section.finish()
    return audio


def _read_sound(section: MapReader, key: str, base: Path) -> Path | None:
    raw = section.string(key, None)
    if raw is None:
        return None
    path = _resolve(base, raw)
    if not path.is_file():
        section.error(f"file {str(path)!r} does not exist", key)
    return path


def _read_party(root: MapReader, base: Path) -> PartyConfig:
    section = root.map("party")
    party = PartyConfig(
        on_press=section.string("on_press", "next", choices=PRESS_ACTIONS),
        cooldown=section.number("cooldown", 3.0, minimum=0.0, maximum=600.0),
        max_duration=section.number(
            "max_duration", None, minimum=1.0, maximum=LONGEST, optional=True
        ),
        intro_sound=_read_sound(section, "intro_sound", base),
        fallback_sound=_read_sound(section, "fallback_sound", base),
    )
    section.finish()
    return party


def _read_board(root: MapReader) -> BoardConfig:
    section = root.map("board")
    interfaces: list[str] = []
    for line, name in section.list("interfaces").strings():
        if name in INTERFACES:
            interfaces.append(name)
        else:
            hint = did_you_mean(name, INTERFACES)
            section.problems.add(
                line, "board.interfaces", f"expected {', '.join(INTERFACES)}, got {name!r}{hint}"
            )
    hats = ("none", *sorted(KNOWN_AUDIO_HATS))
    hat = section.string("audio_hat", "none", choices=hats)
    section.finish()
    return BoardConfig(interfaces=tuple(interfaces), audio_hat=None if hat == "none" else hat)


def _read_gpio(root: MapReader) -> GpioConfig:
    section = root.map("gpio")
    gpio = GpioConfig(pin_factory=section.string("pin_factory", "auto", choices=PIN_FACTORIES))
    section.finish()
    return gpio


def load_config(path: str | os.PathLike[str], *, board: PiBoardInfo | None = None) -> Config:
    """Read and validate ``path``; raise :class:`ConfigError` listing every problem."""
    path = Path(path)
    problems = Problems(path)
    root = MapReader.load(path, problems)
    if not root.present:  # an unreadable, malformed or empty file has nothing more to say
        problems.raise_if_any()
    base = path.resolve().parent
    gpio = _read_gpio(root)
    uses = _read_board(root)
    pins = _PinBook(board or board_info(), uses)
    button = _read_button(root, pins)
    status_led = _read_status_led(root, pins)
    relays = _read_relays(root, pins)
    songs = _read_songs(root, base)
    audio = _read_audio(root)
    party = _read_party(root, base)
    lights = parse_lights(root, relays)
    clips = _read_clips(root)
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
    )
