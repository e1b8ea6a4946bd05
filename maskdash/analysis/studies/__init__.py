"""The failure studies: one registered function per study, each measuring one failure the
original app's users reported, on real faces. One module per group of studies (named below), the
registry and its helpers in `base`.

- **angles** (`angles`) — each face's yaw is estimated from BlazeFace's six landmarks
  (`analysis.yaw`) on Face Mask 12K Test crops and on real dev-scene faces; accuracy and mean
  p(with_mask) per yaw bin. The data set's unmasked faces are frontal CelebA portraits while masked
  photos come at all angles, so "turned away" may have been learnt as "mask".
- **occluders** (`occluders`) — a hand, a phone, a cup or a scarf (drawn by `analysis.occluders`)
  over mouth and nose of unmasked Test faces: the share now called "with mask".
- **distance** (`sweeps`) — each face shrunk to 16…224 px wide and enlarged back (a distant face is
  a small one): unmasked crops are small in the data set, so "blurry" can stand in for "no mask".
- **lighting** (`sweeps`) — brightness ×0.2…×2.0 and contrast ×0.25…×2.
- **native_size** (`native_size`) — the width histogram per split and class, and (from the model's
  committed predictions) Test accuracy by native width.
- **below_nose** (`three_class`) — masks worn below the nose: real ones (dev scenes and extra
  faces, holdout folds) and masks drawn below the nose of unmasked Test faces
  (`analysis.below_nose`); the share called mask_incorrect, with_mask (the harmful error) and
  without_mask.
- **hands** (`three_class`) — real hands and objects over the mouth (extra faces, holdout) beside
  the drawn hand.
- **dim_webcam** (`three_class`) — Test faces through the fixed dim-webcam rendering
  (`data.camera.probe_view`) at each darkness level, and real dim-webcam faces.

The last three read a binary model and a three-class one alike (`analysis.calls`).

A study is a function of a `Context` (the model, the sampled faces, the options) that returns a
`StudyResult` (tables to write, its summary block, example recipes); `@study` registers it, and
`analysis.run` runs the registered ones in order.

The names other modules use are handed on from here, so they import `maskdash.analysis.studies`
alone. The study functions themselves are reached through REGISTRY: `studies.angles` and its like
name the submodules."""

# Each module registers its studies as it is imported, so this order, not the alphabet's, is the
# order of a run: angles, occluders, distance, lighting, native_size, below_nose, hands, dim_webcam
# (cli.STUDY_NAMES repeats it; a test holds the two equal).
from maskdash.analysis.studies import angles, occluders, sweeps, native_size, three_class
from maskdash.analysis.studies.base import REGISTRY, Context, Study, StudyResult, contrast, group_table, records, study
from maskdash.analysis.studies.sweeps import BRIGHTNESS, CONTRAST, DISTANCE_WIDTHS, distance_study, lighting_study
from maskdash.analysis.studies.three_class import dim_seed

__all__ = [
    "REGISTRY", "STUDIES", "STUDY_TITLES", "Context", "Study", "StudyResult", "study",
    "contrast", "group_table", "records",
    "DISTANCE_WIDTHS", "BRIGHTNESS", "CONTRAST", "distance_study", "lighting_study", "dim_seed",
    "angles", "occluders", "sweeps", "native_size", "three_class",  # the modules, imported to register
]

STUDIES: tuple[str, ...] = tuple(REGISTRY)  # in run order; cli.STUDY_NAMES must equal it
STUDY_TITLES = {name: s.title for name, s in REGISTRY.items()}
