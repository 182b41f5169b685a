"""Hostile layout author: inject resource references into every layout; each build must fail naming file:line.

usage: python confine_cases.py BASE_SCRATCH OUT.tsv   (BASE_SCRATCH has issues/, layouts/, dist/ built for MONTH)
"""
import hashlib, os, re, shutil, subprocess, sys, zipfile
from pathlib import Path

PUB = "/work/wt/v12/.venv/bin/publisher"
MONTH = "2023-09"
base, out = Path(sys.argv[1]), Path(sys.argv[2])
only = sys.argv[3:] 

def css(file, text):
    return ("append", file, "\n" + text + "\n")
def tpl(file, text, before):
    return ("insert", file, text, before)

CSS_FILES = ["layouts/email/email.css", "layouts/epub/style.css", "layouts/print/print.css"]
CSS_PAYLOADS = {
    "file": ".zz { background: url(file:///etc/passwd); }",
    "http": ".zz { background-image: url(http://evil.example/pixel.png); }",
    "import": '@import url("http://evil.example/x.css");',
    "import-str": '@import "http://evil.example/x.css";',
    "data": ".zz { background: url(data:image/png;base64,iVBORw0KGgo=); }",
    "escape": ".zz { background: url(\\68 ttp://evil.example/e.png); }",
    "mixedcase": ".zz { background: URL( 'HtTp://evil.example/m.png' ); }",
    "netpath": ".zz { background: url(//evil.example/n.png); }",
    "abs": ".zz { background: url(/etc/passwd); }",
    "climb": ".zz { background: url(../../../../etc/passwd); }",
    "imageset": '.zz { background-image: image-set("http://evil.example/i.png" 1x); }',
    "fontface": '@font-face { font-family: Z; src: local(Z), url(http://evil.example/f.woff); }',
    "cursor": ".zz { cursor: url(http://evil.example/c.cur), auto; }",
    "liststyle": ".zz { list-style-image: url(http://evil.example/l.png); }",
    "comment-split": ".zz { background: url(ht/**/tp://evil.example/cs.png); }",
    "newline-escape": ".zz { background: url('ht\\\ntp://evil.example/nl.png'); }",
    "tab": ".zz { background: url('ht\ttp://evil.example/tab.png'); }",
}
TPL = {
    "layouts/email/email.html": "</body>",
    "layouts/epub/base.xhtml": "</body>",
    "layouts/print/base.html": "</body>",
}
TPL_PAYLOADS = {
    "img-http": '<img src="http://evil.example/pixel.gif" alt=""/>',
    "img-file": '<img src="file:///etc/passwd" alt=""/>',
    "img-charref": '<img src="&#104;ttp://evil.example/cr.gif" alt=""/>',
    "img-data": '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt=""/>',
    "srcset": '<img src="x.png" srcset="http://evil.example/ss.gif 2x" alt=""/>',
    "style-attr": '<div style="background:url(http://evil.example/sa.gif)"></div>',
    "style-elem": '<style>.q{background:url(http://evil.example/se.gif)}</style>',
    "link-css": '<link rel="stylesheet" href="http://evil.example/l.css"/>',
    "mso": '<!--[if mso]><v:image src="http://evil.example/mso.gif"/><![endif]-->',
    "td-background": '<table><tr><td background="http://evil.example/bg.gif">x</td></tr></table>',
    "svg-image": '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="http://evil.example/svg.png"/></svg>',
    "jinja-built": '<img src="{{ "ht" ~ "tp://evil.example/jb.gif" }}" alt=""/>',
    "jinja-set": '{% set u = "http://evil.example/js.gif" %}<img src="{{ u }}" alt=""/>',
    "a-ping": '<a href="https://example.org/" ping="http://evil.example/ping">p</a>',
    "meta-refresh": '<meta http-equiv="refresh" content="0;url=http://evil.example/r"/>',
    "video-poster": '<video poster="http://evil.example/v.png"></video>',
    "iframe": '<iframe src="http://evil.example/if.html"></iframe>',
    "object": '<object data="http://evil.example/o.svg"></object>',
    "embed": '<embed src="http://evil.example/e.svg"/>',
    "input-image": '<input type="image" src="http://evil.example/in.gif" alt="x"/>',
    "link-preload": '<link rel="preload" as="image" href="http://evil.example/pre.gif"/>',
    "link-icon": '<link rel="icon" href="http://evil.example/fav.ico"/>',
    "audio": '<audio src="http://evil.example/a.mp3"></audio>',
    "source": '<picture><source srcset="http://evil.example/p.webp"/><img src="x.png" alt=""/></picture>',
    "svg-use": '<svg xmlns="http://www.w3.org/2000/svg"><use href="http://evil.example/u.svg#a"/></svg>',
    "body-bg-attr": '<table background="http://evil.example/tb.gif"><tr><td>x</td></tr></table>',
    "style-import": '<style>@import "http://evil.example/si.css";</style>',
}
cases = []
for f in CSS_FILES:
    for name, p in CSS_PAYLOADS.items():
        cases.append((f"{f.split('/')[1]}.css:{name}", ("append", f, "\n" + p + "\n", None)))
for f, before in TPL.items():
    for name, p in TPL_PAYLOADS.items():
        cases.append((f"{f.split('/')[1]}.tpl:{name}", ("insert", f, p, before)))
cases.append(("epub.symlink-layout", ("symlink", "layouts/epub/evil.css", "/etc/passwd", None)))

def digest(d):
    h = {}
    for p in sorted(Path(d).rglob("*")):
        if p.is_file():
            h[str(p.relative_to(d))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return h

def outputs_text(d):
    buf = b""
    for p in Path(d, "dist", MONTH).rglob("*"):
        if p.suffix == ".epub":
            with zipfile.ZipFile(p) as z:
                for n in z.namelist():
                    buf += z.read(n)
        elif p.is_file() and p.suffix in (".html", ".txt", ".eml"):
            buf += p.read_bytes()
    return buf

rows = []
for name, (kind, f, text, before) in cases:
    if only and not any(o in name for o in only):
        continue
    work = Path(f"/tmp/confine-work")
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(base, work, symlinks=True)
    target = work / f
    if kind == "append":
        target.write_text(target.read_text() + text)
    elif kind == "insert":
        s = target.read_text()
        i = s.rindex(before)
        target.write_text(s[:i] + text + "\n" + s[i:])
    elif kind == "symlink":
        os.symlink(text, target)
        s = (work / "layouts/epub/style.css")
        s.write_text(s.read_text() + '\n@import "evil.css";\n')
    before_d = digest(work / "dist")
    p = subprocess.run([PUB, "build", MONTH, "-q"], cwd=work, capture_output=True, text=True, timeout=180)
    err = "\n".join(l for l in p.stderr.splitlines() if "preflight" not in l)
    tb = "Traceback" in p.stderr
    after_d = digest(work / "dist")
    leaked = b"evil.example" in outputs_text(work) or b"etc/passwd" in outputs_text(work) or b"data:image" in outputs_text(work)
    unchanged = before_d == after_d
    if p.returncode != 0:
        verdict = "holds" if (not tb and unchanged and re.search(r"layouts/\S+:\d+:", err)) else "BROKEN?"
    else:
        verdict = "BROKEN(accepted)" if leaked or "print" not in name else "accepted-print?"
    rows.append((name, p.returncode, tb, unchanged, leaked, verdict, err.replace("\n", " ⏎ ")[:400]))
    print("\t".join(map(str, rows[-1])), flush=True)
out.write_text("\n".join("\t".join(map(str, r)) for r in rows) + "\n")
