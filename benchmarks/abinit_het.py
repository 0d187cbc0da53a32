"""Issue 5 "Must show": heterogeneous ab initio reconstruction (`cryodrgn2 abinit-het`), against the ground truth
and the reference `cryodrgn abinit_het_old` (cryoDRGN 4.3.1).

Parts (`--parts`, comma-separated; each runs in its own subprocess with `--threads` threads):

- `memory`: peak resident memory (VmHWM) at D=64 and D=128 with the default networks (3 x 256 decoder and
  encoder, zdim 8), default batch size (8) and default search group (32 images), at the full band limit D/2 - 1:
  `--mem-steps` training steps and one pose-search group. With `--mem-reference`, the same for the reference: a
  1-epoch `cryodrgn abinit_het_old` run on 32 images at each box size (its peak is the search at the full band).
- `search`: the cost of a local search at each image's own z (D=64, default networks, 32 images 5 deg from their
  poses, level-3 start, 3 rounds, band 12 -> 31), with each lattice evaluated only in the wedge the search can read
  and on the whole ball: seconds per image (median of 3 runs each), the fraction of lattice points evaluated, and
  whether both found the same poses.
- `motion`: the continuous-motion dataset (hinged phantom family, `--motion-states` maps along u in [0, 1], D=64,
  `--n` images, SNR 0.1, CTF, shifts +-3 px). `abinit_het` with its defaults (a 10-epoch homogeneous consensus,
  then `--epochs` epochs of the VAE). Reports the consensus poses' median rotation error, and
  |Spearman| between PC1 of z and the true u, the median rotation error after global alignment, and the FSC=0.5
  resolution of maps generated at the latent position of 3 true coordinates (the mean z of the images of the state
  nearest u = 0, 0.5, 1) against the true maps (after alignment).
- `homo`: `abinit_homo` (`--homo-epochs`) on images of the single map u = 0.5 (same N, SNR, CTF): the homogeneous FSC=0.5 resolution
  that `motion`'s maps must match within 1.5x. An interrupted run is resumed (`resumed` in the results; its
  `seconds` then count only the resumed part).
- `twostate`: two distinct phantoms, 50/50, D=64, `--n` images, SNR 0.1, CTF: k-means (k=2) accuracy on z, the median
  rotation error of each state's images (each state aligned on its own), and the same for the consensus poses (with
  the consensus classes' accuracy when `--het-kwargs '{"consensus_classes": 2}'` makes it a two-class run).
- `twostate_hinge`: the same with two conformations of one molecule (the ends u = 0 and u = 1 of the motion family).
- `reference` (with `motion`, after it): `cryodrgn abinit_het_old` on the same motion images with its defaults (zdim 8;
  it pretrains at random poses on 10,000 images or one pass over fewer, then searches at epochs 1, 6, ... of 30), given our wall time
  as its budget: its progress when the budget ran out (the last line of its log, written every batch of 16 images), and, run on to at most `--ref-cap`
  times the budget, the time of each epoch's checkpoint and that epoch's |Spearman| of PC1 and median rotation error.

Results are printed and written to benchmarks/results/abinit_het.json (merged with earlier parts).

    python benchmarks/abinit_het.py --parts memory [--threads 2] [--workdir DIR]
    python benchmarks/abinit_het.py --parts search --threads 1
    python benchmarks/abinit_het.py --parts motion,reference,homo,twostate_hinge --n 5000 --epochs 6
    python benchmarks/abinit_het.py --parts motion,reference --score-only --n 5000 --epochs 6 --ref-cap 1  # the reference for our time
    python benchmarks/abinit_het.py --parts twostate --n 5000 --epochs 6 --het-kwargs '{"consensus_classes": 2}'
"""
import argparse, json, os, sys
from pathlib import Path
from common import run

MEMORY = r'''
import sys, json, time, torch
from pathlib import Path
torch.set_num_threads(int(sys.argv[3]))
from functools import partial
from cryodrgn2.simulate import phantom, simulate
from cryodrgn2.train import Learner
from cryodrgn2.data import prepare_particles
from cryodrgn2.vae import HetVAE, VAECallback, search_latent
D, steps = int(sys.argv[1]), int(sys.argv[2])
images, plan = simulate(phantom(D), 8 * steps + 32, snr=0.1, invert=False, seed=0, pixel_size=3.0)
data = prepare_particles(images, plan.ctf_params, pixel_size=3.0)
learn = Learner(partial(HetVAE, D), data, plan.rots, plan.shift_px, band_limit=D // 2 - 1, cbs=[VAECallback()], device='cpu')
learn.batches = [torch.arange(8 * i, 8 * i + 8) for i in range(steps)]
learn.n_epochs, learn.epoch = 1, 0
from cryodrgn2.shifts import band
learn.band = band(D, D // 2 - 1)
start = time.perf_counter()
for b in learn.batches:
    loss = learn.batch_loss(b); learn.opt.zero_grad(); loss.backward(); learn.opt.step()
train_s = (time.perf_counter() - start) / steps
idx = torch.arange(8 * steps, 8 * steps + 32)
with torch.no_grad(): z = learn.model.encode(data.images[idx], plan.shift_px[idx], data.ctf_params[idx])[0]
start = time.perf_counter()
search_latent(learn.model.decoder, data.images[idx], data.ctf_params[idx], z, l_min=12, l_max=D // 2 - 1, group=32)
search_s = (time.perf_counter() - start) / 32
fields = dict(line.split(':', 1) for line in Path('/proc/self/status').read_text().splitlines() if ':' in line)
print(json.dumps(dict(D=D, train_step_s=train_s, search_s_per_image=search_s, peak_rss_mb=int(fields['VmHWM'].split()[0]) / 1024)))
'''

SEARCH = r'''
import sys, json, math, time, statistics, torch
torch.set_num_threads(int(sys.argv[1]))
from cryodrgn2.simulate import phantom, simulate
from cryodrgn2.data import prepare_particles
from cryodrgn2.geometry import axis_angle_to_matrix
from cryodrgn2.models import fast_bf16
from cryodrgn2.vae import HetVAE, LatentLattices, search_latent
from cryodrgn2.pose import local_candidates, local_reach
from cryodrgn2.so3 import so3_grid
D, n = 64, 32
images, plan = simulate(phantom(D), n, snr=0.1, invert=False, seed=0, pixel_size=3.0)
data = prepare_particles(images, plan.ctf_params, pixel_size=3.0)
model = HetVAE(D).eval()  # default 3 x 256 networks, zdim 8
z = torch.randn(n, 8, generator=torch.Generator().manual_seed(0))
axes = torch.nn.functional.normalize(torch.randn(n, 3, generator=torch.Generator().manual_seed(1)), dim=-1)
init = (axis_angle_to_matrix(axes * math.radians(5)) @ plan.rots, plan.shift_px)  # 5 deg off
kw = dict(l_min=12, l_max=D // 2 - 1, group=n, init=init, base_level=3, iters=3, bf16=fast_bf16('cpu'), scale=1.0)
times, found = {True: [], False: []}, {}
for wedge in (True, False) * 3:
    start = time.perf_counter(); found[wedge] = search_latent(model.decoder, data.images, data.ctf_params, z, wedge=wedge, **kw)
    times[wedge].append((time.perf_counter() - start) / n)
reach = local_reach(local_candidates(so3_grid(3), *init, 3, 16), init[0])
evaluated = LatentLattices(model.decoder, z, D // 2 + 1, bf16=kw['bf16'], wedge=(init[0][:, 2], reach)).evaluated
whole = LatentLattices(model.decoder, z[:1], D // 2 + 1, bf16=kw['bf16']).evaluated * n
print(json.dumps(dict(D=D, images=n, bf16=kw['bf16'], wedge_s_per_image=statistics.median(times[True]),
                      whole_s_per_image=statistics.median(times[False]), runs=times[True] + times[False],
                      speedup=statistics.median(times[False]) / statistics.median(times[True]), lattice_points_fraction=evaluated / whole,
                      median_reach_deg=math.degrees(reach.median().item()), same_poses=bool(torch.equal(found[True].rots, found[False].rots)))))
'''

OURS = r'''
import sys, json, time, torch
torch.set_num_threads(int(sys.argv[5]))
from cryodrgn2.jobs import abinit_het
kw = json.loads(sys.argv[4])
start = time.perf_counter()
learn = abinit_het(sys.argv[1], sys.argv[2], sys.argv[3], force=True, progress=False, **kw)
print(json.dumps(dict(seconds=time.perf_counter() - start, epochs=learn.history)))
'''

HOMO = r'''
import sys, json, time, torch
torch.set_num_threads(int(sys.argv[5]))
from pathlib import Path
from cryodrgn2.jobs import abinit_homo
from cryodrgn2.train import latest_checkpoint
out = Path(sys.argv[3])
resume = latest_checkpoint(out) is not None and not (out / 'reconstruct.mrc').exists()  # an interrupted run: continue it
start = time.perf_counter()
learn = abinit_homo(sys.argv[1], sys.argv[2], out, epochs=int(sys.argv[4]), force=not resume, load='latest' if resume else None, progress=False)
print(json.dumps(dict(seconds=time.perf_counter() - start, resumed=resume)))
'''

SCORE = r'''
import sys, json, pickle, torch, numpy as np
from pathlib import Path
from cryodrgn2.io import read_mrc
from cryodrgn2.tables import read_poses
from cryodrgn2.metrics import rotation_error
from cryodrgn2.metrics import compare_maps
from cryodrgn2.analysis import kmeans
from cryodrgn2.results import load_run
from cryodrgn2.vae import pca
outdir, truth, n, kind = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
D = json.loads((truth / 'truth.json').read_text())['D']
with open(sys.argv[5], 'rb') as f: z = torch.as_tensor(np.asarray(pickle.load(f)), dtype=torch.float32)[:n]
with open(sys.argv[6], 'rb') as f: obj = pickle.load(f)
rots = torch.as_tensor(np.asarray(obj[0] if isinstance(obj, tuple) else obj), dtype=torch.float32)[:n]
true_rots = read_poses(truth / 'poses.pkl', D)[0][:n]
err = rotation_error(rots, true_rots)
out = dict(median_rotation_error=err.median, mean_rotation_error=err.mean, median_angle_deg=err.angles_deg.median().item())
def ranks(x): return torch.argsort(torch.argsort(x)).double()
def spearman(a, b): a, b = ranks(a), ranks(b); a, b = a - a.mean(), b - b.mean(); return ((a * b).sum() / (a.norm() * b.norm())).item()
def read_z(path):
    with open(path, 'rb') as f: return torch.as_tensor(np.asarray(pickle.load(f)), dtype=torch.float32)[:n]
snapshots = sorted((int(p.stem.split('.')[1]), p) for p in outdir.glob('z.*.pkl') if p.stem.split('.')[1].isdigit())
if kind == 'motion':
    with open(truth / 'coords.pkl', 'rb') as f: u = torch.as_tensor(np.asarray(pickle.load(f)), dtype=torch.float64)[:n]
    out['abs_spearman_pc1'] = abs(spearman(pca(z, 1)[0][:, 0].double(), u))
    if Path(sys.argv[5]).name == 'z.pkl': out['abs_spearman_pc1_by_epoch'] = [abs(spearman(pca(read_z(p), 1)[0][:, 0].double(), u)) for _, p in snapshots]
    if len(sys.argv) > 7:  # maps at the latent position of true coordinates, against the true maps
        with open(truth / 'states.pkl', 'rb') as f: states = torch.as_tensor(np.asarray(pickle.load(f)))[:n]
        run = load_run(outdir)
        n_states = int(json.loads((truth / 'truth.json').read_text())['n_states'])
        res = {}
        for s in sorted({0, n_states // 2, n_states - 1}):
            vol = run.volumes(z[states == s].mean(0, keepdim=True))[0]
            ref = torch.as_tensor(np.asarray(read_mrc(truth / f'volume.{s:03d}.mrc')[0]), dtype=torch.float32)
            res[f'u={s / (n_states - 1):.2f}'] = compare_maps(vol, ref, run.pixel_size)['resolution_0.5']
        out['fsc05_A_at_true_coords'] = res
else:
    with open(truth / 'states.pkl', 'rb') as f: states = torch.as_tensor(np.asarray(pickle.load(f)))[:n]
    def accuracy(z): labels = kmeans(z, 2)[0]; return max((labels == states).float().mean().item(), (labels != states).float().mean().item())
    out['kmeans2_accuracy'] = accuracy(z)
    if Path(sys.argv[5]).name == 'z.pkl': out['kmeans2_accuracy_by_epoch'] = [accuracy(read_z(p)) for _, p in snapshots]
    out['median_rotation_error_by_state'] = [rotation_error(rots[states == s], true_rots[states == s]).median for s in (0, 1)]  # each aligned on its own
print(json.dumps(out))
'''


CONSENSUS = r'''
import sys, json, pickle, torch, numpy as np
from pathlib import Path
from cryodrgn2.tables import read_poses
from cryodrgn2.metrics import rotation_error
D = json.loads((Path(sys.argv[2]) / 'truth.json').read_text())['D']
n = int(sys.argv[3])
est, true = read_poses(sys.argv[1], D)[0][:n], read_poses(Path(sys.argv[2]) / 'poses.pkl', D)[0][:n]
err = rotation_error(est, true)
out = dict(median_rotation_error=err.median, median_angle_deg=err.angles_deg.median().item())
if not (Path(sys.argv[2]) / 'coords.pkl').exists() and (Path(sys.argv[2]) / 'states.pkl').exists():  # discrete states
    with open(Path(sys.argv[2]) / 'states.pkl', 'rb') as f: states = torch.as_tensor(np.asarray(pickle.load(f)))[:n]
    out['median_rotation_error_by_state'] = [rotation_error(est[states == s], true[states == s]).median for s in (0, 1)]
    classes = Path(sys.argv[1]).parent / 'classes.pkl'
    if classes.exists():  # a multi-class consensus
        with open(classes, 'rb') as f: found = torch.as_tensor(np.asarray(pickle.load(f)))[:n]
        out['class_accuracy'] = max((found == states).float().mean().item(), (found != states).float().mean().item())
print(json.dumps(out))
'''


def last_json(text): return json.loads(text.strip().splitlines()[-1])


def logged_seconds(out):
    "Wall time of a finished `abinit_het` run from its logs: the consensus's first line to the VAE's last (1 s resolution)."
    from datetime import datetime
    stamp = lambda line: datetime.strptime(line[:19], '%Y-%m-%d %H:%M:%S')
    first = (out / 'consensus' / 'run.log') if (out / 'consensus' / 'run.log').exists() else out / 'run.log'
    return (stamp((out / 'run.log').read_text().splitlines()[-1]) - stamp(first.read_text().splitlines()[0])).total_seconds()


def simulate(outdir, env, n, extra):
    if not (outdir / 'particles.mrcs').exists():
        run(['cryodrgn2', 'simulate', '-o', str(outdir), '-n', str(n), '-D', '64', '--snr', '0.1', *extra], env)
    return outdir


def reference_peak_mb(D, work, env, threads):
    "Peak RSS (MB) and exit code (-9: killed, e.g. out of memory) of a 1-epoch `cryodrgn abinit_het_old` run on 32 images of box D, searching (`--ps-freq 2`: epoch 1 searches; with 1 it never does) at the full band."
    data = work / f'mem_ref_{D}'
    if not (data / 'particles.mrcs').exists():
        run(['cryodrgn2', 'simulate', '-o', str(data), '-n', '32', '-D', str(D), '--snr', '0.1'], env)
    code = ('import resource, subprocess, sys, json; rc = subprocess.run(sys.argv[1:], capture_output=True).returncode; '
            'print(json.dumps(dict(peak_rss_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, returncode=rc))))')
    cmd = ['cryodrgn', 'abinit_het_old', str(data / 'particles.mrcs'), '--ctf', str(data / 'ctf.pkl'), '-o', str(work / f'ref_mem_out_{D}'),
           '--zdim', '8', '-n', '1', '--pretrain', '32', '--ps-freq', '2', '--l-start', str(D // 2 - 1), '--l-end', str(D // 2 - 1),
           '--max-threads', str(threads), '--no-analysis']
    return last_json(run([sys.executable, '-c', code, *cmd], env)[0])


def reference_timeline(cmd, outdir, budget, cap, env):
    "Run the reference for at most `cap` seconds: when each epoch's checkpoint appeared, its log's last line each minute and at `budget` seconds."
    import shutil, subprocess, time
    shutil.rmtree(outdir, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def log_tail():
        lines = (outdir / 'run.log').read_text().splitlines() if (outdir / 'run.log').exists() else []
        return lines[-1] if lines else ''
    def wait_logging(until):  # the last log line every minute, until `until` seconds or the end: its rate of progress
        while proc.poll() is None and (left := until - (time.perf_counter() - start)) > 0:
            try: proc.wait(timeout=min(60, left))
            except subprocess.TimeoutExpired: progress.append(dict(seconds=time.perf_counter() - start, log=log_tail()))
        return proc.poll() is None
    progress = []
    at_budget = log_tail() if wait_logging(budget) else None
    if wait_logging(cap): proc.kill(); proc.wait()
    elapsed = time.perf_counter() - start
    epochs = sorted((int(p.stem.split('.')[1]), p.stat().st_mtime) for p in outdir.glob('z.*.pkl') if p.stem.split('.')[1].isdigit())
    t0 = time.time() - elapsed  # wall-clock start, for the checkpoints' modification times
    return dict(seconds=elapsed, finished=proc.returncode == 0, log_at_budget=at_budget, log_at_end=log_tail(), progress=progress,
                epochs=[dict(epoch=e, seconds=mtime - t0) for e, mtime in epochs])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--parts', default='memory')
    ap.add_argument('--n', type=int, default=5000, help='images of the motion and two-state datasets')
    ap.add_argument('--motion-states', type=int, default=50, help='maps along the motion coordinate')
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--homo-epochs', type=int, default=10)
    ap.add_argument('--ref-cap', type=float, default=2.5, help='the reference runs for at most this many times our wall time')
    ap.add_argument('--mem-steps', type=int, default=20)
    ap.add_argument('--mem-reference', action='store_true')
    ap.add_argument('--het-kwargs', type=json.loads, default={}, help='extra abinit_het arguments as JSON, e.g. \'{"search_warmup": 3}\'')
    ap.add_argument('--score-only', action='store_true', help='score the outputs of an earlier run of motion / twostate parts instead of running them (its times kept from the results file, else read from its logs)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--workdir', type=Path, default=Path('/tmp/bench_abinit_het'))
    args = ap.parse_args()
    env = {**os.environ, 'OMP_NUM_THREADS': str(args.threads), 'MKL_NUM_THREADS': str(args.threads)}
    work = args.workdir; work.mkdir(parents=True, exist_ok=True)
    results_path = Path(__file__).parent / 'results' / 'abinit_het.json'
    results = {}
    parts = args.parts.split(',')
    sizes = {'n': args.n, 'epochs': args.epochs, 'threads': args.threads, **args.het_kwargs}
    previous = json.loads(results_path.read_text()) if results_path.exists() else {}

    def ours(data, out, part):
        "Run `abinit_het` on a dataset (or, with --score-only, take the earlier run's times): seconds in the job, and of the process."
        if args.score_only:
            kept = {k: v for k, v in previous.get(part, {}).items() if k in ('seconds', 'process_seconds')}
            return kept or dict(seconds=logged_seconds(out))
        stdout, process_seconds = run([sys.executable, '-c', OURS, str(data / 'particles.mrcs'), str(data / 'ctf.pkl'), str(out),
                                       json.dumps({'epochs': args.epochs, **args.het_kwargs}), str(args.threads)], env)
        return dict(seconds=last_json(stdout)['seconds'], process_seconds=process_seconds)

    if 'memory' in parts:
        results['memory'] = [last_json(run([sys.executable, '-c', MEMORY, str(D), str(args.mem_steps), str(args.threads)], env)[0])
                             for D in (64, 128)]
        print('memory', results['memory'], flush=True)
        if args.mem_reference:
            for entry in results['memory']:
                ref = reference_peak_mb(entry['D'], work, env, args.threads)
                entry.update(reference_peak_rss_mb=ref['peak_rss_mb'], reference_returncode=ref['returncode'])
            print('memory', results['memory'], flush=True)
    if 'search' in parts:
        results['search'] = last_json(run([sys.executable, '-c', SEARCH, str(args.threads)], env)[0])
        print('search', results['search'], flush=True)
    motion = work / f'motion_{args.n}'
    if {'motion', 'reference'} & set(parts):
        simulate(motion, env, args.n, ['--hinge', str(args.motion_states)])
    if 'motion' in parts:
        out = work / 'motion_ours'
        timing = ours(motion, out, 'motion')
        scores = last_json(run([sys.executable, '-c', SCORE, str(out), str(motion), str(args.n), 'motion', str(out / 'z.pkl'),
                                str(out / 'poses.pkl'), 'maps'], env)[0])
        if (out / 'consensus' / 'poses.pkl').exists():  # the poses the VAE started from
            scores['consensus'] = last_json(run([sys.executable, '-c', CONSENSUS, str(out / 'consensus' / 'poses.pkl'), str(motion), str(args.n)], env)[0])
        results['motion'] = dict(**sizes, **timing, **scores)
        print('motion', results['motion'], flush=True)
    if 'homo' in parts:
        homo = work / f'homo_{args.n}'
        if not (homo / 'particles.mrcs').exists():  # the middle map of the motion family, alone
            code = ('import sys, torch; from cryodrgn2.simulate import hinge_family, write_dataset; '
                    'write_dataset(sys.argv[1], hinge_family(64)(0.5), int(sys.argv[2]), snr=0.1, pixel_size=3.0, progress=False)')
            run([sys.executable, '-c', code, str(homo), str(args.n)], env)
        out = work / 'homo_ours'
        timing = last_json(run([sys.executable, '-c', HOMO, str(homo / 'particles.mrcs'), str(homo / 'ctf.pkl'), str(out), str(args.homo_epochs),
                                str(args.threads)], env)[0])
        code = ('import sys, json, torch, numpy as np; from cryodrgn2.io import read_mrc; from cryodrgn2.metrics import compare_maps; '
                'v, t = (torch.as_tensor(np.asarray(read_mrc(p)[0]), dtype=torch.float32) for p in sys.argv[1:3]); '
                'print(json.dumps(compare_maps(v, t, 3.0)["resolution_0.5"]))')
        fsc = last_json(run([sys.executable, '-c', code, str(out / 'reconstruct.mrc'), str(homo / 'volume.mrc')], env)[0])
        results['homo'] = dict(n=args.n, epochs=args.homo_epochs, threads=args.threads, seconds=timing['seconds'], resumed=timing['resumed'], fsc05_A=fsc)
        print('homo', results['homo'], flush=True)
    for part in ('twostate', 'twostate_hinge'):
        if part not in parts: continue
        two = work / f'{part}_{args.n}'
        maps = '[phantom(64, seed=0), phantom(64, seed=1)]' if part == 'twostate' else '[hinge_family(64)(0.), hinge_family(64)(1.)]'
        if not (two / 'particles.mrcs').exists():
            code = ('import sys; from cryodrgn2.simulate import phantom, hinge_family, write_dataset; '
                    f'write_dataset(sys.argv[1], {maps}, int(sys.argv[2]), snr=0.1, pixel_size=3.0, progress=False)')
            run([sys.executable, '-c', code, str(two), str(args.n)], env)
        out = work / f'{part}_ours'
        timing = ours(two, out, part)
        scores = last_json(run([sys.executable, '-c', SCORE, str(out), str(two), str(args.n), 'twostate', str(out / 'z.pkl'),
                                str(out / 'poses.pkl')], env)[0])
        if (out / 'consensus' / 'poses.pkl').exists():
            scores['consensus'] = last_json(run([sys.executable, '-c', CONSENSUS, str(out / 'consensus' / 'poses.pkl'), str(two), str(args.n)], env)[0])
        results[part] = dict(**sizes, **timing, **scores)
        print(part, results[part], flush=True)
    if 'reference' in parts:
        if 'motion' not in results: raise SystemExit('--parts reference needs motion in the same run: its wall time is the budget')
        budget = results['motion'].get('process_seconds', results['motion']['seconds'])  # our whole process (start-up included) when measured
        ref_out = work / 'motion_reference'
        cmd = ['cryodrgn', 'abinit_het_old', str(motion / 'particles.mrcs'), '--ctf', str(motion / 'ctf.pkl'), '-o', str(ref_out),
               '--zdim', '8', '--max-threads', str(args.threads), '--no-analysis',
               '--log-interval', '16']  # a log line every batch of 16 images: its progress at the budget
        timeline = reference_timeline(cmd, ref_out, budget, args.ref_cap * budget, env)
        for epoch in timeline['epochs']:  # score every epoch the reference finished
            epoch.update(last_json(run([sys.executable, '-c', SCORE, str(ref_out), str(motion), str(args.n), 'motion',
                                        str(ref_out / f"z.{epoch['epoch']}.pkl"), str(ref_out / f"pose.{epoch['epoch']}.pkl")], env)[0]))
        results['reference'] = dict(n=args.n, threads=args.threads, budget_seconds=budget, cap_seconds=args.ref_cap * budget,
                                    ours={k: v for k, v in results['motion'].items() if k in ('seconds', 'process_seconds', 'abs_spearman_pc1', 'median_rotation_error')},
                                    reference=timeline)
        print('reference', results['reference'], flush=True)
    results_path.parent.mkdir(exist_ok=True)
    earlier = json.loads(results_path.read_text()) if results_path.exists() else {}  # read now: other parts may have run meanwhile
    results_path.write_text(json.dumps({**earlier, **results}, indent=1))


if __name__ == '__main__':
    main()
