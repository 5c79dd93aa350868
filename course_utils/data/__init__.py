"""The data (chapter 1): from a folder of images to seeded, stratified train/val/test loaders.

    shapes      the course's embedded dataset, generated once
    images      reading one image file: upright 8-bit RGB, or an error naming the file
    decoded     decode once: each image decoded at the training size once, the copy kept
    scan        scanning a folder: its class folders, images, links, a pre-split layout
    folders     choosing a folder and the dataset of its images (or of train/ val/ test/)
    splits      the stratified, seeded split
    transforms  evaluation framing, training augmentation, normalisation
    loaders     the one DataLoader builder, and `course_data`: chapter 1 in one call
    figures     a grid of images, images per class
"""

from .._moved import module_getattr

__getattr__ = module_getattr(__name__)  # `course_utils.data.course_data` etc., with a warning
