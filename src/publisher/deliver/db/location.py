"""Where the subscriber store is: an SQLite file (a path) or a PostgreSQL database (a URL).

``--db`` and ``PUBLISHER_DATABASE_URL`` take either; a path is the default
(``subscribers.sqlite``, nothing to install or configure), a ``postgresql://`` URL
lets several machines share one store.  A URL is shown with its password masked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from publisher.errors import PublisherError

#: The store when nothing is said: a file at the project's top level.
DEFAULT_PATH = Path("subscribers.sqlite")
#: The environment variable naming the store (a path or a URL); ``--db`` wins over it.
URL_ENV = "PUBLISHER_DATABASE_URL"
SQLITE, POSTGRES = "sqlite", "postgres"
_URL = re.compile(r"^(postgres|postgresql)://", re.IGNORECASE)
_OTHER_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass(frozen=True)
class Location:
    """A store: ``path`` for SQLite, ``url`` for PostgreSQL (exactly one is set)."""

    path: Path | None = None
    url: str = ""

    @property
    def kind(self) -> str:
        return POSTGRES if self.url else SQLITE

    @property
    def is_sqlite(self) -> bool:
        return not self.url

    @property
    def file(self) -> Path:
        """The SQLite file (only for an SQLite store)."""
        assert self.path is not None, "not an SQLite store"
        return self.path

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else masked(self.url)

    def error(self, message: str, cls: type[PublisherError] = PublisherError) -> PublisherError:
        """``message`` about this store, shown as ``<store>: message``."""
        if self.path is not None:
            return cls(message, self.path)
        return cls(f"{masked(self.url)}: {message}")


def masked(url: str) -> str:
    """``url`` without its password (``postgresql://ann:***@db/list``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


def locate(text: str | os.PathLike[str]) -> Location:
    """The store named by ``text``: a ``postgresql://`` URL, else a file's path."""
    if isinstance(text, Location):
        return text
    value = os.fspath(text)
    if isinstance(value, str) and _URL.match(value.strip()):
        return Location(url=value.strip())
    if isinstance(value, str) and _OTHER_URL.match(value.strip()):
        raise PublisherError(f"the subscriber store {masked(value.strip())!r} is neither a "
                             "file's path nor a postgresql:// URL")
    return Location(path=Path(value))


def from_env(given: str | os.PathLike[str] | None = None,
             environ: Mapping[str, str] | None = None,
             default: Path = DEFAULT_PATH) -> Location:
    """``given`` (``--db``), else ``PUBLISHER_DATABASE_URL``, else ``default``."""
    env = os.environ if environ is None else environ
    if given is not None and os.fspath(given) != "":
        return locate(given)
    text = env.get(URL_ENV, "").strip()
    return locate(text) if text else Location(path=default)
