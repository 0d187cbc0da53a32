"""Backprojection at known poses against cryoDRGN 4.3.1's `backproject_voxel`, and the cost of the gold-standard FSC.

1. `hand-vol.mrc` (D=64, 1 A/px): N noiseless images with CTF and shifts (`simulate.write_dataset`), backprojected
   at their true poses by both implementations (in this process, same threads, median of --runs): seconds, and the
   lowest FSC to the truth over the shells below Nyquist.
2. The demo's data set (2,500 images of the phantom, D=64, 3 A/px, SNR 0.1, CTF): `backproject.gold_standard` at the
   true poses: seconds (median of --runs), the half-maps' FSC=0.143 resolution and the FSC=0.5 resolution of the map
   of all the images against the truth (they should agree: Rosenthal & Henderson 2003).

    python benchmarks/backproject.py [--runs 3] [--n 1000]
"""
import argparse, json, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch

from cryodrgn2.backproject import backproject, gold_standard
from cryodrgn2.data import read_inputs, prepare_particles
from cryodrgn2.io import read_mrc
from cryodrgn2.metrics import fsc, fsc_resolution
from cryodrgn2.simulate import phantom, simulate, write_dataset
from cryodrgn2.tables import read_poses

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
from datapaths import DATA


def timed(fn, runs):
    "Median wall seconds of `runs` calls, and the last result."
    seconds = []
    for _ in range(runs):
        start = time.perf_counter(); result = fn(); seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def hand(n, runs, tmp):
    vol = torch.as_tensor(np.asarray(read_mrc(DATA / 'hand-vol.mrc')[0]), dtype=torch.float32)
    write_dataset(tmp, vol, n, snr=None, pixel_size=1.0, seed=0, progress=False)
    inputs = read_inputs(tmp / 'particles.mrcs', tmp / 'ctf.pkl')
    data = prepare_particles(inputs.source, inputs.ctf_params, inputs.pixel_size)
    rots, shift_px = read_poses(tmp / 'poses.pkl', data.D)
    ours_s, ours = timed(lambda: backproject(data, rots, shift_px), runs)
    from cryodrgn.commands import backproject_voxel as bv
    parser = argparse.ArgumentParser(); bv.add_args(parser)
    args = parser.parse_args([str(tmp / 'particles.mrcs'), '--poses', str(tmp / 'poses.pkl'), '--ctf', str(tmp / 'ctf.pkl'),
                              '-o', str(tmp / 'reference'), '--no-half-maps'])
    theirs_s, _ = timed(lambda: bv.main(args), runs)
    theirs = torch.as_tensor(np.asarray(read_mrc(tmp / 'reference' / 'backproject.mrc')[0]), dtype=torch.float32)
    return dict(images=n, ours_s=ours_s, reference_s=theirs_s, speedup=theirs_s / ours_s,
                ours_min_fsc_to_truth=fsc(ours, vol)[1][:-1].min().item(), reference_min_fsc_to_truth=fsc(theirs, vol)[1][:-1].min().item())


def demo_gold_standard(runs):
    vol = phantom(64)
    imgs, plan = simulate(vol, 2500, snr=0.1, invert=False, seed=0, pixel_size=3.0)
    data = prepare_particles(imgs, plan.ctf_params, pixel_size=3.0)
    seconds, gold = timed(lambda: gold_standard(data, plan.rots, plan.shift_px), runs)
    return dict(images=2500, seconds=seconds, half_map_0143_A=gold.resolution_A,
                full_map_to_truth_05_A=fsc_resolution(*fsc(gold.full, vol), 0.5, pixel_size=3.0)[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--n', type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = dict(threads=torch.get_num_threads(), hand=hand(args.n, args.runs, Path(tmp)), demo=demo_gold_standard(args.runs))
    print(json.dumps(result, indent=1))
    out = Path(__file__).parent / 'results'; out.mkdir(exist_ok=True)
    (out / 'backproject.json').write_text(json.dumps(result, indent=1))


if __name__ == '__main__': main()
