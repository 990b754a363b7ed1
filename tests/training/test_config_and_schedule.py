"""Config loading/validation and learning-rate schedules (pure Python, fast)."""

import dataclasses
import json

import pytest

from atomlm.training.config import (
    ConfigError,
    TrainConfig,
    apply_overrides,
    config_file,
    config_from_dict,
    list_presets,
    load_config,
)
from atomlm.training.schedule import lr_multiplier


def test_presets_load_and_round_trip():
    assert {"smoke", "cpu", "cpu-2h", "cpu-6h", "cpu-6h-v2", "cpu-6h-extend", "cpu-6h-answers", "cpu-extend", "atom2.7m", "gpu",
            "gpu-offline"} == set(list_presets())
    for name in list_presets():
        config = load_config(name)
        assert config_from_dict(json.loads(json.dumps(config.to_dict()))) == config
    full = load_config("atom2.7m")
    assert full.model.overrides == {}  # the default Atom2.7m architecture
    # the card's curriculum is about 3.5B tokens
    assert abs(full.optim.max_steps * full.tokens_per_step() - 3.5e9) < 0.01e9


@pytest.mark.parametrize("preset", list_presets())
def test_each_presets_curriculum_holds_the_tokens_its_steps_take(preset):
    """A run longer than its curriculum loops back to the first phase: every preset fits in its
    curriculum, so the last steps (the learning-rate decay) train on the last phase. Up to one
    step's tokens more is fine: the windows' padding makes the shards hold more than that."""
    from atomlm.data.curriculum import load_curriculum

    config = load_config(preset)
    curriculum = load_curriculum(config.data.curriculum)
    assert config.optim.max_steps * config.tokens_per_step() <= curriculum.total_tokens + config.tokens_per_step()


def test_gpu_preset_is_the_atom2_7m_recipe_for_one_gpu_in_resumable_jobs():
    gpu, card = load_config("gpu"), load_config("atom2.7m")
    assert gpu.model == card.model and gpu.data == card.data and gpu.optim.max_steps == card.optim.max_steps
    assert (gpu.optim.global_batch_size, gpu.data.seq_len, gpu.accumulation_steps(1)) == (256, 512, 1)
    assert (gpu.optim.optimizer, gpu.optim.schedule, gpu.optim.lr) == ("muon", "wsd", card.optim.lr)
    assert (gpu.run.device, gpu.run.precision, gpu.run.compile) == ("cuda", "bf16", True)
    # jobs last about 10 minutes: checkpoints by the clock, so --resume loses at most 5
    assert gpu.run.checkpoint_every_minutes == 5 and gpu.run.eval_every_steps == 500


def test_bad_config_errors_name_file_and_field(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"optim": {"learning_rate": 1.0}}))
    with pytest.raises(ConfigError, match=r"bad\.json.*optim.*learning_rate"):
        load_config(str(path))
    path.write_text('{"optim": {"lr": 1e-3,}}')
    with pytest.raises(ConfigError, match=r"bad\.json: line 1"):
        load_config(str(path))
    with pytest.raises(ConfigError, match="no preset"):
        load_config("no-such-preset")


def test_overrides_and_accumulation():
    config = apply_overrides(TrainConfig(), ["optim.lr=0.01", "model.overrides.hidden_size=64", "data.curriculum=smoke"])
    assert config.optim.lr == 0.01 and config.model.overrides == {"hidden_size": 64}
    assert config.data.curriculum == "smoke"
    config = apply_overrides(config, ["optim.global_batch_size=32", "optim.micro_batch_size=8"])
    assert config.accumulation_steps(1) == 4 and config.accumulation_steps(2) == 2
    with pytest.raises(ConfigError, match="multiple of"):
        config.accumulation_steps(3)
    with pytest.raises(ConfigError, match="schedule"):
        apply_overrides(config, ["optim.schedule=linear"])
    with pytest.raises(ConfigError, match="data.build_workers must be >= 1"):
        apply_overrides(config, ["data.build_workers=0"])
    with pytest.raises(ConfigError, match=r"^--set: optim.muon_matrices must be all\|attention\|mlp, got 'embeddings'$"):
        apply_overrides(config, ['optim.muon_matrices="embeddings"'])


@pytest.mark.parametrize("schedule", ["cosine", "wsd"])
def test_schedule_warmup_then_decay_to_floor(schedule):
    settings = apply_overrides(
        TrainConfig(), [f"optim.schedule={schedule}", "optim.max_steps=100", "optim.warmup_steps=10", "optim.min_lr_ratio=0.1"]
    ).optim
    values = [lr_multiplier(step, settings) for step in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(values[:10], values[1:10]))  # warmup rises
    assert all(a >= b - 1e-12 for a, b in zip(values[10:], values[11:]))  # then never rises
    assert values[-1] == pytest.approx(0.1)
    if schedule == "wsd":
        assert values[10:80] == [1.0] * 70  # stable phase until the last 20%


@pytest.mark.parametrize(
    ("section", "field", "value", "expected"),
    [
        ("optim", "lr", "fast", 'optim.lr: expected a number, got "fast"'),
        ("optim", "max_steps", "10", 'optim.max_steps: expected an integer, got "10"'),
        ("optim", "max_steps", 10.0, "optim.max_steps: expected an integer, got 10.0"),
        ("model", "use_xsa", "no", 'model.use_xsa: expected true or false, got "no"'),
        ("model", "use_xsa", 0, "model.use_xsa: expected true or false, got 0"),
        ("optim", "warmup_steps", True, "optim.warmup_steps: expected an integer, got true"),
        ("model", "init_from", 3, "model.init_from: expected a string or null, got 3"),
        ("model", "overrides", [], "model.overrides: expected an object, got []"),
    ],
)
def test_wrong_field_types_are_refused_naming_file_and_field(tmp_path, section, field, value, expected):
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps({section: {field: value}}))
    with pytest.raises(ConfigError) as error:
        load_config(str(path))
    assert str(error.value) == f"{path}: {expected}"


def test_set_overrides_are_type_checked_and_ints_widen_to_float(tmp_path):
    with pytest.raises(ConfigError, match='^--set: model.use_xsa: expected true or false, got "no"$'):
        apply_overrides(TrainConfig(), ["model.use_xsa=no"])
    with pytest.raises(ConfigError, match='^--set: optim.lr: expected a number, got "fast"$'):
        apply_overrides(TrainConfig(), ["optim.lr=fast"])
    config = apply_overrides(TrainConfig(), ["optim.lr=1", "model.use_xsa=false", "model.init_from=null"])
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)
    assert config.model.use_xsa is False and config.model.init_from is None


def test_cuda_device_without_cuda_is_a_config_error():
    import torch

    from atomlm.training.distributed import init_distributed

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="run.device is 'cuda' but torch sees no CUDA device"):
        init_distributed("cuda")


def _learning_rates(settings, make_scheduler, resume_at: int | None = None) -> list[float]:
    """The learning rate AdamW uses at each step of `settings.max_steps`; with `resume_at`, the
    optimizer and scheduler are rebuilt from their state dicts before that step, in the order
    the training loop restores a checkpoint (scheduler built, then optimizer, then its state)."""
    import torch

    def build():
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=settings.lr)
        return optimizer, make_scheduler(optimizer)

    optimizer, scheduler = build()
    rates = []
    for step in range(settings.max_steps):
        if step == resume_at:
            saved = optimizer.state_dict(), scheduler.state_dict()
            optimizer, scheduler = build()
            optimizer.load_state_dict(saved[0])
            scheduler.load_state_dict(saved[1])
        rates.append(optimizer.param_groups[0]["lr"])
        assert scheduler.get_last_lr()[0] == rates[-1]  # what metrics.jsonl records as lr
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("preset", ["smoke", "cpu", "cpu-2h", "cpu-6h", "cpu-6h-extend", "cpu-extend", "atom2.7m", "gpu",
                                    "gpu-offline"])
def test_each_presets_schedule_step_by_step_resumes_exactly_and_differs_from_transformers(preset):
    from transformers import get_cosine_with_min_lr_schedule_with_warmup, get_wsd_schedule

    from atomlm.training.schedule import build_scheduler

    settings = load_config(preset).optim
    lr, warmup, total, floor = settings.lr, settings.warmup_steps, settings.max_steps, settings.min_lr_ratio
    ours = _learning_rates(settings, lambda optimizer: build_scheduler(optimizer, settings))
    assert ours == [lr * lr_multiplier(step, settings) for step in range(total)]
    for resume_at in (warmup // 2, warmup + 1, total - 3):  # in warmup, just after it, in the decay
        assert _learning_rates(settings, lambda optimizer: build_scheduler(optimizer, settings), resume_at) == ours
    assert ours[0] == pytest.approx(lr / warmup) and ours[warmup - 1] == lr and ours[-1] == pytest.approx(floor * lr)

    # What the module docstring says differs from transformers' schedules, checked at every step.
    if settings.schedule == "cosine":
        theirs = _learning_rates(settings, lambda optimizer: get_cosine_with_min_lr_schedule_with_warmup(
            optimizer, warmup, total, min_lr_rate=floor))
        assert theirs[0] == 0.0 and theirs[1:warmup + 1] == pytest.approx(ours[:warmup])  # one step later
    else:
        decay_steps = max(1, round(settings.decay_fraction * total))
        theirs = _learning_rates(settings, lambda optimizer: get_wsd_schedule(
            optimizer, warmup, decay_steps, num_training_steps=total, decay_type="linear", min_lr_ratio=floor))
        assert theirs[0] == pytest.approx(floor * lr)  # warmup from the floor, not from lr/warmup
        assert theirs[warmup:] == pytest.approx(ours[warmup - 1:-1])  # then this schedule, one step later
    assert theirs[-1] > ours[-1]  # their decay reaches the floor after the run
    assert theirs != pytest.approx(ours)


def test_a_config_extends_a_preset_or_a_file_and_sets_only_what_differs(tmp_path):
    from atomlm.training.config import load_config_dict

    v2, base = load_config("cpu-6h-v2"), load_config("cpu-6h")
    assert json.loads(config_file("cpu-6h-v2").read_text())["extends"] == "cpu-6h"
    assert v2.data == dataclasses.replace(base.data, loss_on="answers")
    assert v2.optim == dataclasses.replace(base.optim, muon_momentum=0.9)
    assert (v2.model, v2.run) == (base.model, base.run)

    (tmp_path / "base.json").write_text(json.dumps({"extends": "smoke", "model": {"overrides": {"n_layer": 2}},
                                                    "optim": {"lr": 1e-3}}))
    (tmp_path / "child.json").write_text(json.dumps({"extends": "base.json", "model": {"overrides": {"n_head": 2}},
                                                     "optim": {"max_steps": 7}}))
    child, smoke = load_config(str(tmp_path / "child.json")), load_config("smoke")
    assert child.model.overrides == {"n_layer": 2, "n_head": 2}  # objects merge key by key
    assert (child.optim.lr, child.optim.max_steps, child.optim.warmup_steps) == (1e-3, 7, smoke.optim.warmup_steps)
    assert child.data == smoke.data and "extends" not in load_config_dict(str(tmp_path / "child.json"))


def test_extends_errors_name_the_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"extends": "b.json"}))
    (tmp_path / "b.json").write_text(json.dumps({"extends": "a.json"}))
    with pytest.raises(ConfigError, match=r"a\.json.*loop"):
        load_config(str(tmp_path / "b.json"))
    (tmp_path / "c.json").write_text(json.dumps({"extends": 3}))
    with pytest.raises(ConfigError, match=r"c\.json: \"extends\" must be"):
        load_config(str(tmp_path / "c.json"))
    (tmp_path / "d.json").write_text(json.dumps({"extends": "no-such-preset"}))
    with pytest.raises(ConfigError, match="no preset or config file named 'no-such-preset'"):
        load_config(str(tmp_path / "d.json"))
