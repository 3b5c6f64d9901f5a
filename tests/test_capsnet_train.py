"""capsnet training: it learns, and a resumed run ends with exactly the weights of an unbroken one."""

import pytest
import torch

from capsnet.checkpoint import read_checkpoint, save_checkpoint
from capsnet.data import load_data
from capsnet.errors import CheckpointError, SettingError
from capsnet.settings import TrainSettings
from capsnet.train import Trainer

# The slow tier (`pytest -m "not slow"` leaves it out; .ci/run runs it): trains a network.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits():
    return load_data("mnist5k")


def test_a_short_run_lowers_the_loss_and_beats_chance_by_far(digits):
    settings = TrainSettings(conv1_channels=16, primary_types=4, train_limit=600, epochs=2, batch_size=20, learning_rate=3e-3)
    trainer = Trainer(digits, settings)
    losses = []
    assert trainer.run([lambda e: losses.append(e.loss)]) == "finished"
    assert trainer.step == 60 and [h["epoch"] for h in trainer.history] == [1, 2]
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:5]) / 5
    assert trainer.history[1]["loss"] < trainer.history[0]["loss"]
    result = trainer.evaluate(digits.test.subset(300))
    assert result.accuracy > 0.6  # chance is 0.1
    assert result.confusion.sum() == 300 and result.confusion.trace() == round(result.accuracy * 300)


def run_straight_and_resumed(digits, tmp_path, task="single", stop_at=2, **kw):
    settings = TrainSettings(conv1_channels=8, primary_types=2, train_limit=60, epochs=2, batch_size=20, **kw)
    straight = Trainer(digits, settings, task)
    straight.run()
    first = Trainer(digits, settings, task)
    assert first.run([lambda e: e.step == stop_at]) == "callback"  # stopped mid-epoch
    save_checkpoint(first.state(), tmp_path / "run.pt")
    torch.manual_seed(999)  # whatever happened in between must not matter
    resumed = Trainer(digits, settings, task)
    resumed.resume(read_checkpoint(tmp_path / "run.pt"))
    resumed.run()
    return straight, resumed


@pytest.mark.parametrize("task, model, stop_at", [("single", "capsnet", 2), ("single", "baseline", 3), ("multi", "capsnet", 4)])
def test_resume_reproduces_the_same_weights(digits, tmp_path, task, model, stop_at):
    straight, resumed = run_straight_and_resumed(digits, tmp_path, task, stop_at, model=model)
    assert resumed.step == straight.step == 6
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["loss"] for h in straight.history] == pytest.approx([h["loss"] for h in resumed.history])


def test_resume_refuses_other_settings_naming_them(digits, tmp_path):
    trainer = Trainer(digits, TrainSettings(conv1_channels=8, primary_types=2, train_limit=20, epochs=1, batch_size=20))
    trainer.run()
    save_checkpoint(trainer.state(), tmp_path / "run.pt")
    other = Trainer(digits, TrainSettings(conv1_channels=16, primary_types=2, train_limit=20, epochs=3, batch_size=20))
    with pytest.raises(CheckpointError, match="conv1_channels 8 != 16") as err:
        other.resume(read_checkpoint(tmp_path / "run.pt"))
    assert "epochs" not in str(err.value)  # more epochs is what --resume is for


def test_settings_are_checked(digits):
    with pytest.raises(SettingError, match="routing_iterations: 0 is below the minimum 1"):
        TrainSettings(routing_iterations=0).validate()
    with pytest.raises(SettingError, match="model: 'resnet'"):
        TrainSettings(model="resnet").validate()
    with pytest.raises(SettingError, match="MultiMNIST is for capsnet only"):
        Trainer(digits, TrainSettings(model="baseline", conv1_channels=8), "multi")
