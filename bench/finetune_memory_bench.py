"""How much memory does `phototag train --finetune` take as a library grows?

    .venv/bin/python bench/finetune_memory_bench.py ../shared/data [--copies 4] [--cache DIR]

Fine-tuning keeps the frozen part of the backbone's output (a feature map per training
variant: 192 channels at 1/32 of the input size for the last two blocks) so that each
epoch runs only the tail. This script harvests the sample photos marked `train`, repeats
the list COPIES times (a stand-in for a library that many times larger: each copy is
rendered and run again), trains the heads on cached features, then runs `finetune` for one
epoch while a thread samples the process's resident memory from /proc every 20 ms.
Printed: rows, the bytes one row's map takes, all rows' maps in MB, the peak resident
memory during `finetune` and its anonymous part, each also above what the process held
when `finetune` started, and wall seconds.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from photo_tagger.trainer.backbone import load_backbone  # noqa: E402
from photo_tagger.trainer.finetune import finetune  # noqa: E402
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.starter import index_paths  # noqa: E402
from photo_tagger.trainer.train import (FinetuneConfig, TrainConfig, base_spec, default_extractor,  # noqa: E402
                                        heads_only, prepare_data)

class Resident:
    """Samples this process's resident memory in a thread: `peak` is the largest resident set
    seen, `anon` the largest anonymous part of it (memory the process owns; the rest is file
    pages such as the memory-mapped maps, which the kernel can drop and read back)."""

    def __init__(self, every: float = 0.02) -> None:
        self.every, self.peak, self.anon, self._stop = every, 0, 0, threading.Event()
        self.start, self.start_anon = self.now()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> tuple[int, int]:
        """(resident, anonymous) bytes, from /proc/self/status."""
        fields = {}
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(("VmRSS:", "RssAnon:")):
                    name, value = line.split(":")
                    fields[name] = int(value.split()[0]) * 1024
        return fields["VmRSS"], fields["RssAnon"]

    def _sample(self) -> None:
        resident, anon = self.now()
        self.peak, self.anon = max(self.peak, resident), max(self.anon, anon)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.every)

    def __enter__(self) -> Resident:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--cache", type=Path, default=Path("runs/starter/cache"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = TrainConfig(finetune=FinetuneConfig(blocks=2, epochs=1))
    found = harvest(index_paths(args.data_dir, "train"))
    photos = found.photos * args.copies
    data = prepare_data(photos, config, default_extractor(config, args.cache), args.cache)
    spec = base_spec("bench", config)
    heads = heads_only(data, spec, config)
    backbone = load_backbone(config.backbone)
    start = backbone.num_blocks - config.finetune.blocks
    # the map size and the `folder` check are spelled out here rather than taken from
    # finetune.map_bytes and its signature, so this script also runs on the code before the
    # maps went to disk (feff163), which produced the README's "before" figures
    with torch.no_grad():
        row = backbone.stem_to(torch.zeros(1, 3, config.input_size, config.input_size), start)[0].numel() * 4
    rows = len(data.features.photo)
    with tempfile.TemporaryDirectory() as folder:
        extra = {"folder": Path(folder)} if "folder" in inspect.signature(finetune).parameters else {}
        began = time.perf_counter()
        with Resident() as memory:
            finetune(backbone, heads, replace(data), spec, config, **extra)
        seconds = time.perf_counter() - began
    print(f"{len(photos)} photos ({args.copies} x {len(found.photos)}), {rows} rows, {row} bytes per row's map, "
          f"maps {rows * row / 1e6:.0f} MB")
    print(f"finetune: peak resident {memory.peak / 1e6:.0f} MB, {(memory.peak - memory.start) / 1e6:.0f} MB above "
          f"its start ({memory.start / 1e6:.0f} MB); peak anonymous {memory.anon / 1e6:.0f} MB, "
          f"{(memory.anon - memory.start_anon) / 1e6:.0f} MB above its start; {seconds:.0f} s")


if __name__ == "__main__":
    main()
