"""Interoperability with the reference implementation (cryoDRGN 4.3.1, a test dependency).

A dataset written by `cryodrgn2 simulate` is reconstructed by `cryodrgn backproject_voxel` using our
poses.pkl and ctf.pkl: if our rotation, shift and CTF conventions are cryoDRGN's, the map matches the source.
"""
import subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch

pytest.importorskip('cryodrgn')
from cryodrgn2.io import read_mrc
from cryodrgn2.metrics import fsc


@pytest.fixture(scope='module')
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp('sim')
    subprocess.run([sys.executable, '-m', 'cryodrgn2.cli', 'simulate', '-o', str(out), '-n', '3000', '-D', '64',
                    '--snr', 'inf', '--seed', '3'], check=True)
    return out


def backproject(particles, poses, ctf, outdir, *flags):
    subprocess.run(['cryodrgn', 'backproject_voxel', str(particles), '--poses', str(poses), '--ctf', str(ctf),
                    '-o', str(outdir), '--no-half-maps', *flags], check=True, capture_output=True)
    return torch.as_tensor(np.asarray(read_mrc(next(Path(outdir).glob('backproject*.mrc')))[0]), dtype=torch.float32)


def test_backproject_voxel_reconstructs_our_simulation(simulated, tmp_path):
    vol = backproject(simulated / 'particles.mrcs', simulated / 'poses.pkl', simulated / 'ctf.pkl', tmp_path / 'bp')
    truth = torch.as_tensor(np.asarray(read_mrc(simulated / 'volume.mrc')[0]), dtype=torch.float32)
    freqs, curve = fsc(vol, truth)
    print('FSC every 4th shell:', np.round(curve.numpy()[::4], 3))
    assert curve[:16].min() >= 0.9, f'FSC falls below 0.9 before half Nyquist: {curve[:16]}'


def test_transposed_rotations_break_the_reconstruction(simulated, tmp_path):
    """The check above can fail: with R^T instead of R the same pipeline gives a poor map."""
    import pickle
    with open(simulated / 'poses.pkl', 'rb') as f: rots, trans = pickle.load(f)
    with open(tmp_path / 'wrong.pkl', 'wb') as f: pickle.dump((rots.transpose(0, 2, 1).copy(), trans), f)
    vol = backproject(simulated / 'particles.mrcs', tmp_path / 'wrong.pkl', simulated / 'ctf.pkl', tmp_path / 'bp')
    truth = torch.as_tensor(np.asarray(read_mrc(simulated / 'volume.mrc')[0]), dtype=torch.float32)
    assert fsc(vol, truth)[1][:16].min() < 0.5
