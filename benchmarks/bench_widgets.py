"""Benchmark: how long a live explorer takes to update when a control moves, on 32×32 inputs.

Run with `python benchmarks/bench_widgets.py` inside the virtual environment.
Each explorer is built as the live ipywidgets front end
(:class:`tconv_lib.widgets.LiveExplorer`) with a 32×32 input, then every
control is moved through its values in turn; one update is everything the
widget does when a value changes: the panels computed by tconv_lib, drawn as
HTML, and handed to the output widget.  Every update is timed ``--rounds``
times and keeps its best time (other processes only ever add time); prints
the median and the slowest update of each explorer, and in brackets the worst
single time seen.  Target (widget-experiments issue): every update under 100 ms.

What "32×32" means per explorer: ``stamps`` and ``gradients`` stamp a 32×32
input; ``geometry`` runs its input-size control up to 32 and is timed with it
at 32; ``overlap`` draws its coverage maps for 32 inputs a side; ``mitigation``
upsamples a 32×32 image four ways.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tconv_lib import widgets

# fixed arguments for 32×32 inputs, and control values to hold while the others move
SETUPS = {
    "stamps": ({"size": 32}, {}),
    "geometry": ({}, {"input_size": 32}),
    "overlap": ({"size": 32}, {}),
    "mitigation": ({"size": 32}, {}),
    "gradients": ({"size": 32}, {}),
}


def time_updates(name: str, fixed: dict, held: dict, rounds: int) -> dict:
    """Seconds of each update, keyed by (control, value): every value of every control (bar the
    held ones) in turn, `rounds` times over, each update's best time and its worst."""
    live = widgets.LiveExplorer(name, **fixed)
    for control, value in held.items():
        live.controls[control].value = value
    times: dict = {}
    for _ in range(rounds):
        for control, box in live.controls.items():
            if control in held:
                continue
            start_value = box.value
            for _, value in [*box.options, ("", start_value)]:
                if value == box.value:
                    continue
                start = time.perf_counter()
                box.value = value  # the observer recomputes and redraws synchronously
                times.setdefault((control, value), []).append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit-ms", type=float, default=100.0)
    args = parser.parse_args()
    print(f"{'explorer':<12} {'updates':>8} {'median ms':>10} {'slowest ms':>11}  slowest update"
          f"   (best of {args.rounds}; worst single time in brackets)")
    worst_overall = 0.0
    for name, (fixed, held) in SETUPS.items():
        times = time_updates(name, fixed, held, args.rounds)
        best = {key: min(t) for key, t in times.items()}
        slowest = max(best, key=best.get)
        median = statistics.median(best.values()) * 1e3
        worst = best[slowest] * 1e3
        raw = max(max(t) for t in times.values()) * 1e3
        worst_overall = max(worst_overall, worst)
        print(f"{name:<12} {len(best):>8} {median:>10.1f} {worst:>11.1f}  "
              f"{slowest[0]}={slowest[1]} ({raw:.1f})")
    verdict = "under" if worst_overall < args.limit_ms else "OVER"
    print(f"slowest update {worst_overall:.1f} ms: {verdict} the {args.limit_ms:.0f} ms target")


if __name__ == "__main__":
    main()
