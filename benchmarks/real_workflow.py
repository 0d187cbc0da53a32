"""The real-data workflow, end to end: a RELION project at D=256 -> downsample to 128 -> CTF from the star -> align.

What it measures (the issue: "a D=256 dataset written by `cryodrgn2 simulate` as a RELION 3.1 project ... `align`
against the true map, side by side with cryoDRGN's `PoseSearch` on the same images and CTF: median rotation error
equal or lower"):
1. Data: the built-in phantom `cryodrgn2.simulate.phantom(256, n_atoms=1600)` (no download; 1,600 atoms for detail at
   D=128), N images (default 1,000) at SNR 0.1, CTF (defocus 1-3 um), shifts +-4 px, 1.5 A/px, written by
   `cryodrgn2.simulate.write_dataset` (called from Python: the `simulate` command has no flags for these options yet)
   as a RELION 3.1 project: stacks of 100 images under `Extract/job002/Micrographs/session{1,2}/micNNN.mrcs` (the two
   sessions reuse file names), `Extract/job002/particles.star` naming them from the project root, two optics groups
   (amplitude contrast 0.1 and 0.07, same pixel size), and detector-like values `300 * value + 5000`.
   A second copy, identical but without offset and scale (the simulator's units), is the "normalised" one.
2. Downsampling to D=128 of the particles (star + `--datadir`) and of the true map, with `cryodrgn downsample`
   (reference, subprocess) and with ours (`cryodrgn2 downsample`; while the command does not exist, the function
   `cryodrgn2.preprocess.downsample` in a subprocess): max |ours - reference| / std(reference).
3. CTF parsed from the star at full size (D=256, 1.5 A/px: the documented cryoDRGN recipe keeps this table for the
   D=128 stack) with `cryodrgn parse_ctf_star` and with ours (`cryodrgn2 parse-ctf`, else
   `cryodrgn2.preprocess.parse_ctf`): they must agree, and agree with the simulation's truth.
4. `cryodrgn2 align` (a whole process, timed) of the D=128 stack against the D=128 map with the full-size table, and
   cryoDRGN 4.3.1's `PoseSearch` on the same images (its own downsampled stack and map, its own CTF table through
   `cryodrgn.ctf.load_ctf_for_training`, its `ImageDataset` windowing and normalisation, inverted like `abinit_homo`'s
   default, its abinit search defaults) on the first --ref-n images. Errors: median ||R - R_true||_F^2 (both search
   against the true map, so no global alignment) and median shift error in pixels at D=128.
   The reference has no scale estimate of its own (in training its decoder learns the scale), so its map is given the
   least-squares scale between its normalised images and the map's CTF-modulated slices *at the true poses*: an
   oracle that can only help it (see ../shared/CONVENTIONS.md, "Amplitude scale").
5. The same align with a CTF table at matched size (D=128, 3 A/px) must give the same poses as with the full-size one
   (max rotation difference), and the unnormalised and normalised copies must give the same poses (median rotation
   difference).

Run from the project root:  python benchmarks/real_workflow.py [--n 1000] [--ref-n 200] [--threads 2]
It prints a table and writes benchmarks/results/real_workflow.json. About 9 minutes on 2 cores at the defaults.
"""
from __future__ import annotations
import argparse, json, os, platform, shutil, subprocess, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAR = 'Extract/job002/particles.star'
OFFSET, SCALE = 5000.0, 300.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=1000, help='images (default: 1000)')
    p.add_argument('--ref-n', type=int, default=200, help="images searched by the reference's PoseSearch (the first ones)")
    p.add_argument('--threads', type=int, default=2, help='torch threads for every step, both implementations')
    p.add_argument('--D', type=int, default=256, help='box of the simulated project')
    p.add_argument('--D-new', type=int, default=128, help='box after downsampling')
    p.add_argument('--pixel-size', type=float, default=1.5, help='A per pixel at full size')
    p.add_argument('--workdir', help='keep the data here (default: a temporary folder, removed at the end)')
    p.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results' / 'real_workflow.json'))
    return p.parse_args()


def log(*a): print(*a, flush=True)


def git_state():
    "Commit, and the files changed or added since (the code state the numbers belong to)."
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(['git', 'status', '--porcelain'], cwd=ROOT, capture_output=True, text=True).stdout.split('\n')
    return dict(commit=head, modified=[line[3:] for line in dirty if line.strip()])


def has_command(name):
    "Whether `cryodrgn2 NAME` exists."
    return subprocess.run([str(BIN / 'cryodrgn2'), name, '--help'], capture_output=True).returncode == 0


# ---------------------------------------------------------------- 1. the RELION project
def make_projects(work, args):
    "Write the unnormalised project and its normalised twin (same seed, same images up to offset and scale)."
    from cryodrgn2.simulate import phantom, write_dataset
    vol = phantom(args.D, n_atoms=1600, seed=0)
    common = dict(snr=0.1, pixel_size=args.pixel_size, seed=3, batch_size=200, max_shift_px=4.0, defocus_range=(10000., 30000.),
                  relion_project=True, stack_size=100, optics_amp_contrast=(0.1, 0.07), progress=False, force=True)
    start = time.perf_counter()
    plan = write_dataset(work / 'project', vol, args.n, offset=OFFSET, scale=SCALE, **common)
    seconds = time.perf_counter() - start
    write_dataset(work / 'normalised', vol, args.n, **common)
    return plan, dict(map='phantom(256, n_atoms=1600, seed=0)', seconds=seconds, n=args.n, D=args.D, pixel_size=args.pixel_size,
                      snr=0.1, max_shift_px=4.0, stack_size=100, optics_amp_contrast=[0.1, 0.07], offset=OFFSET, scale=SCALE)


def check_project(work, n):
    "The star's images (read with the project root as datadir) are the normalised copy's times SCALE plus OFFSET."
    from cryodrgn2.io import load_particles, read_star
    raw = load_particles(work / 'project' / STAR, datadir=work / 'project', invert=False)
    plain = load_particles(work / 'normalised' / STAR, datadir=work / 'normalised', invert=False)
    idx = np.arange(0, n, max(1, n // 50))
    a, b = raw.images(idx), plain.images(idx)
    _, optics = read_star(work / 'project' / STAR)
    return dict(optics_groups=len(optics), values_mean=a.mean().item(), values_std=a.std().item(),
                max_abs_diff_vs_scaled_copy=(a - (b * SCALE + OFFSET)).abs().max().item(), stacks=len(set(raw.stack_ids)))


# ---------------------------------------------------------------- 2. downsampling
def ours_downsample(src, out, D_new, env, datadir=None):
    "`cryodrgn2 downsample` (or the function, in a subprocess, while the command does not exist); how it ran and seconds."
    if has_command('downsample'):
        cmd = [str(BIN / 'cryodrgn2'), 'downsample', str(src), '-D', str(D_new), '-o', str(out)] + (['--datadir', str(datadir)] if datadir else [])
        how = 'cryodrgn2 downsample'
    else:
        code = ('import sys; from cryodrgn2.preprocess import downsample; '
                'print(downsample(sys.argv[1], sys.argv[2], int(sys.argv[3]), datadir=sys.argv[4] or None))')
        cmd = [sys.executable, '-c', code, str(src), str(out), str(D_new), str(datadir or '')]
        how = 'cryodrgn2.preprocess.downsample (function; no `cryodrgn2 downsample` command yet)'
    _, seconds = run(cmd, env)
    return how, seconds


def reference_downsample(src, out, D_new, env, datadir=None, volume=False):
    cmd = [str(BIN / 'cryodrgn'), 'downsample', str(src), '-D', str(D_new), '-o', str(out), '-b', '1000']
    cmd += (['--datadir', str(datadir)] if datadir else []) + (['--is-vol'] if volume else [])
    return run(cmd, env)[1]


def relative_difference(ours, reference):
    "max |ours - reference| / std(reference)."
    from cryodrgn2.io import read_mrc
    a, b = read_mrc(ours)[0].double(), read_mrc(reference)[0].double()
    if a.shape != b.shape: return dict(error=f'shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}')
    return dict(max_abs_diff_over_std=((a - b).abs().max() / b.std()).item(), ratio_of_std=(a.std() / b.std()).item(),
                pixel_size_ours=read_mrc(ours)[1], pixel_size_reference=read_mrc(reference)[1])


def downsample_all(work, args, env):
    report = {}
    project, star = work / 'project', work / 'project' / STAR
    (work / 'ours').mkdir(exist_ok=True); (work / 'ref').mkdir(exist_ok=True)
    report['ours_how'], report['ours_particles_seconds'] = ours_downsample(star, work / 'ours' / 'particles.128.mrcs', args.D_new, env, project)
    report['reference_particles_seconds'] = reference_downsample(star, work / 'ref' / 'particles.128.mrcs', args.D_new, env, project)
    report['particles'] = relative_difference(work / 'ours' / 'particles.128.mrcs', work / 'ref' / 'particles.128.mrcs')
    ours_downsample(project / 'volume.mrc', work / 'ours' / 'map.128.mrc', args.D_new, env)
    reference_downsample(project / 'volume.mrc', work / 'ref' / 'map.128.mrc', args.D_new, env, volume=True)
    report['map'] = relative_difference(work / 'ours' / 'map.128.mrc', work / 'ref' / 'map.128.mrc')
    ours_downsample(work / 'normalised' / STAR, work / 'ours' / 'normalised.128.mrcs', args.D_new, env, work / 'normalised')
    reference_downsample(work / 'normalised' / STAR, work / 'ref' / 'normalised.128.mrcs', args.D_new, env, work / 'normalised')
    return report


# ---------------------------------------------------------------- 3. CTF
def parse_ctfs(work, plan, args, env):
    "Full-size CTF tables from the star, both tools; a matched-size copy of ours (D_new, pixel size * D / D_new)."
    from cryodrgn2.tables import read_ctf, write_ctf
    star = work / 'project' / STAR
    run([str(BIN / 'cryodrgn'), 'parse_ctf_star', str(star), '-o', str(work / 'ref' / 'ctf.pkl')], env)
    how = None
    if has_command('parse-ctf'):
        try:
            run([str(BIN / 'cryodrgn2'), 'parse-ctf', str(star), '-o', str(work / 'ours' / 'ctf.pkl'), '--datadir', str(work / 'project')], env)
            how = 'cryodrgn2 parse-ctf'
        except RuntimeError as e: log(f'  cryodrgn2 parse-ctf failed ({str(e)[:200]}); using the function')
    if how is None:
        code = 'import sys; from cryodrgn2.preprocess import parse_ctf; print(parse_ctf(sys.argv[1], sys.argv[2], datadir=sys.argv[3]))'
        run([sys.executable, '-c', code, str(star), str(work / 'ours' / 'ctf.pkl'), str(work / 'project')], env)
        how = 'cryodrgn2.preprocess.parse_ctf (function; no `cryodrgn2 parse-ctf` command yet)'
    ours, ref = read_ctf(work / 'ours' / 'ctf.pkl'), read_ctf(work / 'ref' / 'ctf.pkl')
    matched = ours.clone()
    matched[:, 0], matched[:, 1] = args.D_new, ours[:, 1] * ours[:, 0] / args.D_new
    write_ctf(work / 'ours' / 'ctf.matched.pkl', matched)
    return dict(ours_how=how, max_abs_diff_ours_vs_reference=(ours - ref).abs().max().item(),
                max_abs_diff_vs_truth=(ours - plan.ctf_params).abs().max().item(),
                full_size_row0=[round(v, 4) for v in ours[0].tolist()], matched_row0=[round(v, 4) for v in matched[0].tolist()])


# ---------------------------------------------------------------- 4. align (ours, whole process)
def ours_align(work, particles, ctf, name, env):
    "`cryodrgn2 align` as a process: the poses (rots, shift_px at the stack's box) and wall seconds, or the error."
    from cryodrgn2.tables import read_poses
    out = work / 'ours' / f'poses.{name}.pkl'
    cmd = [str(BIN / 'cryodrgn2'), 'align', str(particles), '--volume', str(work / 'ours' / 'map.128.mrc'), '--ctf', str(ctf), '-o', str(out)]
    try: _, seconds = run(cmd, env)
    except RuntimeError as e: return None, dict(error=str(e)[-1500:])
    rots, shift_px = read_poses(out, D=128)
    return (rots, shift_px), dict(seconds=seconds)


def errors(rots, shift_px, true_rots, true_shift_px):
    "Median ||R - R_true||_F^2 (no global alignment: both search the true map), its mean, share > 0.5, shift error."
    from cryodrgn2.metrics import rotation_error
    raw = ((rots - true_rots) ** 2).sum((1, 2))
    return dict(n=len(rots), rot_median=raw.median().item(), rot_mean=raw.mean().item(), frac_wrong=(raw > 0.5).float().mean().item(),
                rot_median_after_global_alignment=rotation_error(rots, true_rots, flip=False).median,
                shift_median_px=(shift_px - true_shift_px).norm(dim=-1).median().item())


# ---------------------------------------------------------------- 4. the reference, as abinit_homo runs it
class ScaledMap(torch.nn.Module):
    "A voxel map times a scale, behind the interface cryoDRGN's PoseSearch expects (a module with parameters)."
    def __init__(self, vol, scale=1.0):
        super().__init__()
        from cryodrgn2.imaging import VoxelModel
        self.model, self.scale = VoxelModel(vol), scale
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # PoseSearch reads the device from the parameters
    def forward(self, coords): return self.model(coords) * self.scale


def reference_search(work, stack, n_ref, true_rots, true_shift_px, batch=16):
    """cryoDRGN 4.3.1 as `abinit_homo_old` sets it up: ImageDataset (window 0.85, inverted, HT normalised by its std over
    up to 1,000 images), load_ctf_for_training on the full-size table, Lattice(D+1), PoseSearch with the abinit defaults;
    the map is cryoDRGN's own downsampled one, scaled by the oracle least-squares scale (see the module docstring)."""
    from cryodrgn import ctf as reference_ctf
    from cryodrgn.dataset import ImageDataset
    from cryodrgn.lattice import Lattice
    from cryodrgn.pose_search import PoseSearch
    from cryodrgn2.io import read_mrc
    data = ImageDataset(str(work / 'ref' / stack), lazy=False, invert_data=True, window=True, window_r=0.85)
    D = data.D  # D_stack + 1
    ctf_params = torch.tensor(reference_ctf.load_ctf_for_training(D - 1, str(work / 'ref' / 'ctf.pkl')))
    lattice = Lattice(D, extent=0.5)
    model = ScaledMap(read_mrc(work / 'ref' / 'map.128.mrc')[0].float().clone()).eval()

    def batch_of(idx):
        y = data[list(idx)]['y']
        freqs = lattice.freqs2d.unsqueeze(0).expand(len(idx), *lattice.freqs2d.shape) / ctf_params[idx, 0].view(-1, 1, 1)
        ctf_i = reference_ctf.compute_ctf(freqs, *torch.split(ctf_params[idx, 1:], 1, 1)).view(len(idx), D, D)
        return y, ctf_i

    # the oracle scale: <y, slice> / <slice, slice> at the true poses, inside the radius-32 band the search ends with
    mask = lattice.get_circular_mask(32)
    num = den = 0.0
    with torch.no_grad():
        for start in range(0, n_ref, batch):
            idx = np.arange(start, min(start + batch, n_ref))
            y, ctf_i = batch_of(idx)
            shifted = lattice.translate_ht(y.view(len(idx), -1)[:, mask], -true_shift_px[idx].unsqueeze(1), mask).view(len(idx), -1)
            slices = model(lattice.coords[mask] @ true_rots[idx]).view(len(idx), -1) * ctf_i.view(len(idx), -1)[:, mask]
            num, den = num + (shifted * slices).sum().item(), den + (slices ** 2).sum().item()
    model.scale = num / den
    ps = PoseSearch(model, lattice, 12, 32, tilt=None, t_extent=10, t_ngrid=7, niter=4, nkeptposes=8, base_healpy=2)
    rots, trans = [], []
    start_time = time.perf_counter()
    with torch.no_grad():
        for start in range(0, n_ref, batch):
            y, ctf_i = batch_of(np.arange(start, min(start + batch, n_ref)))
            r, t, _ = ps.opt_theta_trans(y, ctf_i=ctf_i)
            rots.append(r); trans.append(t)
    seconds = time.perf_counter() - start_time
    return torch.cat(rots).float(), -torch.cat(trans).float(), dict(seconds=seconds, images_per_s=n_ref / seconds,
                                                                    oracle_scale=model.scale, norm=data.norm)


def rotation_difference(a, b):
    "Per image ||R_a - R_b||_F^2."
    return ((a[0] - b[0]) ** 2).sum((1, 2))


# ---------------------------------------------------------------- main
def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    env = {**os.environ, 'OMP_NUM_THREADS': str(args.threads), 'MKL_NUM_THREADS': str(args.threads)}
    report = dict(date=datetime.now(timezone.utc).isoformat(timespec='minutes'), code=git_state(), args=vars(args),
                  machine=dict(platform=platform.platform(), threads=args.threads, torch=torch.__version__, cpu_count=os.cpu_count(),
                               load_average_at_start=os.getloadavg()))
    started = time.perf_counter()
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix='cryodrgn2_real_workflow_'))
    work.mkdir(parents=True, exist_ok=True)
    try:
        log(f'1. simulating {args.n} images at D={args.D} into {work}')
        plan, report['data'] = make_projects(work, args)
        report['project'] = check_project(work, args.n)
        log(f"   {report['data']['seconds']:.0f} s; {report['project']}")
        log(f'2. downsampling to D={args.D_new}')
        report['downsample'] = downsample_all(work, args, env)
        log(f"   {report['downsample']}")
        log('3. CTF from the star')
        report['ctf'] = parse_ctfs(work, plan, args, env)
        log(f"   {report['ctf']}")
        true_rots, true_shift = plan.rots, plan.shift_px * args.D_new / args.D
        report['align'] = {}
        poses = {}
        for name, particles, ctf in [('full_size_ctf', 'particles.128.mrcs', 'ctf.pkl'), ('matched_ctf', 'particles.128.mrcs', 'ctf.matched.pkl'),
                                     ('normalised_copy', 'normalised.128.mrcs', 'ctf.pkl'),
                                     ('normalised_copy_matched_ctf', 'normalised.128.mrcs', 'ctf.matched.pkl')]:
            log(f'4. cryodrgn2 align: {name}')
            poses[name], row = ours_align(work, work / 'ours' / particles, work / 'ours' / ctf, name, env)
            if poses[name] is not None:
                row.update(all=errors(*poses[name], true_rots, true_shift),
                           first_ref_n=errors(poses[name][0][:args.ref_n], poses[name][1][:args.ref_n], true_rots[:args.ref_n], true_shift[:args.ref_n]))
            report['align'][name] = row
            log(f'   {row}')
        report['reference'] = {}
        for name, stack in [('project', 'particles.128.mrcs'), ('normalised_copy', 'normalised.128.mrcs')]:
            log(f"4. cryoDRGN PoseSearch on the first {args.ref_n} images: {name}")
            rots, shift, info = reference_search(work, stack, args.ref_n, true_rots, true_shift)
            report['reference'][name] = dict(**info, errors=errors(rots, shift, true_rots[:args.ref_n], true_shift[:args.ref_n]))
            log(f"   {report['reference'][name]}")
        report['same_poses'] = {}
        for name, a, b in [('matched_vs_full_size_ctf', 'full_size_ctf', 'matched_ctf'),
                           ('matched_vs_full_size_ctf_normalised', 'normalised_copy', 'normalised_copy_matched_ctf'),
                           ('unnormalised_vs_normalised', 'full_size_ctf', 'normalised_copy')]:
            if poses[a] is not None and poses[b] is not None:
                diff = rotation_difference(poses[a], poses[b])
                report['same_poses'][name] = dict(median_rot_difference=diff.median().item(), max_rot_difference=diff.max().item())
    finally:
        if not args.workdir: shutil.rmtree(work, ignore_errors=True)
    report['seconds_total'] = time.perf_counter() - started
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print_table(report)
    log(f'wrote {args.out}')


def print_table(r):
    fmt = lambda x: 'n/a' if x is None else f'{x:.3g}'
    n_ref = r['args']['ref_n']
    log(f"\n{r['args']['n']} images, D={r['args']['D']} -> {r['args']['D_new']}, code {r['code']['commit']}"
        f"{' + local changes' if r['code']['modified'] else ''}, {r['date']}\n")
    log('| measurement | cryodrgn2 | cryoDRGN 4.3.1 |')
    log('|---|---|---|')
    d, c = r['downsample'], r['ctf']
    log(f"| downsample particles to {r['args']['D_new']}: seconds ({d['ours_how'].split(' (')[0]}) | {d['ours_particles_seconds']:.1f} | {d['reference_particles_seconds']:.1f} |")
    log(f"| downsampled particles / map: max abs diff / std | {fmt(d['particles'].get('max_abs_diff_over_std'))} / {fmt(d['map'].get('max_abs_diff_over_std'))} | |")
    log(f"| CTF table at full size: max abs diff vs the reference's / vs truth | {c['max_abs_diff_ours_vs_reference']:.3g} / {c['max_abs_diff_vs_truth']:.3g} | |")
    for name, ref_name, label in [('full_size_ctf', 'project', 'RELION project (offset/scale), full-size CTF'),
                                  ('normalised_copy', 'normalised_copy', 'normalised copy, full-size CTF'),
                                  ('matched_ctf', None, 'RELION project, matched-size CTF'),
                                  ('normalised_copy_matched_ctf', None, 'normalised copy, matched-size CTF')]:
        row, ref = r['align'][name], r['reference'].get(ref_name) if ref_name else None
        if 'error' in row:
            log(f"| {label}: align FAILED | {row['error'].strip().splitlines()[-1][:150]} | |"); continue
        e, e_all = row['first_ref_n'], row['all']
        re_ = ref['errors'] if ref else {}
        log(f"| {label}: first {n_ref} images, median rot. error / shift px / share > 0.5 | {e['rot_median']:.3g} / {e['shift_median_px']:.3g} / "
            f"{e['frac_wrong']:.2f} | {fmt(re_.get('rot_median'))} / {fmt(re_.get('shift_median_px'))} / {fmt(re_.get('frac_wrong'))} |")
        log(f"| {label}: all {e_all['n']} images, same | {e_all['rot_median']:.3g} / {e_all['shift_median_px']:.3g} / {e_all['frac_wrong']:.2f} | |")
        if ref: log(f"| {label}: images/s | {e_all['n'] / row['seconds']:.2f} (whole process) | {ref['images_per_s']:.2f} (search only) |")
    for name, label in [('matched_vs_full_size_ctf', 'matched-size vs full-size CTF table (project)'),
                        ('matched_vs_full_size_ctf_normalised', 'matched-size vs full-size CTF table (normalised copy)'),
                        ('unnormalised_vs_normalised', 'unnormalised vs normalised copy')]:
        if name in r['same_poses']:
            x = r['same_poses'][name]
            log(f"| {label}: median / max rot. difference | {x['median_rot_difference']:.3g} / {x['max_rot_difference']:.3g} | |")


if __name__ == '__main__':
    main()
