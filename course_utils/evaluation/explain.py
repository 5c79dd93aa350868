"""Explaining a prediction: Grad-CAM, where in the image the evidence for a class lies.

Drawing the heat map over the image is plots.show_cam's job; this module only computes it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def grad_cam(model: nn.Module, image_tensor: torch.Tensor, target_layer: nn.Module,
             class_idx: int | None = None) -> torch.Tensor:
    """Grad-CAM heat map (H, W) in [0, 1] for one normalised image: where the evidence for
    `class_idx` (default: the predicted class) lies, as seen by `target_layer` (e.g. layer4).

    Selvaraju et al. 2017: weight each feature map of the layer by the mean gradient of the
    class score over it, add them up, keep the positive part, upsample to the image size.
    """
    shape = list(image_tensor.shape)
    if not (len(shape) == 3 or (len(shape) == 4 and shape[0] == 1)):
        raise ValueError(f"image_tensor has shape {shape}; expected (3, H, W) or (1, 3, H, W)")
    captured = []
    handle = target_layer.register_forward_hook(
        lambda module, inputs, output: captured.append(output))
    was_training = model.training
    model.eval()
    try:
        # inference_mode(False) and enable_grad: works even when called under no_grad.
        with torch.inference_mode(False), torch.enable_grad():
            # clone(): a tensor made under inference_mode cannot take part in autograd itself.
            x = image_tensor.detach().clone().reshape([1] + shape[-3:])
            x = x.to(next(model.parameters()).device).float().requires_grad_(True)
            logits = model(x)
            if class_idx is None:
                class_idx = int(logits.argmax(1))
            if not 0 <= class_idx < logits.shape[1]:
                raise ValueError(f"class_idx={class_idx}; the model has {logits.shape[1]} classes")
            if not captured:
                raise ValueError("target_layer was not used by the model's forward pass")
            features = captured[0]
            # autograd.grad instead of backward(): the parameters' .grad stay untouched.
            (grads,) = torch.autograd.grad(logits[0, class_idx], features)
    finally:
        handle.remove()
        model.train(was_training)
    weights = grads.mean(dim=(2, 3), keepdim=True)  # one importance per channel
    cam = F.relu((weights * features).sum(1, keepdim=True)).detach().float()
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    top = cam.max()
    return (cam / top if top > 0 else cam).clamp(0, 1).cpu()


def feature_shapes(model: nn.Module, image_tensor: torch.Tensor,
                   layers: list[str] | tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """{name: (maps, height, width)} of the named layers' outputs for one normalised image, e.g.
    `feature_shapes(model, image, ["layer3", "layer4"])`: how coarse a Grad-CAM map at each would
    be. A forward hook (as grad_cam uses) sees each output as it passes; the model is run in eval
    mode without gradients and given back in the mode it was in."""
    modules = dict(model.named_modules())
    if missing := [name for name in layers if name not in modules]:
        raise ValueError(f"the model has no layer named {missing}; its top-level layers are "
                         f"{[name for name, _ in model.named_children()]}")
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [modules[name].register_forward_hook(
        lambda module, inputs, output, name=name: shapes.update({name: tuple(output.shape[1:])}))
        for name in layers]
    was_training = model.training
    try:
        with torch.inference_mode():
            model.eval()(image_tensor.reshape(1, *image_tensor.shape[-3:]).to(
                next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return {name: shapes[name] for name in layers}
