#!/usr/bin/python3
"""The README demo: the whole DRA flow of hostdev-kubelet-plugin on the simulated control plane
with the seed's mock devices and real podman containers.

  1. create the 8 mock devices of deploy/examples/mock-gpus.yaml (/dev/mock/device_0..7, their
     /mock/so/device_N.so libraries and /mock/bin/list_device.sh)
  2. start the simulated API server, scheduler and kubelet (tests/sim)
  3. start hostdev-kubelet-plugin with the seed config
  3b. install the HostDeviceLedger CRD (crds/) and start hostdev-controller
  4. apply a DeviceClass and two pods using ResourceClaimTemplates for 4 and 3 mock GPUs: the
     objects of deploy/overlays/examples/mock-gpus, which installs the same on a cluster
  5. print the ResourceSlices, the claims (as kubectl prints them) and their allocations, the
     CDI spec files, the CDI device IDs the plugin returned and what each container sees, then
     the one device left free and the controller's ledger (kubectl get hostdeviceledgers)
  6. delete the pods and show the specs gone and the ledger all free; tear everything down

The plugin's and the controller's logs are kept (their paths are printed). Bold headings only on
a terminal, and never with NO_COLOR set.

Run as root: /usr/bin/python3 scripts/demo.py --build-dir build
"""
import argparse
import glob
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import yaml

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))

from cluster import SimCluster  # noqa: E402

DRIVER = "hostdev.example.com"
NODE = "demo-node"
CDI_ROOT = "/var/run/cdi"
CONFIG = os.path.join(SRC, "deploy", "examples", "mock-gpus.yaml")
EXAMPLE = os.path.join(SRC, "deploy", "overlays", "examples", "mock-gpus")


# Bold headings on a terminal only; NO_COLOR (https://no-color.org) turns them off.
COLOR = sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def say(title):
    if COLOR:
        print("\n\033[1m== %s\033[0m" % title, flush=True)
    else:
        print("\n== %s" % title, flush=True)


def print_claims(cluster, client):
    """The claims as `kubectl get resourceclaims` prints them (NAME, STATE, AGE)."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        r = subprocess.run([kubectl, "--kubeconfig", cluster.kubeconfig, "get", "resourceclaims",
                            "-n", "default"], capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            print("$ kubectl get resourceclaims -n default")
            print(r.stdout, end="")
            return
        print("(kubectl failed: %s)" % r.stderr.strip())
    else:
        print("(kubectl is not installed; the same columns:)")
    print("%-24s %-20s %s" % ("NAME", "STATE", "AGE"))
    for c in client.list("/apis/resource.k8s.io/v1/namespaces/default/resourceclaims")["items"]:
        st = c.get("status") or {}
        state = "allocated,reserved" if st.get("reservedFor") else (
            "allocated" if st.get("allocation") else "pending")
        print("%-24s %-20s %s" % (c["metadata"]["name"], state, "-"))


def wait_for(what, cond, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise TimeoutError("timed out waiting for " + what)


class MockDevices:
    """The seed's mock devices, created for real and removed afterwards (only what we made)."""

    def __init__(self):
        self.created = []

    def _mkdir(self, path):
        if not os.path.isdir(path):
            os.makedirs(path)
            self.created.append(path)

    def create(self):
        self._mkdir("/dev/mock")
        self._mkdir("/mock/so")
        self._mkdir("/mock/bin")
        for i in range(8):
            node = "/dev/mock/device_%d" % i
            if not os.path.exists(node):
                os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
                self.created.append(node)
            lib = "/mock/so/device_%d.so" % i
            if not os.path.exists(lib):
                with open(lib, "w") as f:
                    f.write("mock library for device %d\n" % i)
                self.created.append(lib)
        script = "/mock/bin/list_device.sh"
        if not os.path.exists(script):
            with open(script, "w") as f:
                f.write("#!/bin/sh\nls /dev/mock\n")
            os.chmod(script, 0o755)
            self.created.append(script)

    def remove(self):
        for path in reversed(self.created):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.unlink(path)
        for d in ("/mock",):
            if os.path.isdir(d) and not os.listdir(d):
                os.rmdir(d)


def our_slices(client):
    items = client.list("/apis/resource.k8s.io/v1/resourceslices")["items"]
    return [s for s in items if s["spec"]["driver"] == DRIVER and s["spec"].get("nodeName") == NODE]


def example_objects(kind):
    """The objects of KIND of the seed scenario as deploy/overlays/examples/mock-gpus has them
    (the DeviceClass, the two ResourceClaimTemplates, the two pods): the demo applies those."""
    found = []
    for name in ("deviceclass.yaml", "resourceclaimtemplates.yaml", "pods.yaml"):
        with open(os.path.join(EXAMPLE, name)) as f:
            found += [d for d in yaml.safe_load_all(f) if d and d["kind"] == kind]
    return found


def print_slices(client):
    print("%-36s %-10s %-20s %-4s %s" % ("NAME", "NODE", "DRIVER", "GEN", "DEVICES"))
    for s in our_slices(client):
        devs = s["spec"]["devices"]
        print("%-36s %-10s %-20s %-4s %d: %s" % (
            s["metadata"]["name"], s["spec"]["nodeName"], s["spec"]["driver"],
            s["spec"]["pool"]["generation"], len(devs), ", ".join(d["name"] for d in devs)))
    dev = our_slices(client)[0]["spec"]["devices"][0]
    print("attributes of %s: %s" % (dev["name"], json.dumps(dev["attributes"], sort_keys=True)))


LEDGERS = "/apis/hostdev.example.com/v1alpha1/hostdeviceledgers"


def ledger_totals(client):
    st = (client.get("%s/%s" % (LEDGERS, NODE)) if client.exists("%s/%s" % (LEDGERS, NODE))
          else {}).get("status") or {}
    return st.get("total"), st.get("allocated"), st.get("free")


def print_ledger(client, kubeconfig, want):
    """Wait until the ledger says WANT (total, allocated, free), then print it like kubectl
    get does (with kubectl when it is installed)."""
    wait_for("ledger %s" % (want,), lambda: ledger_totals(client) == want, timeout=30)
    print("ledger %s: total %d, allocated %d, free %d" % ((NODE,) + want))
    if shutil.which("kubectl"):
        r = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "hostdeviceledgers"],
                           capture_output=True, text=True)
        print((r.stdout + r.stderr).rstrip())


def start_controller(build_dir, cluster, log_path):
    with open(os.path.join(SRC, "crds", "hostdeviceledgers.yaml")) as f:
        cluster.client.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                              yaml.safe_load(f))
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [os.path.join(build_dir, "cmd", "hostdev-controller"), "--kubeconfig",
             cluster.kubeconfig, "--driver-name", DRIVER, "--leader-elect=false"],
            stdout=log, stderr=log)


def stop_process(name, proc):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    print("%s exited with %d" % (name, rc))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(SRC, "build"))
    ap.add_argument("--log-dir", help="where the plugin's log is kept (default BUILD_DIR/demo)")
    ap.add_argument("--mode", choices=("dra", "device-plugin"), default="dra",
                    help="device-plugin: the same devices through the device-plugin API "
                         "(scripts/demo_dp.py)")
    args = ap.parse_args()
    plugin_bin = os.path.join(os.path.abspath(args.build_dir), "cmd",
                              "hostdev-kubelet-plugin")
    if not os.access(plugin_bin, os.X_OK):
        sys.exit("demo: %s is not built" % plugin_bin)
    if os.geteuid() != 0:
        sys.exit("demo: must run as root (it creates device nodes and runs podman)")
    if args.mode == "device-plugin":
        import demo_dp
        return demo_dp.run(plugin_bin)

    start = time.monotonic()
    work = tempfile.mkdtemp(prefix="hd-demo-", dir="/tmp")
    devices = MockDevices()
    cluster = plugin = controller = None
    log_dir = os.path.abspath(args.log_dir or os.path.join(args.build_dir, "demo"))
    os.makedirs(log_dir, exist_ok=True)
    plugin_log = os.path.join(log_dir, "plugin.log")
    controller_log = os.path.join(log_dir, "controller.log")
    ok = False
    try:
        say("1. Creating the 8 mock devices of the seed config")
        devices.create()
        print(subprocess.run(["ls", "-l", "/dev/mock"], capture_output=True, text=True).stdout,
              end="")

        say("2. Starting the simulated API server, scheduler and kubelet (tests/sim)")
        cluster = SimCluster(os.path.join(work, "c"), nodes=(NODE,), device_plugins=False,
                             cdi_dir=CDI_ROOT).start()
        client = cluster.client
        dirs = cluster.dirs(NODE)
        print("API server %s, node %s" % (cluster.api.url, NODE))

        say("3. Starting hostdev-kubelet-plugin with deploy/examples/mock-gpus.yaml")
        with open(plugin_log, "w") as log:
            plugin = subprocess.Popen(
                [plugin_bin, "--config", CONFIG, "--driver-name", DRIVER, "--node-name", NODE,
                 "--kubeconfig", cluster.kubeconfig, "--kubelet-registry-dir", dirs["registry"],
                 "--kubelet-plugins-dir", dirs["plugins"], "--cdi-root", CDI_ROOT],
                stdout=log, stderr=log)
        print("plugin log: %s" % plugin_log)
        cluster.kubelets[NODE].wait_registered(DRIVER, timeout=20)
        print("registered with the kubelet; ResourceSlices:")
        wait_for("slices", lambda: our_slices(client))
        print_slices(client)

        say("3b. Installing the HostDeviceLedger CRD and starting hostdev-controller")
        controller = start_controller(os.path.abspath(args.build_dir), cluster, controller_log)
        print("crds/hostdeviceledgers.yaml applied; hostdev-controller pid %d" % controller.pid)

        say("4. Applying a DeviceClass and two pods (4 and 3 mock GPUs) from "
            "deploy/overlays/examples/mock-gpus")
        for dc in example_objects("DeviceClass"):
            client.create("/apis/resource.k8s.io/v1/deviceclasses", dc)
        for t in example_objects("ResourceClaimTemplate"):
            client.create("/apis/resource.k8s.io/v1/namespaces/%s/resourceclaimtemplates"
                          % t["metadata"]["namespace"], t)
        for p in example_objects("Pod"):
            client.create("/api/v1/namespaces/%s/pods" % p["metadata"]["namespace"], p)
            print("pod/%s created (claim from template %s)" % (
                p["metadata"]["name"], p["spec"]["resourceClaims"][0]["resourceClaimTemplateName"]))

        def running(pod):
            st = client.get("/api/v1/namespaces/default/pods/" + pod).get("status", {})
            return st.get("phase") == "Running"
        for pod in ("pod-a", "pod-b"):
            wait_for(pod + " running", lambda: running(pod), timeout=60)

        say("5a. The claims and their allocations")
        print_claims(cluster, client)
        print()
        claims = client.list("/apis/resource.k8s.io/v1/namespaces/default/resourceclaims")["items"]
        allocated = set()
        for c in sorted(claims, key=lambda c: c["metadata"]["name"]):
            res = c["status"]["allocation"]["devices"]["results"]
            allocated.update(r["device"] for r in res)
            print("%-24s uid=%s reservedFor=%s" % (c["metadata"]["name"], c["metadata"]["uid"],
                                                  [r["name"] for r in c["status"]["reservedFor"]]))
            print("    " + ", ".join("%s/%s" % (r["pool"], r["device"]) for r in res))

        say("5b. The CDI spec files the plugin wrote (one per claim) in " + CDI_ROOT)
        specs = sorted(glob.glob(os.path.join(CDI_ROOT, "k8s.%s-claim_*.json" % DRIVER)))
        for path in specs:
            with open(path) as f:
                spec = json.load(f)
            print("%s  (cdiVersion %s, kind %s)" % (os.path.basename(path), spec["cdiVersion"],
                                                     spec["kind"]))
            for d in spec["devices"]:
                nodes = [n["path"] for n in d["containerEdits"].get("deviceNodes", [])]
                mounts = [m["containerPath"] for m in d["containerEdits"].get("mounts", [])]
                print("    %s: nodes %s mounts %s" % (d["name"], nodes, mounts))
            common = [m["containerPath"] for m in spec.get("containerEdits", {}).get("mounts", [])]
            print("    claim-wide mounts: %s" % common)

        say("5c. What each container sees (podman, with the CDI IDs from NodePrepareResources)")
        prepared = cluster.kubelets[NODE].prepared_claims()
        for c in sorted(claims, key=lambda c: c["metadata"]["name"]):
            devs = (prepared.get(c["metadata"]["uid"]) or {}).get("drivers", {}).get(DRIVER, [])
            print("CDI device IDs for %s:" % c["metadata"]["name"])
            for d in devs:
                for cdi_id in d["cdi_device_ids"]:
                    print("    %s" % cdi_id)
        for pod in ("pod-a", "pod-b"):
            out = wait_for("output of " + pod, lambda: cluster.kubelets[NODE].container_output(
                "default", pod, "ctr").get("stdout"), timeout=30)
            print("--- %s: ls /dev/mock /mock/so /usr/local/bin" % pod)
            print(out.rstrip())

        say("5d. Devices still free on %s" % NODE)
        every = [d["name"] for s in our_slices(client) for d in s["spec"]["devices"]]
        free = [d for d in every if d not in allocated]
        print("%d of %d free: %s" % (len(free), len(every), ", ".join(free)))

        say("5e. The controller's ledger: kubectl get hostdeviceledgers")
        print_ledger(client, cluster.kubeconfig, (8, 7, 1))

        say("6. Deleting the pods")
        for pod in ("pod-a", "pod-b"):
            client.delete("/api/v1/namespaces/default/pods/" + pod)
        wait_for("specs removed", lambda: not glob.glob(
            os.path.join(CDI_ROOT, "k8s.%s-claim_*.json" % DRIVER)), timeout=60)
        print("CDI specs of %s left in %s: none" % (DRIVER, CDI_ROOT))
        print_ledger(client, cluster.kubeconfig, (8, 0, 8))
        ok = True
    finally:
        say("Tearing down")
        if controller:
            stop_process("hostdev-controller", controller)
        if plugin:
            stop_process("hostdev-kubelet-plugin", plugin)
        if cluster:
            if not ok:
                cluster.dump_logs(sys.stdout, tail=40)
            cluster.stop()
        if not ok and os.path.exists(plugin_log):
            print("--- end of the plugin log ---")
            print(open(plugin_log).read()[-4000:])
        if os.path.exists(plugin_log):
            print("hostdev-kubelet-plugin log kept at %s" % plugin_log)
        if not ok and os.path.exists(controller_log):
            print("--- end of the controller log ---")
            print(open(controller_log).read()[-4000:])
        if os.path.exists(controller_log):
            print("hostdev-controller log kept at %s" % controller_log)
        for path in glob.glob(os.path.join(CDI_ROOT, "k8s.%s-claim_*.json" % DRIVER)):
            os.unlink(path)
        devices.remove()
        shutil.rmtree(work, ignore_errors=True)
        print("done in %.1f s" % (time.monotonic() - start))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
