"""Write the reference results of tests/test_unchanged.py into tests/reference/.

Runs the tiny seeded `abinit_homo`, `pose.align` and `abinit_het` of tests/test_unchanged.py (the very same calls,
imported from it) with the code checked out now, in a temporary folder, and stores their poses, z means and losses
in tests/reference/unchanged.npz, with tests/reference/unchanged.json recording the cryodrgn2 commit, torch version
and settings they were made with. Run it at the commit whose results are the reference (before a redesign), then
commit the files; the test compares any later code with them.

    python tools/make_reference.py
"""
import json, platform, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tests'))
sys.path.insert(0, str(ROOT))
import test_unchanged as t


def git(*args)->str:
    return subprocess.run(['git', *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def main():
    torch.set_num_threads(1)
    results, seconds = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in t.RUNS.items():
            start = time.perf_counter()
            results.update(run(tmp))
            seconds[name] = round(time.perf_counter() - start, 1)
            print(f'{name}: {seconds[name]} s', file=sys.stderr)
    out = ROOT / 'tests' / 'reference'
    out.mkdir(parents=True, exist_ok=True)
    # rotations and shifts as written in poses.pkl (float32); losses and z at full precision
    stored = {k: (v.astype(np.float32) if k.endswith(('_rots', '_shifts')) else v) for k, v in results.items()}
    np.savez_compressed(out / 'unchanged.npz', **stored)
    dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'cryodrgn2')
    meta = dict(commit=git('rev-parse', 'HEAD'), cryodrgn2_modified_since_commit=bool(dirty),
                torch=torch.__version__, numpy=np.__version__, python=platform.python_version(), machine=platform.machine(),
                cpu_capability=torch.backends.cpu.get_cpu_capability(), threads=1, seconds=seconds,
                settings=dict(N=t.N, D=t.D, simulate=t.SIM, abinit_homo=t.HOMO, align=t.ALIGN, abinit_het=t.HET),
                arrays={k: list(v.shape) for k, v in stored.items()})
    (out / 'unchanged.json').write_text(json.dumps(meta, indent=1, default=str) + '\n')
    print(f"wrote {out / 'unchanged.npz'} ({(out / 'unchanged.npz').stat().st_size} bytes) and unchanged.json, commit {meta['commit'][:10]}"
          + (' (cryodrgn2/ modified!)' if dirty else ''), file=sys.stderr)


if __name__ == '__main__': main()
