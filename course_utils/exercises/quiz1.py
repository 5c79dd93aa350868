"""Chapter 1's questionnaire (data): normalisation, augmentation, splits, loaders, labels."""

from __future__ import annotations

from ..i18n import N_
from .questionnaire import Choice, Number

q1 = Choice(
    N_("Chapter 1 questionnaire, question 1 (the ImageNet mean and std)"),
    question=N_("Both transforms end with `Normalize(IMAGENET_MEAN, IMAGENET_STD)`. Why those "
                "numbers?"),
    choices={
        "A": N_("They put every pixel between 0 and 1."),
        "B": N_("They make each image have mean exactly 0 and standard deviation exactly 1 in "
                "every channel."),
        "C": N_("They are the per-channel statistics of ImageNet's photos: photos taken together "
                "come out with about zero mean and unit spread, the scale the initialisation and "
                "BatchNorm are designed for, and the model stays compatible with torchvision's "
                "pretrained weights."),
        "D": N_("They remove the colours, so that only the shapes are left."),
    },
    answer="C",
    why={"A": N_("ToTensor() already gives pixels in [0, 1]; Normalize then shifts and scales "
                 "them, so the values leave [0, 1] (about -2 to 2.6)."),
         "B": N_("they are statistics of many photos taken together; one image keeps its own "
                 "colours and lands far from 0 and 1 (section 2 printed one with much red and "
                 "little green)."),
         "D": N_("Normalize subtracts a number and divides by another in each channel: a red image "
                 "stays redder than a green one.")},
    explanation=N_("The mean and std of ImageNet's training photos, per channel: inputs on the "
                   "scale the network's initialisation and BatchNorm expect, and the same "
                   "preparation as torchvision's pretrained weights."),
    hint=N_("Section 2, the paragraph after the two transforms, and the printed statistics of one "
            "image and of a few hundred."),
    variable="q1")

q2 = Choice(
    N_("Chapter 1 questionnaire, question 2 (augmentation only for training)"),
    question=N_("Why does only the training transform augment (flips and shifts), while evaluation "
                "is deterministic?"),
    choices={
        "A": N_("Random transforms raise an error once the model is in evaluation mode."),
        "B": N_("Augmentation is slow, so it is skipped where speed matters."),
        "C": N_("Augmented test images would leak the training labels into the test set."),
        "D": N_("Varied copies of each training image teach the network the shape rather than the "
                "exact pixels; augmenting the test images would only make the measured accuracy "
                "noisy."),
    },
    answer="D",
    why={"A": N_("transforms know nothing of the model's mode; they are applied by the dataset, "
                 "before the model sees anything."),
         "B": N_("a flip or a shift costs next to nothing beside the network; the reason is what "
                 "it does to the measurement, not its speed."),
         "C": N_("a flipped test image is still a test image: no training label goes anywhere.")},
    explanation=N_("Augmentation is a training device: every epoch sees new versions of each "
                   "image. A measurement should be repeatable, so evaluation uses one fixed view."),
    hint=N_("Section 2, the two bullet points on the training and the evaluation transform."),
    variable="q2")

q3 = Choice(
    N_("Chapter 1 questionnaire, question 3 (validation and test)"),
    question=N_("The split keeps a **validation** set beside the test set. Why not choose the best "
                "epoch on the test set?"),
    choices={
        "A": N_("A score that was used to choose among epochs is optimistic; the test set, "
                "untouched until the end, gives an honest estimate of the accuracy on new images."),
        "B": N_("The test set is augmented, the validation set is not."),
        "C": N_("The validation images come from a different folder than the test images."),
        "D": N_("The test set is too small to compute an accuracy."),
    },
    answer="A",
    why={"B": N_("neither is augmented: both use the evaluation transform."),
         "C": N_("all three parts come from the same folder, split by `stratified_split`."),
         "D": N_("it is the same size as the validation set (15 % each); size is not the reason.")},
    explanation=N_("Choosing the best of several noisy scores picks a lucky one; the test split "
                   "must not influence any choice, so that its score stays unbiased."),
    hint=N_("Section 3: what the training loop uses the validation set for."),
    variable="q3")

q4 = Choice(
    N_("Chapter 1 questionnaire, question 4 (a seeded, stratified split)"),
    question=N_("What do the seed and the stratification of `stratified_split` give you that the "
                "lesson's `random_split` does not?"),
    choices={
        "A": N_("A harder test set."),
        "B": N_("The same split on every run and every machine, so runs can be compared; and every "
                "part keeps each class's share."),
        "C": N_("A faster split."),
        "D": N_("A split without duplicate images."),
    },
    answer="B",
    why={"A": N_("the test set is drawn the same way as the others; nothing makes it harder."),
         "C": N_("both are instant; speed is not what the split is for."),
         "D": N_("neither split looks at the pixels; each image is in exactly one part either "
                 "way.")},
    explanation=N_("A seeded generator repeats the split exactly; splitting each class on its own "
                   "keeps a small class from nearly vanishing from the test set."),
    hint=N_("What changes from one run to the next with an unseeded split, and what happens to a "
            "small class? Section 3, the first paragraph."),
    variable="q4")

q5 = Choice(
    N_("Chapter 1 questionnaire, question 5 (the test loader does not shuffle)"),
    question=N_("Why does the test loader not shuffle?"),
    choices={
        "A": N_("Shuffling the test images would change the accuracy."),
        "B": N_("A DataLoader cannot shuffle a `Subset`."),
        "C": N_("The order cannot change a loss or an accuracy, and a fixed order keeps \"test "
                "image 17\" the same image every time, so a result can be traced back to its "
                "image."),
        "D": N_("Shuffling makes evaluation slower than training."),
    },
    answer="C",
    why={"A": N_("an accuracy counts correct images whatever their order."),
         "B": N_("the training loader shuffles a `Subset` in this very chapter."),
         "D": N_("shuffling draws one permutation per epoch: it costs nothing measurable.")},
    explanation=N_("Shuffling helps training only; for evaluation it just makes results "
                   "untraceable."),
    hint=N_("Can the order of the images change a count of correct answers? Section 4, the first "
            "paragraph."),
    variable="q5")

q6 = Number(
    N_("Chapter 1 questionnaire, question 6 (an unbalanced folder)"),
    question=N_("A folder holds 900 images of class A and 100 of class B. What accuracy (a "
                "fraction between 0 and 1) does a model reach that always answers A, whatever the "
                "image?"),
    expected=0.9,
    known={0.5: N_("a coin toss between two classes scores 0.5; always answering A is right on "
                   "every one of the 900 images of A."),
           0.1: N_("that is the share of class B; the model is right on the images of A."),
           90: N_("give the accuracy as a fraction between 0 and 1, not a percentage.")},
    explanation=N_("900 / 1000 = 0.9: that is why the chapter counts the images per class before "
                   "training. On such a folder, 90 % accuracy says nothing."),
    hint=N_("Count the images the model gets right, then divide by all of them. Section 1, \"The "
            "class balance\"."),
    variable="q6", what=N_("the accuracy of always answering A"), rel=1e-6,
    solution="q6 = 900 / (900 + 100)")

q7 = Number(
    N_("Chapter 1 questionnaire, question 7 (a hidden folder)"),
    question=N_("A folder has the class folders `robin/` and `sparrow/`, and JupyterLab has "
                "created a hidden `.ipynb_checkpoints/` in it with an image inside. How many "
                "classes does torchvision's `ImageFolder` find?"),
    expected=3,
    known={2: N_("that is what `ImageFolderDataset` finds, because it skips hidden entries; "
                 "torchvision's `ImageFolder` does not, and makes `.ipynb_checkpoints` a class.")},
    explanation=N_("`ImageFolder` trusts the folder: `.ipynb_checkpoints` becomes a third class, "
                   "the model gets an output for it, and every metric is off."),
    hint=N_("Does torchvision's ImageFolder skip hidden folders? Section 1, \"What ImageFolder "
            "gets wrong\"."),
    variable="q7", what=N_("the number of classes ImageFolder finds"))

q8 = Choice(
    N_("Chapter 1 questionnaire, question 8 (resizing for evaluation)"),
    question=N_("The lesson resizes every image with `Resize([224, 224])`; the evaluation "
                "transform resizes the shorter side, then keeps the central square. What does that "
                "change?"),
    choices={
        "A": N_("Nothing for square images; a wide photo is no longer squashed (a circle stays a "
                "circle), at the price of cutting off its long sides."),
        "B": N_("It makes evaluation random, like training."),
        "C": N_("It makes the images smaller than 224 pixels."),
        "D": N_("It is needed because `Resize([224, 224])` cannot produce tensors."),
    },
    answer="A",
    why={"B": N_("`Resize` and `CenterCrop` are deterministic: the same image gives the same "
                 "tensor."),
         "C": N_("both end at IMAGE_SIZE x IMAGE_SIZE."),
         "D": N_("neither produces tensors; `ToTensor()` does, after them.")},
    explanation=N_("Squashing changes an object's proportions; cropping keeps them and loses only "
                   "the borders of the long side."),
    hint=N_("Section 2, the bullet point on the evaluation transform."),
    variable="q8")

q9 = Choice(
    N_("Chapter 1 questionnaire, question 9 (labels are positions)"),
    question=N_("A trained model outputs class 2 for an image. What turns that number back into a "
                "name?"),
    choices={
        "A": N_("The number of images in each folder."),
        "B": N_("torchvision's list of the 1,000 ImageNet classes."),
        "C": N_("The DataLoader's batch size."),
        "D": N_("The sorted list of class-folder names (`full.classes`), kept with the model: "
                "chapter 4 stores it in every checkpoint."),
    },
    answer="D",
    why={"A": N_("counts say how balanced the classes are, not which one is number 2."),
         "B": N_("the model was trained on this folder's classes, not ImageNet's."),
         "C": N_("the batch size has nothing to do with labels.")},
    explanation=N_("A label is a class's position in the sorted folder names; without that list a "
                   "model's outputs are just numbers."),
    hint=N_("A label is a position in a list. Which list? Section 1, after the dataset is "
            "created."),
    variable="q9")
