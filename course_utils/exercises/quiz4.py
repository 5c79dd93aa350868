"""Chapter 4's questionnaire (training): eval mode, inference mode, zero_grad, the chance lines,
reading curves, warm-up, zero-initialised residuals, checkpoints, label smoothing."""

from __future__ import annotations

import math

from ..i18n import N_
from .questionnaire import Choice, Number

q1 = Choice(
    N_("Chapter 4 questionnaire, question 1 (what model.eval() changes)"),
    question=N_("What does `model.eval()` change?"),
    choices={
        "A": N_("It switches off the computation of gradients."),
        "B": N_("It freezes the weights, so that no optimiser can change them."),
        "C": N_("BatchNorm normalises with its running statistics instead of the batch's, and "
                "stops updating them; dropout is switched off. Gradients are still recorded."),
        "D": N_("It moves the model to the CPU."),
    },
    answer="C",
    why={"A": N_("that is torch.no_grad() or torch.inference_mode(); eval() does not touch "
                 "autograd."),
         "B": N_("an optimiser still changes the weights of a model in eval mode."),
         "D": N_("eval() moves nothing; .to(device) does.")},
    explanation=N_("`model.eval()` changes how some layers behave (BatchNorm, dropout); it is not "
                   "about gradients or devices."),
    hint=N_("Section 1, problem 2, and the demonstration after the list."),
    variable="q1")

q2 = Choice(
    N_("Chapter 4 questionnaire, question 2 (inference mode)"),
    question=N_("Evaluation runs under `torch.inference_mode()` as well as `model.eval()`. What "
                "does inference mode add?"),
    choices={
        "A": N_("BatchNorm uses its running statistics."),
        "B": N_("No autograd graph is recorded, so evaluation needs less memory and time."),
        "C": N_("The outputs become deterministic."),
        "D": N_("The model is saved after evaluation."),
    },
    answer="B",
    why={"A": N_("that is what eval() does."),
         "C": N_("it changes nothing in the arithmetic; outputs are the same with or without it."),
         "D": N_("it saves nothing.")},
    explanation=N_("Evaluation never calls backward, so the graph that autograd would record is "
                   "pure cost; inference_mode is a stricter no_grad."),
    hint=N_("What does autograd record during a forward pass, and does evaluation need it? Section "
            "2, the first paragraph."),
    variable="q2")

q3 = Choice(
    N_("Chapter 4 questionnaire, question 3 (zero_grad)"),
    question=N_("Why call `optimizer.zero_grad()` for every batch?"),
    choices={
        "A": N_("`loss.backward()` adds to each parameter's `.grad`; without a reset, each step "
                "would apply the sum of the gradients of all earlier batches."),
        "B": N_("It resets the learning rate."),
        "C": N_("It sets the weights to zero before each batch."),
        "D": N_("It is needed only on a GPU."),
    },
    answer="A",
    why={"B": N_("the learning rate lives in the optimiser's param_groups (and the scheduler); "
                 "zero_grad does not touch it."),
         "C": N_("it resets the gradients, not the weights."),
         "D": N_("gradients accumulate on every device.")},
    explanation=N_("Accumulation is a feature (for large effective batches) that a plain training "
                   "loop must switch off by resetting the gradients each time."),
    hint=N_("Exercise 1's check names this mistake; the lesson's loop in section 1 calls it."),
    variable="q3")

q4 = Number(
    N_("Chapter 4 questionnaire, question 4 (the chance line of the loss)"),
    question=N_("With 4 classes, what cross-entropy does a network have that gives every class the "
                "same probability, whatever the image? (Three decimals are enough.)"),
    expected=math.log(4),
    known={0.25: N_("0.25 is the chance *accuracy*; the loss is -ln(1/4)."),
           4: N_("cross-entropy is -ln(probability of the true class): -ln(1/4)."),
           math.log10(4): N_("cross-entropy uses the natural logarithm: ln 4, not log10 4."),
           math.log2(4): N_("cross-entropy uses the natural logarithm: ln 4, not log2 4."),
           0: N_("a loss of 0 means probability 1 on the true class; here it gets 1/4.")},
    explanation=N_("-ln(1/4) = ln 4 = 1.386: the dashed line of the loss curves. A validation loss "
                   "above it means the network does worse than guessing."),
    hint=N_("Cross-entropy is -ln(the probability given to the true class). Section 5, after the "
            "lesson's curves."),
    variable="q4", what=N_("the cross-entropy of guessing"), rel=1e-3,
    solution="q4 = 1.386  # ln 4")

q5 = Choice(
    N_("Chapter 4 questionnaire, question 5 (reading the lesson's curves)"),
    question=N_("After three epochs with the lesson's recipe both losses fall slowly, and the "
                "training accuracy (41.4 %) is no higher than the validation accuracy (41.7 %), "
                "both well above chance. What is the diagnosis?"),
    choices={
        "A": N_("A bug: the labels are shuffled against the images."),
        "B": N_("Overfitting."),
        "C": N_("The data is too easy."),
        "D": N_("Underfitting: the network learns, too slowly; the learning rate of 1e-4 moves "
                "23.5 million random weights too little in a few hundred steps."),
    },
    answer="D",
    why={"A": N_("a bug would leave the validation curves flat on the chance lines; these curves "
                 "move away from them."),
         "B": N_("overfitting shows as training doing much better than validation; here training "
                 "does not even fit its own images."),
         "C": N_("easy data would be learned quickly; 41.7 % on four classes is far from "
                 "learned.")},
    explanation=N_("Not broken, not overfitting: too slow. The cure is a better recipe (a larger "
                   "rate with warm-up), not patience."),
    hint=N_("Compare the training accuracy with the validation accuracy, and both with chance. "
            "Section 5, \"Reading it\"."),
    variable="q5")

q6 = Choice(
    N_("Chapter 4 questionnaire, question 6 (warm-up)"),
    question=N_("The one-cycle schedule starts at 1/25 of its peak learning rate and rises over "
                "the first quarter of the steps. Why not start at the peak?"),
    choices={
        "A": N_("At the start BatchNorm's statistics and Adam's moment estimates are still "
                "settling; a full-size step there can throw the network into a bad region."),
        "B": N_("A small first rate makes every epoch faster."),
        "C": N_("The peak rate is only allowed after the first checkpoint is saved."),
        "D": N_("To use less memory at the start."),
    },
    answer="A",
    why={"B": N_("an epoch costs the same whatever the learning rate."),
         "C": N_("checkpoints and the schedule are independent."),
         "D": N_("the learning rate does not change the memory a step needs.")},
    explanation=N_("Warm-up lets the running estimates catch up before the steps become large; the "
                   "rate then anneals towards zero to polish."),
    hint=N_("What is still settling during the first steps? Section 6, \"Going deeper: the "
            "one-cycle schedule\"."),
    variable="q6")

q7 = Choice(
    N_("Chapter 4 questionnaire, question 7 (zero-initialised residuals)"),
    question=N_("`zero_init_residual=True` sets the scale (gamma) of the last BatchNorm of every "
                "bottleneck to zero. What does the untrained network then do?"),
    choices={
        "A": N_("It outputs zeros and cannot learn, because the gradients of the branches are zero "
                "for ever."),
        "B": N_("It has no BatchNorm any more."),
        "C": N_("Every residual branch outputs 0, so each block starts as its shortcut: the "
                "untrained network behaves like a much shallower one, and training grows each "
                "branch from zero only as far as it helps."),
        "D": N_("It is protected against overfitting."),
    },
    answer="C",
    why={"A": N_("gamma gets a gradient like any parameter and grows as soon as it helps; and the "
                 "shortcuts carry the signal meanwhile."),
         "B": N_("the BatchNorms are all there; one of their parameters starts at zero."),
         "D": N_("it changes where training starts, not how much the network can memorise.")},
    explanation=N_("A block with a zero branch computes relu(shortcut(x)): identity blocks pass "
                   "their input through, and depth is added gradually."),
    hint=N_("What does a block output when its residual branch outputs zero? Section 3."),
    variable="q7")

q8 = Choice(
    N_("Chapter 4 questionnaire, question 8 (saving the checkpoint)"),
    question=N_("`fit` writes the best checkpoint to a temporary name, then renames it. Why?"),
    choices={
        "A": N_("Renaming is faster than writing."),
        "B": N_("The file on disk is then always the previous best or the new one, complete: a "
                "crash, a full disk or Ctrl-C while writing never leaves half a file."),
        "C": N_("torch.save can only write temporary files."),
        "D": N_("So that the history is saved too."),
    },
    answer="B",
    why={"A": N_("the file is written in full either way; the rename is what makes the switch "
                 "all-or-nothing."),
         "C": N_("torch.save writes to any path."),
         "D": N_("the history is a separate file, written after every epoch.")},
    explanation=N_("A rename replaces a file in one step; writing in place could be interrupted "
                   "half-way and lose the best model."),
    hint=N_("Section 9, the first paragraph, and what it says about Ctrl-C."),
    variable="q8")

q9 = Number(
    N_("Chapter 4 questionnaire, question 9 (label smoothing)"),
    question=N_("With label smoothing 0.1 and 4 classes, what probability does the training target "
                "give the true class?"),
    expected=0.925,
    known={0.9: N_("the 0.1 is spread over all four classes, the true one included: 0.9 + 0.1 / "
                   "4."),
           0.025: N_("0.025 is what each *other* class gets; the true class keeps 0.9 + 0.025."),
           1: N_("that is the target without smoothing."),
           0.975: N_("the true class gives up 0.1 and gets back its quarter, 0.025: 0.925.")},
    explanation=N_("1 - 0.1 + 0.1 / 4 = 0.925, and 0.025 for each other class: the network is "
                   "never pushed towards infinitely confident outputs."),
    hint=N_("Smoothing spreads 0.1 over all the classes, the true one included. Section 6, \"Going "
            "deeper: label smoothing's targets\"."),
    variable="q9", what=N_("the target probability of the true class"), rel=1e-6,
    solution="q9 = 1 - 0.1 + 0.1 / 4")
