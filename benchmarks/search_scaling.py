"""Search settings against the box size (issue 16, item 1): how far up the band the last round should look, and how
many rounds, at D=64, 128 and 256.

For each box, `--n` images (CTF, SNR 0.1, shifts +-3 px) of a phantom drawn at that box: a chain of Gaussian atoms
1.5 px wide filling the same share of the box at every D (`simulate.chain_atoms`, `render_atoms`), so that its
signal reaches the same fraction of Nyquist whatever the box, as for particles downsampled from a larger box; searched
against the true map with `SearchConfig()` but for the settings in the table: the last round's band limit `l_max`
(the default 32, and the full band D/2 - 1) and the number of rounds `iters` (4: final grid level 6, 0.94 deg; 5:
level 7, 0.47 deg). Median rotation error ||R - R_true||_F^2, share above 0.5 (wrong), seconds (noisy machine).

Caveat: the images are formed from the same trilinear lattice the search reads (an "inverse crime"): this measures
the grid and band, not the interpolation's accuracy on real, continuous data.

    python benchmarks/search_scaling.py [--n 200] [--D 64 128 256]
"""
import argparse, json, os, sys, time
from pathlib import Path
import torch
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from cryodrgn2.imaging import VoxelModel
from cryodrgn2.pose import search
from cryodrgn2.simulate import chain_atoms, render_atoms, simulate


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=200)
    p.add_argument('--D', type=int, nargs='*', default=[64, 128, 256])
    p.add_argument('--snr', type=float, default=0.1)
    a = p.parse_args()
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '2')))
    rows = []
    print('| D | images | l_max | rounds (final level) | median rot. error | > 0.5 | seconds |\n|---|---|---|---|---|---|---|', flush=True)
    for D in a.D:
        vol = render_atoms(chain_atoms(D, 400 * (D // 64) ** 2, seed=0), D, sigma_px=1.5)
        vol = vol / vol.max()
        n = a.n if D <= 128 else a.n // 2
        imgs, plan = simulate(vol, n, snr=a.snr, invert=False, seed=3, pixel_size=64 / D * 2.0)
        model = VoxelModel(vol)
        for l_max in sorted({min(32, D // 2 - 1), D // 2 - 1}):
            for iters in ((4, 5) if D <= 128 else (4,)):
                start = time.perf_counter()
                found = search(model, imgs, plan.ctf_params, l_max=l_max, iters=iters, contrast=1)
                seconds = time.perf_counter() - start
                err = ((found.rots - plan.rots) ** 2).sum((1, 2))
                row = dict(D=D, n=n, l_max=min(l_max, D // 2 - 1), iters=iters, median=err.median().item(), wrong=(err > 0.5).float().mean().item(), seconds=seconds)
                rows.append(row)
                print(f"| {D} | {n} | {row['l_max']} | {iters} ({2 + iters}) | {row['median']:.2e} | {row['wrong']:.0%} | {seconds:.1f} |", flush=True)
    out = ROOT / 'benchmarks' / 'results' / 'search_scaling.json'
    out.parent.mkdir(exist_ok=True); out.write_text(json.dumps(dict(n=a.n, snr=a.snr, rows=rows), indent=2))
    print(f'wrote {out}')


if __name__ == '__main__': main()
