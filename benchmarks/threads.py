"""OpenMP's wait policy on a shared machine: training steps and a pose search with threads that spin or sleep.

Each measurement is a fresh process (the policy is read when torch loads OpenMP) running the same work with
`--threads` threads: one epoch of the trainer on `--n` simulated images at band limit 12 (small matrix products:
where waiting threads matter most), and `search` of 64 images against the map. Three settings: OMP_WAIT_POLICY unset (libgomp's default: idle threads
spin a while before sleeping), PASSIVE (they sleep at once: what `import cryodrgn2` sets), and one thread.
With `--load K`, K busy processes run meanwhile (another user's job on the same cores). Runs alternate; medians.

    python benchmarks/threads.py [--load 0 2] [--runs 3] [--n 240]
"""
import argparse, json, multiprocessing, os, subprocess, sys, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = r'''
import os, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
from cryodrgn2.simulate import simulate, phantom
from cryodrgn2.data import prepare_particles
from cryodrgn2.models import HartleyMLP
from cryodrgn2.train import Learner
from cryodrgn2.imaging import VoxelModel
from cryodrgn2.pose import search
from functools import partial
vol = phantom(64)
imgs, plan = simulate(vol, int(sys.argv[2]), snr=0.1, seed=0)
data = prepare_particles(imgs, plan.ctf_params)
learn = Learner(partial(HartleyMLP, 64, 256, 3), data, band_limit=12)
start = time.perf_counter(); learn.fit(1); train = time.perf_counter() - start
start = time.perf_counter(); search(VoxelModel(vol), imgs[:64], plan.ctf_params[:64], contrast=-1); pose = time.perf_counter() - start
print(f'{train} {pose}')
'''


def burn(stop):
    "A busy process: another user's job on the same cores."
    x = 0
    while not stop.is_set(): x += 1


def measure(policy, threads, n):
    "Seconds of the training epoch and of the search, in a fresh process."
    env = {k: v for k, v in os.environ.items() if k != 'OMP_WAIT_POLICY'}
    env.update(PYTHONPATH=str(ROOT), **({'OMP_WAIT_POLICY': policy} if policy else {}))
    # `import torch` comes first in WORK, so the policy is the environment's, not cryodrgn2's default
    out = subprocess.run([sys.executable, '-c', WORK, str(threads), str(n)], env=env, capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()[-2:]]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--load', type=int, nargs='*', default=[0, 2], help='busy processes running meanwhile (one measurement per value)')
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--n', type=int, default=240, help='images in the training epoch')
    a = p.parse_args()
    settings = [('', a.threads), ('PASSIVE', a.threads), ('PASSIVE', 1)]
    report = dict(load_average_at_start=os.getloadavg(), cpu_count=os.cpu_count(), rows=[])
    for load in a.load:
        stop = multiprocessing.Event()
        burners = [multiprocessing.Process(target=burn, args=(stop,)) for _ in range(load)]
        for b in burners: b.start()
        try:
            times = {s: [] for s in settings}
            for _ in range(a.runs):
                for s in settings: times[s].append(measure(*s, a.n))
        finally:
            stop.set()
            for b in burners: b.join()
        for (policy, threads), t in times.items():
            t = np.array(t)
            row = dict(load=load, policy=policy or 'unset', threads=threads, train_s=float(np.median(t[:, 0])), search_s=float(np.median(t[:, 1])),
                       train_all=t[:, 0].tolist(), search_all=t[:, 1].tolist())
            report['rows'].append(row)
            print(f"load {load}: {policy or 'unset':7s} {threads} thread(s): training epoch {row['train_s']:.2f} s, search {row['search_s']:.2f} s", flush=True)
    out = ROOT / 'benchmarks' / 'results' / 'threads.json'
    out.parent.mkdir(exist_ok=True); out.write_text(json.dumps(report, indent=2))
    print('\n| busy processes | OMP_WAIT_POLICY | threads | training epoch (s) | search of 64 images (s) |\n|---|---|---|---|---|')
    for r in report['rows']: print(f"| {r['load']} | {r['policy']} | {r['threads']} | {r['train_s']:.2f} | {r['search_s']:.2f} |")
    print(f'wrote {out}')


if __name__ == '__main__': main()
