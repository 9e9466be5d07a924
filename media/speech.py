"""Offline speech recognition of short weight reports ("二十三斤半") with vosk, in grammar mode."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from media.audio import SAMPLE_RATE, DecodedAudio
from models.errors import DomainError
from models.quantity import APPROXIMATE_WORDS, CORRECTION_WORDS, SPOKEN_NUMERALS

__all__ = [
    "SpeechRecognizer",
    "SpeechUnavailable",
    "Transcript",
    "VoskRecognizer",
    "WordResult",
    "chinese_quantity_grammar",
    "load_recognizer",
]

UNKNOWN_WORD = "[unk]"
# 4000 frames of s16 mono (0.25 s): vosk's own examples use this size, and it keeps endpointing responsive.
_CHUNK_BYTES = 4000 * 2
_UNITS = ("斤", "两", "公斤", "千克", "克", "吨", "箱", "罐", "袋", "筐")
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")


class SpeechUnavailable(DomainError):
    code = "SPEECH_DISABLED"
    http_status = 503
    default_message = "语音识别未启用，请直接输入重量"


class WordResult(NamedTuple):
    """One recognised word with its confidence (0..1) and its start/end in seconds."""

    word: str
    conf: float
    start: float
    end: float


@dataclass(frozen=True)
class Transcript:
    """What the recogniser heard, with per-word confidences and timing."""

    text: str
    confidence: float
    words: tuple[WordResult, ...]
    seconds_processed: float
    elapsed_ms: float

    @property
    def compact_text(self) -> str:
        """``text`` without the spaces vosk puts between Chinese words ("二十 三 斤" -> "二十三斤")."""
        return _CJK_GAP.sub("", self.text)


@runtime_checkable
class SpeechRecognizer(Protocol):
    """Anything that turns decoded 16 kHz audio into a transcript."""

    def recognize(self, audio: DecodedAudio, *, grammar: Sequence[str] | None = None) -> Transcript:
        """Recognise ``audio``, restricted to ``grammar`` phrases when one is given."""
        ...


def chinese_quantity_grammar(grade_words: Sequence[str] = ("特级", "一级", "二级", "三级")) -> list[str]:
    """Vocabulary for spoken weights: numerals, units, correction and estimate words, grade words (deduplicated).

    The words come from models.quantity, the parser that reads the transcript: an estimate (左右) must be
    heard to be asked back, not dropped by the grammar and the rest booked as exact.
    """
    # 两 is both a numeral ("两斤") and a unit (50 g); a grammar lists each word once.
    return list(dict.fromkeys((*SPOKEN_NUMERALS, *_UNITS, *CORRECTION_WORDS, *APPROXIMATE_WORDS, *grade_words)))


_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def _is_model_dir(path: Path) -> bool:
    """True when ``path`` has the acoustic model vosk needs (new ``am/`` layout or the old flat one)."""
    return (path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()


def _load_model(path: Path) -> Any:
    """Load a vosk model once per resolved path; models are large (tens of MB) and safe to share."""
    key = str(path.resolve())
    with _MODELS_LOCK:  # one lock: two threads asking for the same model must not both spend seconds loading
        model = _MODELS.get(key)
        if model is None:
            try:
                import vosk
            except ImportError as exc:  # vosk ships a native library; a slim install may lack it
                raise SpeechUnavailable(reason="vosk not installed") from exc
            # -1 drops Kaldi's per-file info lines but keeps its warnings and errors on stderr.
            vosk.SetLogLevel(-1)
            if not _is_model_dir(path):
                raise SpeechUnavailable(reason="not a vosk model directory", path=key)
            try:
                model = vosk.Model(key)  # always a path: with None vosk would try to download a model
            except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
                raise SpeechUnavailable(reason=str(exc), path=key) from exc
            _MODELS[key] = model
        return model


def _parse(result_json: str) -> list[WordResult]:
    """Words of one vosk result (empty when nothing was heard)."""
    result = json.loads(result_json)
    words = []
    for w in result.get("result", ()):
        conf = min(1.0, max(0.0, float(w.get("conf", 0.0))))  # Transcript promises 0..1
        words.append(WordResult(str(w["word"]), conf, float(w["start"]), float(w["end"])))
    return words


class VoskRecognizer:
    """Local vosk/Kaldi recogniser; one shared model per path, a fresh recogniser per call (thread-safe)."""

    def __init__(self, model_path: str | Path) -> None:
        self.model_path = Path(model_path)
        self._model = _load_model(self.model_path)
        # Only lookahead models (graph/HCLr.fst + Gr.fst) can switch grammars at run time; a static HCLG
        # model ignores the grammar with a warning, so we do not pretend to restrict it.
        graph = self.model_path / "graph"
        self.supports_grammar = (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()

    def knows(self, word: str) -> bool:
        """True when the model's vocabulary has ``word``."""
        return self._model.vosk_model_find_word(word) >= 0

    def usable_grammar(self, grammar: Sequence[str]) -> list[str]:
        """The grammar phrases this model can recognise; unknown multi-character words fall back to chars."""
        usable: list[str] = []
        for phrase in grammar:
            tokens = phrase.split()
            if tokens and all(self.knows(t) for t in tokens):
                usable.append(" ".join(tokens))
            elif len(tokens) == 1 and len(phrase) > 1 and all(self.knows(ch) for ch in phrase):
                # Small Chinese models often segment "公斤" as "公 斤"; the phrase still constrains order.
                usable.append(" ".join(phrase))
        # vosk drops unknown words with a warning anyway; filtering first keeps the log clean and lets us
        # notice a grammar the model cannot serve at all.
        if usable and self.knows(UNKNOWN_WORD):
            usable.append(UNKNOWN_WORD)  # lets out-of-grammar speech come out as [unk], not a forced digit
        return list(dict.fromkeys(usable))

    def recognize(self, audio: DecodedAudio, *, grammar: Sequence[str] | None = None) -> Transcript:
        """Recognise 16 kHz mono PCM, optionally restricted to ``grammar``."""
        import vosk

        started = time.perf_counter()
        if grammar is not None and self.supports_grammar:
            usable = self.usable_grammar(grammar)
            if not usable:
                # Nothing in the grammar exists in this model (e.g. a model for another language).
                raise SpeechUnavailable(reason="grammar words unknown to model", path=str(self.model_path))
            # ensure_ascii=False matters: vosk's JSON reader does not decode \uXXXX escapes, so the default
            # json.dumps would make every Chinese (or Korean) word "missing in vocabulary".
            grammar_json = json.dumps(usable, ensure_ascii=False)
            recognizer = vosk.KaldiRecognizer(self._model, SAMPLE_RATE, grammar_json)
        else:
            recognizer = vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
        recognizer.SetWords(True)
        words: list[WordResult] = []
        pcm = audio.pcm
        for offset in range(0, len(pcm), _CHUNK_BYTES):
            # True marks an endpoint (a pause): that utterance is only available from Result() now.
            if recognizer.AcceptWaveform(pcm[offset : offset + _CHUNK_BYTES]):
                words.extend(_parse(recognizer.Result()))
        words.extend(_parse(recognizer.FinalResult()))
        confidence = sum(w.conf for w in words) / len(words) if words else 0.0
        return Transcript(
            text=" ".join(w.word for w in words),
            confidence=confidence,
            words=tuple(words),
            seconds_processed=len(pcm) / (2 * SAMPLE_RATE),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )


def load_recognizer(model_path: str | None) -> SpeechRecognizer:
    """A ready recogniser for ``model_path``, or SpeechUnavailable when speech is not configured/installed."""
    if not model_path:
        raise SpeechUnavailable(reason="no model path configured")
    path = Path(model_path)
    if not path.is_dir():
        raise SpeechUnavailable(reason="model path is not a directory", path=str(path))
    return VoskRecognizer(path)
