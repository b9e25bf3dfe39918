"""Crash injection: the daemon killed with SIGKILL at each step of deploy,
scale, rollout, down, pull, create, start, remove, secret set and job run
(ZLAYER_DEBUG_CRASH_AT names the step, docs/crash-points.md lists them)
leaves a state the next start repairs with no manual step: a deployment
converges to its stored spec with exactly its replica count (no container
lost, duplicated or of the old spec: ps, the runtime's state and the shims
agree), a scale ends at the stored count, a down resumes by itself, a pull
can be repeated and never lists a partial image, a created container is
whole or gone, a remove completes, a secret is old or new and no temp file
stays, a job execution completes once. Each case ends with everything
removed and nothing left behind (RuntimeDaemon.leftovers()).

One image load for the module: every case starts its own daemon processes
(armed, then unarmed) on the module's root. Service and container names
carry a per-run suffix (replica ids and cgroup paths are node-wide)."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

import conftest
import registry as registry_mod
import testimages
from deploykit import show, spec, start_daemon, wait_for

SFX = os.urandom(2).hex()
CRASH_LINE = "crash point '{}' reached: killing the daemon (ZLAYER_DEBUG_CRASH_AT)"
# What the containers run: a shell that ends at once on SIGTERM. Not the
# zl-testhelper: other modules' last-resort cleanup kills every process of
# that name on the machine (RuntimeDaemon._clean_by_hand).
SERVE = "trap 'exit 0' TERM; while :; do sleep 1000 & wait $!; done"


# --- the module's daemon and registry ------------------------------------------------------

@pytest.fixture(scope="module")
def cd(agent_bin, zl_test_image, tmp_path_factory):
    """A conftest.RuntimeDaemon with the image loaded, stopped: each case
    starts it (Case). Cleaned up after the module without force_cleanup(),
    which kills other tests' helper processes too."""
    base = tmp_path_factory.mktemp("crash")
    d = start_daemon(conftest.RuntimeDaemon, agent_bin, zl_test_image, base)
    d.stop()
    d.base_env = dict(d.env)
    d.n = 0
    try:
        yield d
    finally:
        d.env = d.base_env
        if d.proc.poll() is not None:
            d.start()
        for dep in [x["deployment"] for x in json.loads(d.cli("status", "--json").stdout or "[]")]:
            d.cli("down", dep, timeout=120)
        ids = [c["id"] for c in json.loads(d.cli("ps", "-a", "--json").stdout or "[]")]
        if ids:
            d.cli("rm", "-f", *ids, timeout=120)
        d.stop()
        clean_by_hand(d)
        shutil.rmtree(d.rundir, ignore_errors=True)


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    """A registry holding `crash/multi:latest`, an image of three layers
    (busybox sh and ls in the first, /lN/data in each)."""
    work = tmp_path_factory.mktemp("crash-registry")
    layout = testimages.OciLayout(work / "layout")
    shell = [testimages.entry("bin", "dir"),
             testimages.entry("bin/busybox", data=open(testimages.BUSYBOX, "rb").read(), mode=0o755),
             testimages.entry("bin/sh", "symlink", target="busybox"),
             testimages.entry("bin/ls", "symlink", target="busybox")]
    layers = [testimages.tar_bytes((shell if i == 0 else []) +
                                   [testimages.entry(f"l{i}", "dir"),
                                    testimages.entry(f"l{i}/data", data=os.urandom(64 << 10))])
              for i in range(3)]
    layout.add_image("multi", layers, config={"Cmd": ["/bin/sh"]})
    r = registry_mod.start_registry(work / "reg")
    try:
        testimages.skopeo_copy(f"oci:{layout.path}:multi", f"docker://{r.host}/crash/multi:latest")
        yield r
    finally:
        r.stop()


# --- helpers -------------------------------------------------------------------------------

def jcli(d, *args):
    r = d.cli(*args)
    assert r.returncode == 0, show(r, d)
    return json.loads(r.stdout)


def ok(d, *args, **kw):
    r = d.cli(*args, **kw)
    assert r.returncode == 0, show(r, d)
    return r


def ps_all(d):
    data = jcli(d, "ps", "-a", "--json")
    ids = [c["id"] for c in data]
    assert len(ids) == len(set(ids)), f"ps lists a container twice: {sorted(ids)}"
    return {c["id"]: c for c in data}


def runtime_ids(d):
    """Containers the OCI runtime (runc/crun) has state for."""
    root = os.path.join(d.rundir, "runc")
    return {e for e in os.listdir(root) if os.path.isdir(os.path.join(root, e))} if os.path.isdir(root) else set()


def shim_ids(d):
    """Live shims of this daemon, by container id (a list: duplicates show)."""
    ids = []
    for _, line in d.our_processes():
        argv = line.split()
        if os.path.basename(argv[0]) == "zlayer-shim" and "--id" in argv[:-1]:
            ids.append(argv[argv.index("--id") + 1])
    return sorted(ids)


def service_yaml(svc, replicas, version="1", extra=""):
    return f"""
    {svc}:
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["sh", "-c", "{SERVE} # v{version}"] }}
      scale: {{ mode: fixed, replicas: {replicas} }}
      stop_grace_period: 1s
    """ + extra


def status(d, dep):
    r = d.cli("status", "--json", dep)
    return json.loads(r.stdout) if r.returncode == 0 else None


def replica_ids(d, svc):
    """Containers of a service's replicas, as the agent lists them."""
    return {i for i in ps_all(d) if i.startswith(f"{svc}-rep-")}


def converged(d, dep, svc, n, version):
    """The deployment runs exactly n replicas of the spec version, and the
    agent, the runtime and the shims agree on them."""
    st = status(d, dep)
    if not st:
        return False
    s = st["services"][svc]
    live = [r for r in s["replicas"] if not r.get("retired")]
    if s["desired"] != n or len(live) != n or any(r["state"] != "running" for r in live):
        return False
    ids = {r["id"] for r in live}
    if len(s["replicas"]) != n or replica_ids(d, svc) != ids:
        return False
    if {i for i in runtime_ids(d) if i.startswith(f"{svc}-rep-")} != ids:
        return False
    if [i for i in shim_ids(d) if i.startswith(f"{svc}-rep-")] != sorted(ids):
        return False
    for cid in ids:
        info = jcli(d, "inspect", cid)
        info = info[0] if isinstance(info, list) else info
        if f"# v{version}" not in " ".join(info.get("args") or []):
            return False
    d.created |= ids
    return True


def wait_converged(d, dep, svc, n, version="1", timeout=40):
    try:
        wait_for(f"{dep}/{svc}: {n} replicas of v{version}", lambda: converged(d, dep, svc, n, version),
                 timeout=timeout, interval=0.2)
    except BaseException:
        print(f"status: {json.dumps(status(d, dep), indent=1)}\nps: {sorted(ps_all(d))}\n"
              f"runtime: {sorted(runtime_ids(d))}\nshims: {shim_ids(d)}\n--- daemon log:\n{d.log_tail(80)}")
        raise


def deploy(d, dep, services, timeout=90):
    r = d.cli("deploy", str(spec(d, dep, services)), timeout=timeout)
    assert r.returncode == 0, show(r, d)
    d.created |= {i for i in ps_all(d) if SFX in i}  # for the cgroup checks of leftovers()


def down(d, dep):
    if status(d, dep) is not None:
        ok(d, "down", dep, timeout=120)


def log_size(d):
    try:
        return os.path.getsize(d.log)
    except OSError:
        return 0


def leftovers(d):
    """d.leftovers(), without the test helper processes of other tests on
    the machine (ours run in a cgroup named after a container of this run)."""
    left = []
    for line in d.leftovers():
        if line.startswith("process ") and " zl-testhelper" in line:
            pid = line.split()[1].rstrip(":")
            try:
                with open(f"/proc/{pid}/cgroup") as f:
                    if SFX not in f.read():
                        continue
            except OSError:
                continue
        left.append(line)
    return left


def clean_by_hand(d):
    """After a failed case: what the daemon left, undone by hand (unlike
    RuntimeDaemon._clean_by_hand, never other tests' helper processes)."""
    for root in d.runc_roots():
        for cid in os.listdir(root) if os.path.isdir(root) else []:
            subprocess.run(["runc", "--root", root, "delete", "-f", cid], capture_output=True)
    for pid, line in d.our_processes():
        mine = str(d.rundir) in line or str(d.root) in line
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                mine = mine or SFX in f.read()
            if mine:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for mp in reversed(conftest._mount_points()):
        if any(mp == str(p) or mp.startswith(str(p) + "/") for p in (d.rundir, d.root)):
            subprocess.run(["umount", "-l", mp], capture_output=True)
    for cg in d._cgroups():
        try:
            os.rmdir(cg)
        except OSError:
            pass


class Case:
    """One crash: the daemon started with ZLAYER_DEBUG_CRASH_AT=point, the
    action that reaches it, the daemon's death by SIGKILL (with the crash
    point's line in its log), and the next start without the variable."""

    def __init__(self, d, point, n):
        self.d, self.point = d, point
        self.name = f"cx{n}{SFX}"

    def start(self, armed=False):
        d = self.d
        d.env = dict(d.base_env, ZLAYER_DEBUG_CRASH_AT=self.point) if armed else d.base_env
        self.log_from = log_size(d)
        d.start()

    def crash(self, action, timeout=60):
        """Restart armed (if the daemon runs: stopped first, its containers
        keep running), do action, expect the kill, start again unarmed."""
        d = self.d
        if d.proc is not None and d.proc.poll() is None:
            d.stop()
        self.start(armed=True)
        action()
        try:
            d.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the daemon did not reach crash point {self.point} within {timeout}s:\n"
                        f"{d.log_tail(60)}")
        d.expected_exit = True
        with open(d.log, errors="replace") as f:
            f.seek(self.log_from)
            log = f.read()
        assert d.proc.returncode == -signal.SIGKILL, f"exit {d.proc.returncode}:\n{log[-4000:]}"
        assert CRASH_LINE.format(self.point.split("@")[0]) in log, log[-4000:]
        self.start()

    def finish(self):
        """Everything removed: no container of the case, nothing left behind."""
        d = self.d
        left = [i for i in ps_all(d) if i.startswith(self.name)]
        assert not left, left
        d.stop()
        deadline = time.monotonic() + 10
        while (left := leftovers(d)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, "\n".join(left) + f"\n--- daemon log:\n{d.log_tail(40)}"


@pytest.fixture
def case(cd, request):
    point = request.node.callspec.params["point"] if hasattr(request.node, "callspec") else None
    cd.n += 1
    c = Case(cd, point, cd.n)
    yield c
    # after a failure: take the case's things away so the next case starts clean
    d = cd
    d.env = d.base_env
    if d.proc is None or d.proc.poll() is not None:
        d.start()
    for dep in [x["deployment"] for x in jcli(d, "status", "--json")]:
        if dep.startswith(c.name):
            d.cli("down", dep, timeout=120)
    ids = [i for i in ps_all(d) if i.startswith(c.name)]
    if ids:
        d.cli("rm", "-f", *ids, timeout=120)
    d.stop()
    if leftovers(d):
        clean_by_hand(d)


def sh_action(d, *args, input=None):
    """Run a CLI command whose daemon dies under it (any outcome)."""
    return lambda: d.cli(*args, input=input, timeout=60)


# --- deploy ---------------------------------------------------------------------------------

@pytest.mark.parametrize("point", [
    "deploy.stored", "replica.created", "replica.started", "start.claimed", "start.spawned",
    "create.attached",
])
def test_deploy(cd, case, point):
    """A first deploy of 2 replicas killed at point converges after the restart."""
    dep, svc = case.name, f"{case.name}w"
    case.crash(sh_action(cd, "deploy", str(spec(cd, dep, service_yaml(svc, 2)))))
    wait_converged(cd, dep, svc, 2)
    down(cd, dep)
    case.finish()


@pytest.mark.parametrize("point", [
    "deploy.stored", "rollout.step", "rollout.retiring", "rollout.step@2", "replica.removed",
])
def test_rollout(cd, case, point):
    """An update of a 2-replica service (v1 -> v2) killed at point ends with
    exactly 2 replicas of v2."""
    dep, svc = case.name, f"{case.name}w"
    case.start()
    deploy(cd, dep, service_yaml(svc, 2, "1"))
    case.crash(sh_action(cd, "deploy", str(spec(cd, dep, service_yaml(svc, 2, "2")))))
    wait_converged(cd, dep, svc, 2, "2")
    down(cd, dep)
    case.finish()


@pytest.mark.parametrize("point", ["deploy.stored", "replica.removed"])
def test_service_removed(cd, case, point):
    """An update dropping a service (2 replicas) killed at point: after the
    restart its replicas go, the other service keeps its own."""
    dep, keep, drop = case.name, f"{case.name}k", f"{case.name}x"
    case.start()
    deploy(cd, dep, service_yaml(keep, 1) + service_yaml(drop, 2))
    kept = replica_ids(cd, keep)
    case.crash(sh_action(cd, "deploy", str(spec(cd, dep, service_yaml(keep, 1)))))
    wait_for(f"the replicas of {drop} gone", lambda: not replica_ids(cd, drop) and
             not [i for i in runtime_ids(cd) | set(shim_ids(cd)) if i.startswith(drop)], timeout=30)
    wait_converged(cd, dep, keep, 1)
    assert replica_ids(cd, keep) == kept
    down(cd, dep)
    case.finish()


def test_refused_deploy_is_not_stored(cd, case):
    """A deploy refused because the deployment is busy stores nothing: a
    crash right after it brings back the spec being deployed."""
    dep, first, second = case.name, f"{case.name}a", f"{case.name}b"
    port = registry_mod.free_port()
    case.start()
    slow = service_yaml(first, 1, extra=f"""
      init:
        steps:
          - {{ id: wait, uses: init.wait_tcp, with: {{ host: 127.0.0.1, port: {port}, timeout: 20s }} }}
    """)
    p = cd.popen("deploy", str(spec(cd, dep, slow)))
    try:
        wait_for("the deploy under way", lambda: status(cd, dep) is not None)
        r = cd.cli("deploy", str(spec(cd, dep, service_yaml(second, 1))))
        assert r.returncode != 0 and "busy" in r.stderr, show(r, cd)
        cd.kill9()
    finally:
        p.kill()
        p.wait()
    case.start()
    st = wait_for("restored", lambda: status(cd, dep))
    assert sorted(st["services"]) == [first], st
    down(cd, dep)
    case.finish()


# --- scale ----------------------------------------------------------------------------------

@pytest.mark.parametrize("point,before,after", [
    ("scale.stored", 1, 3), ("replica.started", 1, 3), ("scale.stored", 3, 1), ("replica.removed", 3, 1),
])
def test_scale(cd, case, point, before, after):
    """A scale killed at point ends at the stored count, without a re-issue."""
    dep, svc = case.name, f"{case.name}w"
    case.start()
    deploy(cd, dep, service_yaml(svc, before))
    case.crash(sh_action(cd, "scale", f"{dep}/{svc}", str(after)))
    wait_converged(cd, dep, svc, after)
    down(cd, dep)
    case.finish()


# --- down -----------------------------------------------------------------------------------

@pytest.mark.parametrize("point", ["down.marked", "replica.removed", "remove.stopped", "down.forgetting"])
def test_down(cd, case, point):
    """A down killed at point resumes by itself after the restart: the
    deployment goes, no replica is made again."""
    dep, svc = case.name, f"{case.name}w"
    case.start()
    deploy(cd, dep, service_yaml(svc, 2))
    before = replica_ids(cd, svc)
    case.crash(sh_action(cd, "down", dep))
    wait_for("the deployment gone", lambda: status(cd, dep) is None and not replica_ids(cd, svc), timeout=30)
    assert len(before) == 2, before
    case.finish()


# --- plain containers: create, start, remove ----------------------------------------------

@pytest.mark.parametrize("point", [
    "create.mounted", "create.netns", "create.attached", "create.bundle", "create.saved",
])
def test_create(cd, case, point):
    """A create killed at point leaves a whole container (it starts and is
    removed) or nothing (no bundle, mount, netns, address, cgroup)."""
    cid = case.name
    cd.created.add(cid)
    case.crash(sh_action(cd, "create", "--name", cid, cd.image, "sh", "-c", SERVE))
    wait_for("the daemon settled", lambda: cd.cli("ps", "-a").returncode == 0)
    listed = ps_all(cd)
    if cid in listed:
        assert listed[cid]["state"] == "created", listed[cid]
        ok(cd, "start", cid)
        assert ps_all(cd)[cid]["state"] == "running"
        ok(cd, "rm", "-f", cid)
    else:
        # nothing: the name is free again
        ok(cd, "create", "--name", cid, cd.image, "true")
        ok(cd, "rm", cid)
    case.finish()


@pytest.mark.parametrize("point", ["start.claimed", "start.spawned"])
def test_start(cd, case, point):
    """`run -d` killed at point: after the restart the container is running
    (adopted) or startable, with one shim at most, never two."""
    cid = case.name
    cd.created.add(cid)
    case.crash(sh_action(cd, "run", "-d", "--name", cid, cd.image, "sh", "-c", SERVE))
    st = ps_all(cd)[cid]
    assert shim_ids(cd).count(cid) <= 1, shim_ids(cd)
    if st["state"] != "running":
        assert st["state"] in ("created", "exited"), st
        ok(cd, "start", cid)
    assert ps_all(cd)[cid]["state"] == "running"
    assert shim_ids(cd).count(cid) == 1 and cid in runtime_ids(cd), (shim_ids(cd), runtime_ids(cd))
    ok(cd, "rm", "-f", cid)
    case.finish()


@pytest.mark.parametrize("point", [
    "remove.marked", "remove.stopped", "remove.deleted", "remove.detached", "remove.trashed",
])
def test_remove(cd, case, point):
    """`rm -f` of a running container killed at point: the restart completes
    the removal (its record said so)."""
    cid = case.name
    cd.created.add(cid)
    case.start()
    ok(cd, "run", "-d", "--name", cid, cd.image, "sh", "-c", SERVE)
    case.crash(sh_action(cd, "rm", "-f", cid))
    wait_for("the container gone", lambda: cid not in ps_all(cd), timeout=20)
    assert cid not in shim_ids(cd) and cid not in runtime_ids(cd)
    ok(cd, "create", "--name", cid, cd.image, "true")  # the name is free
    ok(cd, "rm", cid)
    case.finish()


# --- pull -----------------------------------------------------------------------------------

@pytest.mark.parametrize("point", ["pull.manifest", "pull.layer@2", "pull.recording", "pull.recorded"])
def test_pull(cd, case, reg, point):
    """A pull killed at point lists no partial image; it can be repeated and
    the image then runs."""
    ref = reg.ref("crash/multi")
    case.crash(sh_action(cd, "pull", ref))
    images = jcli(cd, "images", "--json")
    listed = [i for i in images if any("crash/multi" in x for x in i.get("references") or [])]
    if listed:
        assert point == "pull.recorded", listed
    ok(cd, "pull", ref, timeout=60)
    cid = case.name
    cd.created.add(cid)
    r = ok(cd, "run", "--rm", "--name", cid, ref, "/bin/sh", "-c", "ls /l0 /l1 /l2")
    assert r.stdout.split() == ["/l0:", "data", "/l1:", "data", "/l2:", "data"], r.stdout
    ok(cd, "rmi", ref)
    ok(cd, "image", "prune")
    case.finish()


# --- secrets and jobs -------------------------------------------------------------------------

@pytest.mark.parametrize("point", ["secret.set.written", "file.renaming"])
def test_secret_set(cd, case, point):
    """A secret set killed at point: the secret is there whole or not at
    all, and no temp file stays in ROOT/secrets."""
    name = case.name
    case.crash(sh_action(cd, "secret", "set", name, input="v" * 1000))
    listed = {s["name"]: s for s in jcli(cd, "secret", "ls", "--json")}
    if point == "secret.set.written":
        assert listed[name]["size"] == 1000, listed
    else:
        assert name not in listed, listed
    assert sorted(os.listdir(cd.root / "secrets")) == sorted(listed), os.listdir(cd.root / "secrets")
    ok(cd, "secret", "set", name, input="w")
    ok(cd, "secret", "rm", name)
    case.finish()


@pytest.mark.parametrize("point", ["job.queued", "job.started", "job.finished"])
def test_job_run(cd, case, point):
    """A job run killed at point: after the restart its execution completes
    as it would have (queued: run; running: adopted; exited: its exit kept
    before its container went), once, and its container goes."""
    dep, job = case.name, f"{case.name}j"
    case.start()
    deploy(cd, dep, f"""
    {job}:
      rtype: job
      image: {{ name: "IMAGE" }}
      command: {{ entrypoint: ["sh", "-c", "echo ran; sleep 0.3"] }}
    """)
    case.crash(sh_action(cd, "job", "run", job))

    def settled():
        ex = jcli(cd, "job", "ls", "--json", job)["executions"]
        return ex and all(e["status"] in ("completed", "failed", "cancelled") for e in ex) and ex
    ex = wait_for("the execution settled", settled, timeout=30)
    assert len(ex) == 1 and ex[0]["status"] == "completed" and ex[0]["attempts"] == 1, ex
    assert not [i for i in ps_all(cd) if i.startswith(job)]
    r = ok(cd, "job", "run", "--wait", job, timeout=60)
    cd.created |= {e["id"] for e in jcli(cd, "job", "ls", "--json", job)["executions"]}
    down(cd, dep)
    case.finish()
