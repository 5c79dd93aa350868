"""Chapter 3's questionnaire (ResNet-50 assembled): what the depth counts, the head, counting on
the meta device, the lesson's functional model, loading, v1 and v1.5, multiply-adds."""

from __future__ import annotations

from .questionnaire import Choice, Number

q1 = Choice(
    "Chapter 3 questionnaire, question 1 (what the 50 counts)",
    question="What does the 50 in ResNet-50 count?",
    choices={
        "A": "Its residual blocks.",
        "B": "All its layers, BatchNorm and pooling included.",
        "C": "Its parameters, in millions.",
        "D": "The layers with weights on the main path: the stem conv, 3 convs in each of the 16 "
             "bottlenecks, and fc: 1 + 16 x 3 + 1.",
    },
    answer="D",
    why={"A": "that is the lesson's claim; ResNet-50 has 3 + 4 + 6 + 3 = 16 blocks.",
         "B": "BatchNorm and pooling layers are not counted, nor the projections beside the main "
              "path.",
         "C": "it has 25.6 million."},
    explanation="The paper counts weight layers along the main path; the same rule names every "
                "member of the family.",
    hint="Count the blocks of [3, 4, 6, 3], then count the layers with weights. Section 4, "
         "\"What the 50 counts\".",
    variable="q1")

q2 = Choice(
    "Chapter 3 questionnaire, question 2 (one head for any size)",
    question="The same ResNet-50 accepts 224-pixel and 64-pixel images. Why does its head work "
             "for both?",
    choices={
        "A": "Global average pooling turns a feature map of any height and width into one number "
             "per channel, so fc always receives 2048 numbers.",
        "B": "The stem resizes every image to 224 pixels first.",
        "C": "fc adapts its number of inputs to the image.",
        "D": "torchvision resizes the input automatically.",
    },
    answer="A",
    why={"B": "the stem convolves and pools; it resizes nothing.",
         "C": "an nn.Linear has a fixed number of inputs, fixed when it is created.",
         "D": "nothing is resized: a 64-pixel image goes through at 64 pixels."},
    explanation="The 7x7 map of a 224-pixel image and the 2x2 map of a 64-pixel one both pool to "
                "(N, 2048, 1, 1).",
    hint="What does the layer just before fc do to the height and width? Section 1, the bullet "
         "point on the head.",
    variable="q2")

q3 = Choice(
    "Chapter 3 questionnaire, question 3 (counting on the meta device)",
    question="Why does the chapter build the models on the `meta` device to count their parameters "
             "and multiply-adds?",
    choices={
        "A": "Counts on the CPU are less accurate.",
        "B": "Tensors on `meta` have a shape but no memory and nothing is computed, so even "
             "ResNet-152's count is instant.",
        "C": "A random initialisation would change the count.",
        "D": "`meta` runs on the GPU when there is one.",
    },
    answer="B",
    why={"A": "a count of elements is exact on any device.",
         "C": "the count depends only on the shapes, never on the values.",
         "D": "`meta` runs nowhere: it only tracks shapes."},
    explanation="Counting needs only shapes; `meta` gives shapes without allocating or "
                "initialising anything.",
    hint="Does a parameter count depend on the values of the weights? Section 4, before the "
         "table of the family.",
    variable="q3")

q4 = Choice(
    "Chapter 3 questionnaire, question 4 (the lesson's functional ResNet50)",
    question="Why can the lesson's `ResNet50()`, which creates its layers inside the function "
             "calls, never learn?",
    choices={
        "A": "It has the wrong number of blocks.",
        "B": "It has no softmax at the end.",
        "C": "Layers created inside a call are thrown away after it: new random weights on every "
             "call, and nothing registered with the module, so the optimiser gets no parameters.",
        "D": "Keras-style functions cannot run in PyTorch.",
    },
    answer="C",
    why={"A": "its structure follows the paper; where the weights live is the problem.",
         "B": "CrossEntropyLoss applies the softmax itself; a model returns raw scores.",
         "D": "they run: every call builds fresh layers and applies them once."},
    explanation="A module knows only the layers assigned to it in __init__; create each layer "
                "once, store it on self, call it in forward.",
    hint="Where do the weights of a layer created inside a function call live after the call? "
         "Section 6.",
    variable="q4")

q5 = Choice(
    "Chapter 3 questionnaire, question 5 (what strict loading proves)",
    question="torchvision's ResNet-50 state dict loads into ours with `strict=True`. What does "
             "that prove, on its own?",
    choices={
        "A": "That every tensor (weights, biases, BatchNorm statistics) found one of the same name "
             "and shape, with none left over; not yet that the two models compute the same "
             "function.",
        "B": "That the two models give the same outputs.",
        "C": "That the weights are pretrained.",
        "D": "That our model trains as fast as torchvision's.",
    },
    answer="A",
    why={"B": "names and shapes can match while forward uses the layers differently (v1 and v1.5 "
              "load into each other); the chapter compares the outputs separately.",
         "C": "the chapter loads a randomly initialised model (weights=None).",
         "D": "loading says nothing about speed."},
    explanation="Strict loading checks the names and shapes; equal outputs on the same input are "
                "the second half of the proof.",
    hint="Section 5, and section 7's remark that a v1.5 state dict loads into v1.",
    variable="q5")

q6 = Choice(
    "Chapter 3 questionnaire, question 6 (v1 and v1.5)",
    question="What does torchvision's ResNet v1.5 change against the paper's v1?",
    choices={
        "A": "It adds parameters to every bottleneck.",
        "B": "It moves the stride of a stage's first bottleneck from the first 1x1 conv to the 3x3 "
             "conv, which no longer skips three pixels out of four: about 0.5 % more accurate, "
             "for about 6 % more compute.",
        "C": "It removes the projection shortcuts.",
        "D": "It replaces the 7x7 stem with three 3x3 convs.",
    },
    answer="B",
    why={"A": "both have the same parameters under the same names.",
         "C": "both project where the shape changes.",
         "D": "that is another variant (ResNet-C); v1.5 keeps the 7x7 stem."},
    explanation="A strided 1x1 conv reads one pixel of every 2x2 square; on the 3x3 conv the "
                "stride's window still covers all of them.",
    hint="Which conv of the first bottleneck carries the stride, and what does a strided 1x1 "
         "conv read? Section 7.",
    variable="q6")

q7 = Number(
    "Chapter 3 questionnaire, question 7 (multiply-adds and FLOPs)",
    question="torchinfo counts 4.09 billion multiply-adds for one 224x224 image. How many billion "
             "floating-point operations (GFLOPs) is that?",
    expected=8.18,
    known={4.09: "a multiply-add is two floating-point operations: a multiplication and an "
                 "addition.",
           2.045: "a multiply-add is two operations, so multiply, not divide.",
           3.8: "3.8 is the paper's figure for v1, in multiply-adds too."},
    explanation="4.09 x 2 = 8.18: \"ResNet-50 needs about 8 GFLOPs\" and \"4.1 GMACs\" are the "
                "same number.",
    hint="How many floating-point operations is one multiply-add? Section 3, \"Going deeper: "
         "FLOPs, MACs and the paper's 3.8 G\".",
    variable="q7", what="the GFLOPs of one 224x224 image", rel=0.01,
    solution="q7 = 4.09 * 2")

q8 = Choice(
    "Chapter 3 questionnaire, question 8 (where the parameters are)",
    question="`layer4` holds 15 of ResNet-50's 25.6 million parameters, though its feature maps "
             "are the smallest (7x7). Why?",
    choices={
        "A": "It has the most blocks.",
        "B": "A conv's parameters grow with its input times its output channels, and layer4 is "
             "the widest stage (512 wide, 2048 out); the size of the feature map does not enter "
             "the count.",
        "C": "Its projection shortcut uses 3x3 convs.",
        "D": "Small feature maps need more parameters to be seen.",
    },
    answer="B",
    why={"A": "it has 3 blocks; layer3 has 6.",
         "C": "all projections are 1x1 convs.",
         "D": "the feature map's size changes the multiply-adds, never the parameters."},
    explanation="Parameters depend on kernel size and channels only; the multiply-adds also "
                "depend on the map's size, which is why every stage costs about the same compute.",
    hint="Section 2, \"Notice that\", and section 1 on the stages.",
    variable="q8")
