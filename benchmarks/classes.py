"""Ab initio classification (`abinit_homo(classes=2)`, nbs/12b_classes) on two unrelated phantoms, with and without
the balanced first searches.

Two phantoms (seeds 0 and 1: different chains in the same ellipsoid), 50/50, `--n` images of `--box` pixels, SNR
`--snr`, CTF, shifts; `abinit_homo` with its defaults and `classes=2`, run once with `class_balance_searches` 2 (the
default: the search epochs 1 and 2 split each chunk evenly) and once with 0 (free assignment from the start).
Reports the class accuracy (the better of the two labellings), the median rotation error of each state's images
(each state aligned on its own), the class sizes after every epoch, and the wall time.

    python benchmarks/classes.py [--n 1000] [--box 32] [--snr 0.5] [--threads 2]

Results go to benchmarks/results/classes.json.
"""
import argparse, json, os, sys
from pathlib import Path
from common import run

RUN = r'''
import sys, json, pickle, time, torch, numpy as np
from pathlib import Path
torch.set_num_threads(int(sys.argv[4]))
from cryodrgn2.jobs import abinit_homo
from cryodrgn2.tables import read_poses
from cryodrgn2.metrics import rotation_error
data, out, balance = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
start = time.perf_counter()
learn = abinit_homo(data / 'particles.mrcs', data / 'ctf.pkl', out, classes=2, class_balance_searches=balance, force=True, progress=False)
seconds = time.perf_counter() - start
with open(data / 'states.pkl', 'rb') as f: states = torch.as_tensor(np.asarray(pickle.load(f)))
found = learn.per_image['classes']
true = read_poses(data / 'poses.pkl', learn.data.D)[0]
print(json.dumps(dict(balance_searches=balance, seconds=seconds,
                      class_accuracy=max((found == states).float().mean().item(), (found != states).float().mean().item()),
                      median_rotation_error_by_state=[rotation_error(learn.rots[states == s], true[states == s]).median for s in (0, 1)],
                      class_sizes=[r['class_sizes'] for r in learn.history])))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=1000)
    ap.add_argument('--box', type=int, default=32)
    ap.add_argument('--snr', type=float, default=0.5)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--workdir', type=Path, default=Path('/tmp/bench_classes'))
    args = ap.parse_args()
    env = {**os.environ, 'OMP_NUM_THREADS': str(args.threads), 'MKL_NUM_THREADS': str(args.threads)}
    data = args.workdir / f'two_phantoms_{args.box}_{args.n}'
    if not (data / 'particles.mrcs').exists():
        code = ('import sys; from cryodrgn2.simulate import phantom, write_dataset; D = int(sys.argv[2]); '
                'write_dataset(sys.argv[1], [phantom(D, seed=0), phantom(D, seed=1)], int(sys.argv[3]), snr=float(sys.argv[4]), '
                'pixel_size=3.0 * 64 / D, progress=False)')
        run([sys.executable, '-c', code, str(data), str(args.box), str(args.n), str(args.snr)], env)
    results = dict(n=args.n, box=args.box, snr=args.snr, threads=args.threads, runs=[])
    for balance in (2, 0):
        out, _ = run([sys.executable, '-c', RUN, str(data), str(args.workdir / f'run_balance{balance}'), str(balance), str(args.threads)], env)
        results['runs'].append(json.loads(out.strip().splitlines()[-1]))
        print(results['runs'][-1], flush=True)
    path = Path(__file__).parent / 'results' / 'classes.json'
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=1))


if __name__ == '__main__':
    main()
