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

The contract for the sender:

1. Parse ``email.eml`` once with ``email.parser.BytesParser(policy=email.policy.default)``.
2. For each subscriber, on a copy: replace the tokens in the decoded headers
   (``msg.replace_header("To", ...)``; read a value as ``str(msg[name]).strip()``:
   a header folded after its colon reads back with a leading space) and in the
   decoded content of every ``text/*`` part (``part.get_content()``, replace,
   ``part.set_content(new, subtype=part.get_content_subtype())``), so values with
   ``=``, ``&`` or non-ASCII letters are encoded correctly; the email package picks
   the transfer encoding again.  Replacing in the raw bytes also finds every token,
   but only ASCII values without ``=`` are safe that way.
3. ``RECIPIENT_NAME`` with no name: fill in a generic form of address (e.g.
   ``reader``), never an empty string ("Dear ,").
4. In HTML, escape the values (``html.escape``): a URL's ``&`` becomes ``&amp;``.
5. ``Date`` is the issue's date and ``Message-ID`` a digest of the content, the
   same in every copy: a sender may set the sending time, and a Message-ID
   unique to each copy (RFC 5322), without touching anything else.
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
