"""PUBLISHER_SMTP_TLS=ssl against a real SMTP server (aiosmtpd) whose port speaks plain
SMTP: one line saying what the setting is for, not OpenSSL's words alone."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from publisher.deliver.smtp import Connection, SmtpSettings
from publisher.errors import PublisherError
from send_support import free_port


def test_ssl_against_a_plain_port_says_what_the_setting_is_for() -> None:
    port = free_port()
    server = Controller(Sink(), hostname="127.0.0.1", port=port)
    server.start()
    try:
        settings = SmtpSettings(host="127.0.0.1", port=port, tls="ssl", timeout=10)
        with pytest.raises(PublisherError) as caught:
            Connection(settings).open()
    finally:
        server.stop()
    assert str(caught.value) == (
        f"cannot reach the SMTP server 127.0.0.1:{port}: it does not answer in TLS there "
        "(WRONG_VERSION_NUMBER): PUBLISHER_SMTP_TLS=ssl is for a port that starts in TLS "
        "(465); starttls for 587, none for 25")
