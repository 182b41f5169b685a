"""Per-subscriber placeholders in the finished email.

The email renderer writes these tokens into ``email.eml`` (HTML part, text part
and headers); the sender fills them in for each subscriber in the finished
message, never by re-rendering or re-inlining.  They are plain ASCII with no
characters that HTML escaping, CSS inlining or URL quoting would change.

Where they are (``publisher.render.email.renderer``):

- ``To: %%PUBLISHER_RECIPIENT_EMAIL%%`` (a bare token: the header parser notes
  a missing domain until it is filled in);
- ``List-Unsubscribe: <%%PUBLISHER_UNSUBSCRIBE_URL%%>, <%%PUBLISHER_UNSUBSCRIBE_MAILTO%%>``
  with ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058: the
  URL must accept a POST that unsubscribes at once);
- both text parts: the greeting ``Dear %%PUBLISHER_RECIPIENT_NAME%%,`` and the
  footer's unsubscribe link (``href`` in HTML, ``[Unsubscribe](…)`` in text).

How they are encoded: both text parts are UTF-8 with
``Content-Transfer-Encoding: 8bit`` and short lines (at most 998 octets, as
8bit requires), so every token appears whole and literally in the serialized
message: quoted-printable could split a token across a soft line break and
base64 would hide it.  The one exception: a part with a line that cannot be
broken and is too long for 8bit (an editor's link of a kilobyte or more) is
quoted-printable, and a token in it may be split by a soft line break: the
way below (decoded parts) finds it all the same.  The images (``embed``
setting) are base64 parts without tokens.

How the sender fills them in (:mod:`publisher.deliver.personalise`): it parses
``email.eml`` once, keeps the bytes that are the same for everyone (every header and
part without a token, every image, every boundary) serialized as they are, and for
each subscriber joins the decoded pieces of the parts that hold a token with that
subscriber's values and encodes just those parts again; it never re-renders or
re-inlines.  What any sender must respect:

1. Fill tokens in the decoded headers and the decoded content of the ``text/*``
   parts, not in the raw bytes: values with ``=``, ``&`` or non-ASCII letters must
   be encoded by the part's transfer encoding.
2. ``RECIPIENT_NAME`` with no name: a generic form of address (e.g. ``reader``),
   never an empty string ("Dear ,").
3. In HTML, escape the values (``html.escape``): a URL's ``&`` becomes ``&amp;``.
4. ``To``, ``Message-ID`` and ``Date`` are the sender's: the renderer's are
   placeholders for the address, a digest of the content and the issue's date.
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

#: The subscriber's signed preference page (name, pause, my data, erase).
PREFERENCES_URL = "%%PUBLISHER_PREFERENCES_URL%%"

ALL = (RECIPIENT_NAME, RECIPIENT_EMAIL, UNSUBSCRIBE_URL, UNSUBSCRIBE_MAILTO, PREFERENCES_URL)
