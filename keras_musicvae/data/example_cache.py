"""`ExampleCache`: converted examples per (file, transposition), in memory.

The cached strategy of `make_dataset` (see `keras_musicvae.data.pipeline`):
files are converted once per transposition, on demand, and every epoch
draws its transpositions and per-file windows from the cache.
"""

import collections
import time

import numpy as np

from keras_musicvae.data import blocks as blocks_lib
from keras_musicvae.data import conversion
from keras_musicvae.data import parallel
from keras_musicvae.data import worker
from keras_musicvae.data.stats import PipelineStats


class ExampleCache:
    """Converted examples per (item, transposition), filled on demand.

    The first pass converts every item untransposed (the statistics, and the
    padded length, come from it). A transposition is converted the first
    time an epoch draws it for an item, and kept: after a few epochs nothing
    is converted any more, and the first epoch costs no more than one pass.
    """

    def __init__(self, items, converter, spec, *, limits, seed, num_workers, max_seq_len,
                 fixed_length, progress):
        self.items = items
        self.converter = converter
        self.spec = spec
        self.limits = limits
        self.seed = seed
        self.num_workers = num_workers
        self.blocks = {}  # (item index, transposition) -> blocks_lib.Block
        self.unusable = set()  # items that failed to read or convert
        self.stats = PipelineStats(files=len(items))
        start = time.perf_counter()
        pending = self._convert([(i, [0]) for i in range(len(items))], progress=progress)
        longest = max((int(b.steps.max()) for b in pending.values() if len(b)), default=0)
        self.steps = max_seq_len if max_seq_len is not None else max(longest, fixed_length or 0)
        for key, block in pending.items():
            self._store(key, block)
        self.stats.seconds = time.perf_counter() - start

    @property
    def num_examples(self):
        return sum(len(b) for (i, t), b in self.blocks.items() if t == 0)

    @property
    def nbytes(self):
        return sum(b.nbytes for b in self.blocks.values())

    def _store(self, key, block):
        block, dropped = block.fit_to(self.steps)
        if key[1] == 0:
            self.stats.examples_too_long += dropped
        self.blocks[key] = block

    def _convert(self, requests, progress=False):
        """Converts `[(item index, [transpositions])]`; returns the new blocks.

        Blocks of the first pass are returned unstored (their padded length
        is not known yet); later ones are stored.
        """
        first_pass = not self.blocks and not self.unusable
        wanted = dict(requests)
        per_task = max(1, parallel.FILES_PER_TASK // max(len(ts) for ts in wanted.values()))
        work = [(i, self.items[i], [(t, 1.0) for t in ts]) for i, ts in requests]
        tasks = [
            worker.Task(converter=self.converter, items=chunk, limits=self.limits, seed=self.seed)
            for chunk in parallel.chunks(work, per_task)
        ]
        new = {}
        with parallel.Runner(parallel.workers_for(self.num_workers, len(tasks))) as runner, conversion.progress_bar(
            len(work), progress, "converting"
        ) as bar:
            for results in runner.map(tasks):
                for result in results:
                    if first_pass:
                        conversion.record_result(self.stats, result)
                    if result.failure is not None:
                        self.unusable.add(result.index)
                        continue
                    for t, block in zip(wanted[result.index], result.blocks):
                        new[(result.index, t)] = block
                bar.update(len(results))
        if not first_pass:
            for key, block in new.items():
                self._store(key, block)
        return new

    def epoch(self, rng, *, transpositions, cap, shuffle):
        """The examples of one epoch, as one `blocks_lib.Block` in batch order.

        Per usable item: a transposition drawn uniformly from
        `transpositions`, then at most `cap` of its examples (without
        replacement); then everything shuffled when `shuffle`.
        """
        alive = [i for i in range(len(self.items)) if i not in self.unusable]
        if len(transpositions) > 1:
            drawn = np.asarray(transpositions)[rng.integers(len(transpositions), size=len(alive))]
        else:
            drawn = np.full(len(alive), transpositions[0])
        missing = collections.defaultdict(list)
        for i, t in zip(alive, drawn.tolist()):
            if (i, t) not in self.blocks:
                missing[i].append(t)
        if missing:
            self._convert(sorted(missing.items()))
        parts = []
        for i, t in zip(alive, drawn.tolist()):
            block = self.blocks.get((i, t))
            if block is None or not len(block):
                continue
            if cap is not None and len(block) > cap:
                block = block.take(np.sort(rng.choice(len(block), cap, replace=False)))
            parts.append(block)
        if not parts:
            return None
        merged = blocks_lib.concat_blocks(parts)
        if shuffle:
            merged = merged.take(rng.permutation(len(merged)))
        return merged
