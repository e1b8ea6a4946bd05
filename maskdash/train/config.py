"""What a training run is: one argument set (`TrainArgs`), the data feeds, and the recipes as named
configurations that fill in whatever the caller left unset (as timm's train.py does).

Feeds — how the faces reach the network:
- `cached`: the frozen bottom of MobileNetV2 runs once per augmented view (TFLite, fast on a CPU)
  and its output is cached in the run folder; epochs train only what learns. A 2-core CPU can
  afford `views` augmented copies per face, drawn once.
- `online`: fresh augmented views of every face each epoch, drawn in worker processes, through
  the whole network (for an accelerator; works on a CPU, slowly). Input: a pack or data folders.

Recipes — what is trained:
- `seed`: the original as published; MobileNetV2 frozen, Flatten → Dense, brightness
  augmentation, learning rate cut on plateaus and early stopping.
- `robust`: pooled head first, then the base fine-tuned above `cut` (BatchNorm frozen), with
  augmentation against the data set's shortcuts and the dev scenes' faces. On the `cached` feed it
  fine-tunes blocks 13–16 on a plateau schedule; on the `online` feed it fine-tunes from block 3
  up with a warm-up epoch and cosine decay, and draws non-mask objects over unmasked mouths.

This module imports nothing heavy: the report reads run folders through it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

FEEDS = ("cached", "online")
RECIPE_NAMES = ("seed", "robust")
SCHEDULES = ("plateau", "cosine")
AUGMENTS = ("seed", "robust", "online")  # maskdash.data.augment.<name>_augment

# MobileNetV2 layers after which the base learns in the fine-tuning stage. The stem and the first
# two blocks (edges, colour blobs) keep their ImageNet weights even in the deepest fine-tuning.
TOP_BLOCKS_CUT = "block_12_add"  # blocks 13–16 and the last 1×1 conv
FULL_CUT = "block_2_add"

# (recipe, feed) → defaults. `cut: None` means no fine-tuning stage (the head alone learns).
RECIPES: dict[tuple[str, str], dict] = {
    ("seed", "cached"): dict(epochs=14, batch_size=64, cut=None, schedule="plateau", augment="seed", views=1),
    ("seed", "online"): dict(epochs=14, batch_size=128, cut=None, schedule="plateau", augment="seed"),
    ("robust", "cached"): dict(epochs=6, batch_size=64, head_epochs=2, fine_tune_lr=1e-4, cut=TOP_BLOCKS_CUT,
                               schedule="plateau", augment="robust", views=2),
    ("robust", "online"): dict(epochs=14, batch_size=128, head_epochs=1, fine_tune_lr=5e-5, cut=FULL_CUT,
                               schedule="cosine", augment="online"),
}

# Arguments that say how or where a run goes, not what it learns: a run may resume with others.
RESUMABLE_WITH_OTHER = ("out", "epochs", "minutes", "workers")


@dataclass
class TrainArgs:
    data: str  # a Face Mask 12K-style folder; the online feed also takes a pack (.npz)
    recipe: str = "robust"
    feed: str = "cached"
    out: str = "runs/robust"
    # None: the recipe's value for this feed (RECIPES)
    epochs: int | None = None  # in all, head stage included
    batch_size: int | None = None
    lr: float = 1e-3  # head stage
    head_epochs: int | None = None  # before fine-tuning; 0 with `init`
    fine_tune_lr: float | None = None
    cut: str | None = None
    schedule: str | None = None  # plateau: ×0.3 after 2 epochs without a better checkpoint, stop after 3
    augment: str | None = None
    init: str | None = None  # start from this .keras model instead of ImageNet and a fresh head
    base_weights: str | None = None  # ImageNet .h5 or a .keras whose base holds them (default: settings.base_weights())
    dev_scenes: str | None = None  # robust: also learn from the train fold of these VOC scenes
    # Dev-scene faces are the only real small, crowded, mixed-light faces we have, and 84 % of them
    # are masked: each class of them gets `dev_weight` × its balanced share of the loss.
    dev_weight: float = 3.0
    classes: int = 2  # 3: with_mask, without_mask, mask_incorrect (robust only; seed stays binary)
    # robust: real faces cut from public photos (index.csv), split by photo; the train fold is
    # learnt, the val fold joins the checkpoint choice, the holdout is only reported (the online
    # feed reads them from its pack, or packs them itself from a data folder)
    extra_faces: str | None = None
    # robust, three classes: this many Train faces given a mask slid below the nose
    # (maskdash.data.synth: real Train fabric on Train faces), learnt as data-set images
    synth_incorrect: int = 0
    limit: int | None = None  # per class, for quick runs and tests
    seed: int = 1234
    views: int | None = None  # cached feed: augmented copies per training image
    train_split: str | None = "Train"  # cached feed (the online feed takes the pack's folds)
    val_split: str | None = "Validation"
    cover_p: float | None = 0.25  # online augmentation: unmasked faces given a non-mask object over the mouth
    distract_p: float | None = 0.15  # online augmentation: faces given such a patch elsewhere
    # robust and online augmentation: views through the dim-webcam camera model (data.camera)
    low_light_p: float | None = 0.15
    low_light_max: float | None = 0.5  # the brightest of those views (share of a well-lit scene's light)
    # robust and online augmentation: views turned black and white at the end (CCTV, infrared), on
    # top of the few the colour jitter makes; None: none (runs from before it draw the same views)
    grey_p: float | None = None
    # how the model turns raw RGB into the base's input: "rescale" (0…255 → −1…1, as MobileNetV2
    # was trained) or "stretch" (each face's own mean and contrast taken out: model.layers); with
    # --init, "stretch" puts the layer in front of the loaded model, None keeps what it has
    preprocess: str | None = None
    # cached feed with --init: learn the init model's own probabilities on each clean view (no
    # dim views among them), and the same probabilities on that view's dim-webcam twin — so the
    # dim faces are taught what the model already says in good light, and the rest stays put
    distill: bool = False
    # with distill, what the dim twins learn: "teacher" (the clean view's probabilities) or
    # "label" (their own labels, as Learning without Forgetting learns new data beside the old
    # answers it keeps)
    twin_targets: str | None = None
    minutes: float | None = None  # stop starting epochs after this long (a lease's limit)
    workers: int | None = 0  # online feed: augmentation processes; 0: one per CPU core, less one


def resolve(args: TrainArgs) -> TrainArgs:
    """Fill in the recipe's values for what was left unset and blank what this feed does not use,
    so that args.json says exactly how the run was trained."""
    if args.recipe not in RECIPE_NAMES:
        raise ValueError(f"unknown recipe {args.recipe!r}; choose from {', '.join(RECIPE_NAMES)}")
    if args.feed not in FEEDS:
        raise ValueError(f"unknown feed {args.feed!r}; choose from {', '.join(FEEDS)}")
    defaults = RECIPES[(args.recipe, args.feed)]
    for name, value in defaults.items():
        if getattr(args, name) is None and name != "cut":
            setattr(args, name, value)
    if args.cut is None:
        args.cut = defaults["cut"]
    if args.cut is None:  # no fine-tuning stage
        args.head_epochs = args.fine_tune_lr = None
    else:  # also a cut given to a recipe that has none
        if args.init:
            args.head_epochs = 0  # the head has learnt already
        elif args.head_epochs is None:
            args.head_epochs = 1
        if args.fine_tune_lr is None:
            args.fine_tune_lr = args.lr / 10
    if args.epochs < 1:  # 0 or fewer: nothing trained, yet the run would report a best checkpoint
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    for name in ("lr", "fine_tune_lr"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"--{name.replace('_', '-')} must be a number above 0, got {value}")
    if args.classes not in (2, 3) or (args.recipe == "seed" and args.classes != 2):
        raise ValueError(f"the {args.recipe} recipe has {'2' if args.recipe == 'seed' else '2 or 3'} "
                         f"classes, not {args.classes}")
    if args.synth_incorrect and args.classes != 3:
        raise ValueError("--synth-incorrect makes mask_incorrect faces: it needs --classes 3")
    if args.feed == "online" and str(args.data).endswith(".npz") and (args.extra_faces or args.synth_incorrect):
        raise ValueError("a pack already holds the faces it was made with: give --extra-faces and "
                         "--synth-incorrect to `python -m maskdash pack`")
    if args.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {args.schedule!r}; choose from {', '.join(SCHEDULES)}")
    if args.augment not in AUGMENTS:
        raise ValueError(f"unknown augmentation {args.augment!r}; choose from {', '.join(AUGMENTS)}")
    if args.preprocess not in (None, "rescale", "stretch"):
        raise ValueError(f"unknown preprocessing {args.preprocess!r}; choose from rescale, stretch")
    if args.recipe == "seed" and args.preprocess == "stretch":
        raise ValueError("the seed recipe keeps the original's preprocessing (rescale)")
    if args.preprocess is None and not args.init:
        args.preprocess = "rescale"  # a new model; with --init, None keeps the loaded model's
    if args.distill and (args.feed != "cached" or not args.init or args.augment == "seed"):
        raise ValueError("--distill teaches a model its own answers on dim twins of its views: it needs "
                         "--init, the cached feed and the robust or online augmentation")
    if args.distill:
        args.twin_targets = args.twin_targets or "teacher"
        if args.twin_targets not in ("teacher", "label"):
            raise ValueError(f"unknown twin targets {args.twin_targets!r}; choose from teacher, label")
    else:
        args.twin_targets = None
    if args.feed == "online":
        args.views = args.train_split = args.val_split = None
    else:
        args.workers = None
    if args.augment != "online":
        args.cover_p = args.distract_p = None
    if args.augment == "seed":
        args.low_light_p = args.low_light_max = args.grey_p = None
    return args


def to_json(args: TrainArgs) -> dict:
    return asdict(args)


def from_json(doc: dict) -> TrainArgs:
    """The arguments of a run folder written by this trainer (unknown keys, such as the `contents`
    that args.json keeps beside them, are left out)."""
    names = {f.name for f in fields(TrainArgs)}
    return TrainArgs(**{k: v for k, v in doc.items() if k in names})


def differences(old: dict, new: dict) -> list[str]:
    """The arguments that differ between two runs in a way that changes what is learnt."""
    keys = (set(old) | set(new)) - set(RESUMABLE_WITH_OTHER) - {"contents"}
    return sorted(k for k in keys if old.get(k) != new.get(k))


def recognise(args: dict) -> tuple[str, str]:
    """(recipe, feed) of a run folder's args.json — also of folders written before one trainer
    took both feeds: the online trainer's args named no recipe (it trained only `robust`) and had
    a `cut`, which the cached trainer's args lacked."""
    feed = args.get("feed") or ("online" if "cut" in args else "cached")
    return args.get("recipe") or "robust", feed
