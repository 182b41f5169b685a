"""EPUBCheck one or more EPUBs: print counts and messages."""
import sys
sys.path.insert(0, "/work/wt/v12/tests")
from pathlib import Path
from epub_support import epubcheck
for p in sys.argv[1:]:
    r = epubcheck(Path(p))
    print(p, "fatal", r.fatals, "errors", r.errors, "warnings", r.warnings)
    for m in r.messages:
        print("  ", m)
