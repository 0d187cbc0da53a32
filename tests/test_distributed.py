"""Two gloo processes launched by torchrun reproduce a single-process run (same losses, same poses)."""
import os, shutil, subprocess, sys, textwrap
from pathlib import Path
import numpy as np
import pytest
import torch

SCRIPT = textwrap.dedent('''
    import sys, torch
    from cryodrgn2.distributed import init_distributed, finish_distributed, DistributedCallback, end_process
    from cryodrgn2.train import launched_rank
    from cryodrgn2.simulate import phantom, simulate
    from cryodrgn2.models import HartleyMLP
    from cryodrgn2.train import Learner, PoseSearchCallback, FrequencyRampCallback
    from cryodrgn2.data import prepare_particles
    torch.set_num_threads(1)
    init_distributed()
    images, truth = simulate(phantom(32), n=96, snr=None, invert=False, seed=0, ctf=False, max_shift_px=1.0)
    # scale=1: the model is trained in the images' units; an amplitude scale estimated per search call would depend
    # on which images share the call, and each process searches different groups
    search = PoseSearchCallback(every=1, start=1, warmup=1, chunk=16, base_level=1, iters=2, t_ngrid=3, t_extent=1., scale=1.0)
    learn = Learner(lambda: HartleyMLP(32, hidden=64, layers=2), prepare_particles(images),
                    cbs=[search, FrequencyRampCallback(6, 10, 2), DistributedCallback()], batch_size=8, seed=0, device='cpu')
    learn.fit(3)
    changed = ((learn.rots - truth.rots).flatten(1).norm(dim=1) > 1e-4).float().mean().item()
    if launched_rank() == 0: torch.save(dict(loss=[r['loss'] for r in learn.history], rots=learn.rots, shift_px=learn.shift_px, search_changed=changed), sys.argv[1])
    finish_distributed()
    end_process()  # skip the interpreter teardown, where gloo can abort (see nbs/15_distributed)
''')

def launch(nproc:int, args:list, timeout=900):
    "Run `torchrun --standalone` with `nproc` processes of one thread each on `args`; fail with its stderr."
    exe = shutil.which('torchrun') or str(Path(sys.executable).with_name('torchrun'))
    run = subprocess.run([exe, '--standalone', f'--nproc-per-node={nproc}', *map(str, args)], capture_output=True, text=True,
                         timeout=timeout, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert run.returncode == 0, run.stderr[-3000:]

def torchrun(nproc:int, script:Path, out:Path):
    launch(nproc, [script, out])
    return torch.load(out, weights_only=False)

def _torchrun_cli(args): launch(2, ['-m', 'cryodrgn2.cli', *args])


@pytest.fixture(scope='module')
def small_data(tmp_path_factory):
    data = tmp_path_factory.mktemp('small') / 'data'
    sim = subprocess.run([sys.executable, '-m', 'cryodrgn2.cli', 'simulate', '-o', str(data), '-n', '48', '-D', '32', '--seed', '0'],
                         capture_output=True, text=True)
    assert sim.returncode == 0, sim.stderr
    return data

def test_two_processes_match_one(tmp_path):
    script = tmp_path / 'fit.py'
    script.write_text(SCRIPT)
    one, two = torchrun(1, script, tmp_path / 'one.pt'), torchrun(2, script, tmp_path / 'two.pt')
    print('losses, 1 process:', one['loss'], '\n          2 processes:', two['loss'])
    assert len(two['loss']) == 3
    assert torch.allclose(torch.tensor(one['loss']), torch.tensor(two['loss']), rtol=1e-3), (one['loss'], two['loss'])
    same = ((one['rots'] - two['rots']).flatten(1).norm(dim=1) < 1e-3).float().mean()
    print('poses equal to 1e-3:', same.item())
    assert same > 0.95
    assert one['search_changed'] > 0.9  # the search did move the (random initial) poses


def test_torchrun_cli_job(small_data, tmp_path):
    "`torchrun ... -m cryodrgn2.cli abinit-homo` runs as one job: rank 0 alone writes the outputs, poses for every image."
    data, out = small_data, tmp_path / 'out'
    _torchrun_cli(['abinit-homo', data / 'particles.mrcs', '--ctf', data / 'ctf.pkl', '-o', out, '-n', '2'])
    log = (out / 'run.log').read_text()
    assert log.count('abinit-homo: 48 images') == 1 and '2 processes' in log, log
    assert log.count('epoch   1') == 1  # one line per epoch: only rank 0 logs
    from cryodrgn2.tables import read_poses
    rots, shift_px = read_poses(out / 'poses.pkl', 32)
    assert rots.shape == (48, 3, 3) and torch.isfinite(rots).all()
    assert (out / 'reconstruct.mrc').exists() and (out / 'report.html').exists()
    assert log.count('gold-standard FSC=0.143 at') == 1 and 'random halves of 24 and 24 images' in log  # rank 0, every image
    assert (out / 'half_map_a.mrc').exists() and np.loadtxt(out / 'fsc.txt').shape == (16, 2)


def test_torchrun_het_with_consensus(small_data, tmp_path):
    "`abinit-het` under torchrun: the consensus job and then the VAE each run as one job across the processes."
    out = tmp_path / 'het'
    _torchrun_cli(['abinit-het', small_data / 'particles.mrcs', '--ctf', small_data / 'ctf.pkl', '-o', out, '-n', '3', '--consensus-epochs', '2'])
    for log in (out / 'consensus' / 'run.log', out / 'run.log'):
        text = log.read_text()
        assert '2 processes' in text and text.count('epoch   1') == 1, text
    from cryodrgn2.vae import read_latents
    assert read_latents(out / 'z.pkl', 48).shape == (48, 8)
    assert (out / 'consensus' / 'poses.pkl').exists() and (out / 'report.html').exists()


def test_torchrun_classes(small_data, tmp_path):
    "`abinit-homo --classes 2` under torchrun: the class of every image is gathered on rank 0 and written once."
    out = tmp_path / 'cls'
    _torchrun_cli(['abinit-homo', small_data / 'particles.mrcs', '--ctf', small_data / 'ctf.pkl', '-o', out, '-n', '3', '--classes', '2'])
    import pickle
    with open(out / 'classes.pkl', 'rb') as f: classes = pickle.load(f)
    assert classes.shape == (48,) and set(classes.tolist()) <= {0, 1}
    log = (out / 'run.log').read_text()
    assert log.count('epoch   2') == 1 and 'classes [' in log, log
    import re
    assert sum(map(int, re.findall(r'classes \[(\d+), (\d+)\]', log)[-1])) == 48, log  # every image's class, once
    assert (out / 'reconstruct.class0.mrc').exists() and (out / 'reconstruct.class1.mrc').exists()
    per_class = re.findall(r'gold-standard FSC=0.143 of class \d alone: [\d.]+ A \((\d+) images\)', log)
    assert sum(map(int, per_class)) == 48 and 'one consensus map' in log, log  # the consensus, then each class alone
