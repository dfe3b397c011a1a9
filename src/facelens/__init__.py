"""facelens: per-face feature tables from images, folders and videos, fast on a CPU.

>>> import facelens
>>> results = facelens.analyze("photo.jpg", features="landmarks,pose,emotion")
>>> df = results.to_pandas()
"""

from facelens.api import Analyzer, Results, analyze
from facelens.errors import EngineError, FacelensError, FeatureError, InputError, ModelError, SchemaError, SettingError
from facelens.faces import EMOTIONS, Faces, FrameResult
from facelens.identity.verify import verify

__version__ = "0.1.0"
__all__ = ["Analyzer", "Results", "analyze", "verify", "Faces", "FrameResult", "EMOTIONS", "FacelensError", "FeatureError",
           "EngineError", "SchemaError", "SettingError", "InputError", "ModelError", "__version__"]
