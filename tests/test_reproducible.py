"""The same source gives byte-identical outputs, wherever the project is checked out,
and whether the formats render side by side or one after another."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import ISSUES, LAYOUTS
from publisher.build import Paths, build
from publisher.model import Month


def _checkout(root: Path) -> Paths:
    shutil.copytree(ISSUES, root / "issues")
    shutil.copytree(LAYOUTS, root / "layouts")
    return Paths(issues=root / "issues", layouts=root / "layouts", dist=root / "dist")


def test_two_checkouts_in_different_places_build_the_same_bytes(tmp_path: Path) -> None:
    first = _checkout(tmp_path / "a")
    second = _checkout(tmp_path / "somewhere" / "else" / "entirely")
    outputs = []
    for paths, parallel in ((first, True), (second, False)):
        build(Month(2023, 8), paths, parallel=parallel)
        folder = paths.dist / "2023-08"
        outputs.append({p.relative_to(folder).as_posix(): p.read_bytes()
                        for p in sorted(folder.rglob("*")) if p.is_file()})
    assert sorted(outputs[0]) == sorted(outputs[1])
    assert {"korea-2023-08-print.pdf", "korea-2023-08.pdf", "korea-2023-08.epub",
            "email.eml", "email.html", "email.txt"} <= set(outputs[0])
    for name, data in outputs[0].items():
        assert data == outputs[1][name], f"{name} differs between the two checkouts"
