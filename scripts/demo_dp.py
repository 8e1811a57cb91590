#!/usr/bin/python3
"""The README demo in device-plugin mode (scripts/demo.sh --mode device-plugin): the seed's
mock GPUs served through the kubelet's classic device-plugin API on the simulated control plane,
with real podman containers.

  1. create the 8 mock devices of deploy/examples/mock-gpus.yaml
  2. start the simulated API server, scheduler and kubelet with its device-plugin manager
  3. start hostdev-kubelet-plugin --mode device-plugin with the seed config; the node shows
     hostdev.example.com/gpu: 8 (capacity and allocatable)
  4. print the static CDI spec k8s.hostdev.example.com-gpu.json
  5. two pods with resources.limits hostdev.example.com/gpu 4 and 3: the kubelet calls
     GetPreferredAllocation and Allocate; print what each container sees, the node's
     capacity/allocatable and the one device left
  6. delete the pods; tear everything down

Run as root: /usr/bin/python3 scripts/demo.py --build-dir build --mode device-plugin
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from demo import CDI_ROOT, CONFIG, DRIVER, NODE, MockDevices, say, wait_for

from cluster import SimCluster

RESOURCE = DRIVER + "/gpu"
SPEC = os.path.join(CDI_ROOT, "k8s.%s-gpu.json" % DRIVER)


def node_gpus(client):
    st = client.get("/api/v1/nodes/" + NODE).get("status") or {}
    return (st.get("capacity") or {}).get(RESOURCE), (st.get("allocatable") or {}).get(RESOURCE)


def print_node(client, when):
    cap, alloc = node_gpus(client)
    print("node %s %s: capacity %s=%s, allocatable %s=%s" % (NODE, when, RESOURCE, cap,
                                                           RESOURCE, alloc))


def print_spec():
    import json
    with open(SPEC) as f:
        spec = json.load(f)
    print("%s  (cdiVersion %s, kind %s)" % (os.path.basename(SPEC), spec["cdiVersion"],
                                             spec["kind"]))
    for d in spec["devices"]:
        nodes = [n["path"] for n in d["containerEdits"].get("deviceNodes", [])]
        mounts = [m["containerPath"] for m in d["containerEdits"].get("mounts", [])]
        print("    %s: nodes %s mounts %s" % (d["name"], nodes, mounts))
    common = [m["containerPath"] for m in spec.get("containerEdits", {}).get("mounts", [])]
    print("    group-wide mounts: %s" % common)


def create_pods(client):
    for pod, count in (("pod-a", 4), ("pod-b", 3)):
        client.create("/api/v1/namespaces/default/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": "default"},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "ctr", "image": "busybox",
                                     "command": ["/bin/sh", "-c",
                                                 "ls /dev/mock /mock/so /usr/local/bin; "
                                                 "sleep 600"],
                                     "resources": {"limits": {RESOURCE: str(count)}}}]}})
        print("pod/%s created (resources.limits %s: %d)" % (pod, RESOURCE, count))


def show_pods(cluster, client):
    kubelet = cluster.kubelets[NODE]

    def running(pod):
        st = client.get("/api/v1/namespaces/default/pods/" + pod).get("status", {})
        return st.get("phase") == "Running"
    for pod in ("pod-a", "pod-b"):
        wait_for(pod + " running", lambda: running(pod), timeout=60)

    say("5a. Device IDs the kubelet got from GetPreferredAllocation + Allocate")
    used = set()
    for (uid, ctr), res in sorted(kubelet.dp.allocations.items()):
        ids = res.get(RESOURCE, [])
        used.update(ids)
        pod = [p for p in ("pod-a", "pod-b") if client.get(
            "/api/v1/namespaces/default/pods/" + p)["metadata"]["uid"] == uid]
        print("%-6s %s: %s" % (pod[0] if pod else uid, ctr, ", ".join(ids)))
        print("    CDI IDs: %s" % ", ".join("k8s.%s/gpu=%s" % (DRIVER, i) for i in ids))

    say("5b. What each container sees (podman --device <CDI ID>)")
    for pod in ("pod-a", "pod-b"):
        out = wait_for("output of " + pod, lambda: kubelet.container_output(
            "default", pod, "ctr").get("stdout"), timeout=30)
        print("--- %s: ls /dev/mock /mock/so /usr/local/bin" % pod)
        print(out.rstrip())

    say("5c. The node after")
    print_node(client, "after")
    every = sorted(kubelet.dp.endpoints[RESOURCE].devices)
    free = [d for d in every if d not in used]
    print("%d of %d free: %s" % (len(free), len(every), ", ".join(free)))


def run(plugin_bin):
    start = time.monotonic()
    work = tempfile.mkdtemp(prefix="hd-demo-", dir="/tmp")
    devices = MockDevices()
    cluster = plugin = None
    plugin_log = os.path.join(work, "plugin.log")
    ok = False
    try:
        say("1. Creating the 8 mock devices of the seed config")
        devices.create()
        print(subprocess.run(["ls", "-l", "/dev/mock"], capture_output=True, text=True).stdout,
              end="")

        say("2. Starting the simulated API server, scheduler and kubelet (device-plugin manager)")
        cluster = SimCluster(os.path.join(work, "c"), nodes=(NODE,), device_plugins=True,
                             cdi_dir=CDI_ROOT).start()
        client = cluster.client
        dirs = cluster.dirs(NODE)
        print("API server %s, node %s, device plugins in %s" % (cluster.api.url, NODE,
                                                               dirs["device_plugins"]))
        print_node(client, "before the plugin")

        say("3. Starting hostdev-kubelet-plugin --mode device-plugin")
        with open(plugin_log, "w") as log:
            plugin = subprocess.Popen(
                [plugin_bin, "--config", CONFIG, "--driver-name", DRIVER, "--node-name", NODE,
                 "--kubeconfig", cluster.kubeconfig, "--kubelet-registry-dir", dirs["registry"],
                 "--kubelet-plugins-dir", dirs["plugins"], "--cdi-root", CDI_ROOT,
                 "--mode", "device-plugin", "--device-plugins-dir", dirs["device_plugins"]],
                stdout=log, stderr=log)
        wait_for("registration", lambda: node_gpus(client) == ("8", "8"), timeout=20)
        ep = cluster.kubelets[NODE].dp.endpoints[RESOURCE]
        print("registered %s at %s (GetPreferredAllocation offered: %s)" % (
            RESOURCE, ep.endpoint, ep.options.get_preferred_allocation_available))
        print_node(client, "before")

        say("4. The static CDI spec the plugin wrote in " + CDI_ROOT)
        print_spec()

        say("5. Two pods asking for 4 and 3 mock GPUs")
        create_pods(client)
        show_pods(cluster, client)

        say("6. Deleting the pods")
        for pod in ("pod-a", "pod-b"):
            client.delete("/api/v1/namespaces/default/pods/" + pod)
        wait_for("pods gone", lambda: not client.list(
            "/api/v1/namespaces/default/pods")["items"], timeout=60)
        print_node(client, "at the end")
        ok = True
    finally:
        say("Tearing down")
        if plugin:
            plugin.send_signal(signal.SIGTERM)
            try:
                rc = plugin.wait(10)
            except subprocess.TimeoutExpired:
                plugin.kill()
                rc = plugin.wait()
            print("hostdev-kubelet-plugin exited with %d" % rc)
        if cluster:
            if not ok:
                cluster.dump_logs(sys.stdout, tail=40)
            cluster.stop()
        if not ok and os.path.exists(plugin_log):
            print("--- plugin log ---")
            print(open(plugin_log).read()[-4000:])
        if os.path.lexists(SPEC):
            os.unlink(SPEC)
        devices.remove()
        shutil.rmtree(work, ignore_errors=True)
        print("done in %.1f s" % (time.monotonic() - start))
    return 0 if ok else 1
