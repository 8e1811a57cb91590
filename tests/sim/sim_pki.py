"""Throw-away PKI for the simulated API server: a CA and a serving certificate for
127.0.0.1/localhost made with the openssl CLI, plus atomic file writes for credentials."""

import os
import shutil
import subprocess
import tempfile
import threading

_CERT_CACHE = {}
_CERT_LOCK = threading.Lock()


def make_certs(d):
    """CA + serving cert for 127.0.0.1/localhost, made once per process with the openssl CLI
    (EC P-256) and copied into d."""
    with _CERT_LOCK:
        src = _CERT_CACHE.get("dir")
        if src is None or not os.path.exists(os.path.join(src, "server.key")):
            src = tempfile.mkdtemp(prefix="hostdev-sim-pki-")
            _make_certs(src)
            _CERT_CACHE["dir"] = src
    os.makedirs(d, exist_ok=True)
    for n in ("ca.key", "ca.crt", "server.key", "server.crt"):
        shutil.copyfile(os.path.join(src, n), os.path.join(d, n))
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


