"""Chapter 7's questionnaire (scaling out): what DDP averages and why that is exact, BatchNorm
across processes, rank 0, set_epoch, the global batch, speed on a small CPU, equal shares."""

from __future__ import annotations

from ..i18n import N_
from .questionnaire import Choice, Number

q1 = Choice(
    N_("Chapter 7 questionnaire, question 1 (what DDP averages)"),
    question=N_("In each training step, what does DistributedDataParallel average across the "
                "processes?"),
    choices={
        "A": N_("The weights, after every optimizer step."),
        "B": N_("The gradients, with an all-reduce started during the backward pass; every process "
                "then takes the same step, so the replicas stay identical."),
        "C": N_("The losses only."),
        "D": N_("The predictions of the replicas."),
    },
    answer="B",
    why={"A": N_("the weights are broadcast once, when DDP wraps the model; identical steps keep "
                 "them equal after that, without sending weights."),
         "C": N_("a loss average alone would not change any weight; the gradients carry the "
                 "update."),
         "D": N_("each process predicts its own images; nothing is averaged across them.")},
    explanation=N_("One all-reduce of the gradients per step, overlapped with the backward pass, "
                   "layer group by layer group."),
    hint=N_("What does every process compute in its backward pass, and what must they share? "
            "Section 1, the numbered steps and their \"Going deeper\"."),
    variable="q1")

q2 = Choice(
    N_("Chapter 7 questionnaire, question 2 (why the average is exact)"),
    question=N_("Why is the average of the processes' gradients the gradient of the whole global "
                "batch?"),
    choices={
        "A": N_("The batch's loss is the mean of its images' losses; with equal shares it is the "
                "mean of the shares' losses, and a gradient is linear."),
        "B": N_("Because every process sees all the images."),
        "C": N_("Because the all-reduce corrects the errors of each process."),
        "D": N_("It is only an approximation, for every model."),
    },
    answer="A",
    why={"B": N_("each process sees only its share; that is the point of the sampler."),
         "C": N_("an all-reduce only adds up (here: averages) what each process sends."),
         "D": N_("it is exact when the shares are equal and each image's loss depends on that "
                 "image only; BatchNorm in training mode breaks the second condition.")},
    explanation=N_("L = (L0 + L1) / 2 for two equal shares, so grad L = (grad L0 + grad L1) / 2: "
                   "exactly what the all-reduce computes."),
    hint=N_("Section 1, \"Why the average of the gradients is the gradient of the whole batch\"."),
    variable="q2")

q3 = Choice(
    N_("Chapter 7 questionnaire, question 3 (BatchNorm across processes)"),
    question=N_("Why is data-parallel training with BatchNorm not *exactly* single-process "
                "training on a CPU?"),
    choices={
        "A": N_("gloo rounds the gradients."),
        "B": N_("BatchNorm layers are not copied to the other processes."),
        "C": N_("In training mode BatchNorm normalises each image with the statistics of its own "
                "share, so an image's loss depends on the other images of its share; "
                "SyncBatchNorm, which exists for GPUs, computes them over the global batch."),
        "D": N_("The learning rate is scaled by the number of processes."),
    },
    answer="C",
    why={"A": N_("the all-reduce adds floats; the difference in training mode is far beyond "
                 "rounding."),
         "B": N_("every replica has the full model, BatchNorm included, and DDP broadcasts its "
                 "buffers before every forward pass."),
         "D": N_("the command keeps the rate (`--lr-scaling none`) unless told otherwise.")},
    explanation=N_("In eval mode the two agree to rounding; in training mode the per-share "
                   "statistics make it close, not equal."),
    hint=N_("Does an image's output in BatchNorm's training mode depend on the other images of its "
            "share? Section 1, after the proof."),
    variable="q3")

q4 = Choice(
    N_("Chapter 7 questionnaire, question 4 (rank 0 writes)"),
    question=N_("Why do only rank 0's prints and files appear?"),
    choices={
        "A": N_("The other processes do not train."),
        "B": N_("Rank 0 holds the only complete model."),
        "C": N_("Files can only be written by the process that started torchrun."),
        "D": N_("The replicas are identical, so one copy is enough; N processes writing the same "
                "files would overwrite each other, and their printed lines would interleave."),
    },
    answer="D",
    why={"A": N_("every process trains on its share; rank 0 only does the talking."),
         "B": N_("every process holds a full, identical replica."),
         "C": N_("any process can write; the course chooses rank 0 (and a barrier ends each "
                 "epoch).")},
    explanation=N_("One writer, identical replicas: nothing is lost by letting the others stay "
                   "silent."),
    hint=N_("Section 2, what is new in the log, and section 5's table of classic mistakes."),
    variable="q4")

q5 = Choice(
    N_("Chapter 7 questionnaire, question 5 (sampler.set_epoch)"),
    question=N_("What goes wrong without `sampler.set_epoch(epoch)` before each epoch?"),
    choices={
        "A": N_("The processes read the same images."),
        "B": N_("DistributedSampler shuffles with seed + epoch; without set_epoch every epoch sees "
                "the same order."),
        "C": N_("The last batch is dropped."),
        "D": N_("The learning rate stays constant."),
    },
    answer="B",
    why={"A": N_("the shares stay disjoint; only their order stops changing."),
         "C": N_("set_epoch does not change how many items a share has."),
         "D": N_("the schedule is the scheduler's business.")},
    explanation=N_("Each process must draw the same permutation, so the sampler seeds it; "
                   "set_epoch makes the seed change from epoch to epoch."),
    hint=N_("DistributedSampler's shuffle is seeded with seed + epoch. Section 5, the table of "
            "classic mistakes."),
    variable="q5")

q6 = Number(
    N_("Chapter 7 questionnaire, question 6 (the global batch)"),
    question=N_("8 processes are started with `--batch-size 32`. How many images does one "
                "optimizer step use in all (the global batch)?"),
    expected=256,
    known={32: N_("32 is each process's batch; all 8 take the step together."),
           4: N_("--batch-size is per process: it is not divided among them."),
           40: N_("the processes' batches multiply: 32 x 8.")},
    explanation=N_("32 x 8 = 256: eight times fewer steps per epoch than one process with batch "
                   "32, which is why the learning rate may need scaling (--lr-scaling)."),
    hint=N_("--batch-size is per process. Section 4, after the 8-GPU command."),
    variable="q6", what=N_("the global batch"))

q7 = Choice(
    N_("Chapter 7 questionnaire, question 7 (two processes on two cores)"),
    question=N_("On the stored 2-core CPU, two processes trained *slower* than one. Why?"),
    choices={
        "A": N_("The single process already uses both cores; two one-thread processes do the same "
                "arithmetic on the same cores, plus an all-reduce of every gradient at each step."),
        "B": N_("gloo is broken on CPUs."),
        "C": N_("Two processes train a different model."),
        "D": N_("The second process waits for rank 0 to save after every batch."),
    },
    answer="A",
    why={"B": N_("it works: the run finishes and its validation numbers match."),
         "C": N_("the same model and recipe; only the split of the work changes."),
         "D": N_("rank 0 saves once per epoch, when the model improves.")},
    explanation=N_("Data parallelism pays when each process gets hardware of its own: a GPU, or "
                   "many cores."),
    hint=N_("How many cores does the single process already use? Section 2, \"Speed\"."),
    variable="q7")

q8 = Choice(
    N_("Chapter 7 questionnaire, question 8 (equal shares)"),
    question=N_("Why does DistributedSampler pad the list of images so that every process gets the "
                "same number?"),
    choices={
        "A": N_("To make every epoch longer."),
        "B": N_("So that every image is seen twice."),
        "C": N_("A process with one batch more would wait for ever in an all-reduce that the "
                "others never join."),
        "D": N_("Because a DataLoader cannot handle a short last batch."),
    },
    answer="C",
    why={"A": N_("padding adds at most one image per process; length is not the goal."),
         "B": N_("only the padding repeats, a few images at most."),
         "D": N_("a DataLoader handles a short last batch; the all-reduce across processes is the "
                 "problem.")},
    explanation=N_("Every step is a collective: all processes must take the same number of steps."),
    hint=N_("Exercise 2, and the table of classic mistakes."),
    variable="q8")
