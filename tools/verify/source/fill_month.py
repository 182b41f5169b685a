"""Fill in a `publisher new` template like an editor: cover, lead images, Hangul, table, footnotes."""
import sys
from pathlib import Path
from PIL import Image, ImageDraw

month, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
root = Path("issues") / month
img = root / "images"
def mk(name, size, mode="RGB", fmt=None):
    im = Image.new(mode, size, (120, 60, 30) if mode == "RGB" else 128)
    ImageDraw.Draw(im).ellipse((10, 10, size[0] - 10, size[1] - 10), fill=(200, 180, 20) if mode == "RGB" else 200)
    im.save(img / name, fmt)
mk("cover.jpg", (1600, 2100))
toml = (root / "issue.toml").read_text()
toml = toml.replace("The cover story’s headline", f"Seoul’s Autumn {month}").replace(
    '# [cover_image]\n# file = "images/cover.jpg"\n# alt = "What the cover photo shows"\n# credit = "ⓒ Photographer"',
    '[cover_image]\nfile = "images/cover.jpg"\nalt = "A yellow sun over a brown field"\ncredit = "ⓒ 김철수"')
toml = toml.replace('sections = ["Current Korea"]', 'sections = ["Current Korea", "Culture"]')
toml = toml.replace('# [[ticker]]\n# headline = "A short news item"\n# link = "https://example.org/news"',
                    '[[ticker]]\nheadline = "Chuseok travel: 한가위 trains sold out"\nlink = "https://example.org/news"\n\n[[ticker]]\nheadline = "No link here"')
(root / "issue.toml").write_text(toml)
for a in (root / "articles").glob("*.md"):
    a.unlink()
for i in range(n):
    mk(f"lead{i}.png" if i % 2 else f"lead{i}.jpg", (1200 + 100 * i, 800))
    leadf = f"lead{i}.png" if i % 2 else f"lead{i}.jpg"
    sec = "Current Korea" if i == 0 else "Culture"
    (root / "articles" / f"{i+1:02d}-story-{i}.md").write_text(f"""---
title: "Story {i} of {month}: Hanok and 한옥"
section: {sec}
dek: A dek about the "old houses" -- and the people in them.
byline: Kim Min-ji (김민지)
photo_credit: Someone
lead_image:
  file: images/{leadf}
  alt: A brown and yellow picture number {i}
  caption: The caption of picture {i}.
  credit: ⓒ Photographer {i}
---

The first paragraph of story {i} mentions 서울 and Busan.[^a] It was the '90s and rock 'n' roll.

## Numbers

| Place | Visitors |
|:------|---------:|
| Seoul 서울 | 1,000 |
| Busan | 2,000 |

A second paragraph, with a second note.[^b]

::: pullquote Kim Min-ji
“Houses remember.”
:::

[^a]: First footnote of {i}.
[^b]: Second footnote, 각주.
""")
