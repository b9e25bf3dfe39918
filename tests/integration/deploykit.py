"""What the service-manager stories share (test_deploy, test_deploy_policies,
test_jobs, test_demo): output for failures, waiting, and a daemon with the
zl-test image loaded. Each module gets its own daemon through the `dd`
fixture in conftest.py, configured by the module's DAEMON_CONFIG (the
daemon's JSON config) and IMAGE_TAG (the name the image is tagged with)."""
import json
import os
import tempfile
import textwrap
import time

import pytest


def show(r, d=None):
    out = f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    if d is not None:
        out += f"\n--- daemon log:\n{d.log_tail(60)}"
    return out


def spec(d, name, services):
    """Write d.specdir/NAME.yaml, deployment NAME; services: YAML text of the
    `services:` map, with IMAGE standing for the daemon's test image."""
    path = d.specdir / f"{name}.yaml"
    path.write_text(f"version: v1\ndeployment: {name}\nservices:\n" + textwrap.indent(
        textwrap.dedent(services).replace("IMAGE", d.image), "  "))
    return path


def wait_for(what, cond, timeout=30.0, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def start_daemon(daemon_cls, agent_bin, image, base, config=None, tag=None):
    """A started daemon_cls (conftest.RuntimeDaemon) in base with the image
    loaded and tagged; `image` is the name to use in specs, `specdir` base."""
    args = []
    if config:
        cfg = base / "agent.json"
        cfg.write_text(json.dumps(config))
        args = ["--config", str(cfg)]
    rundir = tempfile.mkdtemp(prefix="zl-dp-", dir="/tmp")  # short: sun_path is 108 bytes
    env = dict(os.environ)
    env.pop("ZLAYER_LOG_FORMAT", None)
    env["DOCKER_CONFIG"] = str(base)
    d = daemon_cls(agent_bin, base / "root", rundir, args, env, base / "daemon.log", dict(env), runtime="oci")
    d.start()
    for cmd in (("load", image.source), ("tag", image.digest, tag or image.name)):
        r = d.cli(*cmd)
        if r.returncode != 0:
            d.force_cleanup()
            pytest.fail(f"{' '.join(cmd)}: {show(r, d)}")
    d.image = tag or image.name
    d.specdir = base
    return d
