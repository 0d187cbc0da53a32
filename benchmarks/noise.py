"""Coloured noise and whitening: how well the noise spectrum is estimated, and what whitening does to the pose search.

Images of `../shared/data/hand-vol.mrc` (the built-in phantom where it is absent), D=64 at the map's 1 A/px, CTF
(defocus 1-3 um), shifts +-3 px, SNR 0.1, in pink noise (floor 0.1: the power falls about 7x to Nyquist) and in white
noise. For each: the estimate's error against the true spectrum (`noise.estimate_noise_power`; and its two parts), then
`pose.search` against the true map, unweighted, whitened by the true spectrum and whitened by the estimate, on the grid
of the notebook's check (03c_noise: base level 1, 3 rounds, shifts within 4 px on 8 x 8) or, with --default-grid,
`SearchConfig()`'s (base level 2, 4 rounds, L 12 -> 31; about 10x slower). Rotation error `||R - R_true||_F^2` after global alignment
(`metrics.rotation_error`); "wrong" = error > 0.5.

    python benchmarks/noise.py                  # 1,000 images (a few minutes on 2 cores)
    python benchmarks/noise.py --n 300          # quicker
    python benchmarks/noise.py --default-grid   # the default search grid (much longer)

It prints a table and writes benchmarks/results/noise.json.
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path
import torch
from cryodrgn2.io import read_mrc
from cryodrgn2.imaging import VoxelModel
from cryodrgn2.metrics import rotation_error, translation_error
from cryodrgn2.noise import named_spectrum, background_noise_power, ctf_noise_power, estimate_noise_power, power_falloff
from cryodrgn2.pose import search
from cryodrgn2.simulate import phantom, simulate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / 'shared' / 'data'
if not DATA.is_dir(): DATA = Path('/work/shared/data')


def worst_shell(estimate, truth):
    "Largest relative error of an estimated spectrum beyond the lowest two shells (and DC)."
    return (estimate[3:] / truth[3:] - 1).abs().max().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=1000, help='images per noise spectrum')
    parser.add_argument('--threads', type=int, default=2, help='torch threads')
    parser.add_argument('--default-grid', action='store_true', help="search on SearchConfig()'s grid, not the notebook's small one")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hand = DATA / 'hand-vol.mrc'
    vol = torch.as_tensor(read_mrc(hand)[0], dtype=torch.float32) if hand.is_file() else phantom(64)
    model, rows = VoxelModel(vol), []
    grid = dict(contrast=1) if args.default_grid else dict(base_level=1, iters=3, t_extent=4., t_ngrid=8, contrast=1)
    for spectrum in ('pink:0.1', 'white'):
        clean, plan = simulate(vol, args.n, snr=None, invert=False, pixel_size=1.0, seed=3)
        images, _ = simulate(vol, args.n, snr=0.1, invert=False, pixel_size=1.0, seed=3, noise_spectrum=spectrum)
        truth = named_spectrum(spectrum, 64) * 64 ** 2 * clean.var().item() / 0.1
        start = time.perf_counter()
        estimate = estimate_noise_power(images, plan.ctf_params)
        seconds = time.perf_counter() - start
        estimates = dict(background=worst_shell(background_noise_power(images), truth),
                         ctf_regression=worst_shell(ctf_noise_power(images, plan.ctf_params)[0], truth),
                         estimate=worst_shell(estimate, truth), estimate_seconds=seconds,
                         falloff_true=power_falloff(truth), falloff_estimated=power_falloff(estimate))
        print(f"{spectrum}: worst shell beyond 2, background {estimates['background']:.3f}, CTF regression "
              f"{estimates['ctf_regression']:.3f}, estimate {estimates['estimate']:.3f} ({seconds:.1f} s); falloff "
              f"{estimates['falloff_true']:.2f}x true, {estimates['falloff_estimated']:.2f}x estimated", flush=True)
        for weighting, power in (('none', None), ('true spectrum', truth), ('estimated', estimate)):
            start = time.perf_counter()
            found = search(model, images, plan.ctf_params, noise_power=power, **grid)
            seconds = time.perf_counter() - start
            rot, shift = rotation_error(found.rots, plan.rots), translation_error(found.shift_px, plan.shift_px)
            rows.append(dict(spectrum=spectrum, weighting=weighting, median=rot.median, mean=rot.mean,
                             wrong=(rot.errors > 0.5).float().mean().item(), shift_median_px=shift.median, seconds=seconds, **estimates))
            print(f"  search, weighting {weighting}: median {rot.median:.4g}, mean {rot.mean:.3g}, wrong {rows[-1]['wrong']:.1%}, "
                  f"median shift error {shift.median:.3g} px, {seconds:.0f} s", flush=True)
    print(f"\n| noise ({args.n} images, {'hand-vol.mrc' if hand.is_file() else 'phantom'}, D=64, SNR 0.1, {'default' if args.default_grid else 'small'} grid) | weighting | "
          "median rotation error | mean | wrong (> 0.5) | median shift error (px) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['spectrum']} | {r['weighting']} | {r['median']:.4g} | {r['mean']:.3g} | {r['wrong']:.1%} | {r['shift_median_px']:.3g} |")
    out = ROOT / 'benchmarks' / 'results' / 'noise.json'
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dict(n=args.n, threads=args.threads, grid=grid, rows=rows), indent=1))


if __name__ == '__main__': main()
