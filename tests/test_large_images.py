"""Images past Pillow's decompression-bomb guard: one line with the line that refers to
the image, its size and the limit; under the limit one warning of ours and no raw
Pillow warning, in any process of the build."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image

from publisher.build.builder import Paths
from publisher.cli.main import main
from publisher.errors import PublisherError
from publisher.source import raster as imaging

JAN = "2024-01"
FEATURES = "2024-01/articles/01-features.md"


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` x ``height`` pixels but holds no image data: enough
    for anything that reads only the header, as the size check must."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def _build(paths: Paths, capfd: pytest.CaptureFixture[str],
           *args: str) -> tuple[int, list[str], str]:
    """``publisher build`` in this process (forked children and all); its status, the
    error and warning lines, and everything written to the stderr file descriptor."""
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = main(["build", JAN, "--issues", str(paths.issues), "--layouts",
                       str(paths.layouts), "--dist", str(paths.dist), *args])
    err = capfd.readouterr().err
    raw = [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert raw == [], "Pillow's own warning reached the build"
    lines = [line for line in err.splitlines() if line.startswith(("error:", "warning:"))
             and not line.startswith("warning: preflight:")]  # the fixture's small images
    return status, lines, err


def test_an_image_over_pillows_limit_is_one_line_with_the_size_and_the_limit(
        fixture_copy: Paths, capfd: pytest.CaptureFixture[str]) -> None:
    _png_header(fixture_copy.issues / "2024-01" / "images" / "figure.png", 20000, 10000)
    status, lines, err = _build(fixture_copy, capfd)
    article = fixture_copy.issues / FEATURES
    assert status == 1
    assert lines == [f"error: {article}:28: image 'images/figure.png' is 20000 × 10000 pixels "
                     "(200 megapixels), over the limit of 179 megapixels (Pillow's guard "
                     "against decompression bombs): scale it down"]
    assert "Traceback" not in err
    assert not fixture_copy.dist.exists()


def test_a_large_image_under_the_limit_builds_with_one_warning_and_no_pillow_warning(
        fixture_copy: Paths, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow's guard lowered, so the fixture's 1200 x 1600 cover is a "large" image
    # (over MAX_IMAGE_PIXELS, under twice that); the others stay under it.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_700_000)
    status, lines, err = _build(fixture_copy, capfd)
    toml = fixture_copy.issues / "2024-01" / "issue.toml"
    assert status == 0, err
    assert lines == [f"warning: {toml}:11: image 'images/cover.png' is 1200 × 1600 pixels "
                     "(1.92 megapixels), over 1.7 megapixels: it builds, slowly and with much "
                     "memory; no page needs that many, so a smaller copy would do"]
    assert "DecompressionBomb" not in err
    built = sorted(p.name for p in (fixture_copy.dist / JAN).iterdir())
    assert {"korea-2024-01.epub", "korea-2024-01.pdf", "email.html"} <= set(built)


def test_over_and_under_the_limit_in_one_issue_each_named_where_it_is_referred_to(
        fixture_copy: Paths, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 900_000)  # refused over 1.8 megapixels
    status, lines, _ = _build(fixture_copy, capfd)
    toml = fixture_copy.issues / "2024-01" / "issue.toml"
    article = fixture_copy.issues / FEATURES
    assert status == 1
    assert [line.split(" image ")[0] for line in lines] == [
        f"warning: {article}:8:", f"error: {toml}:11:"]
    assert "'images/lead.png' is 1600 × 1000 pixels (1.6 megapixels), over 0.9" in lines[0]
    assert "'images/cover.png' is 1200 × 1600 pixels (1.92 megapixels), over the limit of " \
           "1.8 megapixels" in lines[1]
    assert not fixture_copy.dist.exists()


def test_every_format_opens_images_through_the_one_rule(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    big = _png_header(tmp_path / "big.png", 20000, 10000)
    with pytest.raises(PublisherError) as failure:
        imaging.load(big, within=(100, 100))
    assert str(failure.value) == (f"{big}: the image is 20000 × 10000 pixels (200 megapixels), "
                                  "over the limit of 179 megapixels (Pillow's guard against "
                                  "decompression bombs): scale it down")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (300, 200), "red").save(photo)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # 60,000 pixels: a large image
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert imaging.load(photo).size == (300, 200)
        assert imaging.lossless(photo)
    assert Image.MAX_IMAGE_PIXELS == 50_000  # the guard is back after each open
