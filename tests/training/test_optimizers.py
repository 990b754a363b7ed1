"""optim.optimizer: muon puts the blocks' matrices under torch.optim.Muon behind one optimizer object."""

import signal

import pytest
import torch

from atomlm.modeling.configuration_atom import AtomConfig
from atomlm.modeling.modeling_atom import AtomForCausalLM
from atomlm.training.config import OptimSettings
from atomlm.training.metrics import read_metrics
from atomlm.training.optimizers import CombinedOptimizer, Float32Muon, build_optimizer, newton_schulz_float32
from atomlm.training.schedule import build_scheduler


def tiny_model():
    torch.manual_seed(0)
    return AtomForCausalLM(AtomConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, head_dim=8))


def test_muon_takes_the_hidden_matrices_and_adamw_the_rest():
    model = tiny_model()
    optimizer, _ = build_optimizer(model, OptimSettings(optimizer="muon"))
    assert isinstance(optimizer, CombinedOptimizer)
    muon, adamw = optimizer.parts
    assert isinstance(muon, torch.optim.Muon) and isinstance(adamw, torch.optim.AdamW)
    muon_parameters = {id(p) for group in muon.param_groups for p in group["params"]}
    names = {name for name, p in model.named_parameters() if id(p) in muon_parameters}
    assert len(names) == 7 * 2  # q, k, v, o, gate, up, down per layer
    assert not any("embed" in name or "norm" in name for name in names)
    everything = {id(p) for p in model.parameters()}
    adamw_parameters = {id(p) for group in adamw.param_groups for p in group["params"]}
    assert muon_parameters | adamw_parameters == everything and not muon_parameters & adamw_parameters


@pytest.mark.parametrize("matrices, muon_names", [("attention", ("q_proj", "k_proj", "v_proj", "o_proj")),
                                                   ("mlp", ("gate_proj", "up_proj", "down_proj"))])
def test_muon_matrices_narrows_muon_to_attention_or_mlp(matrices, muon_names):
    model = tiny_model()
    muon, adamw = build_optimizer(model, OptimSettings(optimizer="muon", muon_matrices=matrices))[0].parts
    muon_parameters = {id(p) for group in muon.param_groups for p in group["params"]}
    names = sorted(name for name, p in model.named_parameters() if id(p) in muon_parameters)
    assert len(names) == len(muon_names) * 2 and all(name.split(".")[-2] in muon_names for name in names)
    # The block's other projections train with AdamW, with weight decay like every matrix.
    decayed = {id(p) for group in adamw.param_groups if group["weight_decay"] > 0 for p in group["params"]}
    others = [p for name, p in model.named_parameters() if ".layers." in name and p.dim() == 2
              and id(p) not in muon_parameters]
    assert len(others) == (7 - len(muon_names)) * 2
    assert all(id(p) in decayed for p in others)


@pytest.mark.parametrize("shape", [(48, 120), (120, 48)])
def test_float32_newton_schulz_is_torchs_iteration_at_higher_precision(shape):
    from torch.optim import _muon

    torch.manual_seed(0)
    grad = torch.randn(shape)
    coefficients = (_muon.DEFAULT_A, _muon.DEFAULT_B, _muon.DEFAULT_C)
    ours = newton_schulz_float32(grad, coefficients, 5, 1e-7)
    torchs = _muon._zeropower_via_newtonschulz(grad, coefficients, 5, 1e-7)
    assert ours.dtype == torch.float32 and ours.shape == grad.shape
    torch.testing.assert_close(ours, torchs.float(), rtol=0, atol=0.05 * torchs.float().abs().max().item())  # bf16 rounding
    # Its singular values land where the iteration puts them (about 0.7 to 1.2), not at the input's.
    singular_values = torch.linalg.svdvals(ours)
    assert 0.5 < singular_values.min() and singular_values.max() < 1.3


def test_an_fp32_run_orthogonalises_in_float32_and_restores_the_bf16_iteration(monkeypatch):
    from torch.optim import _muon

    import atomlm.training.optimizers as optimizers

    settings = OptimSettings(optimizer="muon", lr=1e-2)
    assert type(build_optimizer(tiny_model(), settings, bf16_run=True)[0].parts[0]) is torch.optim.Muon
    model = tiny_model()
    optimizer, _ = build_optimizer(model, settings, bf16_run=False)
    assert type(optimizer.parts[0]) is Float32Muon
    dtypes = []

    def recording(*arguments):
        result = newton_schulz_float32(*arguments)
        dtypes.append(result.dtype)
        return result

    monkeypatch.setattr(optimizers, "newton_schulz_float32", recording)
    torchs_iteration = _muon._zeropower_via_newtonschulz
    model(torch.randint(5, 4096, (2, 8)), labels=torch.randint(5, 4096, (2, 8))).loss.backward()
    optimizer.step()
    assert dtypes == [torch.float32] * 7 * 2  # every hidden matrix, through the float32 iteration
    assert _muon._zeropower_via_newtonschulz is torchs_iteration  # put back after the step


def test_an_fp32_run_falls_back_to_torchs_muon_where_the_iteration_it_replaces_is_gone(monkeypatch):
    from torch.optim import _muon

    monkeypatch.delattr(_muon, "_zeropower_via_newtonschulz")
    with pytest.warns(RuntimeWarning, match="orthogonalises in bfloat16"):
        optimizer, _ = build_optimizer(tiny_model(), OptimSettings(optimizer="muon"), bf16_run=False)
    assert type(optimizer.parts[0]) is torch.optim.Muon


def test_one_schedule_drives_both_parts_and_state_round_trips():
    model = tiny_model()
    settings = OptimSettings(optimizer="muon", max_steps=10, warmup_steps=2, lr=1e-2)
    optimizer, _ = build_optimizer(model, settings)
    scheduler = build_scheduler(optimizer, settings)
    for _ in range(3):
        model(torch.randint(5, 4096, (2, 8)), labels=torch.randint(5, 4096, (2, 8))).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()
    rates = {group["lr"] for part in optimizer.parts for group in part.param_groups}
    assert len(rates) == 1 and rates != {1e-2}  # the same scheduled lr in every group of both parts
    restored, _ = build_optimizer(tiny_model(), settings)
    restored.load_state_dict(optimizer.state_dict())
    assert torch.equal(restored.parts[0].state_dict()["state"][0]["momentum_buffer"],
                       optimizer.parts[0].state_dict()["state"][0]["momentum_buffer"])
    with pytest.raises(ValueError, match="another optimiser"):
        restored.load_state_dict(build_optimizer(tiny_model(), OptimSettings())[0].state_dict())


def test_muon_run_resumes_exactly(tmp_path, atomlm, make_config, start_atomlm, wait_for_train_step):
    config = make_config(tmp_path / "muon.json", optim={"optimizer": "muon"})
    reference = tmp_path / "reference"
    result = atomlm(["train", "--config", str(config), "--out", str(reference), "--no-progress"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "optimizer muon" in (reference / "train_log.txt").read_text()

    stopped = tmp_path / "stopped"
    process = start_atomlm(["train", "--config", str(config), "--out", str(stopped), "--no-progress"],
                           tmp_path / "stderr.txt")
    wait_for_train_step(stopped, 5, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    again = atomlm(["train", "--config", str(config), "--out", str(stopped), "--resume", "--no-progress"])
    assert again.returncode == 0, again.stderr[-3000:]
    losses = [[r["loss"] for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "train"]
              for run in (reference, stopped)]
    assert losses[0] == losses[1] and len(losses[0]) == 12
