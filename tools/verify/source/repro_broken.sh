#!/bin/bash
# Minimal reproductions of what QA of issue #12 found broken. usage: repro_broken.sh BASE (a built scratch copy)
set -u
P=/work/wt/v12/.venv/bin/publisher
base=$1
fresh() { rm -rf /tmp/repro; cp -a $base /tmp/repro; cd /tmp/repro; }
say() { echo "== $*"; }
A=issues/2023-09/articles/01-story-0.md
say "1 control character in an article (ESC from a terminal paste): check 0, build traceback"
fresh; printf '\nEsc\x1b[0m here.\n' >> $A
$P check 2023-09 >/dev/null 2>&1; echo "check rc=$?"; $P build 2023-09 -q 2>&1 | grep -v preflight | tail -1; echo "build rc=${PIPESTATUS[0]}"
say "1b the same through an escape: issue.toml cover_story = \"Bell\\u0007\""
fresh; sed -i 's/^cover_story = .*/cover_story = "Bell\\u0007 story"/' issues/2023-09/issue.toml
$P check 2023-09 >/dev/null 2>&1; echo "check rc=$?"; $P build 2023-09 -q 2>&1 | grep -v preflight | tail -1
say "2 trim width_mm = 0 (and 1e9): traceback"
fresh; sed -i 's/^width_mm = .*/width_mm = 0/' issues/publication.toml
$P check 2023-09 >/dev/null 2>&1; echo "check rc=$?"; $P build 2023-09 -q --format pdf 2>/dev/null; pdfinfo dist/2023-09/korea-2023-09.pdf | grep "Page size"; $P build 2023-09 -q 2>&1 | grep -v preflight | tail -1
say "3 unreadable source, non-privileged: 'cannot write ... choose another --dist'"
fresh; echo x >> $A; chmod 000 issues/2023-09/articles/02-story-1.md
setpriv --inh-caps=-dac_override,-dac_read_search --bounding-set=-dac_override,-dac_read_search $P build 2023-09 -q 2>&1 | tail -1
say "4 a dot-named image replaced: build says up to date, outputs stale"
fresh; mv issues/2023-09/images/lead0.jpg issues/2023-09/images/.lead0.jpg; sed -i 's|images/lead0.jpg|images/.lead0.jpg|' $A
$P build 2023-09 -q 2>/dev/null; /work/wt/v12/.venv/bin/python -c "from PIL import Image; Image.new('RGB',(1200,800),(0,0,255)).save('issues/2023-09/images/.lead0.jpg')"
$P build 2023-09 2>&1 | tail -1
say "4b an image swapped for a symlink out of the issue, same bytes: check 1, build 0 (cache)"
fresh; cp issues/2023-09/images/lead0.jpg /tmp/outside.jpg; ln -sf /tmp/outside.jpg issues/2023-09/images/lead0.jpg
$P check 2023-09 2>&1 | tail -1; $P build 2023-09 2>&1 | tail -1; echo "build rc=${PIPESTATUS[0]}"
say "5 LC_ALL=ko_KR.UTF-8: PDFs not byte-identical"
fresh; $P build 2023-09 --force -q --format pdf 2>/dev/null; a=$(sha256sum dist/2023-09/*.pdf | cut -c1-16 | tr '\n' ' ')
LC_ALL=ko_KR.UTF-8 $P build 2023-09 --force -q --format pdf 2>/dev/null; b=$(sha256sum dist/2023-09/*.pdf | cut -c1-16 | tr '\n' ' ')
echo "C: $a  ko: $b"; pdffonts dist/2023-09/korea-2023-09.pdf | grep -i nanum
say "6 language = \"en_US\" passes check; the EPUB then fails EPUBCheck"
fresh; sed -i 's/^language = .*/language = "en_US"/' issues/publication.toml; $P check 2023-09 2>&1 | tail -1
say "7 a 1.5 KB URL in a link: check 0, build fails with no path:line"
fresh; /work/wt/v12/.venv/bin/python -c "open('$A','a').write('\nSee [the map](https://maps.example.org/?q='+'a%2Cb'*300+').\n')"
$P check 2023-09 2>&1 | tail -1; $P build 2023-09 -q 2>&1 | grep -v preflight | tail -1
cd /tmp
