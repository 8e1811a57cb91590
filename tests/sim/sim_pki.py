"""Throw-away PKI for the simulated API server: a CA and a serving certificate for
127.0.0.1/localhost made with the openssl CLI, plus atomic file writes for credentials."""

import os
import shutil
import subprocess
import threading

_CERT_CACHE = {}
_CERT_LOCK = threading.Lock()


NAMES = ("ca.key", "ca.crt", "server.key", "server.crt")


def make_certs(d):
    """CA + serving cert for 127.0.0.1/localhost in d, made with the openssl CLI (EC P-256).
    Made once per process where possible: a later call copies them from the first directory
    that still has them. The certificates live only in the callers' directories (no temp dir
    of our own, so nothing is left behind when a caller removes its directory)."""
    os.makedirs(d, exist_ok=True)
    with _CERT_LOCK:
        src = _CERT_CACHE.get("dir")
        copied = False
        if src is not None and os.path.realpath(src) != os.path.realpath(d):
            try:
                for n in NAMES:
                    shutil.copyfile(os.path.join(src, n), os.path.join(d, n))
                copied = True
            except OSError:  # its owner removed it meanwhile
                pass
        if not copied:
            _make_certs(d)
            _CERT_CACHE["dir"] = d
    for n in NAMES:
        os.chmod(os.path.join(d, n), 0o600 if n.endswith(".key") else 0o644)
    return os.path.join(d, "ca.crt"), os.path.join(d, "server.crt"), os.path.join(d, "server.key")


def _make_certs(d):
    os.makedirs(d, exist_ok=True)
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(d, "server.ext")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", ca_key, "-out", ca_crt, "-days", "3", "-subj", "/CN=hostdev-sim-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=kube-apiserver")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "3", "-extfile", ext)
    return ca_crt, crt, key


def atomic_write(path, text, mode=0o600):
    tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


