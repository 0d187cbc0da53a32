"""Bad input never ends in a traceback: each row of the README's table, run through the command line.

Every case must exit with status 2 and print one line naming the file (or flag) and the problem."""
import pickle
import numpy as np
import pytest
from cryodrgn2.cli import main

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    "A good 20-image dataset (D=32), a RELION project of 20 images in two optics groups, and one broken variant of each file."
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
    with pytest.warns(RuntimeWarning): mrcfile.write(b / 'nan.mrcs', imgs, voxel_size=3.0)  # the map's pixel size, like ok/
    mrcfile.write(b / 'vol48.mrc', np.zeros((48, 48, 48), np.float32))
    (b / 'missing_stack.star').write_text((ok / 'particles.star').read_text().replace('particles.mrcs', 'nothere.mrcs'))
    (root / 'old_run').mkdir(); (root / 'old_run' / 'config.yaml').write_text('job: abinit-homo\n')
    (root / 'done5').mkdir(); (root / 'done5' / 'weights.4.pt').write_bytes(b'')  # a run with 5 epochs done (only the name is read)
    mrcfile.write(b / 'blank.mrcs', np.zeros((20, 32, 32), np.float32), voxel_size=3.0)
    dump('poses_px.pkl', (rots, trans * 32))  # translations in pixels, not fractions of the box
    dump('poses_dict.pkl', {'rots': rots, 'trans': trans})
    dump('ind_big.pkl', np.arange(15, 25))
    dump('ctf_apix.pkl', np.where(np.arange(9) == 1, 3.5, ctf))  # 3.5 A at box 32; the stack header says 3 A
    with mrcfile.new(b / 'vol_apix4.mrc') as m: m.set_data(mrcfile.read(ok / 'volume.mrc').copy()); m.voxel_size = 4.0
    # a RELION project: stacks Extract/job002/Micrographs/session{1,2}/mic00{0,1}.mrcs, named relative to the project folder
    assert main(['simulate', '-o', str(root / 'proj'), '-n', '20', '-D', '32', '--snr', '1', '--relion-project', '--stack-size', '5',
                 '--optics-amp-contrast', '0.1', '0.07']) == 0
    star = root / 'proj/Extract/job002/particles.star'
    text, group2 = star.read_text(), '2\topticsGroup2\t3\t32'
    assert text.count(group2) == 1
    (star.parent / 'optics_apix.star').write_text(text.replace(group2, '2\topticsGroup2\t3.3\t32'))
    (b / 'flat').mkdir()  # session1's stacks, flat: session2's stacks have the same file names
    for stack in (star.parent / 'Micrographs/session1').iterdir(): (b / 'flat' / stack.name).write_bytes(stack.read_bytes())
    return root

ALIGN = ['align', 'ok/particles.mrcs', '--volume', 'ok/volume.mrc', '-o', 'out/x.pkl']
STAR = 'proj/Extract/job002/particles.star'
# (case, arguments, expected text of the one-line error)
CASES = [
    ('missing particle file', ['align', 'nothere.mrcs', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'nothere.mrcs: file not found'),
    ('truncated stack', ['align', 'b/trunc.mrcs', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'truncated stack: header says 20 images of 32x32 but the file holds 9'),
    ('not an MRC file', ['align', 'b/text.mrcs', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'text.mrcs: not an MRC file'),
    ('a 3-D map given as particles', ['align', 'ok/volume.mrc', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'volume.mrc: is a 3-D map (32x32x32; its header marks a volume), not a particle stack'),
    ('NaN pixels', ['align', 'b/nan.mrcs', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'nan.mrcs: non-finite pixels (NaN or inf) in image 3'),
    ('star names a missing stack', ['align', 'b/missing_stack.star', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'stack nothere.mrcs not found'),
    ('project star without --datadir', ['align', STAR, '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'not found (tried proj/Extract/job002/Extract/job002/Micrographs/session1/mic000.mrcs); pass --datadir'),
    ('stacks sharing a file name under a flat --datadir', ['align', STAR, '--datadir', 'b/flat', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'stack Extract/job002/Micrographs/session1/mic000.mrcs not found (tried proj/Extract/job002/Extract/job002/Micrographs/session1/mic000.mrcs, b/flat/Extract/job002/Micrographs/session1/mic000.mrcs)'),
    ('optics groups of different pixel sizes', ['align', 'proj/Extract/job002/optics_apix.star', '--datadir', 'proj', '--volume', 'ok/volume.mrc', '-o', 'x.pkl'], 'optics groups have different pixel sizes (3, 3.3 A)'),
    ('index out of range', ALIGN + ['--ind', 'b/ind_big.pkl'], 'ind_big.pkl: indices 15..24 outside [0, 20) for 20 images'),
    ('map and particles differ in size', ['align', 'ok/particles.mrcs', '--volume', 'b/vol48.mrc', '-o', 'x.pkl'], 'map is 48x48x48 but the particles are 32x32'),
    ('map and particles differ in pixel size', ['align', 'ok/particles.mrcs', '--volume', 'b/vol_apix4.mrc', '-o', 'x.pkl'], "vol_apix4.mrc: map pixel size 4 A differs from the particles' 3 A"),
    ('fewer CTF rows than images', ALIGN + ['--ctf', 'b/ctf_short.pkl'], 'ctf_short.pkl: holds 10 items but ok/particles.mrcs holds 20'),
    ('CTF table of the wrong shape', ALIGN + ['--ctf', 'b/ctf_shape.pkl'], 'CTF parameters has shape (20, 8), expected (N, 9)'),
    ('NaN in the CTF table', ALIGN + ['--ctf', 'b/ctf_nan.pkl'], 'CTF parameters has non-finite values'),
    ('zero voltage', ALIGN + ['--ctf', 'b/ctf_kv0.pkl'], 'voltage must be positive (row 0; 20 of 20 rows)'),
    ('amplitude contrast >= 1', ALIGN + ['--ctf', 'b/ctf_w.pkl'], 'amplitude contrast must be in [0, 1)'),
    ('CTF pixel size disagrees with the header', ALIGN + ['--ctf', 'b/ctf_apix.pkl'], 'pixel sizes disagree: CTF table 3.5 A (D_ctf x apix_ctf / 32), stack header 3 A'),
    ('pose pickle of the wrong shape', ['train-nn', 'ok/particles.mrcs', '--poses', 'b/poses_shape.pkl', '-o', 't1'], 'rotations has shape (20, 2, 3), expected (N, 3, 3)'),
    ('fewer poses than images', ['train-nn', 'ok/particles.mrcs', '--poses', 'b/poses_count.pkl', '-o', 't2'], 'poses_count.pkl: holds 5 items but ok/particles.mrcs holds 20'),
    ('translations in pixels', ['train-nn', 'ok/particles.mrcs', '--poses', 'b/poses_px.pkl', '-o', 't6'], 'they look like pixels; divide them by the box size D (32)'),
    ('pose pickle holding a dict', ['train-nn', 'ok/particles.mrcs', '--poses', 'b/poses_dict.pkl', '-o', 't7'], 'poses_dict.pkl: pose pickle holds a dict (keys rots, trans), expected (rots, trans)'),
    ('missing checkpoint', ['abinit-homo', 'ok/particles.mrcs', '-o', 't3', '--load', 'nothere.pt'], 'nothere.pt: checkpoint not found'),
    ('zero epochs', ['abinit-homo', 'ok/particles.mrcs', '-o', 't4', '-n', '0'], 'argument -n/--epochs: must be >= 1, got 0'),
    ('no classes', ['abinit-homo', 'ok/particles.mrcs', '-o', 't5', '--classes', '0'], 'argument --classes: must be >= 1, got 0'),
    ('zero shift grid', ALIGN + ['--t-ngrid', '0'], 'search setting t_ngrid must be >= 1, got 0'),
    ('negative grid level', ALIGN + ['--base-level', '-1'], 'search setting base_level must be >= 0, got -1'),
    ('no rotations kept', ALIGN + ['--keep', '0'], 'search setting keep must be >= 1, got 0'),
    ('negative refinement rounds', ALIGN + ['--iters', '-2'], 'search setting iters must be >= 0, got -2'),
    ('a word for a number', ['simulate', '-o', 'sim', '-n', 'many'], "argument -n: expected an integer, got 'many'"),
    ('zero SNR', ['simulate', '-o', 'sim', '--snr', '0'], 'argument --snr: must be > 0, got 0'),
    ('zero pixel size', ['simulate', '-o', 'sim', '--pixel-size', '0'], 'argument --pixel-size: must be > 0, got 0'),
    ('a folder holding a run', ['abinit-homo', 'ok/particles.mrcs', '-o', 'old_run'], 'old_run: already holds a run (config.yaml); resume it with --load latest, or replace it with --force'),
    ('simulating over a dataset', ['simulate', '-o', 'ok', '-n', '5', '-D', '32'], 'ok: already holds a dataset (particles.star); replace it with --force (force=True in Python)'),
    ('output onto its own input', ['align', 'ok/particles.mrcs', '--volume', 'ok/volume.mrc', '--ctf', 'ok/ctf.pkl', '-o', 'ok/ctf.pkl'], 'ok/ctf.pkl: is also an input of this command (ok/ctf.pkl); write the output to another file'),
    ('output file onto a folder', ['align', 'ok/particles.mrcs', '--volume', 'ok/volume.mrc', '-o', 'ok'], 'ok: is a folder; give a file name for the output'),
    ('output where nothing can be written', ['downsample', 'ok/particles.mrcs', '-D', '16', '-o', '/proc/cryodrgn2/small.mrcs'], '/proc/cryodrgn2: cannot write here'),
    ('output folder onto a file', ['abinit-homo', 'ok/particles.mrcs', '-o', 'ok/ctf.pkl'], 'ok/ctf.pkl: exists and is not a folder; give a folder for the output'),
    ('--force with a mistyped input', ['abinit-homo', 'ok/typo.mrcs', '-o', 'old_run', '--force'], 'ok/typo.mrcs: file not found'),
    ('resuming a folder with no run', ['abinit-homo', 'ok/particles.mrcs', '-o', 'empty', '--load', 'latest'], 'empty: no checkpoint weights.<epoch>.pt to resume from; run without --load to start'),
    ('resuming to fewer epochs than done', ['abinit-homo', 'ok/particles.mrcs', '-o', 'done5', '--load', 'latest', '-n', '3'], 'done5/weights.4.pt: holds 5 epochs; -n 3 is fewer: -n is the total, give more than 5 to continue'),
    ('blank images', ['abinit-homo', 'b/blank.mrcs', '-o', 'bl'], 'b/blank.mrcs: carry no signal (each image is constant once its background mean is removed): a blank or empty stack?'),
]

@pytest.mark.parametrize('case,args,expected', CASES, ids=[c[0] for c in CASES])
def test_one_line_error(data, monkeypatch, capsys, case, args, expected):
    monkeypatch.chdir(data)
    try: status = main(args)
    except SystemExit as e: status = e.code  # argparse rejects a flag: usage line + error line
    err = capsys.readouterr().err
    log = f'{args[0]}: '  # the job's own progress lines (e.g. 'align: 32 px box at 3 A/px') come before the error
    lines = [l for l in err.splitlines() if l.strip() and 'it/s]' not in l and not l.startswith(('usage:', ' ', log))]
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
