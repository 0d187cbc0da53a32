"""Where a whole `cryodrgn2 align` process spends its time (issue 20): import, reading, normalisation, the map's
lattice, the contrast test, the global scale, the base grid, each refinement round, writing.

One fresh process per box size, as a user runs it (`cryodrgn2` imported before torch), on a stack it simulates
(CTF, SNR 0.1; D=64: `hand-vol.mrc`, D=128: a phantom). The pieces are timed by wrapping the functions `align` calls,
so the numbers add up to the whole. Each refinement round also gets its rate in slice points per second against the
trilinear interpolation's own rate on this machine (`sample_slices` alone on 2,048 rotations at that band), and the
base grid its share of the matrix-product limit.

    python benchmarks/align_profile.py [--n 1000] [--D 64 128] [--threads 2]
"""
import argparse, json, os, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = r'''
import sys, time, json
start = time.perf_counter()
import cryodrgn2.pose as P
import cryodrgn2.imaging as imaging_module
import torch
imported = time.perf_counter() - start
torch.set_num_threads(int(sys.argv[3]))
from cryodrgn2.imaging import sample_slices
from cryodrgn2.so3 import grid_size
seconds, rounds, inside = {}, {}, []

def timed(module, name, key=None):
    fn = getattr(module, name)
    def wrapper(*args, **kwargs):
        inside.append(name)
        try: t = time.perf_counter(); out = fn(*args, **kwargs); dt = time.perf_counter() - t
        finally: inside.pop()
        k = key(*args, **kwargs) if key else name + (' in ' + inside[-1] if inside else '')  # a call inside another is its part
        seconds[k] = seconds.get(k, 0.) + dt
        return out
    setattr(module, name, wrapper)

def refine_key(model, cands, coeffs, ctf, bnd, *rest, **kw):
    P_ = len(bnd.index); rounds.setdefault(P_, 0); rounds[P_] += cands.dir_idx.shape[0] * cands.dir_idx.shape[1] * 8
    return f'refine P={P_}'
for module, name in [(P, 'read_inputs'), (P, 'estimate_normalisation'), (P, 'read_mrc'), (imaging_module, 'volume_lattice'), (P, '_contrast'),
                     (P, 'inplane_slices'), (P, 'base_search'), (P, 'write_poses'), (P, 'release_freed_memory')]:
    timed(module, name)
timed(P, 'refine', refine_key)
t = time.perf_counter()
result = P.align(sys.argv[1] + '/particles.mrcs', sys.argv[1] + '/volume.mrc', ctf=sys.argv[1] + '/ctf.pkl',
                 out=sys.argv[2], progress=False, verbose=False)
whole = time.perf_counter() - t
# the trilinear interpolation's own rate at each band (2,048 rotations, the map's lattice)
from cryodrgn2.imaging import VoxelModel
from cryodrgn2.io import read_mrc
from cryodrgn2.shifts import band
from cryodrgn2.geometry import random_rotations
lattice = VoxelModel(read_mrc(sys.argv[1] + '/volume.mrc')[0].float()).lattice
rots = random_rotations(2048, torch.Generator().manual_seed(0))
D = lattice.shape[-1] - 1
peak = {}
for P_ in rounds:
    coords = next(band(D, L).coords for L in range(1, D // 2) if len(band(D, L).index) == P_)
    sample_slices(lattice, rots[:64], coords)
    t = time.perf_counter(); sample_slices(lattice, rots, coords); peak[P_] = 2048 * P_ / (time.perf_counter() - t)
print(json.dumps(dict(import_s=imported, align_s=whole, seconds=seconds, points={k: v for k, v in rounds.items()}, peak_points_per_s=peak)))
'''


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=1000)
    p.add_argument('--D', type=int, nargs='*', default=[64, 128])
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    sys.path.insert(0, str(ROOT))
    from cryodrgn2.io import read_mrc
    from cryodrgn2.simulate import phantom, write_dataset
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': str(a.threads)}
    report = dict(n=a.n, threads=a.threads, load_average_at_start=os.getloadavg(), boxes={})
    for D in a.D:
        folder = Path(tempfile.gettempdir()) / f'cryodrgn2_bench_profile_D{D}_n{a.n}'
        if not (folder / 'particles.mrcs').exists():
            vol = read_mrc(ROOT.parent / 'shared' / 'data' / 'hand-vol.mrc')[0].float() if D == 64 else phantom(D, n_atoms=1600, seed=0)
            write_dataset(folder, vol, a.n, snr=0.1, pixel_size=1.0, seed=5, progress=False, force=True)
        t0 = __import__('time').perf_counter()
        out = subprocess.run([sys.executable, '-c', CHILD, str(folder), str(folder / 'poses_found.pkl'), str(a.threads)],
                             env=env, capture_output=True, text=True, check=True)
        process = __import__('time').perf_counter() - t0
        r = json.loads(out.stdout.strip().splitlines()[-1]); r['process_s'] = process
        report['boxes'][D] = r
        s = r['seconds']
        rows = [('interpreter start, imports', process - r['align_s'], None),
                ('reading the stack and CTF (`read_inputs`)', s.get('read_inputs', 0), None),
                ('normalisation estimate', s.get('estimate_normalisation', 0), None),
                ("the map: read, Hartley lattice", s.get('read_mrc', 0) + s.get('volume_lattice', 0), None),
                ('base slices (in-plane interpolation)', s.get('inplane_slices', 0), None),
                ('contrast test (two base searches of 64 images)', s.get('_contrast', 0), None),
                ('base grid, all batches (with the global-scale batch)', s.get('base_search', 0), None)]
        for P_ in sorted(r['points'], key=int):
            t = s[f'refine P={P_}']
            rate = r['points'][P_] * int(P_) / t
            rows.append((f'refinement round, {P_} band points', t, f"{rate / 1e6:.0f} M points/s = {rate / r['peak_points_per_s'][P_]:.2f} of interpolation alone"))
        rows.append(('writing poses', s.get('write_poses', 0), None))
        rows.append(('returning freed memory (`release_freed_memory`)', s.get('release_freed_memory', 0), None))
        accounted = sum(row[1] for row in rows)
        rows.append(('other (batch reads, FFTs, CTF, bookkeeping)', process - accounted, None))
        print(f'\nD={D}, {a.n} images: whole process {process:.1f} s ({a.n / process:.1f} images/s)\n')
        print('| part | seconds | share | note |\n|---|---|---|---|')
        for name, t, note in rows: print(f'| {name} | {t:.2f} | {t / process:.0%} | {note or ""} |')
        report['boxes'][D]['table'] = [dict(part=n, seconds=t, note=note) for n, t, note in rows]
    out = ROOT / 'benchmarks' / 'results' / 'align_profile.json'
    out.parent.mkdir(exist_ok=True); out.write_text(json.dumps(report, indent=2))
    print(f'\nwrote {out}')


if __name__ == '__main__': main()
