"""Joining the encoded segments and the input's audio into the finished clip."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from party_button.errors import OutputError
from party_button.render.video import VideoInfo, open_input

#: Audio codecs that an MP4 file can carry as they are; others are re-encoded as AAC.
MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"})
#: AAC channel layouts by number of channels; more channels are mixed down to stereo.
AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


@dataclass(frozen=True)
class ClipSpan:
    """The part of the input that the clip covers, in seconds of the input's timeline.

    ``start`` is subtracted from every timestamp (0 keeps the input's timestamps); audio
    stops at ``end`` (``None``: with the input's audio stream).
    """

    start: Fraction
    end: Fraction | None


#: One packet ready to mux: when it is decoded (seconds), the packet, its output stream.
_Timed = tuple[float, int, av.Packet, av.stream.Stream]


def assemble(
    segments: Sequence[Path], info: VideoInfo, span: ClipSpan, path: Path, audio: bool
) -> bool:
    """Write ``path`` from ``segments`` plus the input's audio; True if it has audio."""
    try:
        with ExitStack() as stack:
            output = stack.enter_context(
                av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
            )
            first = stack.enter_context(av.open(str(segments[0])))
            video_out = output.add_stream_from_template(first.streams.video[0])
            streams = [_video_packets(segments, span, video_out)]
            if audio and info.audio_codec is not None:
                source = stack.enter_context(open_input(info.path))
                streams.append(_audio_packets(source, span, output))
            for _, _, packet, stream in heapq.merge(*streams, key=lambda item: item[:2]):
                packet.stream = stream
                output.mux(packet)
            return len(streams) > 1
    except (OSError, av.FFmpegError) as error:
        raise OutputError.writing(path, error) from None


def _video_packets(
    segments: Sequence[Path], span: ClipSpan, stream: av.stream.Stream
) -> Iterator[_Timed]:
    extradata = None
    for path in segments:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            if extradata is None:
                extradata = video.codec_context.extradata
            elif video.codec_context.extradata != extradata:
                raise OutputError(f"{path}: encoded with other settings than the first segment")
            shift = round(span.start / video.time_base)
            for packet in container.demux(video):
                if packet.dts is None:
                    continue
                packet.pts -= shift
                packet.dts -= shift
                yield float(packet.dts * video.time_base), 0, packet, stream


def _audio_packets(
    source: av.container.InputContainer, span: ClipSpan, output: av.container.OutputContainer
) -> Iterator[_Timed]:
    audio = source.streams.audio[0]
    if audio.codec_context.name in MP4_AUDIO:
        stream = output.add_stream_from_template(audio)
        packets: Iterator[av.Packet] = _copied_audio(source, audio, span)
    else:
        layout = AAC_LAYOUTS.get(audio.codec_context.channels, "stereo")
        stream = output.add_stream("aac", rate=audio.codec_context.sample_rate, layout=layout)
        packets = _reencoded_audio(source, audio, span, stream)
    for packet in packets:
        yield float(packet.dts * packet.time_base), 1, packet, stream


def _copied_audio(
    source: av.container.InputContainer, audio: av.AudioStream, span: ClipSpan
) -> Iterator[av.Packet]:
    shift = round(span.start / audio.time_base)
    for packet in source.demux(audio):
        if packet.pts is None or packet.dts is None:
            continue
        time = packet.pts * audio.time_base
        if span.end is not None and time >= span.end:
            return
        if span.start and time < span.start:
            continue
        packet.pts -= shift
        packet.dts -= shift
        yield packet


def _reencoded_audio(
    source: av.container.InputContainer,
    audio: av.AudioStream,
    span: ClipSpan,
    stream: av.AudioStream,
) -> Iterator[av.Packet]:
    shift = round(span.start / audio.time_base)
    for frame in source.decode(audio):
        if frame.pts is None:
            continue
        time = frame.pts * audio.time_base
        if span.end is not None and time >= span.end:
            break
        if time < span.start:
            continue
        frame.pts -= shift
        yield from stream.encode(frame)
    yield from stream.encode(None)
