"""`GET /metrics`: the daemon in the Prometheus text format 0.0.4, checked
by a strict parser (every line a HELP/TYPE comment or `name{labels} value`,
every family with HELP and TYPE before its samples, histogram buckets
cumulative up to +Inf = _count), and values that move with what happens:
containers by state, replica restarts, health transitions, job outcomes,
image pulls and their bytes, API requests and their latency. One agent
daemon for the module (crash-loop settings shrunk), the zl-test image
loaded; every story takes its deployment down."""
import http.client
import json
import math
import re
import socket
import time

from deploykit import show, spec, wait_for

HELPER = "zl-testhelper"
DAEMON_CONFIG = {"crashloop_window": "60s", "crashloop_restarts": 2, "crashloop_delay": "2s"}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

FAMILIES = {
    "zlayer_containers": ("gauge", {"state"}),
    "zlayer_deployments": ("gauge", set()),
    "zlayer_container_restarts_total": ("counter", {"deployment", "service"}),
    "zlayer_health_transitions_total": ("counter", {"deployment", "service", "to"}),
    "zlayer_job_executions_total": ("counter", {"deployment", "job", "outcome"}),
    "zlayer_events_total": ("counter", {"type"}),
    "zlayer_image_pulls_total": ("counter", {"result"}),
    "zlayer_image_pull_bytes_total": ("counter", set()),
    "zlayer_api_requests_total": ("counter", {"method", "route", "code"}),
    "zlayer_api_request_duration_seconds": ("histogram", {"method", "route", "code_class"}),
    "zlayer_build_info": ("gauge", {"version"}),
    "zlayer_metrics_series_dropped_total": ("counter", {"family"}),
    "process_cpu_seconds_total": ("counter", set()),
    "process_resident_memory_bytes": ("gauge", set()),
    "process_virtual_memory_bytes": ("gauge", set()),
    "process_open_fds": ("gauge", set()),
    "process_max_fds": ("gauge", set()),
    "process_start_time_seconds": ("gauge", set()),
}


# --- talking to the daemon ---------------------------------------------------------------------

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def request(d, method, path):
    conn = UnixHTTPConnection(d.socket)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        conn.close()


# --- a strict parser of the text format ---------------------------------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")


def parse_labels(text):
    """`a="x",b="y\\"z"` -> {"a": "x", "b": 'y"z'}; escapes \\\\, \\" and \\n only."""
    labels, i = {}, 0
    while i < len(text):
        m = re.compile(LABEL).match(text, i)
        assert m, f"bad label name at {i} in {text!r}"
        name, i = m.group(0), m.end()
        assert text[i:i + 2] == '="', f"expected =\" at {i} in {text!r}"
        i += 2
        value = []
        while True:
            assert i < len(text), f"unterminated value in {text!r}"
            c = text[i]
            if c == "\\":
                esc = text[i + 1]
                assert esc in '\\"n', f"bad escape \\{esc} in {text!r}"
                value.append("\n" if esc == "n" else esc)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                assert c != "\n"
                value.append(c)
                i += 1
        assert name not in labels, f"label {name} twice in {text!r}"
        labels[name] = "".join(value)
        if i < len(text):
            assert text[i] == ",", f"expected , at {i} in {text!r}"
            i += 1
    return labels


def parse_value(s):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("+", ""))
    assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", s), f"bad value {s!r}"
    return float(s)


class Scrape:
    """families: name -> {"type", "help", "samples": [(name, labels, value)]}."""

    def __init__(self, text):
        assert text.endswith("\n"), "the exposition ends with a newline"
        self.families = {}
        current = None
        seen_series = set()
        for n, line in enumerate(text[:-1].split("\n"), 1):
            where = f"line {n}: {line!r}"
            if line.startswith("#"):
                m = re.fullmatch(rf"# (HELP|TYPE) ({NAME}) (.*)", line)
                assert m, where
                kind, name, rest = m.groups()
                fam = self.families.setdefault(name, {"samples": []})
                if kind == "HELP":
                    assert "help" not in fam and "type" not in fam, f"HELP must come first, once: {where}"
                    fam["help"] = rest
                else:
                    assert "help" in fam and "type" not in fam, f"TYPE after HELP, once: {where}"
                    assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), where
                    fam["type"] = rest
                    current = name
                continue
            m = SAMPLE.match(line)
            assert m, where
            name, labels, value = m.group(1), parse_labels(m.group(2) or ""), parse_value(m.group(3))
            assert current is not None, f"sample before any TYPE: {where}"
            fam = self.families[current]
            base = current
            if fam["type"] == "histogram":
                assert name in (f"{base}_bucket", f"{base}_sum", f"{base}_count"), f"not of {base}: {where}"
                assert ("le" in labels) == name.endswith("_bucket"), where
            else:
                assert name == base, f"sample of another family than {base}: {where}"
            key = (name, tuple(sorted(labels.items())))
            assert key not in seen_series, f"duplicate series: {where}"
            seen_series.add(key)
            fam["samples"].append((name, labels, value))
        for name, fam in self.families.items():
            assert "help" in fam and "type" in fam, f"family {name} lacks HELP or TYPE"
            if fam["type"] == "histogram":
                self._check_histogram(name, fam)

    @staticmethod
    def _check_histogram(name, fam):
        series = {}
        for sname, labels, value in fam["samples"]:
            rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            s = series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
            if sname.endswith("_bucket"):
                s["buckets"].append((parse_value(labels["le"]), value))
            elif sname.endswith("_sum"):
                s["sum"] = value
            else:
                s["count"] = value
        for rest, s in series.items():
            b = s["buckets"]
            assert b and s["sum"] is not None and s["count"] is not None, (name, rest, s)
            les = [le for le, _ in b]
            assert les == sorted(les) and len(set(les)) == len(les), (name, rest, les)
            assert math.isinf(les[-1]) and les[-1] > 0, f"{name}{rest}: last bucket is not +Inf"
            counts = [c for _, c in b]
            assert counts == sorted(counts), f"{name}{rest}: buckets not cumulative: {b}"
            assert counts[-1] == s["count"], f"{name}{rest}: +Inf bucket {counts[-1]} != _count {s['count']}"

    def value(self, name, default=None, **labels):
        for fam in self.families.values():
            for sname, slabels, v in fam["samples"]:
                if sname == name and slabels == labels:
                    return v
        return default

    def series(self, name):
        return [(labels, v) for fam in self.families.values() for sname, labels, v in fam["samples"]
                if sname == name]


def scrape(d, path="/metrics"):
    status, ctype, body = request(d, "GET", path)
    assert status == 200, (status, body)
    assert ctype == CONTENT_TYPE
    return Scrape(body)


# --- deployments ---------------------------------------------------------------------------------

def deploy(d, down, name, services):
    down.append(name)
    r = d.cli("deploy", str(spec(d, name, services)), timeout=120)
    assert r.returncode == 0, show(r, d)


def event_types(d, name):
    r = d.cli("events", "--json", "--no-follow", name)
    assert r.returncode == 0, show(r, d)
    return [json.loads(line)["type"] for line in r.stdout.splitlines() if line.strip()]


# --- stories -------------------------------------------------------------------------------------

def test_every_family_is_there_in_a_strict_format(dd):
    s = scrape(dd)
    for name, (typ, labels) in FAMILIES.items():
        assert name in s.families, f"no family {name}"
        fam = s.families[name]
        assert fam["type"] == typ and fam["help"], (name, fam)
        for sname, slabels, _ in fam["samples"]:
            assert set(slabels) - {"le"} == labels, (sname, slabels)
    # the same body on the versioned path, with the same content type
    s2 = scrape(dd, "/v1/metrics")
    assert set(s2.families) == set(s.families)
    # and from the CLI, as it came
    r = dd.cli("metrics")
    assert r.returncode == 0 and r.stderr == "", show(r, dd)
    assert set(Scrape(r.stdout).families) == set(s.families)
    assert dd.cli("metrics", "extra").returncode == 2

    assert s.value("zlayer_build_info", version=s.series("zlayer_build_info")[0][0]["version"]) == 1
    assert {labels["state"] for labels, _ in s.series("zlayer_containers")} == {
        "pending", "created", "running", "stopping", "exited", "failed"}
    assert s.value("process_resident_memory_bytes") > 1 << 20
    assert s.value("process_virtual_memory_bytes") >= s.value("process_resident_memory_bytes")
    assert s.value("process_cpu_seconds_total") > 0
    assert 3 < s.value("process_open_fds") < s.value("process_max_fds")
    assert time.time() - 3600 < s.value("process_start_time_seconds") <= time.time() + 1
    assert all(v == 0 for _, v in s.series("zlayer_metrics_series_dropped_total"))
    # the zl-test image was loaded, not pulled
    assert s.value("zlayer_image_pulls_total", result="success") is None


def test_a_running_container_counts_as_running(dd):
    before = scrape(dd).value("zlayer_containers", state="running")
    r = dd.cli("run", "-d", "--name", "mtr-c1", dd.image, "sleep", "300")
    assert r.returncode == 0, show(r, dd)
    try:
        s = scrape(dd)
        assert s.value("zlayer_containers", state="running") == before + 1
        r = dd.cli("rm", "-f", "mtr-c1")
        assert r.returncode == 0, show(r, dd)
        assert scrape(dd).value("zlayer_containers", state="running") == before
    finally:
        dd.cli("rm", "-f", "mtr-c1")


def test_a_killed_replica_restarts_once_and_is_counted_once(dd, down):
    deploy(dd, down, "mtr-restart", f"""
    mtr-app:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["{HELPER}", "signals"] }}
      stop_grace_period: 1s
    """)
    key = dict(deployment="mtr-restart", service="mtr-app")
    s = scrape(dd)
    assert s.value("zlayer_container_restarts_total", 0, **key) == 0
    assert s.value("zlayer_deployments") >= 1
    restarted_before = s.value("zlayer_events_total", 0, type="ContainerRestarted")

    r = dd.cli("kill", "-s", "KILL", "mtr-app-rep-1")
    assert r.returncode == 0, show(r, dd)
    wait_for("restart", lambda: "ContainerRestarted" in event_types(dd, "mtr-restart"), timeout=20)
    time.sleep(1)
    s = scrape(dd)
    assert s.value("zlayer_container_restarts_total", **key) == 1
    assert s.value("zlayer_events_total", type="ContainerRestarted") == restarted_before + 1


def test_health_transitions_are_counted_by_direction(dd, down):
    # healthy, then its check fails for 3 s, then healthy again
    deploy(dd, down, "mtr-health", f"""
    mtr-hc:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["sh", "-c", "touch /tmp/ok; sleep 3; rm /tmp/ok; sleep 3; touch /tmp/ok; exec {HELPER} signals"] }}
      health:
        check: {{ type: command, command: "test -e /tmp/ok" }}
        interval: 300ms
        retries: 1
        start_grace: 0s
      stop_grace_period: 1s
    """)
    key = dict(deployment="mtr-health", service="mtr-hc")
    wait_for("healthy", lambda: "HealthHealthy" in event_types(dd, "mtr-health"), interval=0.05)
    s = scrape(dd)
    assert s.value("zlayer_health_transitions_total", to="healthy", **key) == 1
    assert s.value("zlayer_health_transitions_total", 0, to="unhealthy", **key) == 0

    def transitions():
        t = event_types(dd, "mtr-health")
        return t.count("HealthHealthy") == 2 and t.count("HealthUnhealthy") == 1
    wait_for("unhealthy and healthy again", transitions, timeout=30, interval=0.3)
    s = scrape(dd)
    assert s.value("zlayer_health_transitions_total", to="healthy", **key) == 2
    assert s.value("zlayer_health_transitions_total", to="unhealthy", **key) == 1


def test_job_outcomes(dd, down):
    deploy(dd, down, "mtr-jobs", """
    mtr-ok:
      rtype: job
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "exit 0"] }
    mtr-bad:
      rtype: job
      image: { name: "IMAGE" }
      command: { entrypoint: ["sh", "-c", "exit 4"] }
    """)
    assert dd.cli("job", "run", "--wait", "mtr-ok").returncode == 0
    assert dd.cli("job", "run", "--wait", "mtr-ok").returncode == 0
    assert dd.cli("job", "run", "--wait", "mtr-bad").returncode == 4
    s = scrape(dd)
    assert s.value("zlayer_job_executions_total", deployment="mtr-jobs", job="mtr-ok", outcome="completed") == 2
    assert s.value("zlayer_job_executions_total", deployment="mtr-jobs", job="mtr-bad", outcome="failed") == 1
    assert s.value("zlayer_job_executions_total", deployment="mtr-jobs", job="mtr-ok", outcome="failed") is None


def test_pulls_and_their_bytes(dd, registry):
    reg = registry()
    s0 = scrape(dd)
    ok0 = s0.value("zlayer_image_pulls_total", 0, result="success")
    bad0 = s0.value("zlayer_image_pulls_total", 0, result="failure")
    bytes0 = s0.value("zlayer_image_pull_bytes_total")

    r = dd.cli("pull", "--quiet", reg.ref("busybox", "multi"))
    assert r.returncode == 0, show(r, dd)
    _, _, manifest = reg.get_manifest("busybox", "multi")
    s1 = scrape(dd)
    assert s1.value("zlayer_image_pulls_total", result="success") == ok0 + 1
    # a first pull downloads every layer, whole
    assert s1.value("zlayer_image_pull_bytes_total") - bytes0 == sum(x["size"] for x in manifest["layers"])

    r = dd.cli("pull", "--quiet", reg.ref("busybox", "no-such-tag"))
    assert r.returncode != 0, show(r, dd)
    s2 = scrape(dd)
    assert s2.value("zlayer_image_pulls_total", result="failure") == bad0 + 1
    assert s2.value("zlayer_image_pulls_total", result="success") == ok0 + 1
    assert s2.value("zlayer_image_pull_bytes_total") == s1.value("zlayer_image_pull_bytes_total")

    # again: nothing to download, still a successful pull
    assert dd.cli("pull", "--quiet", reg.ref("busybox", "multi")).returncode == 0
    s3 = scrape(dd)
    assert s3.value("zlayer_image_pulls_total", result="success") == ok0 + 2
    assert s3.value("zlayer_image_pull_bytes_total") == s1.value("zlayer_image_pull_bytes_total")


def test_api_requests_and_latency_are_counted_by_route(dd):
    ping = dict(method="GET", route="/v1/ping")
    s0 = scrape(dd)
    n0 = s0.value("zlayer_api_requests_total", 0, code="200", **ping)
    h0 = s0.value("zlayer_api_request_duration_seconds_count", 0, code_class="2xx", **ping)
    other0 = s0.value("zlayer_api_requests_total", 0, method="GET", route="other", code="404")
    odd0 = s0.value("zlayer_api_requests_total", 0, method="other", route="/v1/ping", code="405")
    for _ in range(7):
        assert request(dd, "GET", "/v1/ping")[0] == 200
    # unknown paths share one label value; so do unusual methods
    for path in ("/nope", "/v1/nope/1", "/v1/nope/2?x=1"):
        assert request(dd, "GET", path)[0] == 404
    assert request(dd, "BREW", "/v1/ping")[0] == 405
    s = scrape(dd)
    assert s.value("zlayer_api_requests_total", code="200", **ping) == n0 + 7
    assert s.value("zlayer_api_request_duration_seconds_count", code_class="2xx", **ping) == h0 + 7
    assert s.value("zlayer_api_requests_total", method="GET", route="other", code="404") == other0 + 3
    assert s.value("zlayer_api_requests_total", method="other", route="/v1/ping", code="405") == odd0 + 1
    routes = {labels["route"] for labels, _ in s.series("zlayer_api_requests_total")}
    assert not any("nope" in r for r in routes), routes
    # a ping answers well within a second
    assert s.value("zlayer_api_request_duration_seconds_bucket", code_class="2xx", le="1", **ping) == h0 + 7
    # the scrapes themselves count, on both paths
    assert s.value("zlayer_api_requests_total", method="GET", route="/metrics", code="200") >= 2
