"""The README's "A first look" code, run as written (and with physically signed images): the search finds the poses
of the phantom's images to under 1 deg whichever their sign, and says which sign it used."""
import contextlib, io, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def first_look_code()->str:
    section = (ROOT / 'README.md').read_text().split('## A first look', 1)[1]
    return section.split('```python\n', 1)[1].split('```', 1)[0]

def run(code:str)->str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out): exec(compile(code, 'README first look', 'exec'), {})
    return out.getvalue()

def median_error(printed:str)->float:
    "The median rotation error (deg) the first look prints."
    return float(re.search(r'median rotation error \(deg\): ([\d.e-]+)', printed)[1])

def test_first_look_as_written():
    printed = run(first_look_code())
    assert 'contrast negated' in printed, printed  # simulate() stores images contrast-inverted, as extraction does
    assert median_error(printed) < 1, printed

def test_first_look_physically_signed():
    code = first_look_code()
    assert 'seed=0)' in code
    printed = run(code.replace('seed=0)', 'seed=0, invert=False)', 1))
    assert 'contrast as given' in printed, printed
    assert median_error(printed) < 1, printed
