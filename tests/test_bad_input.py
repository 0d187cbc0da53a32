"""Bad input never ends in a traceback: each row of the README's table, run through the command line.

Every case must exit with status 2 and print one line naming the file (or flag) and the problem."""
import pickle
import numpy as np
import pytest
from cryodrgn2.cli import main

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    "A good 20-image dataset (D=32) and one broken variant of each file."
    root = tmp_path_factory.mktemp('bad')
    assert main(['simulate', '-o', str(root / 'ok'), '-n', '20', '-D', '32', '--snr', '1']) == 0
    ok, b = root / 'ok', root / 'b'
    b.mkdir()
    raw = (ok / 'particles.mrcs').read_bytes()
    (b / 'trunc.mrcs').write_bytes(raw[:len(raw) // 2])
    (b / 'text.mrcs').write_text('hello world\n' * 100)
    ctf = pickle.load(open(ok / 'ctf.pkl', 'rb'))
    def dump(name, obj): pickle.dump(obj, open(b / name, 'wb'))
    dump('ctf_short.pkl', ctf[:10])
    dump('ctf_kv0.pkl', np.where(np.arange(9) == 5, 0, ctf))
    dump('ctf_w.pkl', np.where(np.arange(9) == 7, 1.5, ctf))
    nan = ctf.copy(); nan[3, 2] = np.nan; dump('ctf_nan.pkl', nan)
    dump('ctf_shape.pkl', ctf[:, :8])
    rots, trans = pickle.load(open(ok / 'poses.pkl', 'rb'))
    dump('poses_shape.pkl', (rots[:, :2], trans))
    dump('poses_count.pkl', (rots[:5], trans[:5]))
    import mrcfile
    imgs = mrcfile.read(ok / 'particles.mrcs').copy(); imgs[2, 3, 3] = np.nan
    with pytest.warns(RuntimeWarning): mrcfile.write(b / 'nan.mrcs', imgs)
    mrcfile.write(b / 'vol48.mrc', np.zeros((48, 48, 48), np.float32))
    (b / 'missing_stack.star').write_text((ok / 'particles.star').read_text().replace('particles.mrcs', 'nothere.mrcs'))
    (root / 'old_run').mkdir(); (root / 'old_run' / 'config.yaml').write_text('job: abinit-homo\n')
    return root

ALIGN = ['align', 'ok/particles.mrcs', '--volume', 'ok/volume.mrc', '-o', 'out/x.pkl']
# (case, arguments, expected text of the one-line error)
CASES = [
    ('missing particle file', ['align', 'nothere.mrcs', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'nothere.mrcs: file not found'),
    ('truncated stack', ['align', 'b/trunc.mrcs', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'truncated stack: header says 20 images of 32x32 but the file holds 9'),
    ('not an MRC file', ['align', 'b/text.mrcs', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'text.mrcs: not an MRC file'),
    ('NaN pixels', ['align', 'b/nan.mrcs', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'nan.mrcs: non-finite pixels (NaN or inf) in image 3'),
    ('star names a missing stack', ['align', 'b/missing_stack.star', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'stack nothere.mrcs not found'),
    ('map and particles differ in size', ['align', 'ok/particles.mrcs', '--volume', 'b/vol48.mrc', '-o', 'x.pkl'], 'map is 48x48x48 but the particles are 32x32'),
    ('fewer CTF rows than images', ALIGN + ['--ctf', 'b/ctf_short.pkl'], 'ctf_short.pkl: 10 CTF rows for 20 particles'),
    ('CTF table of the wrong shape', ALIGN + ['--ctf', 'b/ctf_shape.pkl'], 'CTF parameters has shape (20, 8), expected (N, 9)'),
    ('NaN in the CTF table', ALIGN + ['--ctf', 'b/ctf_nan.pkl'], 'CTF parameters has non-finite values'),
    ('zero voltage', ALIGN + ['--ctf', 'b/ctf_kv0.pkl'], 'voltage must be positive (row 0; 20 of 20 rows)'),
    ('amplitude contrast >= 1', ALIGN + ['--ctf', 'b/ctf_w.pkl'], 'amplitude contrast must be in [0, 1)'),
    ('pose pickle of the wrong shape', ['train-nn', 'ok/particles.mrcs', '--poses', 'b/poses_shape.pkl', '-o', 't1'], 'rotations has shape (20, 2, 3), expected (N, 3, 3)'),
    ('fewer poses than images', ['train-nn', 'ok/particles.mrcs', '--poses', 'b/poses_count.pkl', '-o', 't2'], 'poses_count.pkl: holds 5 items but ok/particles.mrcs holds 20'),
    ('missing checkpoint', ['abinit-homo', 'ok/particles.mrcs', '-o', 't3', '--load', 'nothere.pt'], 'nothere.pt: checkpoint not found'),
    ('zero epochs', ['abinit-homo', 'ok/particles.mrcs', '-o', 't4', '-n', '0'], 'argument -n/--epochs: must be >= 1, got 0'),
    ('no classes', ['abinit-homo', 'ok/particles.mrcs', '-o', 't5', '--classes', '0'], 'argument --classes: must be >= 1, got 0'),
    ('zero shift grid', ALIGN + ['--t-ngrid', '0'], 'argument --t-ngrid: must be >= 1, got 0'),
    ('negative grid level', ALIGN + ['--base-level', '-1'], 'argument --base-level: must be >= 0, got -1'),
    ('no rotations kept', ALIGN + ['--keep', '0'], 'argument --keep: must be >= 1, got 0'),
    ('negative refinement rounds', ALIGN + ['--iters', '-2'], 'argument --iters: must be >= 0, got -2'),
    ('a word for a number', ['simulate', '-o', 'sim', '-n', 'many'], "argument -n: expected an integer, got 'many'"),
    ('zero SNR', ['simulate', '-o', 'sim', '--snr', '0'], 'argument --snr: must be > 0, got 0'),
    ('a folder holding a run', ['abinit-homo', 'ok/particles.mrcs', '-o', 'old_run'], 'old_run: already holds a run (config.yaml); resume it with --load, or replace it with --force'),
    ('simulating over a dataset', ['simulate', '-o', 'ok', '-n', '5', '-D', '32'], 'ok: already holds a dataset (particles.star); use force=True / --force to overwrite'),
]

@pytest.mark.parametrize('case,args,expected', CASES, ids=[c[0] for c in CASES])
def test_one_line_error(data, monkeypatch, capsys, case, args, expected):
    monkeypatch.chdir(data)
    try: status = main(args)
    except SystemExit as e: status = e.code  # argparse rejects a flag: usage line + error line
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip() and 'it/s]' not in l and not l.startswith('usage:') and not l.startswith(' ')]
    assert status == 2, err
    assert len(lines) == 1, err
    assert expected in lines[0], err
    assert 'Traceback' not in err


def test_readme_table_lists_every_case():
    "The README's bad-input table is this file's CASES: same inputs, same errors, same order."
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / 'README.md').read_text()
    section = readme.split('## Bad input', 1)[1].split('\n## ', 1)[0]
    rows = [[c.strip() for c in line.strip().strip('|').split('|')] for line in section.splitlines() if line.startswith('| ')][1:]
    table = [(case, command.strip('`'), error.strip('`')) for case, command, error in rows]
    assert table == [(case, 'cryodrgn2 ' + ' '.join(args), expected) for case, args, expected in CASES]
