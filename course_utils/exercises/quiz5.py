"""Chapter 5's questionnaire (evaluation): the untouched test split, safe loading, precision and
recall, reading a confusion matrix, eval mode for predictions, averages, Grad-CAM's grid."""

from __future__ import annotations

from ..i18n import N_
from .questionnaire import Choice, Number

q1 = Choice(
    N_("Chapter 5 questionnaire, question 1 (why the test split)"),
    question=N_("The checkpoint records the best validation accuracy of chapter 4. Why measure the "
                "test split as well, once?"),
    choices={
        "A": N_("The validation accuracy was computed in training mode."),
        "B": N_("The test split is larger."),
        "C": N_("The best of ten noisy validation scores is likely a lucky one, so it is "
                "optimistic; the test images influenced nothing (neither the weights nor the "
                "choice of epoch), so their score is an honest estimate."),
        "D": N_("The validation split was augmented."),
    },
    answer="C",
    why={"A": N_("validation runs in eval mode, like the test; the fresh model reproduces it "
                 "exactly."),
         "B": N_("both are 15 % of the images."),
         "D": N_("both use the evaluation transform.")},
    explanation=N_("A number that was used to choose cannot also measure the choice; the test "
                   "split is kept apart for exactly that."),
    hint=N_("Which split chose the epoch, and which influenced nothing? Section 3."),
    variable="q1")

q2 = Choice(
    N_("Chapter 5 questionnaire, question 2 (safe loading)"),
    question=N_("Why does `load_checkpoint` call `torch.load(path, weights_only=True)`?"),
    choices={
        "A": N_("It loads faster."),
        "B": N_("It loads the tensors onto the GPU."),
        "C": N_("It makes the file smaller."),
        "D": N_("A `.pth` file is a pickle, and unpickling can run arbitrary code; `weights_only` "
                "accepts only tensors and plain values, which is all a course checkpoint holds."),
    },
    answer="D",
    why={"A": N_("speed is not the point; safety is."),
         "B": N_("`map_location` decides the device; the course loads onto the CPU."),
         "C": N_("loading cannot change the size of a file.")},
    explanation=N_("Opening a checkpoint from someone else must never run their code; since "
                   "PyTorch 2.6 this is also torch.load's default."),
    hint=N_("A .pth file is a pickle: what can unpickling do? Section 1."),
    variable="q2")

q3 = Number(
    N_("Chapter 5 questionnaire, question 3 (precision)"),
    question=N_("Of the 22 test images that are stars, the model calls 21 star; it also calls 4 "
                "other images star. What is the **precision** of star?"),
    expected=21 / 25,
    known={21 / 22: N_("that is the recall (of the true stars, the share found); precision asks: "
                       "of the images called star, the share that are stars."),
           4 / 25: N_("that is the share of wrong ones among the images called star: 1 - "
                      "precision."),
           25 / 21: N_("a precision is at most 1: the correct stars divided by all images called "
                       "star."),
           84: N_("give the precision as a fraction between 0 and 1.")},
    explanation=N_("21 / (21 + 4) = 0.84: precision reads a column of the confusion matrix, recall "
                   "a row."),
    hint=N_("Precision divides by the images *predicted* star. Section 5, the definitions."),
    variable="q3", what=N_("the precision of star"), rel=1e-3,
    solution="q3 = 21 / (21 + 4)")

q4 = Choice(
    N_("Chapter 5 questionnaire, question 4 (reading a confusion matrix)"),
    question=N_("In the course's confusion matrix (rows: true class, columns: prediction), where "
                "do you read what the circles were mistaken for?"),
    choices={
        "A": N_("In circle's row, off the diagonal."),
        "B": N_("In circle's column, off the diagonal."),
        "C": N_("On the diagonal."),
        "D": N_("In the sum of all cells."),
    },
    answer="A",
    why={"B": N_("circle's column holds the images *predicted* circle: what other classes were "
                 "mistaken for circles."),
         "C": N_("the diagonal holds the correct predictions."),
         "D": N_("the sum is the number of test images.")},
    explanation=N_("A row holds the images of one true class; its off-diagonal cells say which "
                   "classes they were taken for."),
    hint=N_("Rows are true classes, columns predictions. Section 4."),
    variable="q4")

q5 = Choice(
    N_("Chapter 5 questionnaire, question 5 (predicting in eval mode)"),
    question=N_("`predict` puts the model in `eval()` mode before classifying one image. What goes "
                "wrong in training mode?"),
    choices={
        "A": N_("Nothing: a single image has no batch statistics."),
        "B": N_("BatchNorm normalises with the statistics of the batch at hand, so a prediction "
                "depends on which other images share its batch (a single image is normalised with "
                "its own statistics); it also overwrites the running statistics."),
        "C": N_("The model's weights are updated."),
        "D": N_("The probabilities no longer add up to 1."),
    },
    answer="B",
    why={"A": N_("a single image has statistics of its own, over its pixels, and BatchNorm in "
                 "training mode uses them instead of the running ones learned in training."),
         "C": N_("weights change only in an optimiser's step."),
         "D": N_("a softmax always adds up to 1.")},
    explanation=N_("Eval mode uses the running statistics learned in training: the same image then "
                   "gets the same answer whatever else is in the batch."),
    hint=N_("Which statistics does BatchNorm use in training mode? Section 7, and chapter 4's "
            "problem 2."),
    variable="q5")

q6 = Choice(
    N_("Chapter 5 questionnaire, question 6 (macro and weighted averages)"),
    question=N_("The classification report ends with a macro average and a weighted average. How "
                "do they differ?"),
    choices={
        "A": N_("The macro average is over all images, the weighted over the classes."),
        "B": N_("The weighted average gives the hardest class more weight."),
        "C": N_("The macro average weights every class equally; the weighted average weights each "
                "class by its support (its number of test images)."),
        "D": N_("They are always equal."),
    },
    answer="C",
    why={"A": N_("both average per-class numbers; they differ in the weights."),
         "B": N_("the weights are the supports, whatever the difficulty."),
         "D": N_("they are equal only when every class has the same support.")},
    explanation=N_("With unbalanced classes the macro average shows how the small classes fare; "
                   "the weighted one follows the common classes."),
    hint=N_("What is each class weighted by? Section 5, after the definitions."),
    variable="q6")

q7 = Choice(
    N_("Chapter 5 questionnaire, question 7 (Grad-CAM's grid)"),
    question=N_("At the CPU configuration's 40 pixels the chapter explains the decision at "
                "`layer3`, not `layer4`. Why?"),
    choices={
        "A": N_("`layer4` has no gradients."),
        "B": N_("`layer4` works at 1/32 of the input's resolution: at 40 pixels its map is a 2x2 "
                "grid, which can say little more than \"this quarter\"; `layer3`'s grid is finer "
                "(3x3 at 40 pixels)."),
        "C": N_("Grad-CAM only works on the third stage."),
        "D": N_("`layer3` has more channels."),
    },
    answer="B",
    why={"A": N_("every stage gets gradients; Grad-CAM uses them."),
         "C": N_("Grad-CAM works on any convolutional stage; at 128 pixels the chapter would use "
                 "layer4."),
         "D": N_("layer3 has 1024 channels, layer4 2048.")},
    explanation=N_("A class-activation map is as coarse as its stage's grid; below 96 pixels "
                   "layer4's grid is too coarse to read."),
    hint=N_("How many cells does layer4's grid have for a 40-pixel image? Section 8."),
    variable="q7")

q8 = Number(
    N_("Chapter 5 questionnaire, question 8 (one image's worth)"),
    question=N_("The test split of the real configuration has 360 images. By how many **percentage "
                "points** does one image more or less move the accuracy? (Two decimals are "
                "enough.)"),
    expected=100 / 360,
    known={1 / 360: N_("that is the fraction; in percentage points multiply by 100."),
           360: N_("one image out of 360 is 1 / 360 of the accuracy."),
           3.6: N_("divide 100 by 360, not 360 by 100.")},
    explanation=N_("100 / 360 = 0.28 points: a difference of a point or less between two models is "
                   "three images, within the noise of one split."),
    hint=N_("One image out of 360, in points of a percentage. Section 3, the last paragraph."),
    variable="q8", what=N_("one image, in percentage points"), rel=0.02,
    solution="q8 = 100 / 360")
