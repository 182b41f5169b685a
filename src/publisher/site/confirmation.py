"""The confirmation email of a signup: HTML and text, from the email layout's parts.

``layouts/email/confirm.html`` (which imports the masthead and footer macros of
``layouts/email/parts.html`` and the layout's ``email.css``) is rendered in the
publication's language, its CSS inlined as the issue's is
(:func:`publisher.render.email.inline.inline_css`), its text part made from the same
HTML (:func:`publisher.render.email.text.text_part`).  The message is finished here,
in the web application, and handed to the store's outbox as bytes.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

from publisher.deliver.personalise import GENERIC_NAME
from publisher.model import Publication
from publisher.render.email.inline import inline_css
from publisher.render.email.text import text_part
from publisher.render.templates import environment, layout_errors


class Confirmation:
    def __init__(self, layouts: Path, publication: Publication):
        self.publication = publication
        self.env = environment(layouts, "email")

    def message(self, address: str, name: str, url: str, expires: str) -> bytes:
        pub = self.publication
        with layout_errors():
            html = self.env.get_template("confirm.html").render(
                publication=pub, name=name or GENERIC_NAME, url=url, expires=expires,
                address=address)
        text = text_part(html)
        html = inline_css(html)
        msg = EmailMessage(policy=policy.SMTP)
        msg["Subject"] = f"Confirm your subscription to {pub.title}"
        msg["From"] = Address(pub.sender_name, addr_spec=pub.sender_address)
        msg["To"] = formataddr((name, address)) if address.isascii() else address
        msg["Date"] = format_datetime(datetime.now(UTC))
        domain = pub.sender_address.rpartition("@")[2] or "localhost"
        msg["Message-ID"] = f"<confirm.{secrets.token_hex(12)}@{domain}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
        msg["Content-Language"] = pub.language  # after the content, which clears Content-*
        return msg.as_bytes()
