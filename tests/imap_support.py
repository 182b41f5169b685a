"""A throwaway IMAP server for the tests: Debian's Dovecot (``dovecot-imapd``, which
tools/system-deps installs), configured in a temporary folder of its own and listening
on 127.0.0.1 at a free port, with plain logins from a passwd-file and Maildirs.

Run as root (as CI does), Dovecot's master stays root and its processes drop to the
system's users: logins to ``dovenull``, internal work to ``dovecot``, the mail to
``nobody``, who owns the mail folder.  Run as another user, every process is that user.
The folder is made with ``mkdtemp`` and opened to others (0755): pytest's own temporary
folders are private to their owner, which the mail processes are not.

    with Dovecot() as server:
        user, password = server.add_user()
        server.append(user, password, data)
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import trustme

from send_support import free_port

DOVECOT = Path("/usr/sbin/dovecot")
USERS = 40  # mailboxes, one per test that asks


class Dovecot:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.port = free_port()      # IMAP, STARTTLS offered
        self.tls_port = free_port()  # IMAP over TLS from the start
        self.ca = trustme.CA()       # who signed the server's certificate (127.0.0.1)
        self.process: subprocess.Popen[bytes] | None = None
        self.users: dict[str, str] = {}
        self.free: list[tuple[str, str]] = []

    def _config(self) -> str:
        root = self.root
        if os.geteuid() == 0:
            login_user, internal_user, internal_group = "dovenull", "dovecot", "dovecot"
            mail_uid, mail_gid = "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            login_user = internal_user = mail_uid = me
            internal_group = mail_gid = group
        return f"""
base_dir = {root}/run
state_dir = {root}/state
instance_name = publisher-test-{self.port}
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
  }}
}}
service anvil {{
  chroot =
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
"""

    def start(self) -> Dovecot:
        if not DOVECOT.exists():
            raise RuntimeError("Dovecot is not installed: run tools/system-deps "
                               "(Debian's dovecot-imapd)")
        self.root.chmod(0o755)
        (self.root / "mail").mkdir()
        # every mailbox made now: Dovecot reads the passwd-file again only when its
        # modification time changes, which a write in the same second may not do
        self.free = [(f"bounces{i}", secrets.token_urlsafe(12)) for i in range(USERS)]
        (self.root / "passwd").write_text("".join(f"{user}:{{PLAIN}}{password}\n"
                                                  for user, password in self.free))
        (self.root / "passwd").chmod(0o644)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root / "mail", nobody.pw_uid, nobody.pw_gid)
        server = self.ca.issue_cert("127.0.0.1")
        server.cert_chain_pems[0].write_to_path(str(self.root / "cert.pem"))
        server.private_key_pem.write_to_path(str(self.root / "key.pem"))
        self.ca.cert_pem.write_to_path(str(self.root / "ca.pem"))
        config = self.root / "dovecot.conf"
        config.write_text(self._config())
        self.process = subprocess.Popen([str(DOVECOT), "-F", "-c", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Dovecot did not start: {self._log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Dovecot did not answer on port {self.port}: {self._log()}")

    def _log(self) -> str:
        text = ""
        for name in ("dovecot.log",):
            path = self.root / name
            if path.exists():
                text += path.read_text(errors="replace")[-2000:]
        if self.process is not None and self.process.stderr is not None \
                and self.process.poll() is not None:
            text += self.process.stderr.read().decode(errors="replace")[-2000:]
        return text

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server's certificate, for SSL_CERT_FILE."""
        return self.root / "ca.pem"

    def add_user(self) -> tuple[str, str]:
        """A mailbox no test has used yet: (user, password)."""
        user, password = self.free.pop(0)
        self.users[user] = password
        return user, password

    def client(self, user: str) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.login(user, self.users[user])
        return imap

    def append(self, user: str, data: bytes, folder: str = "INBOX") -> None:
        imap = self.client(user)
        try:
            if folder != "INBOX":
                imap.create(folder)
            typ, reply = imap.append(folder, None, None, data)
            assert typ == "OK", reply
        finally:
            imap.logout()

    def unseen(self, user: str, folder: str = "INBOX") -> int:
        imap = self.client(user)
        try:
            imap.select(folder)
            _typ, data = imap.uid("SEARCH", "UNSEEN")
            return len(data[0].split()) if data and data[0] else 0
        finally:
            imap.logout()

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
