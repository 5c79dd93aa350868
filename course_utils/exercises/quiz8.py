"""Chapter 8's questionnaire (transfer learning): a new head on a pretrained backbone, feature
extraction vs fine-tuning with a smaller backbone learning rate, BatchNorm in a frozen backbone,
never a silent fallback to random weights, what the measurement over seeds shows, the source task.

`python -m course_utils.exercises.questionnaire notebooks/08_transfer_learning.ipynb quiz8` writes
the three cells before the chapter's Summary.
"""

from __future__ import annotations

from ..i18n import N_
from .questionnaire import Choice, Number

q1 = Choice(
    N_("Chapter 8 questionnaire, question 1 (when to freeze the backbone)"),
    question=N_("You have 20 photos per class and a backbone pretrained on a large, similar task. "
                "What is the usual first choice?"),
    choices={
        "A": N_("Fine-tune every layer with the pretrained learning rate of the source task."),
        "B": N_("Train the whole network from scratch: pretrained features never fit a new task."),
        "C": N_("Freeze the backbone and train only the new head (feature extraction); fine-tune "
                "the backbone too, with a smaller learning rate, once there are more images or the "
                "new task differs more from the source."),
        "D": N_("Freeze the head and train only the backbone."),
    },
    answer="C",
    why={"A": N_("with so few images, large updates to millions of pretrained weights overfit and "
                 "destroy the features that make transfer work."),
         "B": N_("from scratch, 20 images per class are far too few; the pretrained features are "
                 "exactly what makes so few enough."),
         "D": N_("the new head starts random: it is the part that must learn.")},
    explanation=N_("Few images: reuse the features as they are and learn only the head; more "
                   "images (or a more different task): let the backbone adapt, gently."),
    hint=N_("Section 3 (three ways to start), and section 4's table at 5 and 10 images per class."),
    variable="q1")

q2 = Choice(
    N_("Chapter 8 questionnaire, question 2 (a smaller backbone learning rate)"),
    question=N_("When fine-tuning, why give the backbone a smaller learning rate than the new "
                "head?"),
    choices={
        "A": N_("The backbone's pretrained weights are already good and need small corrections; "
                "the head starts random and needs large steps, and the errors of a random head "
                "would otherwise push large, noisy updates into the backbone."),
        "B": N_("The backbone has fewer parameters."),
        "C": N_("A smaller learning rate makes the backbone run faster."),
        "D": N_("Pretrained weights cannot receive gradients."),
    },
    answer="A",
    why={"B": N_("it has almost all of them: 23.5 million, against 8,196 in a 4-class head."),
         "C": N_("the learning rate changes the size of a step, not its cost."),
         "D": N_("they receive gradients like any parameter unless requires_grad is switched "
                 "off.")},
    explanation=N_("Two parameter groups in one optimiser: a small rate keeps what the backbone "
                   "knows, a large one lets the head learn."),
    hint=N_("Which part starts random, and which already knows something? Section 3, on "
            "fine-tuning's two learning rates."),
    variable="q2")

q3 = Choice(
    N_("Chapter 8 questionnaire, question 3 (BatchNorm in a frozen backbone)"),
    question=N_("You freeze the backbone with `requires_grad_(False)` and train the head with "
                "`model.train()`. What do the backbone's BatchNorm layers do?"),
    choices={
        "A": N_("Nothing: freezing stops everything in the backbone."),
        "B": N_("They normalise with each batch's statistics and update their running mean and "
                "variance with the new data: the \"frozen\" backbone still changes. It must also "
                "stay in eval mode, which every `model.train()` undoes (freeze_backbone's forward "
                "pre-hook puts it back before each forward pass)."),
        "C": N_("They raise an error, because their parameters have no gradient."),
        "D": N_("They are removed from the model."),
    },
    answer="B",
    why={"A": N_("requires_grad only stops the *parameters* (scale and shift) from learning; the "
                 "running statistics are buffers, updated in training mode by the forward pass."),
         "C": N_("a layer whose parameters need no gradient runs normally."),
         "D": N_("freezing removes nothing.")},
    explanation=N_("Training mode is a property of the modules, not of the gradients; a frozen "
                   "backbone must also be put in eval mode to stay frozen."),
    hint=N_("Section 3 runs one forward pass both ways; chapter 4's question on what model.eval() "
            "changes."),
    variable="q3")

q4 = Number(
    N_("Chapter 8 questionnaire, question 4 (what trains when only the head does)"),
    question=N_("A pretrained ResNet-50 gets a new head for 4 classes, and only the head trains. "
                "How many parameters does the optimiser update?"),
    expected=2048 * 4 + 4,
    known={25_557_032: N_("that is the whole ImageNet ResNet-50; the frozen backbone does not "
                          "train."),
           2048 * 4: N_("the head has a bias per class too."),
           2048 * 1000 + 1000: N_("that is ImageNet's head; the new one has 4 outputs."),
           25_557_032 - 2_049_000 + 8_196: N_("that is the whole network with the new head; only "
                                              "the head trains.")},
    explanation=N_("2048 x 4 + 4 = 8,196 of about 23.5 million: feature extraction trains 0.03 % "
                   "of the network, which is why it is fast and needs few images."),
    hint=N_("Section 3 counts what trains in the frozen ResNet-18 (exercise 2 writes the count); "
            "chapter 3's question on fc's parameters."),
    variable="q4", what=N_("the parameters that train"),
    solution="q4 = 2048 * 4 + 4")

q5 = Choice(
    N_("Chapter 8 questionnaire, question 5 (the inputs a backbone expects)"),
    question=N_("Why must images for a pretrained backbone be prepared like the images it was "
                "trained on (same normalisation, similar size)?"),
    choices={
        "A": N_("Otherwise the weights do not load."),
        "B": N_("It makes training faster."),
        "C": N_("Other statistics are forbidden by torchvision."),
        "D": N_("Its filters and BatchNorm statistics were learned on inputs of that scale; inputs "
                "shifted or scaled differently reach every layer off the distribution it knows."),
    },
    answer="D",
    why={"A": N_("loading depends on names and shapes only; the preparation of the images matters "
                 "when the model runs."),
         "B": N_("the preparation costs the same either way."),
         "C": N_("nothing forbids them; they just do not match what the backbone learned.")},
    explanation=N_("A pretrained network is a function learned on one input distribution; feed it "
                   "that distribution."),
    hint=N_("Chapter 1's question on the ImageNet mean and std; section 6's cautions for your "
            "photos."),
    variable="q5")

q6 = Choice(
    N_("Chapter 8 questionnaire, question 6 (no silent fallback)"),
    question=N_("The course refuses to continue when the pretrained weights are missing, instead "
                "of starting from random weights. Why?"),
    choices={
        "A": N_("Random weights would not load."),
        "B": N_("A model that silently starts from random weights still trains, only much worse, "
                "and nothing says why: the result looks like a failure of transfer learning."),
        "C": N_("Random initialisation is slower."),
        "D": N_("torchvision forbids random weights."),
    },
    answer="B",
    why={"A": N_("random weights need no loading; that is what makes the fallback silent."),
         "C": N_("initialising is instant."),
         "D": N_("weights=None is how every earlier chapter builds its models.")},
    explanation=N_("A silent fallback turns a missing file into a wrong conclusion; a clear error "
                   "costs a minute."),
    hint=N_("Section 1: what the lesson's code does, and the message you get instead."),
    variable="q6")

q7 = Choice(
    N_("Chapter 8 questionnaire, question 7 (a new head)"),
    question=N_("The pretrained ResNet-50 ends in `fc = nn.Linear(2048, 1000)` for ImageNet. Your "
                "task has 4 classes. What do you do with `fc`?"),
    choices={
        "A": N_("Keep it: 4 of the 1000 outputs will do."),
        "B": N_("Keep its first 4 rows of weights."),
        "C": N_("Replace it with a new, randomly initialised `nn.Linear(2048, 4)`, and load the "
                "pretrained weights into everything else."),
        "D": N_("Add a Linear(1000, 4) after it and keep both."),
    },
    answer="C",
    why={"A": N_("argmax could then pick any of the 996 classes your task does not have, and each "
                 "of them must first be pushed down (chapter 4's lesson head)."),
         "B": N_("ImageNet's first four classes are fish, not your classes: their weights mean "
                 "nothing for your task."),
         "D": N_("that works, but squeezes 2048 features through ImageNet's 1000 class scores; a "
                 "new 2048 -> 4 head is simpler and keeps the features.")},
    explanation=N_("The backbone transfers, the head does not: one output per class of the new "
                   "task."),
    hint=N_("Section 1: the lesson's load_state_dict, and what load_pretrained reports."),
    variable="q7")

q8 = Choice(
    N_("Chapter 8 questionnaire, question 8 (what survives the spread)"),
    question=N_("Section 4 trains from scratch, with feature extraction and with fine-tuning, at "
                "5, 10, 20 and 50 images per class, three seeds each, 40 steps per run. What does "
                "its table show?"),
    choices={
        "A": N_("Fine-tuning clearly ahead of feature extraction at every size."),
        "B": N_("Training from scratch catches up with transfer by 50 images per class."),
        "C": N_("Both transfer methods far above scratch at every size, even the worst transfer "
                "run above the best scratch run; feature extraction and fine-tuning level within "
                "the spread over the seeds."),
        "D": N_("Transfer ahead only at 5 images per class."),
    },
    answer="C",
    why={"A": N_("their ranges over the seeds overlap at every size: the difference between them "
                 "is smaller than what one seed changes, so the chapter claims no order between "
                 "them."),
         "B": N_("from scratch stays far below at every size with 40 steps, and three times the "
                 "steps still leave it far behind."),
         "D": N_("the gap is large at every size the table has, up to 50 images per class.")},
    explanation=N_("Claim only what holds on every seed: transfer beats scratch everywhere; which "
                   "transfer method is better, three seeds do not decide."),
    hint=N_("Section 4's table, and the cell after it that checks what holds on every seed."),
    variable="q8")

q9 = Choice(
    N_("Chapter 8 questionnaire, question 9 (the source task)"),
    question=N_("Why does the course pretrain its backbone on eight *other* shapes rather than on "
                "the four target shapes?"),
    choices={
        "A": N_("The generator cannot draw the four target shapes a second time."),
        "B": N_("Like ImageNet for your photos, a source task has other classes: what transfers "
                "must be what the backbone learned about seeing, not the target task's answers."),
        "C": N_("Other shapes are easier to learn."),
        "D": N_("torchvision's file format holds at most 8 classes."),
    },
    answer="B",
    why={"A": N_("it draws them as often as asked; the embedded dataset has 600 of each."),
         "C": N_("they are drawn the same way, with the same clutter; what matters is that they "
                 "are not the target's classes."),
         "D": N_("the format holds a head of any size; the source head has 8 outputs because the "
                 "source task has 8 classes, and it is left out when loading.")},
    explanation=N_("Transfer learning reuses what a network learned on one task for another; a "
                   "fair test keeps the two tasks' classes apart, as the course's source and "
                   "target do."),
    hint=N_("Section 2, on the source task: what do ImageNet's classes have to do with the classes "
            "of your photos?"),
    variable="q9")
