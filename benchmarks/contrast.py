"""Either sign, as whole commands: `cryodrgn2 align` and `cryodrgn2 abinit-homo` on a simulated stack and on its
negated copy (what another program, or the other --uninvert-data setting, would give). Prints what each command
said about the contrast, how far the two runs' poses are apart, their error to the truth, and the FSC between
their maps.

    python benchmarks/contrast.py                      # 1,000 images of the phantom, D=64, SNR 0.1, CTF
    python benchmarks/contrast.py --n 300 --epochs 4   # quicker
    python benchmarks/contrast.py --ratios             # only the excursion ratio of the average particle, on several sets
    python benchmarks/contrast.py --t-stat             # only search's contrast test (paired t of 64 images), by SNR and grid
"""
import argparse, os, subprocess, sys, tempfile
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import run
from cryodrgn2.simulate import phantom, write_dataset
from cryodrgn2.io import read_mrc, write_mrc
from cryodrgn2.tables import read_poses
from cryodrgn2.metrics import rotation_angle, rotation_error, fsc, fsc_resolution


def ratios():
    "The average particle's excursion ratio (`data.particle_average`, `metrics.density_sign`) physically signed / negated."
    from cryodrgn2.simulate import simulate
    from cryodrgn2.data import particle_average, prepare_particles
    from cryodrgn2.metrics import density_sign
    sets = [('phantom D=32 SNR 1', phantom(32), 192, 1.0, 6.0), ('phantom D=64 SNR 0.1', phantom(64), 500, 0.1, 3.0),
            ('phantom D=64 SNR 0.1', phantom(64), 100, 0.1, 3.0), ('phantom D=128 SNR 0.05', phantom(128), 300, 0.05, 1.5)]
    for name, vol, n, snr, apix in sets:
        images, plan = simulate(vol, n, snr=snr, invert=False, seed=0, pixel_size=apix)
        average = particle_average(prepare_particles(images, plan.ctf_params, pixel_size=apix))
        print(f"{name}, {n} images: ratio {density_sign(average)[1]:.3g} physically signed, {density_sign(-average)[1]:.3g} negated")
    shared = Path(os.environ.get('CRYODRGN2_TEST_DATA', Path(__file__).resolve().parents[2] / 'shared' / 'data'))
    if (shared / 'empiar_10076_7.star').is_file():
        from cryodrgn2.jobs import load_data
        data = load_data(shared / 'empiar_10076_7.star', None, False, shared)
        print(f"EMPIAR-10076, 7 real particles (D=320) as stored: ratio {density_sign(particle_average(data))[1]:.3g}")


def t_stat():
    "The paired t statistic of `pose.contrast_test` on 64 images of the phantom (D=64, CTF), by SNR and base grid."
    import math
    from cryodrgn2.simulate import simulate
    from cryodrgn2.imaging import VoxelModel
    from cryodrgn2.pose import inplane_slices, base_search
    from cryodrgn2.shifts import band, shift_grid, phase_ramps
    from cryodrgn2.fourier import ht2_center
    from cryodrgn2.ctf import ctf_from_params
    vol = phantom(64); model = VoxelModel(vol)
    for snr in (0.1, 0.05, 0.02):
        images, plan = simulate(vol, 64, snr=snr, invert=False, seed=3, pixel_size=3.0)
        for level, L in ((2, 12), (1, 8)):
            bnd = band(64, L)
            slices = inplane_slices(model, level, 64, L).flatten(0, 1)
            ctf, ramps = ctf_from_params(plan.ctf_params, bnd.coords), phase_ramps(bnd.coords, -shift_grid(10., 14))
            coeffs = ht2_center(images).flatten(1)[:, bnd.index]
            as_given, negated = (base_search(slices, s * coeffs, ctf, bnd.mirror, ramps, 1)[0][:, 0] for s in (1, -1))
            gain = negated - as_given
            print(f"SNR {snr}, level {level} grid at L={L}: t = {(gain.mean() / (gain.std() / math.sqrt(len(gain)))).item():.1f} "
                  f"({(gain > 0).float().mean().item():.0%} of the images fit better with their true sign; |t| > 3 decides)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=1000); p.add_argument('--D', type=int, default=64)
    p.add_argument('--snr', type=float, default=0.1); p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--threads', type=int, default=2); p.add_argument('--skip-abinit', action='store_true')
    p.add_argument('--ratios', action='store_true'); p.add_argument('--t-stat', action='store_true')
    a = p.parse_args()
    if a.ratios: return ratios()
    if a.t_stat: return t_stat()
    env = {**os.environ, 'OMP_NUM_THREADS': str(a.threads), 'MKL_NUM_THREADS': str(a.threads)}
    tmp = Path(tempfile.mkdtemp())
    ds = tmp / 'data'
    write_dataset(ds, phantom(a.D), a.n, snr=a.snr, pixel_size=3.0, max_shift_px=3.0, seed=0, progress=False)
    stack, apix = read_mrc(ds / 'particles.mrcs')
    write_mrc(ds / 'negated.mrcs', -np.asarray(stack), pixel_size=apix)
    true_rots, _ = read_poses(ds / 'poses.pkl', a.D)
    print(f"{a.n} images, D={a.D}, SNR {a.snr}, CTF; stored contrast-inverted (particles.mrcs) and negated (negated.mrcs)\n")

    def said(text): return ' | '.join(l.strip() for l in text.splitlines() if 'contrast' in l)
    aligned = {}
    for stack_name in ('particles', 'negated'):
        out = tmp / f'align_{stack_name}.pkl'
        cmd = ['cryodrgn2', 'align', ds / f'{stack_name}.mrcs', '--volume', ds / 'volume.mrc', '--ctf', ds / 'ctf.pkl', '-o', out]
        proc = subprocess.run(list(map(str, cmd)), env=env, capture_output=True, text=True)
        if proc.returncode: raise RuntimeError(proc.stderr[-2000:])
        aligned[stack_name] = read_poses(out, a.D)[0]
        print(f"align {stack_name}.mrcs: {said(proc.stderr)}")
        print(f"  median rotation error to the truth {rotation_angle(aligned[stack_name], true_rots).median():.3f} deg")
    print(f"  median angle between the two runs' poses {rotation_angle(aligned['particles'], aligned['negated']).median():.2e} deg\n")
    if a.skip_abinit: return
    runs = {}
    for stack_name in ('particles', 'negated'):
        outdir = tmp / f'abinit_{stack_name}'
        _, seconds = run(list(map(str, ['cryodrgn2', 'abinit-homo', ds / f'{stack_name}.mrcs', '--ctf', ds / 'ctf.pkl', '-o', outdir,
                                        '-n', a.epochs, '--device', 'cpu'])), env)
        rots = read_poses(outdir / 'poses.pkl', a.D)[0]
        vol = torch.as_tensor(np.asarray(read_mrc(outdir / 'reconstruct.mrc')[0]))
        runs[stack_name] = rots, vol
        print(f"abinit-homo {stack_name}.mrcs ({seconds:.0f} s): {said((outdir / 'run.log').read_text()).split('  ', 1)[-1]}")
        print(f"  median rotation error to the truth after alignment {rotation_error(rots, true_rots).angles_deg.median():.2f} deg")
    (r1, v1), (r2, v2) = runs['particles'], runs['negated']
    freqs, curve = fsc(v1, v2)
    print(f"  the two runs: poses {'identical' if torch.equal(r1, r2) else f'median {rotation_angle(r1, r2).median():.3g} deg apart'}; "
          f"maps {'identical' if torch.equal(v1, v2) else f'max |difference| {(v1 - v2).abs().max():.3g}, FSC=0.5 at {fsc_resolution(freqs, curve, 0.5):.3g} px^-1'}")


if __name__ == '__main__': main()
