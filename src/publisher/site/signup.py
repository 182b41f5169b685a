"""Readers subscribe themselves: ``/subscribe`` (the form) and ``/confirm`` (its link).

- ``GET /subscribe`` shows the form (also on the site's index); ``POST /subscribe``
  takes an address, an optional name, the consent version and digest the form showed
  and a honeypot field.  The answer is one page whether the address was new, pending
  or subscribed already (no enumeration); a filled honeypot gets that page too, and
  nothing is recorded.  Too many requests from one client: a 429 page.
- The confirmation email's link, ``GET /confirm?address=...&token=...``, shows a
  button and changes nothing (mail scanners open links); only its ``POST`` confirms.
- A POST from another site (``Origin``, ``Sec-Fetch-Site``) is refused (403).

The records are :mod:`publisher.deliver.consent`'s; the confirmation message is
rendered here (:mod:`publisher.site.confirmation`) and owed through the outbox, sent
after the commit by :class:`publisher.deliver.outbox.Sender` when SMTP is configured.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from publisher.deliver import consent, outbox, signed, subscribers, tokens
from publisher.deliver import db as store_db
from publisher.errors import PublisherError
from publisher.model import Publication
from publisher.site.confirmation import Confirmation
from publisher.site.forms import Pages, client_address, query, read_form, same_origin

log = logging.getLogger(__name__)

#: Seconds a request waits for a busy store before a 503.
STORE_WAIT = 5.0
HONEYPOT = "website"


class SignupApp:
    def __init__(self, where: store_db.Location | Path | str, publication: Publication,
                 secret: bytes, layouts: Path, settings: consent.SignupSettings, *,
                 sender: outbox.Sender | None = None, store_wait: float | None = None):
        self.location = store_db.locate(where)
        self.publication = publication
        self.secret = secret
        self.settings = settings
        self.sender = sender
        self.list_name = tokens.list_id(publication)
        self.consent = consent.Consent(publication.consent_text, publication.consent_version)
        self.pool = store_db.Pool(self.location,
                                  timeout=STORE_WAIT if store_wait is None else store_wait)
        self.pages = Pages(layouts, publication)
        self.mail = Confirmation(layouts, publication)

    def form_values(self, **extra: Any) -> dict[str, Any]:
        return {"consent": self.consent, "action": "subscribe", "email": "", "name": "",
                "problem": "", **extra}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD", "POST"):
            return self.pages.answer(start_response, "405 Method Not Allowed",
                                     "subscribe.html", [("Allow", "GET, HEAD, POST")],
                                     state="invalid", **self.form_values())
        if method == "POST" and not same_origin(environ, self.publication):
            log.info("signup: refused a POST from another origin")
            return self.pages.answer(start_response, "403 Forbidden", "subscribe.html",
                                     state="invalid", **self.form_values())
        try:
            if path.rstrip("/") == "/confirm":
                return self._confirm(environ, start_response, method)
            return self._subscribe(environ, start_response, method)
        except PublisherError as exc:
            log.error("signup: %s", exc)
        except store_db.ERRORS as exc:
            log.warning("signup: not recorded, the client is asked to try again: %s", exc)
        return self.pages.answer(start_response, "503 Service Unavailable", "subscribe.html",
                                 [("Retry-After", "10")], state="busy", **self.form_values())

    # -- /subscribe ---------------------------------------------------------------------

    def _subscribe(self, environ: dict[str, Any], start_response: Any,
                   method: str) -> list[bytes]:
        if method != "POST":
            return self.pages.answer(start_response, "200 OK", "subscribe.html",
                                     state="form", **self.form_values())
        form = read_form(environ)
        email, name = form.get("email", "").strip(), form.get("name", "").strip()
        if form.get(HONEYPOT, ""):
            log.info("signup: the honeypot was filled; nothing recorded")
            return self._sent(start_response)
        try:
            address = subscribers.normalize_address(email)
        except ValueError:
            return self._again(start_response, email, name,
                               "This does not look like an email address: please check it.")
        try:
            name = subscribers.check_name(name)
        except ValueError:
            return self._again(start_response, email, "",
                               "Please write your name without line breaks, in at most "
                               f"{subscribers.MAX_NAME_LENGTH} characters.")
        if form.get("consent_digest", "") != self.consent.digest:
            return self._again(start_response, email, name,
                               "The words below have changed since your page was loaded: "
                               "please read them and subscribe again.")
        client_ip = client_address(environ)
        client = self.settings.client(self.secret, client_ip)
        client_key = signed.keyed_hash(self.secret, "client", client_ip)[:32]
        expires: list[str] = []

        def message(token: str, who: str) -> bytes:
            when = token.split(".", 1)[0]
            expires.append(when)
            url = signed.confirm_url(self.publication, address, token)
            return self.mail.message(address, who, url, _date(int(when)))

        with self.pool.connection() as db:
            result = consent.request_signup(
                db, address=address, name=name, consent=self.consent, client=client,
                client_key=client_key, secret=self.secret, settings=self.settings,
                list_name=self.list_name, sender=self.publication.sender_address,
                message=message)
        if result in (consent.ALREADY, consent.LIMITED):  # the same work, the same time:
            message(signed.confirm_token(self.secret, self.list_name, address, "-",
                                         int(time.time())), name)  # no enumeration by timing
        if result == consent.TOO_MANY:
            return self.pages.answer(start_response, "429 Too Many Requests",
                                     "subscribe.html", [("Retry-After", "3600")],
                                     state="too-many", **self.form_values())
        if result == consent.QUEUED and self.sender is not None:
            self.sender.wake()
        return self._sent(start_response)

    def _sent(self, start_response: Any) -> list[bytes]:
        """The one answer to a signup: the same whatever the address's state."""
        return self.pages.answer(start_response, "200 OK", "subscribe.html", state="sent",
                                 days=_days(self.settings.expiry_days), **self.form_values())

    def _again(self, start_response: Any, email: str, name: str, problem: str) -> list[bytes]:
        return self.pages.answer(start_response, "400 Bad Request", "subscribe.html",
                                 state="form",
                                 **self.form_values(email=email, name=name, problem=problem))

    # -- /confirm -----------------------------------------------------------------------

    def _confirm(self, environ: dict[str, Any], start_response: Any,
                 method: str) -> list[bytes]:
        values = query(environ)
        address, token = values.get("address", ""), values.get("token", "")
        checked = signed.check_confirm(self.secret, self.list_name, address, token) \
            if address and token else None
        if checked is not None:
            try:
                address = subscribers.normalize_address(address)
            except ValueError:
                checked = None
        if checked is None:
            log.info("confirm: refused a forged or malformed link")
            return self.pages.answer(start_response, "400 Bad Request", "confirm.html",
                                     state="invalid", address="", action="")
        state, nonce = checked
        if state == "expired":
            return self.pages.answer(start_response, "410 Gone", "confirm.html",
                                     state="expired", address=address, action="")
        action = f"confirm?{environ.get('QUERY_STRING', '')}"
        if method != "POST":
            return self.pages.answer(start_response, "200 OK", "confirm.html", state="ask",
                                     address=address, action=action)
        read_form(environ)
        client = self.settings.client(self.secret, client_address(environ))
        with self.pool.connection() as db:
            result = consent.confirm(db, address, nonce, client=client, secret=self.secret)
            current = consent.state(db, address)
        if result == consent.CONFIRMED or (result == consent.USED
                                           and current == subscribers.SUBSCRIBED):
            prefs = signed.preferences_url(self.publication, self.list_name, address,
                                           self.secret)
            return self.pages.answer(start_response, "200 OK", "confirm.html", state="done",
                                     address=address, action="",
                                     preferences=_local(prefs, self.publication))
        if result == consent.EXPIRED:
            return self.pages.answer(start_response, "410 Gone", "confirm.html",
                                     state="expired", address=address, action="")
        return self.pages.answer(start_response, "409 Conflict", "confirm.html",
                                 state="used", address=address, action="")


def _local(url: str, publication: Publication) -> str:
    """A public URL of the site as a link relative to the endpoint's page."""
    return url.removeprefix(publication.base_url + "/")


def _date(seconds: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).strftime("%-d %B %Y, %H:%M UTC")


def _days(days: float) -> str:
    if days >= 1 and float(days).is_integer():
        return f"{int(days)} day{'s' if days != 1 else ''}"
    return f"{days * 24:g} hours"


def signup_routes(where: store_db.Location | Path | str, publication: Publication,
                  secret: bytes, layouts: Path, environ: Any, *,
                  store_wait: float | None = None) -> dict[str, Any]:
    """``/subscribe``, ``/confirm`` and ``/preferences`` for the site application; the
    outbox's sender thread when ``PUBLISHER_SMTP_HOST`` is set (else ``publisher
    subscribers outbox`` sends the confirmations)."""
    from publisher.deliver.smtp import SmtpSettings
    from publisher.site.preferences import PreferencesApp

    settings = consent.SignupSettings.from_env(environ)
    sender = None
    if environ.get("PUBLISHER_SMTP_HOST", "").strip():
        sender = outbox.Sender(where, SmtpSettings.from_env(environ))
    else:
        log.warning("PUBLISHER_SMTP_HOST is not set: confirmation emails wait in the outbox "
                    "for 'publisher subscribers outbox'")
    app = SignupApp(where, publication, secret, layouts, settings, sender=sender,
                    store_wait=store_wait)
    return {"/subscribe": app, "/confirm": app,
            "/preferences": PreferencesApp(where, publication, secret, layouts, settings,
                                           store_wait=store_wait)}
