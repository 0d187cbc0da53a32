"""The search's settings at real box sizes (issue 16, item 1), on data made without the inverse crime: how many
refinement rounds, which band each round reads, and how accurately the model is read.

Data as `real_box.py` makes them (a chain of Gaussian atoms projected at 256, Fourier-cropped to 128 by `cryodrgn2
downsample`, then noise at SNR 0.1, CTF from the full-size table; white and pink noise), and a D=64 set Fourier-cropped
once more from the same clean D=128 images (4 A/px). Each variant is `pose.align` against the true map (cropped the same
way) on the first `--n` images, in this process:

- `default`: `SearchConfig()` as shipped (rounds by box: 4 below D=128, 5 from it);
- `rounds4`, `rounds5`: 4 or 5 refinement rounds (final grid level 6, 0.94 deg; level 7, 0.47 deg);
- `tied`: the band of each round tied to its angular step, L_m = min(l_min 2^m, l_max) (the step halves each round, so
  the displacement l_min x step at the band's edge stays that of the base grid), instead of the linear ramp l_min..l_max;
- `oversampled`: the map read from a 2x oversampled lattice (zero-padded to 2D before the transform) instead of 1x.

Median and mean rotation error ||R - R_true||_F^2, share above 0.5, seconds of the whole `align` call (comparable
within one run). Results: benchmarks/results/search_variants.json.

    python benchmarks/search_variants.py [--n 400] [--threads 2] [--workdir DIR] [--variants ...]
"""
import argparse, json, os, sys, time
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / 'benchmarks'))
import cryodrgn2.pose as pose
from cryodrgn2.imaging import VoxelModel, add_noise
from cryodrgn2.io import read_mrc, write_mrc
from cryodrgn2.metrics import rotation_error
from cryodrgn2.noise import named_spectrum
from cryodrgn2.tables import read_poses
from common import run
from real_box import dataset

OUT = ROOT / 'benchmarks' / 'results' / 'search_variants.json'


def tied_schedule(D, l_min, l_max, iters):
    "Band of round m: l_min 2^m, capped at l_max and D/2 - 1."
    return [min(l_min * 2 ** m, l_max, D // 2 - 1) for m in range(iters + 1)]


class OversampledVoxelModel(VoxelModel):
    "A map read from its 2x oversampled Hartley lattice (the same frequencies in cycles/pixel, twice as densely sampled)."
    def __init__(self, vol):
        p = vol.shape[-1] // 2
        super().__init__(F.pad(vol, (p,) * 6))


VARIANTS = {'default': {}, 'rounds4': dict(iters=4), 'rounds5': dict(iters=5), 'tied': dict(iters=4, schedule=tied_schedule),
            'oversampled': dict(iters=4, voxel=OversampledVoxelModel)}


def d64_from(folder128, work, noise, seed=3):
    "The same clean images and map Fourier-cropped to 64 (4 A/px), with fresh noise at 64; the full-size CTF table."
    out = work / f'D64_{noise}'
    if (out / 'particles.mrcs').exists(): return out
    out.mkdir(parents=True, exist_ok=True)
    clean = folder128.parent / folder128.name.replace(f'_{noise}', '_clean')
    for src, dst in ((clean / 'particles.mrcs', out / 'clean.mrcs'), (clean / 'volume.mrc', out / 'volume.mrc')):
        run(['cryodrgn2', 'downsample', str(src), '-D', '64', '-o', str(dst)], dict(os.environ))
    imgs = torch.as_tensor(np.asarray(read_mrc(out / 'clean.mrcs')[0]), dtype=torch.float32)
    write_mrc(out / 'particles.mrcs', add_noise(imgs, 0.1, generator=torch.Generator().manual_seed(seed), spectrum=named_spectrum(noise, 64)), 4.0)
    (out / 'clean.mrcs').unlink()
    for name in ('ctf.pkl', 'poses.pkl'): (out / name).write_bytes((folder128 / name).read_bytes())
    return out


def one(folder, n, variant):
    "Align the first n images of a folder with one variant; errors and seconds."
    v, schedule, voxel = VARIANTS[variant], pose.band_schedule, pose.VoxelModel
    pose.band_schedule, pose.VoxelModel = v.get('schedule', schedule), v.get('voxel', voxel)
    try:
        start = time.perf_counter()
        found = pose.align(str(folder / 'particles.mrcs'), str(folder / 'volume.mrc'), str(folder / 'ctf.pkl'), ind=np.arange(n),
                           progress=False, verbose=False, **({'iters': v['iters']} if 'iters' in v else {}))
        seconds = time.perf_counter() - start
    finally: pose.band_schedule, pose.VoxelModel = schedule, voxel
    err = rotation_error(found.rots, read_poses(folder / 'poses.pkl', found.box)[0][:n])
    return dict(median=err.median, mean=err.mean, wrong=(err.errors > 0.5).float().mean().item(), seconds=seconds)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=400)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--workdir', default='/tmp/cryodrgn2_search_variants')
    p.add_argument('--variants', nargs='*', default=list(VARIANTS))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    work = Path(a.workdir); work.mkdir(parents=True, exist_ok=True)
    sets = {(128, noise): dataset(work, 128, noise, 3000, seed=1) for noise in ('white', 'pink')}
    sets = {(64, 'white'): d64_from(sets[128, 'white'], work, 'white'), **sets}
    rows = []
    for (D, noise), folder in sets.items():
        for variant in a.variants:
            rows.append(dict(D=D, noise=noise, variant=variant, n=a.n, **one(folder, a.n, variant)))
            r = rows[-1]
            print(f"D={D} {noise:5s} {variant:12s} median {r['median']:.3g} mean {r['mean']:.3g} wrong {r['wrong']:.0%} {r['seconds']:.1f} s", flush=True)
            OUT.parent.mkdir(exist_ok=True); OUT.write_text(json.dumps(dict(threads=a.threads, rows=rows), indent=1))
    print('\n| D | noise | variant | median | mean | seconds |\n|---|---|---|---|---|---|')
    for r in rows: print(f"| {r['D']} | {r['noise']} | {r['variant']} | {r['median']:.3g} | {r['mean']:.3g} | {r['seconds']:.1f} |")


if __name__ == '__main__': main()
