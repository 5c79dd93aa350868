"""Chapter 8 (transfer learning): freeze everything but the head, count what trains, give the
backbone its own learning rate."""

from __future__ import annotations

import torch
from torch import nn

from ..i18n import N_, _
from ..models.cifar import cifar_net
from ..models.resnet import randomise_batch_norm, resnet18
from .checks import as_float, package_functions, refuse
from .core import Exercise, LearnerError, Wrong, call, describe, returned_none, safe_str


def _models() -> list[tuple[str, nn.Module]]:
    """Models with a head called fc: chapter 3's ResNet-18 (3 classes) and chapter 6's ResNet-20."""
    resnet = resnet18(num_classes=3)
    randomise_batch_norm(resnet, seed=0)
    return [(_("a ResNet-18 with 3 classes"), resnet),
            (_("chapter 6's ResNet-20 with 10 classes"), cifar_net(20, True, num_classes=10))]


def _head(name: str) -> bool:
    return name.startswith("fc.")


# ------------------------------------------------------------- q1: freeze everything but the head


def _check_freeze(freeze_all_but_head) -> str:
    if not callable(freeze_all_but_head):
        raise Wrong(_("freeze_all_but_head should be a function of a model."))
    forbid = package_functions(
        {"freeze_backbone": refuse("freeze_all_but_head", "freeze_backbone")},
        ("course_utils.models.transfer",))
    for what, model in _models():
        head, values = model.fc, {k: v.clone() for k, v in model.state_dict().items()}
        returned = call(freeze_all_but_head, model, forbid=forbid)
        if returned is not None and returned is not model:
            raise Wrong(_("change the model you are given, in place (and return nothing, or the "
                          "same model); you returned {value}.").format(
                              value=describe(returned, 40)))
        if model.fc is not head:
            raise Wrong(_("you replaced the head; keep it (it is already the new one, with one "
                          "output per class) and only choose which parameters train."))
        state = model.state_dict()
        if any(not torch.equal(state[k], v) for k, v in values.items()):
            raise Wrong(_("your function changed the weights' values: freezing only decides which "
                          "parameters the optimiser may change (requires_grad), not what they "
                          "are."))
        training = {n for n, p in model.named_parameters() if p.requires_grad}
        names = [n for n, _param in model.named_parameters()]
        head_names = {n for n in names if _head(n)}
        if training == set(names):
            raise Wrong(_("nothing was frozen: every parameter still has requires_grad=True. "
                          "torch.no_grad() and setting .grad to None change nothing lasting, and "
                          "model.eval() changes BatchNorm's behaviour, not which parameters "
                          "learn."))
        if not training:
            raise Wrong(_("the head is frozen too: nothing would train. The new head starts "
                          "random; it is the one part that must learn."))
        if training == set(names) - head_names:
            raise Wrong(_("the other way round: you froze the head and left the backbone "
                          "training."))
        if head_names - training:
            raise Wrong(_("{count} of the head's parameters are frozen ({names}): the whole head "
                          "(weight and bias) must train.").format(
                              count=len(head_names - training),
                              names=sorted(head_names - training)))
        left = sorted(training - head_names)
        if left and all(dict(model.named_parameters())[n].dim() == 1 for n in left):
            raise Wrong(_("{count} backbone parameters still train, all of them 1-D (e.g. "
                          "{example}): BatchNorm's scale and shift are parameters too, not only "
                          "the convolutions' weights.").format(count=len(left), example=left[0]))
        if left:
            raise Wrong(_("{count} backbone parameters still train in {model} (e.g. {examples}): "
                          "freeze every parameter outside fc.").format(
                              count=len(left), model=what, examples=left[:3]))
    return _("only fc trains: 512 x 3 + 3 = 1,539 values in the ResNet-18, against 11,176,512 "
             "frozen. The course's freeze_backbone also keeps the backbone in eval mode, so that "
             "its BatchNorm running statistics (buffers, not parameters) stay fixed as well.")


q1 = Exercise(
    N_("Chapter 8, question 1 (freeze everything but the head)"), _check_freeze,
    hints=[N_("Each parameter has a flag that decides whether backward computes its gradient (and "
              "so whether the optimiser can change it). Which part of the model must keep it "
              "on?"),
           N_("Walk over model.named_parameters(): the head's names start with 'fc.'. Or switch "
              "the flag off for the whole model first, then back on for model.fc.")],
    solution="""
    def freeze_all_but_head(model):
        for name, param in model.named_parameters():
            param.requires_grad_(name.startswith("fc."))""",
    answer="freeze_all_but_head")

# ------------------------------------------------------------- q2: count the trainable parameters


def _frozen_resnet() -> nn.Module:
    model = resnet18(num_classes=3)
    for name, param in model.named_parameters():
        param.requires_grad_(_head(name))
    return model


def _count(fn, model: nn.Module, what: str, forbid: dict) -> float:
    result = call(fn, model, forbid=forbid)
    if result is None:
        raise returned_none("count_trainable")
    if isinstance(result, list | tuple | dict | set):
        raise Wrong(_("return one number, the count of values; you returned {value}.").format(
            value=describe(result, 40)))
    return as_float(result, _("count_trainable of {model}").format(model=what))


def _check_count(count_trainable) -> str:
    if not callable(count_trainable):
        raise Wrong(_("count_trainable should be a function of a model."))
    forbid = package_functions(
        {"count_parameters": refuse("count_trainable", "count_parameters")},
        ("course_utils.models.resnet",))
    frozen = _frozen_resnet()
    got = _count(count_trainable, frozen, _("a frozen ResNet-18"), forbid)
    trains = sum(p.numel() for p in frozen.parameters() if p.requires_grad)
    every = sum(p.numel() for p in frozen.parameters())
    known = {
        every: _("you counted every parameter, the frozen ones too: count only those whose "
                 "requires_grad is True."),
        every - trains: _("the other way round: that is the frozen values; count those whose "
                          "requires_grad is True."),
        2: _("you counted tensors (fc.weight and fc.bias), not the values in them: add up each "
             "tensor's numel()."),
        sum(v.numel() for v in frozen.state_dict().values()): _(
            "you counted the state dict, whose BatchNorm running statistics are buffers, not "
            "parameters: they never train."),
        512 * 3: _("the head has a bias too: one per class."),
    }
    if got != trains:
        raise Wrong(known.get(got) or _("for a ResNet-18 whose head alone trains (3 classes) you "
                                        "counted {got:,.0f}; expected {expected:,}.").format(
                                            got=got, expected=trains))
    model = resnet18(num_classes=3)
    whole = _count(count_trainable, model, _("a ResNet-18 that trains whole"), forbid)
    if whole != every:
        raise Wrong(_("for a ResNet-18 whose every parameter trains you counted {got:,.0f}; "
                      "expected {expected:,}.").format(got=whole, expected=every))
    for param in model.layer4.parameters():
        param.requires_grad_(False)
    part = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if _count(count_trainable, model, _("a partly frozen ResNet-18"), forbid) != part:
        raise Wrong(_("with only layer4 frozen your count is off: count every parameter whose "
                      "requires_grad is True, wherever it sits."))
    return _("{trains:,} of {every:,} values train when only the head does: {share:.3%} of the "
             "network.").format(trains=trains, every=every, share=trains / every)


q2 = Exercise(
    N_("Chapter 8, question 2 (count the trainable parameters)"), _check_count,
    hints=[N_("A parameter trains when its requires_grad is True; a tensor holds numel() "
              "values."),
           N_("Go over model.parameters() (buffers such as BatchNorm's running mean are not among "
              "them), keep those that train and add up their sizes.")],
    solution="""
    def count_trainable(model):
        return sum(p.numel() for p in model.parameters() if p.requires_grad)""",
    answer="count_trainable")

# --------------------------------------------------------------- q3: the backbone's learning rate


def _rates(optimizer, model: nn.Module) -> dict[str, list[float]]:
    """{parameter name: [lr of each group that holds it]}."""
    names = {id(p): n for n, p in model.named_parameters()}
    found: dict[str, list[float]] = {n: [] for n in names.values()}
    for group in optimizer.param_groups:
        for param in group["params"]:
            if id(param) in names:
                found[names[id(param)]].append(group["lr"])
    return found


def _optimizer(fn, model: nn.Module, lr: float, scale: float, forbid: dict):
    try:
        optimizer = call(fn, model, lr, scale, forbid=forbid)
    except LearnerError as error:
        if "more than one parameter group" in safe_str(error.__cause__):
            raise Wrong(_("PyTorch refused your groups: some parameters appear in more than one "
                          "(model.parameters() holds the head's too). Put the backbone's "
                          "parameters in one group and the head's in the other.")) from None
        raise
    if optimizer is None:
        raise returned_none("fine_tune_optimizer")
    if isinstance(optimizer, list | tuple):
        raise Wrong(_("return the optimizer built from your groups (e.g. "
                      "torch.optim.AdamW(groups)), not the list of groups."))
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise Wrong(_("return a torch.optim optimizer; you returned {value}.").format(
            value=describe(optimizer, 40)))
    return optimizer


def _check_rates(fine_tune_optimizer) -> str:
    if not callable(fine_tune_optimizer):
        raise Wrong(_("fine_tune_optimizer should be a function of (model, lr, "
                      "backbone_lr_scale)."))
    forbid = package_functions(
        {"transfer_groups": refuse("fine_tune_optimizer", "transfer_groups"),
         "build": refuse("fine_tune_optimizer", "Recipe.build")},
        ("course_utils.training.recipes",))
    for lr, scale in ((2e-3, 0.01), (1e-3, 0.1)):
        model = resnet18(num_classes=3)
        rates = _rates(_optimizer(fine_tune_optimizer, model, lr, scale, forbid), model)
        head = {n: r for n, r in rates.items() if _head(n)}
        backbone = {n: r for n, r in rates.items() if not _head(n)}
        if all(not r for r in head.values()):
            raise Wrong(_("the head's parameters are in no group: the new head, which starts "
                          "random, would never learn."))
        if any(not r for r in backbone.values()):
            missing = [n for n, r in backbone.items() if not r]
            raise Wrong(_("{count} backbone parameters are in no group (e.g. {examples}): "
                          "fine-tuning trains every layer, the backbone slowly.").format(
                              count=len(missing), examples=missing[:2]))
        if any(not r for r in head.values()):
            raise Wrong(_("one of the head's parameters (fc.weight or fc.bias) is in no group."))
        head_rates = {r[0] for r in head.values()}
        rates_back = {r[0] for r in backbone.values()}
        if len(head_rates | rates_back) == 1:
            raise Wrong(_("every parameter learns at the same rate: give the backbone lr x "
                          "backbone_lr_scale and the head lr, in two parameter groups."))
        if head_rates == {lr * scale} and rates_back == {lr}:
            raise Wrong(_("the other way round: the head got lr x backbone_lr_scale and the "
                          "backbone the full lr. The head starts random and needs the large "
                          "steps."))
        if rates_back == {lr / scale}:
            raise Wrong(_("the backbone learns at lr / backbone_lr_scale = {rate:g}, faster than "
                          "the head; multiply instead.").format(rate=lr / scale))
        if head_rates != {lr} or not all(abs(r - lr * scale) <= 1e-12 for r in rates_back):
            values = {"lr": lr, "scale": scale, "backbone": lr * scale,
                      "head_rates": sorted(head_rates), "backbone_rates": sorted(rates_back)}
            if lr == 1e-3:
                raise Wrong(_("with lr={lr:g} and backbone_lr_scale={scale:g} expected the head "
                              "at {lr:g} and the backbone at {backbone:g}; got the head at "
                              "{head_rates} and the backbone at {backbone_rates} (use the "
                              "arguments, not numbers of your own).").format(**values))
            raise Wrong(_("with lr={lr:g} and backbone_lr_scale={scale:g} expected the head at "
                          "{lr:g} and the backbone at {backbone:g}; got the head at {head_rates} "
                          "and the backbone at {backbone_rates}.").format(**values))
    return _("two parameter groups: the backbone at lr x backbone_lr_scale keeps what it knows, "
             "the new head at lr learns fast. Recipe.build(..., backbone_lr_scale=...) builds the "
             "same, with weight decay on the weights only.")


q3 = Exercise(
    N_("Chapter 8, question 3 (the backbone's learning rate)"), _check_rates,
    hints=[N_("An optimiser takes a list of parameter groups, dicts with 'params' and their own "
              "'lr'. Which two groups does fine-tuning need?"),
           N_("The head's parameters are model.fc.parameters(); the backbone's are all the others "
              "(their names do not start with 'fc.'). Give each group its own learning rate.")],
    solution="""
    def fine_tune_optimizer(model, lr, backbone_lr_scale):
        backbone = [p for name, p in model.named_parameters() if not name.startswith("fc.")]
        return torch.optim.AdamW([
            {"params": backbone, "lr": lr * backbone_lr_scale},
            {"params": model.fc.parameters(), "lr": lr},
        ])""",
    answer="fine_tune_optimizer")
