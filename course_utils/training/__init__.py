"""Training (chapters 4, 7, 8): the loops, `fit`, recipes, speed settings, checkpoints, the command.

    loops         one epoch of training, evaluation, predictions: the lesson's loops made correct
    fitting       `fit`: the loops epoch after epoch, keeping the best checkpoint
    schedules     learning-rate schedules inside `fit`
    recipes       the lesson's recipe, chapter 4's ladder, the course's recipe
    speed         speed settings: mixed precision, channels-last, allocator tuning (opt-in)
    allocator     glibc's allocator tuning itself, process-wide, off unless asked for
    checkpoints   one checkpoint format: weights, metadata, and for resuming the optimizer
    history       one record per epoch, saved as JSON next to the checkpoint
    progress      progress bars that read well live and once the notebook is saved
    distributed   data parallelism with torchrun and DDP (chapter 7)
    steps         training by steps on tensors: the paper's CIFAR protocol (chapters 6, 8)
    transfer      the command's --pretrained, --freeze-backbone and --backbone-lr-scale
    command       `python -m course_utils.train`
"""

from .._moved import module_getattr

__getattr__ = module_getattr(__name__)  # `course_utils.training.evaluate` etc., with a warning
