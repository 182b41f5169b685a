"""Golden files: the print layout's HTML and the email of 2023-08, as last reviewed.

A change to a layout, the HTML writer or the model shows here as a diff of
the HTML that goes into WeasyPrint and into mail clients, before anyone looks
at a PDF.  When the change is meant, ``make golden`` rewrites the files
(``python tests/golden.py``); review them with ``git diff tests/golden/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
GOLDEN = HERE / "golden" / "2023-08"
MONTH = "2023-08"


def render() -> dict[str, bytes]:
    """The golden files' current contents: name -> bytes."""
    from publisher.diagnostics import Diagnostics
    from publisher.model import Month
    from publisher.render.base import BuildContext
    from publisher.render.email.renderer import EmailRenderer
    from publisher.render.pdf.renderer import print_document, print_html
    from publisher.source.reader import read_issue

    issue = read_issue(PROJECT / "issues", Month.parse(MONTH), Diagnostics())
    context = BuildContext(issue=issue, layouts=PROJECT / "layouts")
    print_document(context)  # the layout chooses its house items: the HTML it laid out
    files = {"print.html": print_html(context).encode("utf-8")}
    for output in EmailRenderer().render(context):
        if output.name in ("email.html", "email.txt"):
            files[output.name] = output.data
    return files


def main() -> int:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, data in render().items():
        path = GOLDEN / name
        old = path.read_bytes() if path.is_file() else None
        if old != data:
            path.write_bytes(data)
            sys.stdout.write(f"rewrote {path.relative_to(PROJECT)}\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT / "src"))
    sys.exit(main())
