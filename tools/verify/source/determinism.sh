#!/bin/bash
# Byte-identical outputs across builds under different environments (SOURCE_DATE_EPOCH, TZ, LANG=C, another cwd path).
set -u
P=/work/wt/v12/.venv/bin/publisher
base=$1
sums() { (cd $1/dist/2023-09 && find . -type f | sort | xargs sha256sum); }
ref=/tmp/det-ref; rm -rf $ref; cp -a $base $ref; (cd $ref && timeout 300 $P build 2023-09 --force -q 2>/dev/null); sums $ref > /tmp/det.ref
for envs in "SOURCE_DATE_EPOCH=1" "SOURCE_DATE_EPOCH=2000000000" "TZ=Pacific/Kiritimati" "TZ=America/Los_Angeles" "LANG=C LC_ALL=C" "LANG=ko_KR.UTF-8 LC_ALL=ko_KR.UTF-8" "PYTHONHASHSEED=123" "TMPDIR=/nonexistent"; do
  w=/tmp/det-w; rm -rf $w; cp -a $base $w
  (cd $w && env $envs timeout 300 $P build 2023-09 --force -q > /tmp/det.out 2>&1; echo "rc=$?" > /tmp/det.rc)
  sums $w > /tmp/det.cur
  echo "$envs $(cat /tmp/det.rc) tb=$(grep -c Traceback /tmp/det.out) $(cmp -s /tmp/det.cur /tmp/det.ref && echo IDENTICAL || { echo DIFFERENT:; diff /tmp/det.ref /tmp/det.cur | grep '^>' | awk '{print $3}' | tr '\n' ' '; })"
  grep -v preflight /tmp/det.out | head -3
done
# another location / path depth, with a space and Hangul in it
w="/tmp/det other/deep 한/proj"; rm -rf "/tmp/det other"; mkdir -p "$(dirname "$w")"; cp -a $base "$w"
(cd "$w" && timeout 300 $P build 2023-09 --force -q >/tmp/det.out 2>&1; echo "other-path rc=$? tb=$(grep -c Traceback /tmp/det.out)")
sums "$w" | cmp -s - /tmp/det.ref && echo "other-path IDENTICAL" || echo "other-path DIFFERENT"
