"""EXIF GPS triples: degrees, minutes and seconds to signed decimal degrees; anything bogus is dropped."""

from __future__ import annotations

from decimal import Decimal

from PIL.TiffImagePlugin import IFDRational

from media.photos import _gps_coord


def test_triple_and_hemisphere_give_signed_degrees() -> None:
    dms = (IFDRational(120, 1), IFDRational(9, 1), IFDRational(36, 1))
    assert _gps_coord(dms, "W", b"W", 180) == Decimal("-120.1600000")
    assert _gps_coord(dms, b"E", b"W", 180) == Decimal("120.1600000")
    assert _gps_coord((30, 16.5, 0), "N", b"S", 90) == Decimal("30.2750000")


def test_bogus_triples_are_dropped() -> None:
    assert _gps_coord((30, -1, 0), "N", b"S", 90) is None  # a negative part
    assert _gps_coord((IFDRational(30, 0), 16, 0), "N", b"S", 90) is None  # a zero denominator
    assert _gps_coord((30, "x", 0), "N", b"S", 90) is None  # not a number
    assert _gps_coord((30, 16), "N", b"S", 90) is None  # not a triple
    assert _gps_coord((91, 0, 0), "N", b"S", 90) is None  # beyond the pole
