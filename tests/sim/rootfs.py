"""A minimal container root filesystem for podman --rootfs: Debian busybox-static plus applets.

build_rootfs(cache_dir=None) -> path; built once per cache dir and reused by every later call.
The default dir is keyed by the busybox binary's size+mtime and lives in the build dir when the
tests run ($HOSTDEV_BUILD_DIR, so a test run leaves nothing in /tmp), else under /tmp (the demo).
"""

import os
import shutil
import subprocess
import tempfile
import threading

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "ls", "cat", "echo", "env", "stat", "sleep", "test", "true", "false", "grep",
           "sort", "head", "tail", "wc", "id", "printf", "mknod", "dd", "od", "hexdump", "tr",
           "cut", "find", "readlink", "mount", "ps", "kill", "date", "uname", "touch", "rm",
           "mkdir"]
_lock = threading.Lock()


def _applets():
    try:
        out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, timeout=10).stdout
        names = [n for n in out.split() if n and "/" not in n]
        if names:
            return names
    except (OSError, subprocess.SubprocessError):
        pass
    return APPLETS


def build_rootfs(cache_dir=None):
    if not os.path.exists(BUSYBOX):
        raise RuntimeError(f"{BUSYBOX} missing: apt-get install busybox-static")
    st = os.stat(BUSYBOX)
    if cache_dir is None:
        cache_dir = os.path.join(os.environ.get("HOSTDEV_BUILD_DIR") or tempfile.gettempdir(),
                                 f"hdsim-rootfs-v2-{os.getuid()}-{st.st_size}-{int(st.st_mtime)}")
    with _lock:
        if os.path.exists(os.path.join(cache_dir, ".complete")):
            return cache_dir
        tmp = tempfile.mkdtemp(prefix=".rootfs-", dir=os.path.dirname(os.path.abspath(cache_dir)))
        try:
            for d in ("bin", "dev", "proc", "sys", "tmp", "etc", "run", "var", "root"):
                os.makedirs(os.path.join(tmp, d), exist_ok=True)
            os.chmod(os.path.join(tmp, "tmp"), 0o1777)
            shutil.copy2(BUSYBOX, os.path.join(tmp, "bin", "busybox"))
            for a in _applets():
                p = os.path.join(tmp, "bin", a)
                if not os.path.lexists(p):
                    os.symlink("busybox", p)
            with open(os.path.join(tmp, "etc", "passwd"), "w") as f:
                f.write("root:x:0:0:root:/root:/bin/sh\n")
            with open(os.path.join(tmp, "etc", "group"), "w") as f:
                f.write("root:x:0:\n")
            open(os.path.join(tmp, ".complete"), "w").close()
            try:
                os.rename(tmp, cache_dir)
            except OSError:  # somebody else won the race
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cache_dir


if __name__ == "__main__":
    print(build_rootfs())
