"""Remove the Hangul font (files and its @font-face rules) from layouts/ in cwd. argv[1]=='keepcss': keep the @font-face (dangling)."""
import re, shutil, sys
from pathlib import Path
shutil.rmtree("layouts/fonts/nanum")
if not (len(sys.argv) > 1 and sys.argv[1] == "keepcss"):
    css = Path("layouts/fonts/fonts.css")
    s = css.read_text()
    s2 = re.sub(r"@font-face\s*\{[^}]*Publisher Hangul[^}]*\}", "", s)
    assert s2 != s
    css.write_text(s2)
