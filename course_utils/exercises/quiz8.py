"""Chapter 8's questionnaire (transfer learning): a new head on a pretrained backbone, feature
extraction vs fine-tuning with a smaller backbone learning rate, BatchNorm in a frozen backbone,
never a silent fallback to random weights, what the measurement over seeds shows, the source task.

`python -m course_utils.exercises.questionnaire notebooks/08_transfer_learning.ipynb quiz8` writes
the three cells before the chapter's Summary.
"""

from __future__ import annotations

from .questionnaire import Choice, Number

q1 = Choice(
    "Chapter 8 questionnaire, question 1 (when to freeze the backbone)",
    question="You have 20 photos per class and a backbone pretrained on a large, similar task. "
             "What is the usual first choice?",
    choices={
        "A": "Fine-tune every layer with the pretrained learning rate of the source task.",
        "B": "Train the whole network from scratch: pretrained features never fit a new task.",
        "C": "Freeze the backbone and train only the new head (feature extraction); fine-tune "
             "the backbone too, with a smaller learning rate, once there are more images or the "
             "new task differs more from the source.",
        "D": "Freeze the head and train only the backbone.",
    },
    answer="C",
    why={"A": "with so few images, large updates to millions of pretrained weights overfit and "
              "destroy the features that make transfer work.",
         "B": "from scratch, 20 images per class are far too few; the pretrained features are "
              "exactly what makes so few enough.",
         "D": "the new head starts random: it is the part that must learn."},
    explanation="Few images: reuse the features as they are and learn only the head; more images "
                "(or a more different task): let the backbone adapt, gently.",
    hint="Section 3 (three ways to start), and section 4's table at 5 and 10 images per class.",
    variable="q1")

q2 = Choice(
    "Chapter 8 questionnaire, question 2 (a smaller backbone learning rate)",
    question="When fine-tuning, why give the backbone a smaller learning rate than the new head?",
    choices={
        "A": "The backbone's pretrained weights are already good and need small corrections; the "
             "head starts random and needs large steps, and the errors of a random head would "
             "otherwise push large, noisy updates into the backbone.",
        "B": "The backbone has fewer parameters.",
        "C": "A smaller learning rate makes the backbone run faster.",
        "D": "Pretrained weights cannot receive gradients.",
    },
    answer="A",
    why={"B": "it has almost all of them: 23.5 million, against 8,196 in a 4-class head.",
         "C": "the learning rate changes the size of a step, not its cost.",
         "D": "they receive gradients like any parameter unless requires_grad is switched off."},
    explanation="Two parameter groups in one optimiser: a small rate keeps what the backbone "
                "knows, a large one lets the head learn.",
    hint="Which part starts random, and which already knows something? Section 3, on "
         "fine-tuning's two learning rates.",
    variable="q2")

q3 = Choice(
    "Chapter 8 questionnaire, question 3 (BatchNorm in a frozen backbone)",
    question="You freeze the backbone with `requires_grad_(False)` and train the head with "
             "`model.train()`. What do the backbone's BatchNorm layers do?",
    choices={
        "A": "Nothing: freezing stops everything in the backbone.",
        "B": "They normalise with each batch's statistics and update their running mean and "
             "variance with the new data: the \"frozen\" backbone still changes. It must also stay "
             "in eval mode, which every `model.train()` undoes (freeze_backbone's forward "
             "pre-hook puts it back before each forward pass).",
        "C": "They raise an error, because their parameters have no gradient.",
        "D": "They are removed from the model.",
    },
    answer="B",
    why={"A": "requires_grad only stops the *parameters* (scale and shift) from learning; the "
              "running statistics are buffers, updated in training mode by the forward pass.",
         "C": "a layer whose parameters need no gradient runs normally.",
         "D": "freezing removes nothing."},
    explanation="Training mode is a property of the modules, not of the gradients; a frozen "
                "backbone must also be put in eval mode to stay frozen.",
    hint="Section 3 runs one forward pass both ways; chapter 4's question on what model.eval() "
         "changes.",
    variable="q3")

q4 = Number(
    "Chapter 8 questionnaire, question 4 (what trains when only the head does)",
    question="A pretrained ResNet-50 gets a new head for 4 classes, and only the head trains. How "
             "many parameters does the optimiser update?",
    expected=2048 * 4 + 4,
    known={25_557_032: "that is the whole ImageNet ResNet-50; the frozen backbone does not train.",
           2048 * 4: "the head has a bias per class too.",
           2048 * 1000 + 1000: "that is ImageNet's head; the new one has 4 outputs.",
           25_557_032 - 2_049_000 + 8_196: "that is the whole network with the new head; only the "
                                           "head trains."},
    explanation="2048 x 4 + 4 = 8,196 of about 23.5 million: feature extraction trains 0.03 % of "
                "the network, which is why it is fast and needs few images.",
    hint="Section 3 counts what trains in the frozen ResNet-18 (exercise 2 writes the count); "
         "chapter 3's question on fc's parameters.",
    variable="q4", what="the parameters that train",
    solution="q4 = 2048 * 4 + 4")

q5 = Choice(
    "Chapter 8 questionnaire, question 5 (the inputs a backbone expects)",
    question="Why must images for a pretrained backbone be prepared like the images it was "
             "trained on (same normalisation, similar size)?",
    choices={
        "A": "Otherwise the weights do not load.",
        "B": "It makes training faster.",
        "C": "Other statistics are forbidden by torchvision.",
        "D": "Its filters and BatchNorm statistics were learned on inputs of that scale; inputs "
             "shifted or scaled differently reach every layer off the distribution it knows.",
    },
    answer="D",
    why={"A": "loading depends on names and shapes only; the preparation of the images matters "
              "when the model runs.",
         "B": "the preparation costs the same either way.",
         "C": "nothing forbids them; they just do not match what the backbone learned."},
    explanation="A pretrained network is a function learned on one input distribution; feed it "
                "that distribution.",
    hint="Chapter 1's question on the ImageNet mean and std; section 6's cautions for your "
         "photos.",
    variable="q5")

q6 = Choice(
    "Chapter 8 questionnaire, question 6 (no silent fallback)",
    question="The course refuses to continue when the pretrained weights are missing, instead of "
             "starting from random weights. Why?",
    choices={
        "A": "Random weights would not load.",
        "B": "A model that silently starts from random weights still trains, only much worse, and "
             "nothing says why: the result looks like a failure of transfer learning.",
        "C": "Random initialisation is slower.",
        "D": "torchvision forbids random weights.",
    },
    answer="B",
    why={"A": "random weights need no loading; that is what makes the fallback silent.",
         "C": "initialising is instant.",
         "D": "weights=None is how every earlier chapter builds its models."},
    explanation="A silent fallback turns a missing file into a wrong conclusion; a clear error "
                "costs a minute.",
    hint="Section 1: what the lesson's code does, and the message you get instead.",
    variable="q6")

q7 = Choice(
    "Chapter 8 questionnaire, question 7 (a new head)",
    question="The pretrained ResNet-50 ends in `fc = nn.Linear(2048, 1000)` for ImageNet. Your "
             "task has 4 classes. What do you do with `fc`?",
    choices={
        "A": "Keep it: 4 of the 1000 outputs will do.",
        "B": "Keep its first 4 rows of weights.",
        "C": "Replace it with a new, randomly initialised `nn.Linear(2048, 4)`, and load the "
             "pretrained weights into everything else.",
        "D": "Add a Linear(1000, 4) after it and keep both.",
    },
    answer="C",
    why={"A": "argmax could then pick any of the 996 classes your task does not have, and each of "
              "them must first be pushed down (chapter 4's lesson head).",
         "B": "ImageNet's first four classes are fish, not your classes: their weights mean "
              "nothing for your task.",
         "D": "that works, but squeezes 2048 features through ImageNet's 1000 class scores; a new "
              "2048 -> 4 head is simpler and keeps the features."},
    explanation="The backbone transfers, the head does not: one output per class of the new task.",
    hint="Section 1: the lesson's load_state_dict, and what load_pretrained reports.",
    variable="q7")

q8 = Choice(
    "Chapter 8 questionnaire, question 8 (what survives the spread)",
    question="Section 4 trains from scratch, with feature extraction and with fine-tuning, at 5, "
             "10, 20 and 50 images per class, three seeds each, 40 steps per run. What does its "
             "table show?",
    choices={
        "A": "Fine-tuning clearly ahead of feature extraction at every size.",
        "B": "Training from scratch catches up with transfer by 50 images per class.",
        "C": "Both transfer methods far above scratch at every size, even the worst transfer run "
             "above the best scratch run; feature extraction and fine-tuning level within the "
             "spread over the seeds.",
        "D": "Transfer ahead only at 5 images per class.",
    },
    answer="C",
    why={"A": "their ranges over the seeds overlap at every size: the difference between them is "
              "smaller than what one seed changes, so the chapter claims no order between them.",
         "B": "from scratch stays far below at every size with 40 steps, and three times the "
              "steps still leave it far behind.",
         "D": "the gap is large at every size the table has, up to 50 images per class."},
    explanation="Claim only what holds on every seed: transfer beats scratch everywhere; which "
                "transfer method is better, three seeds do not decide.",
    hint="Section 4's table, and the cell after it that checks what holds on every seed.",
    variable="q8")

q9 = Choice(
    "Chapter 8 questionnaire, question 9 (the source task)",
    question="Why does the course pretrain its backbone on eight *other* shapes rather than on "
             "the four target shapes?",
    choices={
        "A": "The generator cannot draw the four target shapes a second time.",
        "B": "Like ImageNet for your photos, a source task has other classes: what transfers "
             "must be what the backbone learned about seeing, not the target task's answers.",
        "C": "Other shapes are easier to learn.",
        "D": "torchvision's file format holds at most 8 classes.",
    },
    answer="B",
    why={"A": "it draws them as often as asked; the embedded dataset has 600 of each.",
         "C": "they are drawn the same way, with the same clutter; what matters is that they are "
              "not the target's classes.",
         "D": "the format holds a head of any size; the source head has 8 outputs because the "
              "source task has 8 classes, and it is left out when loading."},
    explanation="Transfer learning reuses what a network learned on one task for another; a fair "
                "test keeps the two tasks' classes apart, as the course's source and target do.",
    hint="Section 2, on the source task: what do ImageNet's classes have to do with the classes "
         "of your photos?",
    variable="q9")
