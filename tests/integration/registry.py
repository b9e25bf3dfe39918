"""Real registries on loopback and the helpers the image tests stand on.

- `start_registry(workdir, auth=None|"basic"|"token")`: distribution v2.8
  (`/usr/bin/docker-registry serve`) on 127.0.0.1 and a free port, filesystem
  storage under workdir, access log in `Registry.log` (count requests with
  `registry_requests`). Basic auth uses an htpasswd file, token auth a
  `tokenserver.TokenServer`.
- `Registry.get` / `get_manifest` / `blob_path` / `corrupt_blob`: a tiny
  client (anonymous, basic or bearer) and direct access to the storage.
- `tcp_proxy(target, throttle_bytes_per_sec=None, cut_after_bytes=None)`: a
  forwarding proxy to make downloads slow or truncated.
- `tree_state(path)`: a comparable picture of a directory tree.

Image building lives in `testimages.py`. Standard library only.
"""
import base64
import collections
import contextlib
import hashlib
import json
import os
import pathlib
import re
import signal
import socket
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import tokenserver

REGISTRY_BIN = "/usr/bin/docker-registry"
USER = "zlayer"
PASSWORD = "s3cret-pass"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ALL_MANIFESTS = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


class HTTPResult:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def _http(method, url, headers=None, data=None, timeout=30):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return HTTPResult(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return HTTPResult(e.code, e.headers, e.read())


def _parse_challenge(value):
    scheme, _, rest = (value or "").partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


class Registry:
    """A running docker-registry. `host` is "127.0.0.1:PORT"."""

    def __init__(self, workdir, auth, proc, port, storage, log, token_server=None):
        self.workdir, self.auth, self.proc, self.port = workdir, auth, proc, port
        self.storage, self.log, self.token_server = storage, log, token_server
        self.host = f"127.0.0.1:{port}"
        self.url = f"http://{self.host}"
        self.user = USER if auth else None
        self.password = PASSWORD if auth else None
        self._tokens = {}

    # -- lifecycle
    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.token_server:
            self.token_server.close()
            self.token_server = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- convenience for tests
    @property
    def creds(self):
        return f"{self.user}:{self.password}" if self.auth else None

    def ref(self, repo, tag="latest"):
        sep = "@" if tag.startswith("sha256:") else ":"
        return f"{self.host}/{repo}{sep}{tag}"

    def docker_config(self, directory, password=None):
        """Write DIRECTORY/config.json with credentials for this registry and
        return DIRECTORY (the DOCKER_CONFIG value)."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        pw = self.password if password is None else password
        auth = base64.b64encode(f"{self.user}:{pw}".encode()).decode()
        (directory / "config.json").write_text(json.dumps({"auths": {self.host: {"auth": auth}}}))
        return directory

    def settle(self, quiet=0.2, timeout=5):
        """Wait until the access log has stopped growing: the registry logs a
        request just after the client has the last byte of the response."""
        deadline = time.monotonic() + timeout
        size, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now = os.path.getsize(self.log)
            if now != size:
                size, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.02)

    def requests(self, method, path_regex, status=None, settle=True):
        if settle:
            self.settle()
        return registry_requests(self.log, method, path_regex, status)

    # -- a small client
    def get(self, path, headers=None, method="GET"):
        headers = dict(headers or {})
        r = _http(method, self.url + path, headers)
        if r.status != 401 or not self.auth:
            return r
        scheme, params = _parse_challenge(r.headers.get("WWW-Authenticate"))
        basic = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if scheme == "basic":
            headers["Authorization"] = basic
        else:
            q = {"service": params.get("service", "")}
            if params.get("scope"):
                q["scope"] = params["scope"]
            t = _http("GET", params["realm"] + "?" + urllib.parse.urlencode(q), {"Authorization": basic})
            if t.status != 200:
                return t
            headers["Authorization"] = "Bearer " + t.json()["token"]
        return _http(method, self.url + path, headers)

    def get_manifest(self, repo, ref):
        """(digest, media_type, parsed manifest) as the registry serves it."""
        r = self.get(f"/v2/{repo}/manifests/{ref}", {"Accept": ALL_MANIFESTS})
        if r.status != 200:
            raise RuntimeError(f"GET manifest {repo}:{ref}: HTTP {r.status}: {r.body[:200]!r}")
        digest = "sha256:" + hashlib.sha256(r.body).hexdigest()
        return digest, r.headers.get("Content-Type"), json.loads(r.body)

    def blob_path(self, digest):
        hexd = digest.split(":", 1)[1]
        return pathlib.Path(self.storage, "docker/registry/v2/blobs/sha256", hexd[:2], hexd, "data")

    def corrupt_blob(self, digest):
        """Overwrite a stored blob with different bytes of the same length."""
        path = self.blob_path(digest)
        size = path.stat().st_size
        data = bytearray(path.read_bytes())
        for i in range(0, size, max(1, size // 64)):
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))
        assert sha256_file(path) != digest and path.stat().st_size == size


def _registry_config(port, storage, auth_block):
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  formatter: text",
        "  accesslog:",
        "    disabled: false",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {storage}",
        "  delete:",
        "    enabled: true",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        "  secret: zlayer-test-secret",
    ]
    return "\n".join(lines + auth_block) + "\n"


def start_registry(workdir, auth=None, timeout=15):
    """Start docker-registry; returns a Registry once /v2/ answers."""
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    storage, log = workdir / "storage", workdir / "registry.log"
    storage.mkdir(exist_ok=True)
    token_server = None
    auth_block = []
    if auth == "basic":
        htpasswd = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True,
                                  capture_output=True, text=True).stdout
        (workdir / "htpasswd").write_text(htpasswd.strip() + "\n")
        auth_block = ["auth:", "  htpasswd:", "    realm: zlayer-test-basic",
                      f"    path: {workdir / 'htpasswd'}"]
    elif auth == "token":
        token_server = tokenserver.TokenServer(workdir / "token", {USER: PASSWORD})
        auth_block = ["auth:", "  token:", f"    realm: {token_server.realm}",
                      f"    service: {token_server.service}", f"    issuer: {token_server.issuer}",
                      f"    rootcertbundle: {token_server.cert}"]
    elif auth is not None:
        raise ValueError(f"unknown auth kind {auth!r}")

    for _attempt in range(5):
        port = free_port()
        cfg = workdir / "config.yml"
        cfg.write_text(_registry_config(port, storage, auth_block))
        with open(log, "ab") as logf:
            proc = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg)], stdout=logf, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        reg = Registry(workdir, auth, proc, port, storage, log, token_server)

        def ready():
            if proc.poll() is not None:
                return "exited"
            try:
                r = _http("GET", reg.url + "/v2/", timeout=2)
            except OSError:
                return None
            return "up" if r.status in (200, 401) else None

        try:
            state = wait_for(ready, timeout, f"docker-registry on port {port}")
        except BaseException:
            reg.stop()
            raise
        if state == "up":
            return reg
        # Lost the port race or failed to start: look at the log and retry.
        proc.wait()
    if token_server:
        token_server.close()
    raise RuntimeError(f"docker-registry did not start; see {log}:\n{log.read_text()[-2000:]}")


_ACCESS_RE = re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) HTTP/[\d.]+" (\d{3}) ')


def registry_requests(log, method, path_regex, status=None):
    """Count access-log lines for METHOD whose path fully matches path_regex
    (and whose status is in `status`, an int or a collection, if given)."""
    rx = re.compile(path_regex)
    if isinstance(status, int):
        status = {status}
    n = 0
    with open(log, errors="replace") as f:
        for line in f:
            m = _ACCESS_RE.match(line)
            if not m or m.group(1) != method:
                continue
            path = m.group(2).split("?", 1)[0]
            if rx.fullmatch(path) and (status is None or int(m.group(3)) in status):
                n += 1
    return n


class _RequestScanner:
    """Follows the client's HTTP/1.1 requests to learn each one's method
    (responses to HEAD have no body). Requests without bodies or with a
    Content-Length body are understood; that is all a pulling client sends."""

    def __init__(self, methods):
        self.methods, self.buf, self.skip = methods, b"", 0

    def feed(self, data):
        self.buf += data
        while True:
            if self.skip:
                n = min(self.skip, len(self.buf))
                self.buf, self.skip = self.buf[n:], self.skip - n
                if self.skip:
                    return
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end].decode("latin-1"), self.buf[end + 4:]
            self.methods.append(head.split(" ", 1)[0])
            m = re.search(r"(?im)^content-length:\s*(\d+)", head)
            self.skip = int(m.group(1)) if m else 0


class _ResponseFramer:
    """Splits the server's byte stream into responses; reports when a
    response's body is at least `threshold` bytes long."""

    def __init__(self, methods):
        self.methods, self.buf, self.body_left, self.passthrough = methods, b"", 0, False

    def feed(self, data, threshold):
        """Returns (bytes to forward, whether a long body starts next)."""
        if self.passthrough:
            return data, False
        out = b""
        self.buf += data
        while self.buf:
            if self.body_left:
                n = min(self.body_left, len(self.buf))
                out += self.buf[:n]
                self.buf, self.body_left = self.buf[n:], self.body_left - n
                continue
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = self.buf[:end + 4]
            self.buf = self.buf[end + 4:]
            text = head.decode("latin-1")
            method = self.methods.popleft() if self.methods else "GET"
            status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else 0
            m = re.search(r"(?im)^content-length:\s*(\d+)", text)
            if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
                length = 0
            elif m:
                length = int(m.group(1))
            else:  # chunked or until close: stop looking
                self.passthrough = True
                return out + head + self.buf, False
            out += head
            if length >= threshold:
                return out, True  # the body's first bytes stay in self.buf
            self.body_left = length
        return out, False


class TcpProxy:
    """Forward 127.0.0.1:port to target.

    - throttle_bytes_per_sec: downstream (server -> client) rate per connection;
    - cut_after_bytes: close a connection once it has carried that many
      downstream bytes;
    - truncate_bodies_over: close a connection right after the headers of a
      response whose body is at least that long (plus `body_bytes` of it), so
      a client resuming with Range never makes progress;
    - max_cuts: how many connections may be cut (None: all).
    Attributes may be changed while it runs; `bytes_down`, `cuts` and
    `connections` report what happened."""

    def __init__(self, target, throttle_bytes_per_sec=None, cut_after_bytes=None, max_cuts=None,
                 truncate_bodies_over=None, body_bytes=0):
        host, _, port = target.rpartition(":")
        self.target = (host or "127.0.0.1", int(port))
        self.throttle = throttle_bytes_per_sec
        self.cut_after_bytes = cut_after_bytes
        self.truncate_bodies_over = truncate_bodies_over
        self.body_bytes = body_bytes
        self.max_cuts = max_cuts
        self.bytes_down = 0
        self.cuts = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._socks = set()
        self._closed = False
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _track(self, s):
        with self._lock:
            self._socks.add(s)

    def _close(self, *socks):
        for s in socks:
            with self._lock:
                self._socks.discard(s)
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def _accept_loop(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                self._close(client)
                continue
            with self._lock:
                self.connections += 1
            self._track(client)
            self._track(upstream)
            methods = collections.deque()
            threading.Thread(target=self._pump_up, args=(client, upstream, methods), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client, methods), daemon=True).start()

    def _pump_up(self, client, upstream, methods):
        scanner = _RequestScanner(methods)
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                scanner.feed(data)  # before forwarding: the method is known before any reply
                upstream.sendall(data)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(client, upstream)

    def _may_cut(self):
        with self._lock:
            if self.max_cuts is not None and self.cuts >= self.max_cuts:
                return False
            self.cuts += 1
            return True

    def _send(self, client, data):
        client.sendall(data)
        with self._lock:
            self.bytes_down += len(data)

    def _pump_down(self, upstream, client, methods):
        sent = 0
        framer = _ResponseFramer(methods)
        try:
            while True:
                rate = self.throttle
                chunk = 65536 if not rate else max(1024, min(65536, int(rate) // 20))
                data = upstream.recv(chunk)
                if not data:
                    break
                start = time.monotonic()
                if self.truncate_bodies_over is not None and not framer.passthrough:
                    data, cut = framer.feed(data, self.truncate_bodies_over)
                    if cut and self._may_cut():
                        self._send(client, data + framer.buf[: self.body_bytes])
                        break
                    if cut:  # out of cuts: stop looking at this connection
                        framer.passthrough = True
                        data += framer.buf
                cut = self.cut_after_bytes
                if cut is not None and sent + len(data) > cut and self._may_cut():
                    self._send(client, data[: max(0, cut - sent)])
                    break
                self._send(client, data)
                sent += len(data)
                if rate:
                    delay = len(data) / rate - (time.monotonic() - start)
                    if delay > 0:
                        time.sleep(delay)
        except OSError:
            pass
        self._close(client, upstream)

    def close(self):
        self._closed = True
        self._close(self._listener)
        with self._lock:
            socks = list(self._socks)
        self._close(*socks)
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tcp_proxy(target, throttle_bytes_per_sec=None, cut_after_bytes=None, max_cuts=None,
              truncate_bodies_over=None, body_bytes=0):
    """Start a TcpProxy (use as a context manager or call close())."""
    return TcpProxy(target, throttle_bytes_per_sec, cut_after_bytes, max_cuts, truncate_bodies_over, body_bytes)


def tree_state(root, exclude=(), hash_files=True):
    """{relative path: (type, mode, uid, gid, size, extra)} for every entry
    under root (root itself as "."). extra: link target, device numbers,
    content hash. `exclude` holds fnmatch patterns on relative paths."""
    import fnmatch

    root = os.fspath(root)
    out = {}

    def visit(rel, st):
        mode = st.st_mode
        kind = stat.S_IFMT(mode)
        extra = None
        full = os.path.join(root, rel) if rel != "." else root
        if stat.S_ISLNK(mode):
            extra = os.readlink(full)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            extra = (os.major(st.st_rdev), os.minor(st.st_rdev))
        elif stat.S_ISREG(mode) and hash_files:
            extra = sha256_file(full)
        size = st.st_size if stat.S_ISREG(mode) or stat.S_ISLNK(mode) else None
        out[rel] = (kind, stat.S_IMODE(mode), st.st_uid, st.st_gid, size, extra)

    visit(".", os.lstat(root))
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if any(fnmatch.fnmatch(rel, p) for p in exclude):
                if name in dirnames:
                    dirnames.remove(name)
                continue
            visit(rel, os.lstat(full))
    return out


def diff_trees(a, b):
    """Human-readable differences between two tree_state() results."""
    lines = []
    for k in sorted(set(a) | set(b)):
        if k not in b:
            lines.append(f"- {k} {a[k]}")
        elif k not in a:
            lines.append(f"+ {k} {b[k]}")
        elif a[k] != b[k]:
            lines.append(f"~ {k} {a[k]} -> {b[k]}")
    return "\n".join(lines)
