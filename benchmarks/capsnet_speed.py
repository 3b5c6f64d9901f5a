"""Seconds per training batch of capsnet's configurations, and the epoch they imply (a benchmark, not a test).

Every configuration trains on the same batches of --data, in interleaved rounds (one step of
each, then the next round), so a busy moment of a shared machine hits all of them alike; the
median step of each is reported with the epoch time it implies (steps per epoch x median). The
first step of each is a warm-up and is not counted.

    OMP_NUM_THREADS=1 python benchmarks/capsnet_speed.py --data fashion --rounds 6
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import torch

from capsnet.data import load_data
from capsnet.model import parameter_count
from capsnet.settings import TrainSettings
from capsnet.train import Trainer, batch_loss

CONFIGS = {
    "paper (Conv1 256, 32 types)": {"conv1_channels": 256, "primary_types": 32},
    "CPU width (Conv1 64, 16 types)": {"conv1_channels": 64, "primary_types": 16},
    "Conv1 64, 32 types": {"conv1_channels": 64, "primary_types": 32},
    "baseline CNN, width 64": {"model": "baseline", "conv1_channels": 64},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion")
    parser.add_argument("--rounds", type=int, default=6, help="timed steps of each configuration (plus one warm-up)")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    data = load_data(args.data)
    trainers = {name: Trainer(data, TrainSettings(batch_size=args.batch_size, **kw)) for name, kw in CONFIGS.items()}
    times: dict[str, list[float]] = {name: [] for name in trainers}
    for round_ in range(args.rounds + 1):
        for name, trainer in trainers.items():
            batch = trainer.next_batch()
            started = time.perf_counter()
            trainer.optimizer.zero_grad(set_to_none=True)
            batch_loss(trainer.model, batch, trainer.settings).backward()
            trainer.optimizer.step()
            trainer.step += 1
            if round_ > 0:
                times[name].append(time.perf_counter() - started)
    steps = math.ceil(len(data.train) / args.batch_size)
    report = {
        "data": data.name, "train_images": len(data.train), "batch_size": args.batch_size, "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
        "configs": {
            name: {
                "parameters": parameter_count(trainers[name].model),
                "seconds_per_batch": round(statistics.median(t), 3),
                "spread": [round(min(t), 3), round(max(t), 3)],
                "extrapolated_minutes_per_epoch": round(steps * statistics.median(t) / 60, 1),
            }
            for name, t in times.items()
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
