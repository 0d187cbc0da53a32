__version__ = "0.1.0"

import os
# OpenMP threads that wait for work sleep instead of spinning. Quiet, it changes nothing; next to other jobs on the same
# cores, spinning threads made training 1.4x (busy loops) to 16x (other multi-threaded work) slower
# (`benchmarks/threads.py`). It must be set before torch loads OpenMP, so it applies when cryodrgn2 is imported first
# (the command line always does); a value the user set is kept.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
