"""decode_to_pcm16k: every format the mini-program and WeChat send, generated here (no binary fixtures)."""

from __future__ import annotations

import io
import itertools
import math
import random
import struct

import av
import pysilk
import pytest

from media import audio
from media.audio import (
    AudioTooLarge,
    AudioTooLong,
    CorruptAudio,
    DecodedAudio,
    SilentAudio,
    UnsupportedAudio,
    decode_to_pcm16k,
    detect_audio_format,
)
from models.errors import ValidationError

SECONDS = 1.5
TOLERANCE_S = 0.05
CARRIER_HZ = 440.0


# --- helpers: synthesise and encode audio in memory -------------------------------------------------


def speech_like_pcm(rate: int, channels: int, seconds: float, *, amplitude: float = 0.3) -> bytes:
    """A 440 Hz carrier with a 3 Hz syllable-like envelope; the envelope never reaches zero."""
    frames = []
    for i in range(int(rate * seconds)):
        t = i / rate
        envelope = 0.55 + 0.45 * math.sin(2 * math.pi * 3 * t)
        value = int(32767 * amplitude * envelope * math.sin(2 * math.pi * CARRIER_HZ * t))
        frames.append(struct.pack("<h", value) * channels)
    return b"".join(frames)


def noise_pcm(rate: int, seconds: float, lsb: int) -> bytes:
    """Very quiet white noise (+-lsb), like a phone lying on a table."""
    rng = random.Random(42)
    count = int(rate * seconds)
    return struct.pack(f"<{count}h", *(rng.randint(-lsb, lsb) for _ in range(count)))


def encode(
    container: str,
    codec: str,
    pcm: bytes,
    rate: int,
    channels: int,
    *,
    stream_rate: int | None = None,
    stream_layout: str | None = None,
    options: dict[str, str] | None = None,
) -> bytes:
    """Encode s16 PCM with PyAV; PyAV converts the frames to what the encoder needs."""
    layout = "stereo" if channels == 2 else "mono"
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container, options=options or {}) as out:
        stream = out.add_stream(codec, rate=stream_rate or rate, layout=stream_layout or layout)
        step = 1024 * 2 * channels
        pts = 0
        for offset in range(0, len(pcm), step):
            chunk = pcm[offset : offset + step]
            frame = av.AudioFrame(format="s16", layout=layout, samples=len(chunk) // (2 * channels))
            frame.planes[0].update(chunk)
            frame.sample_rate, frame.pts = rate, pts
            pts += frame.samples
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def wav(pcm: bytes, rate: int = 16000, channels: int = 1) -> bytes:
    """A WAV file of s16 PCM."""
    return encode("wav", "pcm_s16le", pcm, rate, channels)


def silk(pcm: bytes, rate: int = 24000, *, tencent: bool = True) -> bytes:
    """SILK v3 as WeChat writes it (tencent=True adds the 0x02 byte) from mono s16 PCM."""
    out = io.BytesIO()
    pysilk.encode(io.BytesIO(pcm), out, rate, 24000, tencent=tencent)
    return out.getvalue()


def zero_crossings_per_second(decoded: DecodedAudio) -> float:
    """Sign changes per second; twice the carrier frequency when the sample rate is really 16 kHz."""
    samples = struct.unpack(f"<{len(decoded.pcm) // 2}h", decoded.pcm)
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    return crossings / decoded.seconds


def assert_decoded(decoded: DecodedAudio, fmt: str, seconds: float) -> None:
    """Shared checks: 16 kHz mono s16, right length, right pitch, levels plausible."""
    assert decoded.source_format == fmt
    assert decoded.sample_rate == 16000
    assert len(decoded.pcm) % 2 == 0
    assert decoded.seconds == pytest.approx(len(decoded.pcm) / 32000)
    assert abs(decoded.seconds - seconds) <= TOLERANCE_S, decoded.seconds
    # A wrong rate conversion (e.g. 8 kHz data labelled 16 kHz) would halve or double this.
    assert zero_crossings_per_second(decoded) == pytest.approx(2 * CARRIER_HZ, rel=0.05)
    assert -30 < decoded.rms_dbfs < decoded.peak_dbfs <= 0


# --- every container/codec, 8 kHz mono and 44.1 kHz stereo ------------------------------------------

FORMATS = [
    # id, container, codec, expected format, rate, channels, stream_rate, stream_layout, muxer options
    ("wav-8k", "wav", "pcm_s16le", "wav", 8000, 1, None, None, None),
    ("wav-44k", "wav", "pcm_s16le", "wav", 44100, 2, None, None, None),
    ("mp3-8k", "mp3", "libmp3lame", "mp3", 8000, 1, None, None, None),
    ("mp3-44k", "mp3", "libmp3lame", "mp3", 44100, 2, None, None, None),
    ("mp3-no-id3", "mp3", "libmp3lame", "mp3", 44100, 2, None, None, {"id3v2_version": "0"}),
    ("m4a-8k", "ipod", "aac", "m4a", 8000, 1, None, None, None),
    ("m4a-44k", "ipod", "aac", "m4a", 44100, 2, None, None, None),
    # Raw ADTS has no edit list, so its 1024-sample priming stays in: 23 ms at 44.1 kHz, 128 ms at 8 kHz.
    ("adts-44k", "adts", "aac", "aac", 44100, 2, None, None, None),
    ("ogg-opus-8k", "ogg", "libopus", "ogg", 8000, 1, None, None, None),
    ("ogg-opus-44k", "ogg", "libopus", "ogg", 44100, 2, 48000, None, None),  # Opus has no 44.1 kHz mode
    ("amr-8k", "amr", "libopencore_amrnb", "amr", 8000, 1, None, None, None),
    ("amr-from-44k", "amr", "libopencore_amrnb", "amr", 44100, 2, 8000, "mono", None),  # AMR-NB: 8k mono
]


@pytest.mark.parametrize(
    ("container", "codec", "fmt", "rate", "channels", "stream_rate", "stream_layout", "options"),
    [pytest.param(*row[1:], id=row[0]) for row in FORMATS],
)
def test_decodes_every_format_to_16k_mono(
    container: str,
    codec: str,
    fmt: str,
    rate: int,
    channels: int,
    stream_rate: int | None,
    stream_layout: str | None,
    options: dict[str, str] | None,
) -> None:
    data = encode(
        container, codec, speech_like_pcm(rate, channels, SECONDS), rate, channels,
        stream_rate=stream_rate, stream_layout=stream_layout, options=options,
    )
    assert detect_audio_format(data) == fmt
    assert_decoded(decode_to_pcm16k(data), fmt, SECONDS)


@pytest.mark.parametrize("tencent", [True, False], ids=["wechat-0x02", "skype-header"])
def test_silk_round_trip(tencent: bool) -> None:
    data = silk(speech_like_pcm(24000, 1, 2.0), tencent=tencent)
    assert data.startswith(b"\x02#!SILK_V3" if tencent else b"#!SILK_V3")
    assert_decoded(decode_to_pcm16k(data), "silk", 2.0)


def test_silk_skype_end_marker_and_cut_off_tail_are_tolerated() -> None:
    data = silk(speech_like_pcm(24000, 1, 2.0), tencent=False)
    assert_decoded(decode_to_pcm16k(data + b"\xff\xff"), "silk", 2.0)
    cut = decode_to_pcm16k(data[: len(data) // 2 + 3])  # stops inside a packet
    assert 0.5 < cut.seconds < 1.5


def test_silk_impossible_packet_length_is_corrupt() -> None:
    data = silk(speech_like_pcm(24000, 1, 1.0))
    broken = data[:10] + struct.pack("<h", 30000) + data[12:]
    with pytest.raises(CorruptAudio) as info:
        decode_to_pcm16k(broken)
    assert info.value.code == "AUDIO_CORRUPT"
    assert info.value.message.startswith("录音文件损坏")


def test_silk_decoder_crash_is_contained(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fuzzing showed the C decoder can corrupt its heap on damaged payloads; the child dying must not matter.
    monkeypatch.setattr(audio, "_SILK_CHILD", "import os; os.abort()")
    with pytest.raises(CorruptAudio):
        decode_to_pcm16k(silk(speech_like_pcm(24000, 1, 1.0)))


def test_amr_without_decoder_is_a_clean_unsupported_error(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode("amr", "libopencore_amrnb", speech_like_pcm(8000, 1, 1.0), 8000, 1)
    monkeypatch.setattr(audio, "_has_decoder", lambda *names: False)
    with pytest.raises(UnsupportedAudio) as info:
        decode_to_pcm16k(data)
    assert info.value.code == "AUDIO_UNSUPPORTED_FORMAT"
    assert "AMR" in info.value.message


# --- silence ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(wav(b"\0\0" * 16000), id="wav-zeros"),
        pytest.param(wav(noise_pcm(16000, 1.0, lsb=8)), id="wav-faint-noise"),
        pytest.param(encode("mp3", "libmp3lame", b"\0\0" * 44100, 44100, 1), id="mp3-zeros"),
        pytest.param(silk(b"\0\0" * 24000), id="silk-zeros"),
    ],
)
def test_silence_is_refused(data: bytes) -> None:
    with pytest.raises(SilentAudio) as info:
        decode_to_pcm16k(data)
    assert info.value.code == "AUDIO_SILENT"
    assert info.value.message == "没有听到声音，请靠近手机再说一遍"
    assert info.value.details["rms_dbfs"] < -50


def test_quiet_but_real_speech_passes() -> None:
    decoded = decode_to_pcm16k(wav(speech_like_pcm(16000, 1, 1.0, amplitude=0.01)))  # about -45 dBFS RMS
    assert -50 < decoded.rms_dbfs < -40


# --- limits -----------------------------------------------------------------------------------------


def test_too_large_is_refused_before_decoding() -> None:
    with pytest.raises(AudioTooLarge) as info:
        decode_to_pcm16k(b"RIFF" + b"\0" * (5 * 1024 * 1024))
    assert (info.value.code, info.value.http_status) == ("AUDIO_TOO_LARGE", 413)
    with pytest.raises(AudioTooLarge):
        decode_to_pcm16k(wav(speech_like_pcm(16000, 1, 1.0)), max_bytes=1000)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(wav(speech_like_pcm(16000, 1, 3.0)), id="wav"),
        pytest.param(encode("amr", "libopencore_amrnb", speech_like_pcm(8000, 1, 3.0), 8000, 1), id="amr"),
        pytest.param(silk(speech_like_pcm(24000, 1, 3.0)), id="silk"),
    ],
)
def test_too_long_is_refused(data: bytes) -> None:
    with pytest.raises(AudioTooLong) as info:
        decode_to_pcm16k(data, max_seconds=2)
    assert info.value.code == "AUDIO_TOO_LONG"
    assert "2秒" in info.value.message


def test_full_length_recording_is_not_refused_for_codec_padding() -> None:
    data = encode("ipod", "aac", speech_like_pcm(8000, 1, 2.0), 8000, 1)  # decodes ~36 ms long
    assert decode_to_pcm16k(data, max_seconds=2).seconds > 2.0


# --- damaged and foreign input ----------------------------------------------------------------------


def _samples() -> dict[str, bytes]:
    pcm8k = speech_like_pcm(8000, 1, 1.0)
    return {
        "wav": wav(pcm8k, 8000),
        "mp3": encode("mp3", "libmp3lame", pcm8k, 8000, 1),
        "m4a": encode("ipod", "aac", pcm8k, 8000, 1),
        "aac": encode("adts", "aac", pcm8k, 8000, 1),
        "ogg": encode("ogg", "libopus", pcm8k, 8000, 1),
        "amr": encode("amr", "libopencore_amrnb", pcm8k, 8000, 1),
        "silk": silk(speech_like_pcm(24000, 1, 1.0)),
    }


SAMPLES = _samples()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"hello, this is not audio at all", id="text"),
        pytest.param(bytes(random.Random(1).randrange(256) for _ in range(4000)), id="random"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, id="png"),
    ],
)
def test_foreign_data_is_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedAudio) as info:
        decode_to_pcm16k(data)
    assert info.value.code == "AUDIO_UNSUPPORTED_FORMAT"


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_header_only_is_corrupt(fmt: str) -> None:
    with pytest.raises(CorruptAudio) as info:
        decode_to_pcm16k(SAMPLES[fmt][:24])
    assert info.value.message.startswith("录音文件损坏")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(SAMPLES["m4a"][: len(SAMPLES["m4a"]) // 2], id="m4a-cut-before-moov"),
        pytest.param(SAMPLES["wav"][:12] + bytes(range(256)) * 8, id="riff-then-garbage"),
        pytest.param(b"\x02#!SILK_V3" + bytes(range(256)) * 8, id="silk-header-then-garbage"),
        pytest.param(b"OggS" + b"\xff" * 2000, id="ogg-magic-then-garbage"),
    ],
)
def test_garbage_behind_a_valid_magic_is_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptAudio):
        decode_to_pcm16k(data)


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_mutated_files_never_escape_as_unhandled_errors(fmt: str) -> None:
    rng = random.Random(fmt)
    original = SAMPLES[fmt]
    for trial in range(12 if fmt == "silk" else 40):  # SILK decodes in a child process: fewer, still varied
        data = bytearray(original)
        if trial % 3 == 0:
            data = data[: rng.randrange(1, len(data))]
        elif trial % 3 == 1:
            for _ in range(rng.randrange(1, 20)):
                data[rng.randrange(12, len(data))] = rng.randrange(256)
        else:
            cut = rng.randrange(12, len(data))
            data = data[:cut] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        try:
            decoded = decode_to_pcm16k(bytes(data))
        except (CorruptAudio, UnsupportedAudio, SilentAudio):
            continue
        assert decoded.seconds > 0 and len(decoded.pcm) % 2 == 0


# --- detection and error types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00", "mp3"),
        (b"\xff\xfb\x90\x64\x00", "mp3"),
        (b"\xff\xf1\x50\x80\x2a", "aac"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xf1\x50\x80", "aac"),  # ID3-tagged ADTS
        (b"\x00\x00\x00\x1cftypM4A \x00\x00\x02\x00", "m4a"),
        (b"\x00\x00\x00\x18ftyp3gp4", "m4a"),
        (b"#!AMR\n\x3c", "amr"),
        (b"#!AMR-WB\n\x04", "amr"),
        (b"#!SILK_V3\x1f\x00", "silk"),
        (b"\x02#!SILK_V3\x1f\x00", "silk"),
        (b"OggS\x00\x02", "ogg"),
        (b"fLaC\x00\x00\x00\x22", None),
        (b"", None),
    ],
)
def test_detect_audio_format(head: bytes, fmt: str | None) -> None:
    assert detect_audio_format(head) == fmt


def test_errors_are_validation_errors_with_stable_codes() -> None:
    codes = {
        AudioTooLarge: "AUDIO_TOO_LARGE",
        UnsupportedAudio: "AUDIO_UNSUPPORTED_FORMAT",
        CorruptAudio: "AUDIO_CORRUPT",
        SilentAudio: "AUDIO_SILENT",
        AudioTooLong: "AUDIO_TOO_LONG",
    }
    for cls, code in codes.items():
        error = cls()
        assert isinstance(error, ValidationError)
        assert error.to_dict()["code"] == code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in error.message)


def test_decoded_audio_is_frozen() -> None:
    decoded = decode_to_pcm16k(SAMPLES["wav"])
    with pytest.raises(AttributeError):
        decoded.seconds = 0  # type: ignore[misc]
