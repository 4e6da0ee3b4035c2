"""Durability: thousands of vmgatectl mutations while vmgated is killed with
SIGKILL at random moments. Every mutation that reported success must be in
the store afterwards, and the database must be consistent."""

import json
import os
import random
import signal
import sqlite3
import tempfile
import threading
import time

from bridge import Daemon
from vgtest import fail, run_tests

MUTATIONS = int(os.environ.get("VMGATE_DURABILITY_MUTATIONS", "4000"))
TIME_LIMIT = 240  # seconds: the loop stops here whatever the count


def pool_names(d):
    data = json.loads(d.ok("pool", "list", json_out=True))
    items = data if isinstance(data, list) else data.get("pools", [])
    return {p["name"] for p in items}


def test_acknowledged_mutations_survive_sigkill():
    root = tempfile.mkdtemp(prefix="vgdur-")
    seed = int(os.environ.get("VMGATE_DURABILITY_SEED", "0")) or random.randrange(1 << 30)
    print("seed %d" % seed, flush=True)
    rng = random.Random(seed)
    d = Daemon(root)
    d.start()
    lock = threading.Lock()
    acked, removed, uncertain = set(), set(), set()
    counts = {"attempts": 0, "unreachable": 0}
    stop = threading.Event()
    start = time.monotonic()

    def worker(wid):
        wrng = random.Random(seed + wid)
        for i in range(MUTATIONS // 2):
            if stop.is_set() or time.monotonic() - start > TIME_LIMIT:
                return
            with lock:
                live = sorted(acked - removed)
            if live and wrng.random() < 0.2:
                # Deletions too, so that "present" is not the only answer.
                name = wrng.choice(live)
                rc, _, _ = d.ctl("pool", "del", name)
                with lock:
                    if rc == 0:
                        removed.add(name)
                    elif rc != 1:
                        # Cut off: the deletion may or may not have happened.
                        uncertain.add(name)
            name = "w%d-%05d" % (wid, i)
            rc, _, err = d.ctl("pool", "create", name)
            with lock:
                counts["attempts"] += 1
                if rc == 0:
                    acked.add(name)
                elif rc == 3:
                    counts["unreachable"] += 1
                elif rc != 1:
                    counts["bad"] = "pool create %s: exit %d: %s" % (name, rc, err)

    workers = [threading.Thread(target=worker, args=(w,)) for w in (1, 2)]
    for w in workers:
        w.start()
    kills = 0
    try:
        # SIGKILL at random moments while both workers keep mutating.
        while any(w.is_alive() for w in workers):
            time.sleep(rng.uniform(0.05, 0.6))
            if not any(w.is_alive() for w in workers):
                break
            d.stop(signal.SIGKILL)
            kills += 1
            d.start()
        for w in workers:
            w.join()
        if "bad" in counts:
            fail(counts["bad"])
        d.stop(signal.SIGKILL)
        kills += 1
        d.start()
        have = pool_names(d)
        lost = (acked - removed - uncertain) - have
        resurrected = removed & have
        print("attempts %d, acknowledged creates %d, deletes %d, unreachable %d, SIGKILLs %d" %
              (counts["attempts"], len(acked), len(removed), counts["unreachable"], kills),
              flush=True)
        if lost:
            fail("%d acknowledged pools are missing, e.g. %s" % (len(lost), sorted(lost)[:5]))
        if resurrected:
            fail("%d acknowledged deletions came back, e.g. %s" %
                 (len(resurrected), sorted(resurrected)[:5]))
        if kills < 5 or len(acked) < MUTATIONS // 4:
            fail("the run was too small to mean anything (%d kills, %d acked)" %
                 (kills, len(acked)))
        d.stop()
        db = sqlite3.connect(os.path.join(d.state, "vmgate.db"))
        ok = db.execute("PRAGMA integrity_check").fetchone()[0]
        fk = db.execute("PRAGMA foreign_key_check").fetchall()
        db.close()
        if ok != "ok" or fk:
            fail("database inconsistent: integrity %r, foreign keys %r" % (ok, fk[:5]))
    finally:
        stop.set()
        for w in workers:
            w.join()
        if d.proc:
            d.stop(signal.SIGKILL)


if __name__ == "__main__":
    run_tests([test_acknowledged_mutations_survive_sigkill])
