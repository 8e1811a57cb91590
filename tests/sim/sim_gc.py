"""Garbage collection by ownerReferences, in the background like kube-controller-manager's
garbage collector (a real server answers the owner's DELETE first; dependents go shortly after).

- An object whose owners are all absent is deleted (propagation Background, precondition on its
  uid, finalizers respected). "Absent" means: no object with the referenced uid exists and the
  referenced apiVersion/kind is served (an owner of a kind the server does not know is left
  alone, as the real collector cannot resolve it either). This also catches an object written
  with an owner that is already gone (the controller's ledger racing its Node's deletion).
- An object with some owners left loses only the references to the absent ones.
- An owner deleted with propagationPolicy=Orphan leaves its dependents, minus the reference.
- Foreground deletion (owner waits for blocking dependents) is not simulated: it behaves like
  Background.

The store calls on_change (under its lock) for every committed write; that only updates an
owner-uid index and queues work, the GC thread does the writes.
"""

import queue
import threading
import time

import sim_errors as E

MANAGER = "kube-controller-manager"


class GarbageCollector:
    def __init__(self, store, kind_served, log=None):
        """kind_served(api_version, kind) -> bool."""
        self.store = store
        self.kind_served = kind_served
        self.log = log or (lambda msg: None)
        self.dependents = {}          # owner uid -> {(store_key, ns, name, dependent uid)}
        self.q = queue.Queue()
        self._stop = threading.Event()
        self._thread = None
        self._pending = 0             # queued and not yet handled (under _plock)
        self._plock = threading.Lock()
        store.on_change.append(self._on_change)
        store.background_gc = True

    # -- under the store lock ----------------------------------------------------------------
    def _on_change(self, rt, etype, obj, old):
        if old is not None:
            self._index_rt(rt, old, add=False)
        if etype != "DELETED":
            self._index_rt(rt, obj, add=True)
            if obj["metadata"].get("ownerReferences"):
                self._put(("check", rt.store_key, obj["metadata"].get("namespace", ""),
                            obj["metadata"]["name"], obj["metadata"].get("uid")))
        else:
            uid = obj["metadata"].get("uid")
            if uid in self.dependents:
                self._put(("owner-gone", uid))

    def _put(self, item):
        with self._plock:
            self._pending += 1
        self.q.put(item)

    def _index_rt(self, rt, obj, add):
        md = obj["metadata"]
        entry = (rt.store_key, md.get("namespace", "") or "", md["name"], md.get("uid"))
        for r in md.get("ownerReferences") or []:
            uid = r.get("uid")
            if not uid:
                continue
            if add:
                self.dependents.setdefault(uid, set()).add(entry)
            else:
                s = self.dependents.get(uid)
                if s is not None:
                    s.discard(entry)
                    if not s:
                        del self.dependents[uid]

    # -- the collector thread --------------------------------------------------------------
    def start(self):
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="apiserver-sim-gc")
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def wait_idle(self, timeout=5.0):
        """True once every queued owner deletion and owner check has been handled."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._plock:
                if self._pending == 0:
                    return True
            time.sleep(0.01)
        return False

    def _run(self):
        while not self._stop.is_set():
            try:
                item = self.q.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                if item[0] == "owner-gone":
                    self._owner_gone(item[1])
                else:
                    self._check(*item[1:])
            except Exception as e:  # noqa: BLE001 - the collector must keep running
                self.log(f"gc: {item!r} failed: {e!r}")
            with self._plock:
                self._pending -= 1

    def _owner_gone(self, uid):
        with self.store.lock:
            orphan = uid in self.store.orphaned_uids
            self.store.orphaned_uids.discard(uid)
            deps = sorted(self.dependents.get(uid, ()))
        for skey, ns, name, dep_uid in deps:
            self._check(skey, ns, name, dep_uid, orphaned=uid if orphan else None)

    def _absent(self, ref):
        return ref.get("uid") not in self.store.uids and \
            self.kind_served(ref.get("apiVersion", ""), ref.get("kind", ""))

    def _check(self, skey, ns, name, uid, orphaned=None):
        st = self.store
        with st.lock:
            rt = st.types.get(skey)
            obj = st.objects.get(skey, {}).get((ns or "", name))
            if rt is None or obj is None or obj["metadata"].get("uid") != uid:
                return
            refs = obj["metadata"].get("ownerReferences") or []
            keep = [r for r in refs if r.get("uid") != orphaned and not self._absent(r)]
            if len(keep) == len(refs):
                return
            try:
                if keep or orphaned:
                    st.patch(rt, ns, name, "merge", {"metadata": {
                        "ownerReferences": keep or None}}, manager=MANAGER,
                        api_version=rt.api_version(rt.versions[0]))
                    self.log(f"gc: {skey} {ns}/{name}: dropped {len(refs) - len(keep)} owner "
                             f"reference(s)")
                else:
                    st.delete(rt, ns, name, {"propagationPolicy": "Background",
                                             "preconditions": {"uid": uid}})
                    self.log(f"gc: {skey} {ns}/{name}: deleted (owners gone)")
            except E.ApiException as e:
                self.log(f"gc: {skey} {ns}/{name}: {e.body.get('message')}")
