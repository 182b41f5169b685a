#!/bin/bash
# Unreadable files as a non-privileged process: root without CAP_DAC_OVERRIDE/READ_SEARCH (runuser -u nobody
# cannot reach the venv's interpreter under /root here). usage: unreadable.sh BASE
set -u
P=/work/wt/v12/.venv/bin/publisher
NP="setpriv --inh-caps=-dac_override,-dac_read_search --bounding-set=-dac_override,-dac_read_search"
base=$1; w=/tmp/unr-work; rm -rf $w; cp -a $base $w; cd $w
echo "x" >> issues/2023-09/articles/01-story-0.md
t() { find dist -type f 2>/dev/null | sort | xargs sha256sum > /tmp/unr.b 2>/dev/null; $NP timeout 120 $P "$@" > /tmp/unr.o 2>&1; rc=$?; find dist -type f 2>/dev/null| sort | xargs sha256sum > /tmp/unr.a 2>/dev/null
  echo "  $* rc=$rc tb=$(grep -c Traceback /tmp/unr.o) dist=$(cmp -s /tmp/unr.a /tmp/unr.b && echo unchanged || echo changed) :: $(grep -v -e preflight -e '^reading' /tmp/unr.o | head -3 | tr '\n' '|' | cut -c1-300)"; }
c() { echo "== $1"; eval "$2"; t check 2023-09; t build 2023-09 -q; eval "$3"; }
c "article 000" "chmod 000 issues/2023-09/articles/02-story-1.md" "chmod 644 issues/2023-09/articles/02-story-1.md"
c "image 000" "chmod 000 issues/2023-09/images/lead0.jpg" "chmod 644 issues/2023-09/images/lead0.jpg"
c "cover 000" "chmod 000 issues/2023-09/images/cover.jpg" "chmod 644 issues/2023-09/images/cover.jpg"
c "images dir 000" "chmod 000 issues/2023-09/images" "chmod 755 issues/2023-09/images"
c "articles dir 000" "chmod 000 issues/2023-09/articles" "chmod 755 issues/2023-09/articles"
c "issue.toml 000" "chmod 000 issues/2023-09/issue.toml" "chmod 644 issues/2023-09/issue.toml"
c "archive-only toml 000" "chmod 000 issues/2023-07/issue.toml" "chmod 644 issues/2023-07/issue.toml"
c "publication.toml 000" "chmod 000 issues/publication.toml" "chmod 644 issues/publication.toml"
c "layout css 000" "chmod 000 layouts/epub/style.css" "chmod 644 layouts/epub/style.css"
c "layout tpl 000" "chmod 000 layouts/print/article.html" "chmod 644 layouts/print/article.html"
c "font 000" "chmod 000 layouts/fonts/nanum/NanumMyeongjo.ttf" "chmod 644 layouts/fonts/nanum/NanumMyeongjo.ttf"
c "fonts.css 000" "chmod 000 layouts/fonts/fonts.css" "chmod 644 layouts/fonts/fonts.css"
c "dist month dir 555" "chmod 555 dist/2023-09" "chmod 755 dist/2023-09"
c "cache json 000" "chmod 000 dist/.cache/2023-09.json" "chmod 644 dist/.cache/2023-09.json"
c "cache dir 555" "chmod 555 dist/.cache" "chmod 755 dist/.cache"
c "dist 555, no month dir" "mv dist/2023-09 /tmp/unr-save; chmod 555 dist" "chmod 755 dist; rm -rf dist/2023-09; mv /tmp/unr-save dist/2023-09"
c "email.html 000 (earlier output)" "chmod 000 dist/2023-09/email.html" "chmod 644 dist/2023-09/email.html"
