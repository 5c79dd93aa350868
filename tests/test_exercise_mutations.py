"""The mutation suite: many plausible mistakes per exercise, each with the words its message must
contain, and the correct variants the wording allows, which must be accepted.

    COURSE_FAST=1 .venv/bin/python -m pytest tests/test_exercise_mutations.py -q -s

prints the counts (mistakes caught / tried, variants accepted / tried, the share of mistakes whose
message names the mistake rather than falling back to a generic "not right").
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import random
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms as T
from torchvision.transforms import v2

from course_utils.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from course_utils.exercises import CORRECT, WRONG, ch1, ch2, ch3, ch4, ch5, ch6, ch7, ch8
from course_utils.exercises.references import RefBasic, RefBottleneck, RefPreAct
from course_utils.models.resnet import BasicBlock, Bottleneck, ResNet

GENERIC = object()  # a mistake the check catches with a generic message, not one naming it


def run(ex, answer):
    with contextlib.redirect_stdout(io.StringIO()):
        return ex.check(answer)


# --------------------------------------------------------------------------- chapter 1


def tf(*steps):
    """make_train_transform(size) composing the steps; a function among them is called with size."""
    return lambda size: T.Compose([step(size) if isinstance(step, types.FunctionType) else step
                                   for step in steps])


NORM = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)


def no_return_transform(size):
    T.Compose([T.RandomResizedCrop(size), T.ToTensor(), NORM])


def course_transform(size):
    from course_utils.data.transforms import train_transforms
    return train_transforms(size)


def loaders(train_kw, test_kw, swap=False):
    def make_loaders(train_set, test_set, batch_size):
        a = DataLoader(train_set, batch_size=batch_size, **train_kw)
        b = DataLoader(test_set, batch_size=batch_size, **test_kw)
        return (b, a) if swap else (a, b)
    return make_loaders


CH1_MISTAKES = [
    (ch1.q1, tf(lambda s: T.RandomResizedCrop(s), T.RandomHorizontalFlip(), T.ToTensor()),
     "forget Normalize"),
    (ch1.q1, tf(lambda s: T.Resize((s, s)), T.ToTensor(), NORM), "same tensor every time"),
    (ch1.q1, tf(lambda s: T.RandomResizedCrop(s), T.RandomHorizontalFlip()), "PIL image"),
    (ch1.q1, tf(lambda s: T.Resize(s), T.RandomHorizontalFlip(), T.ToTensor(), NORM), "square"),
    (ch1.q1, tf(lambda s: T.RandomResizedCrop(s), T.ToTensor(),
                T.Normalize(IMAGENET_STD, IMAGENET_MEAN)), "mean first"),
    (ch1.q1, no_return_transform, "forget `return`"),
    (ch1.q1, course_transform, "handed in"),
    (ch1.q1, tf(lambda s: T.RandomResizedCrop(s), T.PILToTensor(), T.RandomHorizontalFlip()),
     "uint8 pixels"),
    (ch1.q1, tf(lambda s: T.RandomResizedCrop(s), NORM, T.ToTensor()), "after ToTensor()"),
    (ch1.q2, 20, "rounded down"),
    (ch1.q2, 1000 / 48, "whole number"),
    (ch1.q2, 1000, "number of images"),
    (ch1.q2, 48, "batch size"),
    (ch1.q2, 22, "one batch too many"),
    (ch1.q3, loaders({"shuffle": True}, {"shuffle": True}), "test loader shuffles"),
    (ch1.q3, loaders({}, {}), "does not shuffle"),
    (ch1.q3, loaders({"shuffle": True}, {}, swap=True), "swapped"),
    (ch1.q3, loaders({"shuffle": True}, {"drop_last": True}), "drops its last"),
    (ch1.q3, lambda a, b, n: (DataLoader(a, 32, shuffle=True), DataLoader(b, 32)), "batch size is "
                                                                                   "32"),
    (ch1.q3, lambda a, b, n: DataLoader(a, n, shuffle=True), "two loaders"),
    (ch1.q3, lambda a, b, n: (DataLoader(a, n, shuffle=True), DataLoader(a, n)), "does not read "
                                                                                 "the test set"),
    (ch1.q3, lambda a, b, n: (list(DataLoader(a, n, shuffle=True)), DataLoader(b, n)), "DataLoader "
                                                                                       "objects"),
]

def shift(s):
    return T.RandomCrop(s, padding=s // 8, padding_mode="edge")


CH1_VARIANTS = [
    # the chapter's own recipe (the reference solution), and the same without the centre crop
    (ch1.q1, tf(lambda s: T.Resize(s), lambda s: T.CenterCrop(s), T.RandomHorizontalFlip(), shift,
                T.ToTensor(), NORM)),
    (ch1.q1, tf(lambda s: T.Resize(s), T.RandomHorizontalFlip(), shift, T.ToTensor(), NORM)),
    (ch1.q1, lambda s: v2.Compose([v2.ToImage(), v2.Resize(s, antialias=True), v2.CenterCrop(s),
                                   v2.RandomHorizontalFlip(), shift(s),
                                   v2.ToDtype(torch.float32, scale=True),
                                   v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])),
    (ch1.q1, tf(lambda s: T.Resize((s, s)), lambda s: T.RandomCrop(s, padding=4),
                T.RandomHorizontalFlip(), T.ToTensor(), NORM)),
    (ch1.q1, tf(lambda s: T.RandomResizedCrop(s), T.ColorJitter(0.4, 0.4, 0.4), T.ToTensor(),
                NORM)),
    (ch1.q1, tf(lambda s: T.RandomResizedCrop(s), T.RandomHorizontalFlip(), T.ToTensor(), NORM)),
    (ch1.q1, lambda s: v2.Compose([v2.ToImage(), v2.RandomResizedCrop(s, antialias=True),
                                   v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True),
                                   v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])),
    (ch1.q1, tf(lambda s: T.Resize((s, s)),
                lambda s: T.RandomCrop(s, padding=4, padding_mode="reflect"),
                T.TrivialAugmentWide(), T.ToTensor(), NORM)),
    (ch1.q2, 21.0), (ch1.q2, np.int64(21)), (ch1.q2, torch.tensor(21)),
    (ch1.q3, loaders({"shuffle": True, "drop_last": True}, {})),
    (ch1.q3, loaders({"shuffle": True, "generator": torch.Generator().manual_seed(0)},
                     {"num_workers": 0})),
    (ch1.q3, loaders({"shuffle": True, "pin_memory": False}, {"shuffle": False})),
]

# --------------------------------------------------------------------------- chapter 2


def block(reference, mistake: str = "", edit=None, name="Learner"):
    class Learner(reference):
        def __init__(self, inplanes, planes, stride=1):
            super().__init__(inplanes, planes, stride, mistake=mistake)
            if edit:
                edit(self, inplanes, planes, stride)

    Learner.__name__ = name
    return Learner


def drop_bn(b, *_):
    if b.downsample is not None:
        b.downsample = nn.Sequential(b.downsample[0])


def no_projection(b, *_):
    b.downsample = None


def projection_without_stride(b, *_):
    if b.downsample is not None:
        b.downsample[0].stride = (1, 1)


def always_project(b, inplanes, planes, stride):
    if b.downsample is None:
        out = b.bn2.num_features if not hasattr(b, "bn3") else b.bn3.num_features
        b.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, bias=False), nn.BatchNorm2d(out))


def project_only_on_stride(b, inplanes, planes, stride):  # the rule `if stride != 1`
    if stride == 1:
        b.downsample = None


def project_only_on_channels(b, inplanes, planes, stride):  # the rule `if inplanes != out`
    out = b.bn3.num_features if hasattr(b, "bn3") else b.bn2.num_features
    if inplanes == out:
        b.downsample = None


def conv_bias(b, *_):
    for name in ("conv1", "conv2"):
        old = getattr(b, name)
        setattr(b, name, nn.Conv2d(old.in_channels, old.out_channels, old.kernel_size, old.stride,
                                   old.padding, bias=True))


def bn_without_affine(b, *_):
    b.bn1 = nn.BatchNorm2d(b.bn1.num_features, affine=False)


def preact_projection_with_bn(b, inplanes, planes, stride):
    if b.downsample is not None:
        b.downsample = nn.Sequential(b.downsample, nn.BatchNorm2d(planes))


def preact_bn_on_planes(b, inplanes, planes, stride):  # bn1 sized for after conv1, as in v1
    b.bn1 = nn.BatchNorm2d(planes)


class InplacePreAct(RefPreAct):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__(inplanes, planes, stride)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.downsample(out) if self.downsample is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out), inplace=True))
        out += shortcut
        return out


class FunctionalReluBlock(RefBasic):
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return torch.relu(out)


class InplaceBottleneck(RefBottleneck):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__(inplanes, planes, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class DetachedBlock(RefBasic):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__(inplanes, planes, stride)

    def forward(self, x):
        identity = (x if self.downsample is None else self.downsample(x)).detach()
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


CH2_MISTAKES = [
    (ch2.q1, 73_728, "left out BatchNorm"), (ch2.q1, 58_112, "left out the projection shortcut"),
    (ch2.q1, 76_288, "buffers"), (ch2.q1, 75_648, "no bias"), (ch2.q1, 69_632, "kernel size"),
    (ch2.q1, 58_880, "projection's 1x1 conv"), (ch2.q1, 75_000, GENERIC),
    (ch2.q2, block(RefBasic, "relu_before_add"), "adds the shortcut after the final ReLU"),
    (ch2.q2, block(RefBasic, "no_final_relu"), "no ReLU after the addition"),
    (ch2.q2, block(RefBasic, "no_shortcut"), "never adds the shortcut"),
    (ch2.q2, block(RefBasic, "double_relu"), "ReLU to the residual branch before adding"),
    (ch2.q2, block(RefBasic, "stride_on_conv2"), "stride belongs on the first 3x3 conv"),
    (ch2.q2, block(RefBasic, edit=drop_bn), "projection shortcut has no BatchNorm"),
    (ch2.q2, block(RefBasic, edit=no_projection), "no projection shortcut"),
    (ch2.q2, block(RefBasic, edit=projection_without_stride), "different shapes when added"),
    (ch2.q2, block(RefBasic, edit=always_project), "shapes already match"),
    (ch2.q2, block(RefBasic, edit=project_only_on_stride), "no projection shortcut"),
    (ch2.q2, block(RefBasic, edit=project_only_on_channels), "no projection shortcut"),
    (ch2.q2, block(RefBasic, edit=conv_bias), "bias=False"),
    (ch2.q2, block(RefBasic, edit=bn_without_affine), "affine=True"),
    (ch2.q2, DetachedBlock, "cut the graph"),
    (ch2.q2, BasicBlock, "handed in"),
    (ch2.q2, torchvision.models.resnet.BasicBlock, "handed in"),
    (ch2.q2, RefBasic(16, 16), "pass the class"),
    (ch2.q3, block(RefBottleneck, "stride_on_1x1"), "stride on the first 1x1 conv"),
    (ch2.q3, block(RefBottleneck, "relu_before_add"), "after the final ReLU"),
    (ch2.q3, block(RefBottleneck, "no_shortcut"), "never adds the shortcut"),
    (ch2.q3, block(RefBottleneck, "double_relu"), "ReLU to the residual branch"),
    (ch2.q3, block(RefBottleneck, edit=drop_bn), "no BatchNorm"),
    (ch2.q3, block(RefBottleneck, edit=no_projection), "no projection shortcut"),
    (ch2.q3, block(RefBottleneck, edit=project_only_on_stride), "no projection shortcut"),
    (ch2.q3, block(RefBottleneck, edit=project_only_on_channels), "no projection shortcut"),
    (ch2.q3, block(RefBottleneck, edit=always_project), "shapes already match"),
    (ch2.q3, block(RefBottleneck, edit=conv_bias), "bias=False"),
    (ch2.q3, Bottleneck, "handed in"),
    (ch2.q4, block(RefPreAct, "relu_after_add"), "no ReLU after the addition"),
    (ch2.q4, block(RefPreAct, "no_shortcut"), "never adds the shortcut"),
    (ch2.q4, block(RefPreAct, "shortcut_from_pre"), "carry x itself"),
    (ch2.q4, block(RefPreAct, "no_second_relu"), "conv2(relu(bn2(out)))"),
    (ch2.q4, block(RefPreAct, "post_activation"), "original (v1) order"),
    (ch2.q4, block(RefPreAct, edit=conv_bias), "bias=False"),
    (ch2.q4, block(RefPreAct, edit=preact_projection_with_bn), "shortcut's layers differ"),
    (ch2.q4, block(RefPreAct, edit=preact_bn_on_planes), "has shape"),
    (ch2.q4, block(RefPreAct, edit=no_projection), "no projection shortcut"),
]

CH2_VARIANTS = [
    (ch2.q4, block(RefPreAct, "projection_on_x")), (ch2.q4, block(RefPreAct)),
    (ch2.q4, InplacePreAct),
    (ch2.q1, 75_008.0),
    (ch2.q2, FunctionalReluBlock), (ch2.q2, block(RefBasic)),
    (ch2.q3, InplaceBottleneck), (ch2.q3, block(RefBottleneck)),
]

# --------------------------------------------------------------------------- chapter 3

def stem(pool=True, padding=3, bias=False, kernel=7, relu=True, relu_first=False, avg=False,
         bn=True, relu_after_pool=False):
    layers = [nn.Conv2d(3, 64, kernel, stride=2, padding=padding if kernel == 7 else 1, bias=bias)]
    norm = [nn.BatchNorm2d(64)] if bn else []
    act = [nn.ReLU()] if relu else []
    layers += (act + norm) if relu_first else (norm + ([] if relu_after_pool else act))
    if pool:
        layers.append((nn.AvgPool2d if avg else nn.MaxPool2d)(3, stride=2, padding=1))
    if relu_after_pool:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class StemModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn = nn.BatchNorm2d(64)
        self.pool = nn.MaxPool2d(3, 2, 1)

    def forward(self, x):
        return self.pool(F.relu(self.bn(self.conv(x))))


def layer(rule="both", every_block_projects=False, update_inplanes=True, stride_everywhere=False,
          extra_block=False, as_list=False, comprehension=False):
    def my_make_layer(block, inplanes, planes, blocks, stride=1):
        out = planes * block.expansion

        def projection(cin, s):
            return nn.Sequential(nn.Conv2d(cin, out, 1, stride=s, bias=False), nn.BatchNorm2d(out))
        needs = {"both": stride != 1 or inplanes != out, "stride": stride != 1,
                 "always": True}[rule]
        layers = [block(inplanes, planes, stride, projection(inplanes, stride) if needs else None)]
        if comprehension:
            return nn.Sequential(*layers, *[block(out, planes) for _ in range(blocks - 1)])
        cin = out if update_inplanes else inplanes
        for _ in range(1, blocks + (1 if extra_block else 0)):
            s = stride if stride_everywhere else 1
            down = projection(cin, s) if every_block_projects or s != 1 else None
            layers.append(block(cin, planes, s, down))
        return layers if as_list else nn.Sequential(*layers)
    return my_make_layer


def _inplanes(n):
    holder = ResNet.__new__(ResNet)
    nn.Module.__init__(holder)
    holder.inplanes, holder.stride_on = n, "3x3"
    return holder


def forward_class(skip_pool=False, relu_first=False, softmax=False, skip_layer4=False,
                  no_flatten=False, no_return=False, use_super=False, skip_layer1=False, mean=False,
                  view=False):
    class MyResNet(ResNet):
        def forward(self, x):
            if use_super:
                return super().forward(x)
            x = self.conv1(x)
            x = self.bn1(self.relu(x)) if relu_first else self.relu(self.bn1(x))
            x = x if skip_pool else self.maxpool(x)
            for i, stage in enumerate((self.layer1, self.layer2, self.layer3, self.layer4)):
                if not (skip_layer4 and i == 3 or skip_layer1 and i == 0):
                    x = stage(x)
            if mean:
                x = x.mean((2, 3))
            elif view:
                x = self.avgpool(x).view(x.size(0), -1)
            else:
                x = self.avgpool(x)
                x = x if no_flatten else torch.flatten(x, 1)
            x = self.fc(x)
            if no_return:
                return None
            return x.softmax(1) if softmax else x
    return MyResNet


CH3_MISTAKES = [
    (ch3.q1, (1, 256, 10, 10), "expansion = 4"), (ch3.q1, (1, 1024, 20, 20), "halves the size"),
    (ch3.q1, (1, 512, 20, 20), "output of layer2"), (ch3.q1, (1, 2048, 5, 5), "layer4"),
    (ch3.q1, (1024, 10, 10), "batch dimension"), (ch3.q1, (1, 1024, 14, 14), "224x224"),
    (ch3.q1, "1, 1024, 10, 10", "expected a shape"), (ch3.q1, (1, 1024, 10, 9), "stay equal"),
    (ch3.q2, lambda n: ResNet(BasicBlock, [2, 2, 2, 2], num_classes=n), "ResNet-18"),
    (ch3.q2, lambda n: ResNet(Bottleneck, [3, 4, 6, 3], num_classes=n), "ResNet-50"),
    (ch3.q2, lambda n: ResNet(BasicBlock, [3, 3, 3, 3], num_classes=n), "asks for bottlenecks"),
    (ch3.q2, lambda n: torchvision.models.resnet.ResNet(torchvision.models.resnet.Bottleneck,
                                                        [2, 2, 2, 2], num_classes=n),
     "course's ResNet class"),
    (ch3.q2, lambda n: ResNet(Bottleneck, [2, 2, 2, 2]), "pass num_classes"),
    (ch3.q2, lambda n: ResNet(Bottleneck, [2, 2, 2, 2], num_classes=n, stride_on="1x1"), "outputs "
                                                                                         "differ"),
    (ch3.q2, lambda n: ResNet(Bottleneck, [1, 2, 3, 2], num_classes=n), "spread [1, 2, 3, 2]"),
    (ch3.q3, 8_192, "forgot the bias"), (ch3.q3, 2_049_000, "ImageNet head"),
    (ch3.q3, 4_100, "not 1024"),
    (ch3.q3, 2_052, "not 512"), (ch3.q3, 8_200, "plus one"),
    (ch3.q4, lambda: stem(pool=False), "each halve the size"),
    (ch3.q4, lambda: stem(padding=0), "each halve the size"),
    (ch3.q4, lambda: stem(bias=True), "bias=False"),
    (ch3.q4, lambda: stem(kernel=3), "(64, 3, 7, 7)"),
    (ch3.q4, lambda: stem(relu=False), "no ReLU"),
    (ch3.q4, lambda: stem(relu_first=True), "normalises after the ReLU"),
    (ch3.q4, lambda: stem(avg=True), "not an average"),
    (ch3.q4, lambda: stem(bn=False), "no BatchNorm"),
    (ch3.q4, lambda: None, "forget `return`"),
    (ch3.q5, layer(rule="stride"), "needs a projection shortcut"),
    (ch3.q5, layer(rule="always"), "shapes already match"),
    (ch3.q5, layer(every_block_projects=True), "only the first block"),
    (ch3.q5, layer(update_inplanes=False), "update inplanes"),
    (ch3.q5, layer(stride_everywhere=True), "only the first block"),
    (ch3.q5, layer(extra_block=True), "holds"),
    (ch3.q5, layer(as_list=True), "nn.Sequential(*layers)"),
    (ch3.q5, lambda *a: None, "forget `return`"),
    (ch3.q5, lambda block, i, p, n, s=1: ResNet._make_layer(_inplanes(i), block, p, n, s),
     "_make_layer"),
    (ch3.q6, forward_class(skip_pool=True), "skips the stem's max-pool"),
    (ch3.q6, forward_class(relu_first=True), "order is conv, BN, ReLU"),
    (ch3.q6, forward_class(softmax=True), "raw scores"),
    (ch3.q6, forward_class(skip_layer4=True), "wrong size"),
    (ch3.q6, forward_class(no_flatten=True), "wrong size"),
    (ch3.q6, forward_class(no_return=True), "forget `return`"),
    (ch3.q6, forward_class(use_super=True), "ResNet's own forward"),
    (ch3.q6, ResNet, "ResNet's own forward"),
    (ch3.q6, forward_class(skip_layer1=True), "skips layer1"),
]

CH3_VARIANTS = [
    (ch3.q1, [1, 1024, 10, 10]), (ch3.q1, torch.Size([1, 1024, 10, 10])),
    (ch3.q2, functools.partial(ResNet, Bottleneck, [2, 2, 2, 2])),
    (ch3.q2, lambda n: ResNet(Bottleneck, layers=[2] * 4, num_classes=n, zero_init_residual=True)),
    (ch3.q3, 8196.0),
    (ch3.q4, lambda: stem(relu_after_pool=True)),  # max-pool and ReLU commute
    (ch3.q4, StemModule),
    (ch3.q5, layer(comprehension=True)),
    (ch3.q6, forward_class(mean=True)), (ch3.q6, forward_class(view=True)),
]

# --------------------------------------------------------------------------- chapter 4


def train_loop(*, zero_grad="before", set_train=True, step="each", batch_mean_loss=False,
               batch_mean_acc=False, percent=False, use_model_zero_grad=False, no_return=False):
    def my_train_one_epoch(model, loader, optimizer, loss_fn, device):
        if set_train:
            model.train()
        correct, loss_sum, seen, accs, losses = 0, 0.0, 0, [], []
        reset = model.zero_grad if use_model_zero_grad else optimizer.zero_grad
        for x, y in loader:
            pred = model(x)
            loss = loss_fn(pred, y)
            if zero_grad == "before":
                reset()
            loss.backward()
            if zero_grad == "between":
                reset()
            if step == "each":
                optimizer.step()
            if zero_grad == "after":
                reset()
            hits = (pred.argmax(1) == y).sum().item()
            correct, loss_sum, seen = correct + hits, loss_sum + loss.item() * len(y), seen + len(y)
            accs.append(hits / len(y))
            losses.append(loss.item())
        if step == "once":
            optimizer.step()
        acc = sum(accs) / len(accs) if batch_mean_acc else correct / seen
        loss = sum(losses) / len(losses) if batch_mean_loss else loss_sum / seen
        if no_return:
            return None
        return (acc * 100 if percent else acc), loss

    return my_train_one_epoch


def eval_loop(*, set_eval=True, no_grad="block", batch_mean_loss=False, batch_mean_acc=False):
    def my_evaluate(model, loader, loss_fn, device):
        if set_eval:
            model.eval()
        if no_grad == "leak":
            torch.set_grad_enabled(False)
        context = torch.no_grad() if no_grad in ("block", "no_grad") else contextlib.nullcontext()
        correct, loss_sum, seen, accs, losses = 0, 0.0, 0, [], []
        with context:
            for x, y in loader:
                pred = model(x)
                loss = loss_fn(pred, y).item()
                hits = (pred.argmax(1) == y).sum().item()
                correct, loss_sum, seen = correct + hits, loss_sum + loss * len(y), seen + len(y)
                accs.append(hits / len(y))
                losses.append(loss)
        acc = sum(accs) / len(accs) if batch_mean_acc else correct / seen
        return acc, (sum(losses) / len(losses) if batch_mean_loss
                     else loss_sum / len(loader.dataset))

    return my_evaluate


@torch.no_grad()
def decorated_evaluate(model, loader, loss_fn, device):
    return eval_loop()(model, loader, loss_fn, device)


def course_train(model, loader, optimizer, loss_fn, device):
    from course_utils.training.loops import train_one_epoch
    return train_one_epoch(model, loader, optimizer, loss_fn, device)


def course_evaluate(model, loader, loss_fn, device):
    from course_utils.training.loops import evaluate
    return evaluate(model, loader, loss_fn, device)


CH4_MISTAKES = [
    (ch4.q1, train_loop(zero_grad="never"), "never reset the gradients"),
    (ch4.q1, train_loop(zero_grad="between"), "between loss.backward() and optimizer.step()"),
    (ch4.q1, train_loop(step="never"), "call optimizer.step()"),
    (ch4.q1, train_loop(step="once"), "ran 1 times for 3 batches"),
    (ch4.q1, train_loop(set_train=False), "call model.train()"),
    (ch4.q1, train_loop(batch_mean_loss=True), "mean of the batch means"),
    (ch4.q1, train_loop(batch_mean_acc=True), "mean of the per-batch accuracies"),
    (ch4.q1, train_loop(percent=True), "fraction between 0 and 1"),
    (ch4.q1, train_loop(no_return=True), "forget `return`"),
    (ch4.q1, course_train, "handed in"),
    (ch4.q1, lambda m, ld, o, f, d: train_loop()(m, ld, o, f, d)[::-1], "other way round"),
    (ch4.q2, eval_loop(set_eval=False), "call model.eval() first"),
    (ch4.q2, eval_loop(no_grad="none"), "inference_mode"),
    (ch4.q2, eval_loop(no_grad="leak"), "global state"),
    (ch4.q2, eval_loop(batch_mean_loss=True), "mean of the batch means"),
    (ch4.q2, eval_loop(batch_mean_acc=True), "mean of the per-batch accuracies"),
    (ch4.q2, course_evaluate, "handed in"),
    (ch4.q2, lambda m, ld, f, d: eval_loop()(m, ld, f, d)[0], "return (accuracy, mean_loss)"),
    (ch4.q3, 1.7 / 3, "mean of the three batch means"), (ch4.q3, 32.8, "sum of the losses"),
    (ch4.q3, 0.5, "first batch's"),
]

CH4_VARIANTS = [
    (ch4.q1, train_loop(use_model_zero_grad=True)),
    (ch4.q1, train_loop(zero_grad="after")),  # reset after the step: the same updates
    (ch4.q2, eval_loop(no_grad="no_grad")), (ch4.q2, decorated_evaluate),
    (ch4.q3, 0.4556), (ch4.q3, 32.8 / 72),
]

# --------------------------------------------------------------------------- chapter 5


def cm_loop(transpose=False, assign=False, size_from_data=False):
    def my_confusion_matrix(y_true, y_pred, num_classes):
        n = int(max(y_true.max(), y_pred.max())) + 1 if size_from_data else num_classes
        cm = torch.zeros(n, n, dtype=torch.long)
        for t, p in zip(y_true.tolist(), y_pred.tolist(), strict=True):
            if transpose:
                t, p = p, t
            if assign:
                cm[t, p] = 1
            else:
                cm[t, p] += 1
        return cm
    return my_confusion_matrix


def course_cm(y_true, y_pred, num_classes):
    from course_utils.evaluation.metrics import confusion_matrix
    return confusion_matrix(y_true, y_pred, num_classes)


def predict(body, set_eval=True, grad=False):
    def my_predict(model, x):
        if set_eval:
            model.eval()
        with torch.set_grad_enabled(grad):
            return body(model(x))
    return my_predict


CH5_MISTAKES = [
    (ch5.q1, cm_loop(transpose=True), "transposed"), (ch5.q1, cm_loop(assign=True), "counted once"),
    (ch5.q1, cm_loop(size_from_data=True), "use num_classes"), (ch5.q1, course_cm, "handed in"),
    (ch5.q1, lambda t, p, n: torch.zeros(n, n), "add up to"),
    (ch5.q1, lambda t, p, n: None, "forget `return`"),
    (ch5.q2, 21 / 25, "that is the precision"), (ch5.q2, 21, "recall is a fraction"),
    (ch5.q2, 21 / 88, "row's sum"), (ch5.q2, 21 / 22 * 100, "not a "
                                                            "percentage"), (ch5.q2, 0.5, GENERIC),
    (ch5.q3, lambda model, x: model(x).argmax(1), "training mode"),
    (ch5.q3, predict(lambda s: s.argmax(1), grad=True), "gradients were being recorded"),
    (ch5.q3, predict(lambda s: s), "scores of every class"),
    (ch5.q3, predict(lambda s: s.softmax(1).max(1).values), "return class indices"),
    (ch5.q3, predict(lambda s: s.max(1)), "(values, indices)"),
    (ch5.q3, predict(lambda s: s.argmax(0)), "return 9 class indices"),
    (ch5.q3, predict(lambda s: s.argmin(1)), "largest score"),
    (ch5.q3, predict(lambda s: None), "forget `return`"),
]

CH5_VARIANTS = [
    (ch5.q1, lambda t, p, n: torch.bincount(t * n + p, minlength=n * n).reshape(n, n)),
    (ch5.q1, lambda t, p, n: torch.zeros(n, n).index_put_((t, p), torch.ones(len(t)),
                                                          accumulate=True)),
    (ch5.q1, lambda t, p, n: cm_loop()(t, p, n).numpy()),
    (ch5.q2, 0.9545), (ch5.q2, 21 / 22),
    (ch5.q3, predict(lambda s: s.max(1).indices)),
    (ch5.q3, predict(lambda s: s.argmax(1).tolist())),
    (ch5.q3, predict(lambda s: torch.argmax(s, dim=1))),
]

# --------------------------------------------------------------------------- chapters 6 and 7


def course_shortcut(x, out_channels):
    from course_utils.models.cifar import ShortcutA
    return ShortcutA(x.shape[1], out_channels, 2)(x)


CH6_MISTAKES = [
    (ch6.q1, 72, "add the first conv"), (ch6.q1, 73, "6n + 2"), (ch6.q1, 24, "three stages"),
    (ch6.q1, 76, "no weights"), (ch6.q1, 56, "for n = 9"),
    (ch6.q2, lambda x, c: F.pad(x, (0, 0, 0, 0, 0, c - x.shape[1])), "size is not halved"),
    (ch6.q2, lambda x, c: F.pad(F.avg_pool2d(x, 2), (0, 0, 0, 0, 0, c - x.shape[1])), "average "
                                                                                      "2x2"),
    (ch6.q2, lambda x, c: F.pad(F.max_pool2d(x, 2), (0, 0, 0, 0, 0, c - x.shape[1])), "largest of "
                                                                                      "each"),
    (ch6.q2, lambda x, c: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, c - x.shape[1], 0)) * 2, "must be "
                                                                                         "zeros"),
    (ch6.q2, lambda x, c: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 0, 16)), "use out_channels"),
    (ch6.q2, lambda x, c: x[:, :, ::2, ::2], "expect (2, 32, 4, 4)"),
    (ch6.q2, course_shortcut, "handed in"),
    (ch6.q3, 0, "option A"), (ch6.q3, 16 * 32 + 32 * 64, "not their BatchNorms"),
    (ch6.q3, 16 * 32 + 4 * 32 + 32 * 64 + 4 * 64, "buffers"),
    (ch6.q3, 16 * 32 + 2 * 32, "two stage transitions"),
    (ch6.q3, 1000, GENERIC),
]

CH6_VARIANTS = [
    (ch6.q1, 74.0),
    (ch6.q2, lambda x, c: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, (c - x.shape[1]) // 2,
                                                    (c - x.shape[1]) // 2))),
    (ch6.q2, lambda x, c: torch.cat([x[..., ::2, ::2],
                                     torch.zeros(x.shape[0], c - x.shape[1],
                                                 *x[..., ::2, ::2].shape[2:])], 1)),
    (ch6.q3, 2752),
]


def padded_contiguous(indices, rank, world_size):
    total = math.ceil(len(indices) / world_size) * world_size
    padded = (indices * math.ceil(total / len(indices)))[:total]
    size = total // world_size
    return padded[rank * size:(rank + 1) * size]


CH7_MISTAKES = [
    (ch7.q1, 53, "one process with batch 32"), (ch7.q1, 52, "drops the last"), (ch7.q1, 6, "is a "
                                                                                           "step "
                                                                                           "too"),
    (ch7.q1, 210, "images per process"), (ch7.q1, 420, "per process"),
    (ch7.q1, 8, "number of processes"),
    (ch7.q2, lambda ind, r, w: ind[r * math.ceil(len(ind) / w):(r + 1) * math.ceil(len(ind) / w)],
     "waits for ever"),
    (ch7.q2, lambda ind, r, w: ind[r::w], "waits for ever"),
    (ch7.q2, lambda ind, r, w: list(range(len(ind)))[r::w], "not their positions"),
    (ch7.q2, lambda ind, r, w: list(ind), "see the same images"),
    (ch7.q2, lambda ind, r, w: None, "forget `return`"),
    (ch7.q3, lambda sd: {k.replace("module.", ""): v for k, v in sd.items()}, "only the prefix"),
    (ch7.q3, lambda sd: {k[7:]: v for k, v in sd.items()}, "unchanged"),
    (ch7.q3, lambda sd: {k.removeprefix("module."): v * 0 for k, v in sd.items()}, "tensors "
                                                                                   "changed"),
    (ch7.q3, lambda sd: list(sd), "return a dict"),
]

CH7_VARIANTS = [
    (ch7.q1, 7.0), (ch7.q2, padded_contiguous),
    (ch7.q3, lambda sd: OrderedDict((k[7:] if k.startswith("module.") else k, v)
                                    for k, v in sd.items())),
]

# --------------------------------------------------------------------------- issue 27
# The misses of an outside battery of learner mistakes, then, for every question, the mistakes a
# class of forty most likely makes: numbers off by a factor or a step, shapes with axes swapped,
# and code right on the example but wrong on an edge case (a batch of one, an odd size, a class
# that never appears, a stride-1 channel change, more padding than items).

MEAN, STD = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)


def crop(s):
    return T.RandomResizedCrop(s)


NOTEBOOK_TRAIN_SET = TensorDataset(torch.arange(10.0), torch.zeros(10, dtype=torch.long))

CH1_MORE = [
    (ch1.q1, tf(crop, T.RandomHorizontalFlip(), T.ToTensor(),
                T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))), "0.5 / 0.5"),
    (ch1.q1, tf(crop, T.ToTensor(), T.Normalize((MEAN * 255).tolist(), (STD * 255).tolist())),
     "0-255 pixel values"),
    (ch1.q1, tf(crop, T.ToTensor(), T.Normalize(IMAGENET_MEAN, (STD ** 2).tolist())),
     "looks like a variance"),
    (ch1.q1, tf(crop, T.RandomHorizontalFlip(), T.ToTensor(), NORM, NORM), "normalises twice"),
    (ch1.q1, tf(crop, T.ToTensor(), T.Normalize(IMAGENET_MEAN, (1.0, 1.0, 1.0))), "divides by 1"),
    (ch1.q1, lambda s: tf(lambda _: T.RandomResizedCrop(40), T.ToTensor(), NORM)(s),
     "fixed the size at 40"),
    (ch1.q1, tf(lambda s: T.RandomCrop(s), T.RandomHorizontalFlip(), T.ToTensor(), NORM),
     "smaller than `size`"),
    # the chapter's flip and shift without framing the image first: a small photo is too small
    (ch1.q1, tf(T.RandomHorizontalFlip(), shift, T.ToTensor(), NORM), "smaller than `size`"),
    (ch1.q1, tf(lambda s: T.Resize(s), lambda s: T.CenterCrop(s), T.RandomHorizontalFlip(), shift,
                T.ToTensor()), "forget Normalize"),
    (ch1.q2, "21", "remove the quotes"), (ch1.q2, (21,), "trailing comma"),
    (ch1.q2, 1000 % 48, "remainder"), (ch1.q2, 48 / 1000, "divided the batch size"),
    (ch1.q2, 1000 * 48, "multiplied"),
    (ch1.q3, lambda a, b, n: (DataLoader(a, n, shuffle=True), DataLoader(b)), "batch size is 1"),
    (ch1.q3, lambda a, b, n: (DataLoader(NOTEBOOK_TRAIN_SET, n, shuffle=True), DataLoader(b, n)),
     "does not read the train set"),
    (ch1.q3, lambda a, b, n: {"train": DataLoader(a, n, shuffle=True), "test": DataLoader(b, n)},
     "two loaders"),
    (ch1.q3, lambda a, b, n: (DataLoader(a, n, shuffle=True),) * 2, "does not read the test set"),
    (ch1.q3, loaders({}, {"shuffle": True}), "test loader shuffles"),
]

CH1_MORE_VARIANTS = [
    # statistics on the 0-255 scale are right for pixels left on that scale
    (ch1.q1, lambda s: v2.Compose([v2.ToImage(), v2.RandomResizedCrop(s, antialias=True),
                                   v2.ToDtype(torch.float32),
                                   v2.Normalize((MEAN * 255).tolist(), (STD * 255).tolist())])),
    # the dataset's own statistics, with colour jitter that dims a white image
    (ch1.q1, tf(crop, T.ColorJitter(0.4, 0.4, 0.4), T.ToTensor(),
                T.Normalize((0.45, 0.44, 0.41), (0.27, 0.26, 0.28)))),
    (ch1.q1, tf(lambda s: T.RandomCrop(s, pad_if_needed=True), T.RandomHorizontalFlip(),
                T.ToTensor(), NORM)),
    (ch1.q1, tf(crop, T.ToTensor(), T.RandomErasing(), NORM)),
    (ch1.q3, lambda a, b, n: [DataLoader(a, n, shuffle=True), DataLoader(b, n)]),
]


def bn_setting(**settings):
    """An edit giving every BatchNorm of a block these settings (momentum=0.99, eps=1e-3, ...)."""
    def edit(b, *_):
        for name, m in list(b.named_children()):
            if isinstance(m, nn.BatchNorm2d):
                setattr(b, name, nn.BatchNorm2d(m.num_features, **settings))
    return edit


def unpadded_3x3(b, *_):
    for name in ("conv1", "conv2", "conv3"):
        layer = getattr(b, name, None)
        if layer is not None and layer.kernel_size == (3, 3):
            layer.padding = (0, 0)


def stride_on_two_convs(b, inplanes, planes, stride):
    b.conv1.stride = b.conv2.stride = (stride, stride)


def stride_only_in_projection(b, *_):  # conv1 = conv3x3(inplanes, planes), stride forgotten
    (b.conv2 if hasattr(b, "conv3") else b.conv1).stride = (1, 1)


def projection_3x3(b, *_):
    if b.downsample is not None:
        c = b.downsample[0]
        b.downsample[0] = nn.Conv2d(c.in_channels, c.out_channels, 3, c.stride, 1, bias=False)


def no_expansion(b, inplanes, planes, stride):  # conv3 outputs planes, not planes * 4
    b.conv3, b.bn3 = nn.Conv2d(planes, planes, 1, bias=False), nn.BatchNorm2d(planes)
    b.downsample = None if stride == 1 and inplanes == planes else nn.Sequential(
        nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))


def rule_without_expansion(b, inplanes, planes, stride):  # `if stride != 1 or inplanes != planes`
    if stride != 1 or inplanes != planes:
        if b.downsample is None:
            b.downsample = nn.Sequential(nn.Conv2d(inplanes, 4 * planes, 1, bias=False),
                                         nn.BatchNorm2d(4 * planes))
    else:
        b.downsample = None


def projection_without_stride_preact(b, *_):
    if b.downsample is not None:
        b.downsample.stride = (1, 1)


class MisspelledForward(RefBasic):  # `def foward(self, x)`: nn.Module's placeholder runs
    def __init__(self, inplanes, planes, stride=1):
        super().__init__(inplanes, planes, stride)

    forward = nn.Module.forward

    def foward(self, x):
        return RefBasic.forward(self, x)


CH2_MORE = [
    (ch2.q1, 206_080, "1x1 conv"), (ch2.q1, 74_624, "2 x 256"), (ch2.q1, 45_440, "expansion 4"),
    (ch2.q1, 76_292, "state dict"), (ch2.q1, 70_400, "later block"), (ch2.q1, 74_368, "not 1"),
    (ch2.q2, block(RefBasic, edit=bn_setting(momentum=0.99)), "Keras's 0.99 is PyTorch's 0.01"),
    (ch2.q2, block(RefBasic, edit=bn_setting(eps=1e-3)), "eps=0.001"),
    (ch2.q2, block(RefBasic, edit=bn_setting(track_running_stats=False)),
     "track_running_stats=False"),
    (ch2.q2, block(RefBasic, edit=unpadded_3x3), "padding=1"),
    (ch2.q2, block(RefBasic, edit=stride_on_two_convs), "only one conv of the block"),
    (ch2.q2, block(RefBasic, edit=stride_only_in_projection), "pass stride=stride"),
    (ch2.q2, block(RefBasic, edit=projection_3x3), "the projection is a 1x1 conv"),
    (ch2.q2, MisspelledForward, "no method named `forward`"),
    (ch2.q3, block(RefBottleneck, edit=bn_setting(momentum=0.99)), "Keras's 0.99"),
    (ch2.q3, block(RefBottleneck, edit=no_expansion), "planes * expansion"),
    (ch2.q3, block(RefBottleneck, edit=stride_on_two_convs), "only one conv of the block"),
    (ch2.q3, block(RefBottleneck, edit=unpadded_3x3), "padding=1"),
    (ch2.q3, block(RefBottleneck, edit=rule_without_expansion), "planes * 4"),
    (ch2.q3, block(RefBottleneck, edit=stride_only_in_projection), "pass stride=stride"),
    (ch2.q4, block(RefPreAct, edit=bn_setting(momentum=0.99)), "Keras's 0.99"),
    (ch2.q4, block(RefPreAct, "no_first_relu"), "conv1(relu(bn1(x)))"),
    (ch2.q4, block(RefPreAct, "stride_on_conv2"), "stride belongs on the first 3x3 conv"),
    (ch2.q4, block(RefPreAct, edit=projection_without_stride_preact), "takes the block's stride"),
    (ch2.q4, block(RefPreAct, edit=bn_setting(eps=1e-3)), "eps=0.001"),
]


def tail(body):
    """MyResNet whose forward runs the stem and the four stages, then `body(self, x)`."""
    class MyResNet(ResNet):
        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return body(self, x)
    return MyResNet


class StagesOutOfOrder(ResNet):
    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer1(self.layer2(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def stage(*, expansion_4=False, projection_bn=True, projection_stride=True, shared=False,
          fewer=False, rule="both"):
    def my_make_layer(block, inplanes, planes, blocks, stride=1):
        out = planes * (4 if expansion_4 else block.expansion)
        needs = stride != 1 or inplanes != (planes if rule == "planes" else out)
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out, 1, stride=stride if projection_stride else 1, bias=False),
            *([nn.BatchNorm2d(out)] if projection_bn else [])) if needs else None
        layers = [block(inplanes, planes, stride, downsample)]
        if shared:
            layers += [block(out, planes)] * (blocks - 1)
        else:
            layers += [block(out, planes) for _ in range(1, blocks - (1 if fewer else 0))]
        return nn.Sequential(*layers)
    return my_make_layer


def stem_of(*layers):
    return lambda: nn.Sequential(*layers)


CH3_MORE = [
    (ch3.q1, (1, 10, 10, 1024), "(N, C, H, W)"), (ch3.q1, (1024, 1, 10, 10), "batch dimension"),
    (ch3.q1, torch.zeros(1, 1024, 10, 10), "pass its shape"),
    (ch3.q1, torch.zeros(1, 1024, 10, 10).size, "call it"),
    (ch3.q1, (1, 1024, 5, 5), "after layer4"), (ch3.q1, (1, 1024, 40, 40), "divides the size by 4"),
    (ch3.q1, (1, 1024, 10.5, 10.5), "whole number"),
    (ch3.q2, lambda n: ResNet(Bottleneck, [3, 3, 3, 3], num_classes=n), "38 layers"),
    (ch3.q2, lambda n: ResNet(Bottleneck, [1, 1, 1, 1], num_classes=n), "14 layers"),
    (ch3.q2, lambda n: ResNet(Bottleneck, [2, 3, 2, 1], num_classes=n), "spread [2, 3, 2, 1]"),
    (ch3.q2, lambda n: ResNet, "the class ResNet itself"),
    (ch3.q2, ResNet(Bottleneck, [2, 2, 2, 2], num_classes=4), "not a module already built"),
    (ch3.q2, lambda n: ResNet(BasicBlock, [3, 4, 6, 3], num_classes=n), "ResNet-34"),
    (ch3.q3, 8_193, "one bias per class"), (ch3.q3, 2_048_000, "ImageNet head"),
    (ch3.q3, 2048 + 4, "not 2048 + 4"), (ch3.q3, 2048 * 3 + 3, "4 classes, not 3"),
    (ch3.q3, 8.196, "decimal point"), (ch3.q3, "8196", "remove the quotes"),
    (ch3.q4, stem_of(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64, momentum=0.99),
                     nn.ReLU(), nn.MaxPool2d(3, 2, 1)), "Keras's 0.99"),
    (ch3.q4, stem_of(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                     nn.MaxPool2d(2, 2)), "3x3 window"),
    (ch3.q4, stem_of(nn.BatchNorm2d(3), nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.ReLU(),
                     nn.MaxPool2d(3, 2, 1)), "BatchNorm2d(64)"),
    (ch3.q4, stem_of(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                     nn.Conv2d(32, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                     nn.MaxPool2d(3, 2, 1)), "exactly one convolution"),
    (ch3.q4, lambda: nn.ModuleList([nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                    nn.ReLU(), nn.MaxPool2d(3, 2, 1)]), "nn.Sequential"),
    (ch3.q4, stem_of(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64, eps=1e-3),
                     nn.ReLU(), nn.MaxPool2d(3, 2, 1)), "eps=0.001"),
    (ch3.q5, stage(fewer=True), "holds 2 blocks"),
    (ch3.q5, stage(projection_bn=False), "has no BatchNorm"),
    (ch3.q5, stage(projection_stride=False), "takes the block's stride"),
    (ch3.q5, stage(shared=True), "same block object"),
    (ch3.q5, stage(expansion_4=True), "use block.expansion"),
    (ch3.q5, stage(rule="planes"), "needs a projection shortcut"),
    (ch3.q6, tail(lambda m, x: m.fc(m.avgpool(x).squeeze())), "batch of one"),
    (ch3.q6, tail(lambda m, x: m.fc(torch.flatten(m.avgpool(x)))), "flattens the batch"),
    (ch3.q6, tail(lambda m, x: m.fc(m.avgpool(x).view(-1, 512))), "not with bottlenecks"),
    (ch3.q6, tail(lambda m, x: m.fc(torch.flatten(F.avg_pool2d(x, 7), 1))), "224-pixel"),
    (ch3.q6, tail(lambda m, x: m.relu(m.fc(torch.flatten(m.avgpool(x), 1)))), "no ReLU after fc"),
    (ch3.q6, tail(lambda m, x: m.fc(torch.flatten(m.avgpool(x), 1)).detach()), "no gradient"),
    (ch3.q6, StagesOutOfOrder, "in order"),
]

CH3_MORE_VARIANTS = [
    (ch3.q1, (1, 1024, 160 / 16, 160 / 16)),  # `/` gives floats; the shape is still right
    (ch3.q1, torch.tensor([1, 1024, 10, 10])),
    (ch3.q6, tail(lambda m, x: m.fc(m.avgpool(x).flatten(1)))),
    (ch3.q6, tail(lambda m, x: m.fc(m.avgpool(x).squeeze(-1).squeeze(-1)))),
]


def epoch(*, loss_total="item", accuracy_over="images", loss_over="images", swap_loss=False,
          order=("zero", "backward", "step"), reverse=False):
    """A training epoch that is right except for what the arguments say."""
    def my_train_one_epoch(model, loader, optimizer, loss_fn, device):
        model.train()
        correct, total, seen = 0, 0.0, 0
        for x, y in loader:
            pred = model(x)
            loss = loss_fn(y, pred) if swap_loss else loss_fn(pred, y)
            for action in order:
                {"zero": optimizer.zero_grad, "backward": loss.backward,
                 "step": optimizer.step}[action]()
            correct += (pred.argmax(1) == y).sum().item()
            total = total + {"item": loss.item() * len(y), "tensor": loss * len(y),
                             "detached": loss.detach() * len(y), "mean": loss.item()}[loss_total]
            seen += len(y)
        acc = correct / (seen if accuracy_over == "images" else len(loader))
        mean = total / (seen if loss_over == "images" else len(loader))
        return (mean, acc) if reverse else (acc, mean)
    return my_train_one_epoch


def evaluation(*, when="before", no_grad=True, percent=False, loss_total="item",
               loss_over="images", call_eval=True):
    def my_evaluate(model, loader, loss_fn, device):
        if when == "before":
            model.eval() if call_eval else model.eval  # noqa: B018 - the mistake itself
        correct, total, seen = 0, 0.0, 0
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            for x, y in loader:
                pred = model(x)
                correct += (pred.argmax(1) == y).sum().item()
                total += loss_fn(pred, y).item() * (len(y) if loss_total == "item" else 1)
                seen += len(y)
        if when == "after":
            model.eval()
        acc = correct / seen
        return acc * (100 if percent else 1), total / (seen if loss_over == "images"
                                                      else len(loader))
    return my_evaluate


def evaluate_no_parentheses(model, loader, loss_fn, device):
    model.eval()
    with torch.no_grad:  # the mistake: the class, not a context manager
        return 0.0, 0.0


CH4_MORE = [
    (ch4.q1, epoch(loss_total="tensor"), "holds the autograd graph"),
    (ch4.q1, epoch(loss_total="mean"), "added the batch means"),
    (ch4.q1, epoch(loss_over="batches"), "divided the summed loss by the number of batches"),
    (ch4.q1, epoch(accuracy_over="batches"), "correct predictions by the number of batches"),
    (ch4.q1, epoch(swap_loss=True), "loss_fn(pred, y)"),
    (ch4.q1, epoch(reverse=True), "other way round"),
    (ch4.q1, epoch(order=("zero", "step", "backward")), "runs before loss.backward()"),
    (ch4.q2, evaluation(when="after"), "before the loop"),
    (ch4.q2, evaluation(call_eval=False), "`model.eval` alone does nothing"),
    (ch4.q2, evaluation(percent=True), "fraction between 0 and 1"),
    (ch4.q2, evaluation(loss_total="mean"), "added the batch means"),
    (ch4.q2, evaluation(loss_over="batches"), "by the number of batches"),
    (ch4.q2, evaluate_no_parentheses, "`with torch.no_grad():`"),
    (ch4.q3, 32.8 / 3, "number of batches (3)"), (ch4.q3, 1.7 / 72, "back into a sum"),
    (ch4.q3, 32.8 / 96, "holds 8 images"), (ch4.q3, 32.8 / 64, "all 72 images"),
    (ch4.q3, 3280 / 72, "not a percentage"), (ch4.q3, 0.46, "rounded too much"),
]

CH4_MORE_VARIANTS = [
    (ch4.q1, epoch(loss_total="detached")),  # a tensor without a graph is harmless
    (ch4.q1, epoch(order=("backward", "step", "zero"))),
]


def confusion(*, pairs="true-pred", size=0, drop_last=False, normalise=False, fancy=False,
              bincount=False):
    def my_confusion_matrix(y_true, y_pred, num_classes):
        n = num_classes + size
        if bincount:
            return torch.bincount(y_true * n + y_pred).reshape(n, n)
        cm = torch.zeros(n, n, dtype=torch.long)
        rows, cols = {"true-pred": (y_true, y_pred), "pred-pred": (y_pred, y_pred)}[pairs]
        if fancy:
            cm[rows, cols] += 1
            return cm
        for i in range(len(rows) - (1 if drop_last else 0)):
            cm[rows[i], cols[i]] += 1
        return cm / cm.sum(1, keepdim=True).clamp(min=1) if normalise else cm
    return my_confusion_matrix


def predicting(body, call_eval=True):
    def my_predict(model, x):
        model.eval() if call_eval else model.eval  # noqa: B018 - the mistake itself
        with torch.inference_mode():
            return body(model(x))
    return my_predict


def predict_no_parentheses(model, x):
    model.eval()
    with torch.inference_mode:
        return model(x).argmax(1)


CH5_MORE = [
    (ch5.q1, confusion(drop_last=True), "add up to 9"), (ch5.q1, confusion(size=1), "3 x 3"),
    (ch5.q1, confusion(pairs="pred-pred"), "(prediction, prediction)"),
    (ch5.q1, confusion(normalise=True), "normalised them"),
    (ch5.q1, confusion(fancy=True), "counted once"),
    (ch5.q1, confusion(bincount=True), "minlength"),
    (ch5.q2, 22 / 21, "at most 1"), (ch5.q2, 1 / 22, "missed"), (ch5.q2, 18 / 22, "another class"),
    (ch5.q2, 77 / 88, "accuracy over all classes"),
    (ch5.q2, 2 * 0.84 * (21 / 22) / (0.84 + 21 / 22), "F1 score"),
    (ch5.q2, 21 // 22, "integer division"), (ch5.q2, 0.95, "rounded too much"),
    (ch5.q3, predicting(lambda s: s.argmax(1), call_eval=False), "`model.eval` alone"),
    (ch5.q3, predict_no_parentheses, "with parentheses"),
    (ch5.q3, predicting(lambda s: s.argmax(1, keepdim=True)), "keepdim=True"),
    (ch5.q3, predicting(lambda s: s.argmax()), "return 9 class indices"),
    (ch5.q3, predicting(lambda s: s.argmax(1).item()), ".item() reads"),
    (ch5.q3, predicting(lambda s: s.squeeze().argmax(-1)), "batch of one"),
]

CH5_MORE_VARIANTS = [
    (ch5.q1, lambda t, p, n: torch.zeros(n, n).index_put_((t, p), torch.ones(len(t)),
                                                          accumulate=True).long()),
    (ch5.q3, predicting(lambda s: s.softmax(1).argmax(1))),
    (ch5.q3, predicting(lambda s: s.argmax(-1))),
]


def zeros_of(batch=None, dtype=None):
    def shortcut_a(x, c):
        sub = x[:, :, ::2, ::2]
        extra = torch.zeros(batch or x.shape[0], c - x.shape[1], *sub.shape[2:], dtype=dtype)
        return torch.cat([sub, extra], 1)
    return shortcut_a


CH6_MORE = [
    (ch6.q1, 26, "three stages"), (ch6.q1, 98, "not ImageNet's four"),
    (ch6.q1, 110, "not bottlenecks"), (ch6.q1, 14, "n counts the blocks"),
    (ch6.q1, "ResNet-74", "the text"),
    (ch6.q2, lambda x, c: F.pad(x[:, :, 1::2, 1::2], (0, 0, 0, 0, 0, c - x.shape[1])),
     "odd positions"),
    (ch6.q2, lambda x, c: F.pad(F.interpolate(x, scale_factor=0.5), (0, 0, 0, 0, 0,
                                                                     c - x.shape[1])),
     "odd size keeps its last pixel"),
    (ch6.q2, zeros_of(batch=2), "x.shape[0]"),
    (ch6.q2, zeros_of(dtype=torch.float64), "x.new_zeros"),
    (ch6.q2, lambda x, c: torch.cat([x[:, :, ::2, ::2], torch.zeros_like(x[:, :, ::2, ::2])], 0),
     "along dim 1"),
    (ch6.q3, 9 * (16 * 32 + 32 * 64) + 2 * 32 + 2 * 64, "not 3x3"),
    (ch6.q3, 16 * 32 + 32 * 64 + 32 + 64, "not 1"), (ch6.q3, 2752 + 48 + 32, "not a shortcut"),
    (ch6.q3, 2752 + 32 + 64, "no bias"),
    (ch6.q3, 64 * 128 + 2 * 128 + 128 * 256 + 2 * 256, "ImageNet widths"),
]

def zeros_first(x, c):  # the new channels before the old ones: still option A
    sub = x[:, :, ::2, ::2]
    return torch.cat([sub.new_zeros(sub.shape[0], c - sub.shape[1], *sub.shape[2:]), sub], 1)


CH6_MORE_VARIANTS = [
    (ch6.q2, zeros_first),
    (ch6.q2, lambda x, c: F.pad(F.max_pool2d(x, 1, 2), (0, 0, 0, 0, 0, c - x.shape[1]))),
]


def shard(*, pad="repeat", size="ceil", rank_from=0, shuffled=False):
    def my_shard(indices, rank, world_size):
        if shuffled:
            indices = random.sample(indices, len(indices))
        per = math.ceil(len(indices) / world_size)
        if size == "over":
            per = len(indices) // world_size + 1
        total = per * world_size
        if pad == "slice":
            padded = indices + indices[:total - len(indices)]
        elif pad == "drop":
            padded = indices[:len(indices) // world_size * world_size]
        elif pad == "last":
            padded = indices + [indices[-1]] * (total - len(indices))
        else:
            padded = (indices * math.ceil(total / len(indices)))[:total]
        if size == "floor":
            n = len(indices) // world_size
            return padded[rank * n:(rank + 1) * n]
        return padded[rank - rank_from::world_size]
    return my_shard


def strip_in_place(sd):
    for key in sd:
        sd[key.removeprefix("module.")] = sd.pop(key)
    return sd


CH7_MORE = [
    (ch7.q1, 1680 / 32, "whole number"), (ch7.q1, 1680 / 256, "whole number"),
    (ch7.q1, 256, "global batch"), (ch7.q1, 56, "lockstep"), (ch7.q1, 1680, "number of images"),
    (ch7.q2, shard(pad="slice"), "indices[:pad]"), (ch7.q2, shard(pad="drop"), "in no share"),
    (ch7.q2, shard(size="over"), "see the same images"),
    (ch7.q2, shard(size="floor"), "in no share"), (ch7.q2, shard(rank_from=1), "waits for ever"),
    (ch7.q2, shard(shuffled=True), "change from one call to the next"),
    (ch7.q3, lambda sd: {k.lstrip("module."): v for k, v in sd.items()},
     "removes characters, not a prefix"),
    (ch7.q3, lambda sd: {k.strip("module."): v for k, v in sd.items()}, "both ends"),
    (ch7.q3, lambda sd: {k.split(".", 1)[1]: v for k, v in sd.items()}, "unchanged"),
    (ch7.q3, lambda sd: {k.replace("module.", "", 1): v for k, v in sd.items()}, "wherever it is"),
    (ch7.q3, strip_in_place, "build a new dict"),
]

CH7_MORE_VARIANTS = [
    (ch7.q2, shard(pad="last")),  # padding with the last item repeats only the padding too
    (ch7.q3, lambda sd: {k.removeprefix("module."): v.clone() for k, v in sd.items()}),
]

# --------------------------------------------------------------------------- chapter 8


def freeze_where(keep):
    """freeze_all_but_head that leaves requires_grad on where keep(name, param) is true."""
    def freeze_all_but_head(model):
        for name, param in model.named_parameters():
            param.requires_grad_(bool(keep(name, param)))
    return freeze_all_but_head


def freeze_by_replacing_the_head(model):
    for param in model.parameters():
        param.requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, model.fc.out_features)


def freeze_and_zero(model):
    freeze_where(lambda n, p: n.startswith("fc."))(model)
    with torch.no_grad():
        model.fc.bias.zero_()


def freeze_with_no_grad(model):
    with torch.no_grad():
        for param in model.parameters():
            param.grad = None


def freeze_with_eval(model):
    model.eval()


def two_groups(backbone_rate, head_rate, duplicate=False, skip_head=False, skip="", as_list=False,
               optimiser=torch.optim.AdamW):
    """fine_tune_optimizer with rates given as functions of (lr, scale)."""
    def fine_tune_optimizer(model, lr, backbone_lr_scale):
        backbone = [p for n, p in model.named_parameters()
                    if not n.startswith("fc.") and not (skip and n.startswith(skip))]
        if duplicate:
            backbone = list(model.parameters())
        groups = [{"params": backbone, "lr": backbone_rate(lr, backbone_lr_scale)}]
        if not skip_head:
            groups.append({"params": list(model.fc.parameters()),
                           "lr": head_rate(lr, backbone_lr_scale)})
        return groups if as_list else optimiser(groups)
    return fine_tune_optimizer


CH8_MISTAKES = [
    (ch8.q1, freeze_where(lambda n, p: True), "nothing was frozen"),
    (ch8.q1, freeze_with_no_grad, "nothing was frozen"),
    (ch8.q1, freeze_with_eval, "not which parameters learn"),
    (ch8.q1, freeze_where(lambda n, p: False), "the head is frozen too"),
    (ch8.q1, freeze_where(lambda n, p: not n.startswith("fc.")), "the other way round"),
    (ch8.q1, freeze_where(lambda n, p: n.startswith("fc.") or p.dim() == 1),
     "BatchNorm's scale and shift are parameters too"),
    (ch8.q1, freeze_where(lambda n, p: n == "fc.weight"), "the whole head"),
    (ch8.q1, freeze_where(lambda n, p: n.startswith(("fc.", "layer4."))), "still train"),
    (ch8.q1, freeze_by_replacing_the_head, "you replaced the head"),
    (ch8.q1, freeze_and_zero, "changed the weights' values"),
    (ch8.q1, lambda model: freeze_where(lambda n, p: n.startswith("fc."))(model) or [],
     "in place"),
    (ch8.q2, lambda m: sum(p.numel() for p in m.parameters()), "the frozen ones too"),
    (ch8.q2, lambda m: sum(p.numel() for p in m.parameters() if not p.requires_grad),
     "the other way round"),
    (ch8.q2, lambda m: len([p for p in m.parameters() if p.requires_grad]), "counted tensors"),
    (ch8.q2, lambda m: sum(v.numel() for v in m.state_dict().values()), "buffers"),
    (ch8.q2, lambda m: m.fc.weight.numel(), "a bias too"),
    (ch8.q2, lambda m: 1539, "every parameter trains"),
    (ch8.q2, lambda m: sum(p.numel() for p in m.fc.parameters()), "every parameter trains"),
    (ch8.q2, lambda m: [p.numel() for p in m.parameters() if p.requires_grad], "one number"),
    (ch8.q2, lambda m: None, "forget `return`"),
    (ch8.q3, two_groups(lambda lr, s: lr, lambda lr, s: lr), "the same rate"),
    (ch8.q3, two_groups(lambda lr, s: lr, lambda lr, s: lr * s), "the other way round"),
    (ch8.q3, two_groups(lambda lr, s: lr / s, lambda lr, s: lr), "multiply instead"),
    (ch8.q3, two_groups(lambda lr, s: lr * s, lambda lr, s: lr, duplicate=True),
     "more than one"),
    (ch8.q3, two_groups(lambda lr, s: lr * s, lambda lr, s: lr, skip_head=True), "no group"),
    (ch8.q3, two_groups(lambda lr, s: lr * s, lambda lr, s: lr, skip="layer1."),
     "backbone parameters are in no group"),
    (ch8.q3, two_groups(lambda lr, s: lr * s, lambda lr, s: lr, as_list=True),
     "not the list of groups"),
    (ch8.q3, two_groups(lambda lr, s: 2e-3 * 0.01, lambda lr, s: 2e-3), "use the arguments"),
    (ch8.q3, lambda model, lr, s: None, "forget `return`"),
]

CH8_VARIANTS = [
    (ch8.q1, freeze_where(lambda n, p: n in ("fc.weight", "fc.bias"))),
    (ch8.q1, lambda model: (model.requires_grad_(False), model.fc.requires_grad_(True))[0]),
    (ch8.q2, lambda m: torch.tensor(sum(p.numel() for p in m.parameters() if p.requires_grad))),
    (ch8.q3, two_groups(lambda lr, s: lr * s, lambda lr, s: lr, optimiser=torch.optim.SGD)),
    (ch8.q3, two_groups(lambda lr, s: lr / (1 / s), lambda lr, s: lr)),
]

MISTAKES = (CH1_MISTAKES + CH2_MISTAKES + CH3_MISTAKES + CH4_MISTAKES + CH5_MISTAKES + CH6_MISTAKES
            + CH7_MISTAKES + CH1_MORE + CH2_MORE + CH3_MORE + CH4_MORE + CH5_MORE + CH6_MORE
            + CH7_MORE + CH8_MISTAKES)
VARIANTS = (CH1_VARIANTS + CH2_VARIANTS + CH3_VARIANTS + CH4_VARIANTS + CH5_VARIANTS + CH6_VARIANTS
            + CH7_VARIANTS + CH1_MORE_VARIANTS + CH3_MORE_VARIANTS + CH4_MORE_VARIANTS
            + CH5_MORE_VARIANTS + CH6_MORE_VARIANTS + CH7_MORE_VARIANTS + CH8_VARIANTS)
IDS = [f"{ex.name.split(' (')[0]}: {words if words is not GENERIC else 'generic'} #{i}"
       for i, (ex, _, words) in enumerate(MISTAKES)]


@functools.cache
def mistake_result(i: int):
    """Each answer is checked once per session (checks are deterministic); tests share the result."""  # noqa: E501
    ex, answer, _ = MISTAKES[i]
    return run(ex, answer)


@functools.cache
def variant_result(i: int):
    ex, answer = VARIANTS[i]
    return run(ex, answer)


@pytest.mark.parametrize("i", range(len(MISTAKES)), ids=IDS)
def test_each_mistake_is_caught_with_its_message(i) -> None:
    words, result = MISTAKES[i][2], mistake_result(i)
    assert result.outcome == WRONG, (result, words)
    assert "check itself failed" not in result.message, result.message
    if words is not GENERIC:
        assert words in result.message, result.message


@pytest.mark.parametrize("i", range(len(VARIANTS)), ids=[f"{ex.name.split(' (')[0]} #{i}"
                                                         for i, (ex, _) in enumerate(VARIANTS)])
def test_each_correct_variant_is_accepted(i) -> None:
    result = variant_result(i)
    assert result.outcome == CORRECT, result.message


def test_every_exercise_has_mistakes_and_the_counts(capsys) -> None:
    """The closing numbers of issue 13: caught / tried, accepted / tried, share naming the mistake."""  # noqa: E501
    from course_utils.exercises import CHAPTERS, exercises

    every = [ex for chapter in CHAPTERS.values() for ex in exercises(chapter).values()]
    covered = {id(ex) for ex, _, _ in MISTAKES}
    assert all(id(ex) in covered for ex in every), "an exercise without mutations"
    results = [mistake_result(i) for i in range(len(MISTAKES))]
    caught = sum(r.outcome == WRONG for r in results)
    named = sum(r.outcome == WRONG and words is not GENERIC and words in r.message
                for r, (_, _, words) in zip(results, MISTAKES, strict=True))
    accepted = sum(variant_result(i).outcome == CORRECT for i in range(len(VARIANTS)))
    with capsys.disabled():
        print(f"\nmutation suite: {caught}/{len(MISTAKES)} mistakes caught, "
              f"{accepted}/{len(VARIANTS)} variants accepted, {named}/{len(MISTAKES)} "
              f"({named / len(MISTAKES):.0%}) with a message naming the mistake")
    assert caught == len(MISTAKES) and accepted == len(VARIANTS)
    assert named == sum(words is not GENERIC for _, _, words in MISTAKES)


def test_a_stretching_crop_is_accepted_with_the_chapters_caveat() -> None:
    """Chapter 1 argues against RandomResizedCrop for its shapes: the check accepts it (it is
    augmentation) but says so; the chapter's own recipe gets no caveat."""
    chapters = tf(lambda s: T.Resize(s), lambda s: T.CenterCrop(s), T.RandomHorizontalFlip(),
                  shift, T.ToTensor(), NORM)
    for stretching in (tf(crop, T.RandomHorizontalFlip(), T.ToTensor(), NORM),
                       lambda s: v2.Compose([v2.ToImage(), v2.RandomApply(
                           [v2.RandomResizedCrop(s, antialias=True)], p=1.0), v2.Resize((s, s)),
                           v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN,
                                                                               IMAGENET_STD)])):
        result = run(ch1.q1, stretching)
        assert result.outcome == CORRECT and "RandomResizedCrop stretches" in result.message
    result = run(ch1.q1, chapters)
    assert result.outcome == CORRECT and "stretches" not in result.message


def test_the_training_setup_tells_the_batch_means_apart() -> None:
    from course_utils.exercises.ch4 import SEED, per_batch, per_image, reference_train, tiny_setup

    model, loader = tiny_setup(SEED)
    batches = reference_train(model, loader, torch.optim.SGD(model.parameters(), lr=0.1),
                              nn.CrossEntropyLoss())
    assert [n for _, _, n in batches] == [8, 8, 4]
    assert len({c / n for c, _, n in batches}) == 3  # three different per-batch accuracies
    assert not math.isclose(per_image(batches)[0], per_batch(batches)[0])
    assert not math.isclose(per_image(batches)[1], per_batch(batches)[1])


def test_the_prediction_setup_predicts_every_class() -> None:
    from course_utils.exercises.ch5 import _predict_setup

    model, x = _predict_setup()
    with torch.no_grad():
        assert sorted(set(model.eval()(x).argmax(1).tolist())) == [0, 1, 2]


def test_under_course_lang_zh_every_verdict_is_the_same_and_in_chinese() -> None:
    """Issue 29: COURSE_LANG=zh turns every check's feedback Chinese. Each mistake and each
    correct variant gets the same outcome as in English, never a fault of the checker, and a
    message of the catalogue, not the English one (a check that matched its own English words
    would change its verdict here)."""
    from course_utils import i18n

    with i18n.using("en"):  # the shared results, computed here if this test runs alone
        english = [mistake_result(i) for i in range(len(MISTAKES))] + [
            variant_result(i) for i in range(len(VARIANTS))]
    answers = [(ex, answer) for ex, answer, _ in MISTAKES] + VARIANTS
    untranslated = []
    for (ex, answer), before in zip(answers, english, strict=True):
        with i18n.using("zh"):
            chinese = run(ex, answer)
        assert chinese.outcome == before.outcome, (ex.name, before.message, chinese.message)
        assert "检查程序本身出错了" not in chinese.message, chinese.message
        if chinese.message == before.message:
            untranslated.append(f"{ex.name}: {before.message}")
    assert not untranslated, "\n".join(untranslated)
