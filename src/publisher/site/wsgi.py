"""The site and its unsubscribe endpoint for any WSGI server.

    PUBLISHER_SECRET=... PUBLISHER_ROOT=/srv/korea gunicorn publisher.wsgi:application

``PUBLISHER_ROOT`` is the project folder (with ``issues/``, ``layouts/`` and the
built ``dist/site/``; default: the working directory); ``PUBLISHER_DATABASE_URL`` the
subscriber store, a ``postgresql://`` URL when several processes or hosts serve it (or
``PUBLISHER_DB``, a file; default ``<root>/subscribers.sqlite``).  In production a web
server usually serves ``dist/site/`` itself and passes only ``/unsubscribe`` here.
"""

from __future__ import annotations

import os
from pathlib import Path

from publisher.build.builder import Paths
from publisher.site.app import site_application

_root = Path(os.environ.get("PUBLISHER_ROOT", "."))
application = site_application(
    Paths(issues=_root / "issues", layouts=_root / "layouts", dist=_root / "dist"),
    os.environ.get("PUBLISHER_DATABASE_URL", "").strip()
    or os.environ.get("PUBLISHER_DB", "").strip() or _root / "subscribers.sqlite",
    os.environ,
)
