"""End-to-end tests of the training jobs (issue 4).

- A tiny `abinit_homo` run (D=32, 300 images, 3 epochs): every output exists, the poses and maps load with the
  reference implementation's readers (cryoDRGN 4.3.1), and the loss fell.
- Robustness: a run killed with SIGKILL in the middle of an epoch, then resumed with `load='latest'`, finishes with
  exactly the result of an uninterrupted run (same seed, same threads).
"""
import os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import numpy as np
import pytest
import torch

from cryodrgn2.simulate import phantom, write_dataset
from cryodrgn2.tables import read_poses

D, N = 32, 300
# a small, quick schedule: search epochs 1 and 2, a reset at 3 (for the 4-epoch resume test), coarse grids for D=32
TINY = dict(hidden=64, layers=2, l_start=8, l_end=12, ramp_epochs=2, search_warmup=2, search_chunk=100, reset_epochs=(3,),
            base_level=1, iters=2, t_extent=4., t_ngrid=8, progress=False)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp('tiny')
    write_dataset(out, phantom(D), N, snr=1.0, pixel_size=6.0, max_shift_px=2.0, seed=1, progress=False)
    return out


def test_abinit_homo_tiny_end_to_end(dataset, tmp_path):
    from cryodrgn2.jobs import abinit_homo
    out = tmp_path / 'run'
    learn = abinit_homo(dataset / 'particles.mrcs', dataset / 'ctf.pkl', out, epochs=3, ref=dataset / 'volume.mrc', **TINY)
    for name in ['reconstruct.mrc', 'reconstruct.2.mrc', 'poses.pkl', 'poses.2.pkl', 'weights.2.pt', 'config.yaml', 'run.log', 'report.html']:
        assert (out / name).is_file(), name
    losses = [r['loss'] for r in learn.history]
    assert losses[-1] < losses[0], losses
    assert 'FSC=0.5 resolution' in (out / 'report.html').read_text()
    # the reference implementation's readers
    cryodrgn_utils = pytest.importorskip('cryodrgn.utils')
    rots, trans = cryodrgn_utils.load_pkl(str(out / 'poses.pkl'))
    assert rots.shape == (N, 3, 3) and trans.shape == (N, 2)
    assert np.allclose(rots @ rots.transpose(0, 2, 1), np.eye(3), atol=1e-4)
    from cryodrgn.mrcfile import parse_mrc
    vol, header = parse_mrc(str(out / 'reconstruct.mrc'))
    assert vol.shape == (D, D, D) and abs(header.apix - 6.0) < 1e-4


CHILD = textwrap.dedent('''
    import sys, time, torch
    torch.set_num_threads(1)
    from cryodrgn2.jobs import abinit_homo
    from cryodrgn2.train import Callback
    data, out, epochs, load, hang = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] == 'hang'
    class HangMidEpoch(Callback):
        "Announce the middle of epoch 2, then wait to be killed."
        def before_batch(self, learn):
            if hang and learn.epoch == 2 and learn.iter == len(learn.batches) // 2:
                open(out + '/MID_EPOCH_2', 'w').close()
                time.sleep(600)
    abinit_homo(data + '/particles.mrcs', data + '/ctf.pkl', out, epochs=epochs, load=None if load == '-' else load,
                cbs=[HangMidEpoch()], **TINY)
''')


def _child(dataset, out, epochs, load='-', hang='no'):
    code = f'TINY = {TINY!r}\n' + CHILD
    return subprocess.Popen([sys.executable, '-c', code, str(dataset), str(out), str(epochs), load, hang])


def test_kill_9_mid_epoch_then_resume(dataset, tmp_path):
    killed, straight = tmp_path / 'killed', tmp_path / 'straight'
    child = _child(dataset, killed, 4, hang='hang')
    deadline = time.time() + 300
    while not (killed / 'MID_EPOCH_2').exists():
        assert child.poll() is None, 'the run ended before epoch 2'
        assert time.time() < deadline, 'epoch 2 never started'
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert (killed / 'weights.1.pt').is_file() and not (killed / 'weights.2.pt').exists()
    assert not list(killed.glob('.*.tmp'))  # no half-written checkpoint left behind
    assert _child(dataset, killed, 4, load='latest').wait() == 0
    assert _child(dataset, straight, 4).wait() == 0
    (r1, s1), (r2, s2) = read_poses(killed / 'poses.pkl', D), read_poses(straight / 'poses.pkl', D)
    torch.testing.assert_close(r1, r2)
    torch.testing.assert_close(s1, s2)
    h1 = torch.load(killed / 'weights.3.pt', weights_only=False)['history']
    h2 = torch.load(straight / 'weights.3.pt', weights_only=False)['history']
    assert [r['loss'] for r in h1] == [r['loss'] for r in h2]
    assert 'resuming from' in (killed / 'run.log').read_text()
