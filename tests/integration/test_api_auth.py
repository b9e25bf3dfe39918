"""User stories for "a daemon you can trust": the optional TCP listener
that wants the bearer token on every request (made on first start, kept
0600, compared in constant time, checked before any body is read), the CLI
over TCP (ZLAYER_HOST, ZLAYER_TOKEN, --host, --token-file), and the unix
socket's group (members may use it, others get one clear line)."""
import contextlib
import grp
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid

import pytest

import deploykit
from conftest import RuntimeDaemon
from deploykit import show, wait_for

HEX64 = re.compile(r"[0-9a-f]{64}")
LISTENING = re.compile(r"API listening on tcp://127\.0\.0\.1:(\d+) ")
UID = uuid.uuid4().hex[:8]


class InfoDaemon(RuntimeDaemon):
    """Logs at info level, where rejected requests are."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.args += ["--log-level", "info"]


@pytest.fixture(scope="module")
def dd(agent_bin, zl_test_image, tmp_path_factory):
    """The module's daemon: the zl-test image, a TCP listener on a port the
    kernel picks (set through the config file's `listen` key)."""
    d = deploykit.start_daemon(InfoDaemon, agent_bin, zl_test_image, tmp_path_factory.mktemp("auth"),
                               {"listen": "127.0.0.1:0"})
    try:
        yield d
    finally:
        d.force_cleanup()


def tcp_port(d):
    """The port the daemon printed when it began listening."""
    m = wait_for("the TCP listener's address in the log", lambda: LISTENING.search(d.log_tail(400)), timeout=10)
    return int(m.group(1))


def token_of(d):
    with open(os.path.join(d.root, "api-token")) as f:
        return f.read().strip()


def log_with(d, text):
    """The daemon's recent log when it holds text, else None."""
    log = d.log_tail(400)
    return log if text in log else None


def api(port, method, path, token=None, body=None, auth=None, timeout=10):
    """-> (status, headers with lower-case names, raw body)"""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if auth is not None:
        headers["Authorization"] = auth
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw
    finally:
        conn.close()


def assert_401(status, headers, raw):
    assert status == 401, raw
    assert headers.get("www-authenticate") == 'Bearer realm="zlayer-agent"'
    err = json.loads(raw)
    assert err["kind"] == "unauthorized"
    assert err["message"]


def tcp_env(port, token=None, **extra):
    """The CLI's environment for TCP: the unix socket points nowhere, so
    nothing can succeed through it by accident."""
    env = {"ZLAYER_HOST": f"tcp://127.0.0.1:{port}", "ZLAYER_RUNTIME_DIR": "/nonexistent/zl-auth"}
    if token is not None:
        env["ZLAYER_TOKEN"] = token
    env.update(extra)
    return env


# ---- the listener and its token ----


def test_token_file_is_made_0600_with_64_hex_characters(dd):
    tcp_port(dd)
    path = os.path.join(dd.root, "api-token")
    st = os.stat(path)
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()
    with open(path) as f:
        text = f.read()
    assert HEX64.fullmatch(text.rstrip("\n")), text
    assert f"generated an API token in '{path}' (mode 0600)" in dd.log_tail(400)


def test_requests_without_the_token_are_401_and_logged_without_it(dd):
    port, token = tcp_port(dd), token_of(dd)
    assert_401(*api(port, "GET", "/v1/version"))
    assert_401(*api(port, "GET", "/v1/nowhere"))  # no route is revealed either
    assert_401(*api(port, "GET", "/v1/version", auth=f"Basic {token}"))
    assert_401(*api(port, "GET", "/v1/version", auth="Bearer"))
    # wrong tokens: the same length, shorter, longer, empty-ish
    flipped = ("1" if token[0] != "1" else "2") + token[1:]
    for wrong in (flipped, token[:-1], token + "0", token.upper() if token.upper() != token else "x", "x"):
        assert_401(*api(port, "GET", "/v1/version", token=wrong))
    log = wait_for("the rejections in the log", lambda: log_with(dd, "rejected GET /v1/version from 127.0.0.1:"))
    assert "wrong token" in log and "no Authorization header" in log
    assert token not in log and flipped not in log


def test_the_right_token_reaches_every_kind_of_route(dd):
    port, token = tcp_port(dd), token_of(dd)
    name = f"auth-{UID}-api"

    status, _, raw = api(port, "GET", "/v1/version", token=token)
    assert status == 200 and json.loads(raw)["api_version"] == 1
    status, _, raw = api(port, "GET", "/v1/containers?all=1", token=token)
    assert status == 200 and isinstance(json.loads(raw)["containers"], list)
    # a POST with a body
    status, _, raw = api(port, "POST", "/v1/containers", token=token,
                         body={"config": {"image": dd.image, "id": name, "args": ["sh", "-c", "echo one; echo two"]}})
    assert status == 201, raw
    try:
        status, _, raw = api(port, "POST", f"/v1/containers/start?id={name}", token=token)
        assert status in (200, 204), raw
        status, _, raw = api(port, "POST", f"/v1/containers/wait?id={name}", token=token, timeout=60)
        assert status == 200, raw
        # streams: the log, and the events history
        status, headers, raw = api(port, "GET", f"/v1/containers/logs?id={name}", token=token)
        assert status == 200 and headers.get("transfer-encoding") == "chunked", raw
        lines = [json.loads(line) for line in raw.decode().splitlines()]
        assert [ln["log"] for ln in lines] == ["one\n", "two\n"], lines
        status, headers, raw = api(port, "GET", "/v1/events?follow=0", token=token)
        assert status == 200 and headers.get("content-type") == "application/x-ndjson", raw
    finally:
        status, _, raw = api(port, "DELETE", f"/v1/containers?id={name}&force=1", token=token)
        assert status in (200, 204), raw


def test_an_unauthenticated_body_is_refused_before_it_is_read(dd):
    """Headers announcing 200 MB, then nothing: the 401 arrives although not
    one byte of the body was sent, and the daemon closes the connection
    rather than wait for the body."""
    port = tcp_port(dd)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /v1/containers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 200000000\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 "), data
    assert b'WWW-Authenticate: Bearer realm="zlayer-agent"' in head
    assert json.loads(body)["kind"] == "unauthorized"

    # a client that sends a little of its body first fares the same
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /v1/containers HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\r\n" + b"x" * 4096)
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 401 "), data


def test_the_unix_socket_needs_no_token(dd):
    r = dd.cli("ps", "-a")
    assert r.returncode == 0, show(r, dd)


# ---- the CLI over TCP ----


def test_cli_over_tcp_ps_run_logs_and_events(dd):
    port, token = tcp_port(dd), token_of(dd)
    env = tcp_env(port, token)
    name = f"auth-{UID}-cli"

    r = dd.cli("ps", "-a", env=env)
    assert r.returncode == 0, show(r, dd)
    r = dd.cli("run", "--rm", dd.image, "echo", "hello over tcp", env=env)
    assert r.returncode == 0, show(r, dd)
    assert r.stdout == "hello over tcp\n"
    r = dd.cli("run", "--rm", dd.image, "sh", "-c", "exit 3", env=env)
    assert r.returncode == 3, show(r, dd)

    r = dd.cli("run", "-d", "--name", name, dd.image, "sh", "-c", "echo first; sleep 1; echo second", env=env)
    assert r.returncode == 0, show(r, dd)
    try:
        r = dd.cli("logs", "-f", name, env=env, timeout=60)  # a stream that ends when the container does
        assert r.returncode == 0, show(r, dd)
        assert r.stdout == "first\nsecond\n"
        r = dd.cli("logs", name, env=env)
        assert r.stdout == "first\nsecond\n", show(r, dd)
        r = dd.cli("events", "--no-follow", env=env)
        assert r.returncode == 0, show(r, dd)
        r = dd.cli("ping", env=env)
        assert r.returncode == 0 and f"on tcp://127.0.0.1:{port}" in r.stdout, show(r, dd)
    finally:
        dd.cli("rm", "-f", name)


def test_cli_global_host_and_token_file_options(dd, tmp_path):
    port, token = tcp_port(dd), token_of(dd)
    tf = tmp_path / "token"
    tf.write_text(token + "\n")
    base = {"ZLAYER_RUNTIME_DIR": "/nonexistent/zl-auth"}

    r = dd.cli("--host", f"tcp://127.0.0.1:{port}", "--token-file", tf, "ps", env=base)
    assert r.returncode == 0, show(r, dd)
    r = dd.cli(f"--host=tcp://127.0.0.1:{port}", "ps", env=dict(base, ZLAYER_TOKEN_FILE=str(tf)))
    assert r.returncode == 0, show(r, dd)
    # --host wins over $ZLAYER_HOST; unix:// names the socket
    r = dd.cli("--host", f"unix://{dd.socket}", "ps", env=dict(base, ZLAYER_HOST="tcp://127.0.0.1:1"))
    assert r.returncode == 0, show(r, dd)
    r = dd.cli("ps", env=dict(base, ZLAYER_HOST="ftp://x"))
    assert r.returncode == 1
    assert "invalid daemon address 'ftp://x' ($ZLAYER_HOST): unknown scheme; use unix:///PATH or tcp://HOST:PORT" \
        in r.stderr


def test_cli_without_or_with_a_wrong_token_says_how_to_pass_it(dd):
    port = tcp_port(dd)
    r = dd.cli("ps", env=tcp_env(port))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: unauthorized: the daemon at tcp://127.0.0.1:{port} wants its API token: "
                               "set ZLAYER_TOKEN, or point --token-file or ZLAYER_TOKEN_FILE at"), lines[0]

    r = dd.cli("logs", "-f", "whatever", env=tcp_env(port, "0" * 64))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert "refused the API token from $ZLAYER_TOKEN: it is not the daemon's token" in lines[0]


# ---- the token across restarts, and files the daemon refuses ----


@contextlib.contextmanager
def plain_daemon(agent_bin, root, rundir, *args):
    """A daemon without images: returns the Popen; stopped on the way out."""
    env = dict(os.environ)
    env.pop("ZLAYER_LOG_FORMAT", None)
    proc = subprocess.Popen([agent_bin, "daemon", "--root", str(root), "--runtime-dir", str(rundir), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            env=env, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def read_until(proc, pattern, timeout=20):
    """Lines of proc's output until one matches pattern (a regex) -> the match."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"daemon exited with {proc.wait()} before printing {pattern!r}:\n{''.join(seen)}")
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    pytest.fail(f"no {pattern!r} after {timeout}s:\n{''.join(seen)}")


def refused_start(agent_bin, root, rundir, *args):
    env = dict(os.environ)
    env.pop("ZLAYER_LOG_FORMAT", None)
    return subprocess.run([agent_bin, "daemon", "--root", str(root), "--runtime-dir", str(rundir), *args],
                          capture_output=True, text=True, env=env, timeout=30)


@pytest.fixture
def dirs(tmp_path):
    rundir = tempfile.mkdtemp(prefix="zl-au-", dir="/tmp")  # short: sun_path is 108 bytes
    yield tmp_path / "root", rundir
    shutil.rmtree(rundir, ignore_errors=True)


def test_token_is_kept_across_restarts_and_bad_files_are_refused(agent_bin, dirs):
    root, rundir = dirs
    with plain_daemon(agent_bin, root, rundir, "--listen", "127.0.0.1:0") as proc:
        port = int(read_until(proc, LISTENING.pattern).group(1))
        token = (root / "api-token").read_text().strip()
        assert api(port, "GET", "/v1/ping", token=token)[0] == 200
    with plain_daemon(agent_bin, root, rundir, "--listen", "127.0.0.1:0") as proc:
        port = int(read_until(proc, LISTENING.pattern).group(1))
        assert (root / "api-token").read_text().strip() == token
        assert api(port, "GET", "/v1/ping", token=token)[0] == 200

    path = root / "api-token"
    for mode in (0o644, 0o640, 0o660, 0o604):
        os.chmod(path, mode)
        r = refused_start(agent_bin, root, rundir, "--listen", "127.0.0.1:0")
        assert r.returncode == 1, r
        assert f"API token file '{path}' has mode {mode:04o}, looser than 0600" in r.stderr, r.stderr
        assert stat.S_IMODE(os.stat(path).st_mode) == mode  # refused, not repaired
    os.chmod(path, 0o600)
    path.write_text("not a token\n")
    os.chmod(path, 0o600)
    r = refused_start(agent_bin, root, rundir, "--listen", "127.0.0.1:0")
    assert r.returncode == 1
    assert f"API token file '{path}' is malformed: it must hold 64 hexadecimal characters" in r.stderr, r.stderr
    # without a TCP listener the token file is not looked at
    with plain_daemon(agent_bin, root, rundir) as proc:
        read_until(proc, r"daemon ready on ")


def test_token_file_option_and_listen_errors(agent_bin, dirs, tmp_path):
    root, rundir = dirs
    tf = tmp_path / "elsewhere" / "tok"
    tf.parent.mkdir()
    with plain_daemon(agent_bin, root, rundir, "--listen", "127.0.0.1:0", "--token-file", tf) as proc:
        port = int(read_until(proc, LISTENING.pattern).group(1))
        assert stat.S_IMODE(os.stat(tf).st_mode) == 0o600
        assert not (root / "api-token").exists()
        assert api(port, "GET", "/v1/ping", token=tf.read_text().strip())[0] == 200

    for bad in ("localhost:2376", "127.0.0.1", "::1:2376", "127.0.0.1:70000"):
        r = refused_start(agent_bin, root, rundir, "--listen", bad)
        assert r.returncode == 1, r
        assert f"invalid listen address '{bad}'" in r.stderr, r.stderr
    cfg = tmp_path / "daemon.json"
    cfg.write_text(json.dumps({"listen": 2376}))
    r = refused_start(agent_bin, root, rundir, "--config", cfg)
    assert r.returncode == 1 and "key 'listen' must be a non-empty string" in r.stderr, r.stderr


def test_a_listener_off_loopback_is_warned_about(agent_bin, dirs):
    root, rundir = dirs
    with plain_daemon(agent_bin, root, rundir, "--listen", "[::]:0") as proc:
        m = read_until(proc, r"the API listens on \[::\]:(\d+), not a loopback address, over plain HTTP")
        port = int(m.group(1))
        token = (root / "api-token").read_text().strip()
        assert api(port, "GET", "/v1/ping")[0] == 401
        assert api(port, "GET", "/v1/ping", token=token)[0] == 200


# ---- the unix socket's group ----


def _run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


@pytest.fixture
def socket_users():
    """A new group and two new system users, one in it: (group, member,
    outsider). Removed afterwards, also when the test fails."""
    group, member, outsider = f"zlg{UID}", f"zlm{UID}", f"zlo{UID}"
    made = []
    try:
        r = _run("groupadd", "-r", group)
        assert r.returncode == 0, r.stderr
        made.append(("groupdel", group))
        for user, extra in ((member, ["-G", group]), (outsider, [])):
            r = _run("useradd", "-r", "-M", "-s", "/usr/sbin/nologin", *extra, user)
            assert r.returncode == 0, r.stderr
            made.append(("userdel", user))
        yield group, member, outsider
    finally:
        for cmd, name in reversed(made):
            _run(cmd, name)


def as_user(agent_bin, user, rundir, *args):
    pw = pwd.getpwnam(user)
    env = {"PATH": "/usr/bin:/bin", "ZLAYER_RUNTIME_DIR": str(rundir)}
    return subprocess.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", agent_bin,
                           *args], capture_output=True, text=True, env=env, timeout=30)


def test_socket_group_members_may_use_the_socket_others_get_a_clear_error(agent_bin, dirs, socket_users):
    group, member, outsider = socket_users
    root, rundir = dirs
    os.chmod(rundir, 0o755)  # mkdtemp makes it 0700
    sock = os.path.join(rundir, "agent.sock")
    with plain_daemon(agent_bin, root, rundir, "--socket-group", group) as proc:
        read_until(proc, r"daemon ready on ")
        st = os.stat(sock)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert st.st_gid == grp.getgrnam(group).gr_gid

        r = as_user(agent_bin, member, rundir, "ps")
        assert r.returncode == 0, r.stderr
        r = as_user(agent_bin, outsider, rundir, "ps")
        assert r.returncode == 1, r
        assert r.stderr.splitlines() == [
            f"error: permission denied on {sock}: your user is not in group '{group}' (the daemon's socket group); "
            f"ask for 'usermod -aG {group} USER' and log in again, or run as root"], r.stderr
