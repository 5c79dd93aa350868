"""Chapter 7's questionnaire (scaling out): what DDP averages and why that is exact, BatchNorm
across processes, rank 0, set_epoch, the global batch, speed on a small CPU, equal shares."""

from __future__ import annotations

from .questionnaire import Choice, Number

q1 = Choice(
    "Chapter 7 questionnaire, question 1 (what DDP averages)",
    question="In each training step, what does DistributedDataParallel average across the "
             "processes?",
    choices={
        "A": "The weights, after every optimizer step.",
        "B": "The gradients, with an all-reduce started during the backward pass; every process "
             "then takes the same step, so the replicas stay identical.",
        "C": "The losses only.",
        "D": "The predictions of the replicas.",
    },
    answer="B",
    why={"A": "the weights are broadcast once, when DDP wraps the model; identical steps keep them "
              "equal after that, without sending weights.",
         "C": "a loss average alone would not change any weight; the gradients carry the update.",
         "D": "each process predicts its own images; nothing is averaged across them."},
    explanation="One all-reduce of the gradients per step, overlapped with the backward pass, "
                "layer group by layer group.",
    hint="What does every process compute in its backward pass, and what must they share? "
         "Section 1, the numbered steps and their \"Going deeper\".",
    variable="q1")

q2 = Choice(
    "Chapter 7 questionnaire, question 2 (why the average is exact)",
    question="Why is the average of the processes' gradients the gradient of the whole global "
             "batch?",
    choices={
        "A": "The batch's loss is the mean of its images' losses; with equal shares it is the "
             "mean of the shares' losses, and a gradient is linear.",
        "B": "Because every process sees all the images.",
        "C": "Because the all-reduce corrects the errors of each process.",
        "D": "It is only an approximation, for every model.",
    },
    answer="A",
    why={"B": "each process sees only its share; that is the point of the sampler.",
         "C": "an all-reduce only adds up (here: averages) what each process sends.",
         "D": "it is exact when the shares are equal and each image's loss depends on that image "
              "only; BatchNorm in training mode breaks the second condition."},
    explanation="L = (L0 + L1) / 2 for two equal shares, so grad L = (grad L0 + grad L1) / 2: "
                "exactly what the all-reduce computes.",
    hint="Section 1, \"Why the average of the gradients is the gradient of the whole batch\".",
    variable="q2")

q3 = Choice(
    "Chapter 7 questionnaire, question 3 (BatchNorm across processes)",
    question="Why is data-parallel training with BatchNorm not *exactly* single-process training "
             "on a CPU?",
    choices={
        "A": "gloo rounds the gradients.",
        "B": "BatchNorm layers are not copied to the other processes.",
        "C": "In training mode BatchNorm normalises each image with the statistics of its own "
             "share, so an image's loss depends on the other images of its share; SyncBatchNorm, "
             "which exists for GPUs, computes them over the global batch.",
        "D": "The learning rate is scaled by the number of processes.",
    },
    answer="C",
    why={"A": "the all-reduce adds floats; the difference in training mode is far beyond rounding.",
         "B": "every replica has the full model, BatchNorm included, and DDP broadcasts its "
              "buffers before every forward pass.",
         "D": "the command keeps the rate (`--lr-scaling none`) unless told otherwise."},
    explanation="In eval mode the two agree to rounding; in training mode the per-share statistics "
                "make it close, not equal.",
    hint="Does an image's output in BatchNorm's training mode depend on the other images of "
         "its share? Section 1, after the proof.",
    variable="q3")

q4 = Choice(
    "Chapter 7 questionnaire, question 4 (rank 0 writes)",
    question="Why do only rank 0's prints and files appear?",
    choices={
        "A": "The other processes do not train.",
        "B": "Rank 0 holds the only complete model.",
        "C": "Files can only be written by the process that started torchrun.",
        "D": "The replicas are identical, so one copy is enough; N processes writing the same "
             "files would overwrite each other, and their printed lines would interleave.",
    },
    answer="D",
    why={"A": "every process trains on its share; rank 0 only does the talking.",
         "B": "every process holds a full, identical replica.",
         "C": "any process can write; the course chooses rank 0 (and a barrier ends each epoch)."},
    explanation="One writer, identical replicas: nothing is lost by letting the others stay "
                "silent.",
    hint="Section 2, what is new in the log, and section 5's table of classic mistakes.",
    variable="q4")

q5 = Choice(
    "Chapter 7 questionnaire, question 5 (sampler.set_epoch)",
    question="What goes wrong without `sampler.set_epoch(epoch)` before each epoch?",
    choices={
        "A": "The processes read the same images.",
        "B": "DistributedSampler shuffles with seed + epoch; without set_epoch every epoch sees "
             "the same order.",
        "C": "The last batch is dropped.",
        "D": "The learning rate stays constant.",
    },
    answer="B",
    why={"A": "the shares stay disjoint; only their order stops changing.",
         "C": "set_epoch does not change how many items a share has.",
         "D": "the schedule is the scheduler's business."},
    explanation="Each process must draw the same permutation, so the sampler seeds it; set_epoch "
                "makes the seed change from epoch to epoch.",
    hint="DistributedSampler's shuffle is seeded with seed + epoch. Section 5, the table of "
         "classic mistakes.",
    variable="q5")

q6 = Number(
    "Chapter 7 questionnaire, question 6 (the global batch)",
    question="8 processes are started with `--batch-size 32`. How many images does one optimizer "
             "step use in all (the global batch)?",
    expected=256,
    known={32: "32 is each process's batch; all 8 take the step together.",
           4: "--batch-size is per process: it is not divided among them.",
           40: "the processes' batches multiply: 32 x 8."},
    explanation="32 x 8 = 256: eight times fewer steps per epoch than one process with batch 32, "
                "which is why the learning rate may need scaling (--lr-scaling).",
    hint="--batch-size is per process. Section 4, after the 8-GPU command.",
    variable="q6", what="the global batch")

q7 = Choice(
    "Chapter 7 questionnaire, question 7 (two processes on two cores)",
    question="On the stored 2-core CPU, two processes trained *slower* than one. Why?",
    choices={
        "A": "The single process already uses both cores; two one-thread processes do the same "
             "arithmetic on the same cores, plus an all-reduce of every gradient at each step.",
        "B": "gloo is broken on CPUs.",
        "C": "Two processes train a different model.",
        "D": "The second process waits for rank 0 to save after every batch.",
    },
    answer="A",
    why={"B": "it works: the run finishes and its validation numbers match.",
         "C": "the same model and recipe; only the split of the work changes.",
         "D": "rank 0 saves once per epoch, when the model improves."},
    explanation="Data parallelism pays when each process gets hardware of its own: a GPU, or many "
                "cores.",
    hint="How many cores does the single process already use? Section 2, \"Speed\".",
    variable="q7")

q8 = Choice(
    "Chapter 7 questionnaire, question 8 (equal shares)",
    question="Why does DistributedSampler pad the list of images so that every process gets the "
             "same number?",
    choices={
        "A": "To make every epoch longer.",
        "B": "So that every image is seen twice.",
        "C": "A process with one batch more would wait for ever in an all-reduce that the others "
             "never join.",
        "D": "Because a DataLoader cannot handle a short last batch.",
    },
    answer="C",
    why={"A": "padding adds at most one image per process; length is not the goal.",
         "B": "only the padding repeats, a few images at most.",
         "D": "a DataLoader handles a short last batch; the all-reduce across processes is the "
              "problem."},
    explanation="Every step is a collective: all processes must take the same number of steps.",
    hint="Exercise 2, and the table of classic mistakes.",
    variable="q8")
