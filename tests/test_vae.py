"""End-to-end tests of the heterogeneous commands (issue 5): `abinit-het`, `analyze`, `eval-vol` on the command line.

A tiny hinged-motion dataset (D=32, 240 images, SNR 1, CTF), 2 consensus epochs then 2 epochs with the default networks
and search: every
output exists, z.pkl holds (N, zdim) means in cryoDRGN's layout (readable by the reference's reader), the loss fell,
the gold-standard FSC files are written (by the VAE and by its consensus), `analyze` writes its maps and summary, `eval-vol` writes a map, and bad input gives one-line errors.
"""
import pickle
import numpy as np
import pytest
import torch

from cryodrgn2.cli import main
from cryodrgn2.io import read_mrc

D, N, ZDIM = 32, 240, 4


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    "Tiny tensors: on a shared machine, extra threads only wait for each other."
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def run(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp('het')
    assert main(['simulate', '-o', str(root / 'data'), '-n', str(N), '-D', str(D), '--hinge', '5', '--snr', '1', '--max-shift', '2']) == 0
    out = root / 'run'
    assert main(['abinit-het', str(root / 'data' / 'particles.mrcs'), '--ctf', str(root / 'data' / 'ctf.pkl'), '-o', str(out),
                 '--zdim', str(ZDIM), '-n', '2', '--consensus-epochs', '2', '--seed', '1', '--device', 'cpu']) == 0
    return root, out


def test_abinit_het_outputs(run):
    root, out = run
    for name in ['consensus/poses.pkl', 'consensus/reconstruct.mrc', 'z.pkl', 'z.0.pkl', 'z.1.pkl', 'poses.pkl', 'weights.0.pt', 'weights.1.pt', 'reconstruct.mrc', 'config.yaml',
                 'run.log', 'report.html', 'half_map_a.mrc', 'half_map_b.mrc', 'fsc.txt', 'consensus/fsc.txt']:
        assert (out / name).is_file(), name
    assert np.loadtxt(out / 'fsc.txt').shape == (D // 2, 2)
    assert 'this is the FSC of one consensus map' in (out / 'run.log').read_text()  # the gold standard of heterogeneous data says what it is
    with open(out / 'z.pkl', 'rb') as f: mu, logvar = pickle.load(f), pickle.load(f)
    assert mu.shape == logvar.shape == (N, ZDIM) and mu.dtype == np.float32 and np.isfinite(mu).all()
    with open(out / 'poses.pkl', 'rb') as f: rots, trans = pickle.load(f)
    assert rots.shape == (N, 3, 3) and trans.shape == (N, 2)
    history = torch.load(out / 'weights.1.pt', weights_only=False)['history']
    assert history[1]['loss'] < history[0]['loss'], [r['loss'] for r in history]
    assert 'Latent space' in (out / 'report.html').read_text()
    cryodrgn_utils = pytest.importorskip('cryodrgn.utils')
    assert cryodrgn_utils.load_pkl(str(out / 'z.pkl')).shape == (N, ZDIM)  # the reference reads the means


def test_analyze_and_eval_vol(run):
    root, out = run
    assert main(['analyze', str(out), '--pc', '2', '--ksample', '3', '--n-points', '4', '--color', str(root / 'data' / 'coords.pkl'),
                 '--no-umap']) == 0
    res = out / 'analyze.1'
    for name in ['pc1/vol_000.mrc', 'pc1/vol_003.mrc', 'pc2/vol_000.mrc', 'kmeans3/vol_002.mrc', 'kmeans3/labels.pkl',
                 'kmeans3/centers_ind.txt', 'summary.html']:
        assert (res / name).is_file(), name
    vol, apix = read_mrc(res / 'pc1' / 'vol_000.mrc')
    assert vol.shape == (D, D, D) and np.isfinite(vol).all() and abs(apix - 3.0) < 1e-4
    assert main(['eval-vol', str(out), '--z', *['0.1'] * ZDIM, '-o', str(root / 'vol.mrc')]) == 0
    vol, _ = read_mrc(root / 'vol.mrc')
    assert vol.shape == (D, D, D) and np.abs(vol).max() > 0


def test_bad_input(run, capsys):
    root, out = run
    assert main(['eval-vol', str(out), '--z', '0', '-o', str(root / 'v.mrc')]) == 2
    assert f"zdim is {ZDIM}" in capsys.readouterr().err
    assert main(['analyze', str(root / 'data')]) == 2
    assert 'config.yaml: not found' in capsys.readouterr().err
    assert main(['abinit-het', str(root / 'data' / 'particles.mrcs'), '-o', str(out), '-n', '2']) == 2  # refuses to overwrite
    assert 'already holds a run' in capsys.readouterr().err
