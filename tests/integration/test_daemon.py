"""User stories for `zlayer-agent daemon`: the socket, the store, the lock,
graceful stop, configuration, and what the CLI says without a daemon."""
import contextlib
import grp
import http.client
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

NO_DAEMON = ("cannot reach the zlayer-agent daemon at {} (No such file or directory); "
             "start it with 'zlayer-agent daemon'")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def api(sock, method, path, body=None):
    """-> (status, headers dict, parsed JSON body)"""
    conn = UnixHTTPConnection(sock)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, dict(resp.getheaders()), json.loads(raw) if raw else None
    finally:
        conn.close()


@pytest.fixture
def short_tmp():
    """A short directory under /tmp (socket paths must fit in 108 bytes)."""
    d = tempfile.mkdtemp(prefix="zl-d-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def wait_socket(path, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(path)
                return True
            except OSError:
                pass
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def daemon_proc(agent_bin, args, env=None):
    """A daemon started with exactly these args; killed on the way out."""
    full_env = dict(os.environ)
    full_env.pop("ZLAYER_LOG_FORMAT", None)
    full_env.pop("ZLAYER_ROOT_DIR", None)
    full_env.pop("ZLAYER_RUNTIME_DIR", None)
    full_env.update(env or {})
    proc = subprocess.Popen([agent_bin, "daemon", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=full_env,
                            start_new_session=True)
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
        proc.communicate()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_daemon_starts_with_socket_and_database(agent_daemon):
    d = agent_daemon()
    st = os.stat(d.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert mode(d.rundir) == 0o755
    assert mode(d.root) == 0o700
    assert (d.root / "metadata.db").is_file()
    assert mode(d.root / "metadata.db") == 0o600
    assert f"zlayer-agent daemon ready on {d.socket}" in d.log_tail()

    r = d.cli("ping")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok: zlayer-agent daemon ")


def test_version_over_the_socket_with_curl(agent_daemon):
    d = agent_daemon()
    r = subprocess.run(["curl", "-sS", "--unix-socket", d.socket, "http://localhost/v1/version"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)
    assert v["api_version"] == 1
    assert re.match(r"^\d+\.\d+", v["version"])


def test_api_errors_are_json_with_a_kind(agent_daemon):
    d = agent_daemon()
    status, headers, body = api(d.socket, "GET", "/v1/nothing-here")
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert body == {"kind": "not_found", "message": "no API endpoint '/v1/nothing-here'"}

    status, headers, body = api(d.socket, "DELETE", "/v1/version")
    assert status == 405
    assert headers["Allow"] == "GET"
    assert set(body) == {"kind", "message"}

    # curl's view of the same
    r = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "--unix-socket", d.socket, "http://localhost/nope"],
                       capture_output=True, text=True, timeout=10)
    text, code = r.stdout.rsplit("\n", 1)
    assert code == "404"
    assert json.loads(text)["kind"] == "not_found"


def test_second_daemon_on_the_same_runtime_dir_fails_clearly(agent_daemon, agent, tmp_path):
    d = agent_daemon()
    r = agent("daemon", "--root", tmp_path / "other-root", "--runtime-dir", d.rundir, timeout=20)
    assert r.returncode == 1
    assert (f"another zlayer-agent daemon (pid {d.proc.pid}) is already running with runtime directory "
            f"'{d.rundir}'") in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # the first one is untouched
    assert os.path.exists(d.socket)
    assert d.cli("ping").returncode == 0


def test_second_daemon_on_the_same_root_fails_clearly(agent_daemon, agent, short_tmp):
    d = agent_daemon()
    r = agent("daemon", "--root", d.root, "--runtime-dir", os.path.join(short_tmp, "run"), timeout=20)
    assert r.returncode == 1
    assert (f"another zlayer-agent daemon (pid {d.proc.pid}) is already running with root directory "
            f"'{d.root}'") in r.stderr
    assert not os.path.exists(os.path.join(short_tmp, "run", "agent.sock"))
    assert d.cli("ping").returncode == 0


def test_sigterm_stops_gracefully_and_removes_the_socket(agent_daemon):
    d = agent_daemon()
    assert d.stop() == 0
    assert not os.path.exists(d.socket)
    assert "received SIGTERM, stopping" in d.log_tail()
    # and the data stays for the next start
    assert (d.root / "metadata.db").is_file()
    d.start()
    assert d.cli("ping").returncode == 0


def test_sigint_stops_too(agent_daemon):
    d = agent_daemon()
    d.expected_exit = True
    d.proc.send_signal(signal.SIGINT)
    assert d.proc.wait(timeout=15) == 0
    assert not os.path.exists(d.socket)


def test_restart_after_kill_replaces_the_stale_socket(agent_daemon):
    d = agent_daemon()
    d.kill9()
    assert os.path.exists(d.socket)  # nobody removed it
    r = d.cli("ping")
    assert r.returncode == 1
    assert "(Connection refused)" in r.stderr
    d.start()
    assert d.cli("ping").returncode == 0


def test_cli_without_a_daemon_says_so_in_one_line(agent, short_tmp):
    sock = os.path.join(short_tmp, "agent.sock")
    r = agent("ping", env={"ZLAYER_RUNTIME_DIR": short_tmp})
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == "error: " + NO_DAEMON.format(sock) + "\n"

    # an image command goes through the same client
    r = agent("images", env={"ZLAYER_RUNTIME_DIR": short_tmp})
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(NO_DAEMON.format(sock))


def test_cli_default_socket_path(agent):
    if os.path.exists("/run/zlayer/agent.sock"):
        pytest.skip("a daemon is running on the default socket")
    r = agent("ping", env={"ZLAYER_RUNTIME_DIR": ""})  # empty counts as unset
    assert r.returncode == 1
    assert r.stderr.strip() == "error: " + NO_DAEMON.format("/run/zlayer/agent.sock")


def test_malformed_config_file_names_the_key(agent, short_tmp):
    cfg = os.path.join(short_tmp, "daemon.json")
    cases = [
        ({"root": "/tmp/x", "roots": "/tmp/y"}, "unknown key 'roots'"),
        ({"max_concurrent_downloads": "4"}, "key 'max_concurrent_downloads' must be an integer from 1 to 64"),
        ({"insecure_registries": "localhost:5000"}, "key 'insecure_registries' must be an array"),
        ({"root": "relative/dir"}, "key 'root' must be an absolute path"),
        ({"socket_group": "no-such-group-zl"}, "key 'socket_group': socket group 'no-such-group-zl' does not exist"),
    ]
    for content, message in cases:
        with open(cfg, "w") as f:
            json.dump(content, f)
        r = agent("daemon", "--config", cfg, "--root", os.path.join(short_tmp, "root"), "--runtime-dir",
                  os.path.join(short_tmp, "run"), timeout=20)
        assert r.returncode == 1, (content, r.stderr)
        assert f"config file '{cfg}': {message}" in r.stderr, r.stderr
        assert not os.path.exists(os.path.join(short_tmp, "run", "agent.sock"))

    with open(cfg, "w") as f:
        f.write('{\n  "root": "/tmp/x",\n  oops\n}\n')
    r = agent("daemon", "--config", cfg, timeout=20)
    assert r.returncode == 1
    assert f"config file '{cfg}': line 3, column" in r.stderr

    r = agent("daemon", "--config", os.path.join(short_tmp, "missing.json"), timeout=20)
    assert r.returncode == 1
    assert "cannot read config file" in r.stderr and "No such file or directory" in r.stderr


def test_config_file_is_used_and_flags_override_it(agent_bin, short_tmp):
    cfg = os.path.join(short_tmp, "daemon.json")
    file_root = os.path.join(short_tmp, "file-root")
    flag_root = os.path.join(short_tmp, "flag-root")
    rundir = os.path.join(short_tmp, "run")
    with open(cfg, "w") as f:
        json.dump({"root": file_root, "runtime_dir": rundir, "max_concurrent_downloads": 4,
                   "insecure_registries": ["127.0.0.1:5000"], "socket_group": "root"}, f)

    with daemon_proc(agent_bin, ["--config", cfg]) as proc:
        assert wait_socket(os.path.join(rundir, "agent.sock"), proc), proc.communicate()
        assert os.path.isfile(os.path.join(file_root, "metadata.db"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0

    with daemon_proc(agent_bin, ["--config", cfg, "--root", flag_root]) as proc:
        assert wait_socket(os.path.join(rundir, "agent.sock"), proc), proc.communicate()
        assert os.path.isfile(os.path.join(flag_root, "metadata.db"))


def test_environment_gives_the_defaults(agent_bin, agent, short_tmp):
    root, rundir = os.path.join(short_tmp, "env-root"), os.path.join(short_tmp, "env-run")
    env = {"ZLAYER_ROOT_DIR": root, "ZLAYER_RUNTIME_DIR": rundir}
    with daemon_proc(agent_bin, [], env=env) as proc:
        assert wait_socket(os.path.join(rundir, "agent.sock"), proc), proc.communicate()
        assert os.path.isfile(os.path.join(root, "metadata.db"))
        r = agent("ping", env={"ZLAYER_RUNTIME_DIR": rundir})
        assert r.returncode == 0, r.stderr


def test_socket_group(agent_bin, short_tmp):
    group = next((g for g in ("daemon", "nogroup", "adm") if _has_group(g)), None)
    if group is None:
        pytest.skip("no spare group on this machine")
    rundir = os.path.join(short_tmp, "run")
    sock = os.path.join(rundir, "agent.sock")
    with daemon_proc(agent_bin, ["--root", os.path.join(short_tmp, "root"), "--runtime-dir", rundir,
                                 "--socket-group", group]) as proc:
        assert wait_socket(sock, proc), proc.communicate()
        st = os.stat(sock)
        assert st.st_gid == grp.getgrnam(group).gr_gid
        assert stat.S_IMODE(st.st_mode) == 0o660


def test_usage_errors(agent):
    r = agent("daemon", "--max-concurrent-downloads", "0")
    assert r.returncode == 2
    assert "--max-concurrent-downloads wants a number from 1 to 64, not '0'" in r.stderr
    r = agent("daemon", "--log-level", "loud")
    assert r.returncode == 2
    assert "unknown log level 'loud'" in r.stderr
    r = agent("daemon", "extra")
    assert r.returncode == 2
    r = agent("daemon", "--help")
    assert r.returncode == 0
    assert "--runtime-dir DIR" in r.stdout


def _has_group(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False
