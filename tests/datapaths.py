"Where the shared test data lives: $CRYODRGN2_TEST_DATA, ../shared/data beside the project, or /work/shared/data."
import os
from pathlib import Path
import pytest

def _find_data()->Path:
    candidates = [os.environ.get('CRYODRGN2_TEST_DATA'), Path(__file__).resolve().parents[2] / 'shared' / 'data', '/work/shared/data']
    for c in candidates:
        if c and Path(c).is_dir(): return Path(c)
    return Path(candidates[1])

DATA = _find_data()
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f'shared test data not found (set CRYODRGN2_TEST_DATA); looked in {DATA}')
