"""The optimisation loop with toy objectives: no network needed, so these run in milliseconds."""

import pytest
import torch

from painterly.callbacks import EarlyStopping, EveryNSteps
from painterly.engine import StepEvent, optimize_image


def quadratic(target):
    def objective(image):
        err = (image - target).pow(2).mean()
        return err, {"err": err}

    return objective


@pytest.fixture
def target():
    # Values outside [0, 1] check that the pixel range is enforced.
    return torch.linspace(-0.5, 1.5, 48).reshape(1, 3, 4, 4)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loss_goes_down_and_pixels_stay_in_range(optimizer, target):
    init = torch.full_like(target, 0.5)
    result = optimize_image(quadratic(target), init, iterations=60, optimizer=optimizer, lr=0.05 if optimizer == "adam" else None)
    start = quadratic(target)(init)[0].item()
    assert result.loss < 0.5 * start
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0
    assert torch.equal(init, torch.full_like(target, 0.5))  # the caller's tensor is untouched
    assert result.stopped == "finished" and result.steps == 60
    # best-so-far bookkeeping: the returned loss is that of the returned image
    assert quadratic(target)(result.image)[0].item() == pytest.approx(result.loss, rel=1e-5)


def test_events_count_steps_and_carry_terms(target):
    events = []
    optimize_image(quadratic(target), torch.zeros_like(target), iterations=5, callbacks=[events.append])
    assert [e.step for e in events] == [1, 2, 3, 4, 5]
    assert all(e.total == 5 and set(e.terms) == {"err"} and e.size == (4, 4) for e in events)
    assert events[-1].elapsed >= events[0].elapsed >= 0


def test_event_image_is_a_copy(target):
    seen = []

    def grab(event):
        img = event.image()
        img.fill_(7.0)
        seen.append(event.image())

    optimize_image(quadratic(target), torch.zeros_like(target), iterations=2, callbacks=[grab])
    assert all(img.max() <= 1.0 for img in seen)


def test_callback_can_stop_the_run(target):
    result = optimize_image(
        quadratic(target), torch.zeros_like(target), iterations=50, callbacks=[lambda e: e.step == 3]
    )
    assert result.stopped == "callback" and result.steps == 3


def test_interrupt_returns_best_image_so_far(target):
    def interrupt(event):
        if event.step == 4:
            raise KeyboardInterrupt

    result = optimize_image(quadratic(target), torch.zeros_like(target), iterations=50, callbacks=[interrupt])
    assert result.stopped == "interrupted" and result.steps == 4
    assert result.loss < quadratic(target)(torch.zeros_like(target))[0].item()
    assert quadratic(target)(result.image)[0].item() == pytest.approx(result.loss, rel=1e-5)


def test_unknown_optimizer(target):
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        optimize_image(quadratic(target), target, iterations=1, optimizer="sgd")


def test_iterate_average_is_the_bias_corrected_moving_average_of_the_iterates(target):
    init = torch.full_like(target, 0.5)
    iterates = []
    run = dict(iterations=6, optimizer="adam", lr=0.1)
    plain = optimize_image(quadratic(target), init, callbacks=[lambda e: iterates.append(e.image())], **run)
    averaged = optimize_image(quadratic(target), init, average=0.5, **run)
    # By hand: weights 0.5^(6-k) for the iterate after step k, normalised to sum to 1.
    weights = [0.5 ** (6 - k) for k in range(1, 7)]
    expected = sum(w * x for w, x in zip(weights, iterates)) / sum(weights)
    assert torch.allclose(averaged.image, expected, atol=1e-6)
    assert not torch.allclose(averaged.image, plain.image, atol=1e-3)
    assert averaged.loss == pytest.approx(quadratic(target)(averaged.image)[0].item(), rel=1e-5)
    # Averaging does not change the path the optimizer takes, only what is returned.
    assert averaged.history == plain.history


def test_events_show_the_average_when_averaging(target):
    seen = []
    result = optimize_image(quadratic(target), torch.zeros_like(target), iterations=3, average=0.9,
                            callbacks=[lambda e: seen.append(e.image())])
    assert torch.allclose(seen[-1], result.image)


def _event(step, loss, level=0, levels=1):
    return StepEvent(step=step, total=100, loss=loss, terms={}, elapsed=0.0, size=(1, 1), level=level, levels=levels)


def test_early_stopping_waits_for_patience_on_a_plateau():
    stop = EarlyStopping(patience=3, min_delta=0.01)
    decisions = [stop(_event(i, loss)) for i, loss in enumerate([10, 9, 8, 7.99, 7.98, 7.97, 7.5], 1)]
    assert decisions == [False, False, False, False, False, True, False]


def test_early_stopping_never_stops_before_the_last_level():
    stop = EarlyStopping(patience=1)
    assert not any(stop(_event(i, 1.0, level=0, levels=2)) for i in range(1, 5))
    assert [stop(_event(i, 1.0, level=1, levels=2)) for i in (5, 6)] == [False, True]


def test_every_n_steps():
    steps = []
    cb = EveryNSteps(3, lambda e: steps.append(e.step))
    for i in range(1, 10):
        cb(_event(i, 1.0))
    assert steps == [3, 6, 9]
