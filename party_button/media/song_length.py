"""How long a song says it is, read from its header without decoding it.

The daemon compares this length with how far the mixer got, so that a file that stops playing
early (damaged after some point) is noticed, and a file that holds no sound at all is set
aside before it is played. Ogg (Vorbis and Opus), FLAC and WAV say their length in a few
bytes; MP3 does not reliably, so its length is unknown (``None``). Only the first and last
:data:`PROBE_BYTES` of a file are read, whatever its size.
"""

from __future__ import annotations

import os

PROBE_BYTES = 64 * 1024
_MAX_WAV_CHUNKS = 64


def song_length(descriptor: int, size: int) -> float | None:
    """Seconds of sound the file open on ``descriptor`` says it holds; None when it cannot tell."""
    head = os.pread(descriptor, PROBE_BYTES, 0)
    if head.startswith(b"OggS"):
        end = size - PROBE_BYTES
        return _ogg_length(head, head if end <= 0 else os.pread(descriptor, PROBE_BYTES, end))
    if head.startswith((b"fLaC", b"ID3")):
        return _flac_length(head)
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return _wav_length(descriptor, size)
    return None


def _ogg_length(head: bytes, tail: bytes) -> float | None:
    """The granule position of the stream's last page over its sample rate."""
    first = _ogg_page(head, 0)
    if first is None:
        return None
    _granule, serial, packet = first
    if packet.startswith(b"\x01vorbis") and len(packet) >= 16:
        rate, skip = int.from_bytes(packet[12:16], "little"), 0
    elif packet.startswith(b"OpusHead") and len(packet) >= 12:
        rate, skip = 48000, int.from_bytes(packet[10:12], "little")  # Opus counts at 48 kHz
    else:
        return None
    if rate <= 0:
        return None
    at = tail.rfind(b"OggS")
    while at >= 0:
        page = _ogg_page(tail, at)
        if page is not None and page[1] == serial and page[0] >= 0:
            return max(0, page[0] - skip) / rate
        at = tail.rfind(b"OggS", 0, at)
    return None


def _ogg_page(data: bytes, at: int) -> tuple[int, int, bytes] | None:
    """The granule position, serial number and body start of the Ogg page at ``at``."""
    if len(data) < at + 27 or data[at + 4] != 0:
        return None
    granule = int.from_bytes(data[at + 6 : at + 14], "little", signed=True)
    serial = int.from_bytes(data[at + 14 : at + 18], "little")
    segments = data[at + 26]
    body = at + 27 + segments
    return granule, serial, data[body : body + 64]


def _flac_length(head: bytes) -> float | None:
    """Total samples over the sample rate, from the STREAMINFO block (after any ID3 tag)."""
    at = 0
    if head.startswith(b"ID3") and len(head) >= 10:
        size = 0
        for byte in head[6:10]:
            size = (size << 7) | (byte & 0x7F)
        at = 10 + size
    if head[at : at + 4] != b"fLaC" or len(head) < at + 26 or head[at + 4] & 0x7F != 0:
        return None
    info = head[at + 8 : at + 26]
    rate = int.from_bytes(info[10:13], "big") >> 4
    samples = int.from_bytes(info[13:18], "big") & 0xFFFFFFFFF
    if rate <= 0 or samples == 0:  # 0 samples: the encoder did not know
        return None
    return samples / rate


def _wav_length(descriptor: int, size: int) -> float | None:
    """The ``data`` chunk's size over the byte rate of the ``fmt`` chunk."""
    byte_rate = None
    at = 12
    for _chunk in range(_MAX_WAV_CHUNKS):
        header = os.pread(descriptor, 24, at)
        if len(header) < 8:
            return None
        kind, length = header[:4], int.from_bytes(header[4:8], "little")
        if kind == b"fmt " and len(header) >= 20:
            byte_rate = int.from_bytes(header[16:20], "little")
        elif kind == b"data":
            if not byte_rate or length == 0xFFFFFFFF:  # 0xFFFFFFFF: written as a stream
                return None
            return length / byte_rate
        at += 8 + length + (length & 1)
        if at >= size:
            return None
    return None
