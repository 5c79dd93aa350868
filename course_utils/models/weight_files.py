"""What a weights file holds: reading it safely, naming the network it is for, and saying in
words why it does not fit a model (pretrained.py loads it).

`read_state_dict(path)` reads a file with `torch.load(..., weights_only=True)` and returns its
state dict, or raises a PretrainedError that says what the file is instead: truncated, not a
PyTorch file (empty, text, HDF5, safetensors), a pickled model, a full checkpoint (naming the key
that holds the weights). `identify_architecture(state)` names the ResNet a torchvision-named state
dict belongs to, from its keys and shapes; `check_match` explains a file for another network,
with another library's names or with a wrapper's prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from ..i18n import N_, _

__all__ = ["HEAD", "PretrainedError", "check_match", "identify_architecture", "read_state_dict",
           "resnet_depth"]

HEAD = "fc"  # the classification head of every course ResNet (and torchvision's)

# The paper's Table 1 (as in models/resnet.py): (bottleneck?, blocks per stage) -> depth.
_DEPTHS = {(False, (2, 2, 2, 2)): 18, (False, (3, 4, 6, 3)): 34, (True, (3, 4, 6, 3)): 50,
           (True, (3, 4, 23, 3)): 101, (True, (3, 8, 36, 3)): 152}


class PretrainedError(ValueError):
    """Pretrained weights that cannot be loaded, with what is wrong and what to do, in words."""


# --------------------------------------------------------------------------- what a file holds


def _blocks(state: Mapping[str, Tensor], stage: int) -> int:
    """Number of blocks in `layer{stage}` of a torchvision-style state dict."""
    pattern = re.compile(rf"layer{stage}\.(\d+)\.")
    found = {int(m.group(1)) for key in state if (m := pattern.match(key))}
    return max(found) + 1 if found else 0


def identify_architecture(state: Mapping[str, Tensor]) -> str | None:
    """The network a torchvision-named state dict belongs to, from its keys and shapes.

    "ResNet-18" ... "ResNet-152", "Wide ResNet-50-2", "ResNeXt-50 32x4d", "CIFAR-style
    ResNet-20" (chapter 6's 6n+2 nets), "a ResNet with ..." for other block counts, or None
    when the names are not torchvision's ResNet names at all.
    """
    conv1 = state.get("conv1.weight")
    if not isinstance(conv1, Tensor) or conv1.dim() != 4:
        return None
    blocks = tuple(_blocks(state, stage) for stage in (1, 2, 3, 4))
    if conv1.shape[-1] == 3 and blocks[3] == 0 and blocks[0] == blocks[1] == blocks[2] > 0:
        return f"CIFAR-style ResNet-{6 * blocks[0] + 2}"
    if 0 in blocks:
        return None
    bottleneck = "layer1.0.conv3.weight" in state
    depth = _DEPTHS.get((bottleneck, blocks))
    if depth is None:
        kind = "bottleneck" if bottleneck else "basic"
        return f"a ResNet with {kind} blocks {list(blocks)}"
    conv2 = state.get("layer1.0.conv2.weight")
    if bottleneck and isinstance(conv2, Tensor) and conv2.dim() == 4:
        width, per_group = conv2.shape[0], conv2.shape[1]
        if per_group != width:  # grouped 3x3 convolutions: ResNeXt-50 32x4d has 32 groups of 4
            return f"ResNeXt-{depth} {width // per_group}x{per_group}d"
        if width != 64:
            return f"Wide ResNet-{depth}-{width // 64}"
    return f"ResNet-{depth}"


def resnet_depth(architecture: str | None) -> int | None:
    """50 for "ResNet-50" (what identify_architecture says), None for anything else."""
    match = re.fullmatch(r"ResNet-(\d+)", architecture or "")
    return int(match.group(1)) if match else None


# Key patterns of other libraries' naming schemes, and what to call them in a message.
_SCHEMES = (
    (re.compile(r"(:0$|/kernel|/gamma|/beta|/moving_mean)"), N_("TensorFlow/Keras variable names")),
    (re.compile(r"^conv\d_block\d+_|_branch2[abc]|^bn_conv1|^res\d[a-f]_"),
     N_("Keras/Caffe ResNet names (conv2_block1_..., res2a_branch2a, bn_conv1)")),
    (re.compile(r"^(resnet\.)?(embedder|encoder)\.|\.embedder\.|\.stages\.\d+\.layers\."),
     N_("Hugging Face transformers' ResNet names (embedder, encoder.stages...layers)")),
    (re.compile(r"^(stem\.|stages\.\d|head\.fc\.)|\.blocks\.\d"),
     N_("timm-style names (stem, stages, blocks, head)")),
)
_PREFIXES = ("module.", "_orig_mod.", "model.", "backbone.", "encoder.", "net.", "resnet.")


def _scheme(keys: list[str]) -> str | None:
    for pattern, name in _SCHEMES:
        if sum(bool(pattern.search(key)) for key in keys) >= max(1, len(keys) // 4):
            return name
    return None


def _common_prefix(keys: list[str], model_keys: set[str]) -> str | None:
    """A prefix that every key has and whose removal gives the model's names ('module.' ...)."""
    for prefix in _PREFIXES:
        if keys and all(k.startswith(prefix) for k in keys):
            stripped = {k[len(prefix):] for k in keys}
            if len(stripped & model_keys) >= len(model_keys) // 2:
                return prefix
    return None


# --------------------------------------------------------------------------- reading a file


# torch.save's format before PyTorch 1.6 (torchvision's older files): pickle protocol 2, then
# the magic number 0x1950a86a20f9469cfc6c.
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def _describe_bytes(path: Path) -> str:
    """What a file that torch cannot read looks like, from its first bytes."""
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        return _("it is empty (0 bytes)")
    if head.startswith(b"\x89HDF"):
        return _("it is an HDF5 file (Keras saves .h5 weights this way), not a PyTorch file")
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 10**8:
        return _("it is a safetensors file, not a torch.save file: load it with "
                 "safetensors.torch.load_file(path) and torch.save the dict it returns")
    if head.startswith(_LEGACY_MAGIC):
        return _("it is an old-format torch.save file that ends too early: truncated or damaged")
    if all(32 <= byte < 127 or byte in b"\t\n\r" for byte in head):
        return _("it is a text file, not a PyTorch file")
    return _("it is not a PyTorch file (torch.save writes a zip archive)")


def _load(path: Path) -> object:
    """torch.load(path, weights_only=True), with each way of failing explained."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        start = f.read(len(_LEGACY_MAGIC))
    is_torch_file = start.startswith(b"PK\x03\x04") or start == _LEGACY_MAGIC
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any bytes can fail any way: each is explained
        text = str(error)
        if not is_torch_file:
            raise PretrainedError(_("cannot read {path!r} ({size:,} bytes): {what}.").format(
                path=str(path), size=size, what=_describe_bytes(path))) from None
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if found:
            raise PretrainedError(_(
                "{path!r} pickles whole Python objects (it holds a {type}: torch.save(model) "
                "instead of torch.save(model.state_dict())), which weights_only=True refuses "
                "because unpickling can run any code. Load it once where you trust it and save "
                "model.state_dict() instead.").format(path=str(path), type=found.group(1))
            ) from None
        first = text.splitlines()[0].split(". ")[0] if text else type(error).__name__
        raise PretrainedError(_(
            "cannot read {path!r} ({size:,} bytes): the file is truncated or damaged ({error}). "
            "Copy or download it again.").format(path=str(path), size=size, error=first)
        ) from None


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """The state dict in the file at `path` (read with weights_only=True), or a PretrainedError
    that says what the file holds instead."""
    data = _load(path)
    if not isinstance(data, Mapping):
        raise PretrainedError(_("{path!r} holds a {type}, not a state dict (a dict of tensors, "
                                "as torch.save(model.state_dict(), path) writes)").format(
                                    path=str(path), type=type(data).__name__))
    if data and all(isinstance(v, Tensor) for v in data.values()) and all(
            isinstance(k, str) for k in data):
        return dict(data)
    holders = [k for k, v in data.items() if isinstance(v, Mapping) and v
               and all(isinstance(t, Tensor) for t in v.values())]
    others = [k for k in data if k not in holders]
    if holders:
        where = holders[0]
        message = (_("{path!r} is a full checkpoint (keys {keys}), not a state dict: the weights "
                     "are under {key!r} (other dicts of tensors: {others}). Save them alone once: "
                     "sd = torch.load(path, weights_only=True)[{key!r}]; torch.save(sd, "
                     "'weights.pth'), and load that file.") if len(holders) > 1 else
                   _("{path!r} is a full checkpoint (keys {keys}), not a state dict: the weights "
                     "are under {key!r}. Save them alone once: sd = torch.load(path, "
                     "weights_only=True)[{key!r}]; torch.save(sd, 'weights.pth'), and load that "
                     "file."))
        raise PretrainedError(message.format(path=str(path), keys=_few(list(data), 8), key=where,
                                             others=_few(holders[1:])))
    raise PretrainedError(_(
        "{path!r} holds a dict without weights (keys {keys}): expected a state dict, as "
        "torch.save(model.state_dict(), path) writes").format(path=str(path),
                                                              keys=_few(others, 8)))


def _few(items: list, n: int = 3) -> str:
    shown = ", ".join(repr(i) for i in items[:n])
    return (_("{shown}, ... ({count} in all)").format(shown=shown, count=len(items))
            if len(items) > n else shown)


def check_match(saved: dict[str, Tensor], current: dict[str, Tensor], path: Path,
                built: str) -> None:
    """Raise a PretrainedError unless every backbone tensor of the model is in `saved`, with
    the same shape, and `saved` holds nothing but those and a head."""
    is_head = lambda key: key.startswith(HEAD + ".")  # noqa: E731
    counters = lambda key: key.endswith("num_batches_tracked")  # noqa: E731  (old files lack them)
    missing = [k for k in current if not is_head(k) and not counters(k) and k not in saved]
    unexpected = [k for k in saved if k not in current and not is_head(k)]
    reshaped = [_("{key}: file {file_shape} vs model {model_shape}").format(
                    key=k, file_shape=list(saved[k].shape), model_shape=list(current[k].shape))
                for k in saved if k in current and not is_head(k)
                and saved[k].shape != current[k].shape]
    if not (missing or unexpected or reshaped):
        return
    where = f"{str(path)!r}"
    found = identify_architecture(saved)
    if found is not None and found != built:
        raise PretrainedError(_(
            "{path}: this file holds a {found}'s weights; you built a {built}. Build the network "
            "the file is for, or use a file for a {built}.").format(path=where, found=found,
                                                                   built=built))
    prefix = _common_prefix(list(saved), set(current))
    if prefix is not None:
        raise PretrainedError(_(
            "{path}: every key starts with {prefix!r} (e.g. {keys}), which the model's names do "
            "not (the prefix of the wrapper that saved it). Strip it once: sd = "
            "{{k.removeprefix({prefix!r}): v for k, v in sd.items()}}, save sd and load that "
            "file.").format(path=where, prefix=prefix, keys=_few(list(saved), 2)))
    if found is None:
        scheme = _scheme(list(saved))
        message = (_("{path} does not use torchvision's ResNet names: {unexpected} of its {count} "
                     "keys are not in your {built} (e.g. {unexpected_keys}), and {missing} of the "
                     "model's are not in the file (e.g. {missing_keys}). They look like {scheme}. "
                     "Rename them to torchvision's (conv1, bn1, layer1.0.conv1, ..., fc) first, "
                     "or load the file with the library that wrote it.") if scheme else
                   _("{path} does not use torchvision's ResNet names: {unexpected} of its {count} "
                     "keys are not in your {built} (e.g. {unexpected_keys}), and {missing} of the "
                     "model's are not in the file (e.g. {missing_keys}). Rename them to "
                     "torchvision's (conv1, bn1, layer1.0.conv1, ..., fc) first, or load the file "
                     "with the library that wrote it."))
        raise PretrainedError(message.format(
            path=where, unexpected=len(unexpected), count=len(saved), built=built,
            unexpected_keys=_few(unexpected), missing=len(missing), missing_keys=_few(missing),
            scheme=_(scheme) if scheme else None))
    details = []
    if missing:
        details.append(_("{count} of the model's tensors are not in the file (e.g. {keys})")
                       .format(count=len(missing), keys=_few(missing)))
    if unexpected:
        details.append(_("{count} of the file's are not in the model (e.g. {keys})").format(
            count=len(unexpected), keys=_few(unexpected)))
    if reshaped:
        details.append(_("{count} shapes differ (e.g. {shapes})").format(
            count=len(reshaped), shapes=_("; ").join(reshaped[:2])))
    raise PretrainedError(_("{path} holds a {found} that does not match your {built}: "
                            "{details}.").format(path=where, found=found, built=built,
                                                  details=_("; ").join(details)))
