"""publisher: one magazine issue in, every format its readers receive out."""

from __future__ import annotations

__version__ = "0.1.0"
