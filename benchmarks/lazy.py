"""Issue 7: training on a dataset larger than we want in memory. In memory vs read from disk (`lazy=True`).

A stack of N images of D x D (default 50,000 of 128 x 128: 3.3 GB) is written to disk. For each mode a fresh process
loads it (`cryodrgn2.jobs.load_data(..., lazy=False|True)`) and runs two epochs of the ab initio trainer: epoch 0
searches every image's pose and trains, epoch 1 only trains. Reported per mode: load time, search-and-train epoch,
train-only epoch, and the process's peak resident memory (VmHWM).

The model and search are deliberately small (a 2 x 64 network, band limit 8, a 30-degree grid without refinement) so
the time is dominated by moving images, not by arithmetic: the worst case for reading from disk. The stack is in the
page cache for both modes (it was just written), as it is for any dataset that fits in the machine's memory; a
dataset that does not fit in memory has no in-memory mode to compare with.

    python benchmarks/lazy.py [--n 50000] [--D 128] [--threads 2] [--workdir DIR] [--quick]
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

CHILD = r'''
import json, sys, time, torch
from functools import partial
torch.set_num_threads(int(sys.argv[3]))
from cryodrgn2.jobs import load_data
from cryodrgn2.train import Learner, PoseSearchCallback, PrefetchCallback
from cryodrgn2.models import HartleyMLP
start = time.perf_counter()
data = load_data(sys.argv[1], lazy=sys.argv[2] == 'lazy')
load_seconds = time.perf_counter() - start
search = PoseSearchCallback(every=5, start=0, warmup=1, chunk=256, l_min=8, base_level=1, iters=0, t_ngrid=3, t_extent=2., scale=1.0)
learn = Learner(partial(HartleyMLP, data.D, hidden=64, layers=2), data, cbs=[search, PrefetchCallback()], batch_size=32, band_limit=8, seed=0, device='cpu')
learn.fit(2)
fields = dict(line.split(':', 1) for line in open('/proc/self/status') if ':' in line)
print(json.dumps(dict(mode=sys.argv[2], load_seconds=load_seconds, search_and_train_epoch_seconds=learn.history[0]['seconds'],
                      train_epoch_seconds=learn.history[1]['seconds'], peak_rss_mb=int(fields['VmHWM'].split()[0]) / 1024,
                      losses=[r['loss'] for r in learn.history])))
'''


def write_stack(path: Path, n: int, D: int, seed: int = 0):
    "N images of smooth random blobs plus noise, written in chunks (the content does not matter for timing)."
    import numpy as np, torch
    from cryodrgn2.io import open_stack_for_writing
    from cryodrgn2.simulate import phantom
    from cryodrgn2.imaging import volume_lattice, form_images
    from cryodrgn2.geometry import random_rotations
    gen = torch.Generator().manual_seed(seed)
    lattice = volume_lattice(phantom(D, seed=seed))
    with open_stack_for_writing(path, n, D, pixel_size=2.0) as out:
        for start in range(0, n, 1000):
            m = min(1000, n - start)
            imgs = form_images(lattice, random_rotations(m, gen))
            imgs = imgs + torch.randn(imgs.shape, generator=gen) * imgs.std() * 3
            out[start:start + m] = -imgs.numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=50000)
    ap.add_argument('--D', type=int, default=128)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--workdir', default='/tmp/cryodrgn2_bench_lazy')
    ap.add_argument('--quick', action='store_true', help='5,000 images of 64 x 64 (a smoke test)')
    args = ap.parse_args()
    if args.quick: args.n, args.D = 5000, 64
    work = Path(args.workdir); work.mkdir(parents=True, exist_ok=True)
    stack = work / f'particles_{args.n}_{args.D}.mrcs'
    if not stack.exists():
        start = time.perf_counter()
        write_stack(stack, args.n, args.D)
        print(f'wrote {stack} ({stack.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - start:.0f} s', flush=True)
    env = {**os.environ, 'OMP_NUM_THREADS': str(args.threads)}
    results = dict(n=args.n, D=args.D, threads=args.threads, stack_gb=stack.stat().st_size / 1e9, runs=[])
    for mode in ['lazy', 'memory', 'lazy']:  # lazy twice: the first pass also warms the page cache
        out = subprocess.run([sys.executable, '-c', CHILD, str(stack), mode, str(args.threads)], env=env, capture_output=True, text=True)
        if out.returncode: sys.exit(out.stderr[-3000:])
        row = json.loads(out.stdout.strip().splitlines()[-1])
        results['runs'].append(row)
        print(json.dumps(row), flush=True)
    lazy, memory = results['runs'][2], results['runs'][1]
    for key in ['search_and_train_epoch_seconds', 'train_epoch_seconds']:
        results[f'ratio_lazy_over_memory_{key}'] = lazy[key] / memory[key]
    results['ratio_lazy_over_memory_total'] = ((lazy['load_seconds'] + lazy['search_and_train_epoch_seconds'] + lazy['train_epoch_seconds'])
                                               / (memory['load_seconds'] + memory['search_and_train_epoch_seconds'] + memory['train_epoch_seconds']))
    print(f"\n| {args.n} images of {args.D}x{args.D} ({results['stack_gb']:.2f} GB) | in memory | lazy | lazy / memory |")
    print('|---|---|---|---|')
    for key in ['load_seconds', 'search_and_train_epoch_seconds', 'train_epoch_seconds', 'peak_rss_mb']:
        print(f"| {key} | {memory[key]:.1f} | {lazy[key]:.1f} | {lazy[key] / max(memory[key], 1e-9):.2f} |")
    out = Path(__file__).parent / 'results'; out.mkdir(exist_ok=True)
    (out / f'lazy_{args.n}_{args.D}.json').write_text(json.dumps(results, indent=1))


if __name__ == '__main__': main()
