"""Evaluation (chapter 5): metrics, predictions on image files, figures and Grad-CAM.

    metrics   accuracy, the confusion matrix, per-class precision/recall/F1
    predict   one image file in, the top-k classes out, prepared as the test images were
    curves    training curves against the chance lines
    plots     confusion matrix, misclassified images, a heat map over its image
    explain   Grad-CAM: where in the image the evidence for a class lies
"""
