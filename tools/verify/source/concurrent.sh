#!/bin/bash
# Two builds of the same month at once (same cwd), after an article change; then a third must say up to date
# and the outputs must equal a clean single build.
set -u
P=/work/wt/v12/.venv/bin/publisher
base=$1
for round in 1 2 3; do
  w=/tmp/conc-work; rm -rf $w; cp -a $base $w; cd $w
  echo "x $round" >> issues/2023-09/articles/01-story-0.md
  ( timeout 300 $P build 2023-09 -q > /tmp/conc.1 2>&1; echo $? > /tmp/conc.rc1 ) &
  sleep 0.$((round * 3))
  ( timeout 300 $P build 2023-09 -q > /tmp/conc.2 2>&1; echo $? > /tmp/conc.rc2 ) &
  wait
  timeout 300 $P build 2023-09 > /tmp/conc.3 2>&1
  left=$(find dist -type f | grep -v -E '/korea-2023-0[89](-print)?\.(pdf|epub)$|/email\.(html|txt|eml)$|/email-images/[^/]+$|/\.cache/2023-0[89]\.json$' | tr '\n' ' ')
  sums=$(cd dist/2023-09 && find . -type f | sort | xargs sha256sum)
  ref=/tmp/conc-ref; rm -rf $ref; cp -a $w $ref; rm -rf $ref/dist/2023-09 $ref/dist/.cache; (cd $ref && timeout 300 $P build 2023-09 -q >/dev/null 2>&1)
  refsums=$(cd $ref/dist/2023-09 && find . -type f | sort | xargs sha256sum)
  echo "round $round: rc1=$(cat /tmp/conc.rc1) rc2=$(cat /tmp/conc.rc2) tb=$(cat /tmp/conc.1 /tmp/conc.2 | grep -c Traceback) third: $(tail -1 /tmp/conc.3 | cut -c1-80) leftover=[$left] $( [ "$sums" = "$refsums" ] && echo 'outputs=clean-build' || echo 'outputs DIFFER from a clean build')"
  grep -hv preflight /tmp/conc.1 /tmp/conc.2 | head -3
  cd /tmp
done
