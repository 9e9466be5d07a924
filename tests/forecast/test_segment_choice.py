"""The menu's segment rule: a series keeps its own backtest winner only when it clearly beats the
method that wins across the segment (per-series choice on a few windows is noisy)."""

from types import SimpleNamespace
from typing import Any

from forecast.engine import SEGMENT_MARGIN, _prefer_segment, _segment_best


class _Score:
    def __init__(self, mase: float) -> None:
        self.mase = mase

    def result(self) -> dict[str, float]:
        return {"mase": self.mase}


def _job(**mase: float) -> Any:
    return SimpleNamespace(scores={m: _Score(v) for m, v in mase.items()})


def test_segment_best_is_the_lowest_mean_mase_among_methods_every_series_scored() -> None:
    jobs = [_job(auto_ets=1.0, global_=0.9, auto_arima=0.1), _job(auto_ets=1.0, global_=0.95)]
    # auto_arima scored one series only: it cannot win the segment however good it looks there
    assert _segment_best(jobs) == "global_"


def test_segment_best_needs_two_series() -> None:
    assert _segment_best([_job(auto_ets=1.0)]) is None


def test_close_own_winner_yields_to_the_segment_but_a_clear_one_stays() -> None:
    close = _job(auto_ets=1.0, global_=1.0 * (1 + SEGMENT_MARGIN) - 1e-6)
    clear = _job(auto_ets=1.0, global_=1.0 * (1 + SEGMENT_MARGIN) + 0.01)
    assert _prefer_segment(close, "auto_ets", "global_") == "global_"
    assert _prefer_segment(clear, "auto_ets", "global_") == "auto_ets"


def test_a_segment_method_the_series_never_scored_is_not_forced_on_it() -> None:
    assert _prefer_segment(_job(auto_ets=1.0), "auto_ets", "global_") == "auto_ets"
