"""Chapter 3's questionnaire (ResNet-50 assembled): what the depth counts, the head, counting on
the meta device, the lesson's functional model, loading, v1 and v1.5, multiply-adds."""

from __future__ import annotations

from ..i18n import N_
from .questionnaire import Choice, Number

q1 = Choice(
    N_("Chapter 3 questionnaire, question 1 (what the 50 counts)"),
    question=N_("What does the 50 in ResNet-50 count?"),
    choices={
        "A": N_("Its residual blocks."),
        "B": N_("All its layers, BatchNorm and pooling included."),
        "C": N_("Its parameters, in millions."),
        "D": N_("The layers with weights on the main path: the stem conv, 3 convs in each of the "
                "16 bottlenecks, and fc: 1 + 16 x 3 + 1."),
    },
    answer="D",
    why={"A": N_("that is the lesson's claim; ResNet-50 has 3 + 4 + 6 + 3 = 16 blocks."),
         "B": N_("BatchNorm and pooling layers are not counted, nor the projections beside the "
                 "main path."),
         "C": N_("it has 25.6 million.")},
    explanation=N_("The paper counts weight layers along the main path; the same rule names every "
                   "member of the family."),
    hint=N_("Count the blocks of [3, 4, 6, 3], then count the layers with weights. Section 4, "
            "\"What the 50 counts\"."),
    variable="q1")

q2 = Choice(
    N_("Chapter 3 questionnaire, question 2 (one head for any size)"),
    question=N_("The same ResNet-50 accepts 224-pixel and 64-pixel images. Why does its head work "
                "for both?"),
    choices={
        "A": N_("Global average pooling turns a feature map of any height and width into one "
                "number per channel, so fc always receives 2048 numbers."),
        "B": N_("The stem resizes every image to 224 pixels first."),
        "C": N_("fc adapts its number of inputs to the image."),
        "D": N_("torchvision resizes the input automatically."),
    },
    answer="A",
    why={"B": N_("the stem convolves and pools; it resizes nothing."),
         "C": N_("an nn.Linear has a fixed number of inputs, fixed when it is created."),
         "D": N_("nothing is resized: a 64-pixel image goes through at 64 pixels.")},
    explanation=N_("The 7x7 map of a 224-pixel image and the 2x2 map of a 64-pixel one both pool "
                   "to (N, 2048, 1, 1)."),
    hint=N_("What does the layer just before fc do to the height and width? Section 1, the bullet "
            "point on the head."),
    variable="q2")

q3 = Choice(
    N_("Chapter 3 questionnaire, question 3 (counting on the meta device)"),
    question=N_("Why does the chapter build the models on the `meta` device to count their "
                "parameters and multiply-adds?"),
    choices={
        "A": N_("Counts on the CPU are less accurate."),
        "B": N_("Tensors on `meta` have a shape but no memory and nothing is computed, so even "
                "ResNet-152's count is instant."),
        "C": N_("A random initialisation would change the count."),
        "D": N_("`meta` runs on the GPU when there is one."),
    },
    answer="B",
    why={"A": N_("a count of elements is exact on any device."),
         "C": N_("the count depends only on the shapes, never on the values."),
         "D": N_("`meta` runs nowhere: it only tracks shapes.")},
    explanation=N_("Counting needs only shapes; `meta` gives shapes without allocating or "
                   "initialising anything."),
    hint=N_("Does a parameter count depend on the values of the weights? Section 4, before the "
            "table of the family."),
    variable="q3")

q4 = Choice(
    N_("Chapter 3 questionnaire, question 4 (the lesson's functional ResNet50)"),
    question=N_("Why can the lesson's `ResNet50()`, which creates its layers inside the function "
                "calls, never learn?"),
    choices={
        "A": N_("It has the wrong number of blocks."),
        "B": N_("It has no softmax at the end."),
        "C": N_("Layers created inside a call are thrown away after it: new random weights on "
                "every call, and nothing registered with the module, so the optimiser gets no "
                "parameters."),
        "D": N_("Keras-style functions cannot run in PyTorch."),
    },
    answer="C",
    why={"A": N_("its structure follows the paper; where the weights live is the problem."),
         "B": N_("CrossEntropyLoss applies the softmax itself; a model returns raw scores."),
         "D": N_("they run: every call builds fresh layers and applies them once.")},
    explanation=N_("A module knows only the layers assigned to it in __init__; create each layer "
                   "once, store it on self, call it in forward."),
    hint=N_("Where do the weights of a layer created inside a function call live after the call? "
            "Section 6."),
    variable="q4")

q5 = Choice(
    N_("Chapter 3 questionnaire, question 5 (what strict loading proves)"),
    question=N_("torchvision's ResNet-50 state dict loads into ours with `strict=True`. What does "
                "that prove, on its own?"),
    choices={
        "A": N_("That every tensor (weights, biases, BatchNorm statistics) found one of the same "
                "name and shape, with none left over; not yet that the two models compute the same "
                "function."),
        "B": N_("That the two models give the same outputs."),
        "C": N_("That the weights are pretrained."),
        "D": N_("That our model trains as fast as torchvision's."),
    },
    answer="A",
    why={"B": N_("names and shapes can match while forward uses the layers differently (v1 and "
                 "v1.5 load into each other); the chapter compares the outputs separately."),
         "C": N_("the chapter loads a randomly initialised model (weights=None)."),
         "D": N_("loading says nothing about speed.")},
    explanation=N_("Strict loading checks the names and shapes; equal outputs on the same input "
                   "are the second half of the proof."),
    hint=N_("Section 5, and section 7's remark that a v1.5 state dict loads into v1."),
    variable="q5")

q6 = Choice(
    N_("Chapter 3 questionnaire, question 6 (v1 and v1.5)"),
    question=N_("What does torchvision's ResNet v1.5 change against the paper's v1?"),
    choices={
        "A": N_("It adds parameters to every bottleneck."),
        "B": N_("It moves the stride of a stage's first bottleneck from the first 1x1 conv to the "
                "3x3 conv, which no longer skips three pixels out of four: about 0.5 % more "
                "accurate, for about 6 % more compute."),
        "C": N_("It removes the projection shortcuts."),
        "D": N_("It replaces the 7x7 stem with three 3x3 convs."),
    },
    answer="B",
    why={"A": N_("both have the same parameters under the same names."),
         "C": N_("both project where the shape changes."),
         "D": N_("that is another variant (ResNet-C); v1.5 keeps the 7x7 stem.")},
    explanation=N_("A strided 1x1 conv reads one pixel of every 2x2 square; on the 3x3 conv the "
                   "stride's window still covers all of them."),
    hint=N_("Which conv of the first bottleneck carries the stride, and what does a strided 1x1 "
            "conv read? Section 7."),
    variable="q6")

q7 = Number(
    N_("Chapter 3 questionnaire, question 7 (multiply-adds and FLOPs)"),
    question=N_("torchinfo counts 4.09 billion multiply-adds for one 224x224 image. How many "
                "billion floating-point operations (GFLOPs) is that?"),
    expected=8.18,
    known={4.09: N_("a multiply-add is two floating-point operations: a multiplication and an "
                    "addition."),
           2.045: N_("a multiply-add is two operations, so multiply, not divide."),
           3.8: N_("3.8 is the paper's figure for v1, in multiply-adds too.")},
    explanation=N_("4.09 x 2 = 8.18: \"ResNet-50 needs about 8 GFLOPs\" and \"4.1 GMACs\" are the "
                   "same number."),
    hint=N_("How many floating-point operations is one multiply-add? Section 3, \"Going deeper: "
            "FLOPs, MACs and the paper's 3.8 G\"."),
    variable="q7", what=N_("the GFLOPs of one 224x224 image"), rel=0.01,
    solution="q7 = 4.09 * 2")

q8 = Choice(
    N_("Chapter 3 questionnaire, question 8 (where the parameters are)"),
    question=N_("`layer4` holds 15 of ResNet-50's 25.6 million parameters, though its feature maps "
                "are the smallest (7x7). Why?"),
    choices={
        "A": N_("It has the most blocks."),
        "B": N_("A conv's parameters grow with its input times its output channels, and layer4 is "
                "the widest stage (512 wide, 2048 out); the size of the feature map does not enter "
                "the count."),
        "C": N_("Its projection shortcut uses 3x3 convs."),
        "D": N_("Small feature maps need more parameters to be seen."),
    },
    answer="B",
    why={"A": N_("it has 3 blocks; layer3 has 6."),
         "C": N_("all projections are 1x1 convs."),
         "D": N_("the feature map's size changes the multiply-adds, never the parameters.")},
    explanation=N_("Parameters depend on kernel size and channels only; the multiply-adds also "
                   "depend on the map's size, which is why every stage costs about the same "
                   "compute."),
    hint=N_("Section 2, \"Notice that\", and section 1 on the stages."),
    variable="q8")
