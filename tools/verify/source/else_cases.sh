#!/bin/bash
# What else an editor gets wrong. Each case: copy BASE (built 2023-09), mutate in cwd, run check then build.
# Print: rc of check/build, #lines of build's stderr (minus preflight/progress), traceback?, dist unchanged?
set -u
P=/work/wt/v12/.venv/bin/publisher
PY=/work/wt/v12/.venv/bin/python
base=$1; shift
M=2023-09; I=issues/$M; A=$I/articles
run() {  # name; mutation in $2 (bash)
  name=$1; w=/tmp/else-work; rm -rf $w; cp -a $base $w; cd $w
  eval "$2"
  find dist -type f | sort | xargs sha256sum > /tmp/else.b 2>/dev/null
  timeout 120 $P check $M > /tmp/else.c 2>&1; rcc=$?
  timeout 300 $P build $M -q > /tmp/else.o 2>&1; rcb=$?
  tb=$(cat /tmp/else.c /tmp/else.o | grep -c Traceback)
  find dist -type f | sort | xargs sha256sum > /tmp/else.a 2>/dev/null
  ch=$(cmp -s /tmp/else.a /tmp/else.b && echo unchanged || echo changed)
  msg=$(grep -v -e preflight /tmp/else.o | head -4 | tr '\n' '|' | cut -c1-420)
  cmsg=$(grep -v -e preflight /tmp/else.c | head -3 | tr '\n' '|' | cut -c1-300)
  printf '%s\tcheck=%s build=%s tb=%s dist=%s lines=%s\n\tCHECK: %s\n\tBUILD: %s\n' "$name" $rcc $rcb $tb $ch "$(grep -v preflight /tmp/else.o | grep -c .)" "$cmsg" "$msg"
  if [ -n "${EPUBCHECK:-}" ] && [ $rcb = 0 ]; then
    printf '\tEPUBCHECK: %s\n' "$(timeout 200 $PY $(dirname "$0")/run_epubcheck.py dist/$M/*.epub 2>&1 | sed 's|^.*epub ||' | head -4 | tr '\n' '|' | cut -c1-400)"
    printf '\tQPDF: %s\n' "$(for f in dist/$M/*.pdf; do qpdf --check $f 2>&1 | tail -1; done | tr '\n' '|')"
  fi
  cd /tmp
}
want() { for c in "$@"; do [ "$c" = "$name" ] && return 0; done; [ $# -eq 0 ]; }
cases=("$@")
sel() { [ ${#cases[@]} -eq 0 ] && return 0; for c in "${cases[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }

sel symlink-img-out && run symlink-img-out "ln -sf /etc/passwd $I/images/lead0.jpg"
sel symlink-img-in && run symlink-img-in "mv $I/images/lead0.jpg $I/images/real.jpg; ln -s real.jpg $I/images/lead0.jpg"
sel symlink-img-outjpg && run symlink-img-outjpg "cp $I/images/lead0.jpg /tmp/outside.jpg; rm $I/images/lead0.jpg; ln -s /tmp/outside.jpg $I/images/lead0.jpg"
sel img-space && run img-space "mv $I/images/lead0.jpg '$I/images/lead 0.jpg'; sed -i 's|file: images/lead0.jpg|file: images/lead 0.jpg|' $A/01-story-0.md"
sel img-hangul && run img-hangul "mv $I/images/lead0.jpg $I/images/사진.jpg; sed -i 's|file: images/lead0.jpg|file: images/사진.jpg|' $A/01-story-0.md; echo '![그림](images/사진.jpg \"Caption\")' >> $A/02-story-1.md"
sel img-nfd && run img-nfd "$PY -c \"import os,unicodedata;os.rename('$I/images/lead0.jpg', '$I/images/'+unicodedata.normalize('NFD','사진')+'.jpg')\"; sed -i 's|file: images/lead0.jpg|file: images/사진.jpg|' $A/01-story-0.md"
sel img-case && run img-case "mv $I/images/lead0.jpg $I/images/Lead0.JPG"
sel img-notimage && run img-notimage "echo hello > $I/images/lead0.jpg"
sel img-truncated && run img-truncated "head -c 3000 $base/$I/images/lead0.jpg > $I/images/lead0.jpg"
sel img-tiff && run img-tiff "$PY -c \"from PIL import Image; Image.new('RGB',(50,50)).save('$I/images/lead0.jpg','TIFF')\""
sel img-cmyk && run img-cmyk "$PY -c \"from PIL import Image; Image.new('CMYK',(800,600),(0,50,100,0)).save('$I/images/lead0.jpg')\""
sel img-16bit-png && run img-16bit-png "$PY -c \"from PIL import Image; Image.new('I;16',(800,600),3000).save('$I/images/lead1.png')\""
sel img-anim-gif && run img-anim-gif "$PY -c \"from PIL import Image; fr=[Image.new('P',(300,200),i) for i in range(3)]; fr[0].save('$I/images/a.gif',save_all=True,append_images=fr[1:])\"; sed -i 's|file: images/lead0.jpg|file: images/a.gif|' $A/01-story-0.md"
sel img-webp-alpha && run img-webp-alpha "$PY -c \"from PIL import Image; Image.new('RGBA',(600,400),(255,0,0,90)).save('$I/images/a.webp')\"; sed -i 's|file: images/lead0.jpg|file: images/a.webp|' $A/01-story-0.md"
sel img-exif-rot && run img-exif-rot "$PY -c \"
from PIL import Image; im=Image.new('RGB',(1200,800),(0,90,0)); ex=Image.Exif(); ex[274]=6; im.save('$I/images/lead0.jpg',exif=ex)\""
sel img-1px && run img-1px "$PY -c \"from PIL import Image; Image.new('RGB',(1,1)).save('$I/images/lead0.jpg')\""
sel img-extreme-aspect && run img-extreme-aspect "$PY -c \"from PIL import Image; Image.new('RGB',(8000,10)).save('$I/images/lead0.jpg')\""
sel img-tall && run img-tall "$PY -c \"from PIL import Image; Image.new('RGB',(20,9000)).save('$I/images/lead0.jpg')\""
sel img-dir && run img-dir "rm $I/images/lead0.jpg; mkdir $I/images/lead0.jpg"
sel huge-article && run huge-article "$PY -c \"
import random; random.seed(1); w=['Seoul','hanok','the','a','river','market','서울','and','festival']
p='\n\n'.join(' '.join(random.choice(w) for _ in range(120))+'.' for _ in range(1500))
open('$A/04-huge.md','w').write('---\ntitle: Huge\nsection: Culture\nbyline: X\n---\n\n'+p+'\n')\""
sel title-only && run title-only "printf -- '---\ntitle: Only a title\nsection: Culture\nbyline: Y\n---\n' > $A/04-empty.md"
sel title-only-nobyline && run title-only-nobyline "printf -- '---\ntitle: Only a title\n---\n' > $A/04-empty.md"
sel empty-file && run empty-file ": > $A/04-empty.md"
sel no-frontmatter && run no-frontmatter "echo 'Just text' > $A/04-text.md"
sel zero-articles && run zero-articles "rm $A/*.md"
sel zero-articles-no-dir && run zero-articles-no-dir "rm -r $A"
sel forty-articles && run forty-articles "for i in \$(seq 4 40); do sed 's/^title: .*/title: \"Article number '\$i'\"/' $A/02-story-1.md > $A/\$(printf %02d \$i)-more-\$i.md; done"
sel ticker-20 && run ticker-20 "for i in \$(seq 1 20); do printf '\n[[ticker]]\nheadline = \"Ticker item %s with a rather long headline that goes on\"\nlink = \"https://example.org/%s\"\n' \$i \$i >> $I/issue.toml; done"
sel dup-slug && run dup-slug "cp $A/01-story-0.md $A/09-story-0.md"
sel dup-slug-set && run dup-slug-set "sed -i 's/^title: \\(.*\\)/title: \\1\nslug: same/' $A/01-story-0.md $A/02-story-1.md"
sel dup-slug-case && run dup-slug-case "cp $A/02-story-1.md $A/05-Story-0.md"
sel crlf && run crlf "sed -i 's/\$/\r/' $I/issue.toml $A/*.md"
sel bom && run bom "sed -i '1s/^/\xef\xbb\xbf/' $I/issue.toml $A/01-story-0.md"
sel latin1 && run latin1 "printf '\nCaf\xe9 au lait.\n' >> $A/01-story-0.md"
sel nul && run nul "printf '\nNul\x00byte.\n' >> $A/01-story-0.md"
sel ctrl && run ctrl "printf '\nBell\x07 and form\x0cfeed.\n' >> $A/01-story-0.md"
sel toml-tabs && run toml-tabs "sed -i 's/^\\([a-z_]*\\) = /\\1\t=\t/; s/^/\t/' $I/issue.toml"
sel toml-bad && run toml-bad "echo 'cover_lines = [\"unterminated' >> $I/issue.toml"
sel toml-dupkey && run toml-dupkey "echo 'cover_story = \"again\"' >> $I/issue.toml"
sel toml-unknown && run toml-unknown "sed -i 's/^cover_story/cover_storey = \"x\"\ncover_story/' $I/issue.toml"
sel toml-month-mismatch && run toml-month-mismatch "sed -i 's/^month = .*/month = \"2023-10\"/' $I/issue.toml"
sel toml-date-other-month && run toml-date-other-month "sed -i 's/^date = .*/date = 2024-02-30/' $I/issue.toml"
sel toml-date-string && run toml-date-string "sed -i 's/^date = .*/date = \"1 September 2023\"/' $I/issue.toml"
sel no-issue-toml && run no-issue-toml "rm $I/issue.toml"
sel no-issue-toml-other && run no-issue-toml-other "mkdir -p issues/2023-10/articles; cp $A/01-story-0.md issues/2023-10/articles/"
sel stray-file && run stray-file "echo hi > issues/notes.txt; echo x > issues/.DS_Store; mkdir issues/drafts; touch issues/2023-09.zip"
sel stray-month-dir-later && run stray-month-dir-later "mkdir issues/2023-12"
sel later-full-issue && run later-full-issue "cp -r $I issues/2023-10; sed -i 's/2023-09/2023-10/' issues/2023-10/issue.toml"
sel archive-only-bad && run archive-only-bad "echo 'cover_story = ' >> issues/2023-07/issue.toml"
sel archive-only-missing-cover && run archive-only-missing-cover "echo 'cover_image = \"images/cover.jpg\"' >> issues/2023-07/issue.toml"
sel archive-md-ext && run archive-md-ext "cp $A/02-story-1.md $A/05-x.markdown; cp $A/02-story-1.md $A/06-y.MD"
sel layout-dir && run layout-dir "rm layouts/epub/style.css; mkdir layouts/epub/style.css"
sel layout-tpl-dir && run layout-tpl-dir "rm layouts/email/email.html; mkdir layouts/email/email.html"
sel layout-missing-tpl && run layout-missing-tpl "rm layouts/print/article.html"
sel layout-tpl-syntax && run layout-tpl-syntax "echo '{% if %}' >> layouts/epub/article.xhtml"
sel layout-bad-settings && run layout-bad-settings "echo 'budget_kb = \"lots\"' >> layouts/email/settings.toml"
sel pub-missing && run pub-missing "rm issues/publication.toml"
sel pub-bad-lang && run pub-bad-lang "sed -i 's/^language = .*/language = \"english!!\"/' issues/publication.toml"
sel pub-trim-zero && run pub-trim-zero "sed -i 's/^width_mm = .*/width_mm = 0/' issues/publication.toml; grep -q width_mm issues/publication.toml || printf '\\n[trim]\\nwidth_mm = 0\\n' >> issues/publication.toml"
sel link-bad && run link-bad "echo '[x](javascript:alert(1)) [y](02-nothere.md) [z](#nope)' >> $A/01-story-0.md"
sel raw-html && run raw-html "echo '<script>alert(1)</script> <img src=x onerror=alert(1)>' >> $A/01-story-0.md"
sel unclosed-pullquote && run unclosed-pullquote "printf '\n::: pullquote X\nNever closed\n' >> $A/01-story-0.md"
sel fn-in-table && run fn-in-table "printf '\n| a | b |\n|---|---|\n| c[^zz] | d |\n' >> $A/01-story-0.md"
sel fn-dup-def && run fn-dup-def "printf '\n[^a]: Again.\n' >> $A/01-story-0.md"
sel h1-in-body && run h1-in-body "printf '\n# A level-one heading\n\n### level three\n\n###### six\n' >> $A/01-story-0.md"
sel dup-subhead && run dup-subhead "printf '\n## Numbers\n\ntext\n' >> $A/01-story-0.md"
sel long-word && run long-word "$PY -c \"open('$A/01-story-0.md','a').write('\n'+'x'*5000+'\n\nhttps://example.org/'+'a/'*800+'\n')\""
sel long-title && run long-title "sed -i 's/^title: .*/title: \"$(printf 'Very %.0s' {1..120})long\"/' $A/01-story-0.md"
sel wide-table && run wide-table "$PY -c \"
open('$A/01-story-0.md','a').write('\n|'+'|'.join('c%d'%i for i in range(40))+'|\n|'+'|'.join('---' for i in range(40))+'|\n|'+'|'.join('%d'%(10**12*i) for i in range(40))+'|\n')\""
sel deep-nesting && run deep-nesting "$PY -c \"open('$A/01-story-0.md','a').write('\n'+'> '*400+'deep\n\n'+'- '*400+'list\n')\""
sel mojibake && run mojibake "printf '\nKorea\xc2\xa1\xc2\xaf\x73 move.\n' >> $A/01-story-0.md"
sel long-url && run long-url "$PY -c \"open('$A/01-story-0.md','a').write('\\nSee [the map](https://maps.example.org/?q='+'a%2Cb'*300+').\\n')\""
sel date-other-month && run date-other-month "sed -i 's/^date = .*/date = 2024-02-01/' $I/issue.toml"
sel ticker-bad-link && run ticker-bad-link "sed -i 's|^link = \"https://example.org/news\"|link = \"javascript:alert(1)\"|' $I/issue.toml"
sel cover-missing && run cover-missing "rm $I/images/cover.jpg"
sel lead-no-alt && run lead-no-alt "sed -i '/^  alt: /d' $A/01-story-0.md"
sel unreadable-article && run unreadable-article "chmod 000 $A/01-story-0.md; chown -R nobody $w 2>/dev/null; true"
