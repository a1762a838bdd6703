"""A real SMTP server for the email tests, built on aiosmtpd.

    smtp_server.py PORT MAILDIR MODE [CERT KEY] [USER:PASSWORD]

MODE is `starttls` (STARTTLS offered and required before MAIL; CERT and KEY are the
server's PEM certificate chain and key) or `plain` (no STARTTLS offered at all). With
USER:PASSWORD the server requires AUTH with exactly those credentials.

Each accepted message is written to MAILDIR as N.eml (the bytes received) with N.json
beside it ({mail_from, rcpt_tos, tls, user}). Prints "ready" once listening, then serves
until killed.
"""
import json
import os
import ssl
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# aiosmtpd itself still sets the deprecated Session.login_data after AUTH.
warnings.filterwarnings("ignore", message="Session.login_data")

PORT = int(sys.argv[1])
MAILDIR = sys.argv[2]
MODE = sys.argv[3]
rest = sys.argv[4:]
CERT = KEY = None
if MODE == "starttls":
    CERT, KEY, rest = rest[0], rest[1], rest[2:]
elif MODE != "plain":
    sys.exit(f"unknown mode {MODE!r}: expected starttls or plain")
CREDENTIALS = rest[0].split(":", 1) if rest else None


class Saver:
    """Writes every message it accepts to MAILDIR."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(MAILDIR, str(n))
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "user": session.auth_data.login.decode() if session.auth_data else None,
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".json.tmp", base + ".json")
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and CREDENTIALS is not None
        and auth_data.login.decode() == CREDENTIALS[0]
        and auth_data.password.decode() == CREDENTIALS[1]
    )
    return AuthResult(success=ok, auth_data=auth_data if ok else None)


kwargs = {}
if MODE == "starttls":
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(CERT, KEY)
    kwargs.update(tls_context=context, require_starttls=True)
if CREDENTIALS:
    kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=(MODE == "starttls"))

controller = Controller(Saver(), hostname="127.0.0.1", port=PORT, **kwargs)
controller.start()
print("ready", flush=True)
threading.Event().wait()
