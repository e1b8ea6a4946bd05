"""The glossary's terms (shown on How it works) and links to them, so that every page can link the
first use of a term to its entry."""

from __future__ import annotations

import re

# Grouped so that a newcomer finds a term by where it appears: training, the network, measuring, the app.
GLOSSARY = {
    "Training": {
        "Epoch": "One full pass of the training images through the network. Training runs for several epochs; "
                 "the Training page shows one point per epoch.",
        "Hyper-parameter": "A setting chosen before training rather than learnt: the learning rate, the batch size, "
                           "the number of epochs, the amount of augmentation.",
        "Learning rate": "How big a step the optimiser takes on each update of the weights. Too high and training "
                         "jumps around; too low and it crawls. Fine-tuning uses a much lower rate than training a new head.",
        "Training vs validation accuracy": "Training accuracy is measured on the images the model learns from; "
                                           "validation accuracy on held-out images it never learns from. Only the "
                                           "second says how the model will do on new faces.",
        "Overfitting": "The model memorises its training images instead of learning what a mask looks like: training "
                       "accuracy keeps rising while validation accuracy stalls or falls.",
        "Callback": "Code that Keras runs at fixed points of training (e.g. after each epoch) to save the best "
                    "model, change the learning rate or stop early.",
        "ReduceLROnPlateau": "A callback that lowers the learning rate (e.g. ×0.3) when the validation loss has "
                             "stopped improving for a few epochs — the steps in the seed run's learning-rate chart.",
        "Cosine decay": "A learning-rate schedule that glides from its starting value down to almost zero along half "
                        "a cosine wave, fixed before training — the whole-network (online) runs' smooth curve.",
        "EarlyStopping": "A callback that ends training when the validation loss has not improved for a set number "
                         "of epochs, and can restore the best weights seen.",
        "Transfer learning": "Starting from a network already trained on a large data set (ImageNet, 1.3 M photos) "
                             "and re-training only its last part for a new task, so that a few thousand faces suffice.",
        "Data augmentation": "Showing the network randomly altered copies of the training images — flips, "
                             "rotations, brightness, blur, down-scaling — so that it learns the mask and not the "
                             "photo's quirks (such as 'blurry faces are unmasked').",
    },
    "The network": {
        "CNN (convolutional neural network)": "A network built mainly from convolutional layers, each producing "
                                              "feature maps from the maps of the layer before.",
        "Convolution": "Sliding a small kernel of weights over an image and summing the products at each position "
                       "(see the worked 6×6 example above).",
        "MobileNetV2": "A convolutional network designed for phones (Sandler et al., 2018): inverted residual blocks "
                       "of cheap depth-wise convolutions, 3.4 M parameters, fast enough for live video on a CPU.",
        "Feature extraction": "Using a pre-trained network, frozen, as a fixed function that turns an image into "
                              "features (here 7×7×1280 numbers), and training only a small classifier on top.",
        "Grad-CAM": "A heat map of the parts of the face that pushed the model towards its answer, computed from the "
                    "gradients of the last convolutional layer (Selvaraju et al., 2017). It shows, for example, whether "
                    "the model looked at the mask or at the background.",
    },
    "Measuring a classifier": {
        "Threshold": "The p(with_mask) at or above which a face is called *with mask* (0.5 by default). Raising it "
                     "calls fewer faces masked: fewer unmasked faces slip through, more masked ones are flagged.",
        "Confusion matrix": "A table of the truth (rows) against what the model said (columns); the diagonal holds "
                            "the faces it got right, the other cells its two kinds of mistake.",
        "Precision / recall": "For one class, e.g. *with mask*: precision is the share of the faces called masked "
                              "that really are; recall is the share of the masked faces that were called masked.",
        "Balanced accuracy": "The mean of the two classes' recalls. Real photos hold far more masked than unmasked "
                             "faces; plain accuracy would reward calling everyone masked, balanced accuracy does not.",
        "ROC / AUC": "The ROC curve plots, for every possible threshold, the share of masked faces caught against the "
                     "share of unmasked faces wrongly called masked. AUC is the area under it: 1 is perfect, 0.5 is "
                     "guessing; it is the chance that a random masked face scores above a random unmasked one.",
        "Calibration / ECE": "A model is calibrated when its p means what it says: of the faces given p = 0.8, about "
                             "80 % are masked. The expected calibration error (ECE) is the average gap between the "
                             "two, weighted by how many faces fall in each p range.",
    },
    "Faces in the app": {
        "BlazeFace / YuNet": "The two face detectors MaskDash offers. BlazeFace (Google MediaPipe) is very fast and "
                             "best at webcam distance; YuNet (OpenCV) is slower but finds smaller, turned and masked "
                             "faces in photos.",
        "IoU (intersection over union)": "How much two boxes overlap: the area they share divided by the area they "
                                         "cover together, from 0 (apart) to 1 (identical). A detection counts as a "
                                         "labelled face when IoU ≥ 0.4; tracking links boxes of the same face by IoU.",
        "NMS (non-maximum suppression)": "A detector proposes many overlapping boxes per face; NMS keeps the best one "
                                         "and removes the others that overlap it by more than an IoU limit.",
        "Tracking": "Following each face from frame to frame (by box overlap) so that it keeps one id, and smoothing "
                    "its label over its last few frames, so one bad frame does not flip the verdict.",
        "Yaw": "How far a head is turned left or right, in degrees: 0° looks straight at the camera, 90° is a profile. "
               "The failure analysis groups faces by yaw estimated from the detector's landmarks.",
        "TFLite (LiteRT)": "TensorFlow Lite, now called LiteRT: a compact file format and runtime for running a "
                           "trained network on phones and CPUs. MaskDash serves its classifier as a .tflite file; "
                           "the Training page offers it for download.",
    },
}


def slug(term: str) -> str:
    """The anchor of a term's entry: 'ROC / AUC' → 'glossary-roc-auc'."""
    return "glossary-" + re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-")


def _find(term: str) -> str:
    for terms in GLOSSARY.values():
        for name in terms:
            if name == term:
                return name
    raise KeyError(f"{term!r} is not in the glossary")


def term(name: str, text: str | None = None) -> str:
    """Markdown linking `text` (default: the term itself) to the term's glossary entry."""
    return f"[{text or name}](/how_it_works#{slug(_find(name))})"
