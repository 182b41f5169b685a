"""The print HTML and the email of 2023-08 are what was last reviewed (tests/golden/)."""

from __future__ import annotations

import difflib

import pytest

import golden

RENDERED = golden.render()


@pytest.mark.parametrize("name", ["print.html", "email.html", "email.txt"])
def test_output_matches_its_golden_file(name: str) -> None:
    path = golden.GOLDEN / name
    assert path.is_file(), f"no golden file {path}: run `make golden` and review it"
    expected = path.read_text(encoding="utf-8")
    actual = RENDERED[name].decode("utf-8")
    if actual != expected:
        diff = "".join(list(difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True),
            f"golden/{name}", f"rendered/{name}", n=2))[:60])
        pytest.fail(f"{name} differs from its golden file; if the change is meant, run "
                    f"`make golden` and review `git diff tests/golden/`:\n{diff}")
