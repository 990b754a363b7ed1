"""Which machine trained which steps of a run.

A run here is often trained by several processes: resumed across sessions, and across machines
of different speeds and precisions. The training record keeps one entry per process (the steps
it trained, its tokens, its wall seconds and its hardware), so that a run's minutes and tokens/s
are read per machine, not as one average over machines that differ."""

from __future__ import annotations


def process_entry(first_step: int, last_step: int, tokens: int, wall_time_s: float, hardware: dict) -> dict:
    """One process's share of a run: steps `first_step` to `last_step`, `tokens` of them, in
    `wall_time_s` seconds (set-up and evaluation included) on `hardware` (`loop._hardware`)."""
    return {"steps": [first_step, last_step], "tokens": tokens, "wall_time_s": round(wall_time_s, 1),
            "hardware": hardware}


def describe_hardware(hardware: dict) -> str:
    """e.g. `cpu AVX2, fp32, torch threads 2` or `cuda NVIDIA H100, bf16, world size 8`."""
    device = hardware.get("device", "?")
    detail = hardware.get("gpu") or hardware.get("cpu_capability") or ""
    text = f"{device}{' ' + detail if detail else ''}, {hardware.get('precision', '?')}"
    if str(device).startswith("cpu"):
        text += f", torch threads {hardware.get('torch_threads', '?')}"
    if (hardware.get("world_size") or 1) > 1:
        text += f", world size {hardware['world_size']}"
    return text


def describe_processes(processes: list[dict]) -> list[str]:
    """One line per stretch of consecutive processes on alike hardware: its steps, minutes,
    tokens/s and hardware, e.g. `steps 0-1,848: 110.7 min, 2.3k tokens/s, cpu AVX2, fp32, ...`."""
    stretches: list[dict] = []
    for process in processes:
        hardware = describe_hardware(process.get("hardware", {}))
        if stretches and stretches[-1]["hardware"] == hardware:
            last = stretches[-1]
            last["steps"][1] = process["steps"][1]
            last["tokens"] += process["tokens"]
            last["wall_time_s"] += process["wall_time_s"]
        else:
            stretches.append({"steps": list(process["steps"]), "tokens": process["tokens"],
                              "wall_time_s": process["wall_time_s"], "hardware": hardware})
    return [f"steps {s['steps'][0]:,}-{s['steps'][1]:,}: {s['wall_time_s'] / 60:.1f} min, "
            f"{s['tokens'] / max(s['wall_time_s'], 1e-9) / 1e3:.1f}k tokens/s, {s['hardware']}" for s in stretches]
