"""Chapter 6's questionnaire (why residuals work): the degradation experiment, option A, gradients
at initialisation and after training, seeds, ResNet-1202, what the test errors allow."""

from __future__ import annotations

from ..i18n import N_
from .questionnaire import Choice, Number

q1 = Choice(
    N_("Chapter 6 questionnaire, question 1 (why the deeper plain net trains worse)"),
    question=N_("Plain-56 ends at the chance line while plain-20 learns, on the same data, with "
                "the same recipe. Why does the deeper plain net train worse?"),
    choices={
        "A": N_("It overfits the 424 training images."),
        "B": N_("It is harder to optimise: it contains everything plain-20 has and could make its "
                "36 extra layers identities, but the optimiser does not find such a solution."),
        "C": N_("Its gradients vanish, so AdamW cannot move its first layers."),
        "D": N_("It has fewer parameters per layer."),
    },
    answer="B",
    why={"A": N_("overfitting would give a *low* training loss; plain-56's training loss stays at "
                 "chance."),
         "C": N_("at initialisation its gradients *explode* towards the first layers, and AdamW "
                 "rescales every weight's step anyway; the trouble is not only the gradients' "
                 "size."),
         "D": N_("its layers are the same widths as plain-20's; it has more parameters in all.")},
    explanation=N_("The degradation problem is an optimisation problem: more layers, same data, "
                   "higher training loss."),
    hint=N_("Is plain-56's *training* loss high or low? The introduction, and section 6, \"What "
            "you should see\"."),
    variable="q1")

q2 = Choice(
    N_("Chapter 6 questionnaire, question 2 (why option A here)"),
    question=N_("Why does the experiment use the paper's option A shortcuts (subsample, then pad "
                "with zero channels) rather than projections?"),
    choices={
        "A": N_("Option A is more accurate than projections."),
        "B": N_("The paper had no projections."),
        "C": N_("Option A has no weights, so the plain nets and the ResNets have identical "
                "parameters: any difference in how they train comes from the shortcuts alone."),
        "D": N_("Option A is faster on a GPU."),
    },
    answer="C",
    why={"A": N_("the paper found projections slightly better (option B); accuracy is not why."),
         "B": N_("projections are the paper's option B, used in ResNet-50."),
         "D": N_("speed is not the reason; a fair comparison is.")},
    explanation=N_("A controlled experiment changes one thing: here, the shortcuts, and nothing "
                   "else."),
    hint=N_("Section 1, \"The paper's CIFAR networks\", after the two block classes."),
    variable="q2")

q3 = Number(
    N_("Chapter 6 questionnaire, question 3 (what option A costs)"),
    question=N_("How many parameters do the option-A shortcuts of ResNet-56 add in all?"),
    expected=0,
    known={2752: N_("that is what option B's two projections would cost; option A learns nothing."),
           2: N_("two stage transitions, but each subsamples and pads: no weights at all.")},
    explanation=N_("Slicing and zero padding have nothing to learn: ResNet-56 and plain-56 have "
                   "the same parameter count."),
    hint=N_("Section 1, \"The paper's CIFAR networks\": the code proves the counts equal."),
    variable="q3", what=N_("the parameters of option A"), rel=0.0)

q4 = Choice(
    N_("Chapter 6 questionnaire, question 4 (gradients at initialisation)"),
    question=N_("With BatchNorm, what did the chapter measure in plain-56's gradients at "
                "initialisation, going from the last layer back to the first?"),
    choices={
        "A": N_("They vanish: the first layers get almost nothing."),
        "B": N_("They stay level."),
        "C": N_("They are exactly zero in the first stage."),
        "D": N_("They explode: the first conv gets more than a thousand times the gradient of the "
                "last; BatchNorm keeps the forward signal healthy, not the backward one."),
    },
    answer="D",
    why={"A": N_("that is the common story; with BatchNorm the measurement shows the opposite."),
         "B": N_("ResNet-56's are far flatter; plain-56's grow layer after layer."),
         "C": N_("every layer gets a gradient; the question is how large.")},
    explanation=N_("About 1600x between plain-56's first and last conv, against about 12x in "
                   "ResNet-56: every block hands the gradient straight back through + x."),
    hint=N_("Section 3, \"Gradients at initialisation\", what to notice."),
    variable="q4")

q5 = Choice(
    N_("Chapter 6 questionnaire, question 5 (several seeds)"),
    question=N_("Why is every network trained once per seed, three seeds in all?"),
    choices={
        "A": N_("Averaging the seeds gives a better network."),
        "B": N_("One run on a dataset this small says little; only what holds on every seed, with "
                "the spread shown, is claimed."),
        "C": N_("Each seed trains faster than the last."),
        "D": N_("AdamW needs three seeds."),
    },
    answer="B",
    why={"A": N_("the seeds' networks are not combined; the seeds measure how much a result "
                 "varies."),
         "C": N_("every run costs the same."),
         "D": N_("an optimiser knows nothing of seeds.")},
    explanation=N_("A seed sets the initial weights and the order of the batches; a claim that "
                   "flips with the seed is noise."),
    hint=N_("Section 4, \"Training: one recipe, three seeds, four networks\"."),
    variable="q5")

q6 = Choice(
    N_("Chapter 6 questionnaire, question 6 (ResNet-1202)"),
    question=N_("The paper's deepest network, ResNet-1202, trains as well as ResNet-110 but tests "
                "worse (7.93 % against 6.43 % error). What does that say?"),
    choices={
        "A": N_("Shortcuts remove the optimisation barrier to depth; they do not make every extra "
                "layer useful: 19.4 million parameters overfit 50,000 images."),
        "B": N_("With a suitable structure a deeper network is always better."),
        "C": N_("Shortcuts stop working beyond 1000 layers."),
        "D": N_("ResNet-1202 was trained too briefly."),
    },
    answer="A",
    why={"B": N_("that is the lesson's claim, and exactly what ResNet-1202 contradicts."),
         "C": N_("it trains as well as ResNet-110: the shortcuts still work."),
         "D": N_("its training error is as low as ResNet-110's; the gap is in the test error.")},
    explanation=N_("Trainable is not the same as better: the extra capacity is spent memorising "
                   "(overfitting), which the authors name as the cause."),
    hint=N_("The introduction, the paragraph on the lesson's claim."),
    variable="q6")

q7 = Choice(
    N_("Chapter 6 questionnaire, question 7 (gradients after training)"),
    question=N_("After training, the ResNets' gradients still fall from the first layer to the "
                "last. What, then, does the shortcut change?"),
    choices={
        "A": N_("Nothing measurable."),
        "B": N_("It makes every layer's gradient equal."),
        "C": N_("The floor: every layer of ResNet-56 keeps a gradient within a factor of about 25 "
                "of every other, because each block hands the gradient straight back through + x."),
        "D": N_("It removes the gradients of the branches."),
    },
    answer="C",
    why={"A": N_("plain-56's later layers sink an order of magnitude below ResNet-56's at the same "
                 "depth."),
         "B": N_("the slope is still there; the spread is limited."),
         "D": N_("the branches get gradients and learn; the shortcut only adds a route.")},
    explanation=N_("In the plain net the gradient must pass through every layer in between; the "
                   "shortcut bounds how small any layer's gradient can get."),
    hint=N_("Compare how far apart the layers' gradients are in the two kinds of network. Section "
            "5, \"Gradients after training\"."),
    variable="q7")

q8 = Choice(
    N_("Chapter 6 questionnaire, question 8 (what the test errors allow)"),
    question=N_("ResNet-20 tests at 46.2 % error and ResNet-56 at 51.9 % on 88 test images (one "
                "image is 1.1 %), each spread over more than 15 points between seeds. What can you "
                "conclude about their order?"),
    choices={
        "A": N_("ResNet-20 generalises better."),
        "B": N_("Depth hurts residual networks."),
        "C": N_("ResNet-56 overfits."),
        "D": N_("Nothing: the difference is about five images, far inside the spread between "
                "seeds."),
    },
    answer="D",
    why={"A": N_("five images' difference, far smaller than the seed-to-seed spread, "
                 "supports no order."),
         "B": N_("both trained equally well; the test difference is noise."),
         "C": N_("the data cannot tell: both nearly memorised the training set, and their test "
                 "errors are the same within noise.")},
    explanation=N_("The chapter claims only what survives the spread: the deeper plain net trains "
                   "worse, the deeper ResNet does not."),
    hint=N_("Compare the difference with one image's worth and with the spread between seeds. "
            "Section 6, what does not hold."),
    variable="q8")
