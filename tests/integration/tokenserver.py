"""A Docker registry token server for tests (distribution's "token" auth).

The registry answers 401 with `WWW-Authenticate: Bearer realm=...,service=...,
scope=...`; the client fetches GET realm?service=S&scope=repository:R:pull
with Basic credentials and gets {"token": JWT}. The JWT is signed RS256 by the
`openssl` CLI with a key whose self-signed certificate is the registry's
`rootcertbundle`; the certificate travels in the `x5c` header, which
distribution v2.8 verifies against that bundle (registry/auth/token/token.go,
parseAndVerifyCertChain). Bad or missing credentials get 401.

Runs in a thread of the test process, on 127.0.0.1 and a free port. Every
request is recorded in `requests` (method, path, user) so tests can count
token fetches. Standard library and the openssl CLI only.
"""
import base64
import json
import pathlib
import subprocess
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = "zlayer-test-registry"
ISSUER = "zlayer-test-issuer"
TOKEN_LIFETIME = 300


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_signing_cert(workdir):
    """Create key.pem and cert.pem (RSA 2048, self-signed) under workdir."""
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    key, cert = workdir / "token-key.pem", workdir / "token-cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=zlayer-test-token-issuer"],
        check=True, capture_output=True)
    return key, cert


def cert_der_b64(cert_pem):
    """The certificate as standard base64 DER, the form x5c wants."""
    text = pathlib.Path(cert_pem).read_text()
    body = text.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return "".join(body.split())


def sign_jwt(key_pem, cert_pem, claims):
    header = {"typ": "JWT", "alg": "RS256", "x5c": [cert_der_b64(cert_pem)]}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key_pem)],
                         input=signing_input.encode(), capture_output=True, check=True).stdout
    return signing_input + "." + b64url(sig)


def parse_scopes(scopes):
    """["repository:busybox:pull,push", ...] -> access claim entries."""
    access = []
    for scope in scopes:
        for one in scope.split(" "):
            parts = one.split(":")
            if len(parts) < 3:
                continue
            # Names may contain a port ("repository:127.0.0.1:5000/x:pull" is not
            # valid, but be lenient): type first, actions last, name between.
            typ, actions, name = parts[0], parts[-1], ":".join(parts[1:-1])
            access.append({"type": typ, "name": name,
                           "actions": [a for a in actions.split(",") if a]})
    return access


class TokenServer:
    """Issues tokens to `users` ({name: password}); `allow_anonymous` hands
    out tokens with empty access to callers without credentials."""

    def __init__(self, workdir, users, service=SERVICE, issuer=ISSUER, allow_anonymous=False):
        self.key, self.cert = make_signing_cert(workdir)
        self.users = dict(users)
        self.service = service
        self.issuer = issuer
        self.allow_anonymous = allow_anonymous
        self.requests = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def issue(self, user, scopes):
        now = int(time.time())
        claims = {
            "iss": self.issuer, "sub": user or "", "aud": self.service,
            "exp": now + TOKEN_LIFETIME, "nbf": now - 10, "iat": now,
            "jti": uuid.uuid4().hex,
            "access": parse_scopes(scopes) if user else [],
        }
        return sign_jwt(self.key, self.cert, claims)

    def _check(self, auth_header, form_user=None, form_password=None):
        """Returns (ok, user)."""
        if form_user is not None:
            return self.users.get(form_user) == form_password, form_user
        if not auth_header:
            return self.allow_anonymous, None
        kind, _, value = auth_header.partition(" ")
        if kind.lower() != "basic":
            return False, None
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except Exception:
            return False, None
        return self.users.get(user) == password, user

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def _reply(self, code, body, extra=None):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, params, form_user=None, form_password=None):
                url = urllib.parse.urlsplit(self.path)
                ok, user = server._check(self.headers.get("Authorization"), form_user, form_password)
                with server._lock:
                    server.requests.append((self.command, self.path, user, ok))
                if url.path != "/token":
                    self._reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
                    return
                if params.get("service", [server.service])[0] != server.service:
                    self._reply(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
                    return
                if not ok:
                    self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                                {"WWW-Authenticate": 'Basic realm="zlayer-test-token"'})
                    return
                token = server.issue(user, params.get("scope", []))
                self._reply(200, {"token": token, "access_token": token, "expires_in": TOKEN_LIFETIME,
                                  "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

            def do_GET(self):
                self._serve(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))

            def do_POST(self):
                # OAuth2 password grant, as docker uses with identity tokens.
                length = min(int(self.headers.get("Content-Length") or 0), 65536)
                params = urllib.parse.parse_qs(self.rfile.read(length).decode(errors="replace"))
                user = params.get("username", [None])[0]
                password = params.get("password", [None])[0]
                self._serve(params, user, password if user is not None else None)

        return Handler


if __name__ == "__main__":
    import argparse
    import signal

    p = argparse.ArgumentParser(description="run a test token server until SIGTERM")
    p.add_argument("workdir")
    p.add_argument("--user", action="append", default=[], help="name:password")
    args = p.parse_args()
    ts = TokenServer(args.workdir, dict(u.split(":", 1) for u in args.user))
    print(json.dumps({"realm": ts.realm, "cert": str(ts.cert), "service": ts.service,
                      "issuer": ts.issuer}), flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    ts.close()
