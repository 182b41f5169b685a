"""A reader's preference page: ``/preferences?address=...&token=...``, the signed link
at the foot of every issue email.

``GET`` shows the page (the reader's state, their name, and a form per change) and
changes nothing.  Each change is a ``POST`` of the same URL with an ``action``:
``name`` (with ``name``), ``pause``, ``resume`` (only after a pause made here),
``stop`` (unsubscribe), ``export`` (the "my data" JSON: the subscriber row, its
history and the consent texts it names), ``erase`` (asks again) and ``erase-now``
(the row, the history, the pending signup and the owed mail go; a keyed hash of the
address remains, so no import adds it back).  Every change is in the history
(:mod:`publisher.deliver.consent`), ``how`` = ``preferences``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from publisher.deliver import consent, signed, subscribers, tokens
from publisher.deliver import db as store_db
from publisher.errors import PublisherError
from publisher.model import Publication
from publisher.site import security as websecurity
from publisher.site.forms import Pages, client_address, query, read_form, same_origin

log = logging.getLogger(__name__)

STORE_WAIT = 5.0
ACTIONS = ("name", "pause", "resume", "stop", "export", "erase", "erase-now")


class PreferencesApp:
    def __init__(self, where: store_db.Location | Path | str, publication: Publication,
                 secret: bytes, layouts: Path, settings: consent.SignupSettings, *,
                 store_wait: float | None = None):
        self.location = store_db.locate(where)
        self.publication = publication
        self.secret = secret
        self.settings = settings
        self.list_name = tokens.list_id(publication)
        self.pool = store_db.Pool(self.location,
                                  timeout=STORE_WAIT if store_wait is None else store_wait)
        self.pages = Pages(layouts, publication)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        values = query(environ)
        address, token = values.get("address", ""), values.get("token", "")
        page = {"address": address, "action": f"preferences?{environ.get('QUERY_STRING', '')}",
                "name": "", "state": "", "done": "", "problem": ""}
        if method not in ("GET", "HEAD", "POST"):
            return self.pages.answer(start_response, "405 Method Not Allowed",
                                     "preferences.html", [("Allow", "GET, HEAD, POST")],
                                     **{**page, "state": "invalid"})
        valid = bool(address and token) and signed.check_preferences(
            self.secret, self.list_name, address, token)
        if valid:
            try:
                address = subscribers.normalize_address(address)
            except ValueError:
                valid = False
        if not valid or (method == "POST" and not same_origin(environ, self.publication)):
            log.info("preferences: refused a request with an invalid link or origin")
            return self.pages.answer(start_response, "400 Bad Request", "preferences.html",
                                     **{**page, "state": "invalid", "address": ""})
        try:
            with self.pool.connection() as db:
                if method == "POST":
                    form = read_form(environ)
                    action = form.get("action", "")
                    if action == "export":
                        return self._export(start_response, db, address)
                    page.update(self._change(db, address, action, form,
                                             client_address(environ)))
                found = subscribers.find(db, address)
                page["state"] = page["state"] or consent.state(db, address)
                page["name"] = found.name if found else ""
        except PublisherError as exc:
            log.error("preferences: %s", exc)
            page["state"] = "busy"
        except store_db.ERRORS as exc:
            log.warning("preferences: not recorded, the client is asked to try again: %s", exc)
            page["state"] = "busy"
        if page["state"] == "busy":
            return self.pages.answer(start_response, "503 Service Unavailable",
                                     "preferences.html", [("Retry-After", "10")], **page)
        status = "400 Bad Request" if page["problem"] else "200 OK"
        return self.pages.answer(start_response, status, "preferences.html", **page)

    def _change(self, db: store_db.Connection, address: str, action: str,
                form: dict[str, str], client_ip: str) -> dict[str, str]:
        client = self.settings.client(self.secret, client_ip)
        if action == "name":
            try:
                consent.set_name(db, address, form.get("name", ""), client)
            except ValueError:
                return {"problem": "Please write your name without line breaks, in at most "
                                   f"{subscribers.MAX_NAME_LENGTH} characters."}
            return {"done": "name"}
        if action == "pause":
            consent.pause(db, address, client)
            return {"done": "pause"}
        if action == "resume":
            consent.resume(db, address, client)
            return {"done": "resume"}
        if action == "stop":
            subscribers.unsubscribe(db, address, how="preferences", client=client)
            return {"done": "stop"}
        if action == "erase":
            return {"state": "erase-ask"}
        if action == "erase-now":
            consent.erase(db, address, self.secret)
            return {"state": "erased"}
        return {"problem": "Please use one of the buttons of this page."}

    def _export(self, start_response: Any, db: store_db.Connection,
                address: str) -> list[bytes]:
        data = consent.my_data(db, address)
        body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
        start_response("200 OK", [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Content-Disposition", f'attachment; filename="{self.list_name}-my-data.json"'),
            ("Cache-Control", "no-store"),
            *websecurity.headers()])
        return [body]
