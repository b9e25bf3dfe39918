"""The demo's story (examples/demo.yaml, what `make demo` runs): deployed
against a test daemon with the zl-test image loaded under the name the demo
spec uses (zl-demo:latest; scripts/demo builds the same image offline),
the backend becomes healthy before any web replica starts, web ends 3/3
healthy, the init step ran for each web replica, the report job runs on
request, the cron is listed with its next run within a minute; `down`
removes it all. `up --for` deploys, follows and takes it down by itself,
as does `up` on SIGINT."""
import json
import signal
import time

import pytest

import conftest
from deploykit import show, wait_for

DEMO = conftest.ROOT / "examples" / "demo.yaml"
DEMO_IMAGE = "zl-demo:latest"  # examples/demo.yaml's image; scripts/demo tags it so too
IMAGE_TAG = DEMO_IMAGE
DEMO_CONTAINERS = {"backend-rep-1", "web-rep-1", "web-rep-2", "web-rep-3"}


@pytest.fixture
def down(dd):
    yield
    dd.cli("down", "demo", timeout=120)


def status(d):
    r = d.cli("status", "--json", "demo")
    assert r.returncode == 0, show(r, d)
    return json.loads(r.stdout)


def events(d):
    r = d.cli("events", "--json", "--no-follow", "demo")
    assert r.returncode == 0, show(r, d)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def container_ids(d):
    r = d.cli("ps", "-a", "--json")
    assert r.returncode == 0, show(r, d)
    return {c["id"] for c in json.loads(r.stdout)}


def web_healthy(d):
    web = status(d)["services"]["web"]
    reps = web["replicas"]
    return web["ready"] == 3 and len(reps) == 3 and all(
        r["state"] == "running" and r["health"]["status"] == "healthy" for r in reps) and web


def test_demo_spec_deploys_runs_its_job_and_lists_its_cron(dd, down):
    r = dd.cli("deploy", DEMO, timeout=120)
    assert r.returncode == 0, show(r, dd)

    # web: 3/3 healthy, every one started after the backend was healthy
    wait_for("web 3/3 healthy", lambda: web_healthy(dd))
    st = status(dd)["services"]
    assert st["backend"]["replicas"][0]["health"]["status"] == "healthy", st["backend"]
    assert sorted(x["id"] for x in st["web"]["replicas"]) == ["web-rep-1", "web-rep-2", "web-rep-3"]
    evs = events(dd)
    backend_healthy = next(e["seq"] for e in evs if e["type"] == "HealthHealthy" and e["replica"] == "backend-rep-1")
    web_started = [e["seq"] for e in evs if e["type"] == "ContainerStarted" and e["service"] == "web"]
    assert len(web_started) == 3 and backend_healthy < min(web_started), evs

    # the init step ran once per web replica, before it started (its note is in the shared volume)
    r = dd.cli("exec", "web-rep-2", "cat", "/init/log")
    assert r.returncode == 0, show(r, dd)
    assert {f"init ran in web-rep-{n}-init-announce" for n in (1, 2, 3)} <= set(r.stdout.splitlines()), r.stdout

    # the job: registered, runs on request
    r = dd.cli("job", "run", "--wait", "report")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "report-run-1", show(r, dd)
    r = dd.cli("job", "logs", "report-run-1")
    assert r.returncode == 0 and r.stdout == "building the report\nreport done\n", show(r)

    # the cron: every minute, the next run within a minute
    r = dd.cli("cron", "ls", "--json")
    assert r.returncode == 0, show(r, dd)
    crons = {c["name"]: c for c in json.loads(r.stdout)}
    tick = crons["tick"]
    assert tick["deployment"] == "demo" and tick["schedule"] == "* * * * *", tick
    assert 0 < tick["next_run_ns"] / 1e9 - time.time() <= 60, tick
    assert tick["next_run_ns"] % 60_000_000_000 == 0, tick  # on a whole minute

    r = dd.cli("down", "demo", timeout=120)
    assert r.returncode == 0, show(r, dd)
    assert not DEMO_CONTAINERS & container_ids(dd)
    r = dd.cli("status", "demo")
    assert r.returncode == 1 and "no such deployment 'demo'" in r.stderr, show(r)


def test_up_for_a_duration_then_down(dd, down):
    t0 = time.monotonic()
    r = dd.cli("up", DEMO, "--for", "2s", timeout=120)
    took = time.monotonic() - t0
    assert r.returncode == 0, show(r, dd)
    out = r.stdout
    assert "following events for 2s" in out and "time is up (--for)" in out, out
    assert out.count("DEPLOYMENT ") == 2, out  # the status table once up, again before going down
    assert out.index("time is up") < out.rindex("DEPLOYMENT ") < out.index("taking deployment 'demo' down")
    assert "deployment 'demo' removed" in out, out
    assert "ContainerStarted" in out, out  # the events were followed
    assert 2 <= took < 60, took
    assert not DEMO_CONTAINERS & container_ids(dd)
    assert dd.cli("status", "demo").returncode == 1


def test_up_is_taken_down_on_sigint(dd, down):
    p = dd.popen("up", DEMO)
    try:
        wait_for("deployed", lambda: p.poll() is None and dd.cli("status", "demo").returncode == 0 and
                 web_healthy(dd), timeout=60)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, f"{out}\n{err}"
    assert "taking deployment 'demo' down" in out and "deployment 'demo' removed" in out, out
    assert not DEMO_CONTAINERS & container_ids(dd)
    assert dd.cli("status", "demo").returncode == 1
