#!/bin/bash
# Ctrl-C (SIGINT to the process group, as a terminal does) and SIGTERM during a build at several moments.
set -u
P=/work/wt/v12/.venv/bin/publisher
base=$1
for sig in INT TERM; do for delay in 0.3 1 2 3 4; do
  w=/tmp/int-work; rm -rf $w; cp -a $base $w; cd $w
  echo "x $delay" >> issues/2023-09/articles/01-story-0.md
  find dist -type f | sort | xargs sha256sum > /tmp/int.b
  setsid $P build 2023-09 > /tmp/int.out 2>&1 &
  pid=$!; sleep $delay; kill -$sig -- -$pid 2>/dev/null; wait $pid; rc=$?
  sleep 0.5
  find dist -type f | sort | xargs sha256sum > /tmp/int.a
  st=$(cmp -s /tmp/int.a /tmp/int.b && echo unchanged || { grep -q . /tmp/int.a && echo "changed($(diff /tmp/int.b /tmp/int.a | grep -c '^>') files)"; })
  left=$(find dist -type f | grep -v -E '/korea-2023-0[89](-print)?\.(pdf|epub)$|/email\.(html|txt|eml)$|/email-images/[^/]+$|/\.cache/2023-0[89]\.json$' | tr '\n' ' ')
  orphans=$(pgrep -s $pid 2>/dev/null | tr '\n' ' ')
  echo "SIG$sig after ${delay}s: rc=$rc tb=$(grep -c Traceback /tmp/int.out) dist=$st leftover=[$left] orphans=[$orphans] last: $(grep -v -e preflight -e '^wrote' /tmp/int.out | tail -1 | cut -c1-200)"
  cd /tmp
done; done
