from __future__ import annotations

import sys

from publisher.cli import main

sys.exit(main())
