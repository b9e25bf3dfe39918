"""zlayer-wasm, the WebAssembly runner: the WASI preview 1 conformance suite
(wasi-testsuite, C and AssemblyScript, on both compile tiers), then user
stories: traps, timeouts, memory caps, the compile cache, and the OCI runtime
verbs that zlayer-shim calls instead of runc.

The binary is ZLAYER_WASM or build/zlayer-wasm. Small WASI programs in
wasm_fixtures/ are compiled with clang --target=wasm32-wasi once per session.
The conformance suite lives next to the repository
(../shared/conformance/wasi-testsuite); tests/integration/wasi-expectations.txt
lists the modules allowed to fail, each with its reason. Every test uses its
own cache directory (the conformance runs share one per tier, so the cached
tier's cc builds are paid once). The OCI tests need root and cgroups; the test
process is a child subreaper while they run so that instances left by `create`
are reaped here."""
import ctypes
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(__file__).resolve().parent / "wasm_fixtures"
SUITE = (ROOT / ".." / "shared" / "conformance" / "wasi-testsuite").resolve()
EXPECTATIONS = pathlib.Path(__file__).resolve().parent / "wasi-expectations.txt"
CLANG = shutil.which("clang")
SHIM = os.path.abspath(os.environ.get("ZLAYER_SHIM", str(ROOT / "build" / "zlayer-shim")))
PR_SET_CHILD_SUBREAPER = 36
TRAPS = ["unreachable", "out_of_bounds", "division_by_zero", "integer_overflow", "invalid_conversion",
         "indirect_call", "stack_exhaustion"]


@pytest.fixture(scope="session")
def wasm_bin():
    path = os.environ.get("ZLAYER_WASM", str(ROOT / "build" / "zlayer-wasm"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"zlayer-wasm binary {path} not built; run 'make build' or set ZLAYER_WASM")
    return os.path.abspath(path)


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory):
    """name -> path of every wasm_fixtures/*.c compiled for wasm32-wasi."""
    if not CLANG:
        pytest.skip("clang is not installed: cannot build the WASI fixtures")
    out = tmp_path_factory.mktemp("wasm-fixtures")
    built = {}
    for src in sorted(FIXTURES.glob("*.c")):
        dst = out / (src.stem + ".wasm")
        p = subprocess.run([CLANG, "--target=wasm32-wasi", "-O2", str(src), "-o", str(dst)], capture_output=True,
                           text=True)
        if p.returncode != 0:
            if "wasi" in p.stderr and ("not found" in p.stderr or "No such file" in p.stderr):
                pytest.skip(f"clang cannot target wasm32-wasi here (wasi-libc missing?): {p.stderr.strip()}")
            pytest.fail(f"cannot compile {src.name}: {p.stderr}")
        built[src.stem] = dst
    return built


def run(wasm_bin, *args, env=None, timeout=60, cache=None, tier=None):
    cmd = [wasm_bin, "run"]
    if cache:
        cmd += ["--cache-dir", str(cache)]
    if tier:
        cmd += ["--tier", tier]
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    full_env.update(env or {})
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, env=full_env, timeout=timeout)


# --- the conformance suite ------------------------------------------------------------


def suite_cases():
    if not SUITE.is_dir():
        return [pytest.param(None, id="wasi-testsuite-missing",
                             marks=pytest.mark.skip(reason=f"wasi-testsuite not found at {SUITE}"))]
    expected = {}
    if EXPECTATIONS.exists():
        for line in EXPECTATIONS.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, reason = line.partition(" ")
                expected[name] = reason.strip() or "listed in wasi-expectations.txt"
    cases = []
    for wasm in sorted((SUITE / "tests").rglob("*.wasm")):
        rel = str(wasm.relative_to(SUITE / "tests"))
        marks = [pytest.mark.xfail(reason=expected[rel], strict=True)] if rel in expected else []
        cases.append(pytest.param(wasm, id=rel, marks=marks))
    return cases


@pytest.fixture(scope="session")
def suite_cache(tmp_path_factory):
    return {tier: tmp_path_factory.mktemp(f"wasi-cache-{tier}") for tier in ("tcc", "cached")}


@pytest.mark.parametrize("tier", ["tcc", "cached"])
@pytest.mark.parametrize("wasm", suite_cases())
def test_wasi_testsuite(wasm_bin, suite_cache, tmp_path, wasm, tier):
    """One module of wasi-testsuite per its doc/specification.md: *.cleanup
    files deleted first, exactly the JSON's args and env, the root directory
    (a fresh copy) preopened as "/", exit code, stdout and stderr compared."""
    spec_path = wasm.with_suffix(".json")
    spec = json.loads(spec_path.read_text()) if spec_path.exists() else {}
    assert "operations" not in spec, "operation-based specs are not handled by this runner"
    cmd = []
    if spec.get("root"):
        root = tmp_path / "root"
        shutil.copytree(wasm.parent / spec["root"], root)
        for junk in root.rglob("*.cleanup"):
            junk.unlink()
        for d in [root, *root.rglob("*")]:
            if d.is_dir() or d.is_file():
                d.chmod(d.stat().st_mode | 0o200)  # the copy of a read-only tree must be writable
        cmd += ["--dir", f"{root}::/"]
    for k, v in spec.get("env", {}).items():
        cmd += ["--env", f"{k}={v}"]
    p = run(wasm_bin, *cmd, wasm, *spec.get("args", []), cache=suite_cache[tier], tier=tier)
    assert p.returncode == spec.get("exit_code", 0), p.stderr.decode(errors="replace")
    assert p.stdout.decode() == spec.get("stdout", "")
    assert p.stderr.decode() == spec.get("stderr", "")


# --- running modules -------------------------------------------------------------------


def test_args_env_and_exit_code(wasm_bin, fixtures, tmp_path):
    """The guest sees argv[0] = the module's name, the arguments as given,
    only the --env variables (not zlayer-wasm's environment), and its exit
    status is the process's."""
    p = run(wasm_bin, "--env", "GREETING=hi there", "--env", "EXIT=7", fixtures["hello"], "one", "two words",
            env={"LEAK": "no"}, cache=tmp_path, tier="tcc")
    assert p.returncode == 7, p.stderr
    assert p.stdout.decode().splitlines() == ["argc=3", "argv[0]=hello.wasm", "argv[1]=one", "argv[2]=two words",
                                              "env GREETING=hi there", "env EXIT=7"]


@pytest.mark.parametrize("tier", ["tcc", "cached"])
@pytest.mark.parametrize("kind", TRAPS)
def test_trap_kinds(wasm_bin, fixtures, tmp_path, kind, tier):
    """Every kind of trap: exit 134, `zlayer-wasm: trap: KIND` on stderr and
    the outcome in the trap file, on both tiers."""
    trap_file = tmp_path / "outcome.json"
    p = run(wasm_bin, "--trap-file", trap_file, fixtures["trap"], kind, cache=tmp_path / "cache", tier=tier)
    assert p.returncode == 134, p.stderr
    assert p.stdout.decode() == f"before {kind}\n"
    assert p.stderr.decode() == f"zlayer-wasm: trap: {kind}\n"
    assert json.loads(trap_file.read_text()) == {"reason": "runtime_error", "trap": kind}


def test_timeout(wasm_bin, fixtures, tmp_path):
    """A guest that never ends is stopped at --timeout: exit 124 and a
    timeout record."""
    trap_file = tmp_path / "outcome.json"
    t0 = time.monotonic()
    p = run(wasm_bin, "--timeout", "300ms", "--trap-file", trap_file, fixtures["spin"], cache=tmp_path, tier="tcc")
    elapsed = time.monotonic() - t0
    assert p.returncode == 124, p.stderr
    assert 0.3 <= elapsed < 5
    assert json.loads(trap_file.read_text()) == {"reason": "timeout"}
    assert b"zlayer-wasm: timeout" in p.stderr


def test_normal_exit_leaves_no_outcome(wasm_bin, fixtures, tmp_path):
    """A stale trap file is removed; a clean exit writes none."""
    trap_file = tmp_path / "outcome.json"
    trap_file.write_text('{"reason":"timeout"}')
    p = run(wasm_bin, "--trap-file", trap_file, fixtures["sleep"], "10", cache=tmp_path, tier="tcc")
    assert p.returncode == 0 and p.stdout == b"sleeping\nawake\n"
    assert not trap_file.exists()


def test_max_memory(wasm_bin, fixtures, tmp_path):
    """--max-memory caps memory.grow (it returns -1, as wasm says), and a
    module whose initial memory is over the cap does not start."""
    p = run(wasm_bin, fixtures["grow"], "100", cache=tmp_path, tier="tcc")
    assert p.returncode == 0 and p.stdout.startswith(b"grew 100 MiB"), p.stderr
    p = run(wasm_bin, "--max-memory", "4Mi", fixtures["grow"], "100", cache=tmp_path, tier="tcc")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"grew 3 MiB, memory 3 MiB\n"
    p = run(wasm_bin, "--max-memory", "64Ki", fixtures["grow"], cache=tmp_path, tier="tcc")
    assert p.returncode == 125
    assert b"the module's initial memory of 131072 bytes exceeds the memory limit of 65536 bytes" in p.stderr


def test_preopen_dirs(wasm_bin, fixtures, tmp_path):
    """--dir HOST::GUEST gives the guest that directory and nothing above it."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("inside\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    p = run(wasm_bin, "--dir", f"{data}::/data", fixtures["files"], "read", "/data/in.txt", cache=tmp_path,
            tier="tcc")
    assert p.returncode == 0 and p.stdout == b"inside\n", p.stderr
    p = run(wasm_bin, "--dir", f"{data}::/data", fixtures["files"], "write", "/data/out.txt", "made",
            cache=tmp_path, tier="tcc")
    assert p.returncode == 0 and (data / "out.txt").read_text() == "made"
    p = run(wasm_bin, "--dir", f"{data}::/data", fixtures["files"], "read", "/data/../secret.txt", cache=tmp_path,
            tier="tcc")
    assert p.returncode == 1 and p.stdout.startswith(b"error: "), p.stdout


def test_invalid_modules(wasm_bin, fixtures, tmp_path):
    """Bad modules fail before running with an `invalid wasm:` message and
    status 125."""
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"\x7fELF not wasm")
    p = run(wasm_bin, junk, cache=tmp_path)
    assert p.returncode == 125
    assert p.stderr == b"zlayer-wasm: error: invalid wasm: not a WebAssembly module (bad magic)\n"
    p = run(wasm_bin, fixtures["import_env"], cache=tmp_path)
    assert p.returncode == 125
    assert p.stderr == (b"zlayer-wasm: error: invalid wasm: import 'env' 'foo' is not provided "
                        b"(only wasi_snapshot_preview1 imports are)\n")
    p = run(wasm_bin, tmp_path / "missing.wasm", cache=tmp_path)
    assert p.returncode == 125 and b"cannot read the module" in p.stderr


def timing(p):
    line = [x for x in p.stderr.decode().splitlines() if x.startswith("zlayer-wasm: timing:")]
    assert line, p.stderr
    return dict(kv.split("=", 1) for kv in line[0].split()[2:])


def wait_for(path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.1)
    return False


def cache_entry(cache, wasm):
    import hashlib
    hexd = hashlib.sha256(pathlib.Path(wasm).read_bytes()).hexdigest()
    return cache / f"{hexd}.so", cache / f"{hexd}.so.sum", cache / f"m{hexd}.c"


def test_second_run_uses_cached_object(wasm_bin, fixtures, tmp_path):
    """The first (auto) start runs on tcc and leaves wasm2c's C and a
    background cc build behind; once the .so is there, starts use it."""
    cache = tmp_path / "cache"
    so, so_sum, c_file = cache_entry(cache, fixtures["hello"])
    p = run(wasm_bin, fixtures["hello"], cache=cache, env={"ZLAYER_WASM_TIMING": "1"})
    assert p.returncode == 0, p.stderr
    assert timing(p)["tier"] == "tcc"
    assert c_file.exists()
    assert wait_for(so_sum, 120), "the background build did not produce the .so"
    assert so.exists()
    p = run(wasm_bin, fixtures["hello"], cache=cache, env={"ZLAYER_WASM_TIMING": "1"})
    assert p.returncode == 0 and timing(p)["tier"] == "cached", p.stderr
    p = run(wasm_bin, fixtures["hello"], cache=cache, tier="cached", env={"ZLAYER_WASM_TIMING": "1"})
    assert p.returncode == 0 and timing(p)["tier"] == "cached"
    assert timing(p)["wasm2c"] == "0.00ms"


def test_corrupted_object_is_rebuilt(wasm_bin, fixtures, tmp_path):
    """A damaged .so is never loaded: the start falls back to tcc and the
    entry is rebuilt (in the background, or at once with --tier cached)."""
    cache = tmp_path / "cache"
    p = subprocess.run([wasm_bin, "precompile", "--cache-dir", str(cache), str(fixtures["hello"])],
                       capture_output=True, text=True, timeout=120)
    so, so_sum, _ = cache_entry(cache, fixtures["hello"])
    assert p.returncode == 0 and p.stdout == f"{so}\n", p.stderr
    good = so.read_bytes()
    so.write_bytes(good[: len(good) // 2])
    p = run(wasm_bin, fixtures["hello"], cache=cache, env={"ZLAYER_WASM_TIMING": "1"})
    assert p.returncode == 0 and timing(p)["tier"] == "tcc", p.stderr
    deadline = time.monotonic() + 120
    while so.stat().st_size != len(good) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert so.stat().st_size == len(good)
    data = bytearray(so.read_bytes())
    data[len(data) // 2] ^= 0xff
    so.write_bytes(bytes(data))
    p = run(wasm_bin, fixtures["hello"], cache=cache, tier="cached", env={"ZLAYER_WASM_TIMING": "1"})
    assert p.returncode == 0 and timing(p)["tier"] == "cached", p.stderr
    assert float(timing(p)["cc"].rstrip("ms")) > 0
    assert so.read_bytes() != bytes(data)


def test_concurrent_cold_starts_translate_once(wasm_bin, fixtures, tmp_path):
    """Starts of one module racing on an empty cache: the lock makes one of
    them run wasm2c, the others wait for its output and reuse it."""
    cache = tmp_path / "cache"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ZLAYER_WASM_TIMING": "1"}
    procs = [subprocess.Popen([wasm_bin, "run", "--cache-dir", str(cache), "--tier", "tcc", str(fixtures["hello"])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(4)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(rc == 0 and out.startswith(b"argc=1\n") for out, _, rc in results), results
    translated = [timing(subprocess.CompletedProcess([], 0, out, err))["wasm2c"] != "0.00ms"
                  for out, err, _ in results]
    assert translated.count(True) == 1, results
    assert not list(cache.glob(".tmp-*"))


def test_unwritable_cache_still_runs(wasm_bin, fixtures, tmp_path):
    """No usable cache: tcc in a temporary directory, nothing left behind."""
    p = run(wasm_bin, fixtures["hello"], cache="/proc/zlayer-no-cache", env={"ZLAYER_WASM_TIMING": "1"})
    assert p.returncode == 0 and timing(p)["tier"] == "tcc", p.stderr
    p = run(wasm_bin, fixtures["hello"], cache="/proc/zlayer-no-cache", tier="cached")
    assert p.returncode == 125 and b"cannot use the cache directory '/proc/zlayer-no-cache'" in p.stderr


# --- the OCI runtime ---------------------------------------------------------------------

oci = pytest.mark.skipif(os.geteuid() != 0, reason="the OCI runtime verbs need root (cgroups, mounts)")


def set_subreaper(on):
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0)


def gone(pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


def cgroup_dirs(path):
    base = pathlib.Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        return [base / path.lstrip("/")]
    return [base / c / path.lstrip("/") for c in ("memory", "cpu", "cpuacct", "pids") if (base / c).is_dir()]


class Oci:
    def __init__(self, wasm_bin, tmp_path, cid):
        self.bin, self.id = wasm_bin, cid
        self.root = tmp_path / "root"
        self.bundle = tmp_path / "bundle"
        self.cache = tmp_path / "cache"
        self.cgroup = f"/zlayer-wasm-test/{cid}"
        self.shims = []  # pids of shims a test started, stopped at cleanup
        self.bundle.mkdir()

    def write(self, module, args, annotations=None, mounts=(), resources=None, terminal=False):
        cfg = {
            "ociVersion": "1.0.2",
            "process": {"args": [pathlib.Path(module).name, *args], "env": ["A=B"], "terminal": terminal},
            "root": {"path": "rootfs"},
            "mounts": list(mounts),
            "linux": {"cgroupsPath": self.cgroup, "resources": resources or {}},
            "annotations": {"io.zlayer.wasm.module": str(module), "io.zlayer.wasm.cache_dir": str(self.cache),
                            "io.zlayer.wasm.tier": "tcc", **(annotations or {})},
        }
        (self.bundle / "config.json").write_text(json.dumps(cfg))

    def __call__(self, *args, timeout=60, stdout=None):
        """Output through files: an instance keeps the stdio it inherits
        (as runc's containers do), so pipes would never reach EOF."""
        import tempfile
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run([self.bin, "--root", str(self.root), *map(str, args)], stdout=stdout or out,
                               stderr=err, stdin=subprocess.DEVNULL, timeout=timeout)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read().decode(), err.read().decode()
        return p

    def state(self):
        p = self("state", self.id)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def cleanup(self):
        for pid in self.shims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            gone(pid)
        self("delete", "--force", self.id)
        for d in cgroup_dirs(self.cgroup):
            for x in (d, d.parent):  # the leaf, then the tests' parent when empty
                try:
                    x.rmdir()
                except OSError:
                    pass


@pytest.fixture
def container(wasm_bin, tmp_path, request):
    set_subreaper(True)
    c = Oci(wasm_bin, tmp_path, "wt-" + request.node.name.replace("[", "-").replace("]", "")[:40])
    yield c
    c.cleanup()
    set_subreaper(False)


@oci
def test_oci_lifecycle(container, fixtures, tmp_path):
    """create loads the module and waits; start runs it; state follows
    created -> running -> stopped; SIGTERM stops it; delete removes the state
    directory and the cgroups (with the limits written while it lived)."""
    c = container
    c.write(fixtures["sleep"], [], resources={"memory": {"limit": 64 << 20}, "pids": {"limit": 16},
                                              "cpu": {"quota": 50000, "period": 100000, "shares": 512}})
    out = open(tmp_path / "out.txt", "wb")
    p = c("create", "--bundle", c.bundle, "--pid-file", tmp_path / "pid", c.id, stdout=out)
    assert p.returncode == 0, p.stderr
    pid = int((tmp_path / "pid").read_text())
    st = c.state()
    assert st["status"] == "created" and st["pid"] == pid and st["id"] == c.id
    assert st["bundle"] == str(c.bundle) and st["rootfs"] == str(c.bundle / "rootfs") and st["ociVersion"]
    assert st["annotations"]["io.zlayer.wasm.tier"] == "tcc"
    assert (c.root / c.id / "exec.fifo").exists()
    dirs = cgroup_dirs(c.cgroup)
    assert dirs and all(str(pid) in (d / "cgroup.procs").read_text().split() for d in dirs)
    if dirs[0].parent.parent.name == "memory":
        assert (dirs[0] / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
    assert (tmp_path / "out.txt").read_bytes() == b""  # loaded, not started
    p = c("start", c.id)
    assert p.returncode == 0, p.stderr
    assert not (c.root / c.id / "exec.fifo").exists()
    assert c.state()["status"] == "running"
    deadline = time.monotonic() + 10
    while (tmp_path / "out.txt").read_bytes() != b"sleeping\n" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (tmp_path / "out.txt").read_bytes() == b"sleeping\n"
    p = c("start", c.id)
    assert p.returncode == 1 and 'msg="cannot start an already running container"' in p.stderr
    p = c("events", "--stats", c.id)
    assert p.returncode == 0, p.stderr
    ev = json.loads(p.stdout)
    assert ev["type"] == "stats" and ev["id"] == c.id
    assert ev["data"]["cpu"]["usage"]["total"] > 0 and ev["data"]["pids"]["current"] >= 1
    assert ev["data"]["memory"]["usage"]["usage"] > 0
    p = c("delete", c.id)
    assert p.returncode == 1 and "not stopped: running" in p.stderr
    p = c("exec", c.id, "true")
    assert p.returncode == 1 and 'level=error msg="exec is not supported by the WebAssembly runtime"' in p.stderr
    p = c("kill", c.id, "SIGTERM")
    assert p.returncode == 0, p.stderr
    assert gone(pid)
    assert c.state()["status"] == "stopped"
    p = c("kill", c.id, "TERM")
    assert p.returncode == 1 and "container not running" in p.stderr
    p = c("delete", c.id)
    assert p.returncode == 0, p.stderr
    assert not (c.root / c.id).exists()
    assert not any(d.exists() for d in dirs)
    p = c("state", c.id)
    assert p.returncode == 1 and 'msg="container does not exist"' in p.stderr


@oci
def test_oci_create_error_leaves_nothing(container, fixtures, tmp_path):
    """A module that cannot load is create's error, in runc's format, and
    leaves neither a state directory nor a cgroup."""
    c = container
    c.write(fixtures["import_env"], [])
    p = c("create", "--bundle", c.bundle, "--pid-file", tmp_path / "pid", c.id)
    assert p.returncode == 1
    assert p.stderr.startswith("time=\"") and ' level=error msg="invalid wasm: import ' in p.stderr
    assert not (c.root / c.id).exists() and not (tmp_path / "pid").exists()
    assert not any(d.exists() for d in cgroup_dirs(c.cgroup))
    c.write(fixtures["hello"], [], annotations={"io.zlayer.wasm.max_memory": "64Ki"})
    p = c("create", "--bundle", c.bundle, c.id)
    assert p.returncode == 1 and "exceeds the memory limit of 65536 bytes" in p.stderr
    assert not (c.root / c.id).exists()
    assert not any(d.exists() for d in cgroup_dirs(c.cgroup))


@oci
def test_oci_created_container_deleted(container, fixtures, tmp_path):
    """delete of a created (never started) container kills its instance."""
    c = container
    c.write(fixtures["hello"], [])
    p = c("create", "--bundle", c.bundle, "--pid-file", tmp_path / "pid", c.id)
    assert p.returncode == 0, p.stderr
    pid = int((tmp_path / "pid").read_text())
    p = c("delete", c.id)
    assert p.returncode == 0, p.stderr
    assert gone(pid) and not (c.root / c.id).exists()
    p = c("delete", c.id)
    assert p.returncode == 1 and "container does not exist" in p.stderr
    assert c("delete", "--force", c.id).returncode == 0


@oci
def test_oci_run_foreground_trap_and_timeout(container, fixtures, tmp_path):
    """`run` (runc's foreground form) returns the guest's status and removes
    the container; traps and timeouts leave ROOT/ID/outcome.json while the
    container exists (run --detach)."""
    c = container
    c.write(fixtures["hello"], ["x"], annotations={})
    p = c("run", "--bundle", c.bundle, c.id)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[:3] == ["argc=2", "argv[0]=hello.wasm", "argv[1]=x"]
    assert not (c.root / c.id).exists()

    c.write(fixtures["trap"], ["division_by_zero"])
    p = c("run", "--detach", "--bundle", c.bundle, "--pid-file", tmp_path / "pid", c.id)
    assert p.returncode == 0, p.stderr
    assert gone(int((tmp_path / "pid").read_text()))
    assert json.loads((c.root / c.id / "outcome.json").read_text()) == {"reason": "runtime_error",
                                                                        "trap": "division_by_zero"}
    assert c.state()["status"] == "stopped"
    assert c("delete", c.id).returncode == 0

    c.write(fixtures["spin"], [], annotations={"io.zlayer.wasm.timeout_ns": str(200_000_000)})
    p = c("run", "--detach", "--bundle", c.bundle, "--pid-file", tmp_path / "pid", c.id)
    assert p.returncode == 0, p.stderr
    assert gone(int((tmp_path / "pid").read_text()))
    assert json.loads((c.root / c.id / "outcome.json").read_text()) == {"reason": "timeout"}


@oci
def test_oci_readonly_bind(container, fixtures, tmp_path):
    """A bind mount with "ro" is a read-only preopen; without, writable."""
    c = container
    ro, rw = tmp_path / "ro", tmp_path / "rw"
    ro.mkdir()
    rw.mkdir()
    mounts = [{"type": "bind", "source": str(ro), "destination": "/ro", "options": ["rbind", "ro"]},
              {"type": "bind", "source": str(rw), "destination": "/rw", "options": ["rbind", "rw"]}]
    c.write(fixtures["files"], ["write", "/ro/x", "no"], mounts=mounts)
    p = c("run", "--bundle", c.bundle, c.id)
    assert p.returncode == 1 and p.stdout.startswith("error: "), (p.stdout, p.stderr)
    assert not (ro / "x").exists()
    c.write(fixtures["files"], ["write", "/rw/x", "yes"], mounts=mounts)
    p = c("run", "--bundle", c.bundle, c.id)
    assert p.returncode == 0, p.stderr
    assert (rw / "x").read_text() == "yes"


@oci
@pytest.mark.skipif(not os.access(SHIM, os.X_OK), reason=f"zlayer-shim not built at {SHIM}")
@pytest.mark.parametrize("mode", ["create-start", "run-detach", "tty"])
def test_oci_through_the_shim(container, fixtures, tmp_path, mode):
    """zlayer-shim runs zlayer-wasm instead of runc (create + start, or
    run --detach with --start, or with a terminal): the report line, the
    guest's output in the JSON log, its exit status in exit.json."""
    c = container
    c.write(fixtures["hello"], ["via-shim"], terminal=mode == "tty")
    (c.bundle / "config.json").write_text(
        (c.bundle / "config.json").read_text().replace('"A=B"', '"A=B", "EXIT=3"'))
    state, log = tmp_path / "state", tmp_path / "container.log"
    cmd = [SHIM, "--id", c.id, "--bundle", str(c.bundle), "--state-dir", str(state), "--runtime", c.bin,
           "--runtime-root", str(c.root), "--log-file", str(log)]
    cmd += {"create-start": [], "run-detach": ["--start"], "tty": ["--start", "--tty"]}[mode]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       timeout=60)
    report = p.stdout.decode()
    assert report.startswith("ok "), report
    shim_pid, init_pid = map(int, report.split()[1:])
    c.shims.append(shim_pid)
    if mode == "create-start":
        s = c("start", c.id)
        assert s.returncode == 0, s.stderr
    deadline = time.monotonic() + 20
    while not (state / "exit.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    ex = json.loads((state / "exit.json").read_text())
    assert ex["exit_code"] == 3 and ex["signal"] == 0
    eol = "\r\n" if mode == "tty" else "\n"
    lines = [json.loads(x)["log"] for x in log.read_text().splitlines()]
    assert lines[:3] == [f"argc=2{eol}", f"argv[0]=hello.wasm{eol}", f"argv[1]=via-shim{eol}"]
    with open(state / "control", "w") as f:
        f.write("collected\n")
    assert gone(shim_pid) and gone(init_pid)
    assert c("delete", c.id).returncode == 0


@oci
def test_oci_shim_reports_create_error(container, fixtures, tmp_path):
    """The shim's error report carries zlayer-wasm's msg="..."."""
    if not os.access(SHIM, os.X_OK):
        pytest.skip(f"zlayer-shim not built at {SHIM}")
    c = container
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"\0asm\x02\0\0\0")
    c.write(junk, [])
    cmd = [SHIM, "--id", c.id, "--bundle", str(c.bundle), "--state-dir", str(tmp_path / "state"), "--runtime",
           c.bin, "--runtime-root", str(c.root), "--log-file", str(tmp_path / "log")]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       timeout=60)
    assert p.stdout.decode() == ("error invalid wasm: unsupported binary format version 2 "
                                 "(only version 1 is)\n")
