"""Decode farmers' voice recordings (mini-program and WeChat formats) to 16 kHz mono PCM for recognition."""

from __future__ import annotations

import importlib.util
import io
import math
import operator
import struct
import subprocess
import sys
from array import array
from dataclasses import dataclass

import av

from models.errors import ValidationError

__all__ = [
    "AudioTooLarge",
    "AudioTooLong",
    "CorruptAudio",
    "DecodedAudio",
    "SilentAudio",
    "UnsupportedAudio",
    "decode_to_pcm16k",
    "detect_audio_format",
]

SAMPLE_RATE = 16000
SILENCE_RMS_DBFS = -50.0
_BYTES_PER_SAMPLE = 2
# Below any real s16 level (one LSB is about -90 dBFS); keeps the dB maths finite for all-zero input.
_FLOOR_DBFS = -120.0
# More damaged packets than this and what is left is too patchy to trust for a weight.
_MAX_BAD_PACKET_RATIO = 0.1
_LENGTH_GRACE_S = 0.5


class AudioTooLarge(ValidationError):
    code = "AUDIO_TOO_LARGE"
    http_status = 413
    default_message = "录音文件太大，请缩短后重新录制"


class UnsupportedAudio(ValidationError):
    code = "AUDIO_UNSUPPORTED_FORMAT"
    default_message = "不支持的录音格式，请用小程序或微信语音重新录制"


class CorruptAudio(ValidationError):
    code = "AUDIO_CORRUPT"
    default_message = "录音文件损坏，无法读取，请重新录制"


class SilentAudio(ValidationError):
    code = "AUDIO_SILENT"
    default_message = "没有听到声音，请靠近手机再说一遍"


class AudioTooLong(ValidationError):
    code = "AUDIO_TOO_LONG"
    default_message = "录音太长，请在60秒内说完重量"


@dataclass(frozen=True)
class DecodedAudio:
    """Signed 16-bit little-endian mono PCM at 16 kHz, with its length and levels."""

    pcm: bytes
    seconds: float
    source_format: str
    peak_dbfs: float
    rms_dbfs: float

    @property
    def sample_rate(self) -> int:
        """Samples per second of ``pcm`` (always 16000)."""
        return SAMPLE_RATE


# Our format name -> the FFmpeg demuxer forced for it. Forcing the demuxer (instead of letting FFmpeg
# probe) keeps uploads away from playlist/concat demuxers that could open other files or URLs.
_DEMUXERS = {"wav": "wav", "mp3": "mp3", "aac": "aac", "m4a": "mov", "amr": "amr", "ogg": "ogg"}


def _skip_id3(data: bytes) -> int:
    """Offset just past a leading ID3v2 tag (0 when there is none)."""
    if len(data) < 10 or data[:3] != b"ID3":
        return 0
    size = 0
    for b in data[6:10]:  # syncsafe integer: 7 bits per byte
        size = (size << 7) | (b & 0x7F)
    footer = 10 if data[5] & 0x10 else 0
    return 10 + size + footer


def detect_audio_format(data: bytes) -> str | None:
    """Name the container by its magic bytes: wav, mp3, aac, m4a, amr, silk, ogg, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"OggS":
        return "ogg"
    if data.startswith(b"#!AMR"):  # "#!AMR\n" (narrow band) and "#!AMR-WB\n"
        return "amr"
    # WeChat prepends 0x02 to the standard Skype header; both variants are seen in the wild.
    if data.startswith((b"#!SILK_V3", b"\x02#!SILK_V3")):
        return "silk"
    if data[4:8] == b"ftyp":
        return "m4a"
    start = _skip_id3(data)
    head = data[start : start + 2]
    if len(head) == 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # Both MPEG audio and ADTS start with an 11/12-bit sync; ADTS has layer bits 00, MP3 does not.
        return "aac" if head[1] & 0x06 == 0 else "mp3"
    return "mp3" if start else None  # an ID3 tag almost always fronts an MP3, even if the sync is odd


def _levels(pcm: bytes) -> tuple[float, float]:
    """Peak and RMS level of s16 PCM in dBFS."""
    samples = array("h", pcm)
    if not samples:
        return _FLOOR_DBFS, _FLOOR_DBFS
    peak = max(max(samples), -min(samples))
    # map(operator.mul) keeps the sum in C; a minute of audio is about 1M samples.
    mean_square = sum(map(operator.mul, samples, samples)) / len(samples)

    def dbfs(value: float) -> float:
        return max(_FLOOR_DBFS, 20 * math.log10(value / 32768)) if value > 0 else _FLOOR_DBFS

    return dbfs(peak), dbfs(math.sqrt(mean_square))


# SILK payloads are well under this (about 100 bytes per 20 ms at WeChat's bit rates); pysilk rejects more
# than 640 bytes when decoding to 16 kHz.
_SILK_MAX_PACKET = 640
_SILK_TIMEOUT_S = 20
# The Skype SILK decoder (inside pysilk) is not hardened: fuzzing showed a flipped payload byte can corrupt
# the heap and kill the process. So it runs in a throw-away interpreter; a crash there is just a bad file.
_SILK_CHILD = """
import io, os, sys, pysilk
limit, out, written = int(sys.argv[1]), sys.stdout.buffer, 0
class Sink(io.RawIOBase):
    def writable(self): return True
    def write(self, b):
        global written
        written += len(b)
        if written > limit: os._exit(3)
        return out.write(b)
try:
    pysilk.decode(io.BytesIO(sys.stdin.buffer.read()), Sink(), 16000)
except pysilk.SilkError as exc:
    sys.stderr.write(str(exc)); sys.exit(2)
out.flush()
"""


def _clean_silk(data: bytes) -> bytes:
    """Re-frame a SILK stream as header + whole packets, so the C decoder never sees an impossible length."""
    body = memoryview(data)[10 if data[:1] == b"\x02" else 9 :]
    packets = [b"#!SILK_V3"]
    pos = 0
    while pos + 2 <= len(body):
        (size,) = struct.unpack_from("<h", body, pos)
        if size == -1:  # Skype's end-of-stream marker
            break
        if size < 0 or size > _SILK_MAX_PACKET:
            raise CorruptAudio(source_format="silk", reason=f"bad packet length {size} at {pos}")
        if pos + 2 + size > len(body):
            break  # a cut-off last packet, as when a recording is stopped mid-write: keep what is whole
        if size:  # zero-length packets are DTX/lost frames and carry no audio
            packets.append(body[pos : pos + 2 + size].tobytes())
        pos += 2 + size
    if len(packets) == 1:
        raise CorruptAudio(source_format="silk", reason="no complete SILK packet")
    return b"".join(packets)


def _decode_silk(data: bytes, limit: int) -> bytes:
    """Decode a (WeChat or Skype) SILK v3 stream to 16 kHz PCM in a child process."""
    if importlib.util.find_spec("pysilk") is None:
        raise UnsupportedAudio(source_format="silk", reason="SILK decoder (silk-python) not installed")
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-c", _SILK_CHILD, str(limit)],
            input=_clean_silk(data),
            capture_output=True,
            timeout=_SILK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CorruptAudio(source_format="silk", reason="decoder timed out") from exc
    if proc.returncode == 3:
        raise AudioTooLong(limit=limit)
    if proc.returncode != 0:
        reason = proc.stderr.decode("utf-8", "replace")[-200:] or f"decoder exit code {proc.returncode}"
        raise CorruptAudio(source_format="silk", reason=reason)
    return proc.stdout


def _has_decoder(*names: str) -> bool:
    """True when the bundled FFmpeg can decode with any of ``names``."""
    return any(name in av.codecs_available for name in names)


def _check_decoder(data: bytes, fmt: str) -> None:
    """Refuse AMR cleanly when this PyAV build has no AMR decoder (older wheels shipped without it)."""
    if fmt == "amr":
        wide = data.startswith(b"#!AMR-WB")
        if not _has_decoder(*(("amrwb", "libopencore_amrwb") if wide else ("amrnb", "libopencore_amrnb"))):
            raise UnsupportedAudio(
                "暂不支持微信语音（AMR）格式，请在小程序里录音", source_format=fmt, reason="no AMR decoder"
            )


def _decode_ffmpeg(data: bytes, fmt: str, limit: int) -> bytes:
    """Decode the first audio stream with FFmpeg, resampling to 16 kHz mono s16 as it goes."""
    _check_decoder(data, fmt)
    out = bytearray()
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    good = bad = 0

    def take(frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            # Planes can be padded past the last sample; only samples * 2 bytes are audio.
            out.extend(bytes(frame.planes[0])[: frame.samples * _BYTES_PER_SAMPLE])
        if len(out) > limit:
            raise AudioTooLong(limit=limit)

    try:
        with av.open(io.BytesIO(data), mode="r", format=_DEMUXERS[fmt]) as container:
            if not container.streams.audio:
                raise UnsupportedAudio(source_format=fmt, reason="no audio stream")
            stream = container.streams.audio[0]
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    bad += 1  # one damaged frame (a glitch in transit) should not lose the whole recording
                    continue
                good += 1
                for frame in frames:
                    take(resampler.resample(frame))
            take(resampler.resample(None))  # flush the resampler's delay line
    except (av.FFmpegError, ValueError, OSError, EOFError, IndexError, RuntimeError) as exc:
        # FFmpeg reports malformed uploads through many exception types; all mean "cannot read this file".
        raise CorruptAudio(source_format=fmt, reason=str(exc)) from exc
    if bad > _MAX_BAD_PACKET_RATIO * (good + bad):
        raise CorruptAudio(source_format=fmt, reason=f"{bad} of {good + bad} packets undecodable")
    return bytes(out)


def decode_to_pcm16k(
    data: bytes, *, max_bytes: int = 5 * 1024 * 1024, max_seconds: float = 60
) -> DecodedAudio:
    """Detect, decode and resample a recording to 16 kHz mono s16le PCM, refusing silent or oversized ones."""
    if len(data) > max_bytes:
        raise AudioTooLarge(size=len(data), max_bytes=max_bytes)
    fmt = detect_audio_format(data)
    if fmt is None:
        raise UnsupportedAudio(head=data[:16].hex())
    # Codec priming and padding make a full-length recording decode a little long; do not refuse those.
    limit = int((max_seconds + _LENGTH_GRACE_S) * SAMPLE_RATE) * _BYTES_PER_SAMPLE
    try:
        pcm = _decode_silk(data, limit) if fmt == "silk" else _decode_ffmpeg(data, fmt, limit)
    except AudioTooLong as exc:
        message = f"录音太长，请在{max_seconds:g}秒内说完重量"
        raise AudioTooLong(message, source_format=fmt, max_seconds=max_seconds) from exc
    if not pcm:
        raise CorruptAudio(source_format=fmt, reason="no audio samples decoded")
    peak_dbfs, rms_dbfs = _levels(pcm)
    if rms_dbfs < SILENCE_RMS_DBFS:
        raise SilentAudio(source_format=fmt, rms_dbfs=round(rms_dbfs, 1))
    return DecodedAudio(
        pcm=pcm,
        seconds=len(pcm) / (SAMPLE_RATE * _BYTES_PER_SAMPLE),
        source_format=fmt,
        peak_dbfs=peak_dbfs,
        rms_dbfs=rms_dbfs,
    )
