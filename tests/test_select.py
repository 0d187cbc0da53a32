"""The particle-selection loop on the command line (issue 19): `abinit-het --ind` -> `analyze` -> `filter` a cluster ->
ind.pkl -> `abinit-homo --ind` on the selection, at tiny size (D=32, 160 images of two states, 2 epochs each).

The run itself uses a subset of the stack (140 of 160 images, shuffled), so the written indices must count the images
of the original stack (the run's own --ind composed). They are checked against cryoDRGN's `select_clusters` (which
counts clusters from 1 and composes with --parent-ind) and read with cryoDRGN's own loaders; the job on the selection
records that many images; bad requests give one-line errors.
"""
import argparse, pickle
import numpy as np
import pytest
import torch
import yaml

from cryodrgn2.cli import main
from cryodrgn2.simulate import phantom, write_dataset

D, N, N_RUN = 32, 160, 140
TINY = ['--hidden', '32', '--layers', '1', '--search-warmup', '1', '--search-chunk', '64', '--l-start', '8', '--l-end', '10',
        '--ramp-epochs', '1', '--base-level', '1', '--iters', '1', '--t-extent', '3', '--t-ngrid', '6', '--device', 'cpu', '-q']


@pytest.fixture(scope='module')
def loop(tmp_path_factory):
    "The loop as a user runs it; returns the folder, the run's own --ind and the labels of its k-means."
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: on a shared machine, extra threads only wait for each other
    root = tmp_path_factory.mktemp('select')
    data = root / 'data'
    write_dataset(data, [phantom(D, seed=0), phantom(D, seed=1)], N, snr=1.0, pixel_size=6.0, max_shift_px=2.0, state_coords=[0., 1.],
                  progress=False)
    parent = np.random.default_rng(0).permutation(N)[:N_RUN]  # the run's own subset, not in stack order
    with open(root / 'parent.pkl', 'wb') as f: pickle.dump(parent, f)
    stack, ctf = str(data / 'particles.mrcs'), str(data / 'ctf.pkl')
    assert main(['abinit-het', stack, '--ctf', ctf, '--ind', str(root / 'parent.pkl'), '-o', str(root / 'het'), '--zdim', '2', '-n', '2',
                 '--consensus-epochs', '0', '--enc-hidden', '32', '--enc-layers', '1', *TINY]) == 0
    assert main(['analyze', str(root / 'het'), '--ksample', '3', '--pc', '1', '--n-points', '2', '--no-umap']) == 0
    assert main(['filter', str(root / 'het'), '--kmeans', '3', '--cluster', '0', '2', '-o', str(root / 'ind.pkl')]) == 0
    assert main(['abinit-homo', stack, '--ctf', ctf, '--ind', str(root / 'ind.pkl'), '-o', str(root / 'homo'), '-n', '2', *TINY]) == 0
    with open(root / 'het' / 'analyze.1' / 'kmeans3' / 'labels.pkl', 'rb') as f: labels = pickle.load(f)
    yield root, parent, labels
    torch.set_num_threads(threads)


def test_indices_count_the_original_stack(loop):
    root, parent, labels = loop
    with open(root / 'ind.pkl', 'rb') as f: ind = pickle.load(f)
    assert isinstance(ind, np.ndarray) and ind.ndim == 1 and ind.dtype == np.int64
    row_of = {int(image): row for row, image in enumerate(parent)}  # image of the stack -> row of the run's z.pkl
    assert len(ind) == np.isin(labels, [0, 2]).sum() > 0
    assert all(labels[row_of[int(i)]] in (0, 2) for i in ind)  # each index is a stack image whose row is in the clusters


def test_the_job_on_the_selection_used_it(loop):
    root, _, _ = loop
    with open(root / 'ind.pkl', 'rb') as f: ind = pickle.load(f)
    config = yaml.safe_load((root / 'homo' / 'config.yaml').read_text())
    assert config['fingerprint']['images'] == len(ind) and config['ind'].endswith('ind.pkl')
    log = (root / 'homo' / 'run.log').read_text()
    assert f'abinit-homo: {len(ind)} images of 32x32 px' in log and f'{len(ind)} images selected by {root / "ind.pkl"}' in log
    with open(root / 'homo' / 'poses.pkl', 'rb') as f: rots, _ = pickle.load(f)
    assert len(rots) == len(ind)


def test_agrees_with_cryodrgn(loop, tmp_path):
    "cryoDRGN's select_clusters (clusters from 1, --parent-ind) writes the same file; cryoDRGN's loaders read ours."
    utils = pytest.importorskip('cryodrgn.utils')
    from cryodrgn.commands_utils import select_clusters
    from cryodrgn.source import ImageSource
    import mrcfile
    root, _, _ = loop
    labels_file = root / 'het' / 'analyze.1' / 'kmeans3' / 'labels.pkl'
    select_clusters.main(argparse.Namespace(labels=str(labels_file), sel=[1, 3], o=str(tmp_path / 'theirs.pkl'),
                                            parent_ind=str(root / 'parent.pkl'), N_orig=N))
    ours = utils.load_pkl(str(root / 'ind.pkl'))
    np.testing.assert_array_equal(ours, utils.load_pkl(str(tmp_path / 'theirs.pkl')))
    source = ImageSource.from_file(str(root / 'data' / 'particles.mrcs'), lazy=True, indices=ours)  # how cryoDRGN's --ind reads it
    assert source.n == len(ours)
    np.testing.assert_array_equal(source.images().numpy(), mrcfile.read(root / 'data' / 'particles.mrcs')[ours])


def test_complement_and_outliers(loop):
    root, parent, _ = loop
    assert main(['filter', str(root / 'het'), '--kmeans', '3', '--cluster', '0', '2', '--invert-selection', '-o', str(root / 'rest.pkl')]) == 0
    assert main(['filter', str(root / 'het'), '--drop-outliers', '0.1', '-o', str(root / 'inliers.pkl')]) == 0
    ind, rest, inliers = (pickle.load(open(root / f'{name}.pkl', 'rb')) for name in ('ind', 'rest', 'inliers'))
    np.testing.assert_array_equal(np.sort(np.concatenate([ind, rest])), np.sort(parent))  # the complement within the run's images
    assert len(inliers) == N_RUN - 14 and np.isin(inliers, parent).all()


def test_bad_requests(loop, capsys):
    root, _, _ = loop
    het = str(root / 'het')
    for argv, message in [
        (['filter', het, '--cluster', '3', '-o', str(root / 'x.pkl')], 'cluster 3 does not exist: kmeans3 has clusters 0..2'),
        (['filter', het, '--cluster', '0', '1', '2', '--invert-selection', '-o', str(root / 'x.pkl')], 'the selection is empty'),
        (['filter', str(root / 'data'), '--cluster', '0', '-o', str(root / 'x.pkl')], 'z.pkl: not found'),
        (['filter', het, '--cluster', '0', '-o', str(root / 'parent.pkl')], 'is also an input'),  # the run's own --ind
        (['filter', het, '--cluster', '0', '--kmeans', '4', '-o', str(root / 'x.pkl')], 'kmeans4/labels.pkl: not found'),
        (['filter', het, '--drop-outliers', '1', '-o', str(root / 'x.pkl')], 'a fraction in [0, 1)'),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (root / 'x.pkl').exists()


def test_a_moved_parent_index(loop, capsys):
    "The run's --ind is found where config.yaml recorded it; moved, filter says so, and --parent-ind gives it."
    root, _, _ = loop
    moved = root / 'moved.pkl'
    (root / 'parent.pkl').rename(moved)
    try:
        assert main(['filter', str(root / 'het'), '--cluster', '0', '2', '-o', str(root / 'again.pkl')]) == 2
        assert "the run's --ind file is not there: give it with --parent-ind" in capsys.readouterr().err
        assert main(['filter', str(root / 'het'), '--cluster', '0', '2', '--parent-ind', str(moved), '-o', str(root / 'again.pkl')]) == 0
    finally:
        moved.rename(root / 'parent.pkl')
    np.testing.assert_array_equal(pickle.load(open(root / 'again.pkl', 'rb')), pickle.load(open(root / 'ind.pkl', 'rb')))


def test_the_readme_loop_parses():
    "The README's heterogeneous loop ('Your own data'): each line is a valid command, in the order of the loop tested above."
    import shlex
    from pathlib import Path
    from cryodrgn2.cli import build_parser
    section = (Path(__file__).resolve().parents[1] / 'README.md').read_text().split('**Heterogeneous data', 1)[1]
    block = section.split('```bash\n', 1)[1].split('```', 1)[0]
    commands = [shlex.split(line.split('#')[0])[1:] for line in block.splitlines() if line.startswith('cryodrgn2 ')]
    assert [c[0] for c in commands] == ['abinit-het', 'analyze', 'filter', 'abinit-homo']
    for args in commands: build_parser().parse_args(args)
    assert commands[3][commands[3].index('--ind') + 1] == commands[2][commands[2].index('-o') + 1]  # the job reads what filter wrote
