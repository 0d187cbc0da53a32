"""Pose search benchmark: accuracy on simulated data and speed against the reference implementation.

What it measures (issue 3, "Must show"):
1. accuracy of `cryodrgn2.pose.search` against the true map: D=64, CTF (defocus 1-3 um), shifts +-3 px, images
   simulated from `../shared/data/hand-vol.mrc` with `cryodrgn2.simulate`, noiseless and at SNR 0.1;
2. speed side by side with cryoDRGN 4.3.1's `cryodrgn.pose_search.PoseSearch` (abinit defaults: base_healpy 2,
   t_extent 10, t_ngrid 7 -> 14 x 14 shifts, niter 4, nkeptposes 8, L 12 -> 32) in the same process, on the same
   images, same model, same number of threads; medians of several runs; once with the map as the model and once
   with a 3 x 256 coordinate MLP (`cryodrgn2.models.HartleyMLP`, fitted to the map so that errors mean something);
3. images/s at D=128, the fraction of the matmul limit reached, and the speed-up of evaluating a network once on
   the 3D lattice;
4. peak RSS of `cryodrgn2.pose.align` on 1,000 vs 10,000 images on disk (separate processes);
5. `--whole` (issue 20): what a user runs, as whole processes timed from outside. `cryodrgn2 align` against cryoDRGN
   4.3.1 aligning the same stack to the same map (`benchmarks/reference_align.py`: its ImageDataset, CTF table,
   Lattice and PoseSearch as abinit_homo sets them up), on 100 and 1,000 images at D=64 (`hand-vol.mrc`) and D=128
   (a phantom), CTF, SNR 0.1, the same threads; median rotation error of both against the true poses.

Run from the project root:  python benchmarks/pose_search.py            (full run: about an hour on 2 cores)
                            python benchmarks/pose_search.py --whole    (whole processes only: about 25 minutes)
                            python benchmarks/pose_search.py --quick    (small sizes, a few minutes)
It prints a table and writes benchmarks/results/pose_search.json.
"""
from __future__ import annotations
import argparse, json, math, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

from cryodrgn2.fourier import ht2_center, ht3_center, symmetrize_ht
from cryodrgn2.geometry import circular_mask, freq_lattice
from cryodrgn2.imaging import VoxelModel, sample_lattice
from cryodrgn2.io import read_mrc, write_mrc
from cryodrgn2.metrics import rotation_error
from cryodrgn2.models import HartleyMLP
from cryodrgn2.pose import lattice_model, search
from cryodrgn2.shifts import band
from cryodrgn2.simulate import phantom, simulate, write_dataset
from cryodrgn2.so3 import grid_size

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / 'shared' / 'data'
if not DATA.is_dir(): DATA = Path('/work/shared/data')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=1000, help='images for the accuracy runs')
    p.add_argument('--ref-n', type=int, default=32, help='images for the speed comparison with a voxel map')
    p.add_argument('--ref-mlp-n', type=int, default=16, help='images for the speed comparison with the MLP')
    p.add_argument('--runs', type=int, default=3, help='timed runs per measurement (median reported)')
    p.add_argument('--threads', type=int, default=2, help='torch threads for both implementations')
    p.add_argument('--mlp-steps', type=int, default=400, help='Adam steps fitting the MLP to the map')
    p.add_argument('--memory-n', type=int, nargs='*', default=[1000, 10000], help='stack sizes for the peak-RSS test')
    p.add_argument('--parts', nargs='*', default=['accuracy', 'speed', 'mlp', 'd128', 'memory'],
                   help='what to measure (default: everything); results of earlier runs in --out are kept')
    p.add_argument('--quick', action='store_true', help='small sizes everywhere (a smoke test of this script)')
    p.add_argument('--whole', action='store_true', help='only the whole-process comparison of `cryodrgn2 align` with the reference')
    p.add_argument('--whole-n', type=int, nargs='*', default=[100, 1000], help='stack sizes of the whole-process comparison')
    p.add_argument('--whole-d', type=int, nargs='*', default=[64, 128], help='box sizes of the whole-process comparison')
    p.add_argument('--device', default='cpu', help="device of both searches in --whole (e.g. 'cuda': images/s on a GPU)")
    p.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results' / 'pose_search.json'))
    p.add_argument('--memory-child', nargs=3, metavar=('PARTICLES', 'MAP', 'CTF'), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.n, args.ref_n, args.ref_mlp_n, args.runs, args.mlp_steps, args.memory_n = 64, 8, 2, 1, 60, [200, 800]
        args.whole_n, args.whole_d = [16], [64]
    return args


def log(*a): print(*a, flush=True)


def timed(fn, runs):
    "Median wall time of `runs` calls, and the last result."
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def errors(rots, shift_px, plan, idx=None):
    "Rotation error ||R - R_true||_F^2 (raw, and after the best global rotation) and shift error, in pixels."
    true_rots, true_shift = (plan.rots, plan.shift_px) if idx is None else (plan.rots[idx], plan.shift_px[idx])
    raw = ((rots.cpu() - true_rots) ** 2).sum((1, 2))
    aligned = rotation_error(rots.cpu(), true_rots, flip=False)
    shift = (shift_px.cpu() - true_shift).norm(dim=-1)
    return dict(rot_median=raw.median().item(), rot_mean=raw.mean().item(), rot_median_aligned=aligned.median,
                frac_wrong=(raw > 0.5).float().mean().item(), shift_median_px=shift.median().item())


# ---------------------------------------------------------------- the reference implementation, same model
class ReferenceInterface(torch.nn.Module):
    "Any coords -> values model behind the interface cryoDRGN's PoseSearch expects (a module with parameters, eval mode)."
    def __init__(self, model):
        super().__init__()
        self.model = model
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # PoseSearch reads the device from the parameters
    def forward(self, coords): return self.model(coords)


def reference_search(model, imgs, ctf_table, batch=16):
    "cryoDRGN 4.3.1 PoseSearch with its abinit defaults; returns rots and shift_px (= -trans)."
    from cryodrgn import ctf as reference_ctf
    from cryodrgn.lattice import Lattice
    from cryodrgn.pose_search import PoseSearch
    D = imgs.shape[-1]
    lattice = Lattice(D + 1, extent=0.5)
    ps = PoseSearch(ReferenceInterface(model).eval(), lattice, 12, 32, base_healpy=2, t_extent=10, t_ngrid=7, niter=4, nkeptposes=8)
    rots, trans = [], []
    for start in range(0, len(imgs), batch):
        y = symmetrize_ht(ht2_center(imgs[start:start + batch]), ndim=2)
        ctf_i = None
        if ctf_table is not None:
            p = ctf_table[start:start + batch]
            ctf_i = reference_ctf.compute_ctf(lattice.freqs2d[None] / p[:, 1].view(-1, 1, 1),
                                              *[p[:, i].view(-1, 1) for i in (2, 3, 4, 5, 6, 7, 8)]).view(-1, D + 1, D + 1)
        with torch.no_grad():
            r, t, _ = ps.opt_theta_trans(y, ctf_i=ctf_i)
        rots.append(r); trans.append(t)
    return torch.cat(rots), -torch.cat(trans)


# ---------------------------------------------------------------- models
def fit_mlp(vol, steps, seed=0):
    "A 3 x 256 HartleyMLP regressed onto the map's Hartley transform inside the ball of radius 34 (cached in /tmp)."
    D = vol.shape[-1]
    cache = Path(tempfile.gettempdir()) / f'cryodrgn2_bench_hand_mlp_D{D}_{steps}_{seed}.pt'
    ball = circular_mask(D, 34, ndim=3)
    coords, target = freq_lattice(D, ndim=3)[ball], ht3_center(vol)[ball]
    mlp = HartleyMLP(D, hidden=256, layers=3, out_scale=target.std().item(), generator=torch.Generator().manual_seed(seed))
    if cache.exists():
        mlp.load_state_dict(torch.load(cache))
    else:
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(mlp.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        for _ in range(steps):
            idx = torch.randint(len(coords), (8192,), generator=gen)
            loss = ((mlp(coords[idx]) - target[idx]) ** 2).mean()
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        torch.save(mlp.state_dict(), cache)
    mlp.eval()
    with torch.no_grad():
        inside = coords.norm(dim=-1) * D <= 32
        pred = torch.cat([mlp(c) for c in coords[inside].split(65536)])
        rel = ((pred - target[inside]).norm() / target[inside].norm()).item()
    return mlp, rel


# ---------------------------------------------------------------- the matmul limit
def matmul_gflops(threads):
    "fp32 GFLOP/s of a large matrix product on this machine (median of 5)."
    a, b = torch.randn(4096, 1024), torch.randn(1024, 4096)
    a @ b
    t, _ = timed(lambda: a @ b, 5)
    return 2 * 4096 * 1024 * 4096 / t / 1e9


def base_gflop_per_image(D=64, level=2, l_min=12, t_ngrid=14):
    "FLOPs of the base-grid matrix product for one image: 2 x rotations x coefficients x shifts."
    return 2 * math.prod(grid_size(level)) * len(band(D, l_min).index) * t_ngrid ** 2 / 1e9


# ---------------------------------------------------------------- memory (separate processes)
def memory_child(particles, vol, ctf):
    from cryodrgn2.pose import align
    torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '2')))
    start = time.perf_counter()
    result = align(particles, vol, ctf, progress=False)
    elapsed = time.perf_counter() - start
    status = Path('/proc/self/status').read_text() if Path('/proc/self/status').exists() else ''
    fields = {line.split(':')[0]: line.split(':')[1].strip() for line in status.splitlines() if ':' in line}
    # VmHWM is this process's own peak; ru_maxrss would also count the parent's pages at fork time
    print(json.dumps(dict(n=len(result.rots), seconds=elapsed, peak_rss_mb=int(fields['VmHWM'].split()[0]) / 1024,
                          rss_anon=fields.get('RssAnon'), rss_file=fields.get('RssFile'))))


def memory_test(vol, sizes, threads):
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        write_mrc(Path(tmp) / 'map.mrc', vol)
        for n in sizes:
            folder = Path(tmp) / f'n{n}'
            write_dataset(folder, vol, n, snr=0.1, pixel_size=1.0, seed=7, progress=False)
            env = {**os.environ, 'BENCH_THREADS': str(threads)}
            run = subprocess.run([sys.executable, __file__, '--memory-child', str(folder / 'particles.mrcs'), str(Path(tmp) / 'map.mrc'),
                                  str(folder / 'ctf.pkl')], capture_output=True, text=True, env=env)
            if run.returncode: raise RuntimeError(run.stderr)
            out.append(json.loads(run.stdout.strip().splitlines()[-1]))
            log(f'  memory: {out[-1]}')
    return out


def main():
    args = parse_args()
    if args.memory_child: return memory_child(*args.memory_child)
    torch.set_num_threads(args.threads)
    if args.whole: return whole_processes(args)
    torch.manual_seed(0)
    old = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    report = dict(machine=dict(platform=platform.platform(), threads=args.threads, torch=torch.__version__,
                               cpu_count=os.cpu_count(), load_average_at_start=os.getloadavg()), args=vars(args))
    parts = set(args.parts)
    vol = read_mrc(DATA / 'hand-vol.mrc')[0].float().clone()
    D = vol.shape[-1]
    hand = VoxelModel(vol)
    gflops = matmul_gflops(args.threads)
    per_image = base_gflop_per_image(D)
    report['matmul'] = dict(gflops=gflops, base_gflop_per_image=per_image, limit_images_per_s=gflops / per_image)
    log(f'matmul: {gflops:.0f} GFLOP/s; base grid {per_image:.2f} GFLOP/image -> limit {gflops / per_image:.0f} images/s')

    # 1. accuracy, paper defaults, 1,000 images
    report['accuracy'] = {}
    datasets = {}
    for name, snr in [('noiseless', None), ('snr0.1', 0.1)]:
        imgs, plan = simulate(vol, args.n, snr=snr, invert=False, seed=11, pixel_size=1.0, max_shift_px=3.0,
                              defocus_range=(10000., 30000.))
        datasets[name] = (imgs, plan)
        if 'accuracy' not in parts: continue
        seconds, found = timed(lambda: search(hand, imgs, plan.ctf_params), 1)
        acc = errors(found.rots, found.shift_px, plan)
        report['accuracy'][name] = dict(**acc, images_per_s=args.n / seconds, scale=found.scale[0].item())
        log(f'accuracy {name}: {report["accuracy"][name]}')

    # 2. speed side by side, same images (first ref_n of each dataset), scale fixed at 1 for both
    report['speed'] = {}
    for name in (['noiseless', 'snr0.1'] if 'speed' in parts else []):
        imgs, plan = datasets[name]
        sub, ctf_sub, idx = imgs[:args.ref_n], plan.ctf_params[:args.ref_n], torch.arange(args.ref_n)
        t_ours, ours = timed(lambda: search(hand, sub, ctf_sub, scale=1.0), args.runs)
        t_ref, ref = timed(lambda: reference_search(hand, sub, ctf_sub), args.runs)
        row = dict(images=args.ref_n, ours_images_per_s=args.ref_n / t_ours, reference_images_per_s=args.ref_n / t_ref,
                   speedup=t_ref / t_ours, ours=errors(ours.rots, ours.shift_px, plan, idx),
                   reference=errors(*ref, plan, idx))
        report['speed'][f'voxel_{name}'] = row
        log(f'speed voxel {name}: ours {row["ours_images_per_s"]:.2f} img/s, reference {row["reference_images_per_s"]:.2f} img/s, '
            f'x{row["speedup"]:.1f}; median err ours {row["ours"]["rot_median"]:.2e} ref {row["reference"]["rot_median"]:.2e}')
    # the reference's CTF path interpolates CTF-modulated slices; without CTF it is accurate: show both
    if 'speed' in parts: speed_without_ctf(report, vol, hand, args)
    if 'mlp' in parts: speed_mlp(report, vol, datasets, args)
    if 'd128' in parts: speed_d128(report, hand, datasets, args)

    # 4. memory
    if 'memory' in parts and args.memory_n:
        mem = memory_test(vol, args.memory_n, args.threads)
        report['memory'] = dict(runs=mem, ratio_max_over_min=max(m['peak_rss_mb'] for m in mem) / min(m['peak_rss_mb'] for m in mem))

    for key, value in old.items():  # keep what this run did not measure
        if key not in report: report[key] = value
        elif isinstance(value, dict) and key not in ('machine', 'args'): report[key] = {**value, **report[key]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print_table(report)
    log(f'wrote {args.out}')


def speed_without_ctf(report, vol, hand, args):
    "The reference's CTF path interpolates CTF-modulated slices; without CTF it is accurate: show both."
    imgs_nc, plan_nc = simulate(vol, args.ref_n, snr=0.1, invert=False, seed=12, pixel_size=1.0, ctf=False)
    t_ours, ours = timed(lambda: search(hand, imgs_nc, None, scale=1.0), args.runs)
    t_ref, ref = timed(lambda: reference_search(hand, imgs_nc, None), args.runs)
    report['speed']['voxel_snr0.1_no_ctf'] = dict(images=args.ref_n, ours_images_per_s=args.ref_n / t_ours,
                                                  reference_images_per_s=args.ref_n / t_ref, speedup=t_ref / t_ours,
                                                  ours=errors(ours.rots, ours.shift_px, plan_nc), reference=errors(*ref, plan_nc))
    log(f'speed voxel no-CTF: {report["speed"]["voxel_snr0.1_no_ctf"]}')



def speed_mlp(report, vol, datasets, args):
    "A 3 x 256 MLP as the model, for both."
    D = vol.shape[-1]
    mlp, fit_error = fit_mlp(vol, args.mlp_steps)
    report['mlp'] = dict(hidden=256, layers=3, parameters=sum(p.numel() for p in mlp.parameters()), fit_rel_error_L32=fit_error)
    imgs, plan = datasets['noiseless']
    sub, ctf_sub, idx = imgs[:args.ref_mlp_n], plan.ctf_params[:args.ref_mlp_n], torch.arange(args.ref_mlp_n)
    t_ours, ours = timed(lambda: search(mlp, sub, ctf_sub, scale=1.0), args.runs)
    t_ref, ref = timed(lambda: reference_search(mlp, sub, ctf_sub), max(1, args.runs - 1))
    t_direct, direct = timed(lambda: search(mlp, sub[:2], ctf_sub[:2], scale=1.0, on_lattice=False), 1)
    t_lattice, _ = timed(lambda: lattice_model(mlp, D, 34), 1)
    row = dict(images=args.ref_mlp_n, ours_images_per_s=args.ref_mlp_n / t_ours, reference_images_per_s=args.ref_mlp_n / t_ref,
               speedup=t_ref / t_ours, ours=errors(ours.rots, ours.shift_px, plan, idx), reference=errors(*ref, plan, idx),
               ours_direct_images_per_s=2 / t_direct, lattice_seconds=t_lattice,
               lattice_speedup_on_this_batch=(t_direct / 2) / (t_ours / args.ref_mlp_n))
    report['speed']['mlp_noiseless'] = row
    log(f'speed MLP: {row}')



def speed_d128(report, hand, datasets, args):
    "D = 128 (a protein-like phantom): images/s of ours; and the base grid's share of the matmul limit at D=64."
    vol128 = phantom(128, n_atoms=1600, seed=0)
    imgs128, plan128 = simulate(vol128, args.ref_n, snr=0.1, invert=False, seed=13, pixel_size=1.0)
    t128, found128 = timed(lambda: search(VoxelModel(vol128), imgs128, plan128.ctf_params, scale='global'), args.runs)
    report['d128'] = dict(images=args.ref_n, images_per_s=args.ref_n / t128, **errors(found128.rots, found128.shift_px, plan128))
    log(f'D=128: {report["d128"]}')
    # base-grid-only throughput (the matmul part) at D=64
    imgs, plan = datasets['noiseless']
    t_base, _ = timed(lambda: search(hand, imgs[:args.ref_n * 2], plan.ctf_params[:args.ref_n * 2], scale=1.0, iters=0), args.runs)
    base_rate = 2 * args.ref_n / t_base
    report['matmul'].update(base_only_images_per_s=base_rate, base_fraction_of_limit=base_rate / report['matmul']['limit_images_per_s'])
    if 'voxel_noiseless' in report['speed']:
        report['matmul']['full_fraction_of_limit'] = report['speed']['voxel_noiseless']['ours_images_per_s'] / report['matmul']['limit_images_per_s']



# ---------------------------------------------------------------- 5. whole processes (issue 20)
def whole_dataset(work, D, n):
    "A stack of n images (CTF, SNR 0.1) of hand-vol.mrc (D=64) or a D=128 phantom, written as a user would get it."
    folder = work / f'D{D}_n{n}'
    if not (folder / 'particles.mrcs').exists():
        vol = read_mrc(DATA / 'hand-vol.mrc')[0].float().clone() if D == 64 else phantom(D, n_atoms=1600, seed=0)
        write_dataset(folder, vol, n, snr=0.1, pixel_size=1.0, seed=20 + n, progress=False, force=True)
    return folder


def whole_run(cmd, threads):
    "Wall seconds of a command run as its own process, with `threads` threads; and its output."
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads), 'PYTHONPATH': str(ROOT)}
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode: raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{out.stderr[-3000:]}")
    return seconds, out.stdout + out.stderr


def pose_errors(found, truth):
    "Median ||R - R_true||_F^2 and the share above 0.5, between two cryoDRGN pose .pkl files."
    import pickle
    rots, true_rots = (torch.as_tensor(np.asarray(pickle.load(open(f, 'rb'))[0]), dtype=torch.float32) for f in (found, truth))
    err = ((rots - true_rots) ** 2).sum((1, 2))
    return dict(rot_median=err.median().item(), frac_wrong=(err > 0.5).float().mean().item())


def whole_processes(args):
    "`cryodrgn2 align` and the reference script as whole processes, same stacks, same threads; medians of runs."
    work = Path(tempfile.gettempdir()) / 'cryodrgn2_bench_whole'
    report = dict(machine=dict(platform=platform.platform(), threads=args.threads, torch=torch.__version__,
                               load_average_at_start=os.getloadavg()), rows=[])
    cli = [sys.executable, '-m', 'cryodrgn2.cli']
    for D in args.whole_d:
        for n in args.whole_n:
            data = whole_dataset(work, D, n)
            stack, ctf, vol, truth = (str(data / f) for f in ('particles.mrcs', 'ctf.pkl', 'volume.mrc', 'poses.pkl'))
            runs = args.runs if n <= 100 else 1
            ours, ref, ref_oracle = [], [], []
            for _ in range(runs):  # alternate, so that a change in the machine's load falls on both
                ours.append(whole_run(cli + ['align', stack, '--ctf', ctf, '--volume', vol, '-o', str(data / 'ours.pkl'), '-q', '--device', args.device], args.threads)[0])
                seconds, text = whole_run([sys.executable, str(ROOT / 'benchmarks' / 'reference_align.py'), stack, ctf, vol,
                                           str(data / 'ref.pkl'), '--true-poses', truth, '--threads', str(args.threads), '--device', args.device], args.threads)
                oracle = float(text.split('oracle_seconds=')[1].split()[0])
                ref.append(seconds - oracle); ref_oracle.append(oracle)
            row = dict(D=D, n=n, runs=runs, device=args.device, ours_seconds=float(np.median(ours)), reference_seconds=float(np.median(ref)),
                       reference_oracle_seconds_left_out=float(np.median(ref_oracle)), ours_all=ours, reference_all=ref,
                       ours_errors=pose_errors(data / 'ours.pkl', truth), reference_errors=pose_errors(data / 'ref.pkl', truth))
            row['speedup'] = row['reference_seconds'] / row['ours_seconds']
            report['rows'].append(row)
            log(f"D={D} n={n} on {args.device}: ours {row['ours_seconds']:.1f} s ({n / row['ours_seconds']:.1f} images/s), "
                f"reference {row['reference_seconds']:.1f} s, x{row['speedup']:.1f}; "
                f"median error ours {row['ours_errors']['rot_median']:.3g} ({row['ours_errors']['frac_wrong']:.0%} > 0.5), "
                f"reference {row['reference_errors']['rot_median']:.3g} ({row['reference_errors']['frac_wrong']:.0%})")
    report['machine']['load_average_at_end'] = os.getloadavg()
    out = Path(args.out).with_name('pose_search_whole.json')
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    log('\n| box | images | `cryodrgn2 align` s | reference s | ratio | median rot. error ours / reference | > 0.5 ours / reference |')
    log('|---|---|---|---|---|---|---|')
    for r in report['rows']:
        log(f"| {r['D']} | {r['n']:,} | {r['ours_seconds']:.1f} | {r['reference_seconds']:.1f} | {r['speedup']:.1f}x | "
            f"{r['ours_errors']['rot_median']:.3g} / {r['reference_errors']['rot_median']:.3g} | "
            f"{r['ours_errors']['frac_wrong']:.0%} / {r['reference_errors']['frac_wrong']:.0%} |")
    log(f'wrote {out}')


def print_table(r):
    log('\n| measurement | cryodrgn2 | cryoDRGN 4.3.1 | ratio |')
    log('|---|---|---|---|')
    for name, row in r.get('speed', {}).items():
        log(f"| {name}: images/s ({row['images']} images) | {row['ours_images_per_s']:.2f} | {row['reference_images_per_s']:.2f} | x{row['speedup']:.1f} |")
        log(f"| {name}: median rot. error | {row['ours']['rot_median']:.2e} | {row['reference']['rot_median']:.2e} | |")
    for name, row in r.get('accuracy', {}).items():
        log(f"| accuracy {name} ({r['args']['n']} images): median rot. error / shift px / wrong (>0.5) | "
            f"{row['rot_median']:.2e} / {row['shift_median_px']:.3f} / {row['frac_wrong']:.3f} | | |")
        log(f"| accuracy {name}: images/s (global scale estimated) | {row['images_per_s']:.2f} | | |")
    if 'd128' in r: log(f"| D=128 images/s | {r['d128']['images_per_s']:.2f} | | |")
    m = r['matmul']
    log(f"| matmul limit (base grid, {m['gflops']:.0f} GFLOP/s) images/s | {m['limit_images_per_s']:.0f} | | |")
    if 'base_only_images_per_s' in m:
        log(f"| base grid only images/s (fraction of limit) | {m['base_only_images_per_s']:.1f} ({m['base_fraction_of_limit']:.2f}) | | |")
    if 'full_fraction_of_limit' in m: log(f"| full search fraction of limit | {m['full_fraction_of_limit']:.3f} | | |")
    if 'memory' in r:
        for run in r['memory']['runs']: log(f"| peak RSS, {run['n']} images | {run['peak_rss_mb']:.0f} MB | | |")
        log(f"| RSS ratio | {r['memory']['ratio_max_over_min']:.3f} | | |")


if __name__ == '__main__':
    main()
