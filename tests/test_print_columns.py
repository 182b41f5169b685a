"""The print layout's columns: WeasyPrint's column layout as the layout changes it
(render/pdf/columns.py)."""

from __future__ import annotations

import weasyprint

from publisher.render.pdf.columns import kept_columns

# A page 300 px high: a 120 px header, then two columns 180 px high where the first
# takes a 150 px text block and the second would begin with a 200 px block kept whole,
# which fits an empty page (300 px) but not the columns' 180 px.
_PAGE = """<!DOCTYPE html><html><head><style>
@page { size: 400px 300px; margin: 0 }
body { margin: 0 }
.columns { columns: 2; column-gap: 20px }
.columns div { margin: 0 }
</style></head><body>
<header style="height: 120px">The opener</header>
<div class="columns">
<div id="text" style="height: 150px"></div>
<div id="kept" style="height: 200px; break-inside: avoid"></div>
<div id="after" style="height: 20px"></div>
</div></body></html>"""


def _pages_of(html: str) -> dict[str, int]:
    document = weasyprint.HTML(string=html).render()
    return {anchor: n for n, page in enumerate(document.pages, 1) for anchor in page.anchors}


def test_a_column_that_cannot_begin_leaves_the_earlier_ones_in_place() -> None:
    # WeasyPrint 70 alone moves the whole multi-column box to the next page.
    assert _pages_of(_PAGE)["text"] == 2
    with kept_columns():
        pages = _pages_of(_PAGE)
    assert pages["text"] == 1
    assert pages["kept"] == pages["after"] == 2
    # and the change is for the layout's time only
    assert _pages_of(_PAGE)["text"] == 2
