"""The paper's CIFAR nets: plain and residual differ only by the shortcuts; shapes; gradients."""

import pytest
import torch
from torch import nn

from course_utils.models.cifar import (
    PlainBlock,
    ResidualBlock,
    ShortcutA,
    cifar_net,
    cifar_param_count,
)
from course_utils.models.gradients import conv_grad_norms
from course_utils.models.resnet import count_parameters
from course_utils.training.steps import augment, batches, loss_and_error, train_steps


def _shapes(model: nn.Module) -> dict[str, tuple]:
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


@pytest.mark.parametrize("depth", [20, 32, 56])
def test_plain_and_residual_have_identical_parameters(depth):
    plain, residual = cifar_net(depth, residual=False), cifar_net(depth, residual=True)
    assert _shapes(plain) == _shapes(residual)
    assert count_parameters(plain) == count_parameters(residual) == cifar_param_count(depth)
    # Same number of weight layers: 6n + 2 = the stem conv, 6n convs in blocks and the fc.
    layers = [m for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == depth


def test_resnet20_has_the_papers_0_27m_parameters():
    # Worked by hand: stem 432 + 32 (BN), stage 1: 6 convs of 16*16*9, stage 2: 16*32*9 + 5*32*32*9,
    # stage 3: 32*64*9 + 5*64*64*9, 18 BNs at 2 per channel, fc 64*10 + 10.
    by_hand = 432 + 32 + 6 * 2304 + (4608 + 5 * 9216) + (18432 + 5 * 36864) \
        + 2 * 6 * (16 + 32 + 64) + 650
    assert by_hand == 269_722
    assert count_parameters(cifar_net(20, residual=True)) == 269_722  # the paper's "0.27M"
    assert round(count_parameters(cifar_net(56, residual=True)) / 1e6, 2) == 0.85  # paper: 0.85M
    assert round(count_parameters(cifar_net(110, residual=True)) / 1e6, 1) == 1.7  # paper: 1.7M


def test_shortcut_a_has_no_parameters_and_pads_zero_channels():
    shortcut = ShortcutA(16, 32, stride=2)
    assert list(shortcut.parameters()) == [] and list(shortcut.buffers()) == []
    x = torch.randn(2, 16, 8, 8)
    y = shortcut(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])  # the input, subsampled, in the middle
    assert y[:, :8].abs().sum() == 0 and y[:, 24:].abs().sum() == 0
    assert torch.equal(ShortcutA(16, 16, 1)(x), x)


@pytest.mark.parametrize("stride,c_in,c_out", [(1, 16, 16), (2, 16, 32)])
def test_residual_block_is_plain_branch_plus_shortcut(stride, c_in, c_out):
    torch.manual_seed(0)
    residual = ResidualBlock(c_in, c_out, stride).eval()
    plain = PlainBlock(c_in, c_out, stride).eval()
    plain.load_state_dict(residual.state_dict())  # strict: the same weights fit both
    x = torch.randn(2, c_in, 8, 8)
    branch = plain.residual_branch(x)
    assert torch.allclose(plain(x), torch.relu(branch))
    assert torch.allclose(residual(x), torch.relu(branch + ShortcutA(c_in, c_out, stride)(x)))


def test_same_weights_give_the_plain_net_when_shortcuts_are_removed():
    torch.manual_seed(0)
    residual = cifar_net(20, residual=True, num_classes=4).eval()
    plain = cifar_net(20, residual=False, num_classes=4).eval()
    plain.load_state_dict(residual.state_dict())
    x = torch.randn(3, 3, 32, 32)
    assert not torch.allclose(plain(x), residual(x))
    for m in residual.modules():  # replace every shortcut by "add nothing"
        if isinstance(m, ResidualBlock):
            m.shortcut.forward = lambda t: torch.zeros(())
    assert torch.allclose(plain(x), residual(x), atol=1e-6)


@pytest.mark.parametrize("depth", [20, 32, 56])
@pytest.mark.parametrize("size", [32, 48, 16])
def test_output_shapes(depth, size):
    for residual in (False, True):
        model = cifar_net(depth, residual, num_classes=10).eval()
        with torch.inference_mode():
            assert model(torch.randn(2, 3, size, size)).shape == (2, 10)


def test_feature_map_sizes_per_stage():
    model = cifar_net(20, residual=True).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        x = torch.relu(model.bn1(model.conv1(x)))
        sizes = []
        for stage in (model.layer1, model.layer2, model.layer3):
            x = stage(x)
            sizes.append(tuple(x.shape[1:]))
    assert sizes == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]


@pytest.mark.parametrize("depth", [4, 21, 0])
def test_bad_depth_is_explained(depth):
    with pytest.raises(ValueError, match="6n\\+2"):
        cifar_net(depth, residual=True)


def test_deep_plain_net_gradients_explode_towards_the_input_resnet_ones_stay_level():
    # With BatchNorm the deep plain net's gradients do not vanish: they *grow* by a roughly
    # constant factor per layer going backwards (measured ~1.2x), so the first conv gets
    # hundreds of times the last conv's gradient. The ResNet's profile stays within ~10x.
    torch.manual_seed(0)
    x, y = torch.randn(32, 3, 16, 16), torch.randint(0, 4, (32,))
    norms = {}
    for residual in (False, True):
        torch.manual_seed(1)
        norms[residual] = conv_grad_norms(cifar_net(56, residual, num_classes=4), x, y)
        assert len(norms[residual]) == 55
    plain, res = norms[False], norms[True]
    assert plain[0] / plain[-1] > 100, plain
    assert res[0] / res[-1] < 30, res
    assert plain[0] > 20 * res[0]


def test_grad_norms_leave_batchnorm_statistics_alone():
    model = cifar_net(20, residual=True, num_classes=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    conv_grad_norms(model, torch.randn(8, 3, 16, 16), torch.randint(0, 4, (8,)))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())


def test_augment_keeps_shape_and_content():
    g = torch.Generator().manual_seed(0)
    images = torch.randn(16, 3, 8, 8)
    out = augment(images, g, pad=0)  # no padding: only flips
    for a, b in zip(images, out, strict=True):
        assert torch.equal(a, b) or torch.equal(a.flip(2), b)
    shifted = augment(torch.ones(4, 3, 8, 8), g, pad=4)
    assert shifted.shape == (4, 3, 8, 8)
    assert set(shifted.unique().tolist()) <= {0.0, 1.0}


def test_batches_cover_an_epoch_and_are_seeded():
    x, y = torch.arange(10.0).view(10, 1, 1, 1).expand(10, 3, 2, 2), torch.arange(10)
    def three(seed: int) -> list:
        it = batches(x, y, 3, seed=seed, train_augment=False)
        return [next(it)[1] for _ in range(3)]

    first, again = three(0), three(0)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert len(set(torch.cat(first).tolist())) == 9  # one epoch's 3 full batches, no repeats


def test_train_steps_lowers_the_loss_on_a_tiny_problem():
    torch.manual_seed(0)
    x = torch.randn(32, 3, 8, 8)
    y = (x[:, 0].mean((1, 2)) > 0).long()
    model = cifar_net(8, residual=True, num_classes=2)
    history = train_steps(model, batches(x, y, 16, train_augment=False), steps=30, lr=0.05,
                          log_every=10)
    with pytest.raises(ValueError, match="sgd"):
        train_steps(model, batches(x, y, 16), steps=1, optimizer="lbfgs")
    assert history["step"] == [10, 20, 30]
    assert history["loss"][-1] < history["loss"][0]
    loss, error = loss_and_error(model, x, y)
    assert 0 <= error <= 1 and loss > 0


def test_augment_is_a_shifted_crop_of_the_zero_padded_image_flipped_half_the_time():
    # Every pixel distinct, so each output can be traced back to exactly one (shift, flip).
    n, pad = 64, 4
    images = torch.arange(n * 3 * 8 * 8, dtype=torch.float32).view(n, 3, 8, 8) + 1
    out = augment(images, torch.Generator().manual_seed(0), pad=pad)
    padded = torch.nn.functional.pad(images, (pad,) * 4)  # zeros around, as in the paper
    found = []
    for i in range(n):
        crops = {(dy, dx): padded[i, :, dy:dy + 8, dx:dx + 8]
                 for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)}
        matches = [(dy, dx, flip) for (dy, dx), crop in crops.items() for flip in (False, True)
                   if torch.equal(out[i], crop.flip(2) if flip else crop)]
        assert len(matches) == 1, f"image {i} is not a crop of its padded self, or flipped"
        found.append(matches[0])
    flips = sum(flip for _, _, flip in found)
    assert 20 <= flips <= 44, f"{flips} of {n} flipped; a fair coin gives about 32"
    shifts = {(dy, dx) for dy, dx, _ in found}
    assert len(shifts) >= 30, "shifts spread over the 9 x 9 possible offsets"
    assert {dy for dy, _ in shifts} == set(range(9)) and {dx for _, dx in shifts} == set(range(9))


def test_train_steps_is_sgd_with_warmup_and_decay_computed_by_hand():
    import copy

    import torch.nn.functional as F

    torch.manual_seed(0)
    x, y = torch.randn(12, 3, 8, 8), torch.randint(0, 3, (12,))
    model = cifar_net(8, residual=True, num_classes=3)
    reference = copy.deepcopy(model).train()
    # lr = 0.1 x warm-up min(1, step/2) x 0.1 once step > 0.5 x 3: 0.05, 0.01, 0.01
    lrs, losses, wrong = [0.05, 0.01, 0.01], [], 0
    batches = [(x[i:i + 4], y[i:i + 4]) for i in (0, 4, 8)]
    params = list(reference.parameters())
    for (xb, yb), lr in zip(batches, lrs, strict=True):
        logits = reference(xb)
        loss = F.cross_entropy(logits, yb)
        with torch.no_grad():
            for p, g in zip(params, torch.autograd.grad(loss, params), strict=True):
                p -= lr * g
        losses.append(loss.item())
        wrong += int((logits.argmax(1) != yb).sum())
    history = train_steps(model, iter(batches), steps=3, lr=0.1, momentum=0.0, weight_decay=0.0,
                          warmup=2, decay_at=(0.5,), log_every=3)
    for (name, value), expected in zip(model.state_dict().items(),
                                       reference.state_dict().values(), strict=True):
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6, msg=name)
    assert history["step"] == [3]
    assert history["loss"] == pytest.approx([sum(losses) / 3], rel=1e-6)
    assert history["error"] == pytest.approx([wrong / 12])


def test_loss_and_error_uses_running_statistics_and_leaves_them_alone():
    torch.manual_seed(0)
    model = cifar_net(8, residual=True, num_classes=3)
    with torch.no_grad():  # running statistics away from the defaults, as after training
        model.train()(torch.randn(16, 3, 8, 8) * 2 + 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(10, 3, 8, 8), torch.randint(0, 3, (10,))
    with torch.no_grad():
        logits = model.eval()(x)
    model.train()
    loss, error = loss_and_error(model, x, y, batch_size=4)  # batches of 4, 4, 2
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert error == pytest.approx((logits.argmax(1) != y).float().mean().item())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
