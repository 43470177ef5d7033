"""COCO classes (the TF model zoo's 90-id numbering) and the words people use for them."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_COCO = (
    "1 person,2 bicycle,3 car,4 motorcycle,5 airplane,6 bus,7 train,8 truck,9 boat,"
    "10 traffic light,11 fire hydrant,13 stop sign,14 parking meter,15 bench,16 bird,17 cat,"
    "18 dog,19 horse,20 sheep,21 cow,22 elephant,23 bear,24 zebra,25 giraffe,27 backpack,"
    "28 umbrella,31 handbag,32 tie,33 suitcase,34 frisbee,35 skis,36 snowboard,37 sports ball,"
    "38 kite,39 baseball bat,40 baseball glove,41 skateboard,42 surfboard,43 tennis racket,"
    "44 bottle,46 wine glass,47 cup,48 fork,49 knife,50 spoon,51 bowl,52 banana,53 apple,"
    "54 sandwich,55 orange,56 broccoli,57 carrot,58 hot dog,59 pizza,60 donut,61 cake,62 chair,"
    "63 couch,64 potted plant,65 bed,67 dining table,70 toilet,72 tv,73 laptop,74 mouse,"
    "75 remote,76 keyboard,77 cell phone,78 microwave,79 oven,80 toaster,81 sink,"
    "82 refrigerator,84 book,85 clock,86 vase,87 scissors,88 teddy bear,89 hair drier,"
    "90 toothbrush"
)
COCO_IDS: Mapping[int, str] = MappingProxyType(
    {int(k): v for k, v in (item.split(" ", 1) for item in _COCO.split(","))}
)

# Words → one or more COCO classes. A class's own name (and its plural) always works.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "person": ("person",),
    "people": ("person",),
    "man": ("person",),
    "men": ("person",),
    "woman": ("person",),
    "women": ("person",),
    "boy": ("person",),
    "girl": ("person",),
    "child": ("person",),
    "children": ("person",),
    "kid": ("person",),
    "kids": ("person",),
    "baby": ("person",),
    "guy": ("person",),
    "lady": ("person",),
    "human": ("person",),
    "humans": ("person",),
    "astronaut": ("person",),
    "cameraman": ("person",),
    "photographer": ("person",),
    "rider": ("person",),
    "player": ("person",),
    "face": ("person",),
    "faces": ("person",),
    "pedestrian": ("person",),
    "pedestrians": ("person",),
    "vehicle": ("car", "truck", "bus", "motorcycle"),
    "vehicles": ("car", "truck", "bus", "motorcycle"),
    "auto": ("car",),
    "automobile": ("car",),
    "sedan": ("car",),
    "suv": ("car", "truck"),
    "van": ("car", "truck"),
    "taxi": ("car",),
    "cab": ("car",),
    "lorry": ("truck",),
    "pickup": ("truck",),
    "motorbike": ("motorcycle",),
    "motorcycle": ("motorcycle",),
    "scooter": ("motorcycle",),
    "moped": ("motorcycle",),
    "bike": ("bicycle", "motorcycle"),
    "bikes": ("bicycle", "motorcycle"),
    "cycle": ("bicycle",),
    "plane": ("airplane",),
    "aeroplane": ("airplane",),
    "jet": ("airplane",),
    "aircraft": ("airplane",),
    "ship": ("boat",),
    "kitten": ("cat",),
    "kitty": ("cat",),
    "tabby": ("cat",),
    "puppy": ("dog",),
    "doggy": ("dog",),
    "pony": ("horse",),
    "mug": ("cup",),
    "coffee": ("cup",),
    "teacup": ("cup",),
    "glass": ("wine glass", "cup"),
    "sofa": ("couch",),
    "table": ("dining table",),
    "plant": ("potted plant",),
    "television": ("tv",),
    "phone": ("cell phone",),
    "smartphone": ("cell phone",),
    "computer": ("laptop",),
    "fridge": ("refrigerator",),
    "teddy": ("teddy bear",),
    "doughnut": ("donut",),
    "ball": ("sports ball",),
    "bag": ("handbag", "backpack", "suitcase"),
}


def _plural(word: str) -> str:
    return word + ("es" if word.endswith(("s", "sh", "ch")) else "s")


def _build() -> Mapping[str, tuple[str, ...]]:
    words: dict[str, tuple[str, ...]] = {}
    for name in COCO_IDS.values():
        words[name] = (name,)
        words[_plural(name)] = (name,)
    words.update(_SYNONYMS)
    return MappingProxyType(words)


WORDS: Mapping[str, tuple[str, ...]] = _build()
# Classes that are usually the setting, not the subject of a photo: never part of "the
# subject" for background edits unless named.
SCENERY_CLASSES: frozenset[str] = frozenset(
    {"dining table", "bed", "couch", "bench", "toilet", "sink", "refrigerator", "oven", "tv"}
)


def coco_classes(target: str) -> tuple[str, ...]:
    """The COCO classes a target phrase names ("the red car" → ("car",)), or () for none.

    Two-word class names ("teddy bear", "wine glass") are tried before single words; the
    last word naming a class wins ("the man's car" → car)."""
    words = target.lower().split()
    found: tuple[str, ...] = ()
    i = 0
    while i < len(words):
        pair = " ".join(words[i : i + 2])
        if len(words) > i + 1 and pair in WORDS:
            found = WORDS[pair]
            i += 2
            continue
        if words[i] in WORDS:
            found = WORDS[words[i]]
        i += 1
    return found


def object_word(target: str) -> str:
    """The word of the target that names a class (for warnings), else the whole target."""
    words = target.lower().split()
    for size in (2, 1):
        for i in range(len(words) - size, -1, -1):
            phrase = " ".join(words[i : i + size])
            if phrase in WORDS:
                return phrase
    return target
