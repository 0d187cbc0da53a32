__version__ = "0.1.0"

import os
# OpenMP threads that wait for work sleep instead of spinning. On a machine shared with other jobs, spinning threads
# made a two-thread training epoch 6-8x slower than one thread; sleeping ones were faster than one thread, loaded
# or not (`benchmarks/threads.py`). It must be set before torch loads OpenMP, so it applies when cryodrgn2 is
# imported first (the command line always does); a value the user set is kept.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
