"""Start-up cost as users feel it: whole processes, median of several runs.

    python benchmarks/import_time.py [--runs 5] [--source DIR]

--source times another copy of the package (e.g. an earlier commit: `git archive COMMIT cryodrgn2 | tar -x -C DIR`),
bypassing the editable install.

Times `python -c "import torch"` (the floor: every command that computes needs torch), `python -c "import cryodrgn2.pose"`
(what `align` and every job pay before work) and `cryodrgn2 --help`.
"""
import argparse, statistics, subprocess, sys, time

def seconds(cmd:list[str], runs:int)->list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter(); subprocess.run(cmd, check=True, capture_output=True); out.append(time.perf_counter() - start)
    return out

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runs', type=int, default=5); ap.add_argument('--source', help='folder holding another cryodrgn2/ to time')
    args = ap.parse_args()
    first = '' if args.source is None else (f"import sys; sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
                                            f"sys.path.insert(0, {args.source!r}); ")
    for name, code in [('import torch', 'import torch'), ('import cryodrgn2.pose', 'import cryodrgn2.pose'),
                       ('cryodrgn2 --help', "import sys; sys.argv = ['cryodrgn2', '--help']; from cryodrgn2.cli import main; main()")]:
        runs, cmd = args.runs, [sys.executable, '-c', first + code + '\nimport cryodrgn2; assert cryodrgn2.__file__']
        t = seconds(cmd, runs)
        if name == 'import cryodrgn2.pose':
            where = subprocess.run([sys.executable, '-c', first + 'import cryodrgn2.pose, sys; print(cryodrgn2.__file__, "healpy" in sys.modules)'],
                                   capture_output=True, text=True).stdout.strip()
            print(f'package: {where.split()[0]}, healpy imported: {where.split()[1]}')
        print(f'{name:24s} median {statistics.median(t):.2f} s over {runs} runs (min {min(t):.2f}, max {max(t):.2f})')
