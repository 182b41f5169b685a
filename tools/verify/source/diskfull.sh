#!/bin/bash
# Disk-full sweep: dist/ on a 6 MB tmpfs holding an earlier build, leaving AVAIL_KB free; rebuild
# after an article change. Expect: exit 1, one line, dist/ all old (or all new), no temp file.
# usage: diskfull.sh BASE_SCRATCH AVAIL_KB...
set -u
P=/work/wt/v12/.venv/bin/publisher
base=$1; shift
for kb in "$@"; do
  w=/tmp/df-work; umount $w/dist 2>/dev/null; rm -rf $w; cp -r $base $w; cd $w
  mkdir -p /tmp/df-save; rm -rf /tmp/df-save/* /tmp/df-save/.cache; cp -a dist/. /tmp/df-save/; rm -rf dist; mkdir dist
  mount -t tmpfs -o size=6m tmpfs dist; cp -a /tmp/df-save/. dist/
  echo "More text $kb." >> issues/2023-09/articles/01-story-0.md
  avail=$(df --output=avail -B1024 dist | tail -1)
  fallocate -l $(( (avail - kb) * 1024 )) dist/filler
  find dist -type f ! -name filler | sort | xargs sha256sum > /tmp/df.before
  timeout 120 $P build 2023-09 -q > /tmp/df.out 2>&1; rc=$?
  out=$(grep -v preflight /tmp/df.out)
  echo "avail=${kb}KB rc=$rc lines=$(echo "$out" | grep -c .) tb=$(grep -c Traceback /tmp/df.out) :: $(echo "$out" | head -3 | tr '\n' '|' | cut -c1-250)"
  find dist -type f ! -name filler | sort | xargs sha256sum > /tmp/df.after
  if cmp -s /tmp/df.before /tmp/df.after; then echo "  dist unchanged"; else echo "  dist CHANGED: $(diff /tmp/df.before /tmp/df.after | grep '^[<>]' | awk '{print $1, $3}' | tr '\n' ' ' | cut -c1-400)"; fi
  find dist -type f ! -name filler | grep -v -E '/korea-2023-0[89](-print)?\.(pdf|epub)$|/email\.(html|txt|eml)$|/email-images/[^/]+$|/\.cache/2023-0[89]\.json$' | sed 's/^/  leftover: /'
  cd /tmp; umount $w/dist
done
