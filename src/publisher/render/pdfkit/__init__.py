"""Helpers of the PDF renderer: a confined URL fetcher, the glyph check, the image
preflight and the PDF finishers (boxes, determinism)."""
