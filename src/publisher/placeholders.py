"""Per-subscriber placeholders in the finished email.

The email renderer writes these tokens into ``email.eml`` (HTML part, text part
and headers); the sender fills them in for each subscriber in the finished
message, never by re-rendering or re-inlining.  They are plain ASCII with no
characters that HTML escaping, CSS inlining or URL quoting would change.
"""

from __future__ import annotations

#: The subscriber's name as a greeting ("Dear ...") would use it; empty -> a generic greeting.
RECIPIENT_NAME = "%%PUBLISHER_RECIPIENT_NAME%%"
#: The subscriber's address (the To header).
RECIPIENT_EMAIL = "%%PUBLISHER_RECIPIENT_EMAIL%%"
#: The subscriber's personal one-click unsubscribe URL (https).
UNSUBSCRIBE_URL = "%%PUBLISHER_UNSUBSCRIBE_URL%%"
#: The subscriber's personal unsubscribe mailto: URL, for List-Unsubscribe.
UNSUBSCRIBE_MAILTO = "%%PUBLISHER_UNSUBSCRIBE_MAILTO%%"

ALL = (RECIPIENT_NAME, RECIPIENT_EMAIL, UNSUBSCRIBE_URL, UNSUBSCRIBE_MAILTO)
