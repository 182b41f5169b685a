"""The print layout's columns: WeasyPrint's column layout as the layout changes it
(render/pdf/columns.py) and the fitting of blocks kept whole (render/pdf/fit.py)."""

from __future__ import annotations

import weasyprint

from publisher.render.pdf import fit
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


_COLUMNS = """<div class="columns"><p id="a--b2">One.</p>
<aside class="pullquote" id="a--b3">
<p>A quote.</p>
</aside>
<figure class="figure" id="a--b4">
<img src="x.png" alt="">
</figure>
<p id="a--b5">Two.</p>
<ul id="a--b6"><li>three</li></ul></div>
</article>"""


def _ids(html: str) -> list[str]:
    import re

    return re.findall(r'id="(a--b\d+)"', html)


def test_the_text_after_a_block_kept_whole_goes_before_it_and_past_the_others() -> None:
    moved = fit.apply(_COLUMNS, fit.Fit(moves=["a--b3"]))
    assert _ids(moved) == ["a--b2", "a--b5", "a--b3", "a--b4", "a--b6"]
    assert moved.count("<p>A quote.</p>") == 1 and moved.count("<img ") == 1


def test_a_pull_quote_never_trails_the_last_text_but_a_figure_may() -> None:
    last = _COLUMNS.replace('<ul id="a--b6"><li>three</li></ul>', "")
    assert fit.apply(last, fit.Fit(moves=["a--b3"])) == last
    moved = fit.apply(last, fit.Fit(moves=["a--b4"]))
    assert _ids(moved) == ["a--b2", "a--b3", "a--b5", "a--b4"]


def test_a_crop_keeps_the_width_and_margins_go_at_a_break() -> None:
    html = fit.apply(_COLUMNS, fit.Fit(feet=["a--b3"], heads=["a--b3"],
                                       crops={"a--b4": (300.5, 180.25)}))
    assert '<aside class="pullquote" id="a--b3" style="margin-top: 0; margin-bottom: 0">' in html
    assert ('<img style="width: 300.5px; height: 180.25px; object-fit: cover" src="x.png"'
            in html)
    only_foot = fit.apply(_COLUMNS, fit.Fit(feet=["a--b2"]))
    assert '<p id="a--b2" style="margin-bottom: 0">' in only_foot


_SUBHEAD = """<!DOCTYPE html><html><head><style>
@page { size: 400px 300px; margin: 0 }
body { margin: 0 }
.columns { columns: 2; column-gap: 20px }
.columns div { margin: 0; height: 240px }
h2 { margin: 30px 0 0; height: 20px; font-size: 10px }
</style></head><body>
<article class="article" id="article-x"><div class="columns">
<div id="x--b1"></div>
<h2 id="x--h-sub">A subhead</h2>
<div id="x--b2"></div><div id="x--b3"></div><div id="x--b4"></div>
</div></article></body></html>"""


def _subhead_and_column_top(html: str) -> tuple[float, float]:
    from publisher.render.pdf.preflight import descendants

    with kept_columns():
        document = weasyprint.HTML(string=html).render()
    found = {box.element.get("id"): box for box in descendants(document.pages[0]._page_box)
             if box.element is not None and box.element.get("id") in ("x--b1", "x--h-sub")
             and box.element_tag in ("div", "h2")}
    return found["x--h-sub"].border_box_y(), found["x--b1"].border_box_y()


def test_a_subhead_heading_a_column_loses_its_top_margin() -> None:
    subhead, top = _subhead_and_column_top(_SUBHEAD)
    assert subhead > top + 25  # WeasyPrint keeps the 30 px above it at the column's top
    with kept_columns():
        document = weasyprint.HTML(string=_SUBHEAD).render()
    found = fit.adjustments(document)
    assert found.tops == ["x--h-sub"] and not found.moves and not found.crops
    subhead, top = _subhead_and_column_top(fit.apply(_SUBHEAD, found))
    assert abs(subhead - top) < 0.5


def test_the_contents_picture_shrinks_or_is_left_out() -> None:
    contents = ('<section class="contents"><ol class="toc"></ol>\n'
                f'<figure class="on-the-cover" id="{fit.CONTENTS_PICTURE_ID}">\n'
                '<img src="cover.jpg" alt="">\n<figcaption>On the cover</figcaption>\n'
                "</figure>\n</section>")
    shrunk = fit.apply(contents, fit.Fit(contents_picture_mm=52.5))
    assert '<img style="height: 52.5mm" src="cover.jpg"' in shrunk
    left_out = fit.apply(contents, fit.Fit(contents_picture_mm=0.0))
    assert "<figure" not in left_out and "<img" not in left_out
    assert left_out.startswith('<section class="contents"><ol class="toc"></ol>')
    assert fit.apply(contents, fit.Fit()) == contents


_LAST_PAGE = """<!DOCTYPE html><html><head><style>
@page {{ size: 400px 600px; margin: 0 }}
body {{ margin: 0; font: 10px/20px serif }}
.columns {{ columns: 2; column-gap: 20px; column-fill: {fill} }}
p {{ margin: 0 }}
</style></head><body>
<article class="article" id="article-x"><div class="columns">{text}</div></article>
</body></html>"""


def test_the_report_measures_how_far_apart_an_articles_last_columns_end() -> None:
    from conftest import LAYOUTS
    from publisher.render.pdf.quality import MAX_UNBALANCED, Report, failures, measure

    text = "".join(f"<p>Line {n}.</p>" for n in range(36))  # 30 lines fill a column
    found = {}
    for fill in ("auto", "balance"):
        html = _LAST_PAGE.format(fill=fill, text=text)
        (page,) = measure(weasyprint.HTML(string=html).render(), LAYOUTS).pages
        found[fill] = page
    # auto: the first column full (30 lines), the second with the other 6
    assert found["auto"].last_of_part and found["auto"].unbalanced == 24
    assert any("unbalanced by 24 lines" in f for f in failures(Report([found["auto"]])))
    assert found["balance"].unbalanced == 0 < MAX_UNBALANCED



def _notes_page(count: int) -> str:
    paragraphs = "".join(
        f"<p>Paragraph {i} says something short about the matter of the day"
        f"<span class=note>Note {i}, a source of some length to fill a line.</span>.</p>"
        for i in range(count))
    return f"""<!DOCTYPE html><html><head><style>
@page {{ size: 400px 500px; margin: 20px }}
.columns {{ columns: 2; column-gap: 20px }}
.note {{ float: footnote }}
</style></head><body><div class="columns">{paragraphs}</div></body></html>"""


def test_footnote_areas_laid_out_once_per_set_of_notes_give_the_same_pdf() -> None:
    """render/pdf/footnotes.py: the same bytes as WeasyPrint's own way, with fewer
    layouts of the footnote area (each counted as WeasyPrint's block layout of it)."""
    import weasyprint.layout
    from weasyprint.layout import block

    from publisher.render.pdf.footnotes import cached_footnote_areas

    html = _notes_page(16)
    original = block.block_level_layout
    areas = {"count": 0}

    def counting(context, box, *args, **kwargs):  # type: ignore[no-untyped-def]
        if type(box).__name__ == "FootnoteAreaBox":
            areas["count"] += 1
        return original(context, box, *args, **kwargs)

    def laid_out() -> tuple[bytes, int]:
        areas["count"] = 0
        # WeasyPrint's method calls it by the name layout/__init__ imported, ours as
        # block's
        block.block_level_layout = weasyprint.layout.block_level_layout = counting
        try:
            document = weasyprint.HTML(string=html).render()
        finally:
            block.block_level_layout = weasyprint.layout.block_level_layout = original
        return document.write_pdf(), areas["count"]

    plain, plain_layouts = laid_out()
    with cached_footnote_areas():
        cached, cached_layouts = laid_out()
    assert cached == plain
    assert cached_layouts < plain_layouts
