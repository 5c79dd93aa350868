"""Chapter 2's questionnaire (residual blocks): degradation, the block's order, BatchNorm,
shortcuts and what they cost, bottlenecks, gradient flow."""

from __future__ import annotations

from ..i18n import N_
from .questionnaire import Choice, Number

q1 = Choice(
    N_("Chapter 2 questionnaire, question 1 (the degradation problem)"),
    question=N_("He et al. found that a 56-layer plain network reaches a *higher training error* "
                "than a 20-layer one. What does that show?"),
    choices={
        "A": N_("The deeper network overfits: it memorises the training images."),
        "B": N_("The deeper network is harder to optimise: it could copy the shallower one and "
                "make its extra layers identities, but the optimiser does not find that solution."),
        "C": N_("The deeper network has too few parameters for the task."),
        "D": N_("The training set is too small for 56 layers."),
    },
    answer="B",
    why={"A": N_("overfitting *lowers* the training error (and raises the test error); here the "
                 "training error itself is higher."),
         "C": N_("it has more parameters than the 20-layer network, which does better."),
         "D": N_("a small training set makes a network overfit, which would lower its training "
                 "error.")},
    explanation=N_("A deeper network can always do at least as well on its training data, so a "
                   "higher training error is a failure of optimisation: the degradation problem."),
    hint=N_("Does overfitting raise or lower the training error? Section 1, the first paragraph."),
    variable="q1")

q2 = Choice(
    N_("Chapter 2 questionnaire, question 2 (the ReLU after the addition)"),
    question=N_("In the basic block, why does the last ReLU come *after* adding the shortcut, not "
                "before?"),
    choices={
        "A": N_("A ReLU before the addition would make the shapes of the branch and the shortcut "
                "differ."),
        "B": N_("Adding first is faster."),
        "C": N_("With the ReLU before it, the block would output x + (something >= 0): it could "
                "never lower an activation."),
        "D": N_("The ReLU after the addition makes the block linear, which is easier to train."),
    },
    answer="C",
    why={"A": N_("a ReLU keeps the shape of its input; the addition works either way."),
         "B": N_("the same two operations run in either order; speed is not the reason."),
         "D": N_("a ReLU is not linear, wherever it sits.")},
    explanation=N_("The residual F(x) must be able to be negative, so that the block can move its "
                   "input in either direction; the ReLU then acts on the sum."),
    hint=N_("Section 2, right after the residual branch is built."),
    variable="q2")

q3 = Choice(
    N_("Chapter 2 questionnaire, question 3 (no bias in the convolutions)"),
    question=N_("Why are ResNet's convolutions created with `bias=False`?"),
    choices={
        "A": N_("The BatchNorm right after each one subtracts the mean of its input, which removes "
                "any constant bias, and adds its own learned shift."),
        "B": N_("Convolutions with a stride cannot have a bias."),
        "C": N_("A bias makes training unstable."),
        "D": N_("To save memory on the GPU."),
    },
    answer="A",
    why={"B": N_("any convolution can have a bias; nn.Conv2d has one by default."),
         "C": N_("a bias is harmless; here it is only useless."),
         "D": N_("a bias is one number per channel, nothing worth saving; it is left out because "
                 "the BatchNorm cancels it.")},
    explanation=N_("BatchNorm's mean subtraction cancels a constant per channel, and its shift "
                   "(beta) does the bias's job."),
    hint=N_("What does a BatchNorm subtract from its input, and what does it add back? Section 2, "
            "the first paragraph."),
    variable="q3")

q4 = Choice(
    N_("Chapter 2 questionnaire, question 4 (when a block needs a projection)"),
    question=N_("When does a block need a projection shortcut (a 1x1 conv and a BatchNorm) instead "
                "of the identity?"),
    choices={
        "A": N_("Whenever its stride is 2."),
        "B": N_("Whenever the number of channels changes."),
        "C": N_("In every block, so that the shortcut can learn too."),
        "D": N_("Whenever the stride is not 1 *or* the number of channels changes: either one "
                "alone changes the shape of x."),
    },
    answer="D",
    why={"A": N_("not only then: the first block of layer1 keeps the size but goes from 64 to 256 "
                 "channels, and needs a projection too."),
         "B": N_("not only then: a stride of 2 halves the size even at equal channels."),
         "C": N_("identity shortcuts are free and give the gradient a direct route back; the "
                 "paper's option B projects only where the shape changes.")},
    explanation=N_("The addition needs F(x) and x of the same shape; a projection is needed "
                   "exactly where they differ."),
    hint=N_("Section 4, the rule in bold, and its example: layer1's first block in ResNet-50."),
    variable="q4")

q5 = Number(
    N_("Chapter 2 questionnaire, question 5 (what a projection costs)"),
    question=N_("How many parameters does the projection shortcut of the block that goes from 256 "
                "to 512 channels at stride 2 hold (its 1x1 conv and its BatchNorm)?"),
    expected=256 * 512 + 2 * 512,
    known={256 * 512: N_("the BatchNorm after the 1x1 conv adds 2 x 512 parameters (a scale and a "
                         "shift per channel)."),
           256 * 512 * 9 + 2 * 512: N_("the projection is a 1x1 conv: 256 x 512 weights, no 3 x "
                                       "3."),
           256 * 512 + 4 * 512: N_("BatchNorm's running mean and variance are buffers: 2 "
                                   "parameters per channel."),
           256 * 512 + 512 + 2 * 512: N_("the 1x1 conv has no bias: the BatchNorm adds the shift."),
           0: N_("0 is the identity shortcut's cost; this block changes the shape.")},
    explanation=N_("256 x 512 + 2 x 512 = 132,096: the price of a shortcut where the shape "
                   "changes; an identity shortcut costs nothing."),
    hint=N_("Section 2, \"When the shape changes\": the same sum for 64 -> 128."),
    variable="q5", what=N_("the parameters of the 256 -> 512 projection"),
    solution="q5 = 256 * 512 + 2 * 512")

q6 = Choice(
    N_("Chapter 2 questionnaire, question 6 (why a bottleneck)"),
    question=N_("Why do ResNet-50 and deeper use the bottleneck (1x1, 3x3, 1x1) instead of two 3x3 "
                "convolutions?"),
    choices={
        "A": N_("It sees a larger part of the image."),
        "B": N_("It needs no BatchNorm."),
        "C": N_("The 3x3 work happens at a quarter of the width: at 256 channels a bottleneck "
                "costs about 17 times fewer parameters than a basic block, for three layers of "
                "depth instead of two."),
        "D": N_("It has no shortcut, so it is faster."),
    },
    answer="C",
    why={"A": N_("both have one 3x3 conv's worth of reach per block or more; the 1x1 convs add "
                 "none."),
         "B": N_("each of its three convs is followed by a BatchNorm."),
         "D": N_("it has a shortcut like every residual block.")},
    explanation=N_("The 1x1 convs reduce 256 channels to 64 and expand them back, so the expensive "
                   "3x3 conv runs at 64 channels: 70,400 parameters against 1,180,672."),
    hint=N_("Section 3, the first paragraph and \"Counting by hand\"."),
    variable="q6")

q7 = Choice(
    N_("Chapter 2 questionnaire, question 7 (gradient flow)"),
    question=N_("Through a residual block out = x + F(x), what does backpropagation multiply by at "
                "each block?"),
    choices={
        "A": N_("J_F, the Jacobian of the branch alone, as in a plain stack."),
        "B": N_("I + J_F: the product over many blocks always contains the direct path I x I x ... "
                "x I, so the gradient reaches the first layers."),
        "C": N_("Zero, because the identity has no parameters."),
        "D": N_("2 J_F, because the input is used twice."),
    },
    answer="B",
    why={"A": N_("that is the plain stack; the shortcut adds the identity to each factor."),
         "C": N_("the identity has no parameters, but its Jacobian is I, not 0: it passes the "
                 "gradient on unchanged."),
         "D": N_("the derivative of x + F(x) is I + J_F, not twice anything.")},
    explanation=N_("The identity term gives the gradient a route that no layer can shrink or blow "
                   "up (the ReLU after the addition masks some of it; pre-activation blocks remove "
                   "even that)."),
    hint=N_("Differentiate x + F(x) with respect to x. Section 5, \"Going deeper: why the shortcut "
            "helps, in Jacobians\"."),
    variable="q7")

q8 = Choice(
    N_("Chapter 2 questionnaire, question 8 (BatchNorm's momentum)"),
    question=N_("PyTorch's BatchNorm keeps running averages of the batch statistics with "
                "`momentum=0.1`. What does 0.1 mean?"),
    choices={
        "A": N_("Each new batch's statistics count for 10 % of the running average, the old "
                "average for 90 % (Keras calls that momentum 0.9)."),
        "B": N_("The old average keeps 10 %, the new batch counts for 90 %."),
        "C": N_("The running averages are learned with a learning rate of 0.1."),
        "D": N_("10 % of the channels are updated at each batch."),
    },
    answer="A",
    why={"B": N_("that is Keras's meaning of momentum; in PyTorch momentum is the weight of the "
                 "*new* batch, so Keras's 0.99 is PyTorch's 0.01."),
         "C": N_("the running averages are buffers, updated by averaging, not by a gradient."),
         "D": N_("every channel is updated at every training batch.")},
    explanation=N_("Running average = (1 - momentum) x old + momentum x batch statistic; eval mode "
                   "then normalises with these averages."),
    hint=N_("Section 2, \"BatchNorm's running statistics\": one batch whose mean is 5 goes into a "
            "fresh BatchNorm; what is its running mean after it?"),
    variable="q8")
