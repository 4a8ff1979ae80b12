#!/usr/bin/python3
"""Crash safety of checkpoints (checkpoint_crash_test.sh), two subcommands.

  checkpoint_crash.py kill OUT LAUNCHER_PID SEED [--need-complete]
      Waits until the job in OUT trains, then a random delay (seeded), then
      for a checkpoint write in progress (a shard's temporary file
      shard-<i>.safetensors.tmp.<pid>, or the newest step-N directory without
      its manifest.json), and SIGKILLs one server (the one writing, or a
      random one); after another random delay of 0 to 0.3 s SIGKILLs the
      launcher and every process of processes.txt, and waits until they are
      gone. With --need-complete it arms only once a complete checkpoint
      exists. Prints one JSON line: killed, in_progress (a checkpoint was
      being written at the kill), torn_write (the killed server's temporary
      file was left), seen_complete (a manifest.json existed before the
      kill), ended (the job ended before any kill).

  checkpoint_crash.py check OUT KEEP
      Every OUT/checkpoints/step-N that has a manifest.json must be complete:
      the manifest parses, lists one shard per server, and every listed file
      has the listed size and zlib CRC-32. And the last KEEP checkpoints the
      coordinator logged as taken ("checkpoint (R) at global step N: DIR")
      must be there, complete: a crash loses no checkpoint once announced.
      Exit 1 naming the first torn or lost one.
      Prints one JSON line: complete, incomplete (step dirs without a
      manifest), newest_complete.
"""
import json
import os
import random
import re
import signal
import sys
import time
import zlib


def processes(out):
    """[(name, pid)] of OUT/processes.txt, as far as it is written."""
    found = []
    try:
        with open(os.path.join(out, "processes.txt")) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and not parts[0].startswith("#") and parts[1].isdigit():
                    found.append((parts[0], int(parts[1])))
    except OSError:
        pass
    return found


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def step_dirs(root):
    try:
        names = [n for n in os.listdir(root) if n.startswith("step-") and n[5:].isdigit()]
    except OSError:
        return []
    return sorted(names, key=lambda n: int(n[5:]))


def snapshot(root):
    """(temporary files [(dir, name)], newest dir lacks manifest, any manifest)."""
    temps, any_manifest, newest_open = [], False, False
    dirs = step_dirs(root)
    for d in dirs:
        try:
            names = os.listdir(os.path.join(root, d))
        except OSError:
            continue
        temps += [(d, n) for n in names if ".tmp." in n]
        if "manifest.json" in names:
            any_manifest = True
        elif d == dirs[-1]:
            newest_open = True
    return temps, newest_open, any_manifest


def kill(out, launcher, seed, need_complete):
    rng = random.Random(seed)
    root = os.path.join(out, "checkpoints")
    result = {"seed": seed, "killed": None, "in_progress": False, "torn_write": False,
              "seen_complete": False, "ended": False}
    deadline = time.time() + 120
    # Training: every worker registered (the job is RUNNING) and a first
    # checkpoint directory exists.
    while not (any(n == "worker/1" for n, _ in processes(out)) and step_dirs(root)):
        if not alive(launcher) or time.time() > deadline:
            result["ended"] = True
            break
        time.sleep(0.002)
    armed_at = time.time() + rng.uniform(0, 1.0)
    while not result["ended"]:
        if not alive(launcher) or time.time() > deadline:
            result["ended"] = True
            break
        temps, newest_open, any_manifest = snapshot(root)
        result["seen_complete"] |= any_manifest
        ready = time.time() >= armed_at and (any_manifest or not need_complete)
        if ready and (temps or newest_open):
            servers = [(n, p) for n, p in processes(out) if n.startswith("server/")]
            writing = [p for _, n in temps for p in [int(n.rsplit(".", 1)[1])]
                       if n.startswith("shard-") and n.rsplit(".", 1)[1].isdigit()]
            writing = [p for p in writing if any(p == q for _, q in servers)]
            if writing and rng.random() < 0.5:
                pid = rng.choice(writing)
            else:
                pid = rng.choice(servers)[1]
            os.kill(pid, signal.SIGKILL)
            result["killed"] = [n for n, p in servers if p == pid][0]
            result["in_progress"] = True
            after, _, _ = snapshot(root)
            result["torn_write"] = any(n.endswith(".tmp.%d" % pid) for _, n in after)
            break
        time.sleep(0.0005)
    time.sleep(rng.uniform(0, 0.3))
    everyone = [launcher] + [p for _, p in processes(out)]
    for pid in everyone:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    while any(alive(p) for p in everyone):
        time.sleep(0.01)
    print(json.dumps(result))


def file_problem(directory, entry):
    name = entry.get("name", "")
    if not name or "/" in name:
        return "bad file name %r" % name
    path = os.path.join(directory, name)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "%s: missing (%s)" % (path, e)
    if len(data) != int(entry.get("bytes", 0)):
        return "%s: %d bytes, the manifest lists %s" % (path, len(data), entry.get("bytes"))
    if zlib.crc32(data) != int(entry.get("crc32", 0)):
        return "%s: CRC-32 %d, the manifest lists %s" % (path, zlib.crc32(data), entry.get("crc32"))
    return None


def announced(out):
    """The checkpoint directories the coordinator logged as taken, in order."""
    dirs = []
    try:
        with open(os.path.join(out, "logs", "coordinator.log"), errors="replace") as f:
            for line in f:
                m = re.search(r"checkpoint \(\w+\) at global step \d+: (\S+), \d+ bytes", line)
                if m:
                    dirs.append(m.group(1))
    except OSError:
        pass
    return dirs


def check(out, keep):
    root = os.path.join(out, "checkpoints")
    complete, incomplete, newest, done = 0, 0, None, set()
    for d in step_dirs(root):
        directory = os.path.join(root, d)
        manifest_path = os.path.join(directory, "manifest.json")
        if not os.path.exists(manifest_path):
            incomplete += 1
            continue
        try:
            with open(manifest_path) as f:
                manifest = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit("TORN: %s does not parse: %s" % (manifest_path, e))
        servers = int(manifest.get("config", {}).get("cluster", {}).get("num_servers", 0))
        shards = manifest.get("shards", [])
        if len(shards) != servers or sorted(int(s.get("shard", 0)) for s in shards) != list(range(servers)):
            sys.exit("TORN: %s lists shards %s of %d servers" %
                     (manifest_path, [s.get("shard") for s in shards], servers))
        files = [s.get("file", {}) for s in shards]
        if manifest.get("best", {}).get("name"):
            files.append(manifest["best"])
        for entry in files:
            problem = file_problem(directory, entry)
            if problem:
                sys.exit("TORN: %s is taken for complete but %s" % (manifest_path, problem))
        complete += 1
        newest = directory
        done.add(d)
    for directory in announced(out)[-keep:]:
        if os.path.basename(directory.rstrip("/")) not in done:
            sys.exit("LOST: the coordinator logged %s as taken; it is not there complete"
                     " (checkpoints: %s)" % (directory, step_dirs(root)))
    print(json.dumps({"complete": complete, "incomplete": incomplete, "newest_complete": newest}))


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "kill":
        kill(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), "--need-complete" in sys.argv)
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
