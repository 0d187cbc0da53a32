"""Time and peak memory of `cryodrgn2 simulate` (2,000 images with CTF at D=64 and D=128).

Each run is a fresh subprocess writing a dataset to a temporary folder; we report the median wall time
of several runs and the peak resident memory of the process. Target (issue 2): under 30 s at D=128 on 2 cores.

    python benchmarks/simulate.py [--runs 3] [--n 2000]
"""
import argparse, json, statistics, subprocess, sys, tempfile, time
from pathlib import Path

CHILD = r'''
import resource, sys, time, torch
from cryodrgn2.simulate import phantom, write_dataset
D, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0 = time.perf_counter()
vol = phantom(D)
write_dataset(out, vol, n, snr=0.1, pixel_size=3.0 * 64 / D, progress=False)
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
'''

def run_once(D, n):
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, '-c', CHILD, str(D), str(n), f'{tmp}/sim'], capture_output=True, text=True, check=True)
    seconds, peak_mb = map(float, out.stdout.split())
    return seconds, peak_mb

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--n', type=int, default=2000)
    args = ap.parse_args()
    import torch
    rows = []
    for D in (64, 128):
        runs = [run_once(D, args.n) for _ in range(args.runs)]
        row = dict(D=D, n=args.n, median_s=statistics.median(r[0] for r in runs), peak_rss_mb=max(r[1] for r in runs),
                   images_per_s=args.n / statistics.median(r[0] for r in runs), runs_s=[round(r[0], 2) for r in runs])
        rows.append(row)
        print(f"D={D:4d}  n={args.n}  median {row['median_s']:.1f} s ({row['images_per_s']:.0f} images/s)  "
              f"peak RSS {row['peak_rss_mb']:.0f} MB  runs {row['runs_s']}  threads {torch.get_num_threads()}")
    out = Path(__file__).parent / 'results'; out.mkdir(exist_ok=True)
    (out / 'simulate.json').write_text(json.dumps(rows, indent=1))

if __name__ == '__main__': main()
