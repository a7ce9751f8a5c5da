#!/usr/bin/env python3
"""crashtest: send a load of messages to a posthorn instance while killing
its processes with SIGKILL at random, then check that every message that
got a 250 was delivered (lost must be 0), count duplicates, and look for
orphaned queue files.

    crashtest.py --conf DIR --queue DIR --maildir DIR --port N
                 [--messages 2000] [--clients 4] [--kill-every 0.3]
                 [--settle 60] [--master PATH]

The instance must deliver RCPT (default alice@localhost) into --maildir.
When the master itself is killed, this restarts it (--master) after its
children are gone, as an init system would.  Prints one JSON line of
figures; exits 1 when a message was lost or a queue file was orphaned.
"""
import argparse, glob, json, os, random, signal, smtplib, subprocess
import sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--conf", required=True)
ap.add_argument("--queue", required=True)
ap.add_argument("--maildir", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--rcpt", default="alice@localhost")
ap.add_argument("--messages", type=int, default=2000)
ap.add_argument("--clients", type=int, default=4)
ap.add_argument("--kill-every", type=float, default=0.3)
ap.add_argument("--settle", type=float, default=60)
ap.add_argument("--master")
ap.add_argument("--log", default=os.devnull)
ap.add_argument("--seed", type=int, default=None)
a = ap.parse_args()
rnd = random.Random(a.seed)

accepted = {}           # token -> queue ID from the 250
lock = threading.Lock()
counter = iter(range(a.messages))
stop = threading.Event()
stats = {"sent": 0, "accepted": 0, "refused_or_failed": 0, "kills": 0,
         "kills_by_program": {}, "master_restarts": 0}


def pids():
    """{pid: program} of the instance's processes (they name its -c)."""
    out = {}
    for d in glob.glob("/proc/[0-9]*"):
        try:
            argv = open(d + "/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        args = [x.decode(errors="replace") for x in argv if x]
        if "-c" in args and args[args.index("-c") + 1:][:1] == [a.conf] \
                and args[0].startswith("/"):
            out[int(d[6:])] = os.path.basename(args[0])
    return out


def master_alive():
    return any(p == "master" for p in pids().values())


def start_master():
    log = open(a.log, "ab")
    subprocess.Popen([a.master, "-f", "-c", a.conf], stdout=log,
                     stderr=log, start_new_session=True)
    stats["master_restarts"] += 1


def ensure_master():
    if a.master is None or master_alive():
        return
    # An init system restarts the master once its old children are gone.
    for _ in range(200):
        if not pids():
            break
        time.sleep(0.05)
    for p in pids():
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.1)
    start_master()


def client():
    while not stop.is_set():
        with lock:
            n = next(counter, None)
        if n is None:
            return
        token = "crash-%d-%06d" % (os.getpid(), n)
        msg = ("Subject: %s\r\nMessage-ID: <%s@crashtest>\r\n\r\n%s\r\n"
               % (token, token, "line of text\r\n" * rnd.randint(1, 50)))
        for attempt in range(50):
            try:
                with smtplib.SMTP("127.0.0.1", a.port, timeout=30) as s:
                    s.ehlo("crashtest")
                    s.mail("load@example.org")
                    code, _ = s.rcpt(a.rcpt)
                    if code != 250:
                        raise smtplib.SMTPException("rcpt %d" % code)
                    code, reply = s.data(msg)
                    with lock:
                        stats["sent"] += 1
                    if code == 250:
                        qid = reply.decode().split()[-1]
                        with lock:
                            accepted[token] = qid
                            stats["accepted"] += 1
                        break
            except (OSError, smtplib.SMTPException):
                # A QUIT that fails after the 250 (smtpd killed) is no
                # reason to send the message again.
                if token in accepted:
                    break
                with lock:
                    stats["refused_or_failed"] += 1
                time.sleep(0.05)


def killer():
    while not stop.is_set():
        time.sleep(rnd.uniform(0, 2 * a.kill_every))
        ps = pids()
        if not ps:
            ensure_master()
            continue
        # Every program equally often, not the twenty relay agents.
        prog = rnd.choice(sorted(set(ps.values())))
        p = rnd.choice([q for q in ps if ps[q] == prog])
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            continue
        prog = ps[p]
        stats["kills"] += 1
        stats["kills_by_program"][prog] = \
            stats["kills_by_program"].get(prog, 0) + 1
        if prog == "master":
            ensure_master()


ensure_master()
threads = [threading.Thread(target=client) for _ in range(a.clients)]
k = threading.Thread(target=killer)
for t in threads:
    t.start()
k.start()
for t in threads:
    t.join()
stop.set()
k.join()
ensure_master()

# Recovery: every accepted message leaves the queue (delivered).
queue_dirs = ["incoming", "active", "deferred", "hold", "corrupt"]


def queued():
    n = 0
    for d in queue_dirs:
        for root, _, files in os.walk(os.path.join(a.queue, d)):
            n += sum(1 for f in files if not f.startswith("."))
    return n


deadline = time.time() + a.settle
while time.time() < deadline and queued() > 0:
    ensure_master()
    time.sleep(0.2)

seen = {}
for f in glob.glob(os.path.join(a.maildir, "new", "*")) + \
        glob.glob(os.path.join(a.maildir, "cur", "*")):
    with open(f, errors="replace") as fh:
        for line in fh:
            if line.startswith("Subject: crash-"):
                t = line.split()[1]
                seen[t] = seen.get(t, 0) + 1
                break
            if line in ("\n", "\r\n"):
                break
lost = sorted(t for t in accepted if t not in seen)
dups = sum(c - 1 for c in seen.values() if c > 1)
tmp = glob.glob(os.path.join(a.maildir, "tmp", "*"))
result = dict(stats, delivered=len(seen), lost=len(lost),
              lost_ids=[accepted[t] for t in lost][:20], duplicates=dups,
              delivered_without_250=len([t for t in seen if t not in accepted]),
              left_in_queue=queued(), maildir_tmp_leftovers=len(tmp))
print(json.dumps(result))
sys.exit(1 if lost or result["left_in_queue"] else 0)
