"""The method at real box sizes and real noise (issue 16, "Must show"): `align` at D=128 and D=256 against cryoDRGN
4.3.1's `PoseSearch`, on white and coloured noise; `abinit-homo` at D=128.

The data are made the way real particles are, not from the lattice the search reads (no "inverse crime"): a chain of
Gaussian atoms is projected, without noise, at a larger box (D=128 from 256, D=256 from 384, as particles extracted at
256-400 px and downsampled), Fourier-cropped to D with `cryodrgn2 downsample`, and only then given noise at D (SNR 0.1
at the searched box; white, or `pink` = 1/f with a floor of 0.1). The CTF table stays the full-size one, as RELION
writes it. The map both searches read is the true map Fourier-cropped to D.

1. `--parts align`: per box and noise, `cryodrgn2 align` (defaults: contrast test, noise estimate and whitening where
   the noise is coloured) and, on coloured noise, also with `--no-whiten`; against `benchmarks/reference_align.py`
   (cryoDRGN 4.3.1's `PoseSearch` with the abinit defaults, a voxel map given the oracle amplitude, whose cost is left
   out). Whole processes, same stack, same threads. Median rotation error ||R - R_true||_F^2, share above 0.5
   (wrong), images/s.
2. `--parts abinit`: `abinit-homo` with its defaults at D=128 on `--abinit-n` images per noise: median rotation
   error after global alignment, FSC=0.5 to the true map against a voxel backprojection (`backproject`) of the same
   images at the true poses, the job's own gold-standard FSC=0.143 against the FSC=0.5 to the truth, wall time and its
   split between search and training epochs.

    python benchmarks/real_box.py [--parts align abinit] [--D 128 256] [--noise white pink] [--n 1000] [--abinit-n 3000]

Results: benchmarks/results/real_box.json (updated after each case, so a long run can be read while it goes).
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / 'benchmarks'))
from common import run
from pose_search import whole_run, pose_errors

OVERSAMPLED = {128: 256, 256: 384}  # the box each D is downsampled from
OUT = ROOT / 'benchmarks' / 'results' / 'real_box.json'


def log(*a): print(*a, flush=True)


def dataset(work, D, noise, n, seed=0):
    "A stack at box D made as described above; its folder (particles.mrcs, ctf.pkl and poses.pkl at full size, volume.mrc at D)."
    from cryodrgn2.simulate import chain_atoms, render_atoms, write_dataset
    from cryodrgn2.noise import named_spectrum
    from cryodrgn2.imaging import add_noise
    from cryodrgn2.io import read_mrc, write_mrc
    big, apix = OVERSAMPLED[D], 256 / D  # the same 256 A box at every D: 2 A/px at D=128, 1 A/px at D=256
    clean, folder = work / f'D{D}_n{n}_clean', work / f'D{D}_n{n}_{noise}'
    if (folder / 'particles.mrcs').exists(): return folder
    if not (clean / 'particles.mrcs').exists():
        vol = render_atoms(chain_atoms(big, 400 * (D // 64) ** 2, seed=seed), big, sigma_px=1.5 * big / D)
        write_dataset(clean / 'big', vol / vol.max(), n, snr=None, pixel_size=apix * D / big, seed=seed, progress=False, force=True)
        for src, dst in (('particles.mrcs', 'particles.mrcs'), ('volume.mrc', 'volume.mrc')):
            run(['cryodrgn2', 'downsample', str(clean / 'big' / src), '-D', str(D), '-o', str(clean / dst)], dict(os.environ))
        (clean / 'big' / 'particles.mrcs').unlink()
    folder.mkdir(parents=True, exist_ok=True)
    imgs, _ = read_mrc(clean / 'particles.mrcs')
    imgs = torch.as_tensor(np.asarray(imgs), dtype=torch.float32)
    noisy = add_noise(imgs, 0.1, generator=torch.Generator().manual_seed(seed + 1), spectrum=named_spectrum(noise, D))
    write_mrc(folder / 'particles.mrcs', noisy, apix)
    for name in ('ctf.pkl', 'poses.pkl'): (folder / name).write_bytes((clean / 'big' / name).read_bytes())
    (folder / 'volume.mrc').write_bytes((clean / 'volume.mrc').read_bytes())
    return folder


def align_case(data, threads, whiten=True):
    "`cryodrgn2 align` and the reference on one stack, as whole processes; seconds and errors of both."
    stack, ctf, vol, truth = (str(data / f) for f in ('particles.mrcs', 'ctf.pkl', 'volume.mrc', 'poses.pkl'))
    name = 'ours' if whiten else 'ours_no_whiten'
    cmd = [sys.executable, '-m', 'cryodrgn2.cli', 'align', stack, '--ctf', ctf, '--volume', vol, '-o', str(data / f'{name}.pkl')]
    seconds, text = whole_run(cmd + ([] if whiten else ['--no-whiten']), threads)
    row = {name: dict(seconds=seconds, **pose_errors(data / f'{name}.pkl', truth),
                      log=[l for l in text.splitlines() if l.startswith('align:')])}
    if whiten:
        seconds, text = whole_run([sys.executable, str(ROOT / 'benchmarks' / 'reference_align.py'), stack, ctf, vol,
                                   str(data / 'ref.pkl'), '--true-poses', truth, '--threads', str(threads)], threads)
        oracle = float(text.split('oracle_seconds=')[1].split()[0])
        row['reference'] = dict(seconds=seconds - oracle, oracle_seconds_left_out=oracle, **pose_errors(data / 'ref.pkl', truth))
    return row


def save(report):
    OUT.parent.mkdir(exist_ok=True); OUT.write_text(json.dumps(report, indent=1, default=str))


def align_part(report, a, work):
    for D in a.D:
        for noise in a.noise:
            data = dataset(work, D, noise, a.n)
            row = dict(D=D, noise=noise, n=a.n, load_average_before=os.getloadavg()[0], **align_case(data, a.threads))
            if noise != 'white': row.update(align_case(data, a.threads, whiten=False))
            report['align'].append(row); save(report)
            o, r = row['ours'], row['reference']
            log(f"D={D} {noise}: ours {o['rot_median']:.3g} ({o['frac_wrong']:.0%} wrong) {a.n / o['seconds']:.1f} images/s; "
                f"reference {r['rot_median']:.3g} ({r['frac_wrong']:.0%}) {a.n / r['seconds']:.2f} images/s; {r['seconds'] / o['seconds']:.1f}x"
                + (f"; ours unwhitened {row['ours_no_whiten']['rot_median']:.3g}" if 'ours_no_whiten' in row else ''))
    log('\n| D | noise | median rot. error ours / reference | > 0.5 ours / reference | images/s ours / reference | ratio | ours, not whitened |')
    log('|---|---|---|---|---|---|---|')
    for r in report['align']:
        o, ref = r['ours'], r['reference']
        nw = f"{r['ours_no_whiten']['rot_median']:.3g} ({r['ours_no_whiten']['frac_wrong']:.0%})" if 'ours_no_whiten' in r else ''
        log(f"| {r['D']} | {r['noise']} | {o['rot_median']:.3g} / {ref['rot_median']:.3g} | {o['frac_wrong']:.0%} / {ref['frac_wrong']:.0%} | "
            f"{r['n'] / o['seconds']:.1f} / {r['n'] / ref['seconds']:.2f} | {ref['seconds'] / o['seconds']:.1f}x | {nw} |")


SCORE = r'''
import sys, json, torch
from cryodrgn2.io import read_mrc
from cryodrgn2.tables import read_poses
from cryodrgn2.metrics import rotation_error, compare_maps
from cryodrgn2.backproject import backproject
from cryodrgn2.jobs import load_data
out_dir, data, D, apix = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
rots, _ = read_poses(out_dir + '/poses.pkl', D); true_rots, true_shift = read_poses(data + '/poses.pkl', D)
err = rotation_error(rots, true_rots)
truth = torch.as_tensor(read_mrc(data + '/volume.mrc')[0], dtype=torch.float32)
ours = compare_maps(torch.as_tensor(read_mrc(out_dir + '/reconstruct.mrc')[0], dtype=torch.float32), truth, apix)
particles = load_data(data + '/particles.mrcs', ctf=data + '/ctf.pkl')
bp = compare_maps(backproject(particles, true_rots, true_shift), truth, apix)
print(json.dumps(dict(median_rotation_error=err.median, median_angle_deg=err.angles_deg.median().item(),
                      fsc05_A=ours['resolution_0.5'], backprojection_fsc05_A=bp['resolution_0.5'])))
'''


def abinit_part(report, a, work):
    from abinit_homo import OURS
    env = {**os.environ, 'OMP_NUM_THREADS': str(a.threads), 'MKL_NUM_THREADS': str(a.threads), 'PYTHONPATH': str(ROOT)}
    for noise in a.noise:
        D = 128
        data, out = dataset(work, D, noise, a.abinit_n, seed=1), work / f'abinit_D{D}_{noise}'
        stdout, wall = run([sys.executable, '-c', OURS, str(data / 'particles.mrcs'), str(data / 'ctf.pkl'), str(out), str(a.threads)], env)
        history = json.loads(stdout.strip().splitlines()[-1])['epochs']
        row = dict(D=D, noise=noise, n=a.abinit_n, wall_seconds=wall, epochs=history,
                   **json.loads(run([sys.executable, '-c', SCORE, str(out), str(data), str(D), str(256 / D)], env)[0].strip().splitlines()[-1]))
        gold_line = [l for l in (out / 'run.log').read_text().splitlines() if 'gold-standard FSC=0.143 at' in l][-1]
        row['gold_standard_fsc0143_A'] = float(gold_line.split('FSC=0.143 at')[1].split()[0])
        row['gold_over_truth'] = row['gold_standard_fsc0143_A'] / row['fsc05_A']
        report['abinit'].append(row); save(report)
        log(f"abinit-homo D={D} {noise} {a.abinit_n} images: {wall:.0f} s; median rot. error {row['median_rotation_error']:.4f}; "
            f"FSC=0.5 to truth {row['fsc05_A']:.2f} A (backprojection at true poses {row['backprojection_fsc05_A']:.2f} A, "
            f"ratio {row['fsc05_A'] / row['backprojection_fsc05_A']:.2f}); gold-standard 0.143 {row['gold_standard_fsc0143_A']:.2f} A "
            f"({row['gold_over_truth']:.2f} of the FSC=0.5 to truth)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--parts', nargs='*', default=['align', 'abinit'], choices=['align', 'abinit'])
    p.add_argument('--D', type=int, nargs='*', default=[128, 256], choices=sorted(OVERSAMPLED))
    p.add_argument('--noise', nargs='*', default=['white', 'pink'])
    p.add_argument('--n', type=int, default=1000, help='images per align case')
    p.add_argument('--abinit-n', type=int, default=3000, help='images of the abinit-homo case (D=128)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--keep', action='store_true', help='keep the rows of an earlier run (results/real_box.json) for the cases not run now')
    p.add_argument('--workdir', default=str(Path(tempfile.gettempdir()) / 'cryodrgn2_bench_real_box'))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    work = Path(a.workdir); work.mkdir(parents=True, exist_ok=True)
    report = dict(args=vars(a), torch=torch.__version__, load_average_at_start=os.getloadavg(), started=time.ctime(), align=[], abinit=[])
    if a.keep and OUT.exists():  # rows of an earlier run for cases not rerun now
        earlier = json.loads(OUT.read_text())
        report['align'] = [r for r in earlier['align'] if not ('align' in a.parts and r['D'] in a.D and r['noise'] in a.noise)]
        report['abinit'] = [r for r in earlier['abinit'] if not ('abinit' in a.parts and r['noise'] in a.noise)]
    if 'align' in a.parts: align_part(report, a, work)
    if 'abinit' in a.parts: abinit_part(report, a, work)
    report['load_average_at_end'] = os.getloadavg(); save(report)
    log(f'wrote {OUT}')


if __name__ == '__main__': main()
