# SPDX-License-Identifier: Apache-2.0
"""Crash consistency of hostdev-kubelet-plugin: rounds of kill -9 at random points during bursts
of concurrent NodePrepareResources / NodeUnprepareResources, a restart after each, and the
invariants a kubelet relies on checked after every restart:

  - the checkpoint is readable (parses, checksum right, never moved aside);
  - every CDI spec of the driver belongs to a checkpointed claim and says what the entry says,
    every checkpointed spec exists;
  - no device is held by two claims; no temporary file is left in the state or CDI dir;
  - every claim whose prepare the kubelet saw succeed is still prepared, and preparing it again
    gives the same CDI devices (a loss otherwise); no claim the kubelet unprepared is held.

Half the rounds kill from a timer at a random moment of the burst, half through a failpoint
(HOSTDEV_FAILPOINTS, docs/plugin.md) at a random hit of a random point, including the writes
of the start-up repair itself. HOSTDEV_CRASH_ROUNDS sets the number of rounds (CI: 20;
scripts/crash-rounds.sh: 200), HOSTDEV_CRASH_SEED the random seed (printed)."""
import collections
import glob
import json
import os
import random
import re
import signal
import threading
import time

import grpc

from plugin_env import (CDI_DIR, SLOW, ckpt_checksum, env, protos, sim,  # noqa: F401
                        wait_for)

ROUNDS = int(os.environ.get("HOSTDEV_CRASH_ROUNDS", "20"))
SEED = int(os.environ.get("HOSTDEV_CRASH_SEED", str(random.SystemRandom().randrange(1 << 30))))
NDEV = 8
THREADS = 4

# (failpoint, the hits it may fire on): the checkpoint is written at start-up once (hit 1 of a
# checkpoint write point), so those kill the start-up repair or a prepare/unprepare of the burst.
FAILPOINTS = [
    ("prepare-after-get", 6),
    ("prepare-after-started", 6),
    ("prepare-after-spec", 6),
    ("prepare-after-completed", 6),
    ("unprepare-after-spec-removed", 4),
    ("fileio-temp-written:checkpoint.json", 6),
    ("fileio-before-rename:checkpoint.json", 6),
    ("fileio-after-rename:checkpoint.json", 6),
    ("fileio-temp-written:k8s.*", 6),
    ("fileio-before-rename:k8s.*", 6),
    ("fileio-after-rename:k8s.*", 6),
]


def claim_devices(i):
    """Claims 0..15 take one device each, two claims per device; claims 16..19 take two
    neighbouring devices: many allocations overlap, so the plugin's own bookkeeping is what
    keeps a device from being held twice."""
    if i < 16:
        return ["mock-device-%d" % (i % NDEV)]
    k = 2 * (i - 16)
    return ["mock-device-%d" % k, "mock-device-%d" % (k + 1)]


NCLAIMS = 20


class Claim:
    def __init__(self, ref, devices):
        self.ref = ref
        self.uid = ref[2]
        self.devices = set(devices)
        self.state = "unprepared"  # | prepared | maybe-prepared | unprepare-pending
        self.cdi_ids = None  # when prepared: the CDI IDs the plugin answered
        self.epoch = 0  # bumped on every state change


class Model:
    """The kubelet's view of the claims: what it was told, and what it does not know."""

    def __init__(self, claims):
        self.claims = claims
        self.by_uid = {c.uid: c for c in claims}
        self.lock = threading.Lock()
        self.violations = []
        self.stats = collections.Counter()

    def set(self, c, state, cdi_ids=None):
        c.state = state
        c.cdi_ids = cdi_ids
        c.epoch += 1

    def held_snapshot(self):
        with self.lock:
            return {c.uid: c.epoch for c in self.claims if c.state == "prepared"}

    def check_exclusive(self, c, before):
        """C's prepare just succeeded; claims held during the whole call must not overlap it."""
        with self.lock:
            for uid, epoch in before.items():
                o = self.by_uid[uid]
                if o is not c and o.state == "prepared" and o.epoch == epoch and \
                        o.devices & c.devices:
                    self.violations.append(
                        f"claim {c.uid} prepared {sorted(c.devices)} while {o.uid} held "
                        f"{sorted(o.devices)}")


class Incarnation:
    """One run of the plugin process: a gRPC channel of its own, closed when it dies."""

    def __init__(self, plugin):
        self.plugin = plugin
        self.pb = protos().dra_v1_pb2
        self.channel = grpc.insecure_channel("unix://" + plugin.dra_sock)
        self.stub = protos().dra_v1_pb2_grpc.DRAPluginStub(self.channel)

    def prepare(self, claims, timeout=20.0):
        req = self.pb.NodePrepareResourcesRequest(
            claims=[self.pb.Claim(namespace=n, name=nm, uid=u) for n, nm, u in claims])
        return dict(self.stub.NodePrepareResources(req, timeout=timeout * SLOW).claims)

    def unprepare(self, claims, timeout=20.0):
        req = self.pb.NodeUnprepareResourcesRequest(
            claims=[self.pb.Claim(namespace=n, name=nm, uid=u) for n, nm, u in claims])
        return dict(self.stub.NodeUnprepareResources(req, timeout=timeout * SLOW).claims)

    def close(self):
        self.channel.close()


def ids_of(answer):
    return sorted(i for d in answer.devices for i in d.cdi_device_ids)


def busy_error(err):
    return "already in use" in err


def worker(model, inc, mine, rng, stop):
    """Prepare and unprepare this worker's claims (1-2 per call) until the plugin dies or
    STOP is set. A call cut off by the kill leaves its claims in a "don't know" state."""
    while not stop.is_set():
        group = rng.sample(mine, rng.choice((1, 1, 2)))
        states = {c.state for c in group}
        if states == {"unprepared"}:
            before = model.held_snapshot()
            try:
                ans = inc.prepare([c.ref for c in group])
            except grpc.RpcError:
                with model.lock:
                    for c in group:
                        model.set(c, "maybe-prepared")
                return
            for c in group:
                a = ans.get(c.uid)
                if a is None:
                    model.violations.append(f"prepare answer lacks claim {c.uid}")
                elif a.error == "":
                    with model.lock:
                        model.set(c, "prepared", ids_of(a))
                    model.stats["prepares ok"] += 1
                    model.check_exclusive(c, before)
                elif busy_error(a.error):
                    model.stats["prepares busy"] += 1
                else:
                    model.violations.append(f"prepare {c.uid}: unexpected error {a.error!r}")
        elif states == {"prepared"}:
            if rng.random() < 0.2:  # the kubelet may ask again: same answer
                try:
                    ans = inc.prepare([c.ref for c in group])
                except grpc.RpcError:
                    return  # still prepared: a repeat changes nothing
                for c in group:
                    a = ans.get(c.uid)
                    if a is None or a.error or ids_of(a) != c.cdi_ids:
                        model.violations.append(f"repeated prepare of {c.uid} answered "
                                                f"{a and (a.error or ids_of(a))}, not {c.cdi_ids}")
                continue
            with model.lock:
                for c in group:
                    model.set(c, "unprepare-pending")
            try:
                ans = inc.unprepare([c.ref for c in group])
            except grpc.RpcError:
                return
            for c in group:
                a = ans.get(c.uid)
                if a is None or a.error:
                    model.violations.append(f"unprepare {c.uid}: {a and a.error!r}")
                    continue
                with model.lock:
                    model.set(c, "unprepared")
                model.stats["unprepares ok"] += 1
        # mixed groups are skipped: a pod's claims move together


def temp_files(plugin, driver):
    found = [f for f in os.listdir(plugin.state_dir) if f.endswith(".tmp")]
    found += [os.path.basename(f) for f in glob.glob(os.path.join(CDI_DIR, f".k8s.{driver}-*"))]
    return found


def check_disk(model, plugin, driver, where):
    """The on-disk invariants after a restart; appends to model.violations."""
    v = []
    aside = glob.glob(plugin.checkpoint + ".corrupt-*")
    if aside:
        v.append(f"checkpoint moved aside: {aside}")
    if "checkpoint unreadable" in plugin.log(since_start=True):
        v.append("plugin logged an unreadable checkpoint")
    try:
        doc = plugin.read_checkpoint()
    except (OSError, ValueError) as e:
        model.violations.append(f"{where}: checkpoint unreadable: {e}")
        return None
    if doc.get("checksum") != ckpt_checksum(doc["data"]):
        v.append("checkpoint checksum mismatch")
    entries = {e["uid"]: e for e in doc["data"]["claims"]}
    holders = collections.defaultdict(list)
    for uid, e in entries.items():
        if e["state"] != "PrepareCompleted":
            v.append(f"entry {uid} is {e['state']} after start-up")
        for d in e["devices"]:
            holders[d["device"]].append(uid)
    for dev, uids in holders.items():
        if len(uids) > 1:
            v.append(f"device {dev} held by {uids}")
    tmp = temp_files(plugin, driver)
    if tmp:
        v.append(f"temporary files left: {tmp}")
    specs = {os.path.basename(f) for f in glob.glob(os.path.join(CDI_DIR, f"k8s.{driver}-*.json"))}
    want = {e["specFile"] for e in entries.values() if e.get("specFile")}
    if specs - want:
        v.append(f"CDI specs without a checkpointed claim: {sorted(specs - want)}")
    if want - specs:
        v.append(f"checkpointed claims without their CDI spec: {sorted(want - specs)}")
    for e in entries.values():
        if e.get("specFile") in specs:
            with open(os.path.join(CDI_DIR, e["specFile"])) as f:
                spec = json.load(f)
            names = sorted(spec["kind"] + "=" + d["name"] for d in spec["devices"])
            ids = sorted(i for d in e["devices"] for i in d["cdiIDs"])
            if names != ids:
                v.append(f"spec of {e['uid']} lists {names}, checkpoint {ids}")
    for c in model.claims:
        e = entries.get(c.uid)
        if c.state == "prepared":
            got = e and sorted(i for d in e["devices"] for i in d["cdiIDs"])
            if got != c.cdi_ids:
                model.stats["lost"] += 1
                v.append(f"LOSS: prepared claim {c.uid} {c.cdi_ids} is {got} in the checkpoint")
        elif c.state == "unprepared" and e is not None:
            model.stats["leaked"] += 1
            v.append(f"claim {c.uid} unprepared by the kubelet is still held")
    model.violations.extend(f"{where}: {x}" for x in v)
    return entries


def settle(model, inc, rng):
    """What the kubelet does after the restart: prepare again every claim it holds (same
    devices), retry or give up the prepares it does not know the end of, retry unprepares."""
    held = [c for c in model.claims if c.state == "prepared"]
    if held:
        ans = inc.prepare([c.ref for c in held])
        for c in held:
            a = ans[c.uid]
            if a.error or ids_of(a) != c.cdi_ids:
                model.stats["lost"] += 1
                model.violations.append(f"LOSS: re-sent prepare of {c.uid} answered "
                                        f"{a.error or ids_of(a)}, not {c.cdi_ids}")
        model.stats["re-sent prepares"] += len(held)
    for c in [c for c in model.claims if c.state in ("maybe-prepared", "unprepare-pending")]:
        if c.state == "maybe-prepared" and rng.random() < 0.5:
            a = inc.prepare([c.ref])[c.uid]
            if a.error == "":
                model.set(c, "prepared", ids_of(a))
                continue
            # busy is right only if the holder it names may hold the device: the kubelet
            # has not unprepared it (it may be another claim whose prepare was cut off)
            m = re.search(r"\(uid ([0-9a-f-]+)\)", a.error)
            holder = m and model.by_uid.get(m.group(1))
            if not (busy_error(a.error) and holder and holder.state != "unprepared" and
                    holder.devices & c.devices):
                model.violations.append(f"retried prepare of {c.uid}: {a.error!r}")
        a = inc.unprepare([c.ref])[c.uid]
        if a.error:
            model.violations.append(f"unprepare of {c.uid} after restart: {a.error!r}")
        model.set(c, "unprepared")


def start(plugin, failpoints):
    """Start the plugin; True once it serves, False if a failpoint killed it in start-up."""
    if failpoints:
        os.environ["HOSTDEV_FAILPOINTS"] = failpoints
    try:
        plugin.start(wait=False)
    finally:
        os.environ.pop("HOSTDEV_FAILPOINTS", None)

    def up():
        if plugin.proc.poll() is not None:
            return "exited"
        return '"plugin started"' in plugin.log(since_start=True) and "up"
    return wait_for(up, timeout=20 * SLOW, what="plugin started") == "up"


def test_kill9_rounds_keep_checkpoint_specs_and_devices_consistent(env):
    rng = random.Random(SEED)
    print(f"crash consistency: seed {SEED}, {ROUNDS} rounds, {NCLAIMS} claims, "
          f"{THREADS} threads")
    env.device_class()
    model = Model([Claim(env.ref(env.allocated_claim(f"c{i}", claim_devices(i))),
                         claim_devices(i)) for i in range(NCLAIMS)])
    p = env.start_plugin()
    kills = collections.Counter()
    t0 = time.time()
    for rnd in range(ROUNDS):
        where = f"round {rnd}"
        fp = None
        if rnd % 2 == 1:
            point, hits = rng.choice(FAILPOINTS)
            fp = f"{point}=kill@{rng.randint(1, hits)}"
        if fp or not p.running():
            p.stop(signal.SIGKILL)  # idle: restart it with the failpoint armed
        if (fp or not p.running()) and not start(p, fp):
            # killed by a checkpoint-write failpoint during the start-up repair
            assert p.proc.wait(5) == -signal.SIGKILL, p.log(since_start=True)
            kills["failpoint in start-up: " + fp.split("=")[0]] += 1
            assert start(p, None)
            check_disk(model, p, env.driver, where + " (start-up killed)")
            p.stop(signal.SIGKILL)
            assert start(p, None)
        inc = Incarnation(p)
        stop = threading.Event()
        mine = [model.claims[i::THREADS] for i in range(THREADS)]
        ts = [threading.Thread(target=worker, args=(model, inc, mine[k],
                                                    random.Random(rng.random()), stop))
              for k in range(THREADS)]
        for t in ts:
            t.start()
        fired = False
        if fp:
            try:
                wait_for(lambda: p.proc.poll() is not None, timeout=3 * SLOW, what=fp)
                kills["failpoint: " + fp.split("=")[0]] += 1
                fired = True
            except TimeoutError:
                kills["failpoint not reached, timer"] += 1
        else:
            time.sleep(rng.uniform(0.01, 0.4) * SLOW)
            kills["timer"] += 1
        rc, _ = p.stop(signal.SIGKILL)
        assert rc == -signal.SIGKILL, (rc, p.log(since_start=True)[-3000:])
        stop.set()
        for t in ts:
            t.join(60)
            assert not t.is_alive()
        inc.close()
        if fired:
            assert "failpoint fired" in p.log(since_start=True), p.log(since_start=True)[-3000:]

        assert start(p, None)
        inc = Incarnation(p)
        check_disk(model, p, env.driver, where)
        settle(model, inc, rng)
        entries = check_disk(model, p, env.driver, where + " after settling")
        if entries is not None:
            held = {c.uid for c in model.claims if c.state == "prepared"}
            if set(entries) != held:
                model.violations.append(f"{where}: checkpoint holds {sorted(entries)}, the "
                                        f"kubelet {sorted(held)}")
        inc.close()
        if model.violations:
            break
    took = time.time() - t0
    s = model.stats
    print(f"crash consistency: rounds {rnd + 1}, claims {NCLAIMS}, prepares ok "
          f"{s['prepares ok']}, busy {s['prepares busy']}, unprepares ok {s['unprepares ok']}, "
          f"re-sent prepares {s['re-sent prepares']}, lost {s['lost']}, leaked {s['leaked']}, "
          f"violations {len(model.violations)}, {took:.1f} s")
    for k, n in sorted(kills.items()):
        print(f"crash consistency:   kill {k}: {n}")
    assert not model.violations, "\n".join(model.violations[:20])
    assert s["prepares ok"] >= ROUNDS, s  # the bursts did work
    # leave nothing behind: the kubelet gives every claim back
    inc = Incarnation(p)
    held = [c.ref for c in model.claims if c.state == "prepared"]
    if held:
        assert all(a.error == "" for a in inc.unprepare(held).values())
    inc.close()
    assert p.read_checkpoint()["data"]["claims"] == []
    assert env.cdi_files() == []
