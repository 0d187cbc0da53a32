"""Downsampling in bounded memory: peak resident memory of `cryodrgn2.preprocess.downsample` on a stack twice its budget.

A stack of N images of D x D float32 (default 512 of 256 x 256: 128 MiB) is written to disk and downsampled to D/2
with `max_memory` = 64 MiB in a fresh process. That process records its resident memory after the imports (the
baseline: Python, torch, numpy) and, sampled every 5 ms during the run, its anonymous memory (RssAnon: the arrays)
and its file-backed memory (RssFile: pages of the memory-mapped output, clean after each batch's flush, which the
kernel may drop). The peak VmHWM - baseline is what the run itself added. The output is checked against a direct
Fourier crop of a few images, and cryoDRGN's `downsample` (when installed) is measured the same way, with its default
batch of 5,000 images and with a batch of the same size as ours.

    python benchmarks/downsample.py [--n 512] [--D 256] [--budget-mb 64] [--threads 2] [--workdir DIR]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile
from pathlib import Path

CHILD = r'''
import json, sys, threading, time, torch
torch.set_num_threads(int(sys.argv[4]))
from cryodrgn2.preprocess import downsample, batch_for_memory

def status():
    fields = dict(line.split(':', 1) for line in open('/proc/self/status') if ':' in line)
    return {k: int(fields[k].split()[0]) / 1024 for k in ('VmHWM', 'VmRSS', 'RssAnon', 'RssFile')}

baseline = status()
peak = dict(baseline)
done = threading.Event()
def sample():
    while not done.is_set():
        now = status()
        for k in ('RssAnon', 'RssFile', 'VmRSS'): peak[k] = max(peak[k], now[k])
        time.sleep(0.005)
thread = threading.Thread(target=sample); thread.start()
start = time.perf_counter()
budget = int(float(sys.argv[3]) * 2**20)
result = downsample(sys.argv[1], sys.argv[2], int(sys.argv[5]), max_memory=budget)
seconds = time.perf_counter() - start
done.set(); thread.join()
end = status()
print(json.dumps(dict(seconds=seconds, batch_size=batch_for_memory(result.D, budget), baseline_mb=baseline['VmRSS'],
                      peak_rss_mb=end['VmHWM'], added_peak_mb=end['VmHWM'] - baseline['VmRSS'],
                      peak_anon_mb=peak['RssAnon'], added_peak_anon_mb=peak['RssAnon'] - baseline['RssAnon'],
                      peak_file_mb=peak['RssFile'], added_peak_file_mb=peak['RssFile'] - baseline['RssFile'])))
'''

REF_CHILD = r'''
import argparse, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from cryodrgn.commands import downsample
fields = dict(line.split(':', 1) for line in open('/proc/self/status') if ':' in line)
baseline = int(fields['VmRSS'].split()[0]) / 1024
parser = argparse.ArgumentParser(); downsample.add_args(parser)
downsample.main(parser.parse_args(sys.argv[2:]))
fields = dict(line.split(':', 1) for line in open('/proc/self/status') if ':' in line)
print(baseline, int(fields['VmHWM'].split()[0]) / 1024)
'''


def write_stack(path: Path, n: int, D: int, seed: int = 0):
    "N images of random noise (the content does not matter for memory), written in chunks."
    import numpy as np
    from cryodrgn2.io import open_stack_for_writing
    rng = np.random.default_rng(seed)
    with open_stack_for_writing(path, n, D, pixel_size=1.0) as data:
        for start in range(0, n, 64): data[start:start + 64] = rng.standard_normal((min(64, n - start), D, D), dtype=np.float32)


def run_reference(args, stack: Path, out: Path, batch: int):
    "cryoDRGN's downsample in a fresh process: (baseline MB, peak MB)."
    cmd = [sys.executable, '-c', REF_CHILD, str(args.threads), str(stack), '-D', str(args.D // 2), '-o', str(out), '-b', str(batch)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    baseline, peak = map(float, done.stdout.split()[-2:])
    return baseline, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--n', type=int, default=512)
    parser.add_argument('--D', type=int, default=256)
    parser.add_argument('--budget-mb', type=float, default=64)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--workdir', type=Path)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix='downsample_bench_'))
    work.mkdir(parents=True, exist_ok=True)
    stack, out = work / 'stack.mrcs', work / 'small.mrcs'
    try:
        write_stack(stack, args.n, args.D)
        done = subprocess.run([sys.executable, '-c', CHILD, str(stack), str(out), str(args.budget_mb), str(args.threads), str(args.D // 2)],
                              capture_output=True, text=True, check=True)
        ours = json.loads(done.stdout.strip().splitlines()[-1])
        import numpy as np, torch
        from cryodrgn2.io import load_particles
        from cryodrgn2.preprocess import fourier_crop
        idx = np.array([0, args.n // 2, args.n - 1])
        expected = fourier_crop(load_particles(stack, invert=False)[idx], args.D // 2)
        got = load_particles(out, invert=False)[idx]
        ours['check_rel_diff'] = float((got - expected).abs().max() / expected.abs().max())
        result = dict(n=args.n, D=args.D, D_new=args.D // 2, stack_mb=stack.stat().st_size / 2**20,
                      output_mb=out.stat().st_size / 2**20, budget_mb=args.budget_mb, threads=args.threads, cryodrgn2=ours)
        if shutil.which('cryodrgn') or Path(sys.executable).with_name('cryodrgn').exists():
            for label, batch in (('cryodrgn_default_batch_5000', 5000), ('cryodrgn_same_batch', ours['batch_size'])):
                baseline, peak = run_reference(args, stack, work / f'ref_{batch}.mrcs', batch)
                result[label] = dict(batch_size=batch, baseline_mb=baseline, peak_rss_mb=peak, added_peak_mb=peak - baseline)
    finally:
        if args.workdir is None: shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))
    results = Path(__file__).resolve().parent / 'results'
    results.mkdir(exist_ok=True)
    (results / 'downsample.json').write_text(json.dumps(result, indent=1))


if __name__ == '__main__':
    main()
