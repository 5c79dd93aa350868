"""The networks (chapters 2, 3, 6 and 8).

    resnet         the ResNet family 18/34/50/101/152, torchvision's names and layout
    cifar          the paper's plain and residual CIFAR nets, 6n+2 layers
    gradients      gradient norms per conv layer, at initialisation and after training
    architectures  every network by name (`--arch`, a checkpoint's `arch`)
    pretrained     pretrained weights into a course ResNet: a file, or torchvision's ImageNet file
    weight_files   reading a weights file safely, and saying what it holds
    transfer       the backbone and the head; freezing the backbone (feature extraction)
"""

from .._moved import module_getattr

__getattr__ = module_getattr(__name__)  # `course_utils.models.resnet50` etc., with a warning
