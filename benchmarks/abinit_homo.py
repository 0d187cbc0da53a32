"""Issue 4 "Must show": ab initio reconstruction of the README demo data, ours against the truth, a voxel
backprojection at the true poses, and the reference `cryodrgn abinit_homo_old` (cryoDRGN 4.3.1).

1. Simulate N images (default 2,500; D=64, SNR 0.1, CTF with defocus 1-3 um, shifts +-3 px) of the built-in phantom
   with `cryodrgn2 simulate`.
2. Ours: `cryodrgn2.jobs.abinit_homo` with its defaults. Wall time; median rotation error after global alignment
   (and hand); FSC=0.5 resolution against the true map after aligning the map.
3. Voxel backprojection with the *true* poses of the same images (`cryodrgn backproject_voxel`): FSC=0.5 resolution
   against the true map. Ours must be within 1.25x of it.
4. The reference on the first `--ref-n` images (default 1,000: its search epochs cost about a second per image,
   so its default 30 epochs on 2,500 images take hours): `--pretrain` one pass at random poses (like ours),
   search at epochs 1 and 3 (`--ps-freq 2`, a fixed-pose epoch between), otherwise its defaults. Its wall time, the
   time of each of its epochs (from its log) and the median rotation error of its poses after each search epoch.
   Ours runs on the same subset too, for a like-for-like comparison, and both are compared with the times
   extrapolated to the full dataset.

Every run is a subprocess with the same number of threads (`--threads`, default 2). Results are printed and written
to benchmarks/results/abinit_homo.json.

    python benchmarks/abinit_homo.py [--n 2500] [--ref-n 1000] [--threads 2] [--workdir DIR] [--skip-reference]
"""
import argparse, json, os, re, sys
from pathlib import Path
from common import run

OURS = r'''
import sys, time, json
from cryodrgn2.jobs import abinit_homo  # before torch, as the command line does (cryodrgn2 sets OpenMP's wait policy)
import torch
torch.set_num_threads(int(sys.argv[4]))
start = time.perf_counter()
learn = abinit_homo(sys.argv[1], sys.argv[2], sys.argv[3], force=True, progress=False)
print(json.dumps(dict(seconds=time.perf_counter() - start, epochs=[{k: v for k, v in r.items()} for r in learn.history])))
'''

SCORE = r'''
import sys, json, pickle, torch, numpy as np
from cryodrgn2.io import read_mrc
from cryodrgn2.tables import read_poses
from cryodrgn2.metrics import rotation_error, translation_error
from cryodrgn2.metrics import compare_maps
poses, true_poses, D, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with open(poses, 'rb') as f: obj = pickle.load(f)
rots = torch.as_tensor(np.asarray(obj[0] if isinstance(obj, tuple) else obj), dtype=torch.float32)[:n]
true_rots, true_shift = read_poses(true_poses, D)
err = rotation_error(rots, true_rots[:n])
out = dict(median_rotation_error=err.median, mean_rotation_error=err.mean, median_angle_deg=err.angles_deg.median().item())
if isinstance(obj, tuple):
    out['median_translation_error_px'] = translation_error(-torch.as_tensor(obj[1][:n]) * D, true_shift[:n], true_rots[:n]).median
if len(sys.argv) > 6:
    vol = torch.as_tensor(np.asarray(read_mrc(sys.argv[5])[0]), dtype=torch.float32)
    truth = torch.as_tensor(np.asarray(read_mrc(sys.argv[6])[0]), dtype=torch.float32)
    cmp = compare_maps(vol, truth, float(sys.argv[7]))
    out.update(fsc05_A=cmp['resolution_0.5'], fsc0143_A=cmp['resolution_0.143'])
print(json.dumps(out))
'''


def score(poses, truth_dir, D, n, env, vol=None, pixel_size=3.0):
    args = [sys.executable, '-c', SCORE, str(poses), str(truth_dir / 'poses.pkl'), str(D), str(n)]
    if vol is not None: args += [str(vol), str(truth_dir / 'volume.mrc'), str(pixel_size)]
    return json.loads(run(args, env)[0].strip().splitlines()[-1])


def reference_epoch_seconds(log_text):
    "Seconds of each epoch of `cryodrgn abinit_homo_old`, from its log ('Epoch: E Average loss = ...; Finished in H:MM:SS.ffffff')."
    out = {}
    for epoch, h, m, s in re.findall(r'Epoch: (\d+) Average loss = [^;]+; Finished in (\d+):(\d+):([\d.]+)', log_text):
        out[int(epoch)] = int(h) * 3600 + int(m) * 60 + float(s)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=2500)
    ap.add_argument('--ref-n', type=int, default=1000)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--workdir', default='/tmp/cryodrgn2_bench_abinit')
    ap.add_argument('--skip-reference', action='store_true')
    args = ap.parse_args()
    work = Path(args.workdir); work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, 'OMP_NUM_THREADS': str(args.threads), 'MKL_NUM_THREADS': str(args.threads)}
    D, apix = 64, 3.0
    results = dict(n=args.n, D=D, snr=0.1, threads=args.threads, load_average_at_start=os.getloadavg())

    data = work / 'data'
    if not (data / 'particles.mrcs').exists():
        _, results['simulate_seconds'] = run(['cryodrgn2', 'simulate', '-o', str(data), '-n', str(args.n), '-D', str(D),
                                               '--snr', '0.1', '--pixel-size', str(apix), '--seed', '0'], env)

    # ours, whole dataset
    stdout, wall = run([sys.executable, '-c', OURS, str(data / 'particles.mrcs'), str(data / 'ctf.pkl'), str(work / 'ours'), str(args.threads)], env)
    ours = json.loads(stdout.strip().splitlines()[-1])
    ours.update(wall_seconds=wall, **score(work / 'ours' / 'poses.pkl', data, D, args.n, env, work / 'ours' / 'reconstruct.mrc', apix))
    results['ours'] = ours
    print(f"ours: {args.n} images in {wall:.0f} s; median rotation error {ours['median_rotation_error']:.4f} "
          f"({ours['median_angle_deg']:.2f} deg); FSC=0.5 at {ours['fsc05_A']:.2f} A", flush=True)

    # voxel backprojection at the true poses
    _, bp_seconds = run(['cryodrgn', 'backproject_voxel', str(data / 'particles.mrcs'), '--poses', str(data / 'poses.pkl'),
                         '--ctf', str(data / 'ctf.pkl'), '-o', str(work / 'bp_true'), '--no-half-maps'], env)
    bp = score(data / 'poses.pkl', data, D, args.n, env, work / 'bp_true' / 'backproject.mrc', apix)
    results['backprojection_true_poses'] = dict(seconds=bp_seconds, fsc05_A=bp['fsc05_A'], fsc0143_A=bp['fsc0143_A'])
    results['fsc05_ratio_ours_over_backprojection'] = ours['fsc05_A'] / bp['fsc05_A']
    print(f"voxel backprojection at the true poses: FSC=0.5 at {bp['fsc05_A']:.2f} A; ratio ours/backprojection "
          f"{results['fsc05_ratio_ours_over_backprojection']:.3f} (must be <= 1.25)", flush=True)

    if not args.skip_reference:
        m = args.ref_n
        sub = work / f'data_{m}'
        if not (sub / 'particles.mrcs').exists():  # the first m images of the same data: same noise, poses and CTF
            import pickle, mrcfile
            import numpy as np
            sub.mkdir(exist_ok=True)
            with mrcfile.open(data / 'particles.mrcs') as f: stack = np.array(f.data[:m])
            with mrcfile.new(sub / 'particles.mrcs') as f: f.set_data(stack); f.voxel_size = apix
            for name in ('ctf.pkl', 'poses.pkl'):
                with open(data / name, 'rb') as f: obj = pickle.load(f)
                obj = tuple(x[:m] for x in obj) if isinstance(obj, tuple) else obj[:m]
                with open(sub / name, 'wb') as f: pickle.dump(obj, f)
        stdout, wall = run([sys.executable, '-c', OURS, str(sub / 'particles.mrcs'), str(sub / 'ctf.pkl'), str(work / f'ours_{m}'), str(args.threads)], env)
        ours_sub = json.loads(stdout.strip().splitlines()[-1])
        ours_sub.update(wall_seconds=wall, **score(work / f'ours_{m}' / 'poses.pkl', sub, D, m, env))
        results['ours_subset'] = ours_sub
        print(f"ours on {m} images: {wall:.0f} s; median rotation error {ours_sub['median_rotation_error']:.4f}", flush=True)

        ref_out = work / f'reference_{m}'
        cmd = ['cryodrgn', 'abinit_homo_old', str(sub / 'particles.mrcs'), '--ctf', str(sub / 'ctf.pkl'), '-o', str(ref_out),
               '-n', '3', '--ps-freq', '2', '--pretrain', str(m), '--seed', '0']
        _, ref_wall = run(cmd, env)
        log = (ref_out / 'run.log').read_text() if (ref_out / 'run.log').exists() else ''
        epochs = reference_epoch_seconds(log)
        ref = dict(command=' '.join(cmd), wall_seconds=ref_wall, epoch_seconds=epochs, per_epoch={})
        for e in sorted(epochs):
            if (ref_out / f'pose.{e}.pkl').exists(): ref['per_epoch'][e] = score(ref_out / f'pose.{e}.pkl', sub, D, m, env)
        results['reference_subset'] = ref
        final = ref['per_epoch'][max(ref['per_epoch'])]
        search_s = [epochs[e] for e in epochs if e % 2 == 1]
        ref['search_seconds_per_image'] = sum(search_s) / len(search_s) / m
        ref['fixed_images_per_second'] = m / epochs[2] if 2 in epochs else None
        # the reference's default schedule (30 epochs, search every 5: 6 search epochs, 24 fixed, pretrain 10,000 images)
        # on the full dataset, extrapolated from its measured rates
        full = 6 * args.n * ref['search_seconds_per_image'] + (24 * args.n + 10000) / ref['fixed_images_per_second']
        ref['extrapolated_default_full_seconds'] = full
        results['speedup_subset_same_schedule_length'] = ref_wall / ours_sub['wall_seconds']
        results['speedup_full_vs_reference_default_extrapolated'] = full / ours['wall_seconds']
        print(f"reference on {m} images: {ref_wall:.0f} s (epochs {epochs}); median rotation error after epoch "
              f"{max(ref['per_epoch'])}: {final['median_rotation_error']:.4f}; ours on the same images {ours_sub['wall_seconds']:.0f} s, "
              f"{ours_sub['median_rotation_error']:.4f}: {results['speedup_subset_same_schedule_length']:.1f}x faster", flush=True)
        print(f"reference default schedule on {args.n} images, extrapolated: {full / 3600:.1f} h; ours {ours['wall_seconds'] / 60:.1f} min: "
              f"{results['speedup_full_vs_reference_default_extrapolated']:.0f}x", flush=True)

    out = Path(__file__).parent / 'results'; out.mkdir(exist_ok=True)
    (out / 'abinit_homo.json').write_text(json.dumps(results, indent=1, default=str))


if __name__ == '__main__': main()
