"""The model: the network and its fine-tuning split (network), the one runtime that opens any model
file and exports to TFLite (runtime), its speed on each runtime (speed), Grad-CAM and feature maps
(explain), and the hand-sized convolution of the teaching page (convolution)."""
