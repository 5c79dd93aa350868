"""The from-scratch ResNets are torchvision's: same names, same numbers, same outputs."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from course_utils.models import resnet
from course_utils.models.gradients import gradient_norms_at_init
from course_utils.models.resnet import (
    RESNET_CONFIGS,
    BasicBlock,
    Bottleneck,
    build_resnet,
    count_parameters,
    randomise_batch_norm,
)

# torchvision's published parameter counts (1000 classes).
PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}

# The deep models are checked at small sizes only, to keep the file fast on 2 CPU cores.
PARITY_SIZES = {18: (32, 64, 97), 34: (32, 64, 97), 50: (32, 64, 97), 101: (32, 64, 97),
                152: (32, 64)}


@pytest.mark.parametrize("depth", sorted(PARAMS))
def test_torchvision_state_dict_loads_and_outputs_match(depth: int) -> None:
    torch.manual_seed(depth)
    reference = getattr(torchvision.models, f"resnet{depth}")(num_classes=10).eval()
    randomise_batch_norm(reference, seed=depth)
    ours = build_resnet(depth, num_classes=10).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    assert list(ours.state_dict()) == list(reference.state_dict())  # same names, same order
    gen = torch.Generator().manual_seed(0)
    for size in PARITY_SIZES[depth]:
        x = torch.randn(2, 3, size, size, generator=gen)
        with torch.inference_mode():
            expected, got = reference(x), ours(x)
        assert got.shape == (2, 10)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("depth", sorted(PARAMS))
def test_parameter_counts_match_torchvision(depth: int) -> None:
    with torch.device("meta"):  # shapes only: no memory, no init time
        model = build_resnet(depth)
    assert count_parameters(model) == PARAMS[depth]


def test_constructors_match_configs() -> None:
    for depth, (block, layers) in RESNET_CONFIGS.items():
        with torch.device("meta"):
            model = getattr(resnet, f"resnet{depth}")(num_classes=7)
        assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == layers
        assert isinstance(model.layer1[0], block)
        assert model.fc.out_features == 7


def test_each_builder_is_written_out_as_torchvisions_and_says_its_row_of_the_table() -> None:
    import inspect

    for depth, (block, layers) in RESNET_CONFIGS.items():
        builder = getattr(resnet, f"resnet{depth}")
        assert builder.__name__ == f"resnet{depth}"  # a def a reader (and grep) can find
        assert inspect.getsource(builder).startswith(f"def resnet{depth}(")
        kind = "basic" if block is resnet.BasicBlock else "bottleneck"
        assert f"{kind} blocks, {layers}" in builder.__doc__


def test_unknown_depth_and_stride_place_are_named() -> None:
    with pytest.raises(ValueError, match="depth=42"):
        build_resnet(42)
    with pytest.raises(ValueError, match="stride_on='2x2'"):
        build_resnet(50, stride_on="2x2")


def test_v1_and_v1_5_differ_only_in_where_the_stride_is() -> None:
    torch.manual_seed(0)
    v15 = build_resnet(50, num_classes=10).eval()
    v1 = build_resnet(50, num_classes=10, stride_on="1x1").eval()
    assert count_parameters(v1) == count_parameters(v15)
    v1.load_state_dict(v15.state_dict(), strict=True)
    for stage in (v15.layer2, v15.layer3, v15.layer4):
        assert stage[0].conv1.stride == (1, 1) and stage[0].conv2.stride == (2, 2)
    for stage in (v1.layer2, v1.layer3, v1.layer4):
        assert stage[0].conv1.stride == (2, 2) and stage[0].conv2.stride == (1, 1)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        a, b = v15(x), v1(x)
    assert a.shape == b.shape == (1, 10)
    assert not torch.allclose(a, b)  # same weights, different computation
    # The basic block has no 1x1 in its branch: v1 and v1.5 are the same network.
    assert all(m.stride == n.stride for m, n in zip(
        build_resnet(18, stride_on="1x1").modules(), build_resnet(18).modules(), strict=True)
        if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("depth, last_bn", [(18, "bn2"), (50, "bn3")])
def test_zero_init_residual_zeroes_last_bn_of_each_branch(depth: int, last_bn: str) -> None:
    model = build_resnet(depth, zero_init_residual=True)
    block_type = RESNET_CONFIGS[depth][0]
    blocks = [m for m in model.modules() if isinstance(m, block_type)]
    assert len(blocks) == sum(RESNET_CONFIGS[depth][1])
    for block in blocks:
        assert torch.all(getattr(block, last_bn).weight == 0)
        assert torch.all(block.bn1.weight == 1)
    assert torch.all(model.bn1.weight == 1)
    assert torch.all(model.layer2[0].downsample[1].weight == 1)  # shortcut BN untouched
    # Every block starts as ReLU(shortcut(x)): for identity blocks (non-negative input) that is x.
    block = model.layer1[1].eval()
    x = torch.rand(1, block.conv1.in_channels, 8, 8)
    with torch.inference_mode():
        torch.testing.assert_close(block(x), x)


def test_default_init_is_torchvisions() -> None:
    model = build_resnet(18)
    conv = model.layer3[0].conv1  # fan_out = 256 * 3 * 3
    assert abs(conv.weight.std().item() - (2 / (256 * 9)) ** 0.5) < 0.002
    assert torch.all(model.layer3[0].bn2.weight == 1) and torch.all(model.layer3[0].bn2.bias == 0)


def test_blocks_shapes_and_shortcuts() -> None:
    basic = BasicBlock(64, 64)
    assert basic.downsample is None and count_parameters(basic) == 2 * (64 * 64 * 9 + 2 * 64)
    bottleneck = Bottleneck(256, 64)
    assert count_parameters(bottleneck) == (256 * 64 + 64 * 64 * 9 + 64 * 256) + 2 * (64 + 64 + 256)
    model = build_resnet(50)
    assert model.layer1[0].downsample is not None  # 64 -> 256 channels: projection
    assert all(b.downsample is None for b in model.layer1[1:])


@pytest.mark.parametrize("size", [32, 33, 97])
def test_any_input_size_from_32_works(size: int) -> None:
    model = build_resnet(18, num_classes=4).eval()
    with torch.inference_mode():
        assert model(torch.randn(1, 3, size, size)).shape == (1, 4)


def test_residual_stack_keeps_gradients_that_a_plain_stack_loses() -> None:
    # Without normalisation, the plain stack's first-layer gradient vanishes with depth.
    plain = gradient_norms_at_init(50, residual=False)
    residual = gradient_norms_at_init(50, residual=True)
    assert len(plain) == len(residual) == 1 + 2 * 50
    assert residual[0] >= 10 * plain[0]
    assert residual[0] > 1e6 * plain[0]  # measured: about 1e41 times
    # With BatchNorm the plain stack's gradient explodes towards the input instead; the residual
    # stack stays within a narrow band in both cases.
    plain_bn = gradient_norms_at_init(50, residual=False, batch_norm=True)
    residual_bn = gradient_norms_at_init(50, residual=True, batch_norm=True)
    assert plain_bn[0] > 1e4 * plain_bn[-1]
    assert max(residual_bn) / min(residual_bn) < 1e3
    assert max(residual) / min(residual) < 1e3
    # He initialisation (as the ResNet uses) alone keeps the plain stack's gradients level, while
    # the
    # residual stack without BN grows block after block: the vanishing above came from the default
    # init.
    plain_he = gradient_norms_at_init(50, residual=False, init="he")
    residual_he = gradient_norms_at_init(50, residual=True, init="he")
    assert max(plain_he) / min(plain_he) < 50
    assert min(residual_he) > 1e6 * max(plain_he)
    # With BN the plain stack's explosion grows with depth (about plain-20's and plain-56's depths).
    ratio = {}
    for d in (9, 27):
        g = gradient_norms_at_init(d, residual=False, batch_norm=True, init="he")
        ratio[d] = g[0] / g[-1]
    assert ratio[9] < 100 < ratio[27]
    with pytest.raises(ValueError, match="init must be"):
        gradient_norms_at_init(2, residual=True, init="xavier")
    # Deterministic: the figure in chapter 2 is reproducible.
    assert gradient_norms_at_init(5, residual=True, seed=3) == gradient_norms_at_init(
        5, residual=True, seed=3)


def test_randomise_batch_norm_is_seeded_and_makes_each_bn_visible() -> None:
    a, b = build_resnet(18, num_classes=3), build_resnet(18, num_classes=3)
    b.load_state_dict(a.state_dict())
    randomise_batch_norm(a, seed=1)
    randomise_batch_norm(b, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values(), strict=True))
    bn = nn.BatchNorm2d(4).eval()
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(bn(x), x, rtol=1e-4, atol=1e-4)  # fresh: the identity
    randomise_batch_norm(bn, seed=2)
    assert (bn(x) - x).abs().max() > 0.05 and bn.running_var.min() >= 0.5
