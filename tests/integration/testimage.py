"""The runtime test image `zl-test:latest`: busybox-static at /bin/busybox
with /bin/sh and common applets, the static zl-testhelper at
/usr/bin/zl-testhelper, /etc/passwd and /etc/group with root, `app`
(1000:1000) and `nobody`, config Cmd ["/bin/sh"], WorkingDir "/", Env PATH,
no Entrypoint. One layer, written with python tarfile into an OCI layout
(testimages.OciLayout) under the tag "latest".

`build(workdir)` returns a TestImage; the runtime contract suite and the
start/density benchmarks share it. Standard library only.
"""
import io
import os
import pathlib
import tarfile

from testimages import BUSYBOX, OciLayout, entry, tar_bytes

TAG = "latest"
NAME = "zl-test:latest"
HELPER_IN_IMAGE = "/usr/bin/zl-testhelper"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
APPLETS = [
    "sh", "ash", "ls", "cat", "echo", "true", "false", "sleep", "env", "id", "mkdir", "rm", "touch", "ps",
    "kill", "grep", "wc", "head", "tail", "hostname", "pwd", "mount", "ip", "dd", "yes", "seq", "stat",
    "test", "[", "printf", "readlink", "uname", "whoami", "chmod", "ln", "cp", "mv", "sed", "awk", "df",
    "nproc", "wget", "nc", "date", "sort", "tr", "cut", "xargs", "find", "du", "free", "top", "timeout",
]
PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "app:x:1000:1000:app:/home/app:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:\napp:x:1000:\nnobody:x:65534:\n"
CONFIG = {"Cmd": ["/bin/sh"], "WorkingDir": "/", "Env": [PATH_ENV]}


def default_helper_path():
    """$ZLAYER_TESTHELPER, else the one built next to $ZLAYER_AGENT (or build/)."""
    explicit = os.environ.get("ZLAYER_TESTHELPER")
    if explicit:
        return pathlib.Path(explicit)
    root = pathlib.Path(__file__).resolve().parents[2]
    agent = pathlib.Path(os.environ.get("ZLAYER_AGENT", str(root / "build" / "zlayer-agent")))
    return agent.parent / "tests" / "helper" / "zl-testhelper"


def rootfs_tar(helper):
    """The image's only layer, uncompressed."""
    entries = []
    for d, mode in (("bin", 0o755), ("usr", 0o755), ("usr/bin", 0o755), ("usr/sbin", 0o755), ("sbin", 0o755),
                    ("etc", 0o755), ("tmp", 0o1777), ("var", 0o755), ("var/tmp", 0o1777), ("run", 0o755),
                    ("proc", 0o555), ("sys", 0o555), ("dev", 0o755), ("root", 0o700), ("home", 0o755)):
        entries.append(entry(d, "dir", mode=mode))
    entries.append(entry("home/app", "dir", mode=0o755, uid=1000, gid=1000))
    entries.append(entry("bin/busybox", data=pathlib.Path(BUSYBOX).read_bytes(), mode=0o755))
    for applet in APPLETS:
        entries.append(entry(f"bin/{applet}", "symlink", target="busybox"))
    entries.append(entry(HELPER_IN_IMAGE.lstrip("/"), data=pathlib.Path(helper).read_bytes(), mode=0o755))
    entries.append(entry("etc/passwd", data=PASSWD.encode()))
    entries.append(entry("etc/group", data=GROUP.encode()))
    entries.append(entry("etc/hostname", data=b"zl-test\n"))
    entries.append(entry("etc/hosts", data=b"127.0.0.1 localhost\n"))
    entries.append(entry("etc/resolv.conf", data=b""))
    return tar_bytes(entries)


class TestImage:
    """What build() made: `layout` (the OCI layout directory), `source`
    (the `zlayer-agent load` argument), `digest` (manifest digest),
    `layer` (the uncompressed layer tar, for a bundle rootfs)."""

    __test__ = False  # not a pytest class

    def __init__(self, layout, digest, layer):
        self.layout = pathlib.Path(layout)
        self.source = f"oci-layout:{self.layout}:{TAG}"
        self.digest = digest
        self.layer = layer
        self.name = NAME

    def extract_rootfs(self, dest):
        """Unpack the image into dest (for a raw runc bundle)."""
        dest = pathlib.Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(self.layer)) as tf:
            tf.extractall(dest, numeric_owner=True)
        return dest


def build(workdir, helper=None):
    """Write the OCI layout WORKDIR/zl-test-layout holding tag "latest"."""
    helper = pathlib.Path(helper or default_helper_path())
    if not os.access(helper, os.X_OK):
        raise FileNotFoundError(f"test helper {helper} not built; run 'make build' or set ZLAYER_TESTHELPER")
    layer = rootfs_tar(helper)
    oci = OciLayout(pathlib.Path(workdir) / "zl-test-layout")
    desc = oci.add_image(TAG, [layer], config=dict(CONFIG))
    return TestImage(oci.path, desc["digest"], layer)
