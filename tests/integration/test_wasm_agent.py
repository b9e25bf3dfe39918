"""WebAssembly modules as containers of the agent: `zlayer-agent run` of a
`file:MODULE.wasm` goes through the daemon, the shim and zlayer-wasm (the
runtime binary instead of runc): the WASI conformance suite driven this way,
then the container operations that apply (logs, ps, inspect, stats, stop,
kill, wait, rm), traps and time limits as outcomes, exec refused as
unsupported. One daemon for the module; its compile cache is per module."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import conftest
from test_wasi_testsuite import CLANG, FIXTURES, suite_cases

TRAPS = ["unreachable", "out_of_bounds", "division_by_zero"]


def show(r, d=None):
    out = f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    if d is not None:
        out += f"\n--- daemon log:\n{d.log_tail(40)}"
    return out


def wait_for(what, cond, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def wd(agent_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("wasm-agent")
    rundir = tempfile.mkdtemp(prefix="zl-wa-", dir="/tmp")
    env = dict(os.environ)
    env.pop("ZLAYER_LOG_FORMAT", None)
    env["ZLAYER_WASM_CACHE_DIR"] = str(base / "wasm-cache")
    d = conftest.RuntimeDaemon(agent_bin, base / "root", rundir, [], env, base / "daemon.log", dict(env),
                               runtime="wasm")
    try:
        d.start()
        yield d
    finally:
        d.force_cleanup()


@pytest.fixture(scope="module")
def mods(tmp_path_factory):
    if not CLANG:
        pytest.skip("clang is not installed: cannot build the WASI fixtures")
    out = tmp_path_factory.mktemp("wasm-mods")
    built = {}
    for name in ("hello", "sleep", "trap", "spin"):
        dst = out / f"{name}.wasm"
        p = subprocess.run([CLANG, "--target=wasm32-wasi", "-O2", str(FIXTURES / f"{name}.c"), "-o", str(dst)],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        built[name] = dst
    return built


@pytest.mark.parametrize("wasm", suite_cases())
def test_wasi_testsuite_through_the_agent(wd, tmp_path, wasm):
    """wasi-testsuite's rules (doc/specification.md), each module run as
    `zlayer-agent run --rm [-v ROOT:/] [-e K=V]... file:X.wasm ARGS...`."""
    spec_path = wasm.with_suffix(".json")
    spec = json.loads(spec_path.read_text()) if spec_path.exists() else {}
    cmd = ["run", "--rm"]
    if spec.get("root"):
        root = tmp_path / "root"
        shutil.copytree(wasm.parent / spec["root"], root)
        for junk in root.rglob("*.cleanup"):
            junk.unlink()
        for d in [root, *root.rglob("*")]:
            d.chmod(d.stat().st_mode | 0o200)
        cmd += ["-v", f"{root}:/"]
    for k, v in spec.get("env", {}).items():
        cmd += ["-e", f"{k}={v}"]
    r = wd.cli(*cmd, f"file:{wasm}", *spec.get("args", []), timeout=120)
    assert r.returncode == spec.get("exit_code", 0), show(r, wd)
    assert r.stdout == spec.get("stdout", ""), show(r)
    assert r.stderr == spec.get("stderr", ""), show(r)


def test_run_streams_output_args_env_and_exit_code(wd, mods):
    r = wd.cli("run", "--rm", "-e", "EXIT=7", "-e", "A=b", f"file:{mods['hello']}", "x", "y z")
    assert r.returncode == 7, show(r, wd)
    assert r.stdout == "argc=3\nargv[0]=hello.wasm\nargv[1]=x\nargv[2]=y z\nenv EXIT=7\nenv A=b\n", show(r)


def test_relative_file_reference_and_preopen(wd, mods, tmp_path):
    (tmp_path / "data").mkdir()
    shutil.copy(mods["hello"], tmp_path / "m.wasm")
    r = subprocess.run([wd.agent_bin, "run", "--rm", "file:m.wasm", "q"], cwd=tmp_path, capture_output=True,
                       text=True, env=wd.cli_env(None), timeout=60)
    assert r.returncode == 0 and "argv[1]=q" in r.stdout, show(r, wd)
    r = wd.cli("run", "--rm", "file:relative-is-not-here.wasm")
    assert r.returncode != 0


@pytest.mark.parametrize("kind", TRAPS)
def test_a_trap_is_a_runtime_error_with_its_kind(wd, mods, kind):
    name = f"trap-{kind.replace('_', '-')}"
    r = wd.cli("run", "--name", name, f"file:{mods['trap']}", kind)
    assert r.returncode == 134, show(r, wd)
    info = json.loads(wd.cli("inspect", "--json", name).stdout)[0]
    assert info["state"] == "exited" and info["exit_code"] == 134, info
    assert info["reason"] == f"trap: {kind}", info
    assert info["runtime"] == "wasm", info
    r = wd.cli("wait", name)
    assert r.returncode == 0, show(r)
    assert wd.cli("rm", name).returncode == 0


def test_container_operations(wd, mods):
    r = wd.cli("run", "-d", "--name", "wsleep", "--memory", "64Mi", f"file:{mods['sleep']}")
    assert r.returncode == 0, show(r, wd)
    wait_for("output", lambda: "sleeping" in wd.cli("logs", "wsleep").stdout)
    ps = {c["id"]: c for c in json.loads(wd.cli("ps", "--json").stdout)}
    assert ps["wsleep"]["state"] == "running" and ps["wsleep"]["pid"] > 0, ps
    st = wd.cli("stats", "--json", "wsleep")
    assert st.returncode == 0, show(st, wd)
    stats = json.loads(st.stdout)
    stats = stats[0] if isinstance(stats, list) else stats
    assert stats["memory_limit"] == 64 << 20 and stats["memory_usage"] > 0, stats
    r = wd.cli("exec", "wsleep", "ls")
    assert r.returncode != 0 and "unsupported" in r.stderr and "WebAssembly" in r.stderr, show(r)
    import test_daemon
    for form in ("", "&stream=1"):  # buffered and streamed alike, before any stream
        status, _, body = test_daemon.api(wd.socket, "POST", f"/v1/containers/exec?id=wsleep{form}",
                                          {"argv": ["ls"]})
        assert status == 501 and body["kind"] == "unsupported" and "WebAssembly" in body["message"], body
    t0 = time.monotonic()
    r = wd.cli("stop", "-t", "5", "wsleep")
    assert r.returncode == 0, show(r, wd)
    assert time.monotonic() - t0 < 4, "a WebAssembly module stops on SIGTERM (its default action)"
    info = json.loads(wd.cli("inspect", "--json", "wsleep").stdout)[0]
    assert info["state"] == "exited", info
    assert wd.cli("rm", "wsleep").returncode == 0
    assert "wsleep" not in {c["id"] for c in json.loads(wd.cli("ps", "-a", "--json").stdout)}


def oci_wasm_layout(path, module_bytes, config_extra=None):
    """An OCI image layout whose one layer is the module itself (mediaType
    application/wasm), config os wasi / architecture wasm32."""
    import hashlib
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data):
        d = hashlib.sha256(data).hexdigest()
        (blobs / d).write_bytes(data)
        return f"sha256:{d}", len(data)

    layer, lsize = put(module_bytes)
    cfg = {"architecture": "wasm32", "os": "wasi", "rootfs": {"type": "layers", "diff_ids": [layer]},
           "config": config_extra or {}}
    c, csize = put(json.dumps(cfg).encode())
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": csize},
           "layers": [{"mediaType": "application/wasm", "digest": layer, "size": lsize}]}
    m, msize = put(json.dumps(man).encode())
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m, "size": msize,
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))


def test_an_image_whose_layer_is_the_module(wd, mods, tmp_path):
    layout = tmp_path / "layout"
    oci_wasm_layout(layout, mods["hello"].read_bytes())
    r = wd.cli("load", f"oci-layout:{layout}:latest")
    assert r.returncode == 0, show(r, wd)
    digest = json.loads(wd.cli("images", "--json").stdout)
    r = wd.cli("tag", f"oci-layout:{layout}:latest", "wasm-hello:1")
    assert r.returncode == 0, show(r, wd)
    r = wd.cli("run", "--rm", "-e", "EXIT=5", "wasm-hello:1", "arg1")
    assert r.returncode == 5, show(r, wd)
    assert r.stdout.startswith("argc=2\nargv[0]=module.wasm\nargv[1]=arg1\n"), show(r)
    assert digest


def test_invalid_module_fails_to_start_and_leaves_nothing(wd, tmp_path):
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x02\0\0\0garbage")
    r = wd.cli("run", "--rm", "--name", "wbad", f"file:{bad}")
    assert r.returncode != 0 and "invalid wasm" in r.stderr, show(r, wd)
    wait_for("gone", lambda: "wbad" not in {c["id"] for c in json.loads(wd.cli("ps", "-a", "--json").stdout)})


def test_zz_nothing_left_behind(wd):
    assert not json.loads(wd.cli("ps", "-a", "--json").stdout)
    deadline = time.monotonic() + 10
    while (left := [x for x in wd.leftovers() if "wasm-cache" not in x]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "\n".join(left)
