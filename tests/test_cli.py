"""The README's "Your own data" commands, run as written on a tiny simulated RELION project.

The project has 40 images of 64x64 px at 3 A in two stacks per optics group, stored as detector-like counts
(300 x value + 5000); the README's box 128 becomes 32 here, and the job runs one epoch."""
import pickle, shlex
from pathlib import Path
import numpy as np
import pytest
from cryodrgn2.cli import main

ROOT = Path(__file__).resolve().parents[1]

def readme_commands()->list[list[str]]:
    "The `cryodrgn2 ...` lines of the README's 'Your own data' code block, as argument lists (without 'cryodrgn2')."
    section = (ROOT / 'README.md').read_text().split('## Your own data', 1)[1].split('\n## ', 1)[0]
    block = section.split('```bash\n', 1)[1].split('```', 1)[0]
    return [shlex.split(line)[1:] for line in block.splitlines() if line.startswith('cryodrgn2 ')]

@pytest.fixture(scope='module')
def project(tmp_path_factory):
    "A RELION project (PROJECT/Extract/job002/particles.star) and a working folder holding a copy of its star file."
    root = tmp_path_factory.mktemp('own')
    assert main(['simulate', '-o', str(root / 'PROJECT'), '-n', '40', '-D', '64', '--snr', '1', '--relion-project', '--stack-size', '10',
                 '--optics-amp-contrast', '0.1', '0.07', '--offset', '5000', '--scale', '300']) == 0
    (root / 'work').mkdir()
    (root / 'work/particles.star').write_text((root / 'PROJECT/Extract/job002/particles.star').read_text())
    return root

def small(args:list[str])->list[str]:
    "A README command at test size: box 32 for 128, one epoch."
    args = [a.replace('128', '32') for a in args]
    return args + ['-n', '1'] if args[0] in ('abinit-homo', 'abinit-het') else args

def test_readme_commands(project, monkeypatch):
    commands = readme_commands()
    assert [c[0] for c in commands] == ['downsample', 'parse-ctf', 'abinit-homo', 'write-star']
    monkeypatch.chdir(project / 'work')
    for args in commands:
        args = [a.replace('PROJECT', str(project / 'PROJECT')) for a in small(args)]
        assert main(args) == 0, args
    log = Path('run/run.log').read_text()
    assert '32 px box at 6 A/px' in log, log  # D_ctf x apix_ctf / D_stack = 64 x 3 / 32
    assert 'CTF from ctf.pkl' in log, log
    # the star for import: the poses found, in the full-size star's own table
    assert main(['parse-pose', 'run/particles_aligned.star', '-o', 'back.pkl']) == 0
    for back, found in zip(pickle.load(open('back.pkl', 'rb')), pickle.load(open('run/poses.pkl', 'rb'))):
        np.testing.assert_allclose(back, found, atol=1e-4)
    assert Path('run/particles_aligned.star').read_text().count('@Extract/job002/Micrographs/session2/') == 20

def test_selection_and_star_ctf(project, monkeypatch, capsys):
    "--ind on a job and on write-star; a .star given directly uses its CTF columns; --no-ctf leaves them out."
    monkeypatch.chdir(project / 'work')
    pickle.dump(np.arange(0, 40, 3), open('keep.pkl', 'wb'))
    job = ['particles.star', '--datadir', str(project / 'PROJECT'), '--volume', str(project / 'PROJECT/volume.mrc'),
           '--base-level', '1', '--iters', '1', '--t-ngrid', '3']
    assert main(['align', *job, '--ind', 'keep.pkl', '-o', 'sel.pkl']) == 0
    err = capsys.readouterr().err
    assert 'CTF from the columns of particles.star' in err and '14 images selected' in err, err
    assert main(['write-star', 'particles.star', '--datadir', str(project / 'PROJECT'), '--ind', 'keep.pkl', '--poses', 'sel.pkl',
                 '-o', 'sel.star']) == 0
    assert main(['parse-pose', 'sel.star', '-o', 'back.pkl']) == 0
    for back, found in zip(pickle.load(open('back.pkl', 'rb')), pickle.load(open('sel.pkl', 'rb'))):
        np.testing.assert_allclose(back, found, atol=1e-4)
    assert main(['align', *job, '--no-ctf', '--window', '0', '-o', 'all.pkl']) == 0
    assert 'no CTF (--no-ctf)' in capsys.readouterr().err
